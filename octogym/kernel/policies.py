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
# Tunables: M.MF[MF_POLICY + PARAM_*] (defaults and reasons in octogym.schedulers).
PARAM_EMA, PARAM_REACTIVE_THRESHOLD, PARAM_DIFFUSION, PARAM_DIFFUSION_THRESHOLD = 0, 1, 2, 3
PARAM_STRUCTURAL_IDLE, PARAM_STEAL = 4, 5
N_PARAMS = 6


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
    """Cluster with the fewest queued plus backlogged TB instances (lowest id on ties)."""
    MI = M.MI
    CL = S.CL
    best = 0
    bl = 1 << 62
    for c in range(MI[L.MI_C]):
        load = CL[b, L.CL_QUEUED, c] + CL[b, L.CL_BL_LEN, c]
        if load < bl:
            bl = load
            best = c
    return best


@kernel_helper
def cluster_work(M, S, b, c):
    """Expected TBU-cycles waiting in cluster ``c`` (queued work + backlog at the mean TB
    duration), per TBU: the predicted time until a new job there could start."""
    MI = M.MI
    K = MI[L.MI_K]
    w = 0.0
    for u in range(c * K, (c + 1) * K):
        w += S.TBF[b, u]
    mean = 0.0
    n = M.CFG.shape[1]
    for k in range(n):
        mean += M.CFG[L.CFG_MEAN, k] * M.CFG[L.CFG_SHARE, k]
    w += S.CL[b, L.CL_BL_LEN, c] * mean
    return w / K


@kernel_step
def lowest_finish_cluster(M, S, b):
    """Cluster with the lowest predicted finish time (``cluster_work``; lowest id on ties)."""
    best = 0
    bw = np.inf
    for c in range(M.MI[L.MI_C]):
        w = cluster_work(M, S, b, c)
        if w < bw:
            bw = w
            best = c
    return best


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


@kernel_step
def static_tbu(M, S, b, j):
    """``static``: a TBU that holds the job's configuration, in its home cluster or else in the
    nearest cluster that has one; fewest queued jobs first. If all of them are full, park the
    job in that cluster's backlog (it is re-offered when a slot frees there)."""
    MI = M.MI
    K = MI[L.MI_K]
    cfg = M.MB[L.MB_BLK_CFG, S.JB[b, j, L.JB_BLOCK]]
    home = S.RQ[b, S.JB[b, j, L.JB_REQ], L.RQ_HOME]
    for i in range(MI[L.MI_C]):
        d = M.near[home, i]
        best = -1
        bl = 1 << 62
        held = False
        for u in range(d * K, (d + 1) * K):
            if S.TB[b, L.TB_CFG, u] == cfg:
                held = True
                ql = S.TB[b, L.TB_QL, u]
                if ql < MI[L.MI_QCAP] and ql < bl:
                    bl = ql
                    best = u
        if held:
            return best if best >= 0 else park_code(d)
    return PARK_HOME


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
        return eft_tbu(M, S, b, j, c * K, (c + 1) * K)
    if pol == P_EFT:
        return eft_tbu(M, S, b, j, 0, MI[L.MI_T])
    return least_loaded_tbu(M, S, b, c)  # least_loaded, proactive


@kernel_step
def adaptive_steal(M, S, b, u):
    """An idle TBU takes the last waiting job of the sibling with the most waiting jobs, when
    that job would otherwise wait longer than the thief's reconfiguration would take."""
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
    cost = 0.0 if S.TB[b, L.TB_CFG, u] == M.MB[L.MB_BLK_CFG, blk] else float(MI[L.MI_RECONF])
    if wait > cost:
        return steal(M, S, b, u, victim)
    return False


@kernel_step
def on_idle(M, S, b, u, pol):
    if (pol == P_ADAPTIVE or pol == P_OCTOPUS) and param(M, PARAM_STEAL) > 0:
        adaptive_steal(M, S, b, u)


@kernel_helper
def config_count(M, S, b, total):
    """``total[k]`` = TBUs of the machine holding configuration ``k``."""
    total[:] = 0.0
    for u in range(M.MI[L.MI_T]):
        if S.TB[b, L.TB_CFG, u] >= 0:
            total[S.TB[b, L.TB_CFG, u]] += 1.0


