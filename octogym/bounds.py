"""Lower bounds on what any scheduler can achieve on a scenario (derivations: docs/model.md,
"Lower bounds").

Every random quantity of a run (arrival times, workflows, drift phases, TB durations, branch
outcomes, map counts) is a pure function of the member's seed and of what it is drawn for,
never of scheduling decisions (:mod:`octogym.rng`). So for one seeded scenario the requests,
their task graphs as they will unfold, and every TB's duration are fixed before any scheduler
runs, and the bounds below hold for *every* scheduler on that exact run:

* **per-request (critical path)**: request ``i`` cannot finish before ``arr_i + cp_i``, where
  ``cp_i`` is its longest dependency chain with every TB on a matching idle TBU the moment it
  is ready (no queueing, no reconfiguration, no transfers, nominal speed) and every CB on a
  free CBU. So its latency is at least ``cp_i`` and the mean latency at least ``mean(cp)``.
* **capacity (fluid SRPT)**: the machine does at most ``T`` TBU-cycles of work per cycle. Give
  it the relaxation of one preemptive server of speed ``T`` that may split any request's work
  at will: shortest-remaining-work-first minimises the summed completion times there
  (Schrage 1968), so its summed latency bounds every real schedule's. It binds at high load,
  where queueing dominates; the critical path binds at low load.
* **makespan**: ``max(max_i arr_i + cp_i, max_i arr_(i) + W_(>=i) / T)`` with requests in
  arrival order and ``W_(>=i)`` the work of those arriving at or after the ``i``-th.

>>> b = request_bounds("recognition", "chip", load=0.5, n_requests=20, seed=1)
>>> bool(b.latency_mean_bound() > 0)
True
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from octogym.kernel.layout import MAX_MAP_COUNT
from octogym.kernel.loop import COPY_SALT, JOIN_SALT, ROOT_LIN
from octogym.reference import ReferenceSimulation
from octogym.rng import (
    S_BRANCH,
    S_COUNT,
    S_DURATION,
    S_DURATION2,
    S_WORKFLOW,
    lin_next,
    mix64,
    sample_count,
    sample_duration,
    u01,
)
from octogym.workflows.compiled import BRANCH, JOIN, MAP, TASK

_U64 = np.uint64


@dataclass
class RequestBounds:
    """Per-request draws and bounds of one seeded run (cycles)."""

    arrival: np.ndarray  # (N,) arrival cycle of each request id
    workflow: np.ndarray  # (N,) workflow index
    critical_path: np.ndarray  # (N,) latency lower bound of each request
    work: np.ndarray  # (N,) TBU-cycles of its TB executions (nominal speed)
    n_tbus: int

    def fluid_latency_sum(self) -> float:
        """Summed latency of preemptive SRPT on one server of speed ``n_tbus``."""
        return srpt_flow_sum(self.arrival, self.work, float(self.n_tbus))

    def latency_mean_bound(self) -> float:
        """No scheduler's mean latency on this run is below this."""
        n = len(self.arrival)
        return max(float(self.critical_path.mean()), self.fluid_latency_sum() / n)

    def makespan_bound(self) -> int:
        order = np.argsort(self.arrival, kind="stable")
        arr, w = self.arrival[order], self.work[order]
        suffix = np.cumsum(w[::-1])[::-1]
        cap = float(np.max(arr + suffix / self.n_tbus))
        return int(max(np.ceil(cap), int(np.max(self.arrival + self.critical_path))))

    def summary(self) -> dict[str, float]:
        n = len(self.arrival)
        return {"path_latency_mean": float(self.critical_path.mean()),
                "capacity_latency_mean": self.fluid_latency_sum() / n,
                "latency_mean": self.latency_mean_bound(),
                "makespan": float(self.makespan_bound())}


def srpt_flow_sum(arrival: np.ndarray, work: np.ndarray, speed: float) -> float:
    """Summed flow time (completion - arrival) of preemptive shortest-remaining-work-first on
    one server of ``speed`` work units per cycle (optimal for that server: Schrage 1968)."""
    order = np.argsort(arrival, kind="stable")
    arr = arrival[order].astype(np.float64)
    w = work[order].astype(np.float64) / speed  # service times on the fast server
    heap: list[tuple[float, int]] = []
    t, total, i, n = 0.0, 0.0, 0, len(arr)
    while i < n or heap:
        if not heap:
            t = max(t, arr[i])
        while i < n and arr[i] <= t:
            heapq.heappush(heap, (w[i], i))
            i += 1
        rem, k = heapq.heappop(heap)
        nxt = arr[i] if i < n else np.inf
        if t + rem <= nxt:
            t += rem
            total += t - arr[k]
        else:
            heapq.heappush(heap, (rem - (nxt - t), k))
            t = nxt
    return total


class _Frame:
    __slots__ = ("kind", "parent", "live", "t", "joins", "map_block", "lineage")

    def __init__(self, kind: int, parent: _Frame | None, live: int) -> None:
        self.kind, self.parent, self.live, self.t = kind, parent, live, 0
        self.joins: dict[int, list] = {}
        self.map_block = -1
        self.lineage = _U64(0)


_ROOT, _COPY, _GROUP = 0, 1, 2


