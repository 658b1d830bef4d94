"""Compiled mechanisms of the kernel, the building blocks the event loop (``loop.py``) and the
policies (``policies.py``) share: the event heap, the slot pools, the decision queue and the
per-cluster backlogs, data transfers, the TBU queues and their time accounting, and the
commands schedulers use (assign, reconfigure ahead of need, migrate, steal).

Every function works on one batch member ``b`` of ``S`` (State) under ``M`` (Model); ``L.*``
are the row constants of :mod:`octogym.kernel.fields` (meanings in ``layout.py``).
"""

from __future__ import annotations

import math

from numba import uint64

from octogym.kernel import fields as L
from octogym.kernel.jit import kernel_helper, kernel_step
from octogym.kernel.layout import (
    EV_TB_DONE,
    EV_TBU_FREE,
    KIND_SHIFT,
    PARK_CLUSTER0,
    TBU_IDLE,
    TBU_RECONF,
    TBU_RUN,
)

# ---- event heap: ordered by (time, kind, sequence) ----------------------------------------
# The sifts move a hole instead of swapping entries: the same comparisons, and the same array
# (every entry ends where a swapping sift puts it), with half the loads and stores.


@kernel_helper
def _before(t, key, tj, kj):
    """Entry ``(t, key)`` comes before ``(tj, kj)``."""
    return t < tj or (t == tj and key < kj)


@kernel_helper
def _move(HP, b, dst, src):
    HP[b, dst, L.HP_TIME] = HP[b, src, L.HP_TIME]
    HP[b, dst, L.HP_KEY] = HP[b, src, L.HP_KEY]
    HP[b, dst, L.HP_DATA] = HP[b, src, L.HP_DATA]


@kernel_helper
def _push(HP, SC, b, t, kind, data):
    i = SC[b, L.SC_HP_LEN]
    key = (kind << KIND_SHIFT) | SC[b, L.SC_SEQ]
    SC[b, L.SC_SEQ] += 1
    SC[b, L.SC_HP_LEN] = i + 1
    while i > 0:
        p = (i - 1) >> 1
        if _before(t, key, HP[b, p, L.HP_TIME], HP[b, p, L.HP_KEY]):
            _move(HP, b, i, p)
            i = p
        else:
            break
    HP[b, i, L.HP_TIME] = t
    HP[b, i, L.HP_KEY] = key
    HP[b, i, L.HP_DATA] = data


@kernel_helper
def _pop(HP, SC, b):
    t = HP[b, 0, L.HP_TIME]
    kind = HP[b, 0, L.HP_KEY] >> KIND_SHIFT
    data = HP[b, 0, L.HP_DATA]
    n = SC[b, L.SC_HP_LEN] - 1
    SC[b, L.SC_HP_LEN] = n
    if n > 0:  # the last entry sifts down from the root (it also stays at n, as before)
        xt = HP[b, n, L.HP_TIME]
        xk = HP[b, n, L.HP_KEY]
        xd = HP[b, n, L.HP_DATA]
        i = 0
        while True:
            l = 2 * i + 1
            if l >= n:
                break
            m = l
            r = l + 1
            if r < n and _before(HP[b, r, L.HP_TIME], HP[b, r, L.HP_KEY],
                                 HP[b, l, L.HP_TIME], HP[b, l, L.HP_KEY]):
                m = r
            if _before(HP[b, m, L.HP_TIME], HP[b, m, L.HP_KEY], xt, xk):
                _move(HP, b, i, m)
                i = m
            else:
                break
        HP[b, i, L.HP_TIME] = xt
        HP[b, i, L.HP_KEY] = xk
        HP[b, i, L.HP_DATA] = xd
    return t, kind, data


@kernel_helper
def heap_push(S, b, t, kind, data):
    """Schedule an event; ties at equal time break by kind, then by push order."""
    _push(S.HP, S.SC, b, t, kind, data)


@kernel_helper
def heap_pop(S, b):
    """Remove the earliest event; returns (time, kind, data)."""
    return _pop(S.HP, S.SC, b)


# ---- pools ----------------------------------------------------------------------------------


