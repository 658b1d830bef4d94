"""Compiled mechanisms of the kernel: event heap, pools, lists, TBU queues, accounting, and the
commands schedulers use (assign, reconfigure ahead of need, migrate, steal).

Every function works on one batch member ``b`` of ``S`` (State) under ``M`` (Model).
"""

from __future__ import annotations

from numba import njit, uint64

from octogym.kernel.layout import (
    EV_TB_DONE,
    EV_TBU_FREE,
    KIND_SHIFT,
    TBU_IDLE,
    TBU_RECONF,
    TBU_RUN,
)

# ---- event heap: ordered by (time, kind, sequence) ----------------------------------------


@njit(cache=True)
def _less(S, b, i, j):
    ti, tj = S.hp_t[b, i], S.hp_t[b, j]
    return ti < tj or (ti == tj and S.hp_k[b, i] < S.hp_k[b, j])


@njit(cache=True)
def _swap(S, b, i, j):
    S.hp_t[b, i], S.hp_t[b, j] = S.hp_t[b, j], S.hp_t[b, i]
    S.hp_k[b, i], S.hp_k[b, j] = S.hp_k[b, j], S.hp_k[b, i]
    S.hp_d[b, i], S.hp_d[b, j] = S.hp_d[b, j], S.hp_d[b, i]


@njit(cache=True)
def heap_push(S, b, t, kind, data):
    i = S.hp_n[b]
    S.hp_t[b, i] = t
    S.hp_k[b, i] = (kind << KIND_SHIFT) | S.seq[b]
    S.hp_d[b, i] = data
    S.seq[b] += 1
    S.hp_n[b] = i + 1
    while i > 0:
        p = (i - 1) >> 1
        if _less(S, b, i, p):
            _swap(S, b, i, p)
            i = p
        else:
            break


@njit(cache=True)
def heap_pop(S, b):
    """Remove the earliest event; returns (time, kind, data)."""
    t = S.hp_t[b, 0]
    kind = S.hp_k[b, 0] >> KIND_SHIFT
    data = S.hp_d[b, 0]
    n = S.hp_n[b] - 1
    S.hp_n[b] = n
    if n > 0:
        S.hp_t[b, 0] = S.hp_t[b, n]
        S.hp_k[b, 0] = S.hp_k[b, n]
        S.hp_d[b, 0] = S.hp_d[b, n]
        i = 0
        while True:
            l = 2 * i + 1
            if l >= n:
                break
            m = l
            r = l + 1
            if r < n and _less(S, b, r, l):
                m = r
            if _less(S, b, m, i):
                _swap(S, b, m, i)
                i = m
            else:
                break
    return t, kind, data


# ---- pools ----------------------------------------------------------------------------------


@njit(cache=True)
def alloc_job(S, b):
    S.jb_nfree[b] -= 1
    j = S.jb_free[b, S.jb_nfree[b]]
    S.jb_next[b, j] = -1
    S.jb_tbu[b, j] = -1
    return j


@njit(cache=True)
def free_job(S, b, j):
    S.jb_free[b, S.jb_nfree[b]] = j
    S.jb_nfree[b] += 1


@njit(cache=True)
def alloc_frame(S, b, kind, parent, req, live):
    S.fr_nfree[b] -= 1
    f = S.fr_free[b, S.fr_nfree[b]]
    S.fr_kind[b, f] = kind
    S.fr_parent[b, f] = parent
    S.fr_req[b, f] = req
    S.fr_live[b, f] = live
    S.fr_map[b, f] = -1
    S.fr_org[b, f] = -1
    S.fr_lin[b, f] = uint64(0)
    for k in range(S.fr_jc.shape[2]):
        S.fr_jc[b, f, k] = 0
        S.fr_jx[b, f, k] = uint64(0)
    return f


@njit(cache=True)
def free_frame(S, b, f):
    S.fr_free[b, S.fr_nfree[b]] = f
    S.fr_nfree[b] += 1


# ---- decision queue and per-cluster backlog (linked lists through jb_next) -----------------


@njit(cache=True)
def dq_push(S, b, j):
    S.jb_next[b, j] = -1
    if S.dq_len[b] == 0:
        S.dq_head[b] = j
    else:
        S.jb_next[b, S.dq_tail[b]] = j
    S.dq_tail[b] = j
    S.dq_len[b] += 1


@njit(cache=True)
def dq_pop(S, b):
    j = S.dq_head[b]
    S.dq_head[b] = S.jb_next[b, j]
    S.dq_len[b] -= 1
    S.jb_next[b, j] = -1
    return j


