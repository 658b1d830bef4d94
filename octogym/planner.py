"""The rollout planner: a scheduler stronger than its base heuristic, by simulation.

At a decision of member ``b`` (a TB's TBU, a request's home cluster, a Place or Provision
decision, or which waiting TB a freed TBU runs next) the planner

1. lists candidate actions: the base scheduler's own choice (``POLICY_ACTION``: the kernel
   resolves the decision exactly as the base would; at the dispatch level the run's dispatch
   rule, ``Simulation(dispatch=...)``) and every valid action (``k = 0``), or the ``k - 1``
   least-loaded ones (fewest queued jobs; for clusters queued plus backlogged; at the dispatch
   level the first candidates in the kernel's order: the TBU's queue from its head, then the
   cluster's backlog, oldest first);
2. clones ``b`` into ``R`` scratch rows per candidate (:mod:`octogym.kernel.fork`); with
   ``resample=1`` replica ``r`` of every candidate gets the same fresh seed, so the rollouts
   draw a future the run has not drawn yet (arrivals, durations of TBs not yet created, branch
   outcomes, map counts) and candidates are compared on common random numbers; with
   ``resample=2`` the durations of TBs already created but not started are redrawn too (from
   the replica's seed), so the planner knows of them only their means, as an observation
   does; with ``resample=0`` they keep the run's own draws (an oracle that knows the future);
3. applies each candidate and runs every scratch row under the base scheduler for ``H`` mean
   TB durations, all rows of all deciding members in one compiled call
   (:func:`octogym.kernel.fork.run_rows`);
4. takes the candidate with the lowest mean cost, the time-integral of the requests in the
   system up to the horizon (the envs' ``latency`` reward), the base's choice on ties; with
   ``R >= 2`` only when its paired saving over the base exceeds ``z`` standard errors.

What a rollout knows that a real scheduler would not: with ``resample=1`` the durations of TBs
already created (drawn at creation and stored in the job); with ``resample=1`` or ``2`` the
time of the next arrival (already in the event heap) and the end of every running TB (which
the observations show too: a TBU's ``remaining`` cycles). Names:
``rollout:<base>[:level=..,k=..,R=..,H=..,resample=..]`` (registry:
:data:`octogym.schedulers.PLANNERS`). ``Simulation(policy="rollout:adaptive").run()`` plays
whole runs (:func:`run_planned`); ``octogym.agents.make_agent("rollout:adaptive")`` answers an
env's decisions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from octogym.kernel import fields as L
from octogym.kernel.build import cache_aligned_zeros
from octogym.kernel.dispatch import dispatch_count
from octogym.kernel.fork import clone_rows, match_pools, redraw_waiting_durations, run_rows
from octogym.kernel.layout import (
    DEC_CLUSTER,
    DEC_DISPATCH,
    DEC_PLACE,
    DEC_PROVISION,
    DEC_TBU,
    EXT_CLUSTER,
    EXT_DISPATCH,
    EXT_PLACE,
    EXT_PROVISION,
    EXT_TBU,
    ST_DECISION,
    ST_GROW,
    ST_STALLED,
    TBU_IDLE,
    State,
)
from octogym.kernel.loop import NO_ACTION, POLICY_ACTION
from octogym.kernel.provision import keep_action
from octogym.schedulers import SCHEDULERS, parse_planner

if TYPE_CHECKING:
    from octogym.metrics import SimResult
    from octogym.simulator import Simulation

LEVELS = {"tbu": EXT_TBU, "cluster": EXT_CLUSTER, "both": EXT_TBU | EXT_CLUSTER,
          "place": EXT_PLACE, "provision": EXT_PROVISION, "dispatch": EXT_DISPATCH}


@dataclass(frozen=True)
class RolloutConfig:
    """A parsed ``rollout:<base>[:key=value,...]`` spec (defaults and reasons in the registry)."""

    base: str
    level: str
    k: int
    R: int
    H: float
    resample: int
    z: float

    @classmethod
    def parse(cls, spec: str) -> RolloutConfig:
        _, base, p = parse_planner(spec)
        cfg = cls(base=base, level=str(p["level"]), k=int(p["k"]), R=int(p["R"]),
                  H=float(p["H"]), resample=int(p["resample"]), z=float(p["z"]))
        if cfg.level not in LEVELS:
            raise ValueError(f"{spec!r}: level must be one of {sorted(LEVELS)}, got {cfg.level!r}")
        if cfg.k < 0:
            raise ValueError(f"{spec!r}: k must be 0 (every valid action) or >= 1 (k = 1: the "
                             f"base's choice alone, i.e. the base itself), got {cfg.k}")
        if cfg.R < 1 or not cfg.H > 0:
            raise ValueError(f"{spec!r}: R must be >= 1 and H > 0, got R={cfg.R}, H={cfg.H}")
        if cfg.resample not in (0, 1, 2) or (cfg.resample == 0 and cfg.R > 1):
            raise ValueError(f"{spec!r}: resample must be 0, 1 or 2, and R = 1 when it is 0 "
                             "(forks that keep the run's draws are all alike)")
        return cfg

    @property
    def name(self) -> str:
        return (f"rollout:{self.base}:level={self.level},k={self.k},R={self.R},H={self.H:g},"
                f"resample={self.resample},z={self.z:g}")


_G = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class RolloutPlanner:
    """Answers the pending decisions of members of ``sim`` (see the module docstring). The
    rollouts run under scheduler ``cfg.base`` on ``sim``'s model; ``sim.state`` may be
    replaced by a grown copy (pools grow to match the scratch batch; results unchanged)."""

    def __init__(self, sim: Simulation, cfg: RolloutConfig) -> None:
        from octogym.envs.core import mix_scales

        self.sim = sim
        self.cfg = cfg
        self.pol = SCHEDULERS[cfg.base].code
        self.horizon = max(1, int(round(cfg.H * mix_scales(sim)[0])))
        self.scratch: Simulation | None = None
        self.decisions = 0  # decisions answered
        self.rollouts = 0  # scratch rows simulated

    def _scratch(self, n: int) -> Simulation:
        sim, sc = self.sim, self.scratch
        if sc is None or sc.batch < n:
            sc = copy.copy(sim)
            sc.batch = max(n, 2 * self.scratch.batch if self.scratch is not None else n)
            sc.state = State(*[cache_aligned_zeros((sc.batch, *a.shape[1:]), a.dtype)
                               for a in sim.state])
            sc.seeds = []
            self.scratch = sc
        sim.state, sc.state = match_pools(sim.state, sc.state)
        return sc

    def candidates(self, b: int) -> list[int]:
        """Kernel actions to try at member ``b``'s pending decision, the base's first."""
        S, hw = self.sim.state, self.sim.hw
        kind = int(S.SC[b, L.SC_DEC_KIND])
        if kind == DEC_TBU:
            K = hw.tbus_per_cluster
            j = int(S.SC[b, L.SC_DEC_JOB])
            home = int(S.RQ[b, S.JB[b, j, L.JB_REQ], L.RQ_HOME])
            us = np.arange(home * K, (home + 1) * K)
            ql = S.TB[b, L.TB_QL, us]
            ok = ql < hw.queue_capacity
            acts, load = us[ok], ql[ok]
        elif kind == DEC_CLUSTER:
            acts = np.arange(hw.n_clusters)
            load = S.CL[b, L.CL_QUEUED] + S.CL[b, L.CL_BL_LEN]
        elif kind == DEC_PLACE:  # any TBU with space, or a wait where a TBU is busy
            Q, T = hw.queue_capacity, hw.n_tbus
            ql = S.TB[b, L.TB_QL]
            us = np.flatnonzero(ql < Q)
            busy = (S.TB[b, L.TB_STATE] != TBU_IDLE).reshape(hw.n_clusters, -1).any(axis=1)
            waits = T + np.flatnonzero(busy)
            acts = np.concatenate([us, waits])
            load = np.concatenate([ql[us], np.full(waits.size, Q)])  # waits rank last
        elif kind == DEC_PROVISION:
            acts, load = self._provision_candidates(b)
        elif kind == DEC_DISPATCH:  # candidate i of the freed TBU (octogym/kernel/dispatch.py)
            acts = np.arange(int(dispatch_count(self.sim.model, S, b,
                                                int(S.SC[b, L.SC_DEC_TBU]), self.pol)))
            load = acts
        else:
            raise RuntimeError(f"member {b}: no decision is pending")
        if self.cfg.k > 0:
            acts = acts[np.lexsort((acts, load))[: self.cfg.k - 1]]
        return [POLICY_ACTION, *acts.tolist()]

    def _provision_candidates(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Provision actions of member ``b``'s pending cluster (``octogym.kernel.provision``)
        with their rank: "keep" first (rank -inf: always a candidate), then per configuration
        the reconfiguration of one idle, empty TBU not holding it (the one whose configuration
        has the lowest demand average: the cheapest to give up), configurations ranked by
        their demand average in the cluster, highest first."""
        S, M = self.sim.state, self.sim.model
        K, ncfg = self.sim.hw.tbus_per_cluster, M.CFG.shape[1]
        c = int(S.SC[b, L.SC_PROV_CLUSTER]) - 1
        us = np.arange(c * K, (c + 1) * K)
        free = us[(S.TB[b, L.TB_STATE, us] == TBU_IDLE) & (S.TB[b, L.TB_QL, us] == 0)]
        dem = S.DEMAND_EMA[b, c]
        acts, load = [int(keep_action(M))], [-np.inf]
        for g in range(ncfg):
            held = S.TB[b, L.TB_CFG, free]
            cand = free[held != g]
            if cand.size:
                cur = np.where(held[held != g] >= 0, dem[np.maximum(held[held != g], 0)], -1.0)
                u = int(cand[np.argmin(cur)])
                acts.append((u - c * K) * ncfg + g)
                load.append(-float(dem[g]))
        return np.asarray(acts, np.int64), np.asarray(load)

    def choose(self, rows: np.ndarray) -> np.ndarray:
        """The kernel action (``POLICY_ACTION`` or a TBU / cluster id) for the pending
        decision of each member in ``rows``, all rollouts in one compiled call."""
        rows = np.asarray(rows, np.int64)
        sim, cfg = self.sim, self.cfg
        cands = [self.candidates(int(b)) for b in rows]
        out = np.full(rows.size, POLICY_ACTION, np.int64)
        many = np.array([len(c) > 1 for c in cands], np.bool_)  # one candidate: no rollout
        self.decisions += rows.size
        self.last_costs = []  # per planned member: (candidates, R) costs of the last call
        if not many.any():
            return out
        idx = np.flatnonzero(many)
        rows, cands = rows[idx], [cands[i] for i in idx]
        sizes = np.array([len(c) * cfg.R for c in cands])
        src = np.repeat(rows, sizes)
        acts = np.concatenate([np.repeat(np.asarray(c, np.int64), cfg.R) for c in cands])
        reps = np.concatenate([np.tile(np.arange(cfg.R), len(c)) for c in cands])
        n = src.size
        sc = self._scratch(n)
        dst = np.arange(n, dtype=np.int64)
        clone_rows(sim.state, src, sc.state, dst)
        S = sc.state
        until = S.SC[dst, L.SC_NOW] + self.horizon
        if cfg.resample:
            key = (S.SC[dst, L.SC_SEQ].astype(np.uint64) * _G) ^ (reps.astype(np.uint64) + 1)
            S.SEED[dst] = _mix(S.SEED[dst] ^ _mix(key))
            if cfg.resample == 2:
                redraw_waiting_durations(sc.model, S, dst)
        self._rollout(sc, dst, until, acts)
        SC = S.SC[dst]
        cost = (SC[:, L.SC_SUM_DONE] + (SC[:, L.SC_N_ARRIVED] - SC[:, L.SC_N_DONE]) * until
                - SC[:, L.SC_SUM_ARR]).astype(np.float64)
        start = 0
        for i, c in enumerate(cands):
            per = cost[start:start + sizes[i]].reshape(len(c), cfg.R)
            self.last_costs.append(per)
            out[idx[i]] = c[self._pick(per)]
            start += sizes[i]
        self.rollouts += n
        return out

    def _pick(self, per: np.ndarray) -> int:
        """Index of the chosen candidate from its ``(candidates, R)`` costs: the lowest mean,
        the base's (index 0) on ties; with ``R >= 2`` only if its paired saving over the
        base (same replica = same future) exceeds ``z`` standard errors, so that noise in
        the estimates alone does not pull the planner away from its base."""
        m = per.mean(axis=1)
        best = int(np.argmin(m))  # first minimum: the base's choice on ties
        if best == 0 or self.cfg.R < 2 or self.cfg.z <= 0:
            return best
        d = per[best] - per[0]
        se = d.std(ddof=1) / np.sqrt(self.cfg.R)
        return best if -d.mean() > self.cfg.z * se else 0

    def _rollout(self, sc: Simulation, rows: np.ndarray, until: np.ndarray,
                 acts: np.ndarray) -> None:
        while True:
            run_rows(sc.model, sc.state, self.pol, rows, until, acts)
            st = sc.state.SC[rows, L.SC_STATUS]
            grow = st == ST_GROW
            # an epoch's provisioning under way pauses whatever the ext mask (kernel/loop.py):
            # the rest of it is the base's, as in a run without the planner
            more = grow | (st == ST_DECISION)
            if not more.any():
                return
            if grow.any():
                mask = np.zeros(sc.batch, np.bool_)
                mask[rows[grow]] = True
                sc.grow(mask)
            acts = np.where(grow, NO_ACTION, POLICY_ACTION)[more].astype(np.int64)
            rows, until = rows[more], until[more]


def run_planned(sim: Simulation, cfg: RolloutConfig,
                until: int | None = None) -> list[SimResult]:
    """Run every member of ``sim`` (whose kernel policy is ``cfg.base``) to its end (or
    ``until``), the planner answering every decision at ``cfg.level``."""
    planner = RolloutPlanner(sim, cfg)
    ext = LEVELS[cfg.level]
    st = sim.advance(until, ext=ext)
    while (st == ST_DECISION).any():
        waiting = st == ST_DECISION
        rows = np.flatnonzero(waiting)
        acts = np.full(sim.batch, NO_ACTION, np.int64)
        acts[rows] = planner.choose(rows)
        st = sim.advance(until, actions=acts, active=waiting, ext=ext)
    if (st == ST_STALLED).any():
        raise RuntimeError(f"simulation stalled in members {np.flatnonzero(st == ST_STALLED)}")
    sim.planner_stats = {"decisions": planner.decisions, "rollouts": planner.rollouts}
    return [sim.result(b) for b in range(sim.batch)]
