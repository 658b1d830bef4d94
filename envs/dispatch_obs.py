"""The compiled observation builder of the dispatch decision (``DISPATCH_FEATURES`` of
:mod:`octogym.envs.layout`; its readable numpy definition is
``octogym.envs.decisions.DispatchDecision.observe_reference``, and a test checks they agree).

Candidate slot ``i`` (``octogym/kernel/dispatch.py``): the freed TBU's ``i``-th queued job,
head first, then its cluster's backlog, oldest first. Per-candidate features are
feature-major (``obs[off[f] + i]``), so they read as a ``(features, candidates)`` matrix.
"""

from __future__ import annotations

from numba import njit

from octogym.envs.layout import DISPATCH_FEATURES
from octogym.kernel import fields as L
from octogym.kernel.dispatch import dispatch_count, next_backlog_candidate
from octogym.kernel.layout import DEC_DISPATCH
from octogym.kernel.mechanisms import transfer

_DI = {f.name: i for i, f in enumerate(DISPATCH_FEATURES)}
(D_QUEUE, D_BACKLOG, D_IN_SYS, D_PROGRESS, D_VALID, D_FROM_BL, D_DUR, D_REM, D_AGE, D_WAIT,
 D_MATCH, D_DATA) = (_DI[n] for n in (
    "tbu_queue", "cluster_backlog", "in_system", "progress", "cand_valid",
    "cand_from_backlog", "cand_expected_duration", "cand_remaining_work", "cand_request_age",
    "cand_waiting", "cand_config_match", "cand_data_wait"))


@njit(cache=True, inline="always")
def dispatch_observe_member(b, M, S, pol, off, K, Q, CK, N, tau, work, obs, mask, home):
    """Observation, mask and cluster (``home``) of member ``b``'s pending dispatch decision
    (``pol``: the controller, which decides the backlog candidates)."""
    SC = S.SC
    JB = S.JB
    RQ = S.RQ
    o = obs[b]
    o[:] = 0.0
    now = SC[b, L.SC_NOW]
    n = SC[b, L.SC_N_ARRIVED] - SC[b, L.SC_N_DONE]
    o[off[D_IN_SYS]] = n / (n + CK)
    o[off[D_PROGRESS]] = SC[b, L.SC_N_DONE] / N
    mask[b, :] = True
    home[b] = 0
    if SC[b, L.SC_DEC_KIND] != DEC_DISPATCH:
        return
    u = SC[b, L.SC_DEC_TBU]
    c = M.tbu_cluster[u]
    home[b] = c
    ql = S.TB[b, L.TB_QL, u]
    o[off[D_QUEUE]] = ql / Q
    n = S.CL[b, L.CL_BL_LEN, c]
    o[off[D_BACKLOG]] = n / (n + K)
    cnt = dispatch_count(M, S, b, u, pol)
    tcfg = S.TB[b, L.TB_CFG, u]
    j = -1
    for i in range(mask.shape[1]):
        if i >= cnt:
            mask[b, i] = False
            continue
        if i < ql:
            j = S.TBQ[b, u, (S.TB[b, L.TB_QH, u] + i) % Q]
            t = max(JB[b, j, L.JB_DATA] - now, 0)
        else:
            j = next_backlog_candidate(M, S, b, u, j if i > ql else -1, pol)
            o[off[D_FROM_BL] + i] = 1.0
            t = transfer(M, JB[b, j, L.JB_ORG], c, JB[b, j, L.JB_BYTES])
        o[off[D_VALID] + i] = 1.0
        o[off[D_DATA] + i] = t / (t + tau)
        blk = JB[b, j, L.JB_BLOCK]
        r = JB[b, j, L.JB_REQ]
        x = M.dur_mean[blk]
        o[off[D_DUR] + i] = x / (x + tau)
        x = M.rem_work[RQ[b, r, L.RQ_ROW], blk]
        o[off[D_REM] + i] = x / (x + work)
        t = now - S.RES[b, RQ[b, r, L.RQ_UID], L.RES_ARR]
        o[off[D_AGE] + i] = t / (t + work)
        t = now - JB[b, j, L.JB_CREATED]
        o[off[D_WAIT] + i] = t / (t + tau)
        o[off[D_MATCH] + i] = 1.0 if M.MB[L.MB_BLK_CFG, blk] == tcfg else 0.0