@kernel_step
def reactive_choice(M, S, b, c, total):
    """``reactive``'s move in cluster ``c``, ``(u, k)`` = reconfigure TBU ``u`` to ``k``, or
    ``(-1, -1)``: if the most pressed configuration has at least ``reactive_threshold``
    waiting jobs per TBU holding it (a config no TBU of the cluster holds counts as one TBU),
    the first idle, empty TBU of a lightly pressed configuration (pressure < 1; never the
    machine's last TBU of a configuration: ``total``, see :func:`config_count`)."""
    MI = M.MI
    K = MI[L.MI_K]
    ncfg = M.CFG.shape[1]
    thr = param(M, PARAM_REACTIVE_THRESHOLD)
    waiting = S.PW[b, 0]
    ntbu = S.PW[b, 1]
    waiting[:] = 0.0
    ntbu[:] = 0.0
    for u in range(c * K, (c + 1) * K):
        cf = S.TB[b, L.TB_CFG, u]
        if cf >= 0:
            ntbu[cf] += 1.0
            waiting[cf] += S.TB[b, L.TB_QL, u]
    j = S.CL[b, L.CL_BL_HEAD, c]
    while j != -1:
        waiting[M.MB[L.MB_BLK_CFG, S.JB[b, j, L.JB_BLOCK]]] += 1.0
        j = S.JB[b, j, L.JB_NEXT]
    hi = -1
    hp = 0.0
    for k in range(ncfg):
        p = waiting[k] / (ntbu[k] if ntbu[k] > 0 else 1.0)
        if p > hp:
            hp = p
            hi = k
    if hi < 0 or hp < thr:
        return -1, -1
    for u in range(c * K, (c + 1) * K):
        cf = S.TB[b, L.TB_CFG, u]
        if cf == hi or cf < 0 or total[cf] < 2:
            continue  # never remove a configuration's last TBU on the machine
        if waiting[cf] / ntbu[cf] < 1.0 and S.TB[b, L.TB_STATE, u] == TBU_IDLE \
                and S.TB[b, L.TB_QL, u] == 0:  # reconfigure() takes only idle, empty TBUs
            return u, hi
    return -1, -1


@kernel_step
def reactive_epoch(M, S, b):
    """``reactive``: in every cluster, :func:`reactive_choice`'s move (at most one per
    cluster per epoch)."""
    total = S.PW[b, 2]  # TBUs holding each config, machine-wide
    config_count(M, S, b, total)
    for c in range(M.MI[L.MI_C]):
        u, k = reactive_choice(M, S, b, c, total)
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
def proactive_targets(M, S, b, c):
    """``want`` (``S.PW[b, 0]``) = target TBUs per configuration in cluster ``c``, the
    predicted work mix (demand average times mean duration) scaled to its ``K`` TBUs, and
    ``have`` (``S.PW[b, 1]``) = TBUs holding each there. False if no demand is predicted."""
    K = M.MI[L.MI_K]
    ncfg = M.CFG.shape[1]
    want = S.PW[b, 0]
    have = S.PW[b, 1]
    want[:] = 0.0
    tot = 0.0
    for k in range(ncfg):
        want[k] = S.DEMAND_EMA[b, c, k] * M.CFG[L.CFG_MEAN, k]
        tot += want[k]
    if tot <= 0.0:
        return False
    have[:] = 0.0
    for u in range(c * K, (c + 1) * K):
        if S.TB[b, L.TB_CFG, u] >= 0:
            have[S.TB[b, L.TB_CFG, u]] += 1.0
    for k in range(ncfg):
        want[k] = want[k] / tot * K
    return True


@kernel_step
def proactive_next(M, S, b, c, start, structural_only):
    """``proactive``'s next move in cluster ``c`` after :func:`proactive_targets`, scanning its
    TBUs from ``start``: ``(u, k)`` = reconfigure idle, empty TBU ``u`` to the configuration
    ``k`` furthest below target (by more than half a TBU), unless its own configuration would
    fall below target; ``(-1, -1)``: none. With ``structural_only`` (``octopus``), only TBUs
    idle for at least ``structural_idle`` cycles (a briefly idle TBU is transient idleness,
    left to stealing)."""
    K = M.MI[L.MI_K]
    ncfg = M.CFG.shape[1]
    now = S.SC[b, L.SC_NOW]
    idle_thr = param(M, PARAM_STRUCTURAL_IDLE)
    want = S.PW[b, 0]
    have = S.PW[b, 1]
    for u in range(start, (c + 1) * K):
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
        # no deficit now means none for the TBUs after u either (want, have are unchanged)
        return (u, best) if best >= 0 else (-1, -1)
    return -1, -1


@kernel_step
def proactive_epoch(M, S, b, structural_only):
    """``proactive``: per cluster, update the demand average, then re-provision idle, empty
    TBUs towards the predicted work mix (:func:`proactive_next`), before the work queues up."""
    K = M.MI[L.MI_K]
    have = S.PW[b, 1]
    for c in range(M.MI[L.MI_C]):
        demand_update(M, S, b, c)
        if not proactive_targets(M, S, b, c):
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
    ``diffusion_threshold`` (relative) and one mean TB moves one waiting job to that neighbour."""
    MI = M.MI
    K = MI[L.MI_K]
    thr = param(M, PARAM_DIFFUSION_THRESHOLD)
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
