"""The two decision kinds an agent can control. Everything the TBU and cluster environments do
differently is here: which kernel decision pauses the member, the action space, the mask, the
observation builder and how an action becomes a kernel action. The dynamics live in
:class:`octogym.envs.core.KernelBatch`.

Each decision has two observation builders that must agree exactly (a test checks it):

* ``observe_reference``: numpy gathers over all requested members at once, feature by feature
  by name: the readable definition of every feature;
* ``observe``: the same, compiled (numba), one flat loop writing straight into the batch's
  buffers. It is what runs: numpy's per-call overhead made the reference cost ~300 us per step
  for one env (the kernel's own step is ~25 us) and a third of the step at N = 1024.

Rows whose member has no pending decision (a terminal observation) get zeros in every feature
that describes the decision, and an all-ones mask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from octogym.envs.layout import CLUSTER_FEATURES, TBU_FEATURES, Feature
from octogym.hardware import HardwareConfig
from octogym.kernel import layout as L
from octogym.kernel.layout import DEC_CLUSTER, DEC_TBU, TBU_IDLE

if TYPE_CHECKING:
    from octogym.envs.core import KernelBatch


def squash(x: np.ndarray, s: float) -> np.ndarray:
    """``x / (x + s)``: [0, inf) -> [0, 1), 0.5 at ``x = s`` (see :mod:`octogym.envs.layout`)."""
    return x / (x + s)


class Decision:
    """One decision kind. Subclasses fill the class attributes and the three methods."""

    name: str
    kind: int  # kernel decision kind (DEC_TBU / DEC_CLUSTER)
    features: tuple[Feature, ...]
    # The heuristic for the level the agent does not control. DESIGN §7 names `proactive`
    # (TBU env) and `adaptive` (cluster env); until those exist in KERNEL_POLICIES both use
    # `least_loaded`. Change it here, once.
    default_controller: str = "least_loaded"
    ext: dict[str, bool]  # Simulation.advance flags that make the kernel pause here

    def n_actions(self, hw: HardwareConfig) -> int:
        raise NotImplementedError

    def observe(self, core: KernelBatch, rows: np.ndarray) -> None:
        """Write ``core.obs``, ``core.mask`` and ``core.home`` of members ``rows`` (compiled)."""
        raise NotImplementedError

    def observe_reference(self, core: KernelBatch, rows: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(obs (n, D) float32, mask (n, A) bool, home (n,) int64)`` for members ``rows``,
        with numpy: the definition ``observe`` must match."""
        raise NotImplementedError

    def kernel_action(self, core: KernelBatch, actions: np.ndarray) -> np.ndarray:
        """Kernel actions (global ids) from valid env actions, one per member."""
        raise NotImplementedError


def _assemble(core: KernelBatch, values: dict[str, np.ndarray], n: int) -> np.ndarray:
    obs = np.empty((n, core.obs_dim), np.float32)
    for name, sl in core.slices.items():
        v = values[name]
        obs[:, sl] = v[:, None] if v.ndim == 1 else v
    return obs


