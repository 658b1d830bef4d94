"""The compiled event loop: one call advances every batch member to its next external
decision point, to a time limit, or to the end of its run.

Semantics (docs/model.md §4 "Execution", with our choices):

* A *token* is one unit of control flow of one request inside a *frame* (the request's root
  scope, or one copy of a map body). Tokens entering a block are delivered in FIFO order.
* task: becomes a TB instance (a *job*) that waits in the member's decision queue for a TBU;
  branch / map / fork: a CB job on the home cluster's CBU (serial, ``cost`` cycles);
  join: counts tokens per frame and fires a CB job once it holds ``indegree`` of them.
* A TB instance needs a TBU with queue space in its home cluster; if none has space (or the
  policy defers it) it waits in that cluster's backlog until a queue slot frees there, then
  goes back to the front of the decision queue (``mechanisms.bl_release``).
* Every function is compiled with ``_nrt=False``: the kernel never allocates (all scratch
  space lives in the State), which removes numba's atomic reference counting from every call.
* TBU: FIFO queue; head job = reconfigure if needed, wait for input data, run.
"""

from __future__ import annotations

import math

from numba import int64, uint64

from octogym.kernel import fields as L
from octogym.kernel.dispatch import (
    dispatch_apply,
    dispatch_count,
    dispatch_rule,
    dispatch_rule_code,
)
from octogym.kernel.jit import kernel_entry, kernel_helper, kernel_step
from octogym.kernel.layout import (
    ARR_CLOSED,
    ARR_POISSON,
    ARR_TRACE,
    DEC_CLUSTER,
    DEC_DISPATCH,
    DEC_NONE,
    DEC_PLACE,
    DEC_PROVISION,
    DEC_TBU,
    EV_ARRIVAL,
    EV_CB_DONE,
    EV_EPOCH,
    EV_REQUEST_START,
    EV_TB_DONE,
    EV_TBU_FREE,
    EXT_CLUSTER,
    EXT_DISPATCH,
    EXT_PLACE,
    EXT_PROVISION,
    EXT_TBU,
    FR_COPY,
    FR_GROUP,
    FR_ROOT,
    PARK_HOME,
    ST_DECISION,
    ST_DONE,
    ST_GROW,
    ST_STALLED,
    ST_TIME,
    TBU_IDLE,
    WL_HEAD,
    WL_TAIL,
)
from octogym.kernel.mechanisms import (
    alloc_frame,
    alloc_job,
    bl_release,
    bl_release_elsewhere,
    cluster_has_space,
    decision_done,
    dequeue_head,
    dq_pop,
    dq_push,
    enqueue_at,
    free_frame,
    free_job,
    heap_pop,
    heap_push,
    ob_release,
    out_blocked,
    park,
    park_code,
    parked_cluster,
    start_next,
)
from octogym.kernel.policies import (
    SCOPE_CLUSTER,
    SCOPE_CLUSTERS,
    SCOPE_MACHINE,
    cluster_scope,
    decide_cluster,
    decide_tbu,
    epoch_quiet_until,
    least_loaded_tbu,
    on_epoch,
    on_idle,
    policy_defers,
    scope_entities,
    tbu_scope,
)
from octogym.kernel.provision import provision_action, provision_begin
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
from octogym.workflows.compiled import BRANCH, FORK, JOIN, MAP, TASK

ROOT_LIN = 0x5EED
JOIN_SALT = 0xC0FFEE
COPY_SALT = 1 << 20
NO_ACTION = -1
# An action that resolves the pending external decision with the member's own policy, as if
# the level were not external (the rollout planner's base candidate: octogym/planner.py).
POLICY_ACTION = -2
MAX_IDLE_EPOCHS = 1000


# ---- token worklist (local to one call; emptied within every event) -------------------------


@kernel_helper
def make_worklist(S, b):
    """Member ``b``'s preallocated token worklist, emptied (the kernel never allocates)."""
    WL = S.WL[b]
    WL[0, WL_HEAD] = 0
    WL[0, WL_TAIL] = 0
    return WL


@kernel_helper
def wl_push(WL, f, x, org, nbytes, lin, src):
    t = WL[0, WL_TAIL] + 1
    if t >= WL.shape[0]:
        raise RuntimeError("octogym kernel: token worklist overflow")
    WL[t, L.WL_FRAME] = f
    WL[t, L.WL_BLOCK] = x
    WL[t, L.WL_ORG] = org
    WL[t, L.WL_BYTES] = nbytes
    WL[t, L.WL_LIN] = int64(lin)  # the lineage's bits, stored in the int64 row
    WL[t, L.WL_SRC] = src
    WL[0, WL_TAIL] = t


