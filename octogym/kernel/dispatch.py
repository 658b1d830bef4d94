"""Dispatch: which waiting TB a freed TBU runs next (docs/model.md §4 "Dispatch", ours).

When TBU ``u`` of cluster ``c`` frees (its TB or reconfiguration ended) with a non-empty queue,
its *candidates* are, in order: the jobs of its queue, head first (none has started: the TBU
is idle), then, if its queue has space, the first ``DISPATCH_BACKLOG`` jobs of ``c``'s backlog,
oldest first. Under a policy that defers work to wait for a TBU of its configuration
(``static``, ``reactive``: ``policies.policy_defers``) only backlog jobs of the configuration
``u`` holds are candidates: such a policy never reconfigures a TBU back, so running another
configuration's job there could leave a configuration without any TBU and its parked work
waiting forever. Candidate ``i`` runs next: a queued job moves to the head of the queue (the
others keep their order behind it); a backlog job leaves the backlog and enters the queue at
its head (its input data starts moving now, as ``enqueue`` does: over contended links and
freeing its producer's output-buffer place when those mechanisms are on). Then
``loop.tbu_start`` releases the backlog and starts the TBU's head job, exactly as without
dispatch, so candidate 0 (the queue's head) is today's first-in-first-out behaviour, bit for
bit. A TBU whose output buffer is full cannot start anything: no dispatch decision is taken
for it, and when a place frees it starts its queue head (FIFO).

Who chooses: an external agent when ``ext`` has ``EXT_DISPATCH`` and there are at least two
candidates (the kernel pauses with ``DEC_DISPATCH``, the TBU in ``SC_DEC_TBU``); otherwise the
member's dispatch rule, ``M.MF[MF_POLICY + PARAM_DISPATCH]`` (0 = FIFO, the default:
then nothing here runs). A job enqueued on an idle TBU with an empty queue starts at once (it
is the only job the TBU was given): dispatch applies when a TBU frees.

The rules (``DISPATCH_RULES``; ties go to the lowest candidate index, i.e. FIFO):
``fifo`` the head; ``sed`` the shortest expected run (``dur_mean``); ``srw`` the shortest
expected remaining work of the job's request from this block on (``M.rem_work``,
:mod:`octogym.workflows.remaining`); ``oldest`` the job of the earliest-arrived request;
``config_match`` the first job whose configuration the TBU holds (no reconfiguration), else
the head.
"""

from __future__ import annotations

from octogym.kernel import fields as L
from octogym.kernel.jit import kernel_helper, kernel_step
from octogym.kernel.layout import DISPATCH_BACKLOG, MF_POLICY
from octogym.kernel.mechanisms import (
    _idle_close_cluster,
    idle_close,
    input_received,
    ring,
    send_input,
)
from octogym.kernel.policies import policy_defers

# The dispatch rule's slot among the policy tunables M.MF[MF_POLICY + k]: the last of the
# N_POLICY_PARAMS = 16 slots (octogym/kernel/build.py), apart from the scheduler tunables
# (PARAM_* of octogym/kernel/policies.py, from 0 up), since any scheduler can run any rule.
PARAM_DISPATCH = 15
D_FIFO, D_SED, D_SRW, D_OLDEST, D_CONFIG_MATCH = 0, 1, 2, 3, 4
#: Dispatch rule names (the heuristic dispatch agents, ``Simulation(dispatch=...)``) -> codes.
DISPATCH_RULES: dict[str, int] = {"fifo": D_FIFO, "sed": D_SED, "srw": D_SRW,
                                  "oldest": D_OLDEST, "config_match": D_CONFIG_MATCH}


@kernel_helper
def dispatch_rule_code(M):
    """The member's dispatch rule (``PARAM_DISPATCH``; 0 = FIFO)."""
    return int(M.MF[MF_POLICY + PARAM_DISPATCH])


@kernel_helper
def next_backlog_candidate(M, S, b, u, j, pol):
    """The first job after backlog job ``j`` (-1: from the head) of TBU ``u``'s cluster that
    ``u`` may run (module docstring); -1 if none."""
    j = S.CL[b, L.CL_BL_HEAD, M.tbu_cluster[u]] if j < 0 else S.JB[b, j, L.JB_NEXT]
    if policy_defers(pol):
        cfg = S.TB[b, L.TB_CFG, u]
        while j >= 0 and M.MB[L.MB_BLK_CFG, S.JB[b, j, L.JB_BLOCK]] != cfg:
            j = S.JB[b, j, L.JB_NEXT]
    return j


@kernel_helper
def dispatch_count(M, S, b, u, pol):
    """Number of dispatch candidates of TBU ``u`` under policy ``pol`` (module docstring)."""
    ql = S.TB[b, L.TB_QL, u]
    if ql >= M.MI[L.MI_QCAP]:
        return ql
    if not policy_defers(pol):
        bl = S.CL[b, L.CL_BL_LEN, M.tbu_cluster[u]]
        return ql + (bl if bl < DISPATCH_BACKLOG else DISPATCH_BACKLOG)
    n = ql
    j = next_backlog_candidate(M, S, b, u, -1, pol)
    while j >= 0 and n - ql < DISPATCH_BACKLOG:
        n += 1
        j = next_backlog_candidate(M, S, b, u, j, pol)
    return n


