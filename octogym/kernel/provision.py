"""Provision decisions (``DEC_PROVISION``, ext bit ``EXT_PROVISION``): an agent decides an
epoch's reconfigurations, cluster by cluster (docs/envs.md, Provision).

At each epoch event the kernel first does the epoch's bookkeeping (the per-cluster demand
averages that ``proactive`` / ``octopus`` predict from, whatever the controller), then pauses
once per decision: for cluster ``c`` (``SC_PROV_CLUSTER = c + 1``), action ``a < K * NCFG``
reconfigures TBU ``c * K + a // NCFG`` (an idle, empty TBU) to configuration ``a % NCFG`` and
asks about the same cluster again; ``a = K * NCFG`` ("keep") moves on to the next cluster.
Clusters are visited from a seeded start (``policies.epoch_cluster_start``, the order of
``reactive``'s own epoch), wrapping around. After the last cluster, the controller's other
epoch work (diffusion) runs and the next epoch is scheduled. Epochs are never skipped in this
mode (the agent is asked at every one).

:func:`provision_choice` is the controller's own answer (``reactive``, ``proactive``,
``octopus``; "keep" for the others): the kernel-only ``on_epoch`` and this path make the same
reconfigurations (tests/test_provision.py).
"""

from __future__ import annotations

from octogym.kernel import fields as L
from octogym.kernel.jit import kernel_helper, kernel_step
from octogym.kernel.layout import EV_EPOCH
from octogym.kernel.mechanisms import heap_push, reconfigure
from octogym.kernel.policies import (
    P_OCTOPUS,
    P_PROACTIVE,
    P_REACTIVE,
    PARAM_DIFFUSION,
    demand_update,
    diffusion_epoch,
    epoch_cluster_start,
    param,
    proactive_next,
    proactive_targets,
    reactive_choice,
    reactive_prepare,
)

POLICY_ACTION = -2  # as octogym.kernel.loop.POLICY_ACTION: the controller answers


@kernel_helper
def keep_action(M):
    """The "keep" action (no more reconfigurations in this cluster this epoch)."""
    return M.MI[L.MI_K] * M.CFG.shape[1]


@kernel_step
def provision_choice(M, S, b, c, pol):
    """Scheduler ``pol``'s provisioning action for cluster ``c`` at the pending decision
    (module docstring), exactly what its ``on_epoch`` would do next there."""
    ncfg = M.CFG.shape[1]
    K = M.MI[L.MI_K]
    last = S.SC[b, L.SC_PROV_LAST] - 1
    if pol == P_REACTIVE:
        if last >= 0:
            return keep_action(M)  # reactive reconfigures at most one TBU per cluster
        reactive_prepare(M, S, b)  # recounted: exact, as reconfigurations update TB_CFG
        u, k = reactive_choice(M, S, b, c)
    elif pol == P_PROACTIVE or pol == P_OCTOPUS:
        # (unmet work as at the cluster's first decision, as on_epoch computes it once)
        if not proactive_targets(M, S, b, c, last < 0):
            return keep_action(M)
        u, k = proactive_next(M, S, b, c, c * K if last < 0 else last + 1, pol == P_OCTOPUS)
    else:
        return keep_action(M)
    if u < 0:
        return keep_action(M)
    return (u - c * K) * ncfg + k


@kernel_step
def provision_begin(M, S, b):
    """An epoch event in provisioning mode: the demand bookkeeping, then cluster 0's turn."""
    for c in range(M.MI[L.MI_C]):
        demand_update(M, S, b, c)
    S.SC[b, L.SC_PROV_CLUSTER] = 1 + epoch_cluster_start(M, S, b)
    S.SC[b, L.SC_PROV_LAST] = 0


@kernel_step
def provision_action(M, S, b, action, pol):
    """Resolve the pending provisioning decision with ``action`` (module docstring;
    ``POLICY_ACTION``: :func:`provision_choice`). An action out of range, or one
    ``reconfigure`` refuses (a busy or non-empty TBU, or one already holding the
    configuration), is counted in ``SC_N_INVALID`` and taken as "keep"."""
    SC = S.SC
    MI = M.MI
    ncfg = M.CFG.shape[1]
    c = SC[b, L.SC_PROV_CLUSTER] - 1
    keep = keep_action(M)
    if action == POLICY_ACTION:
        action = provision_choice(M, S, b, c, pol)
    if 0 <= action < keep:
        u = c * MI[L.MI_K] + action // ncfg
        if reconfigure(M, S, b, u, action % ncfg):
            SC[b, L.SC_PROV_LAST] = u + 1
            return
        SC[b, L.SC_N_INVALID] += 1
    elif action != keep:
        SC[b, L.SC_N_INVALID] += 1
    SC[b, L.SC_PROV_LAST] = 0
    nxt = (c + 1) % MI[L.MI_C]
    if nxt != epoch_cluster_start(M, S, b):  # (the clock has not moved: the same start)
        SC[b, L.SC_PROV_CLUSTER] = nxt + 1
        return
    SC[b, L.SC_PROV_CLUSTER] = 0  # the epoch's provisioning is done
    if (pol == P_PROACTIVE or pol == P_OCTOPUS) and param(M, PARAM_DIFFUSION) > 0 \
            and MI[L.MI_C] > 1:
        diffusion_epoch(M, S, b)
    if SC[b, L.SC_N_DONE] < MI[L.MI_N_REQUESTS]:
        heap_push(S, b, SC[b, L.SC_NOW] + MI[L.MI_EPOCH], EV_EPOCH, 0)
