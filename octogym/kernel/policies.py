"""Compiled scheduling policies, dispatched by integer code inside the kernel.

A policy answers four hooks; each may use the mechanisms of :mod:`octogym.kernel.mechanisms`:

* ``decide_cluster(M, S, b, j, pol)``: home cluster of the request of arrival job ``j``;
* ``decide_tbu(M, S, b, j, pol)``: a TBU with queue space for TB instance ``j``; or
  ``PARK_HOME`` to park it in its home cluster's backlog, or ``park_code(c)`` to park it in
  cluster ``c``'s backlog, until a queue slot frees there;
* ``on_idle(M, S, b, u, pol)``: TBU ``u`` just ran out of work (may steal);
* ``on_epoch(M, S, b, pol)``: the periodic epoch event (may reconfigure / migrate).

Codes are kernel-level; names, parameters and documentation live in the scheduler registry
(:mod:`octogym.schedulers`), the single source of truth users see. Tunables are read from
``M.MF[MF_POLICY + k]`` with the ``PARAM_*`` indices below. All algorithms are ours, after the
paper's strategy names (docs/model.md §6).
"""

from __future__ import annotations

import numpy as np

from octogym.kernel import fields as L
from octogym.kernel.jit import kernel_helper, kernel_step
from octogym.kernel.layout import MF_POLICY, PARK_HOME, TBU_IDLE
from octogym.kernel.mechanisms import (
    est_finish,
    has_space,
    migrate,
    park_code,
    queued_movable,
    reconfigure,
    ring,
    steal,
    transfer,
)
from octogym.rng import S_POLICY, u01

P_ROUND_ROBIN, P_LEAST_LOADED, P_RANDOM = 0, 1, 2
P_STATIC, P_REACTIVE, P_ADAPTIVE, P_PROACTIVE, P_OCTOPUS, P_EFT = 3, 4, 5, 6, 7, 8
KERNEL_POLICIES = {
    "round_robin": P_ROUND_ROBIN, "least_loaded": P_LEAST_LOADED, "random": P_RANDOM,
    "static": P_STATIC, "reactive": P_REACTIVE, "adaptive": P_ADAPTIVE,
    "proactive": P_PROACTIVE, "octopus": P_OCTOPUS, "eft": P_EFT,
}
# The control plane (docs/model.md §3 and §6): what each policy's decisions scan, so what they
# cost. A scope names the entities scanned: none (a counter or a draw), the K TBUs of one
# cluster, the C clusters (each keeps its own load counters), the T TBUs of the machine. A TBU
# choice of scope SCOPE_MACHINE runs on the central scheduler, a narrower one on the home
# cluster's CBU; every cluster assignment runs on the central scheduler.
SCOPE_NONE, SCOPE_CLUSTER, SCOPE_CLUSTERS, SCOPE_MACHINE = 0, 1, 2, 3
DECISION_SCOPES = {  # policy code -> (cluster decision scope, TBU decision scope)
    P_ROUND_ROBIN: (SCOPE_NONE, SCOPE_CLUSTER), P_LEAST_LOADED: (SCOPE_CLUSTERS, SCOPE_CLUSTER),
    P_RANDOM: (SCOPE_NONE, SCOPE_CLUSTER), P_STATIC: (SCOPE_NONE, SCOPE_CLUSTER),
    P_REACTIVE: (SCOPE_NONE, SCOPE_CLUSTER), P_ADAPTIVE: (SCOPE_NONE, SCOPE_CLUSTER),
    P_PROACTIVE: (SCOPE_CLUSTERS, SCOPE_CLUSTER), P_OCTOPUS: (SCOPE_CLUSTERS, SCOPE_CLUSTER),
    P_EFT: (SCOPE_CLUSTERS, SCOPE_MACHINE),
}
if sorted(DECISION_SCOPES) != sorted(KERNEL_POLICIES.values()):
    raise AssertionError("policies.DECISION_SCOPES must give every kernel policy code its "
                         f"decision scopes: has {sorted(DECISION_SCOPES)}, codes are "
                         f"{sorted(KERNEL_POLICIES.values())}")
_SCOPES = np.array([DECISION_SCOPES[p] for p in range(len(DECISION_SCOPES))], np.int64)
# Tunables: M.MF[MF_POLICY + PARAM_*] (defaults and reasons in octogym.schedulers).
PARAM_EMA, PARAM_REACTIVE_THRESHOLD, PARAM_DIFFUSION, PARAM_DIFFUSION_THRESHOLD = 0, 1, 2, 3
PARAM_STRUCTURAL_IDLE, PARAM_STEAL = 4, 5
PARAM_PROVISION, PARAM_RECONF_AWARE, PARAM_REACH = 6, 7, 8
N_PARAMS = 9


