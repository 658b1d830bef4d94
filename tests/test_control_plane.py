"""The control plane costs time (docs/model.md §3 "Control plane"): decisions on serial servers.

Free decisions (the default) leave every run as it was; costly ones delay the placed job (its
data moves once its TBU decision completes) and the request (it starts once its cluster
decision completes), queue at the central scheduler or at the home CBU (with CB jobs), and
are counted exactly. The kernel/reference agreement is in tests/test_reference.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from octogym.control_plane import control_plane_stats
from octogym.hardware import CONTROL_PLANE_REALISTIC, HardwareError, get_hardware
from octogym.kernel.layout import EXT_CLUSTER, EXT_TBU, field
from octogym.kernel.policies import DECISION_SCOPES, KERNEL_POLICIES, SCOPE_MACHINE
from octogym.simulator import Simulation
from octogym.workflows import Workflow

COSTLY = {"decision_base_cycles": 50, "decision_cycles_per_entity": 100}


def run(policy, hw, **kw):
    sim = Simulation(None, hw, policy=policy, **{"load": 0.8, "n_requests": 150, "seed": 3,
                                                 **kw})
    return sim, sim.run()[0]


def test_hardware_fields_default_off_and_validated():
    chip = get_hardware("chip")
    assert (chip.decision_base_cycles, chip.decision_cycles_per_entity) == (0, 0)
    assert get_hardware("chip", **CONTROL_PLANE_REALISTIC).decision_cycles_per_entity == 4
    with pytest.raises(HardwareError, match="decision_base_cycles=-1 must be non-negative"):
        get_hardware("chip", decision_base_cycles=-1)
    with pytest.raises(HardwareError, match="decision_cycles_per_entity.*<="):
        get_hardware("chip", decision_cycles_per_entity=2**30)


def test_every_policy_has_a_scope_and_only_eft_scans_the_machine():
    assert sorted(DECISION_SCOPES) == sorted(KERNEL_POLICIES.values())
    machine = [n for n, p in KERNEL_POLICIES.items() if DECISION_SCOPES[p][1] == SCOPE_MACHINE]
    assert machine == ["eft"]


@pytest.mark.parametrize("policy", ["eft", "adaptive"])
def test_zero_costs_are_todays_free_decisions(policy):
    _, free = run(policy, "chip")
    sim, zero = run(policy, {"preset": "chip", "decision_base_cycles": 0,
                             "decision_cycles_per_entity": 0})
    assert zero.to_dict() == free.to_dict()
    assert control_plane_stats(sim.state).decisions == 0
    sim, costly = run(policy, {"preset": "chip", **COSTLY})
    assert costly.latency_mean > free.latency_mean  # the costs do reach the schedule


def test_central_queueing_hurts_eft_more_than_adaptive():
    """A busy chip with costly decisions: eft's machine-wide scans (64 TBUs) all queue at the
    one central scheduler; adaptive's scans (4 TBUs) spread over 16 CBUs."""
    rise, free_lat = {}, {}
    for policy in ("eft", "adaptive"):
        _, free = run(policy, "chip", n_requests=200)
        sim, costly = run(policy, {"preset": "chip", **COSTLY}, n_requests=200)
        cp = control_plane_stats(sim.state)
        rise[policy] = costly.latency_mean - free.latency_mean
        free_lat[policy] = free.latency_mean
        if policy == "eft":  # 64 x 100 cycles per TB: the central scheduler saturates
            assert cp.wait_central > 10 * cp.cycles_central
        else:  # 4 x 100 cycles per TB on the home CBU: some queueing behind CB jobs
            assert 0 < cp.wait_cbu < cp.cycles_cbu
    # adaptive moves by schedule noise only (it may even gain); eft's latency multiplies
    assert rise["eft"] > max(10 * abs(rise["adaptive"]), free_lat["eft"])


@pytest.mark.parametrize("policy", ["eft", "adaptive", "least_loaded", "static"])
def test_decision_counts_and_cycles_add_up(policy):
    """Every request pays one cluster decision, every TB placement one TBU decision, each at
    its scope's price; CBU busy time = CB costs (schedule-independent) + CBU decisions."""
    hw = get_hardware("chip", **COSTLY)
    base, per = COSTLY["decision_base_cycles"], COSTLY["decision_cycles_per_entity"]
    code = KERNEL_POLICIES[policy]
    n_ent = {0: 0, 1: hw.tbus_per_cluster, 2: hw.n_clusters, 3: hw.n_tbus}
    cl_cost = base + per * n_ent[DECISION_SCOPES[code][0]]
    tb_cost = base + per * n_ent[DECISION_SCOPES[code][1]]
    free_sim, _ = run(policy, "chip")
    sim, res = run(policy, hw)
    cp = control_plane_stats(sim.state)
    n, tbs = res.n_requests, res.tb_executions
    placed = tbs  # every TB is placed by exactly one decision (moves re-enqueue, unpriced)
    central_tb = DECISION_SCOPES[code][1] == SCOPE_MACHINE
    assert cp.decisions_central == n + (placed if central_tb else 0)
    assert cp.decisions_cbu == (0 if central_tb else placed)
    assert cp.cycles_central == n * cl_cost + (placed * tb_cost if central_tb else 0)
    assert cp.cycles_cbu == (0 if central_tb else placed * tb_cost)
    acc_free = int(field(free_sim.state, "acc_cbu")[0].sum())
    assert int(field(sim.state, "acc_cbu")[0].sum()) == acc_free + cp.cycles_cbu
    assert cp.wait_cbu >= 0 and cp.wait_central >= 0


