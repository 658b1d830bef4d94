"""The compiled event loop: one call advances every batch member to its next external
decision point, to a time limit, or to the end of its run.

Semantics (DESIGN §4, with our choices documented in docs/model.md "Execution"):

* A *token* is one unit of control flow of one request inside a *frame* (the request's root
  scope, or one copy of a map body). Tokens entering a block are delivered in FIFO order.
* task: becomes a TB instance (a *job*) that waits in the member's decision queue for a TBU;
  branch / map / fork: a CB job on the home cluster's CBU (serial, ``cost`` cycles);
  join: counts tokens per frame and fires a CB job once it holds ``indegree`` of them.
* A TB instance needs a TBU with queue space in its home cluster; if none has space (or the
  policy defers it) it waits in that cluster's backlog until a queue slot frees there.
* TBU: FIFO queue; head job = reconfigure if needed, wait for input data, run.
"""

from __future__ import annotations

import math

import numpy as np
from octogym.kernel import layout as L
from numba import njit, uint64

from octogym.kernel.core import (
    alloc_frame,
    alloc_job,
    bl_push,
    bl_release,
    cluster_has_space,
    dequeue_head,
    dq_pop,
    dq_push,
    enqueue,
    free_frame,
    free_job,
    heap_pop,
    heap_push,
    start_next,
)
from octogym.kernel.layout import (
    ARR_CLOSED,
    ARR_POISSON,
    DEC_CLUSTER,
    DEC_NONE,
    DEC_TBU,
    EV_ARRIVAL,
    EV_CB_DONE,
    EV_EPOCH,
    EV_TB_DONE,
    EV_TBU_FREE,
    FR_COPY,
    FR_GROUP,
    FR_ROOT,
    ST_DECISION,
    ST_DONE,
    ST_GROW,
    ST_STALLED,
    ST_TIME,
    TBU_IDLE,
)
from octogym.workflows.compiled import BRANCH, FORK, JOIN, MAP, TASK
from octogym.kernel.policies import decide_cluster, decide_tbu, least_loaded_tbu, on_epoch, on_idle
from octogym.rng import (
    S_ARRIVAL,
    S_BRANCH,
    S_COUNT,
    S_DURATION,
    S_DURATION2,
    S_WORKFLOW,
    lin_next,
    mix64,
    sample_count,
    sample_duration,
    u01,
)

ROOT_LIN = 0x5EED
JOIN_SALT = 0xC0FFEE
COPY_SALT = 1 << 20
NO_ACTION = -1


# ---- token worklist (local to one call; emptied within every event) -------------------------


@njit(cache=True)
def make_worklist(M):
    n = 4 * M.MI[L.MI_MARGIN] + 64
    return (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64),
            np.empty(n, np.int64), np.empty(n, np.uint64), np.zeros(2, np.int64))


@njit(cache=True)
def wl_push(WL, f, x, org, nbytes, lin):
    ctr = WL[5]
    t = ctr[1]
    if t >= WL[0].shape[0]:
        raise RuntimeError("octogym kernel: token worklist overflow")
    WL[0][t] = f
    WL[1][t] = x
    WL[2][t] = org
    WL[3][t] = nbytes
    WL[4][t] = lin
    ctr[1] = t + 1


@njit(cache=True)
def emit_flow(M, S, b, WL, f, fi, org, lin):
    """A token leaves along flow ``fi`` (CSR index) in frame ``f``."""
    S.FR[b, L.FR_LIVE, f] += 1
    wl_push(WL, f, M.FL[L.FL_SUCC_DST, fi], org, M.FL[L.FL_SUCC_BYTES, fi], lin_next(lin, fi))