@kernel_helper
def alloc_job(S, b):
    SC = S.SC
    JB = S.JB
    SC[b, L.SC_JB_NFREE] -= 1
    j = JB[b, SC[b, L.SC_JB_NFREE], L.JB_FREE]
    JB[b, j, L.JB_NEXT] = -1
    JB[b, j, L.JB_TBU] = -1
    JB[b, j, L.JB_SRC] = -1
    return j


@kernel_helper
def free_job(S, b, j):
    JB = S.JB
    SC = S.SC
    JB[b, SC[b, L.SC_JB_NFREE], L.JB_FREE] = j
    SC[b, L.SC_JB_NFREE] += 1


@kernel_helper
def alloc_frame(S, b, kind, parent, req, live):
    SC = S.SC
    FR = S.FR
    FRU = S.FRU
    FJC = S.FJC
    FJX = S.FJX
    SC[b, L.SC_FR_NFREE] -= 1
    f = FR[b, SC[b, L.SC_FR_NFREE], L.FR_FREE]
    FR[b, f, L.FR_KIND] = kind
    FR[b, f, L.FR_PARENT] = parent
    FR[b, f, L.FR_REQ] = req
    FR[b, f, L.FR_LIVE] = live
    FR[b, f, L.FR_MAP] = -1
    FR[b, f, L.FR_ORG] = -1
    FRU[b, f] = uint64(0)
    for k in range(FJC.shape[2]):
        FJC[b, f, k] = 0
        FJX[b, f, k] = uint64(0)
    return f


@kernel_helper
def free_frame(S, b, f):
    FR = S.FR
    SC = S.SC
    FR[b, SC[b, L.SC_FR_NFREE], L.FR_FREE] = f
    SC[b, L.SC_FR_NFREE] += 1


# ---- decision queue and per-cluster backlog (linked lists through jb_next) -----------------


@kernel_helper
def dq_push(S, b, j):
    JB = S.JB
    SC = S.SC
    JB[b, j, L.JB_NEXT] = -1
    if SC[b, L.SC_DQ_LEN] == 0:
        SC[b, L.SC_DQ_HEAD] = j
    else:
        JB[b, SC[b, L.SC_DQ_TAIL], L.JB_NEXT] = j
    SC[b, L.SC_DQ_TAIL] = j
    SC[b, L.SC_DQ_LEN] += 1


@kernel_helper
def dq_pop(S, b):
    SC = S.SC
    JB = S.JB
    j = SC[b, L.SC_DQ_HEAD]
    SC[b, L.SC_DQ_HEAD] = JB[b, j, L.JB_NEXT]
    SC[b, L.SC_DQ_LEN] -= 1
    JB[b, j, L.JB_NEXT] = -1
    return j


@kernel_helper
def _idle_close_cluster(M, S, b, c):
    """Close the open idle segment of every idle TBU of cluster ``c`` (before the backlog
    changes between empty and non-empty, which changes starved <-> blocked)."""
    MI = M.MI
    for u in range(c * MI[L.MI_K], (c + 1) * MI[L.MI_K]):
        idle_close(M, S, b, u, c)


@kernel_helper
def idle_close(M, S, b, u, c):
    """Account the open idle segment of TBU ``u`` up to now (starved, or blocked while its
    cluster has a backlog or, with output buffers, while it holds queued work its full output
    buffer keeps it from starting) and restart it at now. Idle = not running or
    reconfiguring."""
    TB = S.TB
    TBR = S.TBR
    SC = S.SC
    CL = S.CL
    if TB[b, L.TB_STATE, u] == TBU_IDLE:
        dt = SC[b, L.SC_NOW] - TBR[b, u, L.TBR_IDLE]
        if M.MI[L.MI_OBUF] > 0 and TB[b, L.TB_QL, u] > 0:  # idle with work: output-blocked
            TBR[b, u, L.TBR_ACC_BLOCKED] += dt
            TBR[b, u, L.TBR_ACC_OBLOCKED] += dt
        elif CL[b, L.CL_BL_LEN, c] > 0:
            TBR[b, u, L.TBR_ACC_BLOCKED] += dt
        else:
            TBR[b, u, L.TBR_ACC_STARVED] += dt
        TBR[b, u, L.TBR_IDLE] = SC[b, L.SC_NOW]


@kernel_helper
def park_code(c):
    """The TBU choice that parks a job in cluster ``c``'s backlog (see ``layout.PARK_HOME``)."""
    return PARK_CLUSTER0 - c


