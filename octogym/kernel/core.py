"""Compiled mechanisms of the kernel: event heap, pools, lists, TBU queues, accounting, and the
commands schedulers use (assign, reconfigure ahead of need, migrate, steal).

Every function works on one batch member ``b`` of ``S`` (State) under ``M`` (Model).
"""

from __future__ import annotations

from octogym.kernel import layout as L
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
    ti, tj = S.HP[b, L.HP_T, i], S.HP[b, L.HP_T, j]
    return ti < tj or (ti == tj and S.HP[b, L.HP_K, i] < S.HP[b, L.HP_K, j])


@njit(cache=True)
def _swap(S, b, i, j):
    S.HP[b, L.HP_T, i], S.HP[b, L.HP_T, j] = S.HP[b, L.HP_T, j], S.HP[b, L.HP_T, i]
    S.HP[b, L.HP_K, i], S.HP[b, L.HP_K, j] = S.HP[b, L.HP_K, j], S.HP[b, L.HP_K, i]
    S.HP[b, L.HP_D, i], S.HP[b, L.HP_D, j] = S.HP[b, L.HP_D, j], S.HP[b, L.HP_D, i]


@njit(cache=True)
def heap_push(S, b, t, kind, data):
    i = S.SC[b, L.SC_HP_N]
    S.HP[b, L.HP_T, i] = t
    S.HP[b, L.HP_K, i] = (kind << KIND_SHIFT) | S.SC[b, L.SC_SEQ]
    S.HP[b, L.HP_D, i] = data
    S.SC[b, L.SC_SEQ] += 1
    S.SC[b, L.SC_HP_N] = i + 1
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
    t = S.HP[b, L.HP_T, 0]
    kind = S.HP[b, L.HP_K, 0] >> KIND_SHIFT
    data = S.HP[b, L.HP_D, 0]
    n = S.SC[b, L.SC_HP_N] - 1
    S.SC[b, L.SC_HP_N] = n
    if n > 0:
        S.HP[b, L.HP_T, 0] = S.HP[b, L.HP_T, n]
        S.HP[b, L.HP_K, 0] = S.HP[b, L.HP_K, n]
        S.HP[b, L.HP_D, 0] = S.HP[b, L.HP_D, n]
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
    S.SC[b, L.SC_JB_NFREE] -= 1
    j = S.JB[b, L.JB_FREE, S.SC[b, L.SC_JB_NFREE]]
    S.JB[b, L.JB_NEXT, j] = -1
    S.JB[b, L.JB_TBU, j] = -1
    return j


@njit(cache=True)
def free_job(S, b, j):
    S.JB[b, L.JB_FREE, S.SC[b, L.SC_JB_NFREE]] = j
    S.SC[b, L.SC_JB_NFREE] += 1


@njit(cache=True)
def alloc_frame(S, b, kind, parent, req, live):
    S.SC[b, L.SC_FR_NFREE] -= 1
    f = S.FR[b, L.FR_FREE, S.SC[b, L.SC_FR_NFREE]]
    S.FR[b, L.FR_KIND, f] = kind
    S.FR[b, L.FR_PARENT, f] = parent
    S.FR[b, L.FR_REQ, f] = req
    S.FR[b, L.FR_LIVE, f] = live
    S.FR[b, L.FR_MAP, f] = -1
    S.FR[b, L.FR_ORG, f] = -1
    S.FRU[b, f] = uint64(0)
    for k in range(S.FJC.shape[2]):
        S.FJC[b, f, k] = 0
        S.FJX[b, f, k] = uint64(0)
    return f


@njit(cache=True)
def free_frame(S, b, f):
    S.FR[b, L.FR_FREE, S.SC[b, L.SC_FR_NFREE]] = f
    S.SC[b, L.SC_FR_NFREE] += 1


# ---- decision queue and per-cluster backlog (linked lists through jb_next) -----------------


@njit(cache=True)
def dq_push(S, b, j):
    S.JB[b, L.JB_NEXT, j] = -1
    if S.SC[b, L.SC_DQ_LEN] == 0:
        S.SC[b, L.SC_DQ_HEAD] = j
    else:
        S.JB[b, L.JB_NEXT, S.SC[b, L.SC_DQ_TAIL]] = j
    S.SC[b, L.SC_DQ_TAIL] = j
    S.SC[b, L.SC_DQ_LEN] += 1