@kernel_helper
def policy_defers(pol):
    """True for policies that may park a job although its cluster has queue space."""
    return pol == P_STATIC or pol == P_REACTIVE


@kernel_helper
def param(M, k):
    return M.MF[MF_POLICY + k]


@kernel_helper
def policy_draw(S, b):
    """A uniform draw for a randomised policy, from the member's seed and a counter."""
    SC = S.SC
    k = SC[b, L.SC_N_POLICY_DRAWS]
    SC[b, L.SC_N_POLICY_DRAWS] = k + 1
    return u01(S.SEED[b], k, 0, S_POLICY)


@kernel_helper
def cluster_scope(pol):
    """Scope (``SCOPE_*``) of policy ``pol``'s cluster assignment."""
    return _SCOPES[pol, 0]


@kernel_helper
def tbu_scope(pol):
    """Scope (``SCOPE_*``) of policy ``pol``'s TBU choice."""
    return _SCOPES[pol, 1]


@kernel_helper
def scope_entities(M, scope):
    """Entities a decision of ``scope`` scans: 0, K, C or T."""
    MI = M.MI
    if scope == SCOPE_CLUSTER:
        return MI[L.MI_K]
    if scope == SCOPE_CLUSTERS:
        return MI[L.MI_C]
    if scope == SCOPE_MACHINE:
        return MI[L.MI_T]
    return 0


@kernel_helper
def epoch_draw(M, S, b, x):
    """A uniform draw from the member's policy stream keyed by ``x >= 0`` and by how far the
    member has got (TBs and CBs done, requests arrived), not by the clock or a draw counter:
    between two epochs with nothing else in between the key is the same, so an epoch that
    changed nothing would change nothing again, and the loop may skip quiet epochs
    (``epoch_quiet_until``) bit-identically (keyed by the clock, a tie broken otherwise at a
    skipped epoch could have reconfigured). An epoch's own work (reconfigurations,
    migrations) does not move the key, so its draws are the same all through the epoch."""
    SC = S.SC
    k = SC[b, L.SC_N_TB_DONE] + SC[b, L.SC_N_CB_DONE] + SC[b, L.SC_N_ARRIVED]
    return u01(S.SEED[b], k, 1 + x, S_POLICY)


# ---- building blocks ------------------------------------------------------------------------


@kernel_helper
def least_loaded_tbu(M, S, b, c):
    """TBU of cluster ``c`` with space and the fewest queued jobs (lowest id on ties)."""
    MI = M.MI
    TB = S.TB
    best = -1
    bl = 1 << 62
    for u in range(c * MI[L.MI_K], (c + 1) * MI[L.MI_K]):
        if TB[b, L.TB_QL, u] < MI[L.MI_QCAP] and TB[b, L.TB_QL, u] < bl:
            bl = TB[b, L.TB_QL, u]
            best = u
    return best


@kernel_helper
def least_loaded_cluster(M, S, b):
    """Cluster with the fewest queued plus backlogged TB instances (lowest id on ties); a
    request assigned there whose start waits for its costly decision counts as one."""
    MI = M.MI
    CL = S.CL
    best = 0
    bl = 1 << 62
    for c in range(MI[L.MI_C]):
        load = CL[b, L.CL_QUEUED, c] + CL[b, L.CL_BL_LEN, c] + CL[b, L.CL_PENDING, c]
        if load < bl:
            bl = load
            best = c
    return best


@kernel_helper
def cluster_work(M, S, b, c):
    """Expected TBU-cycles waiting in cluster ``c`` (queued work + backlog at the mean TB
    duration; a request assigned there whose start waits for its costly decision counts as
    one backlogged TB), per TBU: the predicted time until a new job there could start."""
    MI = M.MI
    K = MI[L.MI_K]
    w = 0.0
    for u in range(c * K, (c + 1) * K):
        w += S.TBF[b, u]
    mean = 0.0
    n = M.CFG.shape[1]
    for k in range(n):
        mean += M.CFG[L.CFG_MEAN, k] * M.CFG[L.CFG_SHARE, k]
    w += (S.CL[b, L.CL_BL_LEN, c] + S.CL[b, L.CL_PENDING, c]) * mean
    return w / K


@kernel_step
def lowest_finish_cluster(M, S, b):
    """Cluster with the lowest predicted finish time (``cluster_work``); ties break by a seeded
    draw (reservoir sampling over the tied clusters), not by the lowest id: at light load many
    clusters have no work, and id order would fill the mesh row by row."""
    best = 0
    bw = np.inf
    nties = 0
    for c in range(M.MI[L.MI_C]):
        w = cluster_work(M, S, b, c)
        if w < bw:
            bw = w
            best = c
            nties = 1
        elif w == bw:
            nties += 1
            if policy_draw(S, b) * nties < 1.0:
                best = c
    return best


