"""The paper's schedulers and the reference heuristics (issue: schedulers).

Each test asserts a property the scheduler's documented algorithm must have; the numbers
compared are produced by the kernel, never written down by hand except analytic answers.
"""

from __future__ import annotations

import numpy as np
import pytest

from octogym.kernel.layout import field
from octogym.schedulers import PARAMS, SCHEDULERS, get_scheduler, param_vector
from octogym.simulator import Simulation
from octogym.workflows import Workflow
from octogym.workflows.generator import toy_chain
from octogym.workflows.suite import suite_names

ONE_TBU = {"preset": "chip", "rows": 1, "cols": 1, "tbus_per_cluster": 1, "die_rows": 1,
           "die_cols": 1}


def _check_invariants(sim: Simulation, res) -> None:
    S = sim.state
    for b, r in enumerate(res):
        assert r.n_requests == sim.model.MI[7]  # every request completed (MI_N_REQUESTS)
        assert field(S, "n_tb_created")[b] == field(S, "n_tb_done")[b]
        split = r.tbu_idle
        total = sum(split[k] for k in split)
        assert np.all(total == r.makespan), "busy + idle split must equal elapsed per TBU"
        assert np.all(field(S, "tb_ql")[b] == 0)


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
@pytest.mark.parametrize("hardware,n", [("chip", 120), ("wafer", 60)])
def test_every_scheduler_runs_every_workflow(scheduler, hardware, n):
    for wf in [*suite_names(), None]:
        sim = Simulation(wf, hardware, load=0.8, n_requests=n, seed=5, policy=scheduler)
        _check_invariants(sim, sim.run())


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_single_chain_on_one_tbu_has_the_analytic_latency(scheduler):
    """One request, a chain of n fixed-duration tasks of one configuration, one TBU already
    holding it, no transfers: any work-conserving scheduler finishes at n * d."""
    n, d = 5, 7_000
    sim = Simulation(toy_chain(n, d), ONE_TBU, arrival="closed", n_requests=1,
                     policy=scheduler, tbu_init=np.array([0]))
    r = sim.run()[0]
    assert r.latency_mean == n * d
    assert r.reconfigurations == 0


def test_closed_batch_on_one_tbu_is_work_conserving():
    """k requests of the chain back to back: the makespan is k * n * d for every scheduler."""
    n, d, k = 3, 5_000, 4
    for name in SCHEDULERS:
        sim = Simulation(toy_chain(n, d), ONE_TBU, arrival="closed", n_requests=k,
                         policy=name, tbu_init=np.array([0]))
        assert sim.run()[0].makespan == k * n * d, name


def test_static_never_reconfigures():
    for hw in ("chip", "wafer"):
        sim = Simulation(None, hw, load=0.9, n_requests=400, batch=2, seed=3, policy="static")
        res = sim.run()
        assert all(r.reconfigurations == 0 for r in res)
        assert all(r.migrations == 0 and r.steals == 0 for r in res)
        # and every TB ran on a TBU holding its own configuration from the start
        n = field(sim.state, "n_traced")
        assert n[0] == 0  # no trace requested; configs are fixed, checked via tb_cfg below
        assert np.array_equal(field(sim.state, "tb_cfg")[0], sim.tbu_cfg)


def _drift_workflow(after: int) -> Workflow:
    """Requests choose between config A and config B work; the mix flips at request ``after``."""
    task = lambda i, c: {"id": i, "type": "task", "config": c, "kind": "ai",  # noqa: E731
                         "duration": {"dist": "fixed", "value": 40_000}}
    return Workflow.from_dict({
        "name": "drift", "entry": "pick",
        "blocks": [{"id": "pick", "type": "branch", "probs": {"a": 0.9, "b": 0.1}},
                   task("a", "A"), task("b", "B")],
        "flows": [{"src": "pick", "dst": "a"}, {"src": "pick", "dst": "b"}],
        "phases": [{"after_requests": after, "set": {"pick": {"probs": {"a": 0.1, "b": 0.9}}}}],
    })