@njit(cache=True)
def _idle_close_cluster(M, S, b, c):
    """Close the open idle segment of every idle TBU of cluster ``c`` (before the backlog
    changes between empty and non-empty, which changes starved <-> blocked)."""
    for u in range(c * M.K, (c + 1) * M.K):
        idle_close(S, b, u, c)


@njit(cache=True)
def idle_close(S, b, u, c):
    """Account the open idle segment of TBU ``u`` up to now (starved, or blocked while its
    cluster has a backlog) and restart it at now. Idle = not running or reconfiguring."""
    if S.tb_state[b, u] == TBU_IDLE:
        dt = S.now[b] - S.tb_idle[b, u]
        if S.bl_len[b, c] > 0:
            S.acc_blocked[b, u] += dt
        else:
            S.acc_starved[b, u] += dt
        S.tb_idle[b, u] = S.now[b]


@njit(cache=True)
def bl_push(M, S, b, c, j):
    """Park job ``j`` in cluster ``c``'s backlog (no TBU can or may take it now)."""
    if S.bl_len[b, c] == 0:
        _idle_close_cluster(M, S, b, c)
        S.bl_head[b, c] = j
    else:
        S.jb_next[b, S.bl_tail[b, c]] = j
    S.jb_next[b, j] = -1
    S.bl_tail[b, c] = j
    S.bl_len[b, c] += 1


@njit(cache=True)
def bl_release(M, S, b, c):
    """A queue slot freed in cluster ``c``: offer its whole backlog again, in order."""
    if S.bl_len[b, c] == 0:
        return
    _idle_close_cluster(M, S, b, c)
    j = S.bl_head[b, c]
    while j != -1:
        nxt = S.jb_next[b, j]
        dq_push(S, b, j)
        j = nxt
    S.bl_len[b, c] = 0
    S.bl_head[b, c] = -1
    S.bl_tail[b, c] = -1


# ---- transfers --------------------------------------------------------------------------------


@njit(cache=True)
def transfer(M, src, dst, nbytes):
    """Cycles to move ``nbytes`` from cluster ``src`` to ``dst`` (DESIGN §3; no contention)."""
    if src == dst:
        if M.local_bw <= 0:
            return 0
        return (nbytes + M.local_bw - 1) // M.local_bw
    return M.latency[src, dst] + (nbytes + M.link_bw - 1) // M.link_bw


# ---- TBU queues -------------------------------------------------------------------------------


@njit(cache=True)
def has_space(M, S, b, u):
    return S.tb_ql[b, u] < M.qcap


@njit(cache=True)
def cluster_has_space(M, S, b, c):
    for u in range(c * M.K, (c + 1) * M.K):
        if S.tb_ql[b, u] < M.qcap:
            return True
    return False


@njit(cache=True)
def start_next(M, S, b, u):
    """An idle TBU with a non-empty queue starts its head job: reconfigure if needed, wait for
    the input data, run. The whole span is known now, so it is accounted now."""
    c = M.tbu_cluster[u]
    idle_close(S, b, u, c)
    j = S.tb_q[b, u, S.tb_qh[b, u]]
    blk = S.jb_block[b, j]
    cfg = M.blk_cfg[blk]
    now = S.now[b]
    r = 0
    if S.tb_cfg[b, u] != cfg:
        r = M.reconf
        S.tb_cfg[b, u] = cfg
        S.n_reconf[b] += 1
    s0 = now + r
    begin = s0 if s0 > S.jb_data[b, j] else S.jb_data[b, j]
    end = begin + S.jb_dur[b, j]
    S.acc_reconf[b, u] += r
    S.acc_wait[b, u] += begin - s0
    S.acc_busy[b, u] += S.jb_dur[b, j]
    S.tb_state[b, u] = TBU_RUN
    S.tb_end[b, u] = end
    heap_push(S, b, end, EV_TB_DONE, j)
    k = S.tr_n[b]
    if k < M.trace_cap:
        S.tr_uid[b, k] = S.rq_uid[b, S.jb_req[b, j]]
        S.tr_blk[b, k] = blk
        S.tr_tbu[b, k] = u
        S.tr_ready[b, k] = S.jb_t[b, j]
        S.tr_start[b, k] = begin
        S.tr_end[b, k] = end
        S.tr_n[b] = k + 1


@njit(cache=True)
def enqueue(M, S, b, j, u):
    """Put job ``j`` at the tail of TBU ``u``'s queue; its input data starts moving now."""
    c = M.tbu_cluster[u]
    blk = S.jb_block[b, j]
    S.jb_tbu[b, j] = u
    nbytes = S.jb_bytes[b, j]
    org = S.jb_org[b, j]
    S.jb_data[b, j] = S.now[b] + transfer(M, org, c, nbytes)
    S.byte_hops[b] += nbytes * M.hops[org, c]
    q = M.qcap
    S.tb_q[b, u, (S.tb_qh[b, u] + S.tb_ql[b, u]) % q] = j
    S.tb_ql[b, u] += 1
    S.cl_q[b, c] += 1
    S.tb_est[b, u] += M.dur_mean[blk]
    if S.tb_state[b, u] == TBU_IDLE:
        start_next(M, S, b, u)