@njit(cache=True)
def dq_pop(S, b):
    j = S.SC[b, L.SC_DQ_HEAD]
    S.SC[b, L.SC_DQ_HEAD] = S.JB[b, L.JB_NEXT, j]
    S.SC[b, L.SC_DQ_LEN] -= 1
    S.JB[b, L.JB_NEXT, j] = -1
    return j


@njit(cache=True)
def _idle_close_cluster(M, S, b, c):
    """Close the open idle segment of every idle TBU of cluster ``c`` (before the backlog
    changes between empty and non-empty, which changes starved <-> blocked)."""
    for u in range(c * M.MI[L.MI_K], (c + 1) * M.MI[L.MI_K]):
        idle_close(S, b, u, c)


@njit(cache=True)
def idle_close(S, b, u, c):
    """Account the open idle segment of TBU ``u`` up to now (starved, or blocked while its
    cluster has a backlog) and restart it at now. Idle = not running or reconfiguring."""
    if S.TB[b, L.TB_STATE, u] == TBU_IDLE:
        dt = S.SC[b, L.SC_NOW] - S.TB[b, L.TB_IDLE, u]
        if S.CL[b, L.CL_BL_LEN, c] > 0:
            S.TB[b, L.TB_ACC_BLOCKED, u] += dt
        else:
            S.TB[b, L.TB_ACC_STARVED, u] += dt
        S.TB[b, L.TB_IDLE, u] = S.SC[b, L.SC_NOW]


@njit(cache=True)
def bl_push(M, S, b, c, j):
    """Park job ``j`` in cluster ``c``'s backlog (no TBU can or may take it now)."""
    if S.CL[b, L.CL_BL_LEN, c] == 0:
        _idle_close_cluster(M, S, b, c)
        S.CL[b, L.CL_BL_HEAD, c] = j
    else:
        S.JB[b, L.JB_NEXT, S.CL[b, L.CL_BL_TAIL, c]] = j
    S.JB[b, L.JB_NEXT, j] = -1
    S.CL[b, L.CL_BL_TAIL, c] = j
    S.CL[b, L.CL_BL_LEN, c] += 1


@njit(cache=True)
def bl_release(M, S, b, c):
    """A queue slot freed in cluster ``c``: offer its whole backlog again, in order."""
    if S.CL[b, L.CL_BL_LEN, c] == 0:
        return
    _idle_close_cluster(M, S, b, c)
    j = S.CL[b, L.CL_BL_HEAD, c]
    while j != -1:
        nxt = S.JB[b, L.JB_NEXT, j]
        dq_push(S, b, j)
        j = nxt
    S.CL[b, L.CL_BL_LEN, c] = 0
    S.CL[b, L.CL_BL_HEAD, c] = -1
    S.CL[b, L.CL_BL_TAIL, c] = -1


# ---- transfers --------------------------------------------------------------------------------


@njit(cache=True)
def transfer(M, src, dst, nbytes):
    """Cycles to move ``nbytes`` from cluster ``src`` to ``dst`` (DESIGN §3; no contention)."""
    if src == dst:
        if M.MI[L.MI_LOCAL_BW] <= 0:
            return 0
        return (nbytes + M.MI[L.MI_LOCAL_BW] - 1) // M.MI[L.MI_LOCAL_BW]
    return M.HW2[L.HW2_LATENCY, src, dst] + (nbytes + M.MI[L.MI_LINK_BW] - 1) // M.MI[L.MI_LINK_BW]


# ---- TBU queues -------------------------------------------------------------------------------


@njit(cache=True)
def has_space(M, S, b, u):
    return S.TB[b, L.TB_QL, u] < M.MI[L.MI_QCAP]


@njit(cache=True)
def cluster_has_space(M, S, b, c):
    for u in range(c * M.MI[L.MI_K], (c + 1) * M.MI[L.MI_K]):
        if S.TB[b, L.TB_QL, u] < M.MI[L.MI_QCAP]:
            return True
    return False


