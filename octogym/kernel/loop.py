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
    n = 4 * M.margin + 64
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
    S.fr_live[b, f] += 1
    wl_push(WL, f, M.succ_dst[fi], org, M.succ_bytes[fi], lin_next(lin, fi))


@njit(cache=True)
def consume(M, S, b, WL, f, org):
    """A token of frame ``f`` ends (its data last seen at cluster ``org``); finish frames
    whose last token this was: a copy reports to its group, a finished group sends the map's
    continuation token, a finished root completes the request."""
    S.fr_org[b, f] = org
    S.fr_live[b, f] -= 1
    while S.fr_live[b, f] == 0:
        kind = S.fr_kind[b, f]
        if kind == FR_ROOT:
            r = S.fr_req[b, f]
            uid = S.rq_uid[b, r]
            S.res_done[b, uid] = S.now[b]
            S.nd[b] += 1
            S.t_end[b] = S.now[b]
            S.rq_free[b, S.rq_nfree[b]] = r
            S.rq_nfree[b] += 1
            free_frame(S, b, f)
            return
        p = S.fr_parent[b, f]
        o = S.fr_org[b, f]
        if kind == FR_GROUP:
            m = S.fr_map[b, f]
            lin = S.fr_lin[b, f]
            for fi in range(M.succ_ptr[m], M.succ_ptr[m + 1]):
                emit_flow(M, S, b, WL, p, fi, o, lin)
        free_frame(S, b, f)
        S.fr_org[b, p] = o
        S.fr_live[b, p] -= 1
        f = p


@njit(cache=True)
def cb_job(M, S, b, f, x, org, nbytes, lin):
    r = S.fr_req[b, f]
    j = alloc_job(S, b)
    S.jb_req[b, j] = r
    S.jb_frame[b, j] = f
    S.jb_block[b, j] = x
    S.jb_lin[b, j] = lin
    S.jb_org[b, j] = org
    S.jb_bytes[b, j] = nbytes
    S.jb_t[b, j] = S.now[b]
    h = S.rq_home[b, r]
    start = S.now[b] if S.now[b] > S.cbu_free[b, h] else S.cbu_free[b, h]
    end = start + M.blk_cost[x]
    S.cbu_free[b, h] = end
    S.acc_cbu[b, h] += M.blk_cost[x]
    heap_push(S, b, end, EV_CB_DONE, j)