@kernel_helper
def emit_flow(M, S, b, WL, f, fi, org, lin, src):
    """A token leaves along flow ``fi`` (CSR index) in frame ``f``; its data is in TBU
    ``src``'s output buffer (-1: none)."""
    FR = S.FR
    FL = M.FL
    FR[b, f, L.FR_LIVE] += 1
    wl_push(WL, f, FL[L.FL_SUCC_DST, fi], org, FL[L.FL_SUCC_BYTES, fi], lin_next(lin, fi),
            src)


@kernel_helper
def consume(M, S, b, WL, f, org):
    """A token of frame ``f`` ends (its data last seen at cluster ``org``); finish frames
    whose last token this was: a copy reports to its group, a finished group sends the map's
    continuation token, a finished root completes the request."""
    FR = S.FR
    RQ = S.RQ
    RES = S.RES
    SC = S.SC
    FRU = S.FRU
    m_succ_ptr = M.succ_ptr
    FR[b, f, L.FR_ORG] = org
    FR[b, f, L.FR_LIVE] -= 1
    while FR[b, f, L.FR_LIVE] == 0:
        kind = FR[b, f, L.FR_KIND]
        if kind == FR_ROOT:
            r = FR[b, f, L.FR_REQ]
            uid = RQ[b, r, L.RQ_UID]
            RES[b, uid, L.RES_DONE] = SC[b, L.SC_NOW]
            SC[b, L.SC_SUM_DONE] += SC[b, L.SC_NOW]
            SC[b, L.SC_SUM_DONE_ARR] += RES[b, uid, L.RES_ARR]
            SC[b, L.SC_N_DONE] += 1
            SC[b, L.SC_T_END] = SC[b, L.SC_NOW]
            RQ[b, SC[b, L.SC_RQ_NFREE], L.RQ_FREE] = r
            SC[b, L.SC_RQ_NFREE] += 1
            free_frame(S, b, f)
            return
        p = FR[b, f, L.FR_PARENT]
        o = FR[b, f, L.FR_ORG]
        if kind == FR_GROUP:
            m = FR[b, f, L.FR_MAP]
            lin = FRU[b, f]
            for fi in range(m_succ_ptr[m], m_succ_ptr[m + 1]):
                emit_flow(M, S, b, WL, p, fi, o, lin, -1)
        free_frame(S, b, f)
        FR[b, p, L.FR_ORG] = o
        FR[b, p, L.FR_LIVE] -= 1
        f = p


@kernel_helper
def new_job(M, S, b, f, x, org, nbytes, lin):
    """A job for block ``x`` of frame ``f``: its token's data origin, bytes and lineage."""
    JB = S.JB
    j = alloc_job(S, b)
    JB[b, j, L.JB_REQ] = S.FR[b, f, L.FR_REQ]
    JB[b, j, L.JB_FRAME] = f
    JB[b, j, L.JB_BLOCK] = x
    S.JBU[b, j] = lin
    JB[b, j, L.JB_ORG] = org
    JB[b, j, L.JB_BYTES] = nbytes
    JB[b, j, L.JB_CREATED] = S.SC[b, L.SC_NOW]
    return j


@kernel_helper
def cb_job(M, S, b, f, x, org, nbytes, lin, src):
    """A CB execution on the home cluster's CBU, a serial server: it starts when the CBU is
    free and takes the block's ``cost`` cycles. It holds its token's output-buffer place
    (``src``) until it sends the token on."""
    CL = S.CL
    MB = M.MB
    j = new_job(M, S, b, f, x, org, nbytes, lin)
    S.JB[b, j, L.JB_SRC] = src
    h = S.RQ[b, S.JB[b, j, L.JB_REQ], L.RQ_HOME]
    now = S.SC[b, L.SC_NOW]
    start = now if now > CL[b, L.CL_CBU_FREE, h] else CL[b, L.CL_CBU_FREE, h]
    end = start + MB[L.MB_BLK_COST, x]
    CL[b, L.CL_CBU_FREE, h] = end
    CL[b, L.CL_ACC_CBU, h] += MB[L.MB_BLK_COST, x]
    heap_push(S, b, end, EV_CB_DONE, j)


@kernel_helper
def draw_duration(M, S, b, x, uid, lin):
    """Cycles of one execution of task block ``x`` by token ``lin`` of request ``uid`` in member
    ``b``: the block's duration law, keyed by the member's seed, ``uid`` and ``lin``
    (:mod:`octogym.rng`), so every replay of the token draws the same duration."""
    MB = M.MB
    seed = S.SEED[b]
    return sample_duration(MB[L.MB_DUR_CODE, x], M.dur_p[x, 0], M.dur_p[x, 1], M.dur_p[x, 2],
                           M.emp, MB[L.MB_DUR_EMP_OFF, x], MB[L.MB_DUR_EMP_LEN, x],
                           u01(seed, uid, lin, S_DURATION), u01(seed, uid, lin, S_DURATION2))