def _one_cluster_workflow(cb_cost: int) -> Workflow:
    return Workflow.from_dict({
        "name": "gate_then_task", "entry": "gate",
        "blocks": [{"id": "gate", "type": "branch", "cost": cb_cost, "probs": {"work": 1.0}},
                   {"id": "work", "type": "task", "config": "a", "kind": "ai",
                    "duration": {"dist": "fixed", "value": 10_000}, "out_bytes": 0}],
        "flows": [{"src": "gate", "dst": "work", "bytes": 0}]})


def test_serial_servers_exact_schedule():
    """One cluster, four requests at t = 0, decisions cost 100 cycles (round_robin: a cluster
    decision scans nothing, a TBU decision 4 TBUs at 0 per entity). The central scheduler
    starts the requests at 100, 200, 300, 400; each one's gate (a CB of 1000 cycles) queues on
    the one CBU behind the earlier gates, and each TBU decision queues behind every gate
    already there: the CBU is one serial server for CB jobs and decisions."""
    hw = {"preset": "chip", "rows": 1, "cols": 1, "die_rows": 1, "die_cols": 1,
          "decision_base_cycles": 100}
    sim = Simulation([_one_cluster_workflow(1000)], hw, arrival="closed", n_requests=4,
                     seed=0, policy="round_robin", trace_cap=16)
    res = sim.run()[0]
    # CBU: gates 100-1100, 1100-2100, 2100-3100, 3100-4100 (request k starts at 100 (k+1));
    # the TBU decisions come at 1100, 2100, 3100, 4100 and each waits for the gates queued
    # before it: they run 4100-4200, 4200-4300, 4300-4400, 4400-4500.
    starts = sorted(field(sim.state, "tr_start")[0][:4].tolist())
    assert starts == [4200, 4300, 4400, 4500]
    cp = control_plane_stats(sim.state)
    assert (cp.decisions_central, cp.cycles_central, cp.wait_central) == (4, 400, 600)
    assert (cp.decisions_cbu, cp.cycles_cbu) == (4, 400)
    assert cp.wait_cbu == (4100 - 1100) + (4200 - 2100) + (4300 - 3100) + (4400 - 4100)
    assert res.latency_mean == np.mean([s + 10_000 for s in starts])


def test_agent_decisions_are_charged_at_the_env_scopes():
    """An agent's cluster choice scans the C clusters (central), its TBU choice the K TBUs of
    the home cluster (that CBU), whatever the member's own policy would scan."""
    hw = get_hardware("chip", **COSTLY)
    base, per = COSTLY["decision_base_cycles"], COSTLY["decision_cycles_per_entity"]
    sim = Simulation(None, hw, load=0.8, n_requests=60, seed=1, policy="eft")
    acts = np.full(1, 10**6, np.int64)  # invalid: replaced by the fallback, still charged
    while True:
        st = sim.advance(actions=acts, ext=EXT_CLUSTER | EXT_TBU)
        if st[0] != 1:  # not a decision: done
            break
    res = sim.result(0)
    cp = control_plane_stats(sim.state)
    assert cp.decisions_central == res.n_requests
    assert cp.cycles_central == res.n_requests * (base + per * hw.n_clusters)
    assert cp.decisions_cbu == res.tb_executions
    assert cp.cycles_cbu == res.tb_executions * (base + per * hw.tbus_per_cluster)


@pytest.mark.parametrize("costs", [{}, COSTLY])
def test_eft_parked_work_is_reoffered_by_any_freed_slot(costs):
    """eft parks a job in its home backlog only when no TBU of the machine has space; a slot
    freeing in another cluster must re-offer it (this run stalled before, free decisions too;
    costly decisions hold slots while they queue, so eft parks far more often)."""
    sim = Simulation("recognition", {"preset": "chip", "queue_capacity": 1, **costs},
                     arrival="closed", n_requests=200, seed=2, policy="eft")
    assert sim.run()[0].n_requests == 200


@pytest.mark.parametrize("policy", ["least_loaded", "octopus"])
def test_requests_waiting_for_their_cluster_decision_count_as_load(policy):
    """Costly cluster decisions queue at the central scheduler, so many requests are assigned
    before any of them starts; counting them in their cluster's load keeps a load-based
    choice from sending them all to the same (lowest-id) cluster."""
    sim, _ = run(policy, {"preset": "chip", "decision_cycles_per_entity": 1000})
    assert control_plane_stats(sim.state).wait_central > 0
    homes = np.bincount(field(sim.state, "res_home")[0], minlength=16)
    assert homes.max() <= 2 * 150 // 16, homes


def test_study_rows_and_table():
    """The study behind docs/results.md §10, on a tiny budget: paired free/costly runs."""
    from octogym.control_plane import study, table

    rows = study("chip", loads=(0.8,), seeds=2, n_requests=30, schedulers=("eft", "adaptive"),
                 costs=COSTLY)
    assert [r["scheduler"] for r in rows] == ["eft", "adaptive"]
    eft = rows[0]
    assert eft["on"][0] > eft["off"][0] and eft["central_load"][0] > 0
    assert rows[1]["wait_central"][0] < eft["wait_central"][0]
    assert table(rows).count("\n") == 3