@njit(cache=True)
def start_next(M, S, b, u):
    """An idle TBU with a non-empty queue starts its head job: reconfigure if needed, wait for
    the input data, run. The whole span is known now, so it is accounted now."""
    c = M.tbu_cluster[u]
    idle_close(S, b, u, c)
    j = S.TBQ[b, u, S.TB[b, L.TB_QH, u]]
    blk = S.JB[b, L.JB_BLOCK, j]
    cfg = M.MB[L.MB_BLK_CFG, blk]
    now = S.SC[b, L.SC_NOW]
    r = 0
    if S.TB[b, L.TB_CFG, u] != cfg:
        r = M.MI[L.MI_RECONF]
        S.TB[b, L.TB_CFG, u] = cfg
        S.SC[b, L.SC_N_RECONF] += 1
    s0 = now + r
    begin = s0 if s0 > S.JB[b, L.JB_DATA, j] else S.JB[b, L.JB_DATA, j]
    end = begin + S.JB[b, L.JB_DUR, j]
    S.TB[b, L.TB_ACC_RECONF, u] += r
    S.TB[b, L.TB_ACC_WAIT, u] += begin - s0
    S.TB[b, L.TB_ACC_BUSY, u] += S.JB[b, L.JB_DUR, j]
    S.TB[b, L.TB_STATE, u] = TBU_RUN
    S.TB[b, L.TB_END, u] = end
    heap_push(S, b, end, EV_TB_DONE, j)
    k = S.SC[b, L.SC_TR_N]
    if k < M.MI[L.MI_TRACE_CAP]:
        S.TR[b, L.TR_UID, k] = S.RQ[b, L.RQ_UID, S.JB[b, L.JB_REQ, j]]
        S.TR[b, L.TR_BLK, k] = blk
        S.TR[b, L.TR_TBU, k] = u
        S.TR[b, L.TR_READY, k] = S.JB[b, L.JB_T, j]
        S.TR[b, L.TR_START, k] = begin
        S.TR[b, L.TR_END, k] = end
        S.SC[b, L.SC_TR_N] = k + 1


@njit(cache=True)
def enqueue(M, S, b, j, u):
    """Put job ``j`` at the tail of TBU ``u``'s queue; its input data starts moving now."""
    c = M.tbu_cluster[u]
    blk = S.JB[b, L.JB_BLOCK, j]
    S.JB[b, L.JB_TBU, j] = u
    nbytes = S.JB[b, L.JB_BYTES, j]
    org = S.JB[b, L.JB_ORG, j]
    S.JB[b, L.JB_DATA, j] = S.SC[b, L.SC_NOW] + transfer(M, org, c, nbytes)
    S.SF[b, L.SF_BYTE_HOPS] += nbytes * M.HW2[L.HW2_HOPS, org, c]
    q = M.MI[L.MI_QCAP]
    S.TBQ[b, u, (S.TB[b, L.TB_QH, u] + S.TB[b, L.TB_QL, u]) % q] = j
    S.TB[b, L.TB_QL, u] += 1
    S.CL[b, L.CL_Q, c] += 1
    S.TBF[b, u] += M.dur_mean[blk]
    if S.TB[b, L.TB_STATE, u] == TBU_IDLE:
        start_next(M, S, b, u)


@njit(cache=True)
def dequeue_head(M, S, b, u):
    j = S.TBQ[b, u, S.TB[b, L.TB_QH, u]]
    S.TB[b, L.TB_QH, u] = (S.TB[b, L.TB_QH, u] + 1) % M.MI[L.MI_QCAP]
    S.TB[b, L.TB_QL, u] -= 1
    S.CL[b, L.CL_Q, M.tbu_cluster[u]] -= 1
    S.TBF[b, u] -= M.dur_mean[S.JB[b, L.JB_BLOCK, j]]
    if S.TB[b, L.TB_QL, u] == 0:
        S.TBF[b, u] = 0.0  # clear round-off
    return j


@njit(cache=True)
def queued_movable(S, b, u):
    """Number of queued jobs of TBU ``u`` that have not started (movable by migrate/steal)."""
    n = S.TB[b, L.TB_QL, u]
    if S.TB[b, L.TB_STATE, u] == TBU_RUN:
        n -= 1
    return n