@kernel_helper
def queued_cfg(M, S, b, u):
    """The configuration TBU ``u`` will hold once its queue has run (its last queued job's, or
    its current one if the queue is empty)."""
    n = S.TB[b, L.TB_QL, u]
    if n == 0:
        return S.TB[b, L.TB_CFG, u]
    lj = S.TBQ[b, u, ring(S.TB[b, L.TB_QH, u] + n - 1, M.MI[L.MI_QCAP])]
    return M.MB[L.MB_BLK_CFG, S.JB[b, lj, L.JB_BLOCK]]


@kernel_step
def eft_tbu(M, S, b, j, lo, hi):
    """TBU in ``[lo, hi)`` with space and the earliest estimated finish of job ``j``: data
    arrival (transfer from its origin) overlapped with queued expected work and any
    reconfiguration, plus its mean duration. Lowest id on ties; -1 if none has space."""
    JB = S.JB
    blk = JB[b, j, L.JB_BLOCK]
    org = JB[b, j, L.JB_ORG]
    nbytes = JB[b, j, L.JB_BYTES]
    best = -1
    bf = np.inf
    for u in range(lo, hi):
        if not has_space(M, S, b, u):
            continue
        tr = transfer(M, org, M.tbu_cluster[u], nbytes)
        q = est_finish(M, S, b, u, blk) - M.dur_mean[blk]
        f = (tr if tr > q else q) + M.dur_mean[blk]
        if f < bf:
            bf = f
            best = u
    return best


@kernel_helper
def finish_after(M, S, b, u, blk, tr):
    """Estimated finish of a job of block ``blk`` on TBU ``u`` whose data arrives ``tr``
    cycles from now: the transfer overlapped with the queued expected work and any
    reconfiguration, plus its mean duration. (A placement scanning several TBUs of a cluster
    computes ``tr`` once for them: the data moves to the cluster.)"""
    q = est_finish(M, S, b, u, blk) - M.dur_mean[blk]
    return (tr if tr > q else q) + M.dur_mean[blk]


@kernel_helper
def finish_at(M, S, b, j, u):
    """Estimated finish of job ``j`` on TBU ``u`` (:func:`finish_after`, its data moving from
    its origin)."""
    blk = S.JB[b, j, L.JB_BLOCK]
    tr = transfer(M, S.JB[b, j, L.JB_ORG], M.tbu_cluster[u], S.JB[b, j, L.JB_BYTES])
    return finish_after(M, S, b, u, blk, tr)


@kernel_helper
def switch_cost(M):
    """What a cost-aware scheduler charges for reconfiguring a TBU away from its
    configuration: the reconfiguration, twice (ours). The configuration it leaves keeps its
    demand, so a switch tends to be followed by a switch back; charging one reconfiguration
    only (the greedy estimate) thrashes when reconfigurations are slow (docs/results.md,
    "Sensitivity")."""
    return 2.0 * M.MI[L.MI_RECONF]


@kernel_helper
def reach(M):
    """Clusters holding a configuration that a placement considers, nearest first (>= 1)."""
    r = int(param(M, PARAM_REACH))
    return r if r > 1 else 1


@kernel_step
def static_tbu(M, S, b, j):
    """``static``: among the TBUs that hold the job's configuration in the ``reach`` nearest
    clusters holding it (from its home cluster; home first), the one with space and the
    earliest estimated finish (data transfer included; nearest cluster, then lowest id, on
    ties). If all of them are full, park the job in the nearest holding cluster's backlog (it
    is re-offered when a slot frees there)."""
    MI = M.MI
    K = MI[L.MI_K]
    blk = S.JB[b, j, L.JB_BLOCK]
    org = S.JB[b, j, L.JB_ORG]
    nbytes = S.JB[b, j, L.JB_BYTES]
    cfg = M.MB[L.MB_BLK_CFG, blk]
    home = S.RQ[b, S.JB[b, j, L.JB_REQ], L.RQ_HOME]
    r = reach(M)
    seen = 0
    first = -1
    best = -1
    bf = np.inf
    for i in range(MI[L.MI_C]):
        d = M.near[home, i]
        held = False
        tr = -1  # the transfer to cluster d, once needed (>= 0)
        for u in range(d * K, (d + 1) * K):
            if S.TB[b, L.TB_CFG, u] == cfg:
                held = True
                if has_space(M, S, b, u):
                    if tr < 0:
                        tr = transfer(M, org, d, nbytes)
                    f = finish_after(M, S, b, u, blk, tr)
                    if f < bf:
                        bf = f
                        best = u
        if held:
            if first < 0:
                first = d
            seen += 1
            if seen >= r:
                break
    if best >= 0:
        return best
    return park_code(first) if first >= 0 else PARK_HOME


