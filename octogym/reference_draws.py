"""The random draws of the reference simulator (:mod:`octogym.reference`): arrival times,
each request's workflow and drift phase, task durations, branch choices and map counts, all
counter-based (:mod:`octogym.rng`), so they are the kernel's draws for the same seed, request
and token lineage. A mixin of :class:`octogym.reference.ReferenceSimulation`, whose tables it
reads (``seed``, ``rate``, ``arrival_mode``, ``trace_t``, ``trace_w``, ``wf_cdf``,
``wf_phase_off``, ``phase_after_req``, ``phase_after_cyc``, ``duration_law``, ``flow_prob``,
``flows_of``, ``count_law``, ``emp``) and whose arrival clock ``arr_clock`` it advances.
``octogym.bounds`` walks the same lineages with these methods."""

from __future__ import annotations

import math

import numpy as np

from octogym import rng
from octogym.kernel.layout import MAX_MAP_COUNT

__all__ = ["ReferenceDraws"]


class ReferenceDraws:
    """Arrival times and per-request / per-token draws (a mixin)."""

    def next_arrival_time(self, n: int) -> int:
        """Arrival time of request ``n`` (Poisson: accumulated exponential gaps, floored)."""
        if self.arrival_mode == "poisson":
            u = rng.u01(self.seed, n, 0, rng.S_ARRIVAL)
            self.arr_clock += -math.log(1.0 - u) / self.rate
            return int(math.floor(self.arr_clock))
        if self.arrival_mode == "closed":
            return 0
        return self.trace_t[n]

    def workflow_and_phase(self, n: int, now: int) -> tuple[int, int]:
        """``(workflow, drift-phase row)`` of request ``n`` arriving at cycle ``now``: the
        trace's workflow or a draw from the mix, and the last phase of that workflow whose
        request or cycle threshold has been reached."""
        if self.trace_w is not None:
            w = self.trace_w[n]
        else:
            u = rng.u01(self.seed, n, 0, rng.S_WORKFLOW)
            w = 0
            while w < len(self.wf_cdf) - 1 and u >= self.wf_cdf[w]:
                w += 1
        row = self.wf_phase_off[w]
        for k in range(self.wf_phase_off[w] + 1, self.wf_phase_off[w + 1]):
            ar, ac = self.phase_after_req[k], self.phase_after_cyc[k]
            if (ar >= 0 and n >= ar) or (ac >= 0 and now >= ac):
                row = k
        return w, row

    def task_duration(self, uid: int, x: int, lineage: np.uint64) -> int:
        """Duration (cycles) of task block ``x`` reached by a token of ``lineage``."""
        code, p0, p1, p2, off, n = self.duration_law[x]
        u1 = rng.u01(self.seed, uid, lineage, rng.S_DURATION)
        u2 = rng.u01(self.seed, uid, lineage, rng.S_DURATION2)
        return int(rng.sample_duration(code, p0, p1, p2, self.emp, off, n, u1, u2))

    def branch_flow(self, uid: int, row: int, x: int, lineage: np.uint64) -> int:
        """The flow branch block ``x`` takes (phase row ``row``'s probabilities)."""
        u = rng.u01(self.seed, uid, lineage, rng.S_BRANCH)
        probs = self.flow_prob[row]
        acc, chosen = 0.0, -1
        for fi in self.flows_of[x]:
            if probs[fi] > 0.0:
                chosen = fi
                acc += probs[fi]
                if u < acc:
                    break
        return chosen

    def map_count(self, uid: int, row: int, x: int, lineage: np.uint64) -> int:
        """How many copies map block ``x`` starts (phase row ``row``'s count law)."""
        code, p0, off, n_emp = self.count_law[row][x]
        return int(rng.sample_count(code, p0, self.emp, off, n_emp,
                                    rng.u01(self.seed, uid, lineage, rng.S_COUNT),
                                    MAX_MAP_COUNT))