@njit(cache=True)
def dequeue_head(M, S, b, u):
    j = S.tb_q[b, u, S.tb_qh[b, u]]
    S.tb_qh[b, u] = (S.tb_qh[b, u] + 1) % M.qcap
    S.tb_ql[b, u] -= 1
    S.cl_q[b, M.tbu_cluster[u]] -= 1
    S.tb_est[b, u] -= M.dur_mean[S.jb_block[b, j]]
    if S.tb_ql[b, u] == 0:
        S.tb_est[b, u] = 0.0  # clear round-off
    return j


@njit(cache=True)
def queued_movable(S, b, u):
    """Number of queued jobs of TBU ``u`` that have not started (movable by migrate/steal)."""
    n = S.tb_ql[b, u]
    if S.tb_state[b, u] == TBU_RUN:
        n -= 1
    return n


@njit(cache=True)
def migrate(M, S, b, u, pos, v):
    """Move the not-yet-started job at queue position ``pos`` of TBU ``u`` to the tail of TBU
    ``v`` (which must have space); its data moves again from its origin, paying the transfer.
    Returns True if done. Position 0 is the head; it is movable only if ``u`` is not running."""
    n = S.tb_ql[b, u]
    first = 1 if S.tb_state[b, u] == TBU_RUN else 0
    if pos < first or pos >= n or u == v or not has_space(M, S, b, v):
        return False
    q = M.qcap
    h = S.tb_qh[b, u]
    j = S.tb_q[b, u, (h + pos) % q]
    for k in range(pos, n - 1):
        S.tb_q[b, u, (h + k) % q] = S.tb_q[b, u, (h + k + 1) % q]
    S.tb_ql[b, u] = n - 1
    S.cl_q[b, M.tbu_cluster[u]] -= 1
    S.tb_est[b, u] -= M.dur_mean[S.jb_block[b, j]]
    if S.tb_ql[b, u] == 0:
        S.tb_est[b, u] = 0.0
        if S.tb_state[b, u] == TBU_IDLE:
            S.tb_idle[b, u] = S.now[b]
    S.n_migrations[b] += 1
    enqueue(M, S, b, j, v)
    return True


@njit(cache=True)
def steal(M, S, b, thief, victim):
    """Idle TBU ``thief`` takes the last not-yet-started job of ``victim``."""
    if queued_movable(S, b, victim) <= 0:
        return False
    ok = migrate(M, S, b, victim, S.tb_ql[b, victim] - 1, thief)
    if ok:
        S.n_steals[b] += 1
        S.n_migrations[b] -= 1
    return ok


@njit(cache=True)
def reconfigure(M, S, b, u, cfg):
    """Command: reconfigure an idle, empty TBU to ``cfg`` ahead of need (costs reconf cycles).
    Returns True if started; a busy TBU or one already holding ``cfg`` is left alone."""
    if S.tb_state[b, u] != TBU_IDLE or S.tb_ql[b, u] != 0 or S.tb_cfg[b, u] == cfg:
        return False
    idle_close(S, b, u, M.tbu_cluster[u])
    S.tb_state[b, u] = TBU_RECONF
    S.tb_cfg[b, u] = cfg
    S.n_reconf[b] += 1
    S.acc_reconf[b, u] += M.reconf
    S.tb_end[b, u] = S.now[b] + M.reconf
    heap_push(S, b, S.now[b] + M.reconf, EV_TBU_FREE, u)
    return True


@njit(cache=True)
def est_finish(M, S, b, u, blk):
    """Estimated cycles from now until TBU ``u`` would finish a new job of block ``blk``:
    queued expected work + reconfiguration if its config differs + transfer is added by the
    caller. Uses expected durations only (a scheduler does not know the drawn ones)."""
    w = S.tb_est[b, u]
    last_cfg = S.tb_cfg[b, u]
    if S.tb_ql[b, u] > 0:
        q = M.qcap
        lj = S.tb_q[b, u, (S.tb_qh[b, u] + S.tb_ql[b, u] - 1) % q]
        last_cfg = M.blk_cfg[S.jb_block[b, lj]]
    if last_cfg != M.blk_cfg[blk]:
        w += M.reconf
    return w + M.dur_mean[blk]