@kernel_step
def aware_tbu(M, S, b, j, u0):
    """Reconfiguration-cost-aware placement: ``u0`` (the scheduler's own choice in the home
    cluster) unless a TBU whose queued configuration already matches the job's, in the home
    cluster or the ``reach`` nearest clusters holding one, is estimated to finish it sooner
    (queue wait and data transfer included); if ``u0`` would have to reconfigure, it is charged
    ``switch_cost`` for it, not one reconfiguration. So waiting for a matching TBU is weighed
    against reconfiguring, and the holders ``static`` would consider are always considered."""
    if u0 < 0 or param(M, PARAM_RECONF_AWARE) <= 0:
        return u0
    MI = M.MI
    K = MI[L.MI_K]
    blk = S.JB[b, j, L.JB_BLOCK]
    org = S.JB[b, j, L.JB_ORG]
    nbytes = S.JB[b, j, L.JB_BYTES]
    cfg = M.MB[L.MB_BLK_CFG, blk]
    home = M.tbu_cluster[u0]
    best = u0
    bf = finish_at(M, S, b, j, u0)
    if queued_cfg(M, S, b, u0) != cfg:
        bf += switch_cost(M) - MI[L.MI_RECONF]
    r = reach(M)
    seen = 0
    for i in range(MI[L.MI_C]):
        d = M.near[home, i]
        held = False
        tr = -1  # the transfer to cluster d, once needed (>= 0)
        for u in range(d * K, (d + 1) * K):
            if queued_cfg(M, S, b, u) == cfg:
                held = True
                if has_space(M, S, b, u):
                    if tr < 0:
                        tr = transfer(M, org, d, nbytes)
                    f = finish_after(M, S, b, u, blk, tr)
                    if f < bf:
                        bf = f
                        best = u
        if held:
            seen += 1
            if seen >= r:
                break
    return best


@kernel_helper
def aware_home_tbu(M, S, b, j, c):
    """:func:`aware_tbu` over cluster ``c``'s TBUs only: ``c``'s earliest-finish TBU
    (:func:`eft_tbu`), charged ``switch_cost`` if it must reconfigure for job ``j``, unless a
    TBU of ``c`` whose queued configuration matches the job's is estimated to finish it sooner
    (the first such on ties; the plain earliest finish without ``reconf_aware``). -1 if no TBU
    of ``c`` has space. Never called by the kernel: it is ``adaptive``'s and ``octopus``'s
    placement where only the home cluster's TBUs are actions (``agents/base.py``, the TBU
    env)."""
    K = M.MI[L.MI_K]
    u0 = eft_tbu(M, S, b, j, c * K, (c + 1) * K)
    if u0 < 0 or param(M, PARAM_RECONF_AWARE) <= 0:
        return u0
    cfg = M.MB[L.MB_BLK_CFG, S.JB[b, j, L.JB_BLOCK]]
    best = u0
    bf = finish_at(M, S, b, j, u0)
    if queued_cfg(M, S, b, u0) != cfg:
        bf += switch_cost(M) - M.MI[L.MI_RECONF]
    for u in range(c * K, (c + 1) * K):
        if queued_cfg(M, S, b, u) == cfg and has_space(M, S, b, u):
            f = finish_at(M, S, b, j, u)
            if f < bf:
                bf = f
                best = u
    return best


# ---- hooks ---------------------------------------------------------------------------------


@kernel_step
def decide_cluster(M, S, b, j, pol):
    SC = S.SC
    MI = M.MI
    if pol == P_LEAST_LOADED or pol == P_EFT:
        return least_loaded_cluster(M, S, b)
    if pol == P_RANDOM:
        return min(int(policy_draw(S, b) * MI[L.MI_C]), MI[L.MI_C] - 1)
    if pol == P_PROACTIVE or pol == P_OCTOPUS:
        return lowest_finish_cluster(M, S, b)
    # round_robin, static, reactive, adaptive: requests go to clusters in turn
    c = SC[b, L.SC_RR_CLUSTER] % MI[L.MI_C]
    SC[b, L.SC_RR_CLUSTER] = c + 1
    return c


