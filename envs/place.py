"""The Place decision's observation and mask (docs/envs.md, "Place").

One ready TB instance, paused at *every* TB instance (also when its home cluster is full:
exactly where the kernel-only path asks the policy's ``decide_tbu``). Actions ``A = T + C``:

* ``u < T``: TBU ``u`` of the machine (valid if its queue has space);
* ``T + c``: park the TB in cluster ``c``'s backlog: it is re-offered when a queue slot frees
  there (``T + home`` is the plain "wait"). Valid if some TBU of ``c`` is busy (running or
  reconfiguring): only then is a slot sure to free there. A freed slot re-offers as many
  parked TBs as the cluster has free slots, and the whole backlog once the cluster's TBUs are
  all idle with empty queues (the kernel's ``release_stranded``: the agent may have parked
  the re-offered ones elsewhere), so a parked TB can never be stranded and every episode
  ends. At least one action is always valid: a machine whose every queue is full has every
  TBU busy.

Two builders that must agree exactly (tests/test_place.py): ``place_reference`` (numpy, the
readable definition) and ``place_observe_member`` (numba, what runs in the fused step). The
feature table is ``octogym.envs.layout.PLACE_FEATURES``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from octogym.envs.layout import PLACE_FEATURES
from octogym.kernel import fields as L
from octogym.kernel.layout import DEC_PLACE, TBU_IDLE
from octogym.kernel.mechanisms import transfer

if TYPE_CHECKING:
    from octogym.envs.core import KernelBatch


def _sq(x, s):
    return x / (x + s)


def transfer_cycles(M, org: np.ndarray, dst: np.ndarray, nbytes: np.ndarray) -> np.ndarray:
    """:func:`octogym.kernel.mechanisms.transfer`, vectorised (broadcast over its arguments)."""
    MI, NOC = M.MI, M.NOC
    local_bw, link_bw = int(MI[L.MI_LOCAL_BW]), int(MI[L.MI_LINK_BW])
    local = np.zeros_like(nbytes) if local_bw <= 0 else (nbytes + local_bw - 1) // local_bw
    remote = NOC[L.NOC_LATENCY][org, dst] + (nbytes + link_bw - 1) // link_bw
    return np.where(org == dst, local, remote)


def place_reference(core: KernelBatch, rows: np.ndarray
                    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """``(feature values by name, mask (n, T + C), home (n,))`` of members ``rows``, numpy."""
    S, M = core.sim.state, core.sim.model
    K, C, Q, T = core.K, core.C, core.Q, core.T
    n = len(rows)
    SC = S.SC[rows]
    now = SC[:, L.SC_NOW]
    has = SC[:, L.SC_DEC_KIND] == DEC_PLACE
    hasf = has.astype(np.float64)
    j = np.where(has, SC[:, L.SC_DEC_JOB], 0)
    blk = np.where(has, S.JB[rows, j, L.JB_BLOCK], 0)
    req = np.where(has, S.JB[rows, j, L.JB_REQ], 0)
    home = np.where(has, S.RQ[rows, req, L.RQ_HOME], 0)
    uid = np.where(has, S.RQ[rows, req, L.RQ_UID], 0)
    org = np.where(has, S.JB[rows, j, L.JB_ORG], 0)
    nbytes = np.where(has, S.JB[rows, j, L.JB_BYTES], 0)
    cfg = M.MB[L.MB_BLK_CFG, blk]
    r2, h2 = rows[:, None], hasf[:, None]
    TB = S.TB
    ql = TB[rows, L.TB_QL]  # (n, T)
    tbus = np.arange(T)[None, :]
    last = S.TBQ[r2, tbus, (TB[rows, L.TB_QH] + ql - 1) % Q]
    tail_cfg = np.where(ql > 0, M.MB[L.MB_BLK_CFG, S.JB[r2, last, L.JB_BLOCK]],
                        TB[rows, L.TB_CFG])
    busy = (TB[rows, L.TB_STATE] != TBU_IDLE).reshape(n, C, K).any(axis=2)
    work_c = S.TBF[rows].reshape(n, C, K).sum(axis=2)
    clusters = np.arange(C)[None, :]
    tr = transfer_cycles(M, org[:, None], clusters, nbytes[:, None])
    in_sys = SC[:, L.SC_N_ARRIVED] - SC[:, L.SC_N_DONE]
    values = {
        "tb_expected_duration": _sq(M.dur_mean[blk], core.tau) * hasf,
        "tb_waiting": _sq(now - S.JB[rows, j, L.JB_CREATED], core.tau) * hasf,
        "tb_remote_input": ((org != home) & has).astype(np.float64),
        "request_age": _sq(now - S.RES[rows, uid, L.RES_ARR], core.work) * hasf,
        "home_backlog": _sq(S.CL[rows, L.CL_BL_LEN, home], K) * hasf,
        "in_system": _sq(in_sys, C * K),
        "progress": SC[:, L.SC_N_DONE] / core.N,
        "tbu_queue": ql / Q * h2,
        "tbu_config_match": (tail_cfg == cfg[:, None]) * h2,
        "cluster_home": (clusters == home[:, None]) * h2,
        "cluster_transfer": _sq(tr, core.tau) * h2,
        "cluster_queued_work": _sq(work_c, K * core.tau) * h2,
        "cluster_backlog": _sq(S.CL[rows, L.CL_BL_LEN], K) * h2,
    }
    mask = np.concatenate([ql < Q, busy], axis=1) | ~h2.astype(bool)
    return values, mask, home


# positions of the features in their table (compile-time constants of the compiled builder)
_PI = {f.name: i for i, f in enumerate(PLACE_FEATURES)}
(P_DUR, P_WAIT, P_REMOTE, P_AGE, P_BACKLOG, P_IN_SYS, P_PROGRESS, P_QUEUE, P_MATCH, P_HOME,
 P_TRANSFER, P_QWORK, P_CBACKLOG) = (_PI[n] for n in (
    "tb_expected_duration", "tb_waiting", "tb_remote_input", "request_age", "home_backlog",
    "in_system", "progress", "tbu_queue", "tbu_config_match", "cluster_home",
    "cluster_transfer", "cluster_queued_work", "cluster_backlog"))


@njit(cache=True, inline="always")
def place_observe_member(b, M, SC, JB, RQ, RES, TB, TBQ, TBF, CL, blk_cfg, dur_mean, off, K, C,
                         Q, N, tau, work, obs, mask, home):
    """:func:`place_reference` for member ``b``, written into ``obs[b]``, ``mask[b]``,
    ``home[b]`` (one pass over the machine's TBUs)."""
    o = obs[b]
    o[:] = 0.0
    T = C * K
    now = SC[b, L.SC_NOW]
    n = SC[b, L.SC_N_ARRIVED] - SC[b, L.SC_N_DONE]
    o[off[P_IN_SYS]] = n / (n + C * K)
    o[off[P_PROGRESS]] = SC[b, L.SC_N_DONE] / N
    if SC[b, L.SC_DEC_KIND] != DEC_PLACE:
        mask[b, :] = True
        home[b] = 0
        return
    j = SC[b, L.SC_DEC_JOB]
    blk = JB[b, j, L.JB_BLOCK]
    r = JB[b, j, L.JB_REQ]
    h = RQ[b, r, L.RQ_HOME]
    org = JB[b, j, L.JB_ORG]
    nbytes = JB[b, j, L.JB_BYTES]
    cfg = blk_cfg[blk]
    home[b] = h
    x = dur_mean[blk]
    o[off[P_DUR]] = x / (x + tau)
    t = now - JB[b, j, L.JB_CREATED]
    o[off[P_WAIT]] = t / (t + tau)
    o[off[P_REMOTE]] = 1.0 if org != h else 0.0
    t = now - RES[b, RQ[b, r, L.RQ_UID], L.RES_ARR]
    o[off[P_AGE]] = t / (t + work)
    n = CL[b, L.CL_BL_LEN, h]
    o[off[P_BACKLOG]] = n / (n + K)
    for c in range(C):
        busy = False
        w = 0.0
        for k in range(K):
            u = c * K + k
            ql = TB[b, L.TB_QL, u]
            mask[b, u] = ql < Q
            o[off[P_QUEUE] + u] = ql / Q
            if ql > 0:
                tail = blk_cfg[JB[b, TBQ[b, u, (TB[b, L.TB_QH, u] + ql - 1) % Q], L.JB_BLOCK]]
            else:
                tail = TB[b, L.TB_CFG, u]
            o[off[P_MATCH] + u] = 1.0 if tail == cfg else 0.0
            if TB[b, L.TB_STATE, u] != TBU_IDLE:
                busy = True
            w += TBF[b, u]
        mask[b, T + c] = busy
        o[off[P_HOME] + c] = 1.0 if c == h else 0.0
        t = transfer(M, org, c, nbytes)
        o[off[P_TRANSFER] + c] = t / (t + tau)
        o[off[P_QWORK] + c] = w / (w + K * tau)
        n = CL[b, L.CL_BL_LEN, c]
        o[off[P_CBACKLOG] + c] = n / (n + K)