@kernel_helper
def parked_cluster(code):
    """The cluster a parking TBU choice ``code`` (< PARK_HOME) names: ``park_code``'s inverse."""
    return PARK_CLUSTER0 - code


@kernel_helper
def bl_push(M, S, b, c, j):
    """Park job ``j`` in cluster ``c``'s backlog (no TBU can or may take it now)."""
    CL = S.CL
    JB = S.JB
    if CL[b, L.CL_BL_LEN, c] == 0:
        _idle_close_cluster(M, S, b, c)
        CL[b, L.CL_BL_HEAD, c] = j
    else:
        JB[b, CL[b, L.CL_BL_TAIL, c], L.JB_NEXT] = j
    JB[b, j, L.JB_NEXT] = -1
    CL[b, L.CL_BL_TAIL, c] = j
    CL[b, L.CL_BL_LEN, c] += 1


@kernel_helper
def park(M, S, b, c, j):
    """Park job ``j`` in cluster ``c``'s backlog. With output buffers, a job parked in a
    cluster without free queue space has been received by the cluster (its backlog holds
    it): its producer's output-buffer place frees (docs/model.md §4, "Output buffers"); a
    job a policy defers while the cluster has space keeps it."""
    bl_push(M, S, b, c, j)
    if M.MI[L.MI_OBUF] > 0 and S.JB[b, j, L.JB_SRC] >= 0 and not cluster_has_space(M, S, b, c):
        src = S.JB[b, j, L.JB_SRC]
        S.JB[b, j, L.JB_SRC] = -1
        ob_release(M, S, b, src)


@kernel_step
def bl_release(M, S, b, c, release_all):
    """Queue space freed in cluster ``c``: the head of its backlog goes to the *front* of the
    decision queue (before newer work), in order: as many jobs as the cluster has free queue
    slots, or the whole backlog if ``release_all`` (a policy that may defer work to wait for a
    particular TBU, like ``static``, must see every parked job again)."""
    CL = S.CL
    JB = S.JB
    SC = S.SC
    MI = M.MI
    n = CL[b, L.CL_BL_LEN, c]
    if n == 0:
        return
    k = n
    if not release_all:
        free = 0
        for u in range(c * MI[L.MI_K], (c + 1) * MI[L.MI_K]):
            free += MI[L.MI_QCAP] - S.TB[b, L.TB_QL, u]
        k = free if free < n else n
        if k == 0:
            return
    if k == n:
        _idle_close_cluster(M, S, b, c)  # the backlog empties: idle TBUs turn starved
    first = CL[b, L.CL_BL_HEAD, c]
    last = first
    for _ in range(k - 1):
        last = JB[b, last, L.JB_NEXT]
    rest = JB[b, last, L.JB_NEXT]
    # splice first..last in front of the decision queue
    if SC[b, L.SC_DQ_LEN] == 0:
        JB[b, last, L.JB_NEXT] = -1
        SC[b, L.SC_DQ_TAIL] = last
    else:
        JB[b, last, L.JB_NEXT] = SC[b, L.SC_DQ_HEAD]
    SC[b, L.SC_DQ_HEAD] = first
    SC[b, L.SC_DQ_LEN] += k
    CL[b, L.CL_BL_LEN, c] = n - k
    CL[b, L.CL_BL_HEAD, c] = rest
    if rest == -1:
        CL[b, L.CL_BL_TAIL, c] = -1


@kernel_step
def bl_release_elsewhere(M, S, b, c):
    """A slot freed in cluster ``c`` under a policy that places machine-wide (``eft``): such a
    policy parks a job (in its home cluster's backlog) only when no TBU of the machine has
    space, so a slot freeing anywhere must re-offer it. If ``c``'s own backlog is empty, the
    first cluster (by id) with a backlog releases all of it (what still does not fit is
    parked again). Without this, work parked in a cluster whose TBUs then stay idle waited
    forever (the run stalled)."""
    CL = S.CL
    if CL[b, L.CL_BL_LEN, c] > 0:
        return
    for d in range(M.MI[L.MI_C]):
        if CL[b, L.CL_BL_LEN, d] > 0:
            bl_release(M, S, b, d, True)
            return


