"""The compiled batched kernel (octogym.kernel): invariants over random workflows, hardware and
policies; known answers; determinism and batch independence; common random numbers; pool
growth; the SimResult contract. The scheduler mechanisms are in test_mechanisms.py, the field
layout in test_layout.py, the shared helpers in kernel_checks.py.

The first import compiles the kernel (~1 min, cached in __pycache__ afterwards)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_checks import chain_dict, check_final, check_paused, f, hw1, trace_rows

from octogym.hardware import get_hardware
from octogym.kernel.build import new_state
from octogym.kernel.layout import ST_DONE, ST_TIME
from octogym.kernel.policies import KERNEL_POLICIES
from octogym.simulator import Simulation
from octogym.workflows.generator import GeneratorConfig, generate_workflow, toy_chain

POLICIES = ("round_robin", "least_loaded", "random")
TRACE_CAP = 60_000
FEW = settings(max_examples=15, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SCALAR_KEYS = {
    "n_requests", "latency_mean", "latency_p50", "latency_p95", "latency_p99", "makespan",
    "throughput_per_mcycle", "utilisation", "idle_starved", "idle_waiting_data",
    "idle_reconfiguring", "idle_blocked", "reconfigurations", "noc_byte_hops", "tb_executions",
    "cb_executions", "events", "invalid_actions", "migrations", "steals", "clock_ghz",
}


# ---- strategies ---------------------------------------------------------------------------------


@st.composite
def small_hardware(draw):
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return get_hardware(dict(
        preset="chip", rows=rows, cols=cols,
        die_rows=draw(st.sampled_from([d for d in (1, 2, 3) if rows % d == 0])),
        die_cols=draw(st.sampled_from([d for d in (1, 2, 3) if cols % d == 0])),
        tbus_per_cluster=draw(st.integers(1, 4)),
        queue_capacity=draw(st.integers(1, 3)),
        reconfig_cycles=draw(st.sampled_from([0, 1, 700, 20_000])),
        hop_cycles=draw(st.integers(0, 10)),
        die_hop_cycles=draw(st.sampled_from([0, 200])),
        link_bytes_per_cycle=draw(st.sampled_from([1, 32])),
        local_bytes_per_cycle=draw(st.sampled_from([0, 7, 128])),
    ))


def gen_cfg(linear: bool) -> GeneratorConfig:
    if linear:  # forks only: every task runs exactly once per request
        return GeneratorConfig(n_tasks=(2, 7), n_configs=(1, 3), branch_density=0.0,
                               map_density=0.0, fork_density=0.3, max_depth=2,
                               mean_duration=(50, 3000), bytes=(0, 4096))
    return GeneratorConfig(n_tasks=(2, 7), n_configs=(1, 3), max_depth=2,
                           mean_duration=(50, 3000), bytes=(0, 4096), max_map_count=3,
                           n_phases=(0, 1), phase_length=(5, 20))


@st.composite
def scenarios(draw, linear: bool = False):
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_wf = draw(st.integers(1, 2))
    wfs = [generate_workflow(rng, gen_cfg(linear), name=f"w{i}") for i in range(n_wf)]
    hw = draw(small_hardware())
    n = draw(st.integers(30, 80))
    arrival = draw(st.sampled_from(["poisson", "closed", "trace"]))
    kw = dict(hardware=hw, n_requests=n, arrival=arrival, seed=draw(st.integers(0, 1000)),
              policy=draw(st.sampled_from(POLICIES)), trace_cap=TRACE_CAP,
              load=draw(st.sampled_from([0.3, 0.8, 1.5])),
              tbu_init=draw(st.sampled_from(["profile", "none"])))
    if arrival == "trace":
        gaps = rng.integers(0, 3000, size=n)
        kw["trace"] = (np.cumsum(gaps), rng.integers(0, n_wf, size=n))
    return wfs, kw


# ---- 1. invariants ------------------------------------------------------------------------------


@FEW
@given(scenarios())
def test_invariants_random_scenarios(sc):
    wfs, kw = sc
    sim = Simulation(wfs, **kw)
    res = sim.run()[0]
    check_final(sim, res)
    if kw["arrival"] == "trace":
        np.testing.assert_array_equal(f(sim, "res_arr"), kw["trace"][0])
        np.testing.assert_array_equal(f(sim, "res_wf"), kw["trace"][1])
    if kw["arrival"] == "closed":
        assert (f(sim, "res_arr") == 0).all()

    # the same run, paused at several times: invariants hold at every pause, and pausing
    # does not change the trajectory
    sim2 = Simulation(wfs, **kw)
    for k in range(1, 5):
        until = res.makespan * k // 5
        st_ = sim2.advance(until=until)
        if st_[0] == ST_DONE:
            break
        assert st_[0] == ST_TIME
        check_paused(sim2, until)
    res2 = sim2.run()[0]
    assert res2.to_dict() == res.to_dict()
    np.testing.assert_array_equal(res2.latencies, res.latencies)


@FEW
@given(scenarios(linear=True))
def test_linear_workflows_run_every_task_once_per_request(sc):
    wfs, kw = sc
    if len(wfs) == 2:  # equal task counts are needed for an exact per-request count
        wfs = wfs[:1]
        if kw["arrival"] == "trace":
            kw["trace"] = (kw["trace"][0], np.zeros_like(kw["trace"][1]))
    sim = Simulation(wfs, **kw)
    res = sim.run()[0]
    check_final(sim, res, tasks_per_request=len(wfs[0].tasks))


@pytest.mark.parametrize("policy", POLICIES)
def test_invariants_suite_mix_on_chip(policy):
    sim = Simulation(None, "chip", load=0.9, n_requests=300, seed=3, policy=policy,
                     trace_cap=TRACE_CAP)
    res = sim.run()[0]
    check_final(sim, res)
    assert res.tb_executions > 300 and res.reconfigurations > 0


@pytest.mark.parametrize("epoch", [0, 50_000])
@pytest.mark.parametrize("policy", sorted(KERNEL_POLICIES))
def test_invariants_every_kernel_policy(policy, epoch):
    """Every compiled policy (also those that reconfigure, migrate or steal at epochs / when
    idle) keeps the kernel's invariants; pausing does not change the trajectory."""
    kw = dict(hardware="chip", load=0.9, n_requests=300, seed=3, policy=policy, epoch=epoch,
              trace_cap=TRACE_CAP)
    sim = Simulation(None, **kw)
    res = sim.run()[0]
    check_final(sim, res, commanded_reconf=True)
    sim2 = Simulation(None, **kw)
    for k in range(1, 4):
        until = res.makespan * k // 4
        assert sim2.advance(until=until)[0] == ST_TIME
        check_paused(sim2, until, strict_backlog=False)
    assert sim2.run()[0].to_dict() == res.to_dict()


