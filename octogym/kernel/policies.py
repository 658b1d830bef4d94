"""Compiled scheduling policies, dispatched by integer code inside the kernel.

A policy answers four hooks; each may use the mechanisms of :mod:`octogym.kernel.core`:

* ``decide_cluster(M, S, b, j)``: home cluster of the request of arrival job ``j``;
* ``decide_tbu(M, S, b, j)``: TBU for TB instance ``j`` (a global TBU id with queue space),
  or -1 to defer it to its home cluster's backlog until a queue slot frees there;
* ``on_idle(M, S, b, u)``: TBU ``u`` just ran out of work (may steal);
* ``on_epoch(M, S, b)``: the periodic epoch event (may reconfigure / migrate).

The codes here are the kernel-level ones; names and documentation live in the scheduler
registry (``octogym.schedulers``), which is the single source of truth users see.
"""

from __future__ import annotations

from octogym.kernel import layout as L
from numba import njit

from octogym.kernel.core import has_space
from octogym.rng import S_POLICY, u01

P_ROUND_ROBIN, P_LEAST_LOADED, P_RANDOM = 0, 1, 2
KERNEL_POLICIES = {"round_robin": P_ROUND_ROBIN, "least_loaded": P_LEAST_LOADED,
                   "random": P_RANDOM}


@njit(cache=True)
def policy_draw(S, b):
    """A uniform draw for a randomised policy, from the member's seed and a counter."""
    SC = S.SC
    SEED = S.SEED
    k = SC[b, L.SC_N_POLICY_DRAWS]
    SC[b, L.SC_N_POLICY_DRAWS] = k + 1
    return u01(SEED[b], k, 0, S_POLICY)


@njit(cache=True)
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


@njit(cache=True)
def least_loaded_cluster(M, S, b):
    MI = M.MI
    CL = S.CL
    best = 0
    bl = 1 << 62
    for c in range(MI[L.MI_C]):
        load = CL[b, L.CL_Q, c] + CL[b, L.CL_BL_LEN, c]
        if load < bl:
            bl = load
            best = c
    return best


@njit(cache=True)
def decide_cluster(M, S, b, j, pol):
    SC = S.SC
    MI = M.MI
    if pol == P_ROUND_ROBIN:
        c = SC[b, L.SC_RR_C] % MI[L.MI_C]
        SC[b, L.SC_RR_C] = c + 1
        return c
    if pol == P_LEAST_LOADED:
        return least_loaded_cluster(M, S, b)
    if pol == P_RANDOM:
        return min(int(policy_draw(S, b) * MI[L.MI_C]), MI[L.MI_C] - 1)
    return 0


@njit(cache=True)
def decide_tbu(M, S, b, j, pol):
    RQ = S.RQ
    JB = S.JB
    MI = M.MI
    CL = S.CL
    c = RQ[b, L.RQ_HOME, JB[b, L.JB_REQ, j]]
    if pol == P_ROUND_ROBIN:
        for k in range(MI[L.MI_K]):
            u = c * MI[L.MI_K] + (CL[b, L.CL_RR_T, c] + k) % MI[L.MI_K]
            if has_space(M, S, b, u):
                CL[b, L.CL_RR_T, c] = (u - c * MI[L.MI_K] + 1) % MI[L.MI_K]
                return u
        return -1
    if pol == P_RANDOM:
        n = 0
        for u in range(c * MI[L.MI_K], (c + 1) * MI[L.MI_K]):
            if has_space(M, S, b, u):
                n += 1
        k = min(int(policy_draw(S, b) * n), n - 1)
        for u in range(c * MI[L.MI_K], (c + 1) * MI[L.MI_K]):
            if has_space(M, S, b, u):
                if k == 0:
                    return u
                k -= 1
        return -1
    return least_loaded_tbu(M, S, b, c)


@njit(cache=True)
def on_idle(M, S, b, u, pol):
    return


@njit(cache=True)
def on_epoch(M, S, b, pol):
    return