@kernel_helper
def deliver(M, S, b, WL, f, x, org, nbytes, lin, src):
    MB = M.MB
    FR = S.FR
    JB = S.JB
    SC = S.SC
    RQ = S.RQ
    ST_DEM = S.ST_DEM
    FJC = S.FJC
    FJX = S.FJX
    t = MB[L.MB_BLK_TYPE, x]
    if t == TASK:
        r = FR[b, f, L.FR_REQ]
        j = new_job(M, S, b, f, x, org, nbytes, lin)
        JB[b, j, L.JB_DUR] = draw_duration(M, S, b, x, RQ[b, r, L.RQ_UID], lin)
        SC[b, L.SC_N_TB_CREATED] += 1
        ST_DEM[b, RQ[b, r, L.RQ_HOME], MB[L.MB_BLK_CFG, x]] += 1
        JB[b, j, L.JB_SRC] = src
        dq_push(S, b, j)
    elif t == JOIN:
        s = MB[L.MB_BLK_JOIN_SLOT, x]
        FJC[b, f, s] += 1
        FJX[b, f, s] ^= uint64(lin)
        if FJC[b, f, s] == MB[L.MB_BLK_INDEG, x]:
            nl = mix64(FJX[b, f, s] ^ uint64(JOIN_SALT))
            FJC[b, f, s] = 0
            FJX[b, f, s] = uint64(0)
            cb_job(M, S, b, f, x, org, nbytes, nl, src)
        else:
            if src >= 0:  # a join keeps only its last token's output-buffer place
                ob_release(M, S, b, src)
            consume(M, S, b, WL, f, org)
    else:
        cb_job(M, S, b, f, x, org, nbytes, lin, src)


@kernel_step
def flush(M, S, b, WL):
    """Deliver the worklist's tokens in FIFO order (delivering one may append more)."""
    while WL[0, WL_HEAD] < WL[0, WL_TAIL]:
        i = WL[0, WL_HEAD] + 1
        WL[0, WL_HEAD] = i
        deliver(M, S, b, WL, WL[i, L.WL_FRAME], WL[i, L.WL_BLOCK], WL[i, L.WL_ORG],
                WL[i, L.WL_BYTES], uint64(WL[i, L.WL_LIN]), WL[i, L.WL_SRC])
    WL[0, WL_HEAD] = 0
    WL[0, WL_TAIL] = 0


# ---- events ------------------------------------------------------------------------------------


@kernel_step
def on_cb_done(M, S, b, WL, j):
    JB = S.JB
    JBU = S.JBU
    RQ = S.RQ
    MB = M.MB
    ST_EXEC = S.ST_EXEC
    SC = S.SC
    m_succ_ptr = M.succ_ptr
    SEED = S.SEED
    m_flow_prob = M.flow_prob
    ST_FLOW = S.ST_FLOW
    MC = M.MC
    m_cnt_p = M.cnt_p
    m_emp = M.emp
    MI = M.MI
    ST_SUM = S.ST_SUM
    FR = S.FR
    FRU = S.FRU
    x = JB[b, j, L.JB_BLOCK]
    f = JB[b, j, L.JB_FRAME]
    r = JB[b, j, L.JB_REQ]
    org = JB[b, j, L.JB_ORG]
    lin = JBU[b, j]
    nbytes = JB[b, j, L.JB_BYTES]
    src = JB[b, j, L.JB_SRC]
    n_out = 0  # tokens sent on (each takes an output-buffer place of src)
    uid = RQ[b, r, L.RQ_UID]
    home = RQ[b, r, L.RQ_HOME]
    row = RQ[b, r, L.RQ_ROW]
    t = MB[L.MB_BLK_TYPE, x]
    ST_EXEC[b, home, x] += 1
    SC[b, L.SC_N_CB_DONE] += 1
    lo, hi = m_succ_ptr[x], m_succ_ptr[x + 1]
    if t == BRANCH:
        u = u01(SEED[b], uid, lin, S_BRANCH)
        acc = 0.0
        chosen = -1
        for fi in range(lo, hi):
            p = m_flow_prob[row, fi]
            if p > 0.0:
                chosen = fi
                acc += p
                if u < acc:
                    break
        ST_FLOW[b, home, chosen] += 1
        emit_flow(M, S, b, WL, f, chosen, org, lin, src)
        n_out = 1
    elif t == MAP:
        n = sample_count(MC[L.MC_CNT_CODE, row, x], m_cnt_p[row, x], m_emp,
                         MC[L.MC_CNT_EMP_OFF, row, x], MC[L.MC_CNT_EMP_LEN, row, x],
                         u01(SEED[b], uid, lin, S_COUNT), MI[L.MI_MAXMAP])
        ST_SUM[b, home, x] += n
        if n == 0:
            for fi in range(lo, hi):
                emit_flow(M, S, b, WL, f, fi, org, lin, src)
            n_out = hi - lo
        else:
            g = alloc_frame(S, b, FR_GROUP, f, r, n)
            FR[b, g, L.FR_MAP] = x
            FR[b, g, L.FR_ORG] = org
            FRU[b, g] = lin
            FR[b, f, L.FR_LIVE] += 1
            body = MB[L.MB_BLK_BODY, x]
            for i in range(n):
                c = alloc_frame(S, b, FR_COPY, g, r, 1)
                wl_push(WL, c, body, org, nbytes, lin_next(lin, COPY_SALT + i), src)
            n_out = n
    else:  # fork, join
        for fi in range(lo, hi):
            emit_flow(M, S, b, WL, f, fi, org, lin, src)
        n_out = hi - lo
    if src >= 0:
        if n_out > 0:
            S.TBR[b, src, L.TBR_OB_LEN] += n_out - 1
        else:
            ob_release(M, S, b, src)
    free_job(S, b, j)
    consume(M, S, b, WL, f, org)
    flush(M, S, b, WL)


