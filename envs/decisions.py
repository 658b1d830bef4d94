"""The decision kinds an agent can control. Everything the TBU and cluster environments do
differently is here: which kernel decision pauses the member, the action space, the mask, the
observation builder. The dynamics, and how an action becomes a kernel action (a TBU action
``k`` is TBU ``home * K + k``; a cluster action is the cluster id), live in
:class:`octogym.envs.core.KernelBatch`.

Each decision has two observation builders that must agree exactly (a test checks it):

* ``observe_reference``: numpy gathers over all requested members at once, feature by feature
  by name: the readable definition of every feature;
* ``observe_member``: the same, compiled (numba), for one member, writing straight into the
  batch's buffers. It is what runs, inside the fused step (``octogym.envs.core``) right after
  the kernel has advanced that member, while its state is still in the cache: numpy's per-call
  overhead made the reference cost ~300 us per step for one env, and a separate pass over
  all members after the kernel cost a fifth of the step at N = 1024 (cache misses).

Rows whose member has no pending decision (a terminal observation) get zeros in every feature
that describes the decision, and an all-ones mask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

from octogym.envs.dispatch_obs import dispatch_observe_member
from octogym.envs.entities import EntityFocus, job_focus
from octogym.envs.layout import (
    CLUSTER_FEATURES,
    DISPATCH_FEATURES,
    PLACE_FEATURES,
    PROVISION_FEATURES,
    TBU_FEATURES,
    Feature,
    n_candidates,
)
from octogym.envs.place import place_observe_member, place_reference
from octogym.envs.provision import DOC_N_CONFIGS, provision_observe_member, provision_reference
from octogym.hardware import HardwareConfig
from octogym.kernel import fields as L
from octogym.kernel.layout import (
    DEC_CLUSTER,
    DEC_DISPATCH,
    DEC_PLACE,
    DEC_PROVISION,
    DEC_TBU,
    DISPATCH_BACKLOG,
    EXT_CLUSTER,
    EXT_DISPATCH,
    EXT_PLACE,
    EXT_PROVISION,
    EXT_TBU,
    TBU_IDLE,
)
from octogym.kernel.policies import policy_defers

if TYPE_CHECKING:
    from octogym.envs.core import KernelBatch
    from octogym.simulator import Simulation


def squash(x: np.ndarray, s: float) -> np.ndarray:
    """``x / (x + s)``: [0, inf) -> [0, 1), 0.5 at ``x = s`` (see :mod:`octogym.envs.layout`)."""
    return x / (x + s)


class Decision:
    """One decision kind. Subclasses fill the class attributes, ``n_actions`` and
    ``observe_reference``; the compiled builder behind ``observe`` dispatches on ``kind``."""

    name: str
    kind: int  # kernel decision kind (DEC_TBU / DEC_CLUSTER)
    features: tuple[Feature, ...]
    # The heuristic for the level the agent does not control (docs/envs.md): `proactive` for
    # the TBU env, `adaptive` for the cluster env. Defined here, once per decision kind.
    default_controller: str
    ext: int  # the EXT_* bit that makes the kernel pause here (Simulation.advance's ext)
    # obs_mode="entities" (octogym.envs.entities): the entity kinds whose rows, concatenated
    # in this order, are the actions 0 .. A-1 ("tbu": the home cluster's K TBUs come first)
    action_entities: tuple[str, ...]

    def entity_focus(self, core: KernelBatch, rows: np.ndarray, reference: bool = False
                     ) -> EntityFocus:
        """What the entity observation of members ``rows`` is about
        (:class:`~octogym.envs.entities.EntityFocus`; ``reference``: computed with numpy
        only, for ``observe_entities_reference``). The default: the kernel's pending job."""
        return job_focus(core, rows, self.kind)

    def n_actions(self, hw: HardwareConfig) -> int:
        raise NotImplementedError

    def batch_actions(self, sim: Simulation) -> int:
        """The action count for a batch's simulation (Provision also needs its mix)."""
        return self.n_actions(sim.hw)

    def sim_options(self, controller: str, options: dict[str, Any] | None) -> dict[str, Any]:
        """The ``Simulation`` keywords of a batch under ``controller``: the env's
        ``sim_options`` (Provision adds an epoch where the controller has none)."""
        return dict(options or {})

    def observe(self, core: KernelBatch, rows: np.ndarray) -> None:
        """Write ``core.obs``, ``core.mask`` and ``core.home`` of members ``rows`` (compiled;
        the fused step of :class:`~octogym.envs.core.KernelBatch` calls the same builder)."""
        sim = core.sim
        observe_rows(rows, sim.model, sim.state, core.consts, core.members)

    def observe_reference(self, core: KernelBatch, rows: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(obs (n, D) float32, mask (n, A) bool, home (n,) int64)`` for members ``rows``,
        with numpy: the definition ``observe`` must match."""
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
    default_controller = "proactive"
    ext = EXT_TBU
    action_entities = ("tbu",)

    def n_actions(self, hw: HardwareConfig) -> int:
        return hw.tbus_per_cluster

    def observe_reference(self, core, rows):
        S, M = core.sim.state, core.sim.model
        K, Q = core.K, core.Q
        SC = S.SC[rows]
        now = SC[:, L.SC_NOW]
        has = SC[:, L.SC_DEC_KIND] == self.kind
        j = np.where(has, SC[:, L.SC_DEC_JOB], 0)
        blk = np.where(has, S.JB[rows, j, L.JB_BLOCK], 0)
        req = np.where(has, S.JB[rows, j, L.JB_REQ], 0)
        home = np.where(has, S.RQ[rows, req, L.RQ_HOME], 0)
        uid = np.where(has, S.RQ[rows, req, L.RQ_UID], 0)
        org = S.JB[rows, j, L.JB_ORG]
        cfg = M.MB[L.MB_BLK_CFG, blk]
        hasf = has.astype(np.float64)

        tbus = home[:, None] * K + np.arange(K)
        r2 = rows[:, None]
        TB = S.TB
        ql = TB[r2, L.TB_QL, tbus]
        busy = TB[r2, L.TB_STATE, tbus] != TBU_IDLE
        last = S.TBQ[r2, tbus, (TB[r2, L.TB_QH, tbus] + ql - 1) % Q]
        tail_cfg = np.where(ql > 0, M.MB[L.MB_BLK_CFG, S.JB[r2, last, L.JB_BLOCK]],
                            TB[r2, L.TB_CFG, tbus])
        remaining = np.where(busy, np.maximum(TB[r2, L.TB_END, tbus] - now[:, None], 0), 0)
        mask = (ql < Q) | ~has[:, None]
        in_sys = SC[:, L.SC_N_ARRIVED] - SC[:, L.SC_N_DONE]
        h2 = hasf[:, None]
        values = {
            "tb_expected_duration": squash(M.dur_mean[blk], core.tau) * hasf,
            "tb_waiting": squash(now - S.JB[rows, j, L.JB_CREATED], core.tau) * hasf,
            "tb_remote_input": ((org != home) & has).astype(np.float64),
            "request_age": squash(now - S.RES[rows, uid, L.RES_ARR], core.work) * hasf,
            "home_backlog": squash(S.CL[rows, L.CL_BL_LEN, home], K) * hasf,
            "in_system": squash(in_sys, core.C * K),
            "progress": SC[:, L.SC_N_DONE] / core.N,
            "tbu_free_slot": (ql < Q) * h2,
            "tbu_queue": ql / Q * h2,
            "tbu_queued_work": squash(S.TBF[r2, tbus], core.tau) * h2,
            "tbu_remaining": squash(remaining, core.tau) * h2,
            "tbu_config_match": (tail_cfg == cfg[:, None]) * h2,
        }
        return _assemble(core, values, len(rows)), mask, home


class ClusterDecision(Decision):
    """One arriving request; action ``c`` = its home cluster (global cluster id). Every cluster
    is valid (a full cluster parks work in its backlog), so the mask is all ones."""

    name = "ClusterAssign"
    kind = DEC_CLUSTER
    features = CLUSTER_FEATURES
    default_controller = "adaptive"
    ext = EXT_CLUSTER
    action_entities = ("cluster",)

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
        req = np.where(has, S.JB[rows, j, L.JB_REQ], 0)
        wf = np.where(has, S.RQ[rows, req, L.RQ_WF], 0)
        CL = S.CL
        clq = CL[rows, L.CL_QUEUED]
        cbu = np.maximum(CL[rows, L.CL_CBU_FREE] - now[:, None], 0)
        work_c = S.TBF[rows].reshape(n, C, K).sum(axis=2)
        in_sys = SC[:, L.SC_N_ARRIVED] - SC[:, L.SC_N_DONE]
        values = {
            "request_expected_work": squash(core.wf_work[wf], core.work) * has,
            "in_system": squash(in_sys, C * K),
            "progress": SC[:, L.SC_N_DONE] / core.N,
            "system_queue": clq.sum(axis=1) / (core.T * Q),
            "cluster_queue": clq / (K * Q),
            "cluster_backlog": squash(CL[rows, L.CL_BL_LEN], K),
            "cluster_queued_work": squash(work_c, K * core.tau),
            "cluster_cbu_busy": squash(cbu, core.tau),
        }
        mask = np.ones((n, C), np.bool_)
        return _assemble(core, values, n), mask, np.zeros(n, np.int64)


class PlaceDecision(Decision):
    """One ready TB instance, offered wherever the kernel-only path asks ``decide_tbu`` (also
    when its home cluster is full); action ``u < T`` = TBU ``u`` of the machine, ``T + c`` =
    wait in cluster ``c``'s backlog (:mod:`octogym.envs.place`)."""

    name = "Place"
    kind = DEC_PLACE
    features = PLACE_FEATURES
    default_controller = "proactive"  # as TBUAssign: its cluster choice, provisioning, diffusion
    ext = EXT_PLACE
    action_entities = ("tbu", "cluster")  # T TBUs in machine order, then C clusters

    def entity_focus(self, core, rows, reference=False):
        return job_focus(core, rows, self.kind, machine_order=True)

    def n_actions(self, hw: HardwareConfig) -> int:
        return hw.n_tbus + hw.n_clusters

    def observe_reference(self, core, rows):
        values, mask, home = place_reference(core, rows)
        return _assemble(core, values, len(rows)), mask, home


class ProvisionDecision(Decision):
    """One cluster at an epoch: reconfigure one of its idle, empty TBUs to a configuration
    (``k * NCFG + g``), or keep the rest (``K * NCFG``) and go on to the next cluster
    (:mod:`octogym.envs.provision`, :mod:`octogym.kernel.provision`)."""

    name = "Provision"
    kind = DEC_PROVISION
    features = PROVISION_FEATURES
    # the paper's full scheduler keeps placing, stealing, choosing clusters and diffusing;
    # the agent replaces its provisioning
    default_controller = "octopus"
    ext = EXT_PROVISION
    action_entities = ("option",)

    def entity_focus(self, core, rows, reference=False):
        from octogym.envs.entities_provision import provision_focus
        return provision_focus(core, rows)

    def n_actions(self, hw: HardwareConfig, n_configs: int = DOC_N_CONFIGS) -> int:
        """``K * n_configs + 1`` (default ``n_configs``: the default mix's)."""
        return hw.tbus_per_cluster * n_configs + 1

    def batch_actions(self, sim: Simulation) -> int:
        return self.n_actions(sim.hw, int(sim.model.CFG.shape[1]))

    def sim_options(self, controller, options):
        from octogym.schedulers import DEFAULT_EPOCH, SCHEDULERS
        out = dict(options or {})
        if "epoch" not in out and SCHEDULERS[controller].epoch == 0:
            out["epoch"] = DEFAULT_EPOCH  # decisions happen at epochs: give it some
        return out

    def observe_reference(self, core, rows):
        values, mask, home = provision_reference(core, rows)
        return _assemble(core, values, len(rows)), mask, home


# ---- compiled builders: positions of the features in their table (compile-time constants) ----
_TI = {f.name: i for i, f in enumerate(TBU_FEATURES)}
(T_DUR, T_WAIT, T_REMOTE, T_AGE, T_BACKLOG, T_IN_SYS, T_PROGRESS, T_FREE, T_QUEUE, T_QWORK,
 T_REMAIN, T_MATCH) = (_TI[n] for n in (
    "tb_expected_duration", "tb_waiting", "tb_remote_input", "request_age", "home_backlog",
    "in_system", "progress", "tbu_free_slot", "tbu_queue", "tbu_queued_work", "tbu_remaining",
    "tbu_config_match"))
_CI = {f.name: i for i, f in enumerate(CLUSTER_FEATURES)}
(C_WORK, C_IN_SYS, C_PROGRESS, C_SYS_Q, C_QUEUE, C_BACKLOG, C_QWORK, C_CBU) = (_CI[n] for n in (
    "request_expected_work", "in_system", "progress", "system_queue", "cluster_queue",
    "cluster_backlog", "cluster_queued_work", "cluster_cbu_busy"))



@njit(cache=True, inline="always")
def tbu_observe_member(b, SC, JB, RQ, RES, TB, TBQ, TBF, CL, blk_cfg, dur_mean, off, K, Q,
                       CK, N, tau, work, obs, mask, home):
    o = obs[b]
    o[:] = 0.0
    now = SC[b, L.SC_NOW]
    n = SC[b, L.SC_N_ARRIVED] - SC[b, L.SC_N_DONE]
    o[off[T_IN_SYS]] = n / (n + CK)
    o[off[T_PROGRESS]] = SC[b, L.SC_N_DONE] / N
    if SC[b, L.SC_DEC_KIND] != DEC_TBU:
        mask[b, :] = True
        home[b] = 0
        return
    j = SC[b, L.SC_DEC_JOB]
    blk = JB[b, j, L.JB_BLOCK]
    r = JB[b, j, L.JB_REQ]
    h = RQ[b, r, L.RQ_HOME]
    cfg = blk_cfg[blk]
    home[b] = h
    x = dur_mean[blk]
    o[off[T_DUR]] = x / (x + tau)
    t = now - JB[b, j, L.JB_CREATED]
    o[off[T_WAIT]] = t / (t + tau)
    o[off[T_REMOTE]] = 1.0 if JB[b, j, L.JB_ORG] != h else 0.0
    t = now - RES[b, RQ[b, r, L.RQ_UID], L.RES_ARR]
    o[off[T_AGE]] = t / (t + work)
    n = CL[b, L.CL_BL_LEN, h]
    o[off[T_BACKLOG]] = n / (n + K)
    for k in range(K):
        u = h * K + k
        ql = TB[b, L.TB_QL, u]
        free = ql < Q
        mask[b, k] = free
        o[off[T_FREE] + k] = 1.0 if free else 0.0
        o[off[T_QUEUE] + k] = ql / Q
        x = TBF[b, u]
        o[off[T_QWORK] + k] = x / (x + tau)
        t = 0
        if TB[b, L.TB_STATE, u] != TBU_IDLE:
            t = max(TB[b, L.TB_END, u] - now, 0)
        o[off[T_REMAIN] + k] = t / (t + tau)
        if ql > 0:
            tail = blk_cfg[JB[b, TBQ[b, u, (TB[b, L.TB_QH, u] + ql - 1) % Q], L.JB_BLOCK]]
        else:
            tail = TB[b, L.TB_CFG, u]
        o[off[T_MATCH] + k] = 1.0 if tail == cfg else 0.0


@njit(cache=True, inline="always")
def cluster_observe_member(b, SC, JB, RQ, CL, TBF, wf_work, off, K, C, Q, T, N, tau, work, obs,
                           mask, home):
    o = obs[b]
    now = SC[b, L.SC_NOW]
    n = SC[b, L.SC_N_ARRIVED] - SC[b, L.SC_N_DONE]
    o[off[C_IN_SYS]] = n / (n + C * K)
    o[off[C_PROGRESS]] = SC[b, L.SC_N_DONE] / N
    o[off[C_WORK]] = 0.0
    if SC[b, L.SC_DEC_KIND] == DEC_CLUSTER:
        x = wf_work[RQ[b, JB[b, SC[b, L.SC_DEC_JOB], L.JB_REQ], L.RQ_WF]]
        o[off[C_WORK]] = x / (x + work)
    tot = 0
    for c in range(C):
        q = CL[b, L.CL_QUEUED, c]
        tot += q
        o[off[C_QUEUE] + c] = q / (K * Q)
        n = CL[b, L.CL_BL_LEN, c]
        o[off[C_BACKLOG] + c] = n / (n + K)
        x = 0.0
        for k in range(K):
            x += TBF[b, c * K + k]
        o[off[C_QWORK] + c] = x / (x + K * tau)
        t = max(CL[b, L.CL_CBU_FREE, c] - now, 0)
        o[off[C_CBU] + c] = t / (t + tau)
    o[off[C_SYS_Q]] = tot / (T * Q)
    mask[b, :] = True
    home[b] = 0


@njit(cache=True, inline="always")
def observe_member(b, M, S, c, obs, mask, home):
    """Observation, mask and home cluster of member ``b`` at its pending decision of kind
    ``c.decision_kind`` (``c``: :class:`~octogym.envs.bundles.StepConstants`), written into
    ``obs[b]``, ``mask[b]``, ``home[b]``. The arrays come one by one, not in their
    ``MemberBuffers``: numba's parallel loop drops writes made through a namedtuple's array
    fields in inlined code (the fused step calls this inside one)."""
    if c.decision_kind == DEC_DISPATCH:
        dispatch_observe_member(b, M, S, c.kernel_policy, c.feature_offsets, c.K, c.Q,
                                c.C * c.K, c.N, c.tau, c.work, obs, mask, home)
    elif c.decision_kind == DEC_TBU:
        tbu_observe_member(b, S.SC, S.JB, S.RQ, S.RES, S.TB, S.TBQ, S.TBF, S.CL,
                           M.MB[L.MB_BLK_CFG], M.dur_mean, c.feature_offsets, c.K, c.Q,
                           c.C * c.K, c.N, c.tau, c.work, obs, mask, home)
    elif c.decision_kind == DEC_PROVISION:
        provision_observe_member(b, S.SC, S.TB, S.TBR, S.CL, S.JB, S.ST_DEM, M.MB[L.MB_BLK_CFG],
                                 c.feature_offsets, c.K, c.C, c.Q, c.N, c.tau, obs, mask, home)
    elif c.decision_kind == DEC_PLACE:
        place_observe_member(b, M, S.SC, S.JB, S.RQ, S.RES, S.TB, S.TBQ, S.TBF, S.CL,
                             M.MB[L.MB_BLK_CFG], M.dur_mean, c.feature_offsets, c.K, c.C, c.Q,
                             c.N, c.tau, c.work, obs, mask, home)
    else:
        cluster_observe_member(b, S.SC, S.JB, S.RQ, S.CL, S.TBF, c.wf_work, c.feature_offsets,
                               c.K, c.C, c.Q, c.T, c.N, c.tau, c.work, obs, mask, home)


@njit(cache=True)
def observe_rows(rows, M, S, c, m):
    """:func:`observe_member` for every member in ``rows`` (``m``: the
    :class:`~octogym.envs.bundles.MemberBuffers`)."""
    obs, mask, home = m.obs, m.mask, m.home
    for i in range(rows.shape[0]):
        observe_member(rows[i], M, S, c, obs, mask, home)


class DispatchDecision(Decision):
    """A TBU freed with waiting work (octogym/kernel/dispatch.py); action ``i`` = run
    candidate slot ``i`` next: its ``i``-th queued job (head first), then its cluster's backlog,
    oldest first. Valid: the slots that hold a candidate (at least two: with one there is
    nothing to decide and the kernel does not pause). Action 0 is FIFO."""

    name = "Dispatch"
    kind = DEC_DISPATCH
    features = DISPATCH_FEATURES
    # `static` (the paper's traditional baseline: TBs only on TBUs of their configuration):
    # its queues and backlogs give the most dispatch decisions (docs/envs.md, "Controller":
    # 8-40 per 100-request chip episode at load 0.8). Since the fair baselines the order is
    # worth under 1% of mean latency under it or `adaptive` (docs/agents.md)
    default_controller = "static"
    ext = EXT_DISPATCH
    action_entities = ("waiting",)  # the candidates come first, in slot order

    def entity_focus(self, core, rows, reference=False):
        from octogym.envs.entities_dispatch import dispatch_focus, dispatch_focus_reference
        return (dispatch_focus_reference if reference else dispatch_focus)(core, rows)

    def n_actions(self, hw: HardwareConfig) -> int:
        return n_candidates(hw)

    def candidates_reference(self, core: KernelBatch, rows: np.ndarray
                             ) -> dict[str, np.ndarray]:
        """Members ``rows``' candidates, numpy: ``has`` (a dispatch decision pending), ``u``
        the freed TBU, ``c`` its cluster, ``ql`` its queue length, and per slot ``(n, A)``:
        ``job`` (0 where not ``valid``), ``queued``, ``valid``, ``data`` (cycles until the
        input data is at the TBU: the queued job's arrival, a backlogged one's transfer)."""
        S, M = core.sim.state, core.sim.model
        Q, A = core.Q, core.n_actions
        SC = S.SC[rows]
        now = SC[:, L.SC_NOW]
        n = len(rows)
        has = SC[:, L.SC_DEC_KIND] == self.kind
        u = np.where(has, SC[:, L.SC_DEC_TBU], 0)
        c = M.tbu_cluster[u]
        r2 = rows[:, None]
        ql = S.TB[rows, L.TB_QL, u]
        slot = np.arange(A)[None, :]
        queued = slot < ql[:, None]
        # each row's candidates: its queue ring from the head, then its backlog's linked list
        # (under a deferring controller only the jobs of the TBU's configuration)
        job = S.TBQ[r2, u[:, None], (S.TB[rows, L.TB_QH, u][:, None] + slot) % Q]
        cnt = ql.copy()
        defers = bool(policy_defers(core.sim.policy))
        for k in range(n):
            j = S.CL[rows[k], L.CL_BL_HEAD, c[k]]
            while has[k] and ql[k] < Q and j >= 0 and cnt[k] < ql[k] + DISPATCH_BACKLOG:
                cfg = M.MB[L.MB_BLK_CFG, S.JB[rows[k], j, L.JB_BLOCK]]
                if not defers or cfg == S.TB[rows[k], L.TB_CFG, u[k]]:
                    job[k, cnt[k]] = j
                    cnt[k] += 1
                j = S.JB[rows[k], j, L.JB_NEXT]
        valid = (slot < cnt[:, None]) & has[:, None]
        job = np.where(valid, job, 0)
        JB = S.JB
        org = JB[r2, job, L.JB_ORG]
        nbytes = JB[r2, job, L.JB_BYTES]
        local = M.MI[L.MI_LOCAL_BW]
        same = np.maximum(local, 1)
        xfer = np.where(org == c[:, None], np.where(local <= 0, 0, -(-nbytes // same)),
                        M.NOC[L.NOC_LATENCY, org, c[:, None]]
                        + -(-nbytes // M.MI[L.MI_LINK_BW]))
        data = np.where(queued, np.maximum(JB[r2, job, L.JB_DATA] - now[:, None], 0), xfer)
        return {"has": has, "u": u, "c": c, "ql": ql, "job": job, "queued": queued,
                "valid": valid, "data": data}

    def observe_reference(self, core, rows):
        S, M = core.sim.state, core.sim.model
        K, Q = core.K, core.Q
        n = len(rows)
        SC = S.SC[rows]
        now = SC[:, L.SC_NOW]
        cd = self.candidates_reference(core, rows)
        has, u, c, ql, job, queued, valid, data = (cd[k] for k in (
            "has", "u", "c", "ql", "job", "queued", "valid", "data"))
        r2 = rows[:, None]
        JB = S.JB
        blk = JB[r2, job, L.JB_BLOCK]
        req = JB[r2, job, L.JB_REQ]
        bl = S.CL[rows, L.CL_BL_LEN, c]
        uid = S.RQ[r2, req, L.RQ_UID]
        v = valid.astype(np.float64)
        in_sys = SC[:, L.SC_N_ARRIVED] - SC[:, L.SC_N_DONE]
        values = {
            "tbu_queue": ql / Q * has,
            "cluster_backlog": squash(bl, K) * has,
            "in_system": squash(in_sys, core.C * K),
            "progress": SC[:, L.SC_N_DONE] / core.N,
            "cand_valid": v,
            "cand_from_backlog": v * ~queued,
            "cand_expected_duration": squash(M.dur_mean[blk], core.tau) * v,
            "cand_remaining_work": squash(M.rem_work[S.RQ[r2, req, L.RQ_ROW], blk],
                                          core.work) * v,
            "cand_request_age": squash(now[:, None] - S.RES[r2, uid, L.RES_ARR], core.work) * v,
            "cand_waiting": squash(now[:, None] - JB[r2, job, L.JB_CREATED], core.tau) * v,
            "cand_config_match": (M.MB[L.MB_BLK_CFG, blk]
                                  == S.TB[rows, L.TB_CFG, u][:, None]) * v,
            "cand_data_wait": squash(data, core.tau) * v,
        }
        mask = valid | ~has[:, None]
        return _assemble(core, values, n), mask, np.where(has, c, 0)


DECISIONS: dict[str, Decision] = {"TBUAssign": TBUDecision(), "ClusterAssign": ClusterDecision(),
                                  "Dispatch": DispatchDecision(), "Place": PlaceDecision(),
                                  "Provision": ProvisionDecision()}