# ---- 2. known answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("n,d", [(1, 1), (3, 100), (7, 1234)])
def test_toy_chain_preconfigured_latency_is_n_times_d(n, d):
    sim = Simulation(toy_chain(n, d), hw1(), n_requests=1, arrival="closed",
                     tbu_init=np.zeros(1, np.int64), trace_cap=100)
    res = sim.run()[0]
    assert res.latencies.tolist() == [n * d]
    assert res.reconfigurations == 0 and res.makespan == n * d
    assert res.utilisation == 1.0
    check_final(sim, res, tasks_per_request=n)


@pytest.mark.parametrize("reconf", [0, 1, 500, 20_000])
def test_toy_chain_unconfigured_pays_one_reconfiguration(reconf):
    n, d = 4, 250
    sim = Simulation(toy_chain(n, d), hw1(reconfig_cycles=reconf), n_requests=1,
                     arrival="closed", tbu_init="none", trace_cap=100)
    res = sim.run()[0]
    assert res.latencies.tolist() == [n * d + reconf]
    assert res.reconfigurations == 1
    assert res.tbu_idle["reconfiguring"].tolist() == [reconf]
    check_final(sim, res, tasks_per_request=n)


@pytest.mark.parametrize("n,d,nbytes,bw", [(2, 100, 1000, 128), (5, 10, 129, 128),
                                           (3, 7, 1, 3), (4, 50, 0, 128)])