# ---- transfers --------------------------------------------------------------------------------


@kernel_helper
def transfer(M, src, dst, nbytes):
    """Cycles to move ``nbytes`` from cluster ``src`` to ``dst`` (docs/model.md §3, no
    contention)."""
    MI = M.MI
    NOC = M.NOC
    if src == dst:
        if MI[L.MI_LOCAL_BW] <= 0:
            return 0
        return (nbytes + MI[L.MI_LOCAL_BW] - 1) // MI[L.MI_LOCAL_BW]
    return NOC[L.NOC_LATENCY, src, dst] + (nbytes + MI[L.MI_LINK_BW] - 1) // MI[L.MI_LINK_BW]


@kernel_step
def transfer_reserve(M, S, b, src, dst, nbytes, t0):
    """NoC link contention on (docs/model.md §3, "Link contention"): cycles from ``t0`` (the
    cycle the transfer is issued, >= now) until ``nbytes`` from cluster ``src`` are at ``dst``.
    The transfer reserves every directed link of its XY route (``HardwareConfig.route_links``)
    for its serialisation time ``ceil(nbytes / link_bw)``, starting when the last of them is
    free (at the earliest ``t0``);
    what it waited is added to its cost and to the member's link-wait counters. A local or
    empty transfer reserves nothing. O(route length), no allocation."""
    MI = M.MI
    LINK = S.LINK
    base = transfer(M, src, dst, nbytes)
    ser = (nbytes + MI[L.MI_LINK_BW] - 1) // MI[L.MI_LINK_BW]
    if src == dst or ser == 0:
        return base
    start = t0
    for p in range(2):  # pass 0: when is the route free; pass 1: reserve it
        cols = MI[L.MI_MESH_COLS]
        x = src
        while x != dst:
            if x % cols != dst % cols:
                d = 3 if dst % cols > x % cols else 2  # East, West
            else:
                d = 1 if dst > x else 0  # South, North
            k = 4 * x + d
            if p == 0:
                if LINK[b, k] > start:
                    start = LINK[b, k]
            else:
                LINK[b, k] = start + ser
            if d == 3:
                x += 1
            elif d == 2:
                x -= 1
            elif d == 1:
                x += cols
            else:
                x -= cols
    wait = start - t0
    if wait > 0:
        S.SC[b, L.SC_LINK_WAIT] += wait
        S.SC[b, L.SC_N_LINK_WAITS] += 1
    return base + wait


# ---- output buffers (docs/model.md §4, "Output buffers") ------------------------------------


@kernel_helper
def out_blocked(M, S, b, u):
    """TBU ``u`` may not start its next TB: its output buffer holds ``obuf`` outputs or more
    that their consumers have not received yet (never, with ``obuf`` = 0)."""
    ob = M.MI[L.MI_OBUF]
    return ob > 0 and S.TBR[b, u, L.TBR_OB_LEN] >= ob


@kernel_step
def ob_release(M, S, b, u):
    """One output of TBU ``u``'s buffer was received (or dropped): free its place; a TBU this
    unblocks starts its queue head now."""
    S.TBR[b, u, L.TBR_OB_LEN] -= 1
    if S.TB[b, L.TB_STATE, u] == TBU_IDLE and S.TB[b, L.TB_QL, u] > 0 \
            and not out_blocked(M, S, b, u):
        start_next(M, S, b, u)


# ---- TBU queues -------------------------------------------------------------------------------


@kernel_helper
def ring(i, q):
    """``i % q`` for ``0 <= i < 2 q`` (a position past the end of a ring buffer of ``q``
    slots wraps once), without an integer division."""
    return i - q if i >= q else i


@kernel_helper
def has_space(M, S, b, u):
    TB = S.TB
    MI = M.MI
    return TB[b, L.TB_QL, u] < MI[L.MI_QCAP]


@kernel_helper
def cluster_has_space(M, S, b, c):
    MI = M.MI
    TB = S.TB
    for u in range(c * MI[L.MI_K], (c + 1) * MI[L.MI_K]):
        if TB[b, L.TB_QL, u] < MI[L.MI_QCAP]:
            return True
    return False


