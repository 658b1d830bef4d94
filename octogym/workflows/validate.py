"""Graph rules of a workflow (docs/model.md §1). Each failure is a :class:`WorkflowError` naming the
source, the block and the rule. Rules, by name:

``unknown-id``        entry, flow ends, map bodies, probs keys and phase targets must exist
``duplicate-flow``    at most one flow per (src, dst)
``probabilities``     branch probabilities are in [0, 1] and sum to 1 (also in phases)
``branch-flows``      a branch has a flow to each key of ``probs`` and to nothing else
``task-flows``        a task has at most one outgoing flow (use a fork for parallelism)
``map-flows``         a map has at most one outgoing flow (taken once after all copies end)
``fork-flows``        a fork has at least one outgoing flow
``join-flows``        a join has at least one incoming and at most one outgoing flow
``map-body``          a map names a body that is not the map and cannot reach the map again
``unreachable``       every block is reachable from the entry (through flows and map bodies)
``cycle-without-branch``  every cycle passes through a branch CB
``loop-cannot-exit``  expected executions are finite (spectral radius of the mean matrix < 1)
``join-deadlock``     no run leaves a join holding tokens it can never complete
(``schema``, ``duplicate-id``, ``duration``, ``count``, ``phase``, ``limit``
are raised while parsing; ``limit`` also here: a loop nest above ``MAX_LOOP_BLOCKS``.)

Every check is linear in the size of the workflow (loops cost a dense eigenvalue problem of
their own size), so a large file cannot make validation quadratic (docs/limits.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from octogym import limits
from octogym.limits import short
from octogym.workflows.errors import WorkflowError
from octogym.workflows.frequencies import spectral_radius
from octogym.workflows.graph import on_a_cycle, strongly_connected

if TYPE_CHECKING:  # model.py imports this module to validate what it parses
    from octogym.workflows.model import Workflow

PROB_TOL = 1e-9
# Bounds of the join-deadlock search (ours): beyond them the check gives up silently, since
# such a graph is far larger than any hand-written workflow. MAX_SEARCH_WORK bounds the whole
# search of one validation (states times their size), however many frames and phases.
MAX_SEARCH_STATES = 50_000
MAX_SEARCH_TOKENS = 64
MAX_SEARCH_WORK = 4_000_000


def validate(wf: Workflow) -> None:
    """Raise :class:`WorkflowError` on the first broken rule; return None if all hold."""
    src = wf.source
    blocks = {b.id: b for b in wf.blocks}

    def err(block, rule, detail):
        return WorkflowError(src, block, rule, detail)

    if wf.entry not in blocks:
        raise err(None, "unknown-id", f"entry '{wf.entry}' is not a block")
    seen_flows = set()
    for f in wf.flows:
        for end in (f.src, f.dst):
            if end not in blocks:
                raise err(end, "unknown-id", f"flow {f.src} -> {f.dst} names an unknown block")
        if (f.src, f.dst) in seen_flows:
            raise err(f.src, "duplicate-flow", f"two flows {f.src} -> {f.dst}")
        seen_flows.add((f.src, f.dst))
    succ: dict[str, list[str]] = {b: [] for b in blocks}
    indeg = dict.fromkeys(blocks, 0)
    for f in wf.flows:
        succ[f.src].append(f.dst)
        indeg[f.dst] += 1

    def check_probs(bid, probs, where=""):
        for k, p in probs:
            if not 0.0 <= p <= 1.0:
                raise err(bid, "probabilities",
                          f"{where}probability of '{k}' is {p}, not in [0, 1]")
        total = sum(p for _, p in probs)
        if abs(total - 1.0) > PROB_TOL:
            raise err(bid, "probabilities", f"{where}probabilities sum to {total:.12g}, not 1")
        keys = [k for k, _ in probs]
        for k in keys:
            if k not in blocks:
                raise err(bid, "unknown-id", f"{where}probs names unknown block '{k}'")
        if sorted(keys) != sorted(succ[bid]):
            raise err(bid, "branch-flows",
                      f"{where}probs keys {short(sorted(keys))} must match its outgoing flows "
                      f"{short(sorted(succ[bid]))}")

    for b in wf.blocks:
        if b.type == "task" and len(succ[b.id]) > 1:
            raise err(b.id, "task-flows",
                      f"a task has at most one outgoing flow, found {short(succ[b.id])}; "
                      "use a fork")
        if b.type == "task":
            continue
        if b.type == "branch":
            check_probs(b.id, b.probs or ())
        elif b.type == "map":
            if b.body not in blocks:
                raise err(b.id, "unknown-id", f"map body '{b.body}' is not a block")
            if b.body == b.id:
                raise err(b.id, "map-body", "a map cannot be its own body")
            if len(succ[b.id]) > 1:
                raise err(b.id, "map-flows",
                          f"a map has at most one outgoing flow, found {short(succ[b.id])}")
        elif b.type == "fork" and not succ[b.id]:
            raise err(b.id, "fork-flows", "a fork needs at least one outgoing flow")
        elif b.type == "join":
            if indeg[b.id] == 0:
                raise err(b.id, "join-flows", "a join needs at least one incoming flow")
            if len(succ[b.id]) > 1:
                raise err(b.id, "join-flows",
                          f"a join has at most one outgoing flow, found {short(succ[b.id])}")
    for i, ph in enumerate(wf.phases):
        for bid, pr in ph.probs:
            check_probs(bid, pr, f"phases[{i}]: ")
    # phases apply in list order, so each trigger must come later than the one before it
    last = {"after_requests": 0, "after_cycles": 0}
    for i, ph in enumerate(wf.phases):
        for key, val in (("after_requests", ph.after_requests), ("after_cycles", ph.after_cycles)):
            if val is not None:
                if val <= last[key]:
                    raise err(None, "phase", f"phases[{i}].{key}={val} must be greater than the "
                                             f"previous phase's {last[key]}")
                last[key] = val

    # Reachability through flows and map bodies.
    edges = {b: list(succ[b]) for b in blocks}
    for b in wf.blocks:
        if b.type == "map":
            edges[b.id].append(b.body)  # type: ignore[arg-type]
    reach = _reachable(wf.entry, edges)
    for b in wf.blocks:
        if b.id not in reach:
            raise err(b.id, "unreachable", f"not reachable from entry '{wf.entry}'")

    # Loop nests (strongly connected components) are bounded: each costs a dense eigenvalue
    # problem of its size.
    comps = strongly_connected(edges)
    comp_of = {x: k for k, comp in enumerate(comps) for x in comp}
    for comp in comps:
        if len(comp) > limits.MAX_LOOP_BLOCKS:
            raise err(comp[0], "limit", f"a loop nest of {len(comp)} blocks; at most "
                                        f"{limits.MAX_LOOP_BLOCKS} (docs/limits.md)")

    # A map's body must not reach the map itself (that would be unbounded recursion). The map
    # has an edge to its body, so the body reaches it exactly when both share a component.
    for b in wf.blocks:
        if b.type == "map" and comp_of[b.id] == comp_of[b.body]:  # type: ignore[index]
            raise err(b.id, "map-body", f"its body '{b.body}' reaches the map again")

    # Every cycle must pass through a branch: drop the branches' out-edges, look for a cycle.
    no_branch = {b: ([] if blocks[b].type == "branch" else edges[b]) for b in blocks}
    cyc = _find_cycle(no_branch)
    if cyc is not None:
        shown = cyc + [cyc[0]] if len(cyc) <= 8 else cyc[:4] + ["..."] + cyc[-3:] + [cyc[0]]
        raise err(cyc[0], "cycle-without-branch",
                  "cycle " + " -> ".join(shown) + " passes through no branch CB")

    budget = [MAX_SEARCH_WORK]
    for k in range(len(wf.phases) + 1):
        w = wf.with_phase(k) if k else wf
        rho = spectral_radius(w)
        if rho >= 1.0 - 1e-9:
            where = "" if k == 0 else f" after phases[{k - 1}]"
            raise err(_loop_block(w, edges, comps), "loop-cannot-exit",
                      f"expected executions are infinite{where}: a loop (or fan-out inside a "
                      f"loop) does not exit with enough probability (spectral radius {rho:.4f})")
        _check_joins(w, succ, indeg, err, budget)


def _loop_block(wf: Workflow, edges: dict[str, list[str]], comps: list[list[str]]
                ) -> str | None:
    """A block to name for a loop that cannot exit: the first branch (in file order) that lies
    on a cycle, else the first block on a cycle."""
    cyclic = {x for comp in comps if on_a_cycle(comp, edges) for x in comp}
    on_cycle = [b for b in wf.blocks if b.id in cyclic]
    for b in on_cycle:
        if b.type == "branch":
            return b.id
    return on_cycle[0].id if on_cycle else None


def _reachable(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for s in edges[stack.pop()]:
            if s not in seen:
                seen.add(s)
                stack.append(s)
    return seen


def _find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    color = dict.fromkeys(edges, 0)
    for root in edges:
        if color[root]:
            continue
        path: list[str] = []
        stack = [(root, iter(edges[root]))]
        color[root] = 1
        path.append(root)
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = 2
                stack.pop()
                path.pop()
            elif color[nxt] == 1:
                return path[path.index(nxt):]
            elif color[nxt] == 0:
                color[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(edges[nxt])))
    return None


def _check_joins(wf: Workflow, succ, indeg, err, budget: list[int]) -> None:
    """Explore the token game of each frame (the request, and one copy of each map body).

    Tokens move independently and joins only count, so moves commute: exploring one canonical
    order (always the smallest token first) and every branch outcome of positive probability
    covers every reachable end state. A frame that ends with a join holding tokens deadlocks.
    """
    blocks = {b.id: b for b in wf.blocks}
    joins = sorted(b.id for b in wf.blocks if b.type == "join")
    if not joins:
        return
    jidx = {j: i for i, j in enumerate(joins)}
    starts = [wf.entry] + [b.body for b in wf.blocks if b.type == "map"]
    for start in starts:
        init = ((start,), (0,) * len(joins))
        seen = {init}
        stack = [init]
        while stack:
            tokens, counts = stack.pop()
            if not tokens:
                for j, c in zip(joins, counts, strict=True):
                    if c:
                        raise err(j, "join-deadlock",
                                  f"a run from '{start}' can leave this join holding {c} of its "
                                  f"{indeg[j]} tokens forever (its inputs are alternatives, "
                                  "not parallel paths)")
                continue
            budget[0] -= len(tokens) + len(joins)
            if (len(seen) > MAX_SEARCH_STATES or len(tokens) > MAX_SEARCH_TOKENS
                    or budget[0] < 0):
                return
            tok, rest = tokens[0], list(tokens[1:])
            b = blocks[tok]
            outcomes: list[tuple[list[str], tuple[int, ...]]] = []
            if b.type == "branch":
                for s, p in b.probs or ():
                    if p > 0:
                        outcomes.append(([s], counts))
            elif b.type == "join":
                c = list(counts)
                c[jidx[tok]] += 1
                new = []
                if c[jidx[tok]] == indeg[tok]:
                    c[jidx[tok]] = 0
                    new = list(succ[tok])
                outcomes.append((new, tuple(c)))
            else:  # task, fork, map (its body is its own frame): every successor
                outcomes.append((list(succ[tok]), counts))
            for new, c in outcomes:
                st = (tuple(sorted(rest + new)), c)
                if st not in seen:
                    seen.add(st)
                    stack.append(st)
