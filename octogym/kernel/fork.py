"""Fork: copy batch members' whole simulation state into other rows, compiled.

A member's state is row ``b`` of every :class:`~octogym.kernel.layout.State` array (queues,
heap, pools, counters, policy state, the seed, the running reward sums); the ``Model`` is
shared. :func:`clone_rows` copies rows ``src[i]`` of one State into rows ``dst[i]`` of another
(or the same) State in one compiled call, so a clone *is* its source: given the same actions
it follows it event for event.

Common random numbers: every draw of the model is keyed by the member's seed and by what it
is drawn for (arrival ``n``; request ``uid`` and token lineage for durations, branch outcomes
and map counts; :mod:`octogym.rng`), never by how many draws came before, so clones that take
different actions still see the same future arrivals, durations and branch outcomes. The one
exception is the ``random`` scheduler's own coin (``S_POLICY``), keyed by the member's count
of policy draws: clones share it only until their actions make them draw a different number
of times.

Both States must have the same pool sizes (every axis but the batch axis); grow the smaller
one first (:func:`match_pools`; growth never changes results).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import literal_unroll, njit

from octogym.kernel import fields as L
from octogym.kernel.build import _POOL, cache_aligned_zeros, grow_state
from octogym.kernel.fields import SC_STATUS
from octogym.kernel.layout import TBU_RUN, State
from octogym.kernel.loop import draw_duration, run_member
from octogym.workflows.compiled import TASK


@njit(cache=True)
def _copy_rows(pairs, src, dst):
    for pair in literal_unroll(pairs):
        a = pair[0]
        d = pair[1]
        for i in range(dst.shape[0]):
            d[dst[i]] = a[src[i]]


def clone_rows(S_src: State, src: Sequence[int] | np.ndarray, S_dst: State,
               dst: Sequence[int] | np.ndarray) -> None:
    """Copy member ``src[i]`` of ``S_src`` into member ``dst[i]`` of ``S_dst`` (every State
    array, one compiled call). ``src`` may repeat a row (one member into many); a row may not
    be both a source and a destination when the States are the same object."""
    src = np.ascontiguousarray(src, np.int64).reshape(-1)
    dst = np.ascontiguousarray(dst, np.int64).reshape(-1)
    if src.shape != dst.shape:
        raise ValueError(f"clone_rows: {src.size} source rows for {dst.size} destination rows")
    Bs, Bd = S_src.SC.shape[0], S_dst.SC.shape[0]
    if src.size and (src.min() < 0 or src.max() >= Bs):
        raise ValueError(f"clone_rows: source rows {src.tolist()} outside [0, {Bs})")
    if dst.size and (dst.min() < 0 or dst.max() >= Bd):
        raise ValueError(f"clone_rows: destination rows {dst.tolist()} outside [0, {Bd})")
    if len(set(dst.tolist())) != dst.size:
        raise ValueError(f"clone_rows: destination rows {dst.tolist()} repeat a row")
    if S_src is S_dst and set(src.tolist()) & set(dst.tolist()):
        raise ValueError("clone_rows: a row is both a source and a destination")
    for name, a, d in zip(State._fields, S_src, S_dst, strict=True):
        if a.shape[1:] != d.shape[1:] or a.dtype != d.dtype:
            raise ValueError(f"clone_rows: State.{name} is {a.shape[1:]} {a.dtype} in the "
                             f"source, {d.shape[1:]} {d.dtype} in the destination (grow the "
                             "smaller State first: match_pools)")
    if src.size:
        _copy_rows(tuple(zip(S_src, S_dst, strict=True)), src, dst)


def match_pools(a: State, b: State) -> tuple[State, State]:
    """``(a, b)`` grown (doubling, :func:`~octogym.kernel.build.grow_state`) until their pools
    have the same sizes, so members can be cloned between them."""
    for what, (grp, _, _) in _POOL.items():
        while getattr(a, grp).shape[1] < getattr(b, grp).shape[1]:
            a = grow_state(a, what)
        while getattr(b, grp).shape[1] < getattr(a, grp).shape[1]:
            b = grow_state(b, what)
    # 'J' also grows the heap; the heap can only differ if the job pools did
    if a.HP.shape[1:] != b.HP.shape[1:]:
        raise AssertionError("heap sizes differ with equal job pools")
    return a, b


def copy_state(S: State) -> State:
    """An independent copy of every member of ``S`` (same pool sizes)."""
    out = State(*[cache_aligned_zeros(a.shape, a.dtype) for a in S])
    clone_rows(S, np.arange(S.SC.shape[0]), out, np.arange(S.SC.shape[0]))
    return out


@njit(cache=True, _nrt=False)
def run_rows(M, S, pol, rows, until, actions):
    """Run members ``rows[i]`` under policy code ``pol`` with no external decisions, each to
    its own time limit ``until[i]`` (or its end), first applying ``actions[i]`` to its
    pending decision (statuses in ``S.SC[:, status]``; ST_GROW rows need growing and another
    call with ``NO_ACTION``). The rollouts of :mod:`octogym.planner`: one call for every
    candidate of every member."""
    for i in range(rows.shape[0]):
        b = rows[i]
        S.SC[b, SC_STATUS] = run_member(M, S, b, pol, 0, until[i], actions[i])


@njit(cache=True, _nrt=False)
def redraw_waiting_durations(M, S, rows):
    """Redraw, from each row's seed, the duration of every TB of members ``rows`` that was
    created but has not started (queued, parked in a backlog or awaiting a decision), with
    :func:`~octogym.kernel.loop.draw_duration` (the law and keys of the kernel's own draw).
    A running TB keeps its duration (its end is already an event). Free job slots may be
    rewritten too: a slot gets its duration when it is allocated again. The planner's
    ``resample=2``: after the seed of a rollout row is replaced, the rollout knows of the
    waiting TBs only their laws."""
    MB = M.MB
    JB = S.JB
    TB = S.TB
    for i in range(rows.shape[0]):
        b = rows[i]
        for j in range(JB.shape[1]):
            x = JB[b, j, L.JB_BLOCK]
            if x < 0 or MB[L.MB_BLK_TYPE, x] != TASK:
                continue
            u = JB[b, j, L.JB_TBU]
            if u >= 0 and TB[b, L.TB_STATE, u] == TBU_RUN and S.TBQ[b, u, TB[b, L.TB_QH, u]] == j:
                continue
            JB[b, j, L.JB_DUR] = draw_duration(M, S, b, x, S.RQ[b, JB[b, j, L.JB_REQ], L.RQ_UID],
                                               S.JBU[b, j])


__all__ = ["run_rows", "clone_rows", "copy_state", "match_pools", "redraw_waiting_durations"]