class TBUDecision(Decision):
    """One ready TB instance; action ``k`` = TBU ``k`` of its home cluster
    (global TBU ``home * K + k``). Valid: TBUs whose queue has space (at least one has: the
    kernel parks a TB in the backlog while its cluster is full)."""

    name = "TBUAssign"
    kind = DEC_TBU
    features = TBU_FEATURES
    ext = {"ext_tbu": True}

    def n_actions(self, hw: HardwareConfig) -> int:
        return hw.tbus_per_cluster

    def observe_reference(self, core, rows):
        S, M = core.sim.state, core.sim.model
        K, Q = core.K, core.Q
        SC = S.SC[rows]
        now = SC[:, L.SC_NOW]
        has = SC[:, L.SC_DEC_KIND] == self.kind
        j = np.where(has, SC[:, L.SC_DEC_JOB], 0)
        blk = np.where(has, S.JB[rows, L.JB_BLOCK, j], 0)
        req = np.where(has, S.JB[rows, L.JB_REQ, j], 0)
        home = np.where(has, S.RQ[rows, L.RQ_HOME, req], 0)
        uid = np.where(has, S.RQ[rows, L.RQ_UID, req], 0)
        org = S.JB[rows, L.JB_ORG, j]
        cfg = M.MB[L.MB_BLK_CFG, blk]
        hasf = has.astype(np.float64)

        tbus = home[:, None] * K + np.arange(K)
        r2 = rows[:, None]
        TB = S.TB
        ql = TB[r2, L.TB_QL, tbus]
        busy = TB[r2, L.TB_STATE, tbus] != TBU_IDLE
        last = S.TBQ[r2, tbus, (TB[r2, L.TB_QH, tbus] + ql - 1) % Q]
        tail_cfg = np.where(ql > 0, M.MB[L.MB_BLK_CFG, S.JB[r2, L.JB_BLOCK, last]],
                            TB[r2, L.TB_CFG, tbus])
        remaining = np.where(busy, np.maximum(TB[r2, L.TB_END, tbus] - now[:, None], 0), 0)
        mask = (ql < Q) | ~has[:, None]
        in_sys = SC[:, L.SC_NA] - SC[:, L.SC_ND]
        h2 = hasf[:, None]
        values = {
            "tb_expected_duration": squash(M.dur_mean[blk], core.tau) * hasf,
            "tb_waiting": squash(now - S.JB[rows, L.JB_T, j], core.tau) * hasf,
            "tb_remote_input": ((org != home) & has).astype(np.float64),
            "request_age": squash(now - S.RES[rows, L.RES_ARR, uid], core.work) * hasf,
            "home_backlog": squash(S.CL[rows, L.CL_BL_LEN, home], K) * hasf,
            "in_system": squash(in_sys, core.C * K),
            "progress": SC[:, L.SC_ND] / core.N,
            "tbu_free_slot": (ql < Q) * h2,
            "tbu_queue": ql / Q * h2,
            "tbu_queued_work": squash(S.TBF[r2, tbus], core.tau) * h2,
            "tbu_remaining": squash(remaining, core.tau) * h2,
            "tbu_config_match": (tail_cfg == cfg[:, None]) * h2,
        }
        return _assemble(core, values, len(rows)), mask, home

    def kernel_action(self, core, actions):
        return core.home * core.K + actions


class ClusterDecision(Decision):
    """One arriving request; action ``c`` = its home cluster (global cluster id). Every cluster
    is valid (a full cluster parks work in its backlog), so the mask is all ones."""

    name = "ClusterAssign"
    kind = DEC_CLUSTER
    features = CLUSTER_FEATURES
    ext = {"ext_cluster": True}

    def n_actions(self, hw: HardwareConfig) -> int:
        return hw.n_clusters

    def observe_reference(self, core, rows):
        S = core.sim.state
        K, C, Q = core.K, core.C, core.Q
        n = len(rows)
        SC = S.SC[rows]
        now = SC[:, L.SC_NOW]
        has = SC[:, L.SC_DEC_KIND] == self.kind
        j = np.where(has, SC[:, L.SC_DEC_JOB], 0)
        req = np.where(has, S.JB[rows, L.JB_REQ, j], 0)
        wf = np.where(has, S.RQ[rows, L.RQ_WF, req], 0)
        CL = S.CL
        clq = CL[rows, L.CL_Q]
        cbu = np.maximum(CL[rows, L.CL_CBU_FREE] - now[:, None], 0)
        work_c = S.TBF[rows].reshape(n, C, K).sum(axis=2)
        in_sys = SC[:, L.SC_NA] - SC[:, L.SC_ND]
        values = {
            "request_expected_work": squash(core.wf_work[wf], core.work) * has,
            "in_system": squash(in_sys, C * K),
            "progress": SC[:, L.SC_ND] / core.N,
            "system_queue": clq.sum(axis=1) / (core.T * Q),
            "cluster_queue": clq / (K * Q),
            "cluster_backlog": squash(CL[rows, L.CL_BL_LEN], K),
            "cluster_queued_work": squash(work_c, K * core.tau),
            "cluster_cbu_busy": squash(cbu, core.tau),
        }
        mask = np.ones((n, C), np.bool_)
        return _assemble(core, values, n), mask, np.zeros(n, np.int64)

    def kernel_action(self, core, actions):
        return actions


DECISIONS: dict[str, Decision] = {"TBUAssign": TBUDecision(), "ClusterAssign": ClusterDecision()}