@kernel_step
def on_tb_done(M, S, b, WL, j, pol, ext):
    JB = S.JB
    m_tbu_cluster = M.tbu_cluster
    TB = S.TB
    TBR = S.TBR
    SC = S.SC
    JBU = S.JBU
    m_succ_ptr = M.succ_ptr
    u = JB[b, j, L.JB_TBU]
    c = m_tbu_cluster[u]
    dequeue_head(M, S, b, u)
    TB[b, L.TB_STATE, u] = TBU_IDLE
    TBR[b, u, L.TBR_RUNS] += 1
    SC[b, L.SC_N_TB_DONE] += 1
    TBR[b, u, L.TBR_IDLE] = SC[b, L.SC_NOW]
    x = JB[b, j, L.JB_BLOCK]
    f = JB[b, j, L.JB_FRAME]
    lin = JBU[b, j]
    src = -1
    if M.MI[L.MI_OBUF] > 0:  # its output waits in its output buffer until received
        src = u
        TBR[b, u, L.TBR_OB_LEN] += m_succ_ptr[x + 1] - m_succ_ptr[x]
    for fi in range(m_succ_ptr[x], m_succ_ptr[x + 1]):
        emit_flow(M, S, b, WL, f, fi, c, lin, src)
    free_job(S, b, j)
    consume(M, S, b, WL, f, c)
    flush(M, S, b, WL)
    tbu_available(M, S, b, u, pol, ext)


@kernel_helper
def tbu_available(M, S, b, u, pol, ext):
    """TBU ``u`` finished a TB or a reconfiguration: its cluster's backlog may now be placed
    (queue space, or a configuration parked work waits for); then it starts its next job, or
    is idle and the policy may let it steal. With queued work, which job runs next is a
    dispatch decision (octogym/kernel/dispatch.py): the agent's (pause with DEC_DISPATCH), or
    the member's dispatch rule's; FIFO (rule 0, no EXT_DISPATCH) is the code below."""
    # (an output-buffer place freed during the event may have started it already: then its
    # next job was the queue's head, and there is nothing to dispatch)
    if S.TB[b, L.TB_STATE, u] == TBU_IDLE and S.TB[b, L.TB_QL, u] > 0 \
            and not out_blocked(M, S, b, u):
        if ext & EXT_DISPATCH:
            if dispatch_count(M, S, b, u, pol) >= 2:
                S.SC[b, L.SC_DEC_KIND] = DEC_DISPATCH
                S.SC[b, L.SC_DEC_TBU] = u
                return
        else:
            rule = dispatch_rule_code(M)
            if rule != 0:
                dispatch_apply(M, S, b, u, dispatch_rule(M, S, b, u, rule, pol), pol)
    tbu_start(M, S, b, u, pol, ext)


@kernel_helper
def tbu_start(M, S, b, u, pol, ext):
    """The rest of :func:`tbu_available`, once TBU ``u``'s next job is its queue head."""
    bl_release(M, S, b, M.tbu_cluster[u], policy_defers(pol))
    if tbu_scope(pol) == SCOPE_MACHINE:
        bl_release_elsewhere(M, S, b, M.tbu_cluster[u])
    if S.TB[b, L.TB_STATE, u] != TBU_IDLE:
        return  # an output-buffer release during the event started it already
    if S.TB[b, L.TB_QL, u] > 0:
        if not out_blocked(M, S, b, u):
            start_next(M, S, b, u)
    else:
        on_idle(M, S, b, u, pol)
    if ext & EXT_PLACE:
        release_stranded(M, S, b, M.tbu_cluster[u])