def _first_reconfig_after(policy: str, t0: int, step: int, horizon: int, **kw) -> int | None:
    sim = Simulation(_drift_workflow(kw.pop("after")), "chip", policy=policy, **kw)
    base = None
    t = 0
    while t < horizon:
        t += step
        sim.advance(until=t)
        n = int(field(sim.state, "n_reconf")[0])
        if t >= t0 and base is None:
            base = n
        elif base is not None and n > base:
            return t
    return None


def test_reactive_reconfigures_only_past_its_threshold():
    kw = dict(load=0.85, n_requests=1500, seed=2)
    wf = _drift_workflow(500)
    never = Simulation(wf, "chip", policy="reactive",
                       policy_params={"reactive_threshold": 1e9}, **kw).run()[0]
    assert never.reconfigurations == 0
    normal = Simulation(wf, "chip", policy="reactive", **kw).run()[0]
    assert normal.reconfigurations > 0


def test_proactive_reprovisions_before_reactive_after_a_drift():
    kw = dict(after=600, load=0.85, n_requests=1500, seed=4)
    sim = Simulation(_drift_workflow(600), "chip", load=0.85, n_requests=1500, seed=4)
    sim.run()
    t_drift = int(field(sim.state, "res_arr")[0][600])  # arrival of the first drifted request
    step = 20_000
    horizon = t_drift + 4_000_000
    t_pro = _first_reconfig_after("proactive", t_drift, step, horizon, **dict(kw))
    t_rea = _first_reconfig_after("reactive", t_drift, step, horizon, **dict(kw))
    assert t_pro is not None, "proactive never re-provisioned after the drift"
    assert t_rea is None or t_pro < t_rea, (t_pro, t_rea)


def test_octopus_beats_static_on_the_mix():
    """Not a tuning target: a sanity check that the paper's ordering appears in our model on
    the suite mix at chip scale (docs/results.md reports the full study), where the paper
    claims it: a workload that drifts (4000 requests reach every drift phase of the suite), at
    the ``mix-chip`` scenario's load (0.7 of the heaviest phase's capacity). Since ``static``
    is provisioned from the whole expected trace (issue 14), a run that never drifts leaves
    ``reactive`` nothing to rebalance."""
    from octogym.evaluation.scenarios import SCENARIOS

    lat = {}
    for name in ("static", "reactive", "octopus"):
        res = Simulation(None, "chip", load=SCENARIOS["mix-chip"].sim_load(4000),
                         n_requests=4000, batch=2, seed=11, policy=name).run()
        lat[name] = np.mean([r.latency_mean for r in res])
    assert lat["octopus"] < lat["reactive"] < lat["static"], lat


def test_registry_is_the_single_source_of_truth():
    from octogym.kernel.policies import KERNEL_POLICIES, N_PARAMS

    assert set(SCHEDULERS) == set(KERNEL_POLICIES)
    assert {s.code for s in SCHEDULERS.values()} == set(KERNEL_POLICIES.values())
    assert sorted(p.index for p in PARAMS.values()) == list(range(N_PARAMS))
    for s in SCHEDULERS.values():
        assert s.summary and s.origin in ("paper", "reference")
        assert set(s.params) <= set(PARAMS)
        if s.name in ("reactive", "proactive", "octopus"):
            assert s.epoch > 0


def test_scheduler_errors_are_clear():
    with pytest.raises(ValueError, match="unknown scheduler 'nope'.*octopus"):
        get_scheduler("nope")
    with pytest.raises(ValueError, match="unknown scheduler parameter 'zzz'"):
        param_vector("octopus", {"zzz": 1})
    with pytest.raises(ValueError, match="does not use parameter 'ema'"):
        param_vector("static", {"ema": 0.5})
    with pytest.raises(ValueError, match="unknown scheduler"):
        Simulation("recognition", "chip", policy="nope")


def test_parameters_reach_the_kernel():
    """Turning stealing off removes every steal; turning diffusion off removes migrations."""
    kw = dict(load=0.9, n_requests=600, seed=8)
    on = Simulation(None, "chip", policy="octopus", **kw).run()[0]
    off = Simulation(None, "chip", policy="octopus",
                     policy_params={"steal": 0, "diffusion": 0}, **kw).run()[0]
    assert on.steals > 0 and on.migrations > 0
    assert off.steals == 0 and off.migrations == 0
