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

from numba import njit

from octogym.kernel.core import has_space
from octogym.rng import S_POLICY, u01

P_ROUND_ROBIN, P_LEAST_LOADED, P_RANDOM = 0, 1, 2
KERNEL_POLICIES = {"round_robin": P_ROUND_ROBIN, "least_loaded": P_LEAST_LOADED,
                   "random": P_RANDOM}


@njit(cache=True)
def policy_draw(S, b):
    """A uniform draw for a randomised policy, from the member's seed and a counter."""
    k = S.n_policy_draws[b]
    S.n_policy_draws[b] = k + 1
    return u01(S.seed[b], k, 0, S_POLICY)


@njit(cache=True)
def least_loaded_tbu(M, S, b, c):
    """TBU of cluster ``c`` with space and the fewest queued jobs (lowest id on ties)."""
    best = -1
    bl = 1 << 62
    for u in range(c * M.K, (c + 1) * M.K):
        if S.tb_ql[b, u] < M.qcap and S.tb_ql[b, u] < bl:
            bl = S.tb_ql[b, u]
            best = u
    return best


@njit(cache=True)
def least_loaded_cluster(M, S, b):
    best = 0
    bl = 1 << 62
    for c in range(M.C):
        load = S.cl_q[b, c] + S.bl_len[b, c]
        if load < bl:
            bl = load
            best = c
    return best


@njit(cache=True)
def decide_cluster(M, S, b, j, pol):
    if pol == P_ROUND_ROBIN:
        c = S.rr_c[b] % M.C
        S.rr_c[b] = c + 1
        return c
    if pol == P_LEAST_LOADED:
        return least_loaded_cluster(M, S, b)
    if pol == P_RANDOM:
        return min(int(policy_draw(S, b) * M.C), M.C - 1)
    return 0


@njit(cache=True)
def decide_tbu(M, S, b, j, pol):
    c = S.rq_home[b, S.jb_req[b, j]]
    if pol == P_ROUND_ROBIN:
        for k in range(M.K):
            u = c * M.K + (S.rr_t[b, c] + k) % M.K
            if has_space(M, S, b, u):
                S.rr_t[b, c] = (u - c * M.K + 1) % M.K
                return u
        return -1
    if pol == P_RANDOM:
        n = 0
        for u in range(c * M.K, (c + 1) * M.K):
            if has_space(M, S, b, u):
                n += 1
        k = min(int(policy_draw(S, b) * n), n - 1)
        for u in range(c * M.K, (c + 1) * M.K):
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