@njit(cache=True)
def consume(M, S, b, WL, f, org):
    """A token of frame ``f`` ends (its data last seen at cluster ``org``); finish frames
    whose last token this was: a copy reports to its group, a finished group sends the map's
    continuation token, a finished root completes the request."""
    S.FR[b, L.FR_ORG, f] = org
    S.FR[b, L.FR_LIVE, f] -= 1
    while S.FR[b, L.FR_LIVE, f] == 0:
        kind = S.FR[b, L.FR_KIND, f]
        if kind == FR_ROOT:
            r = S.FR[b, L.FR_REQ, f]
            uid = S.RQ[b, L.RQ_UID, r]
            S.RES[b, L.RES_DONE, uid] = S.SC[b, L.SC_NOW]
            S.SC[b, L.SC_ND] += 1
            S.SC[b, L.SC_T_END] = S.SC[b, L.SC_NOW]
            S.RQ[b, L.RQ_FREE, S.SC[b, L.SC_RQ_NFREE]] = r
            S.SC[b, L.SC_RQ_NFREE] += 1
            free_frame(S, b, f)
            return
        p = S.FR[b, L.FR_PARENT, f]
        o = S.FR[b, L.FR_ORG, f]
        if kind == FR_GROUP:
            m = S.FR[b, L.FR_MAP, f]
            lin = S.FRU[b, f]
            for fi in range(M.succ_ptr[m], M.succ_ptr[m + 1]):
                emit_flow(M, S, b, WL, p, fi, o, lin)
        free_frame(S, b, f)
        S.FR[b, L.FR_ORG, p] = o
        S.FR[b, L.FR_LIVE, p] -= 1
        f = p


@njit(cache=True)
def cb_job(M, S, b, f, x, org, nbytes, lin):
    r = S.FR[b, L.FR_REQ, f]
    j = alloc_job(S, b)
    S.JB[b, L.JB_REQ, j] = r
    S.JB[b, L.JB_FRAME, j] = f
    S.JB[b, L.JB_BLOCK, j] = x
    S.JBU[b, j] = lin
    S.JB[b, L.JB_ORG, j] = org
    S.JB[b, L.JB_BYTES, j] = nbytes
    S.JB[b, L.JB_T, j] = S.SC[b, L.SC_NOW]
    h = S.RQ[b, L.RQ_HOME, r]
    start = S.SC[b, L.SC_NOW] if S.SC[b, L.SC_NOW] > S.CL[b, L.CL_CBU_FREE, h] else S.CL[b, L.CL_CBU_FREE, h]
    end = start + M.MB[L.MB_BLK_COST, x]
    S.CL[b, L.CL_CBU_FREE, h] = end
    S.CL[b, L.CL_ACC_CBU, h] += M.MB[L.MB_BLK_COST, x]
    heap_push(S, b, end, EV_CB_DONE, j)


@njit(cache=True)
def deliver(M, S, b, WL, f, x, org, nbytes, lin):
    t = M.MB[L.MB_BLK_TYPE, x]
    if t == TASK:
        r = S.FR[b, L.FR_REQ, f]
        j = alloc_job(S, b)
        S.JB[b, L.JB_REQ, j] = r
        S.JB[b, L.JB_FRAME, j] = f
        S.JB[b, L.JB_BLOCK, j] = x
        S.JBU[b, j] = lin
        S.JB[b, L.JB_ORG, j] = org
        S.JB[b, L.JB_BYTES, j] = nbytes
        S.JB[b, L.JB_T, j] = S.SC[b, L.SC_NOW]
        uid = S.RQ[b, L.RQ_UID, r]
        u1 = u01(S.SEED[b], uid, lin, S_DURATION)
        u2 = u01(S.SEED[b], uid, lin, S_DURATION2)
        S.JB[b, L.JB_DUR, j] = sample_duration(M.MB[L.MB_DUR_CODE, x], M.dur_p[x, 0], M.dur_p[x, 1],
                                         M.dur_p[x, 2], M.emp, M.MB[L.MB_DUR_EMP_OFF, x],
                                         M.MB[L.MB_DUR_EMP_LEN, x], u1, u2)
        S.SC[b, L.SC_N_TB_CREATED] += 1
        S.ST_DEM[b, S.RQ[b, L.RQ_HOME, r], M.MB[L.MB_BLK_CFG, x]] += 1
        dq_push(S, b, j)
    elif t == JOIN:
        s = M.MB[L.MB_BLK_JOIN_SLOT, x]
        S.FJC[b, f, s] += 1
        S.FJX[b, f, s] ^= uint64(lin)
        if S.FJC[b, f, s] == M.MB[L.MB_BLK_INDEG, x]:
            nl = mix64(S.FJX[b, f, s] ^ uint64(JOIN_SALT))
            S.FJC[b, f, s] = 0
            S.FJX[b, f, s] = uint64(0)
            cb_job(M, S, b, f, x, org, nbytes, nl)
        else:
            consume(M, S, b, WL, f, org)
    else:
        cb_job(M, S, b, f, x, org, nbytes, lin)