@kernel_step
def decide_tbu(M, S, b, j, pol):
    MI = M.MI
    K = MI[L.MI_K]
    c = S.RQ[b, S.JB[b, j, L.JB_REQ], L.RQ_HOME]
    if pol == P_ROUND_ROBIN:
        CL = S.CL
        for k in range(K):
            u = c * K + (CL[b, L.CL_RR_TBU, c] + k) % K
            if has_space(M, S, b, u):
                CL[b, L.CL_RR_TBU, c] = (u - c * K + 1) % K
                return u
        return PARK_HOME
    if pol == P_RANDOM:
        n = 0
        for u in range(c * K, (c + 1) * K):
            if has_space(M, S, b, u):
                n += 1
        if n == 0:
            return PARK_HOME
        k = min(int(policy_draw(S, b) * n), n - 1)
        for u in range(c * K, (c + 1) * K):
            if has_space(M, S, b, u):
                if k == 0:
                    return u
                k -= 1
        return PARK_HOME
    if pol == P_STATIC or pol == P_REACTIVE:
        return static_tbu(M, S, b, j)
    if pol == P_ADAPTIVE or pol == P_OCTOPUS:
        return aware_tbu(M, S, b, j, eft_tbu(M, S, b, j, c * K, (c + 1) * K))
    if pol == P_EFT:
        return eft_tbu(M, S, b, j, 0, MI[L.MI_T])
    if pol == P_PROACTIVE:
        return aware_tbu(M, S, b, j, least_loaded_tbu(M, S, b, c))
    return least_loaded_tbu(M, S, b, c)  # least_loaded


@kernel_step
def adaptive_steal(M, S, b, u):
    """An idle TBU takes the last waiting job of the sibling with the most waiting jobs, when
    that job would otherwise wait longer than the thief's reconfiguration would take (with
    ``reconf_aware``: longer than ``switch_cost``)."""
    MI = M.MI
    K = MI[L.MI_K]
    c = M.tbu_cluster[u]
    victim = -1
    most = 0
    for v in range(c * K, (c + 1) * K):
        n = queued_movable(S, b, v)
        if v != u and n > most:
            most = n
            victim = v
    if victim < 0:
        return False
    q = MI[L.MI_QCAP]
    tail = S.TBQ[b, victim, (S.TB[b, L.TB_QH, victim] + S.TB[b, L.TB_QL, victim] - 1) % q]
    blk = S.JB[b, tail, L.JB_BLOCK]
    wait = S.TBF[b, victim] - M.dur_mean[blk]
    cost = 0.0
    if S.TB[b, L.TB_CFG, u] != M.MB[L.MB_BLK_CFG, blk]:
        cost = switch_cost(M) if param(M, PARAM_RECONF_AWARE) > 0 else float(MI[L.MI_RECONF])
    if wait > cost:
        return steal(M, S, b, u, victim)
    return False


@kernel_step
def on_idle(M, S, b, u, pol):
    if (pol == P_ADAPTIVE or pol == P_OCTOPUS) and param(M, PARAM_STEAL) > 0:
        adaptive_steal(M, S, b, u)


@kernel_helper
def job_home(S, b, j):
    """Home cluster of the request job ``j`` belongs to."""
    return S.RQ[b, S.JB[b, j, L.JB_REQ], L.RQ_HOME]


@kernel_helper
def count_home_wait(M, S, b):
    """``S.HOME_WAIT[b, c, k]``: TBs of configuration ``k`` waiting (queued on any TBU, running
    head included, or parked in any backlog) whose request's home cluster is ``c``."""
    MI = M.MI
    hw = S.HOME_WAIT[b]
    hw[:, :] = 0.0
    q = MI[L.MI_QCAP]
    for u in range(MI[L.MI_T]):
        h = S.TB[b, L.TB_QH, u]
        for i in range(S.TB[b, L.TB_QL, u]):
            j = S.TBQ[b, u, (h + i) % q]
            hw[job_home(S, b, j), M.MB[L.MB_BLK_CFG, S.JB[b, j, L.JB_BLOCK]]] += 1.0
    for c in range(MI[L.MI_C]):
        j = S.CL[b, L.CL_BL_HEAD, c]
        while j != -1:
            hw[job_home(S, b, j), M.MB[L.MB_BLK_CFG, S.JB[b, j, L.JB_BLOCK]]] += 1.0
            j = S.JB[b, j, L.JB_NEXT]


@kernel_helper
def config_count(M, S, b, total):
    """``total[k]`` = TBUs of the machine holding configuration ``k``."""
    total[:] = 0.0
    for u in range(M.MI[L.MI_T]):
        if S.TB[b, L.TB_CFG, u] >= 0:
            total[S.TB[b, L.TB_CFG, u]] += 1.0