@njit(cache=True)
def deliver(M, S, b, WL, f, x, org, nbytes, lin):
    t = M.blk_type[x]
    if t == TASK:
        r = S.fr_req[b, f]
        j = alloc_job(S, b)
        S.jb_req[b, j] = r
        S.jb_frame[b, j] = f
        S.jb_block[b, j] = x
        S.jb_lin[b, j] = lin
        S.jb_org[b, j] = org
        S.jb_bytes[b, j] = nbytes
        S.jb_t[b, j] = S.now[b]
        uid = S.rq_uid[b, r]
        u1 = u01(S.seed[b], uid, lin, S_DURATION)
        u2 = u01(S.seed[b], uid, lin, S_DURATION2)
        S.jb_dur[b, j] = sample_duration(M.dur_code[x], M.dur_p[x, 0], M.dur_p[x, 1],
                                         M.dur_p[x, 2], M.emp, M.dur_emp_off[x],
                                         M.dur_emp_len[x], u1, u2)
        S.n_tb_created[b] += 1
        S.st_dem[b, S.rq_home[b, r], M.blk_cfg[x]] += 1
        dq_push(S, b, j)
    elif t == JOIN:
        s = M.blk_join_slot[x]
        S.fr_jc[b, f, s] += 1
        S.fr_jx[b, f, s] ^= uint64(lin)
        if S.fr_jc[b, f, s] == M.blk_indeg[x]:
            nl = mix64(S.fr_jx[b, f, s] ^ uint64(JOIN_SALT))
            S.fr_jc[b, f, s] = 0
            S.fr_jx[b, f, s] = uint64(0)
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
    x = S.jb_block[b, j]
    f = S.jb_frame[b, j]
    r = S.jb_req[b, j]
    org = S.jb_org[b, j]
    lin = S.jb_lin[b, j]
    nbytes = S.jb_bytes[b, j]
    uid = S.rq_uid[b, r]
    home = S.rq_home[b, r]
    row = S.rq_row[b, r]
    t = M.blk_type[x]
    S.st_exec[b, home, x] += 1
    S.n_cb_done[b] += 1
    lo, hi = M.succ_ptr[x], M.succ_ptr[x + 1]
    if t == BRANCH:
        u = u01(S.seed[b], uid, lin, S_BRANCH)
        acc = 0.0
        chosen = -1
        for fi in range(lo, hi):
            p = M.flow_prob[row, fi]
            if p > 0.0:
                chosen = fi
                acc += p
                if u < acc:
                    break
        S.st_flow[b, home, chosen] += 1
        emit_flow(M, S, b, WL, f, chosen, org, lin)
    elif t == MAP:
        n = sample_count(M.cnt_code[row, x], M.cnt_p[row, x], M.emp, M.cnt_emp_off[row, x],
                         M.cnt_emp_len[row, x], u01(S.seed[b], uid, lin, S_COUNT), M.maxmap)
        S.st_sum[b, home, x] += n
        if n == 0:
            for fi in range(lo, hi):
                emit_flow(M, S, b, WL, f, fi, org, lin)
        else:
            g = alloc_frame(S, b, FR_GROUP, f, r, n)
            S.fr_map[b, g] = x
            S.fr_org[b, g] = org
            S.fr_lin[b, g] = lin
            S.fr_live[b, f] += 1
            body = M.blk_body[x]
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
    u = S.jb_tbu[b, j]
    c = M.tbu_cluster[u]
    dequeue_head(M, S, b, u)
    S.tb_state[b, u] = TBU_IDLE
    S.tb_runs[b, u] += 1
    S.n_tb_done[b] += 1
    S.tb_idle[b, u] = S.now[b]
    x = S.jb_block[b, j]
    f = S.jb_frame[b, j]
    lin = S.jb_lin[b, j]
    for fi in range(M.succ_ptr[x], M.succ_ptr[x + 1]):
        emit_flow(M, S, b, WL, f, fi, c, lin)
    free_job(S, b, j)
    consume(M, S, b, WL, f, c)
    flush(M, S, b, WL)
    bl_release(M, S, b, c)
    if S.tb_ql[b, u] > 0:
        start_next(M, S, b, u)
    else:
        on_idle(M, S, b, u, pol)


@njit(cache=True)
def on_tbu_free(M, S, b, u, pol):
    S.tb_state[b, u] = TBU_IDLE
    S.tb_idle[b, u] = S.now[b]
    if S.tb_ql[b, u] > 0:
        start_next(M, S, b, u)
    else:
        on_idle(M, S, b, u, pol)


@njit(cache=True)
def next_arrival_time(M, S, b, n):
    if M.arr_mode == ARR_POISSON:
        u = u01(S.seed[b], n, 0, S_ARRIVAL)
        S.arr_clock[b] += -math.log(1.0 - u) / M.rate
        return int(math.floor(S.arr_clock[b]))
    if M.arr_mode == ARR_CLOSED:
        return 0
    return M.trace_t[n]


@njit(cache=True)
def on_arrival(M, S, b, n):
    now = S.now[b]
    if n + 1 < M.n_requests:
        t = next_arrival_time(M, S, b, n + 1)
        heap_push(S, b, t if t > now else now, EV_ARRIVAL, n + 1)
    S.rq_nfree[b] -= 1
    r = S.rq_free[b, S.rq_nfree[b]]
    S.rq_uid[b, r] = n
    if M.arr_mode == 2:
        w = M.trace_w[n]
    else:
        u = u01(S.seed[b], n, 0, S_WORKFLOW)
        w = 0
        while w < M.wf_cdf.shape[0] - 1 and u >= M.wf_cdf[w]:
            w += 1
    S.rq_wf[b, r] = w
    S.rq_home[b, r] = -1
    row = M.wf_phase_off[w]
    for k in range(M.wf_phase_off[w] + 1, M.wf_phase_off[w + 1]):
        ar = M.phase_after_req[k]
        ac = M.phase_after_cyc[k]
        if (ar >= 0 and n >= ar) or (ac >= 0 and now >= ac):
            row = k
    S.rq_row[b, r] = row
    S.res_arr[b, n] = now
    S.res_wf[b, n] = w
    S.na[b] += 1
    j = alloc_job(S, b)
    S.jb_block[b, j] = -1
    S.jb_req[b, j] = r
    S.jb_t[b, j] = now
    dq_push(S, b, j)