@njit(cache=True)
def flush(M, S, b, WL):
    ctr = WL[5]
    while ctr[0] < ctr[1]:
        i = ctr[0]
        ctr[0] = i + 1
        deliver(M, S, b, WL, WL[0][i], WL[1][i], WL[2][i], WL[3][i], WL[4][i])
    ctr[0] = 0
    ctr[1] = 0


# ---- events ------------------------------------------------------------------------------------


@njit(cache=True)
def on_cb_done(M, S, b, WL, j):
    x = S.JB[b, L.JB_BLOCK, j]
    f = S.JB[b, L.JB_FRAME, j]
    r = S.JB[b, L.JB_REQ, j]
    org = S.JB[b, L.JB_ORG, j]
    lin = S.JBU[b, j]
    nbytes = S.JB[b, L.JB_BYTES, j]
    uid = S.RQ[b, L.RQ_UID, r]
    home = S.RQ[b, L.RQ_HOME, r]
    row = S.RQ[b, L.RQ_ROW, r]
    t = M.MB[L.MB_BLK_TYPE, x]
    S.ST_EXEC[b, home, x] += 1
    S.SC[b, L.SC_N_CB_DONE] += 1
    lo, hi = M.succ_ptr[x], M.succ_ptr[x + 1]
    if t == BRANCH:
        u = u01(S.SEED[b], uid, lin, S_BRANCH)
        acc = 0.0
        chosen = -1
        for fi in range(lo, hi):
            p = M.flow_prob[row, fi]
            if p > 0.0:
                chosen = fi
                acc += p
                if u < acc:
                    break
        S.ST_FLOW[b, home, chosen] += 1
        emit_flow(M, S, b, WL, f, chosen, org, lin)
    elif t == MAP:
        n = sample_count(M.MC[L.MC_CNT_CODE, row, x], M.cnt_p[row, x], M.emp, M.MC[L.MC_CNT_EMP_OFF, row, x],
                         M.MC[L.MC_CNT_EMP_LEN, row, x], u01(S.SEED[b], uid, lin, S_COUNT), M.MI[L.MI_MAXMAP])
        S.ST_SUM[b, home, x] += n
        if n == 0:
            for fi in range(lo, hi):
                emit_flow(M, S, b, WL, f, fi, org, lin)
        else:
            g = alloc_frame(S, b, FR_GROUP, f, r, n)
            S.FR[b, L.FR_MAP, g] = x
            S.FR[b, L.FR_ORG, g] = org
            S.FRU[b, g] = lin
            S.FR[b, L.FR_LIVE, f] += 1
            body = M.MB[L.MB_BLK_BODY, x]
            for i in range(n):
                c = alloc_frame(S, b, FR_COPY, g, r, 1)
                wl_push(WL, c, body, org, nbytes, lin_next(lin, COPY_SALT + i))
    else:  # fork, join
        for fi in range(lo, hi):
            emit_flow(M, S, b, WL, f, fi, org, lin)
    free_job(S, b, j)
    consume(M, S, b, WL, f, org)
    flush(M, S, b, WL)


@njit(cache=True)
def on_tb_done(M, S, b, WL, j, pol):
    u = S.JB[b, L.JB_TBU, j]
    c = M.tbu_cluster[u]
    dequeue_head(M, S, b, u)
    S.TB[b, L.TB_STATE, u] = TBU_IDLE
    S.TB[b, L.TB_RUNS, u] += 1
    S.SC[b, L.SC_N_TB_DONE] += 1
    S.TB[b, L.TB_IDLE, u] = S.SC[b, L.SC_NOW]
    x = S.JB[b, L.JB_BLOCK, j]
    f = S.JB[b, L.JB_FRAME, j]
    lin = S.JBU[b, j]
    for fi in range(M.succ_ptr[x], M.succ_ptr[x + 1]):
        emit_flow(M, S, b, WL, f, fi, c, lin)
    free_job(S, b, j)
    consume(M, S, b, WL, f, c)
    flush(M, S, b, WL)
    bl_release(M, S, b, c)
    if S.TB[b, L.TB_QL, u] > 0:
        start_next(M, S, b, u)
    else:
        on_idle(M, S, b, u, pol)