@kernel_helper
def release_stranded(M, S, b, c):
    """Under a Place agent (``EXT_PLACE``): if no TBU of cluster ``c`` is busy and none has
    queued work, nothing will free a slot there again, so its whole backlog goes back to the
    agent. ``bl_release`` re-offers only as many parked jobs as the cluster has free slots,
    assuming they fill them; an agent may park them elsewhere instead, and the rest then waited
    forever (the run stalled). Kernel-only runs and the other envs never get here."""
    if S.CL[b, L.CL_BL_LEN, c] == 0 or S.CL[b, L.CL_QUEUED, c] > 0:
        return
    K = M.MI[L.MI_K]
    for v in range(c * K, (c + 1) * K):
        if S.TB[b, L.TB_STATE, v] != TBU_IDLE:
            return
    bl_release(M, S, b, c, True)


@kernel_helper
def on_tbu_free(M, S, b, u, pol, ext):
    """A reconfiguration command finished."""
    S.TB[b, L.TB_STATE, u] = TBU_IDLE
    S.TBR[b, u, L.TBR_IDLE] = S.SC[b, L.SC_NOW]
    tbu_available(M, S, b, u, pol, ext)


@kernel_helper
def next_arrival_time(M, S, b, n):
    MI = M.MI
    SEED = S.SEED
    SF = S.SF
    MF = M.MF
    TRACE = M.TRACE
    if MI[L.MI_ARR_MODE] == ARR_POISSON:
        u = u01(SEED[b], n, 0, S_ARRIVAL)
        rate = MF[L.MF_RATE]
        if SF[b, L.SF_RATE_SCALE] > 0.0:  # a per-episode load (the envs' load_range)
            rate = rate * SF[b, L.SF_RATE_SCALE]
        SF[b, L.SF_ARR_CLOCK] += -math.log(1.0 - u) / rate
        return int(math.floor(SF[b, L.SF_ARR_CLOCK]))
    if MI[L.MI_ARR_MODE] == ARR_CLOSED:
        return 0
    return TRACE[L.TRACE_T, n]


@kernel_step
def on_arrival(M, S, b, n):
    SC = S.SC
    MI = M.MI
    RQ = S.RQ
    TRACE = M.TRACE
    SEED = S.SEED
    m_wf_cdf = M.wf_cdf
    m_wf_phase_off = M.wf_phase_off
    PHASE = M.PHASE
    RES = S.RES
    JB = S.JB
    now = SC[b, L.SC_NOW]
    if n + 1 < MI[L.MI_N_REQUESTS]:
        t = next_arrival_time(M, S, b, n + 1)
        heap_push(S, b, t if t > now else now, EV_ARRIVAL, n + 1)
    SC[b, L.SC_RQ_NFREE] -= 1
    r = RQ[b, SC[b, L.SC_RQ_NFREE], L.RQ_FREE]
    RQ[b, r, L.RQ_UID] = n
    if MI[L.MI_ARR_MODE] == ARR_TRACE:
        w = TRACE[L.TRACE_W, n]
    else:
        u = u01(SEED[b], n, 0, S_WORKFLOW)
        w = 0
        while w < m_wf_cdf.shape[0] - 1 and u >= m_wf_cdf[w]:
            w += 1
    RQ[b, r, L.RQ_WF] = w
    RQ[b, r, L.RQ_HOME] = -1
    row = m_wf_phase_off[w]
    for k in range(m_wf_phase_off[w] + 1, m_wf_phase_off[w + 1]):
        ar = PHASE[L.PHASE_AFTER_REQ, k]
        ac = PHASE[L.PHASE_AFTER_CYC, k]
        if (ar >= 0 and n >= ar) or (ac >= 0 and now >= ac):
            row = k
    RQ[b, r, L.RQ_ROW] = row
    RES[b, n, L.RES_ARR] = now
    RES[b, n, L.RES_WF] = w
    SC[b, L.SC_N_ARRIVED] += 1
    SC[b, L.SC_SUM_ARR] += now
    j = alloc_job(S, b)
    JB[b, j, L.JB_BLOCK] = -1
    JB[b, j, L.JB_REQ] = r
    JB[b, j, L.JB_CREATED] = now
    dq_push(S, b, j)


@kernel_step
def apply_cluster(M, S, b, WL, j, h):
    JB = S.JB
    RQ = S.RQ
    RES = S.RES
    m_wf_entry = M.wf_entry
    r = JB[b, j, L.JB_REQ]
    RQ[b, r, L.RQ_HOME] = h
    RES[b, RQ[b, r, L.RQ_UID], L.RES_HOME] = h
    f = alloc_frame(S, b, FR_ROOT, -1, r, 1)
    free_job(S, b, j)
    w = RQ[b, r, L.RQ_WF]
    wl_push(WL, f, m_wf_entry[w], h, 0, uint64(ROOT_LIN), -1)
    flush(M, S, b, WL)


@kernel_helper
def tbu_decided(M, S, b, c, scope):
    """Cycle a TBU choice of ``scope`` for a job of home cluster ``c`` completes: a
    machine-wide choice runs on the central scheduler, a narrower one on ``c``'s CBU
    (docs/model.md §3 "Control plane"; ``now`` while decisions are free)."""
    return decision_done(M, S, b, -1 if scope == SCOPE_MACHINE else c,
                         scope_entities(M, scope))


