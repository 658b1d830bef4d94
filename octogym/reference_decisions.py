"""The decisions of the reference simulator (:mod:`octogym.reference`): its policies' cluster
and TBU choices (``round_robin``, ``least_loaded``, ``static``'s cluster, ``eft``) and what a
decision costs on the control plane (docs/model.md §3 "Control plane"), as a mixin of
:class:`octogym.reference.ReferenceSimulation`, whose state (``hw``, ``env``, ``clusters``,
``tbus``, ``cs_free``, ``dec``, ...) it reads and writes. Each method restates, in plain
Python, the kernel function named in its docstring."""

from __future__ import annotations

import math

from octogym.control_plane import ControlPlaneStats
from octogym.kernel.policies import SCOPE_CLUSTER, SCOPE_CLUSTERS, SCOPE_MACHINE
from octogym.reference_model import TBU, Cluster, TBInstance

__all__ = ["ReferenceDecisions"]


class ReferenceDecisions:
    """Policy choices and decision costs of the reference simulator (a mixin)."""

    def entities(self, scope: int) -> int:
        """(``policies.scope_entities``) What a decision of ``scope`` scans: 0, K TBUs, C
        clusters or T TBUs."""
        hw = self.hw
        return {SCOPE_CLUSTER: hw.tbus_per_cluster, SCOPE_CLUSTERS: hw.n_clusters,
                SCOPE_MACHINE: hw.n_tbus}.get(scope, 0)

    def decision_done(self, cl: Cluster | None, n: int) -> int:
        """(``mechanisms.decision_done``) A decision scanning ``n`` entities on ``cl``'s CBU
        (behind its CB jobs and earlier decisions) or, for ``None``, on the central scheduler:
        when it completes. Free decisions complete now and are not counted."""
        now = self.env.now
        cost = self.hw.decision_base_cycles + self.hw.decision_cycles_per_entity * n
        if cost == 0:
            return now
        where = "central" if cl is None else "cbu"
        start = max(now, self.cs_free if cl is None else cl.cbu_free)
        if cl is None:
            self.cs_free = start + cost
        else:
            cl.cbu_free = start + cost
            cl.cbu_busy += cost
        self.dec[f"decisions_{where}"] += 1
        self.dec[f"cycles_{where}"] += cost
        self.dec[f"wait_{where}"] += start - now
        return start + cost

    def finish_at(self, job: TBInstance, u: TBU) -> float:
        """(``policies.finish_at``) Estimated finish of ``job`` on ``u``: its data's arrival
        overlapped with the queued expected work and any reconfiguration, plus its mean
        duration, in the kernel's float order."""
        mean = self.dur_mean[job.block]
        tr = self.transfer(job.org, u.cluster.id, job.nbytes)
        w = u.expected_work
        last = self.blk_cfg[u.queue[-1].block] if u.queue else u.config
        if last != self.blk_cfg[job.block]:
            w += self.hw.reconfig_cycles
        q = (w + mean) - mean
        return (tr if tr > q else q) + mean

    def eft_tbu(self, job: TBInstance) -> TBU | None:
        """(``policies.eft_tbu`` over the machine) ``eft``: the TBU of the machine with queue
        space and the earliest estimated finish (lowest id on ties)."""
        best, best_f = None, math.inf
        for u in self.tbus:
            if len(u.queue) >= self.hw.queue_capacity:
                continue
            f = self.finish_at(job, u)
            if f < best_f:
                best, best_f = u, f
        return best

    def choose_cluster(self) -> int:
        """(``policies.decide_cluster``) The home cluster of a new request."""
        if self.policy in ("round_robin", "static"):
            c = self.rr_cluster % len(self.clusters)
            self.rr_cluster = c + 1
            return c
        # least_loaded: fewest queued + backlogged (+ pending) TB jobs, lowest id on ties
        best, best_load = 0, None
        for cl in self.clusters:
            load = cl.queued + len(cl.backlog) + cl.pending
            if best_load is None or load < best_load:
                best, best_load = cl.id, load
        return best

    def choose_tbu(self, cl: Cluster) -> TBU:
        """(``policies.decide_tbu``) A TBU with queue space of cluster ``cl``."""
        if self.policy == "round_robin":
            return cl.round_robin_tbu()
        return cl.least_loaded_tbu()

    def control_plane(self) -> ControlPlaneStats:
        """What the run's decisions cost (the kernel's ``control_plane_stats``)."""
        return ControlPlaneStats(**self.dec)