def test_local_data_transfer_adds_ceil_bytes_over_bw_per_hop(n, d, nbytes, bw):
    sim = Simulation(chain_dict(n, d, nbytes), hw1(local_bytes_per_cycle=bw), n_requests=1,
                     arrival="closed", tbu_init=np.zeros(1, np.int64), trace_cap=100)
    res = sim.run()[0]
    hop = math.ceil(nbytes / bw)
    assert res.latencies.tolist() == [n * d + (n - 1) * hop]
    assert res.tbu_idle["waiting_data"].tolist() == [(n - 1) * hop]
    assert res.noc_byte_hops == 0.0  # same cluster: no mesh hops
    check_final(sim, res, tasks_per_request=n)


def test_free_local_bandwidth_means_no_data_wait():
    sim = Simulation(chain_dict(5, 10, 10_000), hw1(local_bytes_per_cycle=0), n_requests=1,
                     arrival="closed", tbu_init=np.zeros(1, np.int64), trace_cap=100)
    assert sim.run()[0].latencies.tolist() == [50]


@pytest.mark.parametrize("qcap", [1, 2, 4])
def test_single_tbu_closed_batch_makespan_is_total_work(qcap):
    """One TBU, all work in one cluster from t=0: the TBU never idles until the end."""
    N, n, d = 25, 3, 40
    sim = Simulation(toy_chain(n, d), hw1(queue_capacity=qcap), n_requests=N,
                     arrival="closed", tbu_init=np.zeros(1, np.int64), trace_cap=1000)
    res = sim.run()[0]
    assert res.makespan == N * n * d
    assert res.utilisation == 1.0 and res.idle_starved == 0.0
    check_final(sim, res, tasks_per_request=n)


# ---- 3. determinism and batch independence ------------------------------------------------------


def test_same_seed_same_result_different_seed_differs():
    kw = dict(hardware="chip", load=0.8, n_requests=200, trace_cap=TRACE_CAP)
    a = Simulation(None, seed=11, **kw).run()[0]
    b = Simulation(None, seed=11, **kw).run()[0]
    c = Simulation(None, seed=12, **kw).run()[0]
    assert a.to_dict() == b.to_dict()
    np.testing.assert_array_equal(a.latencies, b.latencies)
    for k in a.tbu_idle:
        np.testing.assert_array_equal(a.tbu_idle[k], b.tbu_idle[k])
    assert not np.array_equal(a.latencies, c.latencies)
    assert a.to_dict() != c.to_dict()


@pytest.mark.parametrize("wf,hw,n,B,members", [("mix", "chip", 150, 5, (0, 2, 4)),
                                                ("recognition", "wafer", 120, 3, (0, 1, 2))])
def test_batch_member_equals_single_run_with_member_offset(wf, hw, n, B, members):
    kw = dict(hardware=hw, load=0.8, n_requests=n, seed=5, trace_cap=TRACE_CAP)
    big = Simulation(wf, batch=B, **kw)
    results = big.run()
    assert len(results) == B
    for b in members:
        one = Simulation(wf, member_offset=b, **kw)
        r1 = one.run()[0]
        assert results[b].to_dict() == r1.to_dict()
        np.testing.assert_array_equal(results[b].latencies, r1.latencies)
        tr_b, tr_1 = trace_rows(big, b), trace_rows(one)
        for k in tr_b:
            np.testing.assert_array_equal(tr_b[k], tr_1[k])
    assert results[0].to_dict() != results[1].to_dict()  # members are independent draws