@kernel_step
def start_next(M, S, b, u):
    """An idle TBU with a non-empty queue starts its head job: reconfigure if needed, wait for
    the input data, run. The whole span is known now, so it is accounted now."""
    m_tbu_cluster = M.tbu_cluster
    TBQ = S.TBQ
    TB = S.TB
    TBR = S.TBR
    JB = S.JB
    MB = M.MB
    SC = S.SC
    MI = M.MI
    TR = S.TR
    RQ = S.RQ
    c = m_tbu_cluster[u]
    idle_close(M, S, b, u, c)
    j = TBQ[b, u, TB[b, L.TB_QH, u]]
    blk = JB[b, j, L.JB_BLOCK]
    cfg = MB[L.MB_BLK_CFG, blk]
    now = SC[b, L.SC_NOW]
    r = 0
    if TB[b, L.TB_CFG, u] != cfg:
        r = MI[L.MI_RECONF]
        TB[b, L.TB_CFG, u] = cfg
        SC[b, L.SC_N_RECONF] += 1
    s0 = now + r
    begin = s0 if s0 > JB[b, j, L.JB_DATA] else JB[b, j, L.JB_DATA]
    run = JB[b, j, L.JB_DUR]
    slow = M.tbu_slow[u]
    if slow != 1.0:  # a slowed TBU (what-if scenarios) takes proportionally longer
        run = int(math.ceil(run * slow))
    end = begin + run
    TBR[b, u, L.TBR_ACC_RECONF] += r
    TBR[b, u, L.TBR_ACC_WAIT] += begin - s0
    TBR[b, u, L.TBR_ACC_BUSY] += run
    TB[b, L.TB_STATE, u] = TBU_RUN
    TB[b, L.TB_END, u] = end
    heap_push(S, b, end, EV_TB_DONE, j)
    k = SC[b, L.SC_N_TRACED]
    if k < MI[L.MI_TRACE_CAP]:
        TR[b, k, L.TR_UID] = RQ[b, JB[b, j, L.JB_REQ], L.RQ_UID]
        TR[b, k, L.TR_BLK] = blk
        TR[b, k, L.TR_TBU] = u
        TR[b, k, L.TR_READY] = JB[b, j, L.JB_CREATED]
        TR[b, k, L.TR_START] = begin
        TR[b, k, L.TR_END] = end
        SC[b, L.SC_N_TRACED] = k + 1


@kernel_helper
def enqueue(M, S, b, j, u):
    """Put job ``j`` at the tail of TBU ``u``'s queue; its input data starts moving now."""
    enqueue_at(M, S, b, j, u, S.SC[b, L.SC_NOW])


@kernel_helper
def send_input(M, S, b, j, u, t0):
    """Job ``j`` goes to TBU ``u``: its input data starts moving at ``t0`` (>= now), over
    contended links with ``noc_contention`` (docs/model.md §3); the NoC traffic is counted."""
    JB = S.JB
    MI = M.MI
    c = M.tbu_cluster[u]
    JB[b, j, L.JB_TBU] = u
    nbytes = JB[b, j, L.JB_BYTES]
    org = JB[b, j, L.JB_ORG]
    if MI[L.MI_NOC_CONT] != 0:
        JB[b, j, L.JB_DATA] = t0 + transfer_reserve(M, S, b, org, c, nbytes, t0)
    else:
        JB[b, j, L.JB_DATA] = t0 + transfer(M, org, c, nbytes)
    S.SF[b, L.SF_BYTE_HOPS] += nbytes * M.NOC[L.NOC_HOPS, org, c]


@kernel_helper
def input_received(M, S, b, j):
    """Job ``j``'s input transfer has started: its producer's output-buffer place frees
    (docs/model.md §4 "Output buffers"; nothing without buffers)."""
    JB = S.JB
    if M.MI[L.MI_OBUF] > 0 and JB[b, j, L.JB_SRC] >= 0:
        src = JB[b, j, L.JB_SRC]
        JB[b, j, L.JB_SRC] = -1
        ob_release(M, S, b, src)