@kernel_step
def assign_cluster(M, S, b, WL, j, h, scope):
    """Arrival job ``j`` (popped from the decision queue) gets home cluster ``h`` by a
    decision of ``scope`` on the central scheduler; the request starts when that decision
    completes: now (at once, as with free decisions) or at an ``EV_REQUEST_START`` event."""
    t = decision_done(M, S, b, -1, scope_entities(M, scope))
    if t == S.SC[b, L.SC_NOW]:
        apply_cluster(M, S, b, WL, j, h)
    else:
        r = S.JB[b, j, L.JB_REQ]
        S.RQ[b, r, L.RQ_HOME] = h
        S.RES[b, S.RQ[b, r, L.RQ_UID], L.RES_HOME] = h
        S.CL[b, L.CL_PENDING, h] += 1  # the scheduler counts what it assigned (no herding)
        heap_push(S, b, t, EV_REQUEST_START, j)


@kernel_step
def on_request_start(M, S, b, WL, j):
    """The central scheduler completed the cluster decision of arrival job ``j``."""
    h = S.RQ[b, S.JB[b, j, L.JB_REQ], L.RQ_HOME]
    S.CL[b, L.CL_PENDING, h] -= 1
    apply_cluster(M, S, b, WL, j, h)


@kernel_entry
def init_member(M, S, b):
    """Schedule the first arrival (and epoch) of a freshly laid-out member."""
    MI = M.MI
    t = next_arrival_time(M, S, b, 0)
    heap_push(S, b, t, EV_ARRIVAL, 0)
    if MI[L.MI_EPOCH] > 0:
        heap_push(S, b, MI[L.MI_EPOCH], EV_EPOCH, 0)


@kernel_entry
def init_members(M, S, rows):
    """:func:`init_member` for every member in ``rows``."""
    for i in range(rows.shape[0]):
        init_member(M, S, rows[i])


@kernel_helper
def place_tb(M, S, b, j, c, u, scope):
    """TB job ``j`` (the decision queue's head, home cluster ``c``) goes where the policy's
    ``decide_tbu`` answer ``u`` (a choice of ``scope``) says: a TBU (an invalid one is counted
    and replaced by the least-loaded TBU of ``c``), its data moving once the decision
    completes; ``PARK_HOME`` = ``c``'s backlog, ``park_code(c')`` = cluster ``c'``'s backlog
    (parking costs no decision time: docs/model.md §3 "Control plane")."""
    MI = M.MI
    TB = S.TB
    dq_pop(S, b)
    if u >= 0 and (u >= MI[L.MI_T] or TB[b, L.TB_QL, u] >= MI[L.MI_QCAP]):
        S.SC[b, L.SC_N_INVALID] += 1
        u = least_loaded_tbu(M, S, b, c)
    if u >= 0:
        enqueue_at(M, S, b, j, u, tbu_decided(M, S, b, c, scope))
    elif u == PARK_HOME:
        park(M, S, b, c, j)
    else:
        park(M, S, b, parked_cluster(u), j)


@kernel_step
def place_action(M, S, b, j, action, pol):
    """Resolve a DEC_PLACE decision about TB job ``j`` (the decision queue's head): ``action``
    ``u < T`` = TBU ``u`` of the machine, ``T + c`` = park the job in cluster ``c``'s backlog
    (``T + home`` is the plain "wait"), ``POLICY_ACTION`` = the member's own ``decide_tbu``.
    Then exactly what the kernel-only path does with a ``decide_tbu`` answer (``place_tb``):
    an invalid TBU (full queue) is counted and replaced by the home cluster's least-loaded
    TBU; an action outside ``[0, T + C)`` likewise. An agent's placement scans the machine's
    T TBUs on the central scheduler (docs/model.md §3 "Control plane"); the policy's own
    answer costs what it costs in the kernel-only run."""
    MI = M.MI
    T = MI[L.MI_T]
    c = S.RQ[b, S.JB[b, j, L.JB_REQ], L.RQ_HOME]
    scope = SCOPE_MACHINE
    if action == POLICY_ACTION:
        u = decide_tbu(M, S, b, j, pol)
        scope = tbu_scope(pol)
    elif 0 <= action < T:
        u = action
    elif T <= action < T + MI[L.MI_C]:
        u = PARK_HOME if action - T == c else park_code(action - T)
    else:
        S.SC[b, L.SC_N_INVALID] += 1
        u = least_loaded_tbu(M, S, b, c)  # -1 (PARK_HOME) when the home cluster is full
    place_tb(M, S, b, j, c, u, scope)