# ---- 4. common random numbers -------------------------------------------------------------------


@pytest.mark.parametrize("wf,hw", [("mix", "chip"), ("recognition", "wafer")])
def test_common_random_numbers_across_policies(wf, hw):
    kw = dict(hardware=hw, load=0.9, n_requests=200, seed=21, trace_cap=TRACE_CAP)
    sims = {p: Simulation(wf, policy=p, **kw) for p in POLICIES}
    res = {p: s.run()[0] for p, s in sims.items()}
    base = sims["round_robin"]
    for p in ("least_loaded", "random"):
        np.testing.assert_array_equal(f(sims[p], "res_wf"), f(base, "res_wf"))
        np.testing.assert_array_equal(f(sims[p], "res_arr"), f(base, "res_arr"))
    # the policies do act differently
    assert not np.array_equal(res["round_robin"].latencies, res["least_loaded"].latencies)


# ---- 5. pool growth -----------------------------------------------------------------------------


def test_overloaded_run_grows_pools_without_changing_results():
    kw = dict(hardware="chip", load=3.0, n_requests=1500, seed=2, trace_cap=TRACE_CAP)
    sim = Simulation(None, **kw)
    shapes0 = {g: getattr(sim.state, g).shape for g in ("RQ", "FR", "JB", "HP")}
    res = sim.run()[0]
    grown = {g: getattr(sim.state, g).shape for g in shapes0}
    assert grown["RQ"][1] > shapes0["RQ"][1]
    assert grown["JB"][1] > shapes0["JB"][1] and grown["HP"][1] > shapes0["HP"][1]
    check_final(sim, res)
    # the same run from pools large enough never to grow gives the same result
    big = Simulation(None, **kw)
    big.state = new_state(big.model, big.mix, 1, big.seeds, big.tbu_cfg,
                          R=grown["RQ"][1] * 2, F=grown["FR"][1] * 2, J=grown["JB"][1] * 2)
    shapes_big = {g: getattr(big.state, g).shape for g in shapes0}
    res_big = big.run()[0]
    assert {g: getattr(big.state, g).shape for g in shapes0} == shapes_big  # no growth
    assert res_big.to_dict() == res.to_dict()
    np.testing.assert_array_equal(res_big.latencies, res.latencies)


def test_growth_mid_run_in_a_batch_keeps_members_independent():
    kw = dict(hardware="chip", n_requests=400, seed=9, trace_cap=TRACE_CAP)
    # member 0 of a batch of two overloaded members grows pools for both
    batch = Simulation(None, load=3.0, batch=2, **kw)
    rb = batch.run()
    for b in range(2):
        check_final(batch, rb[b], b)
        single = Simulation(None, load=3.0, member_offset=b, **kw).run()[0]
        assert single.to_dict() == rb[b].to_dict()


# ---- 7. SimResult contract ----------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_to_dict_is_scalar_and_json_serialisable(policy):
    res = Simulation("recognition", "chip", load=0.7, n_requests=100, seed=4,
                     policy=policy).run()[0]
    d = res.to_dict()
    assert set(d) == SCALAR_KEYS
    for k, v in d.items():
        assert isinstance(v, (int, float)) and not isinstance(v, bool), (k, type(v))
    assert json.loads(json.dumps(d)) == d
    parts = (d["utilisation"] + d["idle_starved"] + d["idle_waiting_data"]
             + d["idle_reconfiguring"] + d["idle_blocked"])
    assert parts == pytest.approx(1.0, abs=1e-12)
    assert 0 < d["utilisation"] < 1
    assert d["latency_p50"] <= d["latency_p95"] <= d["latency_p99"] <= res.latencies.max()
    assert d["throughput_per_mcycle"] == pytest.approx(d["n_requests"] / d["makespan"] * 1e6)
    assert d["latency_mean"] == pytest.approx(float(res.latencies.mean()))