@njit(cache=True)
def apply_cluster(M, S, b, WL, j, h):
    r = S.jb_req[b, j]
    S.rq_home[b, r] = h
    S.res_home[b, S.rq_uid[b, r]] = h
    f = alloc_frame(S, b, FR_ROOT, -1, r, 1)
    free_job(S, b, j)
    w = S.rq_wf[b, r]
    wl_push(WL, f, M.wf_entry[w], h, 0, uint64(ROOT_LIN))
    flush(M, S, b, WL)


@njit(cache=True)
def init_member(M, S, b):
    """Schedule the first arrival (and epoch) of a freshly laid-out member."""
    t = next_arrival_time(M, S, b, 0)
    heap_push(S, b, t, EV_ARRIVAL, 0)
    if M.epoch > 0:
        heap_push(S, b, M.epoch, EV_EPOCH, 0)


@njit(cache=True)
def _capacity_ok(M, S, b):
    return (S.fr_nfree[b] >= M.margin and S.jb_nfree[b] >= M.margin and S.rq_nfree[b] >= 1
            and S.hp_n[b] + M.margin <= S.hp_t.shape[1])


@njit(cache=True)
def run_member(M, S, b, pol, ext_cluster, ext_tbu, until, action):
    WL = make_worklist(M)
    if S.dec_kind[b] != DEC_NONE:
        if action == NO_ACTION:
            return ST_DECISION
        j = S.dq_head[b]
        if S.dec_kind[b] == DEC_CLUSTER:
            h = action
            if h < 0 or h >= M.C:
                S.n_invalid[b] += 1
                h = decide_cluster(M, S, b, j, pol)
            dq_pop(S, b)
            apply_cluster(M, S, b, WL, j, h)
        else:
            c = S.rq_home[b, S.jb_req[b, j]]
            u = action
            if u < 0 or u >= M.T or S.tb_ql[b, u] >= M.qcap:
                S.n_invalid[b] += 1
                u = least_loaded_tbu(M, S, b, c)
            dq_pop(S, b)
            enqueue(M, S, b, j, u)
        S.dec_kind[b] = DEC_NONE
        S.dec_job[b] = -1
    while True:
        while S.dq_len[b] > 0:
            if not _capacity_ok(M, S, b):
                return ST_GROW
            j = S.dq_head[b]
            if S.jb_block[b, j] < 0:
                if ext_cluster:
                    S.dec_kind[b] = DEC_CLUSTER
                    S.dec_job[b] = j
                    return ST_DECISION
                h = decide_cluster(M, S, b, j, pol)
                dq_pop(S, b)
                apply_cluster(M, S, b, WL, j, h)
            else:
                c = S.rq_home[b, S.jb_req[b, j]]
                if not cluster_has_space(M, S, b, c):
                    dq_pop(S, b)
                    bl_push(M, S, b, c, j)
                    continue
                if ext_tbu:
                    S.dec_kind[b] = DEC_TBU
                    S.dec_job[b] = j
                    return ST_DECISION
                u = decide_tbu(M, S, b, j, pol)
                dq_pop(S, b)
                if u < 0:
                    bl_push(M, S, b, c, j)
                else:
                    if u >= M.T or S.tb_ql[b, u] >= M.qcap:
                        S.n_invalid[b] += 1
                        u = least_loaded_tbu(M, S, b, c)
                    enqueue(M, S, b, j, u)
        if S.nd[b] >= M.n_requests:
            return ST_DONE
        if S.hp_n[b] == 0:
            return ST_STALLED
        if S.hp_t[b, 0] > until:
            return ST_TIME
        if not _capacity_ok(M, S, b):
            return ST_GROW
        t, kind, data = heap_pop(S, b)
        S.now[b] = t
        S.n_events[b] += 1
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
            if S.nd[b] < M.n_requests:
                heap_push(S, b, t + M.epoch, EV_EPOCH, 0)


@njit(cache=True)
def run_batch(M, S, pol, ext_cluster, ext_tbu, until, actions, active):
    """Advance every active member; returns nothing (statuses are written to ``S.status``)."""
    for b in range(S.now.shape[0]):
        if active[b]:
            S.status[b] = run_member(M, S, b, pol, ext_cluster, ext_tbu, until, actions[b])


__all__ = ["FORK", "NO_ACTION", "ST_DONE", "ST_GROW", "ST_TIME", "init_member", "run_batch",
           "run_member"]