@kernel_helper
def dispatch_job(M, S, b, u, i, pol):
    """Job of dispatch candidate ``i`` of TBU ``u`` (``i < dispatch_count``)."""
    TB = S.TB
    ql = TB[b, L.TB_QL, u]
    if i < ql:
        return S.TBQ[b, u, ring(TB[b, L.TB_QH, u] + i, M.MI[L.MI_QCAP])]
    j = next_backlog_candidate(M, S, b, u, -1, pol)
    for _ in range(i - ql):
        j = next_backlog_candidate(M, S, b, u, j, pol)
    return j


@kernel_helper
def dispatch_key(M, S, b, u, j, rule):
    """Rule ``rule``'s key of job ``j`` on TBU ``u``: the rule picks the smallest."""
    blk = S.JB[b, j, L.JB_BLOCK]
    if rule == D_SED:
        return M.dur_mean[blk]
    r = S.JB[b, j, L.JB_REQ]
    if rule == D_SRW:
        return M.rem_work[S.RQ[b, r, L.RQ_ROW], blk]
    if rule == D_OLDEST:
        return float(S.RES[b, S.RQ[b, r, L.RQ_UID], L.RES_ARR])
    if rule == D_CONFIG_MATCH:
        return 0.0 if M.MB[L.MB_BLK_CFG, blk] == S.TB[b, L.TB_CFG, u] else 1.0
    return 0.0  # fifo: every key equal, the head wins


@kernel_step
def dispatch_rule(M, S, b, u, rule, pol):
    """The candidate rule ``rule`` (``D_*``) picks for TBU ``u`` under policy ``pol`` (lowest
    index on ties)."""
    n = dispatch_count(M, S, b, u, pol)
    if rule == D_FIFO or n < 2:
        return 0
    ql = S.TB[b, L.TB_QL, u]
    best, best_key = 0, 0.0
    j = -1
    for i in range(n):
        if i < ql:
            j = S.TBQ[b, u, ring(S.TB[b, L.TB_QH, u] + i, M.MI[L.MI_QCAP])]
        else:
            j = next_backlog_candidate(M, S, b, u, j if i > ql else -1, pol)
        k = dispatch_key(M, S, b, u, j, rule)
        if i == 0 or k < best_key:
            best, best_key = i, k
    return best


@kernel_helper
def _enqueue_front(M, S, b, j, u):
    """Put job ``j`` at the head of TBU ``u``'s queue (which has space); its input data starts
    moving now (as ``mechanisms.enqueue``, at the other end)."""
    TB = S.TB
    c = M.tbu_cluster[u]
    send_input(M, S, b, j, u, S.SC[b, L.SC_NOW])
    if M.MI[L.MI_OBUF] > 0:
        idle_close(M, S, b, u, c)  # before its queue changes: the segment so far stands
    q = M.MI[L.MI_QCAP]
    h = ring(TB[b, L.TB_QH, u] + q - 1, q)
    TB[b, L.TB_QH, u] = h
    S.TBQ[b, u, h] = j
    TB[b, L.TB_QL, u] += 1
    S.CL[b, L.CL_QUEUED, c] += 1
    S.TBF[b, u] += M.dur_mean[S.JB[b, j, L.JB_BLOCK]]
    input_received(M, S, b, j)


@kernel_step
def dispatch_apply(M, S, b, u, i, pol):
    """Make candidate ``i`` of idle TBU ``u`` its queue head (module docstring); the caller
    then starts the TBU (``loop.tbu_start``)."""
    TB = S.TB
    CL = S.CL
    JB = S.JB
    c = M.tbu_cluster[u]
    ql = TB[b, L.TB_QL, u]
    q = M.MI[L.MI_QCAP]
    h = TB[b, L.TB_QH, u]
    if 0 < i < ql:
        j = S.TBQ[b, u, (h + i) % q]
        for k in range(i, 0, -1):
            S.TBQ[b, u, (h + k) % q] = S.TBQ[b, u, (h + k - 1) % q]
        S.TBQ[b, u, h] = j
    elif i >= ql:
        j = dispatch_job(M, S, b, u, i, pol)
        prev = -1
        k = CL[b, L.CL_BL_HEAD, c]
        while k != j:
            prev = k
            k = JB[b, k, L.JB_NEXT]
        if CL[b, L.CL_BL_LEN, c] == 1:
            _idle_close_cluster(M, S, b, c)  # the backlog empties: idle TBUs turn starved
        nxt = JB[b, j, L.JB_NEXT]
        if prev == -1:
            CL[b, L.CL_BL_HEAD, c] = nxt
        else:
            JB[b, prev, L.JB_NEXT] = nxt
        if CL[b, L.CL_BL_TAIL, c] == j:
            CL[b, L.CL_BL_TAIL, c] = prev
        CL[b, L.CL_BL_LEN, c] -= 1
        JB[b, j, L.JB_NEXT] = -1
        _enqueue_front(M, S, b, j, u)