@njit(cache=True)
def migrate(M, S, b, u, pos, v):
    """Move the not-yet-started job at queue position ``pos`` of TBU ``u`` to the tail of TBU
    ``v`` (which must have space); its data moves again from its origin, paying the transfer.
    Returns True if done. Position 0 is the head; it is movable only if ``u`` is not running."""
    n = S.TB[b, L.TB_QL, u]
    first = 1 if S.TB[b, L.TB_STATE, u] == TBU_RUN else 0
    if pos < first or pos >= n or u == v or not has_space(M, S, b, v):
        return False
    q = M.MI[L.MI_QCAP]
    h = S.TB[b, L.TB_QH, u]
    j = S.TBQ[b, u, (h + pos) % q]
    for k in range(pos, n - 1):
        S.TBQ[b, u, (h + k) % q] = S.TBQ[b, u, (h + k + 1) % q]
    S.TB[b, L.TB_QL, u] = n - 1
    S.CL[b, L.CL_Q, M.tbu_cluster[u]] -= 1
    S.TBF[b, u] -= M.dur_mean[S.JB[b, L.JB_BLOCK, j]]
    if S.TB[b, L.TB_QL, u] == 0:
        S.TBF[b, u] = 0.0
        if S.TB[b, L.TB_STATE, u] == TBU_IDLE:
            S.TB[b, L.TB_IDLE, u] = S.SC[b, L.SC_NOW]
    S.SC[b, L.SC_N_MIGRATIONS] += 1
    enqueue(M, S, b, j, v)
    return True


@njit(cache=True)
def steal(M, S, b, thief, victim):
    """Idle TBU ``thief`` takes the last not-yet-started job of ``victim``."""
    if queued_movable(S, b, victim) <= 0:
        return False
    ok = migrate(M, S, b, victim, S.TB[b, L.TB_QL, victim] - 1, thief)
    if ok:
        S.SC[b, L.SC_N_STEALS] += 1
        S.SC[b, L.SC_N_MIGRATIONS] -= 1
    return ok


@njit(cache=True)
def reconfigure(M, S, b, u, cfg):
    """Command: reconfigure an idle, empty TBU to ``cfg`` ahead of need (costs reconf cycles).
    Returns True if started; a busy TBU or one already holding ``cfg`` is left alone."""
    if S.TB[b, L.TB_STATE, u] != TBU_IDLE or S.TB[b, L.TB_QL, u] != 0 or S.TB[b, L.TB_CFG, u] == cfg:
        return False
    idle_close(S, b, u, M.tbu_cluster[u])
    S.TB[b, L.TB_STATE, u] = TBU_RECONF
    S.TB[b, L.TB_CFG, u] = cfg
    S.SC[b, L.SC_N_RECONF] += 1
    S.TB[b, L.TB_ACC_RECONF, u] += M.MI[L.MI_RECONF]
    S.TB[b, L.TB_END, u] = S.SC[b, L.SC_NOW] + M.MI[L.MI_RECONF]
    heap_push(S, b, S.SC[b, L.SC_NOW] + M.MI[L.MI_RECONF], EV_TBU_FREE, u)
    return True


@njit(cache=True)
def est_finish(M, S, b, u, blk):
    """Estimated cycles from now until TBU ``u`` would finish a new job of block ``blk``:
    queued expected work + reconfiguration if its config differs + transfer is added by the
    caller. Uses expected durations only (a scheduler does not know the drawn ones)."""
    w = S.TBF[b, u]
    last_cfg = S.TB[b, L.TB_CFG, u]
    if S.TB[b, L.TB_QL, u] > 0:
        q = M.MI[L.MI_QCAP]
        lj = S.TBQ[b, u, (S.TB[b, L.TB_QH, u] + S.TB[b, L.TB_QL, u] - 1) % q]
        last_cfg = M.MB[L.MB_BLK_CFG, S.JB[b, L.JB_BLOCK, lj]]
    if last_cfg != M.MB[L.MB_BLK_CFG, blk]:
        w += M.MI[L.MI_RECONF]
    return w + M.dur_mean[blk]
