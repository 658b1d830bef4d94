"""The Provision decision's observation and mask (docs/envs.md, "Provision").

At every epoch the kernel asks about each cluster in turn (``octogym.kernel.provision``).
Actions ``A = K * NCFG + 1`` (``NCFG`` = configurations of the workflow mix):
``a = k * NCFG + g`` reconfigures TBU ``k`` of the cluster to configuration ``g`` (valid if
the TBU is idle with an empty queue and does not hold ``g``) and asks about the same cluster
again; ``a = K * NCFG`` keeps the rest ("keep", always valid) and moves to the next cluster.

Two builders that must agree exactly (tests/test_provision.py): ``provision_reference``
(numpy, the readable definition) and ``provision_observe_member`` (numba, the fused step's).
The feature table is ``octogym.envs.layout.PROVISION_FEATURES``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from octogym.envs.layout import PROVISION_FEATURES
from octogym.kernel import fields as L
from octogym.kernel.layout import DEC_PROVISION, TBU_IDLE

if TYPE_CHECKING:
    from octogym.envs.core import KernelBatch


def mix_n_configs(workflows=None) -> int:
    """Configurations of a workflow mix (``workflows`` as the env's keyword; ``None``: the
    built-in suite), as the kernel counts them (at least 1)."""
    from octogym.simulator import resolve_workflows
    from octogym.workflows.compiled import compile_mix

    return max(compile_mix(*resolve_workflows(workflows)).n_configs, 1)


DOC_N_CONFIGS = mix_n_configs()
"""``NCFG`` of the default mix (the whole built-in suite), for the documented index ranges."""


def doc_note() -> str:
    return (f"Index ranges for the default mix (the whole suite: NCFG = {DOC_N_CONFIGS} "
            "configurations); another mix has its own NCFG, and the layout follows it.")


def provision_reference(core: KernelBatch, rows: np.ndarray
                        ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """``(feature values by name, mask (n, K * NCFG + 1), home (n,) = the cluster)`` of
    members ``rows``, numpy."""
    S = core.sim.state
    M = core.sim.model
    K, C, Q, T = core.K, core.C, core.Q, core.T
    G = M.CFG.shape[1]
    n = len(rows)
    SC = S.SC[rows]
    now = SC[:, L.SC_NOW]
    has = SC[:, L.SC_DEC_KIND] == DEC_PROVISION
    h2 = has[:, None]
    c = np.where(has, SC[:, L.SC_PROV_CLUSTER] - 1, 0)
    r2 = rows[:, None]
    tbus = c[:, None] * K + np.arange(K)
    TB = S.TB
    ql = TB[r2, L.TB_QL, tbus]
    cfg = TB[r2, L.TB_CFG, tbus]
    free = (TB[r2, L.TB_STATE, tbus] == TBU_IDLE) & (ql == 0)
    idle_for = np.where(free, now[:, None] - S.TBR[r2, tbus, L.TBR_IDLE], 0)
    onehot = cfg[:, :, None] == np.arange(G)  # (n, K, G)
    waiting = (onehot * ql[:, :, None]).sum(axis=1).astype(np.float64)
    for i, b in enumerate(rows):  # backlogged TBs by the configuration they need
        j = S.CL[b, L.CL_BL_HEAD, c[i]] if has[i] else -1
        while j != -1:
            waiting[i, M.MB[L.MB_BLK_CFG, S.JB[b, j, L.JB_BLOCK]]] += 1
            j = S.JB[b, j, L.JB_NEXT]
    machine = (TB[rows, L.TB_CFG][:, :, None] == np.arange(G)).sum(axis=1)
    dem = S.ST_DEM[rows, c].astype(np.int64)
    tot = dem.sum(axis=1, keepdims=True)
    in_sys = SC[:, L.SC_N_ARRIVED] - SC[:, L.SC_N_DONE]
    values = {
        "in_system": in_sys / (in_sys + C * K),
        "progress": SC[:, L.SC_N_DONE] / core.N,
        "cluster_position": c / C * has,
        "cluster_backlog": (lambda x: x / (x + K))(S.CL[rows, L.CL_BL_LEN, c]) * has,
        "reconfigured_here": ((SC[:, L.SC_PROV_LAST] > 0) & has).astype(np.float64),
        "tbu_reconfigurable": (free & h2).astype(np.float64),
        "tbu_queue": ql / Q * h2,
        "tbu_idle_for": idle_for / (idle_for + core.tau) * h2,
        "config_waiting": waiting / (waiting + K) * h2,
        "config_tbus": onehot.sum(axis=1) / K * h2,
        "config_machine_tbus": machine / T * h2,
        "config_demand": np.where(tot > 0, dem / np.maximum(tot, 1), 0.0) * h2,
        "tbu_config": onehot.reshape(n, K * G) * h2,
    }
    move = (free[:, :, None] & ~onehot).reshape(n, K * G)
    mask = np.concatenate([move, np.ones((n, 1), bool)], axis=1) | ~h2
    return values, mask, c


_VI = {f.name: i for i, f in enumerate(PROVISION_FEATURES)}
(V_IN_SYS, V_PROGRESS, V_POS, V_BACKLOG, V_HERE, V_FREE, V_QUEUE, V_IDLE, V_WAIT, V_TBUS,
 V_MACHINE, V_DEMAND, V_CFG) = (_VI[n] for n in (
    "in_system", "progress", "cluster_position", "cluster_backlog", "reconfigured_here",
    "tbu_reconfigurable", "tbu_queue", "tbu_idle_for", "config_waiting", "config_tbus",
    "config_machine_tbus", "config_demand", "tbu_config"))


@njit(cache=True, inline="always")
def provision_observe_member(b, SC, TB, TBR, CL, JB, ST_DEM, blk_cfg, off, K, C, Q, N, tau, obs,
                             mask, home):
    """:func:`provision_reference` for member ``b``, written into ``obs[b]``, ``mask[b]``,
    ``home[b]``."""
    o = obs[b]
    o[:] = 0.0
    n = SC[b, L.SC_N_ARRIVED] - SC[b, L.SC_N_DONE]
    o[off[V_IN_SYS]] = n / (n + C * K)
    o[off[V_PROGRESS]] = SC[b, L.SC_N_DONE] / N
    if SC[b, L.SC_DEC_KIND] != DEC_PROVISION:
        mask[b, :] = True
        home[b] = 0
        return
    G = ST_DEM.shape[2]
    c = SC[b, L.SC_PROV_CLUSTER] - 1
    home[b] = c
    now = SC[b, L.SC_NOW]
    o[off[V_POS]] = c / C
    n = CL[b, L.CL_BL_LEN, c]
    o[off[V_BACKLOG]] = n / (n + K)
    o[off[V_HERE]] = 1.0 if SC[b, L.SC_PROV_LAST] > 0 else 0.0
    mask[b, K * G] = True
    for k in range(K):
        u = c * K + k
        ql = TB[b, L.TB_QL, u]
        cf = TB[b, L.TB_CFG, u]
        free = TB[b, L.TB_STATE, u] == TBU_IDLE and ql == 0
        o[off[V_QUEUE] + k] = ql / Q
        if free:
            o[off[V_FREE] + k] = 1.0
            t = now - TBR[b, u, L.TBR_IDLE]
            o[off[V_IDLE] + k] = t / (t + tau)
        for g in range(G):
            mask[b, k * G + g] = free and cf != g
        if cf >= 0:
            o[off[V_CFG] + k * G + cf] = 1.0
            o[off[V_TBUS] + cf] += 1.0
            o[off[V_WAIT] + cf] += ql
    j = CL[b, L.CL_BL_HEAD, c]
    while j != -1:
        o[off[V_WAIT] + blk_cfg[JB[b, j, L.JB_BLOCK]]] += 1.0
        j = JB[b, j, L.JB_NEXT]
    for u in range(C * K):
        if TB[b, L.TB_CFG, u] >= 0:
            o[off[V_MACHINE] + TB[b, L.TB_CFG, u]] += 1.0
    tot = 0
    for g in range(G):
        tot += ST_DEM[b, c, g]
    for g in range(G):
        w = o[off[V_WAIT] + g]
        o[off[V_WAIT] + g] = w / (w + K)
        o[off[V_TBUS] + g] = o[off[V_TBUS] + g] / K
        o[off[V_MACHINE] + g] = o[off[V_MACHINE] + g] / (C * K)
        if tot > 0:
            o[off[V_DEMAND] + g] = ST_DEM[b, c, g] / tot
