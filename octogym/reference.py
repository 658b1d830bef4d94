"""A small, readable, object-based reference simulator of the octogym execution model.

This is the project's plain-Python statement of the semantics the compiled, batched kernel
(:mod:`octogym.kernel`) implements (docs/model.md §4), written with SimPy, the field's usual
discrete-event tool. It exists for two reasons:

* **differential tests**: on the same scenario and seed it must produce exactly the kernel's
  trajectory (same TB schedule, same completion times, same metrics; ``tests/test_reference.py``);
* **speed baseline**: ``benchmarks/`` compare the kernel's throughput against it.

It implements the kernel's built-in policies ``round_robin`` and ``least_loaded`` (no epochs,
no external decisions, no migration or stealing).

Same draws
    Random quantities are counter-based (:mod:`octogym.rng`): arrival gaps are a function of
    ``(seed, request index)``; the workflow of a request of ``(seed, request index)``; a TB's
    duration, a branch's outcome and a map's fan-out of ``(seed, request id, token lineage)``.
    This module calls the very same functions, so it sees the kernel's draws without sharing
    any state with it.

The model, in objects
    :class:`Request` - one workflow instance; gets a *home* :class:`Cluster` on arrival.
    :class:`Frame` - a scope of one request: the request's root, one copy of a map body, or the
    *group* of a map's copies. Joins count tokens per frame; a frame ends when its last live
    token ends (a copy then reports to its group, a finished group sends the map's
    continuation, a finished root completes the request).
    :class:`Token` - one unit of control flow: it arrives at a block carrying where its data
    lies (``org`` cluster), the bytes of the flow it came along, and its *lineage* (a hash of
    the path it took, which keys its random draws). A token held by a CBU is a CB job.
    :class:`TBInstance` - a task block's execution (a *TB job*).
    :class:`TBU` - one PEA: a configuration, a FIFO input queue of bounded capacity.
    :class:`Cluster` - ``tbus_per_cluster`` TBUs, one CBU (a serial server), and a *backlog* of
    TB jobs waiting for queue space.

Execution (what happens at one event)
    Tokens produced while handling an event are delivered in FIFO order (:meth:`deliver`):

    * a *task* block becomes a :class:`TBInstance` (its duration drawn now) that joins the
      *decision FIFO*;
    * a *branch*, *map* or *fork* block is a CB job on the home cluster's CBU: it starts at
      ``max(now, cbu_free)`` and ends ``cost`` cycles later (one ``CB_DONE`` event per job,
      even at cost 0); then a branch emits the drawn successor, a fork every successor, a map
      ``n`` copies of its body (``n`` drawn; ``n = 0`` continues at once);
    * a *join* counts the tokens of its frame (xor-ing their lineages); the one that completes
      the count becomes a CB job, the others end.

    After the event, the decision FIFO is drained in order. A new request gets its home cluster
    from the policy and its entry token. A TB job whose home cluster has no TBU with queue
    space goes to that cluster's backlog; otherwise the policy picks a TBU with space and the
    job joins its queue: its input data starts moving now (``transfer(org, cluster, bytes)``).
    A TBU runs its queue head: reconfigure if its configuration differs (``reconfig_cycles``),
    then wait for the data, then run the drawn duration (``TB_DONE``). When a TB completes, its
    successors' tokens are delivered, the TBU's slot frees, the cluster's whole backlog returns
    to the decision FIFO in order, and the TBU starts its next queued job.

Event order
    Simultaneous events break ties by ``(time, kind, sequence)`` with kinds
    ``TB_DONE < CB_DONE < TBU_FREE < ARRIVAL < EPOCH`` and the sequence number counting every
    scheduled event. SimPy orders its queue by ``(time, priority, event id)`` where the event id
    counts every ``Environment.schedule`` call. So each event here is a SimPy event scheduled
    with ``priority = kind`` (:class:`KernelEvent`, built like :class:`simpy.Timeout` with a
    priority), nothing else is ever scheduled, and SimPy's own order *is* the kernel's order;
    the run loop is ``env.step()`` until every request has completed. Arrivals are chained (each
    arrival schedules the next), exactly as in the kernel.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import simpy

from octogym.hardware import HardwareConfig, get_hardware
from octogym.kernel.build import initial_configs, mix_work, seeds_for
from octogym.kernel.layout import (
    ARRIVAL_MODES,
    EV_ARRIVAL,
    EV_CB_DONE,
    EV_TB_DONE,
    MAX_MAP_COUNT,
)
from octogym.kernel.loop import COPY_SALT, JOIN_SALT, ROOT_LIN
from octogym.metrics import SimResult, make_result
from octogym.rng import (
    S_ARRIVAL,
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
from octogym.workflows.compiled import BRANCH, JOIN, MAP, TASK, CompiledMix, compile_mix

__all__ = ["REFERENCE_POLICIES", "Cluster", "Frame", "KernelEvent", "ReferenceSimulation",
           "Request", "TBInstance", "TBU", "Token"]

REFERENCE_POLICIES = ("round_robin", "least_loaded")

ROOT, COPY, GROUP = "root", "copy", "group"  # frame kinds

# Lineages and seeds are uint64 (as in the kernel), so they go to the numba draws as np.uint64.
_U64 = np.uint64
_ROOT_LIN, _JOIN_SALT = _U64(ROOT_LIN), _U64(JOIN_SALT)


# ---- the objects ---------------------------------------------------------------------------


class Request:
    """One workflow instance: ``uid`` = arrival index, ``row`` = its drift phase row."""

    __slots__ = ("uid", "workflow", "row", "arrival", "home", "done")

    def __init__(self, uid: int, workflow: int, row: int, arrival: int) -> None:
        self.uid = uid
        self.workflow = workflow
        self.row = row
        self.arrival = arrival
        self.home = -1
        self.done = -1


class Frame:
    """A scope of one request (root, one map-body copy, or the group of a map's copies)."""

    __slots__ = ("kind", "parent", "request", "live", "org", "lineage", "map_block", "joins")

    def __init__(self, kind: str, parent: Frame | None, request: Request, live: int) -> None:
        self.kind = kind
        self.parent = parent
        self.request = request
        self.live = live  # tokens (and child groups) still alive in this frame
        self.org = -1  # cluster of the data of the frame's last ended token
        self.lineage = _U64(0)  # group only: lineage of the map's CB job
        self.map_block = -1  # group only: the map block
        self.joins: dict[int, list] = {}  # join block -> [tokens seen, lineage xor]


class Token:
    """A unit of control flow arriving at ``block``; its data lies at cluster ``org``.
    A token held by a CBU is that CB's job."""

    __slots__ = ("frame", "block", "org", "nbytes", "lineage")

    def __init__(self, frame: Frame, block: int, org: int, nbytes: int,
                 lineage: np.uint64) -> None:
        self.frame = frame
        self.block = block
        self.org = org
        self.nbytes = nbytes
        self.lineage = lineage


class TBInstance:
    """One execution of a task block (a TB job)."""

    __slots__ = ("request", "frame", "block", "lineage", "org", "nbytes", "ready", "duration",
                 "tbu", "data_ready")

    def __init__(self, token: Token, ready: int, duration: int) -> None:
        self.request = token.frame.request
        self.frame = token.frame
        self.block = token.block
        self.lineage = token.lineage
        self.org = token.org
        self.nbytes = token.nbytes
        self.ready = ready  # when its token arrived
        self.duration = duration  # drawn when it became ready
        self.tbu: TBU | None = None
        self.data_ready = -1  # when its input data is at its TBU


class TBU:
    """One PEA: a configuration and a FIFO queue; the head job is the running one."""

    __slots__ = ("id", "cluster", "config", "running", "queue", "idle_since", "runs", "busy",
                 "reconfiguring", "waiting", "starved", "blocked")

    def __init__(self, tbu_id: int, cluster: Cluster, config: int) -> None:
        self.id = tbu_id
        self.cluster = cluster
        self.config = config
        self.running = False
        self.queue: deque[TBInstance] = deque()
        self.idle_since = 0
        self.runs = 0
        # accounted cycles (docs/model.md: the idle split)
        self.busy = self.reconfiguring = self.waiting = self.starved = self.blocked = 0

    def close_idle(self, now: int) -> None:
        """Account the open idle segment up to ``now`` (blocked while the cluster has a
        backlog, starved otherwise) and restart it at ``now``."""
        if not self.running:
            dt = now - self.idle_since
            if self.cluster.backlog:
                self.blocked += dt
            else:
                self.starved += dt
            self.idle_since = now


class Cluster:
    """TBUs, one CBU (serial: ``cbu_free`` is when it next is free) and a TB-job backlog."""

    __slots__ = ("id", "tbus", "cbu_free", "cbu_busy", "backlog", "queued", "free_slots",
                 "rr_next", "qcap")

    def __init__(self, cluster_id: int, qcap: int) -> None:
        self.id = cluster_id
        self.tbus: list[TBU] = []
        self.cbu_free = 0
        self.cbu_busy = 0
        self.backlog: deque[TBInstance] = deque()
        self.queued = 0  # jobs in this cluster's TBU queues (running heads included)
        self.free_slots = 0  # free queue places over its TBUs (set once its TBUs are added)
        self.rr_next = 0  # round-robin pointer over its TBUs
        self.qcap = qcap

    def has_space(self) -> bool:
        """Some TBU of the cluster has queue space."""
        return self.free_slots > 0

    def close_idle(self, now: int) -> None:
        for u in self.tbus:
            u.close_idle(now)

    def least_loaded_tbu(self) -> TBU | None:
        """The TBU with space and the fewest queued jobs (lowest id on ties)."""
        best = None
        for u in self.tbus:
            if len(u.queue) < self.qcap and (best is None or len(u.queue) < len(best.queue)):
                best = u
        return best

    def round_robin_tbu(self) -> TBU | None:
        """The next TBU with space from the round-robin pointer; the pointer moves past it."""
        k = len(self.tbus)
        for i in range(k):
            u = self.tbus[(self.rr_next + i) % k]
            if len(u.queue) < self.qcap:
                self.rr_next = (u.id - self.tbus[0].id + 1) % k
                return u
        return None


class KernelEvent(simpy.Event):
    """An event already triggered with ``payload``, processed at ``time`` with SimPy priority
    ``kind`` (built like :class:`simpy.Timeout`, which always uses priority NORMAL)."""

    def __init__(self, env: simpy.Environment, time: int, kind: int, payload: Any,
                 callback: Any) -> None:
        if time < env.now:
            raise ValueError(f"event in the past: {time} < {env.now}")
        self.env = env
        self.callbacks = [callback]
        self._value = payload
        self._ok = True
        self.kind = kind
        env.schedule(self, kind, time - env.now)


# ---- the simulator -------------------------------------------------------------------------


class ReferenceSimulation:
    """One run of a scenario, with the arguments of :class:`octogym.simulator.Simulation`.

    ``seed`` and ``member_offset`` select the same member seed as a kernel ``Simulation`` member
    ``member_offset``. After :meth:`run`: ``schedule`` (one ``(uid, block, tbu, ready, start,
    end)`` per TB execution, in the order they were started, like the kernel's trace),
    ``arrival``, ``completion``, ``home``, ``workflow`` (per request id, ``-1`` if none), and
    counters ``n_events``, ``n_tb_done``, ``n_cb_done``, ``n_reconf``, ``byte_hops``,
    ``n_backlogged`` (TB jobs parked in a cluster backlog, re-parks counted).

    >>> ref = ReferenceSimulation("recognition", "chip", load=0.6, n_requests=50, seed=1)
    >>> ref.run().n_requests
    50
    """

    def __init__(
        self,
        workflows: Any = None,
        hardware: str | HardwareConfig | dict = "chip",
        *,
        load: float = 0.7,
        n_requests: int = 1000,
        arrival: str = "poisson",
        trace: tuple[Sequence[int], Sequence[int]] | None = None,
        seed: int = 0,
        member_offset: int = 0,
        policy: str = "least_loaded",
        tbu_init: str | np.ndarray = "profile",
    ) -> None:
        from octogym.simulator import resolve_workflows

        if policy not in REFERENCE_POLICIES:
            raise ValueError(f"the reference simulator implements policies "
                             f"{list(REFERENCE_POLICIES)}, got {policy!r}")
        if arrival not in ARRIVAL_MODES:
            raise ValueError(f"arrival must be one of {sorted(ARRIVAL_MODES)}, got {arrival!r}")
        if not isinstance(n_requests, (int, np.integer)) or n_requests < 1:
            raise ValueError(f"n_requests must be a positive integer, got {n_requests!r}")
        self.hw = get_hardware(hardware)
        wfs, weights = resolve_workflows(workflows)
        self.workflows = wfs
        self.mix: CompiledMix = compile_mix(wfs, weights)
        self.policy = policy
        self.arrival_mode = arrival
        self.n_requests = int(n_requests)
        self.work_per_request, self.share = mix_work(self.mix)
        self.rate = (self.hw.arrival_rate(load, self.work_per_request)
                     if arrival == "poisson" else 1.0)
        self.trace_t = self.trace_w = None
        if arrival == "trace":
            if trace is None:
                raise ValueError("arrival='trace' needs trace=(times, workflow_indices)")
            self.trace_t = [int(x) for x in trace[0]]
            self.trace_w = [int(x) for x in trace[1]]
            if len(self.trace_t) != self.n_requests or len(self.trace_w) != self.n_requests:
                raise ValueError(f"trace must hold n_requests={n_requests} entries")
        self.tbu_cfg = initial_configs(self.hw, self.share, tbu_init)
        self.seed = _U64(seeds_for(seed, member_offset + 1)[member_offset])
        self._compile_tables()

    def _compile_tables(self) -> None:
        """Plain-Python views of the compiled mix and hardware (fast scalar access)."""
        m, hw = self.mix, self.hw
        self.blk_type = m.blk_type.tolist()
        self.blk_cfg = m.blk_cfg.tolist()
        self.blk_cost = m.blk_cost.tolist()
        self.blk_body = m.blk_body.tolist()
        self.blk_indeg = m.blk_indeg.tolist()
        ptr = m.succ_ptr.tolist()
        self.flows_of = [range(ptr[x], ptr[x + 1]) for x in range(m.n_blocks)]  # CSR flow ids
        self.flow_dst = m.succ_dst.tolist()
        self.flow_bytes = m.succ_bytes.tolist()
        self.flow_prob = m.flow_prob.tolist()  # [phase row][flow]
        self.duration_law = [(int(m.dur_code[x]), float(m.dur_p[x, 0]), float(m.dur_p[x, 1]),
                              float(m.dur_p[x, 2]), int(m.dur_emp_off[x]), int(m.dur_emp_len[x]))
                             for x in range(m.n_blocks)]
        self.count_law = [[(int(m.cnt_code[r, x]), float(m.cnt_p[r, x]), int(m.cnt_emp_off[r, x]),
                            int(m.cnt_emp_len[r, x])) for x in range(m.n_blocks)]
                          for r in range(m.cnt_code.shape[0])]
        self.emp = np.ascontiguousarray(m.emp)
        self.wf_cdf = m.wf_cdf.tolist()
        self.wf_entry = m.wf_entry.tolist()
        self.wf_phase_off = m.wf_phase_off.tolist()
        self.phase_after_req = m.phase_after_req.tolist()
        self.phase_after_cyc = m.phase_after_cyc.tolist()
        self.latency = hw.latency_matrix().tolist()
        self.hops = hw.hop_matrix().tolist()

    # ---- running -----------------------------------------------------------------------------

    def run(self) -> SimResult:
        """Simulate every request to completion; returns the run's metrics."""
        self._reset()
        while self.n_done < self.n_requests:
            try:
                self.env.step()
            except simpy.core.EmptySchedule:
                raise RuntimeError("reference simulation stalled: work is waiting but no "
                                   "event is pending") from None
        self.arrival = np.array([r.arrival if r else -1 for r in self.requests], np.int64)
        self.completion = np.array([r.done if r else -1 for r in self.requests], np.int64)
        self.home = np.array([r.home if r else -1 for r in self.requests], np.int64)
        self.workflow = np.array([r.workflow if r else -1 for r in self.requests], np.int64)
        return self.result()

    def _reset(self) -> None:
        hw = self.hw
        self.env = simpy.Environment()
        self.clusters = [Cluster(c, hw.queue_capacity) for c in range(hw.n_clusters)]
        self.tbus: list[TBU] = []
        for u, cfg in enumerate(self.tbu_cfg.tolist()):
            cl = self.clusters[u // hw.tbus_per_cluster]
            tbu = TBU(u, cl, cfg)
            cl.tbus.append(tbu)
            cl.free_slots += hw.queue_capacity
            self.tbus.append(tbu)
        self.requests: list[Request | None] = [None] * self.n_requests
        self.decisions: deque[Request | TBInstance] = deque()  # the decision FIFO
        self.tokens: deque[Token] = deque()  # tokens to deliver within the current event
        self.schedule: list[tuple[int, int, int, int, int, int]] = []
        self.rr_cluster = 0
        self.arr_clock = 0.0
        self.n_done = self.n_arrived = self.t_end = 0
        self.n_events = self.n_tb_created = self.n_tb_done = self.n_cb_done = 0
        self.n_reconf = 0
        self.n_backlogged = 0  # TB jobs parked in a backlog (counting re-parks)
        self.byte_hops = 0.0
        self._handlers = {EV_TB_DONE: self.on_tb_done, EV_CB_DONE: self.on_cb_done,
                          EV_ARRIVAL: self.on_arrival}
        self.at(self.next_arrival_time(0), EV_ARRIVAL, 0)

    def at(self, time: int, kind: int, payload: Any) -> None:
        """Schedule an event of ``kind`` at ``time``."""
        KernelEvent(self.env, time, kind, payload, self._process)

    def _process(self, event: KernelEvent) -> None:
        """SimPy callback: handle one event, then drain the decision FIFO."""
        self.n_events += 1
        self._handlers[event.kind](event.value)
        self.drain_decisions()

    # ---- arrivals ------------------------------------------------------------------------

    def next_arrival_time(self, n: int) -> int:
        """Arrival time of request ``n`` (Poisson: accumulated exponential gaps, floored)."""
        if self.arrival_mode == "poisson":
            u = u01(self.seed, n, 0, S_ARRIVAL)
            self.arr_clock += -math.log(1.0 - u) / self.rate
            return int(math.floor(self.arr_clock))
        if self.arrival_mode == "closed":
            return 0
        return self.trace_t[n]

    def on_arrival(self, n: int) -> None:
        """Request ``n`` arrives: schedule the next arrival, draw its workflow, pick its drift
        phase row, and queue its cluster decision."""
        now = self.env.now
        if n + 1 < self.n_requests:
            self.at(max(self.next_arrival_time(n + 1), now), EV_ARRIVAL, n + 1)
        if self.trace_w is not None:
            w = self.trace_w[n]
        else:
            u = u01(self.seed, n, 0, S_WORKFLOW)
            w = 0
            while w < len(self.wf_cdf) - 1 and u >= self.wf_cdf[w]:
                w += 1
        row = self.wf_phase_off[w]
        for k in range(self.wf_phase_off[w] + 1, self.wf_phase_off[w + 1]):
            ar, ac = self.phase_after_req[k], self.phase_after_cyc[k]
            if (ar >= 0 and n >= ar) or (ac >= 0 and now >= ac):
                row = k
        req = Request(n, w, row, now)
        self.requests[n] = req
        self.n_arrived += 1
        self.decisions.append(req)

    def start_request(self, req: Request, home: int) -> None:
        """The request got its home cluster: its root frame starts with the entry token."""
        req.home = home
        root = Frame(ROOT, None, req, 1)
        self.tokens.append(Token(root, self.wf_entry[req.workflow], home, 0, _ROOT_LIN))
        self.flush()

    # ---- tokens --------------------------------------------------------------------------

    def flush(self) -> None:
        """Deliver pending tokens in FIFO order (delivering may produce more)."""
        tokens = self.tokens
        while tokens:
            self.deliver(tokens.popleft())

    def emit(self, frame: Frame, flow: int, org: int, lineage: np.uint64) -> None:
        """A token leaves along ``flow`` (a CSR flow id) inside ``frame``."""
        frame.live += 1
        self.tokens.append(Token(frame, self.flow_dst[flow], org, self.flow_bytes[flow],
                                 _U64(lin_next(lineage, flow))))

    def deliver(self, tok: Token) -> None:
        """A token arrives at its block."""
        x = tok.block
        t = self.blk_type[x]
        if t == TASK:
            uid = tok.frame.request.uid
            code, p0, p1, p2, off, n = self.duration_law[x]
            u1 = u01(self.seed, uid, tok.lineage, S_DURATION)
            u2 = u01(self.seed, uid, tok.lineage, S_DURATION2)
            dur = int(sample_duration(code, p0, p1, p2, self.emp, off, n, u1, u2))
            self.n_tb_created += 1
            self.decisions.append(TBInstance(tok, self.env.now, dur))
        elif t == JOIN:
            seen = tok.frame.joins.setdefault(x, [0, _U64(0)])
            seen[0] += 1
            seen[1] ^= tok.lineage
            if seen[0] == self.blk_indeg[x]:
                del tok.frame.joins[x]
                lineage = _U64(mix64(seen[1] ^ _JOIN_SALT))
                self.start_cb(Token(tok.frame, x, tok.org, tok.nbytes, lineage))
            else:
                self.consume(tok.frame, tok.org)
        else:  # branch, map, fork
            self.start_cb(tok)

    def consume(self, frame: Frame, org: int) -> None:
        """A token of ``frame`` ends, its data last at cluster ``org``. Frames whose last
        token this was end too: a copy reports to its group, a finished group sends the map's
        continuation (from where its last copy ended), a finished root completes the request."""
        frame.org = org
        frame.live -= 1
        while frame.live == 0:
            if frame.kind == ROOT:
                req = frame.request
                req.done = self.env.now
                self.n_done += 1
                self.t_end = self.env.now
                return
            parent = frame.parent
            if frame.kind == GROUP:
                for fi in self.flows_of[frame.map_block]:
                    self.emit(parent, fi, frame.org, frame.lineage)
            parent.org = frame.org
            parent.live -= 1
            frame = parent

    # ---- control blocks on the CBU ---------------------------------------------------------

    def start_cb(self, tok: Token) -> None:
        """A CB job on the home cluster's CBU (serial server, one CB_DONE event per job)."""
        cl = self.clusters[tok.frame.request.home]
        cost = self.blk_cost[tok.block]
        end = max(self.env.now, cl.cbu_free) + cost
        cl.cbu_free = end
        cl.cbu_busy += cost
        self.at(end, EV_CB_DONE, tok)

    def on_cb_done(self, tok: Token) -> None:
        x, frame, org, lineage = tok.block, tok.frame, tok.org, tok.lineage
        req = frame.request
        self.n_cb_done += 1
        t = self.blk_type[x]
        if t == BRANCH:
            u = u01(self.seed, req.uid, lineage, S_BRANCH)
            probs = self.flow_prob[req.row]
            acc, chosen = 0.0, -1
            for fi in self.flows_of[x]:
                if probs[fi] > 0.0:
                    chosen = fi
                    acc += probs[fi]
                    if u < acc:
                        break
            self.emit(frame, chosen, org, lineage)
        elif t == MAP:
            code, p0, off, n_emp = self.count_law[req.row][x]
            n = int(sample_count(code, p0, self.emp, off, n_emp,
                                 u01(self.seed, req.uid, lineage, S_COUNT), MAX_MAP_COUNT))
            if n == 0:
                for fi in self.flows_of[x]:
                    self.emit(frame, fi, org, lineage)
            else:
                group = Frame(GROUP, frame, req, n)
                group.map_block = x
                group.org = org
                group.lineage = lineage
                frame.live += 1
                body = self.blk_body[x]
                for i in range(n):
                    copy = Frame(COPY, group, req, 1)
                    self.tokens.append(Token(copy, body, org, tok.nbytes,
                                             _U64(lin_next(lineage, COPY_SALT + i))))
        else:  # fork, join
            for fi in self.flows_of[x]:
                self.emit(frame, fi, org, lineage)
        self.consume(frame, org)
        self.flush()

    # ---- decisions -------------------------------------------------------------------------

    def drain_decisions(self) -> None:
        """Serve the decision FIFO in order: cluster decisions for new requests, TBU decisions
        for TB jobs (or their home cluster's backlog when no TBU there has queue space)."""
        dq = self.decisions
        while dq:
            job = dq.popleft()
            if isinstance(job, Request):
                self.start_request(job, self.choose_cluster())
                continue
            cl = self.clusters[job.request.home]
            if not cl.has_space():
                self.park(cl, job)
                continue
            self.enqueue(job, self.choose_tbu(cl))

    def choose_cluster(self) -> int:
        if self.policy == "round_robin":
            c = self.rr_cluster % len(self.clusters)
            self.rr_cluster = c + 1
            return c
        # least_loaded: fewest queued + backlogged TB jobs, lowest id on ties
        best, best_load = 0, None
        for cl in self.clusters:
            load = cl.queued + len(cl.backlog)
            if best_load is None or load < best_load:
                best, best_load = cl.id, load
        return best

    def choose_tbu(self, cl: Cluster) -> TBU:
        if self.policy == "round_robin":
            return cl.round_robin_tbu()
        return cl.least_loaded_tbu()

    def park(self, cl: Cluster, job: TBInstance) -> None:
        """No TBU of the cluster has queue space: the job waits in its backlog."""
        if not cl.backlog:
            cl.close_idle(self.env.now)  # its idle TBUs turn from starved to blocked
        cl.backlog.append(job)
        self.n_backlogged += 1

    def release_backlog(self, cl: Cluster) -> None:
        """Queue space freed in ``cl``: as many backlog jobs as it has free slots go, in order,
        to the *front* of the decision FIFO (ahead of newer work)."""
        k = min(len(cl.backlog), cl.free_slots)
        if k == 0:
            return
        if k == len(cl.backlog):
            cl.close_idle(self.env.now)  # the backlog empties: idle TBUs turn starved
        released = [cl.backlog.popleft() for _ in range(k)]
        self.decisions.extendleft(reversed(released))

    # ---- TBUs --------------------------------------------------------------------------------

    def transfer(self, src: int, dst: int, nbytes: int) -> int:
        """Cycles to move ``nbytes`` between clusters (docs/model.md §3; no contention)."""
        hw = self.hw
        if src == dst:
            bw = hw.local_bytes_per_cycle
            return 0 if bw <= 0 else -(-nbytes // bw)
        return self.latency[src][dst] + -(-nbytes // hw.link_bytes_per_cycle)

    def enqueue(self, job: TBInstance, tbu: TBU) -> None:
        """Job joins the tail of ``tbu``'s queue; its input data starts moving now."""
        c = tbu.cluster
        job.tbu = tbu
        job.data_ready = self.env.now + self.transfer(job.org, c.id, job.nbytes)
        self.byte_hops += job.nbytes * self.hops[job.org][c.id]
        tbu.queue.append(job)
        c.queued += 1
        c.free_slots -= 1
        if not tbu.running:
            self.start_next(tbu)

    def start_next(self, tbu: TBU) -> None:
        """An idle TBU starts its queue head: reconfigure if needed, wait for the input data,
        run. The whole span is known now, so it is accounted now."""
        now = self.env.now
        tbu.close_idle(now)
        job = tbu.queue[0]
        cfg = self.blk_cfg[job.block]
        r = 0
        if tbu.config != cfg:
            r = self.hw.reconfig_cycles
            tbu.config = cfg
            self.n_reconf += 1
        s0 = now + r
        begin = max(s0, job.data_ready)
        end = begin + job.duration
        tbu.reconfiguring += r
        tbu.waiting += begin - s0
        tbu.busy += job.duration
        tbu.running = True
        self.at(end, EV_TB_DONE, job)
        self.schedule.append((job.request.uid, job.block, tbu.id, job.ready, begin, end))

    def on_tb_done(self, job: TBInstance) -> None:
        tbu = job.tbu
        cl = tbu.cluster
        tbu.queue.popleft()
        cl.queued -= 1
        cl.free_slots += 1
        tbu.running = False
        tbu.runs += 1
        tbu.idle_since = self.env.now
        self.n_tb_done += 1
        for fi in self.flows_of[job.block]:
            self.emit(job.frame, fi, cl.id, job.lineage)  # its output lies at this cluster
        self.consume(job.frame, cl.id)
        self.flush()
        self.release_backlog(cl)
        if tbu.queue:
            self.start_next(tbu)

    # ---- metrics ---------------------------------------------------------------------------

    def result(self) -> SimResult:
        """Metrics with the definitions of :func:`octogym.metrics.collect`."""
        done = self.completion >= 0
        lat = (self.completion[done] - self.arrival[done]).astype(np.float64)
        end = self.t_end if self.n_done >= self.n_requests else self.env.now
        split: dict[str, np.ndarray] = {k: np.zeros(len(self.tbus), np.int64) for k in
                                        ("busy", "starved", "waiting_data", "reconfiguring",
                                         "blocked")}
        for u in self.tbus:
            starved, blocked = u.starved, u.blocked
            if not u.running:  # close the open idle segment at the end
                if u.cluster.backlog:
                    blocked += end - u.idle_since
                else:
                    starved += end - u.idle_since
            split["busy"][u.id] = u.busy
            split["starved"][u.id] = starved
            split["waiting_data"][u.id] = u.waiting
            split["reconfiguring"][u.id] = u.reconfiguring
            split["blocked"][u.id] = blocked
        counters = dict(reconfigurations=self.n_reconf, noc_byte_hops=self.byte_hops,
                        tb_executions=self.n_tb_done, cb_executions=self.n_cb_done,
                        events=self.n_events, invalid_actions=0, migrations=0, steals=0)
        return make_result(lat, end, split, counters, self.hw.clock_ghz)
