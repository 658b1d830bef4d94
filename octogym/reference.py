"""A small, readable, object-based reference simulator of the octogym execution model.

This is the project's plain-Python statement of the semantics the compiled, batched kernel
(:mod:`octogym.kernel`) implements (docs/model.md §4), written with SimPy, the field's usual
discrete-event tool. It exists for two reasons:

* **differential tests**: on the same scenario and seed it must produce exactly the kernel's
  trajectory (same TB schedule, same completion times, same metrics; ``tests/test_reference.py``);
* **speed baseline**: ``benchmarks/`` compare the kernel's throughput against it.

It implements the kernel's built-in policies ``round_robin``, ``least_loaded``, ``static``
and ``eft`` (no epochs, no migration or stealing), an outside TBU choice (``tbu_choice``, as
the kernel's external TBU decisions), the hardware's contention mechanisms, NoC link
contention and bounded output buffers (docs/model.md §3 "Link contention", §4 "Output
buffers"), and the control plane's cost (§3 "Control plane"): a decision takes cycles on a
serial server, the home cluster's CBU (a TBU choice among that cluster's TBUs; it queues with
the CB jobs) or the central scheduler (``eft``'s machine-wide TBU choice, every cluster
assignment). A request starts when its cluster decision completes; a TB job's data moves once
its TBU decision completes.

Same draws
    Random quantities are counter-based (:mod:`octogym.rng`): arrival gaps are a function of
    ``(seed, request index)``; the workflow of a request of ``(seed, request index)``; a TB's
    duration, a branch's outcome and a map's fan-out of ``(seed, request id, token lineage)``.
    This module calls the very same functions, so it sees the kernel's draws without sharing
    any state with it.

Where TB jobs go (policies' choices, backlogs, transfers, output-buffer places) is the
mixin :class:`octogym.reference_placement.Placement`.

The model, in objects (defined in :mod:`octogym.reference_model`)
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

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import simpy

from octogym import rng
from octogym.hardware import HardwareConfig, get_hardware
from octogym.kernel.build import initial_configs, mix_work, nearest_clusters, seeds_for
from octogym.kernel.layout import (
    ARRIVAL_MODES,
    EV_ARRIVAL,
    EV_CB_DONE,
    EV_REQUEST_START,
    EV_TB_DONE,
)
from octogym.kernel.loop import COPY_SALT, JOIN_SALT, ROOT_LIN
from octogym.kernel.policies import (
    DECISION_SCOPES,
    KERNEL_POLICIES,
    PARAM_REACH,
    SCOPE_CLUSTER,
    SCOPE_MACHINE,
)
from octogym.layouts import best_layout, trace_share
from octogym.metrics import SimResult, make_result
from octogym.reference_decisions import ReferenceDecisions
from octogym.reference_draws import ReferenceDraws
from octogym.reference_model import (
    COPY,
    GROUP,
    ROOT,
    TBU,
    Cluster,
    Frame,
    KernelEvent,
    Request,
    TBInstance,
    Token,
)
from octogym.reference_placement import Placement
from octogym.schedulers import get_scheduler, param_vector
from octogym.workflows.compiled import BRANCH, JOIN, MAP, TASK, CompiledMix, compile_mix

__all__ = ["REFERENCE_POLICIES", "Cluster", "Frame", "KernelEvent", "ReferenceSimulation",
           "Request", "TBInstance", "TBU", "Token"]

REFERENCE_POLICIES = ("round_robin", "least_loaded", "static", "eft")

# Lineages and seeds are uint64 (as in the kernel), so they go to the numba draws as np.uint64.
_U64 = np.uint64
_ROOT_LIN, _JOIN_SALT = _U64(ROOT_LIN), _U64(JOIN_SALT)


# ---- the simulator -------------------------------------------------------------------------


class ReferenceSimulation(ReferenceDraws, Placement, ReferenceDecisions):
    """One run of a scenario, with the arguments of :class:`octogym.simulator.Simulation`.

    ``seed`` and ``member_offset`` select the same member seed as a kernel ``Simulation`` member
    ``member_offset``. ``tbu_choice(uid, block, queue_lengths) -> tbu`` (optional) replaces
    the policy's TBU decisions, as an outside agent's ``EXT_TBU`` actions replace the kernel's:
    it must name a TBU with queue space, anywhere on the machine (so transfers cross the
    NoC). After :meth:`run`: ``schedule`` (one ``(uid, block, tbu, ready, start,
    end)`` per TB execution, in the order they were started, like the kernel's trace),
    ``arrival``, ``completion``, ``home``, ``workflow`` (per request id, ``-1`` if none), and
    counters ``n_events``, ``n_tb_done``, ``n_cb_done``, ``n_reconf``, ``byte_hops``,
    ``n_backlogged`` (TB jobs parked in a cluster backlog, re-parks counted), and
    ``contention`` (the counters of :func:`octogym.metrics.contention_metrics`) and
    :meth:`control_plane` (the decisions' cost).

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
        tbu_init: str | np.ndarray | None = None,
        policy_params: dict[str, float] | None = None,
        tbu_choice: Callable[[int, int, list[int]], int] | None = None,
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
        if tbu_init is None:  # the scheduler's own start, as in Simulation
            tbu_init = get_scheduler(policy).tbu_init
        if isinstance(tbu_init, str) and tbu_init == "best":
            _, tbu_init = best_layout(self.hw, trace_share(
                self.mix, self.n_requests, self.rate if arrival == "poisson" else None))
        self.tbu_cfg = initial_configs(self.hw, self.share, tbu_init)
        self.reach = max(int(param_vector(policy, policy_params)[PARAM_REACH]), 1)
        # what this policy's cluster and TBU decisions scan (one table: the kernel's)
        self.cluster_scope, self.tbu_scope = DECISION_SCOPES[KERNEL_POLICIES[policy]]
        self.seed = _U64(seeds_for(seed, member_offset + 1)[member_offset])
        self.tbu_choice = tbu_choice
        self._compile_tables()

    def _compile_tables(self) -> None:
        """Plain-Python views of the compiled mix and hardware (fast scalar access)."""
        m, hw = self.mix, self.hw
        self.blk_type = m.blk_type.tolist()
        self.blk_cfg = m.blk_cfg.tolist()
        self.blk_cost = m.blk_cost.tolist()
        self.blk_body = m.blk_body.tolist()
        self.blk_indeg = m.blk_indeg.tolist()
        self.dur_mean = m.dur_mean.tolist()
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
        self.near = nearest_clusters(hw).tolist()  # static: clusters by distance
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
            tbu = TBU(u, cl, cfg, hw.output_buffer)
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
        self.cs_free = 0  # the central scheduler is a serial server: free from this cycle
        self.dec = dict.fromkeys(("decisions_central", "decisions_cbu", "cycles_central",
                                  "cycles_cbu", "wait_central", "wait_cbu"), 0)
        self.link_free = [0] * (4 * hw.n_clusters)  # noc_contention: when each link is free
        self.link_wait = self.n_link_waits = 0
        self._handlers = {EV_TB_DONE: self.on_tb_done, EV_CB_DONE: self.on_cb_done,
                          EV_ARRIVAL: self.on_arrival, EV_REQUEST_START: self.on_request_start}
        self.at(self.next_arrival_time(0), EV_ARRIVAL, 0)

    def at(self, time: int, kind: int, payload: Any) -> None:
        """Schedule an event of ``kind`` at ``time``."""
        KernelEvent(self.env, time, kind, payload, self._process)

    def _process(self, event: KernelEvent) -> None:
        """SimPy callback: handle one event, then drain the decision FIFO."""
        self.n_events += 1
        self._handlers[event.kind](event.value)
        self.drain_decisions()

    def on_arrival(self, n: int) -> None:
        """Request ``n`` arrives: schedule the next arrival, draw its workflow, pick its drift
        phase row, and queue its cluster decision."""
        now = self.env.now
        if n + 1 < self.n_requests:
            self.at(max(self.next_arrival_time(n + 1), now), EV_ARRIVAL, n + 1)
        w, row = self.workflow_and_phase(n, now)
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

    def emit(self, frame: Frame, flow: int, org: int, lineage: np.uint64, src: int = -1) -> None:
        """A token leaves along ``flow`` (a CSR flow id) inside ``frame``; its data is in TBU
        ``src``'s output buffer (-1: none)."""
        frame.live += 1
        self.tokens.append(Token(frame, self.flow_dst[flow], org, self.flow_bytes[flow],
                                 _U64(rng.lin_next(lineage, flow)), src))

    def deliver(self, tok: Token) -> None:
        """A token arrives at its block."""
        x = tok.block
        t = self.blk_type[x]
        if t == TASK:
            uid = tok.frame.request.uid
            dur = self.task_duration(uid, x, tok.lineage)
            self.n_tb_created += 1
            self.decisions.append(TBInstance(tok, self.env.now, dur))
        elif t == JOIN:
            seen = tok.frame.joins.setdefault(x, [0, _U64(0)])
            seen[0] += 1
            seen[1] ^= tok.lineage
            if seen[0] == self.blk_indeg[x]:
                del tok.frame.joins[x]
                lineage = _U64(rng.mix64(seen[1] ^ _JOIN_SALT))
                self.start_cb(Token(tok.frame, x, tok.org, tok.nbytes, lineage, tok.src))
            else:
                if tok.src >= 0:  # a join keeps only its last token's output-buffer place
                    self.ob_release(self.tbus[tok.src])
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
        x, frame, org, lineage, src = tok.block, tok.frame, tok.org, tok.lineage, tok.src
        req = frame.request
        self.n_cb_done += 1
        t = self.blk_type[x]
        if t == BRANCH:
            self.emit(frame, self.branch_flow(req.uid, req.row, x, lineage), org, lineage, src)
            n_out = 1
        elif t == MAP:
            n = self.map_count(req.uid, req.row, x, lineage)
            if n == 0:
                for fi in self.flows_of[x]:
                    self.emit(frame, fi, org, lineage, src)
                n_out = len(self.flows_of[x])
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
                                             _U64(rng.lin_next(lineage, COPY_SALT + i)), src))
                n_out = n
        else:  # fork, join
            for fi in self.flows_of[x]:
                self.emit(frame, fi, org, lineage, src)
            n_out = len(self.flows_of[x])
        if src >= 0:  # each token sent on takes a place of src's output buffer
            if n_out > 0:
                self.tbus[src].out += n_out - 1
            else:
                self.ob_release(self.tbus[src])
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
                home = self.choose_cluster()
                done = self.decision_done(None, self.entities(self.cluster_scope))
                if done == self.env.now:
                    self.start_request(job, home)
                else:  # the request starts when the central scheduler has decided
                    job.home = home
                    self.clusters[home].pending += 1
                    self.at(done, EV_REQUEST_START, job)
                continue
            if self.policy == "static":
                self.place_static(job)
                continue
            cl = self.clusters[job.request.home]
            if self.tbu_scope == SCOPE_MACHINE:
                tbu = self.eft_tbu(job)
                if tbu is None:  # no TBU of the machine has queue space
                    self.park(cl, job)
                    continue
                self.enqueue(job, tbu, self.decision_done(None, self.entities(SCOPE_MACHINE)))
                continue
            if not cl.has_space():
                self.park(cl, job)
                continue
            if self.tbu_choice is not None:  # an outside rule, as the kernel's EXT_TBU action
                u = self.tbu_choice(job.request.uid, job.block, [len(t.queue) for t in self.tbus])
                # it is charged as a choice among the home cluster's K TBUs, on its CBU
                decided = self.decision_done(cl, self.entities(SCOPE_CLUSTER))
                self.enqueue(job, self.tbus[u], decided)
                continue
            tbu = self.choose_tbu(cl)
            self.enqueue(job, tbu, self.decision_done(cl, self.entities(self.tbu_scope)))

    def on_request_start(self, req: Request) -> None:
        """The central scheduler finished the request's cluster decision."""
        self.clusters[req.home].pending -= 1
        self.start_request(req, req.home)

    # ---- TBUs --------------------------------------------------------------------------------

    def enqueue(self, job: TBInstance, tbu: TBU, decided: int) -> None:
        """Job joins the tail of ``tbu``'s queue; its input data starts moving when the decision
        that placed it completes (``decided``), which frees its producer's output-buffer
        place."""
        c = tbu.cluster
        now = self.env.now
        job.tbu = tbu
        if self.hw.noc_contention:
            job.data_ready = decided + self.transfer_reserve(job.org, c.id, job.nbytes, decided)
        else:
            job.data_ready = decided + self.transfer(job.org, c.id, job.nbytes)
        self.byte_hops += job.nbytes * self.hops[job.org][c.id]
        if tbu.obuf > 0:
            tbu.close_idle(now)  # before its queue fills: the segment so far was not blocked
        tbu.queue.append(job)
        tbu.expected_work += self.dur_mean[job.block]
        c.queued += 1
        c.free_slots -= 1
        if not tbu.running and not tbu.out_blocked():
            self.start_next(tbu)
        if tbu.obuf > 0 and job.src >= 0:
            src, job.src = job.src, -1
            self.ob_release(self.tbus[src])

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
        tbu.expected_work -= self.dur_mean[job.block]
        if not tbu.queue:
            tbu.expected_work = 0.0  # as the kernel: clear round-off
        cl.queued -= 1
        cl.free_slots += 1
        tbu.running = False
        tbu.runs += 1
        tbu.idle_since = self.env.now
        self.n_tb_done += 1
        src = -1
        if tbu.obuf > 0:  # its output waits in its output buffer until received
            src = tbu.id
            tbu.out += len(self.flows_of[job.block])
        for fi in self.flows_of[job.block]:
            self.emit(job.frame, fi, cl.id, job.lineage, src)  # its output lies at this cluster
        self.consume(job.frame, cl.id)
        self.flush()
        self.release_backlog(cl)
        if self.tbu_scope == SCOPE_MACHINE and not cl.backlog:
            # eft parked work only when the whole machine was full: any freed slot re-offers
            # the first (by id) cluster's whole backlog (``mechanisms.bl_release_elsewhere``)
            other = next((o for o in self.clusters if o.backlog), None)
            if other is not None:
                self.release_backlog(other, everything=True)
        if not tbu.running and tbu.queue and not tbu.out_blocked():
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
                if u.cluster.backlog or (u.obuf > 0 and u.queue):
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
        oblocked = [u.oblocked + (end - u.idle_since if not u.running and u.obuf > 0
                                  and u.queue else 0) for u in self.tbus]
        # the counters of octogym.metrics.contention_metrics
        self.contention = dict(link_wait=self.link_wait, link_waits=self.n_link_waits,
                               output_blocked=sum(oblocked),
                               output_blocked_tbus=sum(1 for x in oblocked if x > 0))
        return make_result(lat, end, split, counters, self.hw.clock_ghz)