@kernel_helper
def enqueue_at(M, S, b, j, u, t0):
    """:func:`enqueue`, the input data starting to move at ``t0`` (>= now): when the decision
    that placed the job completes (docs/model.md §3 "Control plane")."""
    TB = S.TB
    c = M.tbu_cluster[u]
    send_input(M, S, b, j, u, t0)
    if M.MI[L.MI_OBUF] > 0 and TB[b, L.TB_STATE, u] == TBU_IDLE:
        idle_close(M, S, b, u, c)  # before its queue fills: the segment so far was not blocked
    q = M.MI[L.MI_QCAP]
    S.TBQ[b, u, ring(TB[b, L.TB_QH, u] + TB[b, L.TB_QL, u], q)] = j
    TB[b, L.TB_QL, u] += 1
    S.CL[b, L.CL_QUEUED, c] += 1
    S.TBF[b, u] += M.dur_mean[S.JB[b, j, L.JB_BLOCK]]
    if TB[b, L.TB_STATE, u] == TBU_IDLE and not out_blocked(M, S, b, u):
        start_next(M, S, b, u)
    input_received(M, S, b, j)


@kernel_helper
def dequeue_head(M, S, b, u):
    TBQ = S.TBQ
    TB = S.TB
    MI = M.MI
    CL = S.CL
    m_tbu_cluster = M.tbu_cluster
    TBF = S.TBF
    m_dur_mean = M.dur_mean
    JB = S.JB
    j = TBQ[b, u, TB[b, L.TB_QH, u]]
    TB[b, L.TB_QH, u] = ring(TB[b, L.TB_QH, u] + 1, MI[L.MI_QCAP])
    TB[b, L.TB_QL, u] -= 1
    CL[b, L.CL_QUEUED, m_tbu_cluster[u]] -= 1
    TBF[b, u] -= m_dur_mean[JB[b, j, L.JB_BLOCK]]
    if TB[b, L.TB_QL, u] == 0:
        TBF[b, u] = 0.0  # clear round-off
    return j


@kernel_helper
def queued_movable(S, b, u):
    """Number of queued jobs of TBU ``u`` that have not started (movable by migrate/steal)."""
    TB = S.TB
    n = TB[b, L.TB_QL, u]
    if TB[b, L.TB_STATE, u] == TBU_RUN:
        n -= 1
    return n


@kernel_step
def migrate(M, S, b, u, pos, v):
    """Move the not-yet-started job at queue position ``pos`` of TBU ``u`` to the tail of TBU
    ``v`` (which must have space); its data moves again from its origin, paying the transfer.
    Returns True if done. Position 0 is the head; it is movable only if ``u`` is not running."""
    TB = S.TB
    TBR = S.TBR
    MI = M.MI
    TBQ = S.TBQ
    CL = S.CL
    m_tbu_cluster = M.tbu_cluster
    TBF = S.TBF
    m_dur_mean = M.dur_mean
    JB = S.JB
    SC = S.SC
    n = TB[b, L.TB_QL, u]
    first = 1 if TB[b, L.TB_STATE, u] == TBU_RUN else 0
    if pos < first or pos >= n or u == v or not has_space(M, S, b, v):
        return False
    q = MI[L.MI_QCAP]
    h = TB[b, L.TB_QH, u]
    j = TBQ[b, u, (h + pos) % q]
    for k in range(pos, n - 1):
        TBQ[b, u, (h + k) % q] = TBQ[b, u, (h + k + 1) % q]
    if MI[L.MI_OBUF] > 0:
        idle_close(M, S, b, u, m_tbu_cluster[u])  # an output-blocked TBU's segment so far
    TB[b, L.TB_QL, u] = n - 1
    CL[b, L.CL_QUEUED, m_tbu_cluster[u]] -= 1
    TBF[b, u] -= m_dur_mean[JB[b, j, L.JB_BLOCK]]
    if TB[b, L.TB_QL, u] == 0:
        TBF[b, u] = 0.0
        if TB[b, L.TB_STATE, u] == TBU_IDLE:
            TBR[b, u, L.TBR_IDLE] = SC[b, L.SC_NOW]
    SC[b, L.SC_N_MIGRATIONS] += 1
    enqueue(M, S, b, j, v)
    # a queue slot freed in the source cluster: offer its backlog again
    bl_release(M, S, b, m_tbu_cluster[u], False)
    return True