@njit(cache=True)
def on_tbu_free(M, S, b, u, pol):
    S.TB[b, L.TB_STATE, u] = TBU_IDLE
    S.TB[b, L.TB_IDLE, u] = S.SC[b, L.SC_NOW]
    if S.TB[b, L.TB_QL, u] > 0:
        start_next(M, S, b, u)
    else:
        on_idle(M, S, b, u, pol)


@njit(cache=True)
def next_arrival_time(M, S, b, n):
    if M.MI[L.MI_ARR_MODE] == ARR_POISSON:
        u = u01(S.SEED[b], n, 0, S_ARRIVAL)
        S.SF[b, L.SF_ARR_CLOCK] += -math.log(1.0 - u) / M.MF[L.MF_RATE]
        return int(math.floor(S.SF[b, L.SF_ARR_CLOCK]))
    if M.MI[L.MI_ARR_MODE] == ARR_CLOSED:
        return 0
    return M.TRC[L.TRC_TRACE_T, n]


@njit(cache=True)
def on_arrival(M, S, b, n):
    now = S.SC[b, L.SC_NOW]
    if n + 1 < M.MI[L.MI_N_REQUESTS]:
        t = next_arrival_time(M, S, b, n + 1)
        heap_push(S, b, t if t > now else now, EV_ARRIVAL, n + 1)
    S.SC[b, L.SC_RQ_NFREE] -= 1
    r = S.RQ[b, L.RQ_FREE, S.SC[b, L.SC_RQ_NFREE]]
    S.RQ[b, L.RQ_UID, r] = n
    if M.MI[L.MI_ARR_MODE] == 2:
        w = M.TRC[L.TRC_TRACE_W, n]
    else:
        u = u01(S.SEED[b], n, 0, S_WORKFLOW)
        w = 0
        while w < M.wf_cdf.shape[0] - 1 and u >= M.wf_cdf[w]:
            w += 1
    S.RQ[b, L.RQ_WF, r] = w
    S.RQ[b, L.RQ_HOME, r] = -1
    row = M.wf_phase_off[w]
    for k in range(M.wf_phase_off[w] + 1, M.wf_phase_off[w + 1]):
        ar = M.PHA[L.PHA_PHASE_AFTER_REQ, k]
        ac = M.PHA[L.PHA_PHASE_AFTER_CYC, k]
        if (ar >= 0 and n >= ar) or (ac >= 0 and now >= ac):
            row = k
    S.RQ[b, L.RQ_ROW, r] = row
    S.RES[b, L.RES_ARR, n] = now
    S.RES[b, L.RES_WF, n] = w
    S.SC[b, L.SC_NA] += 1
    j = alloc_job(S, b)
    S.JB[b, L.JB_BLOCK, j] = -1
    S.JB[b, L.JB_REQ, j] = r
    S.JB[b, L.JB_T, j] = now
    dq_push(S, b, j)


@njit(cache=True)
def apply_cluster(M, S, b, WL, j, h):
    r = S.JB[b, L.JB_REQ, j]
    S.RQ[b, L.RQ_HOME, r] = h
    S.RES[b, L.RES_HOME, S.RQ[b, L.RQ_UID, r]] = h
    f = alloc_frame(S, b, FR_ROOT, -1, r, 1)
    free_job(S, b, j)
    w = S.RQ[b, L.RQ_WF, r]
    wl_push(WL, f, M.wf_entry[w], h, 0, uint64(ROOT_LIN))
    flush(M, S, b, WL)


@njit(cache=True)
def init_member(M, S, b):
    """Schedule the first arrival (and epoch) of a freshly laid-out member."""
    t = next_arrival_time(M, S, b, 0)
    heap_push(S, b, t, EV_ARRIVAL, 0)
    if M.MI[L.MI_EPOCH] > 0:
        heap_push(S, b, M.MI[L.MI_EPOCH], EV_EPOCH, 0)


@njit(cache=True)
def _capacity_ok(M, S, b):
    return (S.SC[b, L.SC_FR_NFREE] >= M.MI[L.MI_MARGIN] and S.SC[b, L.SC_JB_NFREE] >= M.MI[L.MI_MARGIN] and S.SC[b, L.SC_RQ_NFREE] >= 1
            and S.SC[b, L.SC_HP_N] + M.MI[L.MI_MARGIN] <= S.HP.shape[2])