def _critical_path(ref: ReferenceSimulation, uid: int, w: int, row: int, arr: int
                   ) -> tuple[int, int]:
    """``(completion, work)`` of request ``uid`` on an unbounded machine (every TB on a
    matching idle TBU, every CB on a free CBU, no transfers), walking the same token
    lineages as the kernel so every draw is the run's own."""
    seed = ref.seed
    root = _Frame(_ROOT, None, 1)
    tokens: deque = deque([(root, ref.wf_entry[w], arr, _U64(ROOT_LIN))])
    out = [0, 0]  # completion, work

    def consume(fr: _Frame, t: int) -> None:
        fr.t = max(fr.t, t)
        fr.live -= 1
        while fr.live == 0:
            if fr.kind == _ROOT:
                out[0] = fr.t
                return
            parent = fr.parent
            if fr.kind == _GROUP:
                for fi in ref.flows_of[fr.map_block]:
                    emit(parent, fi, fr.t, fr.lineage)
            parent.t = max(parent.t, fr.t)
            parent.live -= 1
            fr = parent

    def emit(fr: _Frame, fi: int, t: int, lin) -> None:
        fr.live += 1
        tokens.append((fr, ref.flow_dst[fi], t, _U64(lin_next(lin, fi))))

    def cb_done(fr: _Frame, x: int, t: int, lin) -> None:
        kind = ref.blk_type[x]
        if kind == BRANCH:
            u = u01(seed, uid, lin, S_BRANCH)
            probs = ref.flow_prob[row]
            acc, chosen = 0.0, -1
            for fi in ref.flows_of[x]:
                if probs[fi] > 0.0:
                    chosen = fi
                    acc += probs[fi]
                    if u < acc:
                        break
            emit(fr, chosen, t, lin)
        elif kind == MAP:
            code, p0, off, n_emp = ref.count_law[row][x]
            n = int(sample_count(code, p0, ref.emp, off, n_emp,
                                 u01(seed, uid, lin, S_COUNT), MAX_MAP_COUNT))
            if n == 0:
                for fi in ref.flows_of[x]:
                    emit(fr, fi, t, lin)
            else:
                group = _Frame(_GROUP, fr, n)
                group.map_block, group.lineage = x, lin
                fr.live += 1
                for i in range(n):
                    tokens.append((_Frame(_COPY, group, 1), ref.blk_body[x], t,
                                   _U64(lin_next(lin, COPY_SALT + i))))
        else:  # fork, join
            for fi in ref.flows_of[x]:
                emit(fr, fi, t, lin)
        consume(fr, t)

    while tokens:
        fr, x, t, lin = tokens.popleft()
        kind = ref.blk_type[x]
        if kind == TASK:
            code, p0, p1, p2, off, n = ref.duration_law[x]
            d = int(sample_duration(code, p0, p1, p2, ref.emp, off, n,
                                    u01(seed, uid, lin, S_DURATION),
                                    u01(seed, uid, lin, S_DURATION2)))
            out[1] += d
            for fi in ref.flows_of[x]:
                emit(fr, fi, t + d, lin)
            consume(fr, t + d)
        elif kind == JOIN:
            seen = fr.joins.setdefault(x, [0, _U64(0), 0])
            seen[0] += 1
            seen[1] ^= lin
            seen[2] = max(seen[2], t)
            if seen[0] == ref.blk_indeg[x]:
                del fr.joins[x]
                cb_done(fr, x, seen[2] + ref.blk_cost[x], _U64(mix64(seen[1] ^ _U64(JOIN_SALT))))
            else:
                consume(fr, t)
        else:  # branch, map, fork: one CB
            cb_done(fr, x, t + ref.blk_cost[x], lin)
    return out[0], out[1]


def request_bounds(workflows: Any = None, hardware: Any = "chip", *, load: float = 0.7,
                   n_requests: int = 1000, arrival: str = "poisson",
                   trace: Any = None, seed: int = 0, member_offset: int = 0) -> RequestBounds:
    """The bounds of member ``member_offset`` of ``Simulation(workflows, hardware, load=...,
    n_requests=..., arrival=..., seed=...)`` (the same keywords; scheduler-independent)."""
    ref = ReferenceSimulation(workflows, hardware, load=load, n_requests=n_requests,
                              arrival=arrival, trace=trace, seed=seed,
                              member_offset=member_offset)
    N = ref.n_requests
    arr = np.zeros(N, np.int64)
    wf = np.zeros(N, np.int64)
    cp = np.zeros(N, np.int64)
    work = np.zeros(N, np.int64)
    ref.arr_clock = 0.0
    now = 0
    for n in range(N):
        now = max(ref.next_arrival_time(n), now)
        if ref.trace_w is not None:
            w = ref.trace_w[n]
        else:
            u = u01(ref.seed, n, 0, S_WORKFLOW)
            w = 0
            while w < len(ref.wf_cdf) - 1 and u >= ref.wf_cdf[w]:
                w += 1
        row = ref.wf_phase_off[w]
        for k in range(ref.wf_phase_off[w] + 1, ref.wf_phase_off[w + 1]):
            ar, ac = ref.phase_after_req[k], ref.phase_after_cyc[k]
            if (ar >= 0 and n >= ar) or (ac >= 0 and now >= ac):
                row = k
        done, wk = _critical_path(ref, n, w, row, now)
        arr[n], wf[n], cp[n], work[n] = now, w, done - now, wk
    return RequestBounds(arr, wf, cp, work, ref.hw.n_tbus)