@kernel_step
def reactive_prepare(M, S, b):
    """The machine-wide counts ``reactive`` decides from, at an epoch: ``S.PW[b, 2]`` = TBUs
    holding each configuration (:func:`config_count`), ``S.HOME_WAIT`` (by the request's home
    cluster, :func:`count_home_wait`) and ``S.PW[b, 0]`` = TBs waiting for each
    configuration, machine-wide. Reconfigurations of idle, empty TBUs change only the first."""
    C = M.MI[L.MI_C]
    ncfg = M.CFG.shape[1]
    config_count(M, S, b, S.PW[b, 2])
    count_home_wait(M, S, b)
    all_wait = S.PW[b, 0]
    all_wait[:] = 0.0
    for c in range(C):
        for k in range(ncfg):
            all_wait[k] += S.HOME_WAIT[b, c, k]


@kernel_helper
def epoch_cluster_start(M, S, b):
    """The cluster an epoch's per-cluster provisioning starts from (then on, wrapping): a
    seeded draw (``epoch_draw``), so no cluster is favoured by its index."""
    C = M.MI[L.MI_C]
    return min(int(epoch_draw(M, S, b, 0) * C), C - 1)


@kernel_step
def reactive_choice(M, S, b, c):
    """``reactive``'s move in cluster ``c`` after :func:`reactive_prepare`: ``(u, k)`` =
    reconfigure TBU ``u`` to ``k``, or ``(-1, -1)``. A configuration is *pressed* when its
    waiting jobs per TBU holding it, machine-wide, reach ``reactive_threshold`` (with
    ``reconf_aware``, also when that wait, the pressure x its mean duration, exceeds
    ``switch_cost``). The pressed configuration with the most of **the cluster's requests'**
    waiting jobs (counted by the request's home cluster, wherever they wait) per TBU of the
    cluster holding it (none counts as one; at least one job; ties by a seeded draw) takes
    over the first idle, empty TBU of the cluster whose configuration is lightly pressed
    machine-wide (fewer waiting jobs than TBUs holding it; never the machine's last TBU of a
    configuration). ``static`` serves a configuration from several clusters, so the
    machine-wide count says whether a configuration needs more TBUs and the home count says
    where its demand comes from. A configuration that no TBU holds is pressed as soon as one
    job waits for it (threshold and switching cost aside: nothing else would ever run that job;
    ``reactive`` never removes a last holder itself, but an agent's or a planner's placements
    can)."""
    K = M.MI[L.MI_K]
    ncfg = M.CFG.shape[1]
    thr = param(M, PARAM_REACTIVE_THRESHOLD)
    aware = param(M, PARAM_RECONF_AWARE) > 0
    all_wait = S.PW[b, 0]
    ntbu = S.PW[b, 1]
    total = S.PW[b, 2]
    waiting = S.HOME_WAIT[b, c]
    ntbu[:] = 0.0
    for u in range(c * K, (c + 1) * K):
        cf = S.TB[b, L.TB_CFG, u]
        if cf >= 0:
            ntbu[cf] += 1.0
    hi = -1
    hp = 0.0
    nties = 0
    for k in range(ncfg):
        mp = all_wait[k] / (total[k] if total[k] > 0 else 1.0)
        if total[k] > 0 and (mp < thr or (aware and mp * M.CFG[L.CFG_MEAN, k]
                                          <= switch_cost(M))):
            continue  # not pressed machine-wide (or waiting is cheaper than switching)
        p = waiting[k] / (ntbu[k] if ntbu[k] > 0 else 1.0)
        if p > hp:
            hp = p
            hi = k
            nties = 1
        elif p == hp and hi >= 0:
            nties += 1  # reservoir sampling: the tied config replaces with chance 1/n
            if epoch_draw(M, S, b, 1 + c * ncfg + k) * nties < 1.0:
                hi = k
    if hi < 0:
        return -1, -1
    for u in range(c * K, (c + 1) * K):
        cf = S.TB[b, L.TB_CFG, u]
        if cf == hi or cf < 0 or total[cf] < 2:
            continue  # never remove a configuration's last TBU on the machine
        if all_wait[cf] / total[cf] < 1.0 and S.TB[b, L.TB_STATE, u] == TBU_IDLE \
                and S.TB[b, L.TB_QL, u] == 0:  # reconfigure() takes only idle, empty TBUs
            return u, hi
    return -1, -1


@kernel_step
def reactive_epoch(M, S, b):
    """``reactive``: :func:`reactive_choice`'s move in every cluster (at most one each),
    clusters visited from :func:`epoch_cluster_start`."""
    C = M.MI[L.MI_C]
    total = S.PW[b, 2]
    reactive_prepare(M, S, b)
    start = epoch_cluster_start(M, S, b)
    for i in range(C):
        u, k = reactive_choice(M, S, b, (start + i) % C)
        if u >= 0:
            cf = S.TB[b, L.TB_CFG, u]
            if reconfigure(M, S, b, u, k):
                total[cf] -= 1.0
                total[k] += 1.0