@njit(cache=True)
def run_member(M, S, b, pol, ext_cluster, ext_tbu, until, action):
    WL = make_worklist(M)
    if S.SC[b, L.SC_DEC_KIND] != DEC_NONE:
        if action == NO_ACTION:
            return ST_DECISION
        j = S.SC[b, L.SC_DQ_HEAD]
        if S.SC[b, L.SC_DEC_KIND] == DEC_CLUSTER:
            h = action
            if h < 0 or h >= M.MI[L.MI_C]:
                S.SC[b, L.SC_N_INVALID] += 1
                h = decide_cluster(M, S, b, j, pol)
            dq_pop(S, b)
            apply_cluster(M, S, b, WL, j, h)
        else:
            c = S.RQ[b, L.RQ_HOME, S.JB[b, L.JB_REQ, j]]
            u = action
            if u < 0 or u >= M.MI[L.MI_T] or S.TB[b, L.TB_QL, u] >= M.MI[L.MI_QCAP]:
                S.SC[b, L.SC_N_INVALID] += 1
                u = least_loaded_tbu(M, S, b, c)
            dq_pop(S, b)
            enqueue(M, S, b, j, u)
        S.SC[b, L.SC_DEC_KIND] = DEC_NONE
        S.SC[b, L.SC_DEC_JOB] = -1
    while True:
        while S.SC[b, L.SC_DQ_LEN] > 0:
            if not _capacity_ok(M, S, b):
                return ST_GROW
            j = S.SC[b, L.SC_DQ_HEAD]
            if S.JB[b, L.JB_BLOCK, j] < 0:
                if ext_cluster:
                    S.SC[b, L.SC_DEC_KIND] = DEC_CLUSTER
                    S.SC[b, L.SC_DEC_JOB] = j
                    return ST_DECISION
                h = decide_cluster(M, S, b, j, pol)
                dq_pop(S, b)
                apply_cluster(M, S, b, WL, j, h)
            else:
                c = S.RQ[b, L.RQ_HOME, S.JB[b, L.JB_REQ, j]]
                if not cluster_has_space(M, S, b, c):
                    dq_pop(S, b)
                    bl_push(M, S, b, c, j)
                    continue
                if ext_tbu:
                    S.SC[b, L.SC_DEC_KIND] = DEC_TBU
                    S.SC[b, L.SC_DEC_JOB] = j
                    return ST_DECISION
                u = decide_tbu(M, S, b, j, pol)
                dq_pop(S, b)
                if u < 0:
                    bl_push(M, S, b, c, j)
                else:
                    if u >= M.MI[L.MI_T] or S.TB[b, L.TB_QL, u] >= M.MI[L.MI_QCAP]:
                        S.SC[b, L.SC_N_INVALID] += 1
                        u = least_loaded_tbu(M, S, b, c)
                    enqueue(M, S, b, j, u)
        if S.SC[b, L.SC_ND] >= M.MI[L.MI_N_REQUESTS]:
            return ST_DONE
        if S.SC[b, L.SC_HP_N] == 0:
            return ST_STALLED
        if S.HP[b, L.HP_T, 0] > until:
            return ST_TIME
        if not _capacity_ok(M, S, b):
            return ST_GROW
        t, kind, data = heap_pop(S, b)
        S.SC[b, L.SC_NOW] = t
        S.SC[b, L.SC_N_EVENTS] += 1
        if kind == EV_TB_DONE:
            on_tb_done(M, S, b, WL, data, pol)
        elif kind == EV_CB_DONE:
            on_cb_done(M, S, b, WL, data)
        elif kind == EV_TBU_FREE:
            on_tbu_free(M, S, b, data, pol)
        elif kind == EV_ARRIVAL:
            on_arrival(M, S, b, data)
        else:
            on_epoch(M, S, b, pol)
            if S.SC[b, L.SC_ND] < M.MI[L.MI_N_REQUESTS]:
                heap_push(S, b, t + M.MI[L.MI_EPOCH], EV_EPOCH, 0)


@njit(cache=True)
def run_batch(M, S, pol, ext_cluster, ext_tbu, until, actions, active):
    """Advance every active member; returns nothing (statuses are written to ``S.status``)."""
    for b in range(S.SC.shape[0]):
        if active[b]:
            S.SC[b, L.SC_STATUS] = run_member(M, S, b, pol, ext_cluster, ext_tbu, until, actions[b])


__all__ = ["FORK", "NO_ACTION", "ST_DONE", "ST_GROW", "ST_TIME", "init_member", "run_batch",
           "run_member"]