@kernel_step
def steal(M, S, b, thief, victim):
    """Idle TBU ``thief`` takes the last not-yet-started job of ``victim``."""
    TB = S.TB
    SC = S.SC
    if queued_movable(S, b, victim) <= 0:
        return False
    ok = migrate(M, S, b, victim, TB[b, L.TB_QL, victim] - 1, thief)
    if ok:
        SC[b, L.SC_N_STEALS] += 1
        SC[b, L.SC_N_MIGRATIONS] -= 1
    return ok


@kernel_step
def reconfigure(M, S, b, u, cfg):
    """Command: reconfigure an idle, empty TBU to ``cfg`` ahead of need (costs reconf cycles).
    Returns True if started; a busy TBU or one already holding ``cfg`` is left alone."""
    TB = S.TB
    TBR = S.TBR
    m_tbu_cluster = M.tbu_cluster
    SC = S.SC
    MI = M.MI
    if TB[b, L.TB_STATE, u] != TBU_IDLE or TB[b, L.TB_QL, u] != 0 or TB[b, L.TB_CFG, u] == cfg:
        return False
    idle_close(M, S, b, u, m_tbu_cluster[u])
    TB[b, L.TB_STATE, u] = TBU_RECONF
    TB[b, L.TB_CFG, u] = cfg
    SC[b, L.SC_N_RECONF] += 1
    TBR[b, u, L.TBR_ACC_RECONF] += MI[L.MI_RECONF]
    TB[b, L.TB_END, u] = SC[b, L.SC_NOW] + MI[L.MI_RECONF]
    heap_push(S, b, SC[b, L.SC_NOW] + MI[L.MI_RECONF], EV_TBU_FREE, u)
    return True


@kernel_helper
def est_finish(M, S, b, u, blk):
    """Estimated cycles from now until TBU ``u`` would finish a new job of block ``blk``:
    queued expected work + reconfiguration if its config differs + transfer is added by the
    caller. Uses expected durations only (a scheduler does not know the drawn ones)."""
    TBF = S.TBF
    TB = S.TB
    MI = M.MI
    TBQ = S.TBQ
    MB = M.MB
    JB = S.JB
    m_dur_mean = M.dur_mean
    w = TBF[b, u]
    last_cfg = TB[b, L.TB_CFG, u]
    if TB[b, L.TB_QL, u] > 0:
        q = MI[L.MI_QCAP]
        lj = TBQ[b, u, ring(TB[b, L.TB_QH, u] + TB[b, L.TB_QL, u] - 1, q)]
        last_cfg = MB[L.MB_BLK_CFG, JB[b, lj, L.JB_BLOCK]]
    if last_cfg != MB[L.MB_BLK_CFG, blk]:
        w += MI[L.MI_RECONF]
    return w + m_dur_mean[blk]


# ---- control plane: decisions take time on a serial server ---------------------------------


@kernel_helper
def decision_done(M, S, b, c, n):
    """A scheduling decision that scans ``n`` entities (docs/model.md §3 "Control plane"),
    served by the CBU of cluster ``c`` (``c >= 0``; it queues with that cluster's CB jobs) or
    by the member's central scheduler (``c < 0``). Both are serial servers: the decision
    starts when its server is free and takes ``dec_base + dec_per * n`` cycles. Returns the
    cycle it completes; ``now`` when decisions are free (then nothing is accounted)."""
    MI = M.MI
    SC = S.SC
    now = SC[b, L.SC_NOW]
    cost = MI[L.MI_DEC_BASE] + MI[L.MI_DEC_PER] * n
    if cost == 0:
        return now
    if c < 0:
        free = SC[b, L.SC_CS_FREE]
        start = now if now > free else free
        SC[b, L.SC_CS_FREE] = start + cost
        SC[b, L.SC_DEC_N_CENTRAL] += 1
        SC[b, L.SC_DEC_CYC_CENTRAL] += cost
        SC[b, L.SC_DEC_WAIT_CENTRAL] += start - now
    else:
        CL = S.CL
        free = CL[b, L.CL_CBU_FREE, c]
        start = now if now > free else free
        CL[b, L.CL_CBU_FREE, c] = start + cost
        CL[b, L.CL_ACC_CBU, c] += cost
        SC[b, L.SC_DEC_N_CBU] += 1
        SC[b, L.SC_DEC_CYC_CBU] += cost
        SC[b, L.SC_DEC_WAIT_CBU] += start - now
    return start + cost