@kernel_helper
def demand_update(M, S, b, c):
    """Cluster ``c``'s moving average of per-config TB demand, one epoch on (the demand
    tracking of ``proactive`` / ``octopus``)."""
    a = param(M, PARAM_EMA)
    for k in range(M.CFG.shape[1]):
        d = S.ST_DEM[b, c, k] - S.DEMAND_PREV[b, c, k]
        S.DEMAND_PREV[b, c, k] = S.ST_DEM[b, c, k]
        S.DEMAND_EMA[b, c, k] = (1.0 - a) * S.DEMAND_EMA[b, c, k] + a * d


@kernel_step
def proactive_targets(M, S, b, c, with_unmet):
    """``want`` (``S.PW[b, 0]``) = target TBUs per configuration in cluster ``c``, the
    predicted work mix (demand average times mean duration) scaled to its ``K`` TBUs;
    ``have`` (``S.PW[b, 1]``) = TBUs holding each there; ``unmet`` (``S.PW[b, 2]``) = the
    predicted TBU-cycles per epoch of each configuration that its holders there cannot serve
    (what one more TBU could gain, at most a whole epoch; only ``with_unmet``: it is computed
    once per cluster and epoch, from the holders before any reconfiguration). False if no
    demand is predicted or provisioning is off (the ``provision`` ablation)."""
    MI = M.MI
    K = MI[L.MI_K]
    ncfg = M.CFG.shape[1]
    want = S.PW[b, 0]
    have = S.PW[b, 1]
    unmet = S.PW[b, 2]
    want[:] = 0.0
    tot = 0.0
    for k in range(ncfg):
        want[k] = S.DEMAND_EMA[b, c, k] * M.CFG[L.CFG_MEAN, k]
        tot += want[k]
    if tot <= 0.0 or not param(M, PARAM_PROVISION) > 0:
        return False
    have[:] = 0.0
    for u in range(c * K, (c + 1) * K):
        if S.TB[b, L.TB_CFG, u] >= 0:
            have[S.TB[b, L.TB_CFG, u]] += 1.0
    for k in range(ncfg):
        if with_unmet:
            x = want[k] - have[k] * MI[L.MI_EPOCH]
            unmet[k] = min(x, float(MI[L.MI_EPOCH])) if x > 0.0 else 0.0
        want[k] = want[k] / tot * K
    return True


@kernel_step
def proactive_next(M, S, b, c, start, structural_only):
    """``proactive``'s next move in cluster ``c`` after :func:`proactive_targets`, scanning its
    TBUs from ``start``: ``(u, k)`` = reconfigure idle, empty TBU ``u`` to the configuration
    ``k`` furthest below target (by more than half a TBU), unless its own configuration would
    fall below target, and (with ``reconf_aware``, hysteresis) only if ``k``'s unmet work over
    the prediction's horizon (~1/ema epochs) pays ``switch_cost``; ``(-1, -1)``: none. With
    ``structural_only`` (``octopus``), only TBUs idle for at least ``structural_idle`` cycles
    (a briefly idle TBU is transient idleness, left to stealing)."""
    MI = M.MI
    ncfg = M.CFG.shape[1]
    now = S.SC[b, L.SC_NOW]
    idle_thr = param(M, PARAM_STRUCTURAL_IDLE)
    aware = param(M, PARAM_RECONF_AWARE) > 0
    a = param(M, PARAM_EMA)
    horizon = MI[L.MI_EPOCH] / (a if a > 0.0 else 1.0)
    want = S.PW[b, 0]
    have = S.PW[b, 1]
    unmet = S.PW[b, 2]
    for u in range(start, (c + 1) * MI[L.MI_K]):
        cf = S.TB[b, L.TB_CFG, u]
        if S.TB[b, L.TB_STATE, u] != TBU_IDLE or S.TB[b, L.TB_QL, u] != 0:
            continue
        if structural_only and now - S.TBR[b, u, L.TBR_IDLE] < idle_thr:
            continue
        if cf >= 0 and have[cf] - 1 < want[cf] - 0.5:
            continue  # its own config would fall below target: keep it
        best = -1
        deficit = 0.5
        for k in range(ncfg):
            dk = want[k] - have[k]
            if dk > deficit:
                deficit = dk
                best = k
        # no (paying) deficit now means none for the TBUs after u either: want, have and
        # unmet are the same for them
        if best < 0 or (aware and unmet[best] * horizon / MI[L.MI_EPOCH] <= switch_cost(M)):
            return -1, -1
        return u, best
    return -1, -1


