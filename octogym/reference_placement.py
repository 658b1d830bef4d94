"""Where the reference simulator's TB jobs go (:mod:`octogym.reference`): ``static``'s
placement, cluster backlogs, transfers (with NoC link contention) and output-buffer
places (docs/model.md §3 "Link contention", §4 "Output buffers").

:class:`Placement` is a mixin of :class:`octogym.reference.ReferenceSimulation`; its methods use
that class's state: ``env``, ``hw``, ``policy``, ``clusters``, ``tbus``, ``blk_cfg``, ``near``,
``latency``, ``decisions``, ``reach``, ``n_backlogged``, ``link_free``, ``link_wait``,
``n_link_waits``, and its ``enqueue`` / ``start_next`` / ``decision_done``.
"""

from __future__ import annotations

import math

from octogym.reference_model import TBU, Cluster, TBInstance

__all__ = ["Placement"]


class Placement:
    """``static``'s placement, backlogs, transfers and output-buffer places (a mixin)."""

    def place_static(self, job: TBInstance) -> None:
        """(``policies.static_tbu``) ``static``: among the TBUs holding the job's configuration
        in the ``reach`` nearest clusters holding it (home first), the one with queue space and
        the earliest estimated finish (nearest cluster, then lowest id, on ties); if they are
        all full, the job waits in the nearest holding cluster's backlog (home's if no TBU
        holds its configuration)."""
        cfg = self.blk_cfg[job.block]
        home = self.clusters[job.request.home]
        first, best, best_f, seen = None, None, math.inf, 0
        for d in self.near[home.id]:
            cl = self.clusters[d]
            holders = [u for u in cl.tbus if u.config == cfg]
            if not holders:
                continue
            for u in holders:
                if len(u.queue) < cl.qcap:
                    f = self.finish_at(job, u)
                    if f < best_f:
                        best, best_f = u, f
            first = first or cl
            seen += 1
            if seen >= self.reach:
                break
        if best is not None:
            # a choice of the static scope, on the home cluster's CBU (as the kernel)
            self.enqueue(job, best, self.decision_done(home, self.entities(self.tbu_scope)))
        else:
            self.park(first or home, job)

    def park(self, cl: Cluster, job: TBInstance) -> None:
        """No TBU of the cluster has queue space (or, under ``static``, none holding the
        job's configuration): the job waits in its backlog. Parked where no queue place is
        free, it has been received by the cluster: its producer's output-buffer place frees
        (docs/model.md §4, "Output buffers")."""
        if not cl.backlog:
            cl.close_idle(self.env.now)  # its idle TBUs turn from starved to blocked
        cl.backlog.append(job)
        self.n_backlogged += 1
        if job.src >= 0 and not cl.has_space():
            src, job.src = job.src, -1
            self.ob_release(self.tbus[src])

    def release_backlog(self, cl: Cluster, everything: bool = False) -> None:
        """Queue space freed in ``cl``: as many backlog jobs as it has free slots (or all of
        them) go, in order, to the *front* of the decision FIFO (ahead of newer work)."""
        k = min(len(cl.backlog), cl.free_slots)
        if everything or self.policy == "static":  # static may defer: it sees every parked job
            k = len(cl.backlog)
        if k == 0:
            return
        if k == len(cl.backlog):
            cl.close_idle(self.env.now)  # the backlog empties: idle TBUs turn starved
        released = [cl.backlog.popleft() for _ in range(k)]
        self.decisions.extendleft(reversed(released))

    def transfer(self, src: int, dst: int, nbytes: int) -> int:
        """Cycles to move ``nbytes`` between clusters, without contention (docs/model.md
        §3)."""
        hw = self.hw
        if src == dst:
            bw = hw.local_bytes_per_cycle
            return 0 if bw <= 0 else -(-nbytes // bw)
        return self.latency[src][dst] + -(-nbytes // hw.link_bytes_per_cycle)

    def transfer_reserve(self, src: int, dst: int, nbytes: int, t0: int) -> int:
        """``noc_contention``: the transfer, issued at ``t0`` (when its decision completes),
        holds every directed link of its XY route for ``ceil(nbytes / link_bytes_per_cycle)``
        cycles from when the last of them is free (at the earliest ``t0``); its wait adds to
        its cost (docs/model.md §3, "Link contention")."""
        base = self.transfer(src, dst, nbytes)
        ser = -(-nbytes // self.hw.link_bytes_per_cycle)
        if src == dst or ser == 0:
            return base
        now = t0
        route = self.hw.route_links(src, dst)
        start = max([now] + [self.link_free[k] for k in route])
        for k in route:
            self.link_free[k] = start + ser
        if start > now:
            self.link_wait += start - now
            self.n_link_waits += 1
        return base + start - now

    def ob_release(self, tbu: TBU) -> None:
        """One output of ``tbu``'s buffer was received (or dropped): its place frees; if that
        unblocks it, it starts its queue head now (docs/model.md §4, "Output buffers")."""
        tbu.out -= 1
        if not tbu.running and tbu.queue and not tbu.out_blocked():
            self.start_next(tbu)
