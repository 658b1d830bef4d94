"""Expected work still ahead of a request, per block: the table the ``srw`` dispatch rule
(shortest remaining work, ``octogym/kernel/dispatch.py``) reads.

``rem[row, x]`` = expected TBU-cycles a request still executes from a token that reaches block
``x`` on (``x``'s own run included), under phase row ``row``'s probabilities and map counts.
Within one frame it solves ``rem = w + M rem``, with ``w`` the expected run cycles of a task
(0 for control blocks) and ``M`` the expected tokens each block sends on (the mean matrix of
:mod:`octogym.workflows.frequencies`: branch ``p(s)``, map ``E[count]`` to its body and 1 to
its successors, join ``1 / indegree``, task and fork 1 per successor). A body copy ends at a
block without successors; what follows it is the map's continuation (the map's successors,
and the enclosing map's continuation if the map itself is inside a body), which is added to
every block of the body. The join weighting shares a join's continuation among the tokens
that meet there, so parallel branches are not counted twice. This table is ours.
"""

from __future__ import annotations

import numpy as np

from octogym.workflows.compiled import BRANCH, JOIN, MAP, TASK, CompiledMix


def _body_blocks(mix: CompiledMix, entry: int) -> list[int]:
    """The blocks reachable from a map body's entry (the body, docs/model.md §2)."""
    seen = {entry}
    stack = [entry]
    while stack:
        x = stack.pop()
        for f in range(int(mix.succ_ptr[x]), int(mix.succ_ptr[x + 1])):
            s = int(mix.succ_dst[f])
            if s not in seen:
                seen.add(s)
                stack.append(s)
    return sorted(seen)


def remaining_work(mix: CompiledMix) -> np.ndarray:
    """``(NPH, NB)`` float64: expected TBU-cycles from a token at each block on (module
    docstring); rows of a workflow fill only its own blocks' columns (0 elsewhere)."""
    nph = int(mix.wf_phase_off[-1])
    out = np.zeros((max(nph, 1), mix.n_blocks))
    for w in range(len(mix.wf_names)):
        lo, hi = int(mix.wf_block_off[w]), int(mix.wf_block_off[w + 1])
        n = hi - lo
        maps = [x for x in range(lo, hi) if mix.blk_type[x] == MAP]
        bodies = {m: _body_blocks(mix, int(mix.blk_body[m])) for m in maps}
        for row in range(int(mix.wf_phase_off[w]), int(mix.wf_phase_off[w + 1])):
            A = np.zeros((n, n))
            wv = np.where(mix.blk_type[lo:hi] == TASK, mix.dur_mean[lo:hi], 0.0)
            for x in range(lo, hi):
                t = int(mix.blk_type[x])
                f0, f1 = int(mix.succ_ptr[x]), int(mix.succ_ptr[x + 1])
                for f in range(f0, f1):
                    s = int(mix.succ_dst[f])
                    if t == BRANCH:
                        A[x - lo, s - lo] += mix.flow_prob[row, f]
                    elif t == JOIN:
                        A[x - lo, s - lo] += 1.0 / max(int(mix.blk_indeg[x]), 1)
                    else:  # task, fork, map: one token to each successor
                        A[x - lo, s - lo] += 1.0
                if t == MAP:
                    A[x - lo, int(mix.blk_body[x]) - lo] += mix.cnt_mean[row, x]
            rem = np.linalg.solve(np.eye(n) - A, wv)
            # continuation after a body copy ends: outer maps' first (a map's own
            # continuation includes the enclosing one), iterated to the nesting depth
            cont = np.zeros(n)
            for _ in range(len(maps)):
                new = np.zeros(n)
                for m in maps:
                    after = cont[m - lo] + sum(
                        rem[int(mix.succ_dst[f]) - lo]
                        for f in range(int(mix.succ_ptr[m]), int(mix.succ_ptr[m + 1])))
                    for x in bodies[m]:
                        new[x - lo] = max(new[x - lo], after)
                if np.array_equal(new, cont):
                    break
                cont = new
            out[row, lo:hi] = np.maximum(rem + cont, 0.0)
    return out