@kernel_step
def proactive_epoch(M, S, b, structural_only):
    """``proactive``: per cluster, update the demand average, then re-provision idle, empty
    TBUs towards the predicted work mix (:func:`proactive_next`), before the work queues up."""
    K = M.MI[L.MI_K]
    have = S.PW[b, 1]
    for c in range(M.MI[L.MI_C]):
        demand_update(M, S, b, c)
        if not proactive_targets(M, S, b, c, True):
            continue
        start = c * K
        while True:
            u, k = proactive_next(M, S, b, c, start, structural_only)
            if u < 0:
                break
            cf = S.TB[b, L.TB_CFG, u]
            if reconfigure(M, S, b, u, k):
                if cf >= 0:
                    have[cf] -= 1.0
                have[k] += 1.0
            start = u + 1


@kernel_step
def diffusion_epoch(M, S, b):
    """Diffusion-based load balancing between mesh neighbours (the paper's wafer-scale
    mechanism; details ours): a cluster whose predicted wait exceeds a neighbour's by more than
    ``diffusion_threshold`` (relative) and one mean TB moves one waiting job to that neighbour
    (with ``reconf_aware``, to a TBU that must reconfigure for it only if the job's wait there,
    reconfiguration included, is shorter by ``switch_cost - reconfig_cycles``)."""
    MI = M.MI
    K = MI[L.MI_K]
    thr = param(M, PARAM_DIFFUSION_THRESHOLD)
    aware = param(M, PARAM_RECONF_AWARE) > 0
    q = MI[L.MI_QCAP]
    for c in range(MI[L.MI_C]):
        wc = cluster_work(M, S, b, c)
        for d in range(4):
            n = M.neigh[c, d]
            if n < 0:
                continue
            wn = cluster_work(M, S, b, n)
            src = -1
            most = 0
            for u in range(c * K, (c + 1) * K):
                mv = queued_movable(S, b, u)
                if mv > most:
                    most = mv
                    src = u
            if src < 0:
                break
            tail = S.TBQ[b, src, (S.TB[b, L.TB_QH, src] + S.TB[b, L.TB_QL, src] - 1) % q]
            mean = M.dur_mean[S.JB[b, tail, L.JB_BLOCK]]
            if wc > (1.0 + thr) * wn + mean:
                v = eft_tbu(M, S, b, tail, n * K, (n + 1) * K)
                if v >= 0 and aware and queued_cfg(M, S, b, v) != M.MB[
                        L.MB_BLK_CFG, S.JB[b, tail, L.JB_BLOCK]]:
                    # the move makes v reconfigure: worth it only if the job's wait at src
                    # exceeds its finish at v by the switch's full cost
                    if S.TBF[b, src] - finish_at(M, S, b, tail, v) <= switch_cost(M) - MI[
                            L.MI_RECONF]:
                        v = -1
                if v >= 0 and migrate(M, S, b, src, S.TB[b, L.TB_QL, src] - 1, v):
                    break


@kernel_step
def on_epoch(M, S, b, pol):
    if pol == P_REACTIVE:
        reactive_epoch(M, S, b)
    elif pol == P_PROACTIVE or pol == P_OCTOPUS:
        proactive_epoch(M, S, b, pol == P_OCTOPUS)
        if param(M, PARAM_DIFFUSION) > 0 and M.MI[L.MI_C] > 1:
            diffusion_epoch(M, S, b)


@kernel_step
def epoch_quiet_until(M, S, b, pol):
    """Called after an epoch that reconfigured and migrated nothing: a time before which every
    further epoch would change nothing either, provided no other event happens first (-1: no
    such time is known). The loop then skips those epochs in O(1), bit-identically.

    Why it holds: ``reactive`` reads only state that events change; ``proactive``/``octopus``
    also update the demand average, a fixed point here (no demand since this epoch), and
    ``octopus`` reads the clock only through the idle threshold of idle, empty TBUs (hence the
    limit); diffusion compares expected queued work (``TBF``), not the clock."""
    MI = M.MI
    big = 9223372036854775807
    if pol != P_PROACTIVE and pol != P_OCTOPUS:
        return big
    a = param(M, PARAM_EMA)
    for c in range(MI[L.MI_C]):
        for k in range(M.CFG.shape[1]):
            x = S.DEMAND_EMA[b, c, k]
            if (1.0 - a) * x + a * 0.0 != x:
                return -1
    if pol != P_OCTOPUS:
        return big
    now = S.SC[b, L.SC_NOW]
    thr = param(M, PARAM_STRUCTURAL_IDLE)
    lim = big
    for u in range(MI[L.MI_T]):
        if S.TB[b, L.TB_STATE, u] == TBU_IDLE and S.TB[b, L.TB_QL, u] == 0:
            idle = S.TBR[b, u, L.TBR_IDLE]
            if now - idle < thr:
                # epochs at integer times below idle + thr still see this TBU as transient
                t = int(np.ceil(idle + thr))
                if t < lim:
                    lim = t
    return lim