@kernel_helper
def _capacity_ok(M, S, b):
    SC = S.SC
    MI = M.MI
    HP = S.HP
    margin = MI[L.MI_MARGIN]
    return (SC[b, L.SC_FR_NFREE] >= margin and SC[b, L.SC_JB_NFREE] >= margin
            and SC[b, L.SC_RQ_NFREE] >= 1 and SC[b, L.SC_HP_LEN] + margin <= HP.shape[1])


@kernel_step
def idle_epochs(M, S, b, pol, t, until):
    """How many epoch lengths to the next epoch worth running, after a quiet epoch at ``t``
    (1: the next one). Epochs before the next other event, before ``until`` and before
    ``epoch_quiet_until`` would change nothing; skipping them leaves the state exactly as
    running them would: clock at the last skipped one, its events counted, its pushes
    sequenced (so huge cycle counts do not tick through millions of empty epochs)."""
    SC = S.SC
    e = M.MI[L.MI_EPOCH]
    lim = epoch_quiet_until(M, S, b, pol)
    if lim < 0:
        return 1
    target = S.HP[b, 0, L.HP_TIME]
    if lim < target:
        target = lim
    k = (target - t + e - 1) // e  # first epoch at or after target
    k2 = (until - t) // e + 1  # first epoch after until
    if k2 < k:
        k = k2
    if k <= 1:
        return 1
    SC[b, L.SC_N_EVENTS] += k - 1
    SC[b, L.SC_SEQ] += k - 1
    SC[b, L.SC_NOW] = t + (k - 1) * e
    return k


@kernel_helper
def resolve_dispatch(M, S, b, pol, ext, action):
    """Apply the answer to a pending dispatch decision: candidate ``action``; the member's
    dispatch rule for ``POLICY_ACTION`` or an invalid candidate (counted)."""
    SC = S.SC
    u = SC[b, L.SC_DEC_TBU]
    i = action
    if action == POLICY_ACTION:
        i = dispatch_rule(M, S, b, u, dispatch_rule_code(M), pol)
    elif i < 0 or i >= dispatch_count(M, S, b, u, pol):
        SC[b, L.SC_N_INVALID] += 1
        i = dispatch_rule(M, S, b, u, dispatch_rule_code(M), pol)
    SC[b, L.SC_DEC_TBU] = -1
    dispatch_apply(M, S, b, u, i, pol)
    tbu_start(M, S, b, u, pol, ext)


