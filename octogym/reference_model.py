"""The objects of the reference simulator's model (:mod:`octogym.reference`): a request, a
frame (one scope of a request), a token, a TB instance, a TBU, a cluster, and the SimPy event
that carries the kernel's event order. Plain slotted classes holding state; what happens to
them at each event is :class:`octogym.reference.ReferenceSimulation`'s job (the module
docstring there describes the model)."""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import simpy

__all__ = ["COPY", "GROUP", "ROOT", "TBU", "Cluster", "Frame", "KernelEvent", "Request",
           "TBInstance", "Token"]

ROOT, COPY, GROUP = "root", "copy", "group"  # frame kinds

_U64 = np.uint64


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
    A token held by a CBU is that CB's job. ``src``: the TBU whose output buffer holds its data
    (-1: none; output buffers only)."""

    __slots__ = ("frame", "block", "org", "nbytes", "lineage", "src")

    def __init__(self, frame: Frame, block: int, org: int, nbytes: int,
                 lineage: np.uint64, src: int = -1) -> None:
        self.frame = frame
        self.block = block
        self.org = org
        self.nbytes = nbytes
        self.lineage = lineage
        self.src = src


class TBInstance:
    """One execution of a task block (a TB job)."""

    __slots__ = ("request", "frame", "block", "lineage", "org", "nbytes", "ready", "duration",
                 "tbu", "data_ready", "src")

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
        self.src = token.src  # TBU whose output buffer holds its input until it is placed


class TBU:
    """One PEA: a configuration, a FIFO queue (the head job is the running one) and, with
    ``obuf`` > 0, an output buffer of ``obuf`` places (``out`` of them taken)."""

    __slots__ = ("id", "cluster", "config", "running", "queue", "idle_since", "runs", "busy",
                 "reconfiguring", "waiting", "starved", "blocked", "expected_work", "obuf", "out",
                 "oblocked")

    def __init__(self, tbu_id: int, cluster: Cluster, config: int, obuf: int = 0) -> None:
        self.id = tbu_id
        self.cluster = cluster
        self.config = config
        self.running = False
        self.queue: deque[TBInstance] = deque()
        self.idle_since = 0
        self.runs = 0
        # accounted cycles (docs/model.md: the idle split)
        self.busy = self.reconfiguring = self.waiting = self.starved = self.blocked = 0
        self.expected_work = 0.0  # sum of its queued jobs' mean durations (eft's estimate)
        self.obuf = obuf
        self.out = 0  # outputs in its buffer not yet received (a token sent to k counts k)
        self.oblocked = 0  # idle cycles behind a full output buffer (part of blocked)

    def out_blocked(self) -> bool:
        """Its full output buffer keeps it from starting its next TB."""
        return self.obuf > 0 and self.out >= self.obuf

    def close_idle(self, now: int) -> None:
        """Account the open idle segment up to ``now`` (blocked while it holds queued work it
        may not start, i.e. its output buffer is full, or while the cluster has a backlog;
        starved otherwise) and restart it at ``now``."""
        if not self.running:
            dt = now - self.idle_since
            if self.obuf > 0 and self.queue:
                self.blocked += dt
                self.oblocked += dt
            elif self.cluster.backlog:
                self.blocked += dt
            else:
                self.starved += dt
            self.idle_since = now


class Cluster:
    """TBUs, one CBU (serial: ``cbu_free`` is when it next is free) and a TB-job backlog."""

    __slots__ = ("id", "tbus", "cbu_free", "cbu_busy", "backlog", "queued", "free_slots",
                 "rr_next", "qcap", "pending")

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
        self.pending = 0  # requests assigned here that wait for their costly cluster decision

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