@kernel_entry
def run_member(M, S, b, pol, ext, until, action):
    """Advance member ``b`` to its next external decision (a kind whose bit ``1 << DEC_*``
    is set in ``ext``), to ``until``, or to its end; ``action`` resolves the pending
    decision first (``NO_ACTION``: none). Returns the member's status ``ST_*``."""
    SC = S.SC
    MI = M.MI
    RQ = S.RQ
    JB = S.JB
    TB = S.TB
    HP = S.HP
    WL = make_worklist(S, b)
    if SC[b, L.SC_DEC_KIND] != DEC_NONE:
        if action == NO_ACTION:
            return ST_DECISION
        j = SC[b, L.SC_DQ_HEAD]
        if SC[b, L.SC_DEC_KIND] == DEC_DISPATCH:
            resolve_dispatch(M, S, b, pol, ext, action)
        elif SC[b, L.SC_DEC_KIND] == DEC_PROVISION:
            provision_action(M, S, b, action, pol)
        elif SC[b, L.SC_DEC_KIND] == DEC_PLACE:
            place_action(M, S, b, j, action, pol)
        elif SC[b, L.SC_DEC_KIND] == DEC_CLUSTER:
            h = action
            scope = SCOPE_CLUSTERS  # an agent's cluster choice scans the C clusters
            if action == POLICY_ACTION:
                h = decide_cluster(M, S, b, j, pol)
                scope = cluster_scope(pol)
            elif h < 0 or h >= MI[L.MI_C]:
                SC[b, L.SC_N_INVALID] += 1
                h = decide_cluster(M, S, b, j, pol)
            dq_pop(S, b)
            assign_cluster(M, S, b, WL, j, h, scope)
        else:
            c = RQ[b, JB[b, j, L.JB_REQ], L.RQ_HOME]
            if action == POLICY_ACTION:
                place_tb(M, S, b, j, c, decide_tbu(M, S, b, j, pol), tbu_scope(pol))
            else:
                u = action
                if u < 0 or u >= MI[L.MI_T] or TB[b, L.TB_QL, u] >= MI[L.MI_QCAP]:
                    SC[b, L.SC_N_INVALID] += 1
                    u = least_loaded_tbu(M, S, b, c)
                dq_pop(S, b)
                # an agent's TBU choice scans its home cluster's K TBUs, on that cluster's CBU
                enqueue_at(M, S, b, j, u, tbu_decided(M, S, b, c, SCOPE_CLUSTER))
        SC[b, L.SC_DEC_KIND] = DEC_NONE
        SC[b, L.SC_DEC_JOB] = -1
    while True:
        if SC[b, L.SC_PROV_CLUSTER] > 0:  # an epoch's provisioning is under way
            SC[b, L.SC_DEC_KIND] = DEC_PROVISION
            return ST_DECISION
        while SC[b, L.SC_DQ_LEN] > 0:
            if not _capacity_ok(M, S, b):
                return ST_GROW
            j = SC[b, L.SC_DQ_HEAD]
            if JB[b, j, L.JB_BLOCK] < 0:
                if ext & EXT_CLUSTER:
                    SC[b, L.SC_DEC_KIND] = DEC_CLUSTER
                    SC[b, L.SC_DEC_JOB] = j
                    return ST_DECISION
                h = decide_cluster(M, S, b, j, pol)
                dq_pop(S, b)
                assign_cluster(M, S, b, WL, j, h, cluster_scope(pol))
            else:
                c = RQ[b, JB[b, j, L.JB_REQ], L.RQ_HOME]
                if ext & EXT_PLACE:  # every TB instance, where the policy would decide
                    SC[b, L.SC_DEC_KIND] = DEC_PLACE
                    SC[b, L.SC_DEC_JOB] = j
                    return ST_DECISION
                if ext & EXT_TBU:
                    if not cluster_has_space(M, S, b, c):
                        dq_pop(S, b)
                        park(M, S, b, c, j)
                        continue
                    SC[b, L.SC_DEC_KIND] = DEC_TBU
                    SC[b, L.SC_DEC_JOB] = j
                    return ST_DECISION
                place_tb(M, S, b, j, c, decide_tbu(M, S, b, j, pol), tbu_scope(pol))
        if SC[b, L.SC_N_DONE] >= MI[L.MI_N_REQUESTS]:
            return ST_DONE
        if SC[b, L.SC_HP_LEN] == 0:
            return ST_STALLED
        if HP[b, 0, L.HP_TIME] > until:
            return ST_TIME
        if not _capacity_ok(M, S, b):
            return ST_GROW
        t, kind, data = heap_pop(S, b)
        SC[b, L.SC_NOW] = t
        SC[b, L.SC_N_EVENTS] += 1
        if kind == EV_TB_DONE:
            on_tb_done(M, S, b, WL, data, pol, ext)
            if SC[b, L.SC_DEC_KIND] != DEC_NONE:  # a dispatch decision (EXT_DISPATCH)
                return ST_DECISION
        elif kind == EV_CB_DONE:
            on_cb_done(M, S, b, WL, data)
        elif kind == EV_TBU_FREE:
            on_tbu_free(M, S, b, data, pol, ext)
            if SC[b, L.SC_DEC_KIND] != DEC_NONE:
                return ST_DECISION
        elif kind == EV_ARRIVAL:
            on_arrival(M, S, b, data)
        elif kind == EV_REQUEST_START:
            on_request_start(M, S, b, WL, data)
        else:
            # an epoch with nothing else pending and no decision to make: count it, so a
            # member whose work can never be placed ends as stalled instead of looping
            if SC[b, L.SC_HP_LEN] == 0 and SC[b, L.SC_DQ_LEN] == 0:
                SC[b, L.SC_IDLE_EPOCHS] += 1
                if SC[b, L.SC_IDLE_EPOCHS] > MAX_IDLE_EPOCHS:
                    return ST_STALLED
            else:
                SC[b, L.SC_IDLE_EPOCHS] = 0
            if ext & EXT_PROVISION:
                provision_begin(M, S, b)  # the agent decides, cluster by cluster
                continue
            rc0 = SC[b, L.SC_N_RECONF]
            mg0 = SC[b, L.SC_N_MIGRATIONS]
            on_epoch(M, S, b, pol)
            if SC[b, L.SC_N_DONE] < MI[L.MI_N_REQUESTS]:
                k = 1
                if SC[b, L.SC_N_RECONF] == rc0 and SC[b, L.SC_N_MIGRATIONS] == mg0 \
                        and SC[b, L.SC_HP_LEN] > 0:
                    k = idle_epochs(M, S, b, pol, t, until)
                heap_push(S, b, t + k * MI[L.MI_EPOCH], EV_EPOCH, 0)


@kernel_entry
def run_batch(M, S, pol, ext, until, actions, active):
    """Advance every active member; returns nothing (each member's status, ``ST_*``, is written
    to its ``status`` field, ``S.SC[b, L.SC_STATUS]``)."""
    SC = S.SC
    for b in range(SC.shape[0]):
        if active[b]:
            SC[b, L.SC_STATUS] = run_member(M, S, b, pol, ext, until, actions[b])


__all__ = ["FORK", "NO_ACTION", "POLICY_ACTION", "ST_DONE", "ST_GROW", "ST_TIME", "init_member",
           "init_members", "run_batch", "run_member"]
