"""The compiled batched kernel (octogym.kernel): invariants over random workflows, hardware and
policies; known answers; determinism and batch independence; common random numbers; pool
growth; the scheduler mechanisms (reconfigure / migrate / steal); the SimResult contract.

The first import compiles the kernel (~1 min, cached in __pycache__ afterwards)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octogym.hardware import get_hardware
from octogym.kernel import fields as L
from octogym.kernel import layout
from octogym.kernel.build import model_int, new_state
from octogym.kernel.layout import (
    EV_CB_DONE,
    EV_EPOCH,
    EV_TBU_FREE,
    KIND_SHIFT,
    PARK_HOME,
    ST_DONE,
    ST_TIME,
    TBU_IDLE,
    TBU_RECONF,
    TBU_RUN,
    field,
)
from octogym.kernel.mechanisms import migrate, park_code, parked_cluster, reconfigure, steal
from octogym.kernel.policies import KERNEL_POLICIES
from octogym.simulator import Simulation
from octogym.workflows import Workflow
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


# ---- helpers ------------------------------------------------------------------------------------


def f(sim: Simulation, name: str, b: int = 0) -> np.ndarray:
    """Member ``b``'s view of state field ``name`` (a copy, so later steps don't alias it)."""
    return np.array(field(sim.state, name)[b])


def hw1(**kw):
    """A 1x1 cluster, 1 TBU system with free transfers (override any field)."""
    spec = dict(preset="chip", rows=1, cols=1, tbus_per_cluster=1, die_rows=1, die_cols=1,
                queue_capacity=2, reconfig_cycles=500, hop_cycles=0, die_hop_cycles=0,
                link_bytes_per_cycle=32, local_bytes_per_cycle=0)
    spec.update(kw)
    return get_hardware(spec)


def chain_dict(n: int, d: int, flow_bytes: int, config: str = "toy", name: str = "chain"):
    ids = [f"t{i}" for i in range(n)]
    return Workflow.from_dict({
        "name": name, "entry": ids[0],
        "blocks": [{"id": i, "type": "task", "config": config, "kind": "ai",
                    "duration": {"dist": "fixed", "value": d}} for i in ids],
        "flows": [{"src": a, "dst": b, "bytes": flow_bytes}
                  for a, b in zip(ids, ids[1:], strict=False)],
    })


def trace_rows(sim: Simulation, b: int = 0) -> dict[str, np.ndarray]:
    n = int(f(sim, "n_traced", b))
    return {k: f(sim, k, b)[:n] for k in ("tr_uid", "tr_blk", "tr_tbu", "tr_ready", "tr_start",
                                          "tr_end")}


def heap_events(sim: Simulation, b: int = 0):
    n = int(f(sim, "hp_len", b))
    return (f(sim, "hp_time", b)[:n], f(sim, "hp_key", b)[:n] >> KIND_SHIFT,
            f(sim, "hp_data", b)[:n])


def check_free_stacks(sim: Simulation, b: int = 0) -> None:
    """The free stacks hold distinct valid slot ids."""
    for free, nfree, size in (("rq_free", "rq_nfree", sim.state.RQ.shape[1]),
                              ("fr_free", "fr_nfree", sim.state.FR.shape[1]),
                              ("jb_free", "jb_nfree", sim.state.JB.shape[1])):
        n = int(f(sim, nfree, b))
        ids = f(sim, free, b)[:n]
        assert 0 <= n <= size
        assert len(np.unique(ids)) == n and (n == 0 or (ids.min() >= 0 and ids.max() < size))


def check_paused(sim: Simulation, until: int, b: int = 0, strict_backlog: bool = True) -> None:
    """Invariants of a member paused by ``advance(until=...)`` (status ST_TIME). With
    ``strict_backlog`` a cluster's backlog must be empty unless all its TBUs are full (true for
    policies that never defer work nor migrate it)."""
    M = sim.model
    qcap, K = model_int(M, "qcap"), model_int(M, "K")
    now = int(f(sim, "now", b))
    assert now <= until
    assert int(f(sim, "dq_len", b)) == 0
    ql, state = f(sim, "tb_ql", b), f(sim, "tb_state", b)
    # a full queue is never over-filled
    assert (ql >= 0).all() and (ql <= qcap).all(), ql
    # cluster queue counters agree with the TBU queues
    np.testing.assert_array_equal(f(sim, "cl_queued", b), ql.reshape(-1, K).sum(axis=1))
    # no event in the past
    ht, hk, hd = heap_events(sim, b)
    assert (ht >= now).all() and (ht > until).all()
    # an idle TBU has nothing queued; a running one runs its head job
    assert (ql[state == TBU_IDLE] == 0).all()
    assert (ql[state == TBU_RUN] >= 1).all()
    tbq, qh, jb_tbu = f(sim, "TBQ", b), f(sim, "tb_qh", b), f(sim, "jb_tbu", b)
    queued = []
    for u in range(len(ql)):
        js = [int(tbq[u, (qh[u] + k) % qcap]) for k in range(ql[u])]
        assert all(jb_tbu[j] == u for j in js)
        queued += js
    assert len(set(queued)) == len(queued)
    # at most one TB runs on a TBU at any instant: trace rows still running at `until`
    tr = trace_rows(sim, b)
    assert int(f(sim, "n_traced", b)) < model_int(M, "trace_cap")
    running = np.bincount(tr["tr_tbu"][tr["tr_end"] > until], minlength=len(ql))
    np.testing.assert_array_equal(running, (state == TBU_RUN).astype(int))
    # accounting: the whole span of a started job is accounted at its start, so the committed
    # time of a busy TBU reaches its end; an idle one's closed time + open segment reaches now
    acc = sum(f(sim, k, b) for k in ("acc_busy", "acc_reconf", "acc_wait", "acc_starved",
                                     "acc_blocked"))
    tb_end, tb_idle = f(sim, "tb_end", b), f(sim, "tb_idle", b)
    idle = state == TBU_IDLE
    np.testing.assert_array_equal(acc[idle] + (now - tb_idle[idle]), np.full(idle.sum(), now))
    np.testing.assert_array_equal(acc[~idle], tb_end[~idle])
    assert (tb_end[~idle] > until).all()
    # job pool: every used job slot is a queued TB, a backlogged TB or a pending CB
    n_cb = int((hk == EV_CB_DONE).sum())
    used = sim.state.JB.shape[1] - int(f(sim, "jb_nfree", b))
    assert used == int(ql.sum()) + int(f(sim, "bl_len", b).sum()) + n_cb
    # request pool: in-flight requests
    in_flight = int(f(sim, "n_arrived", b) - f(sim, "n_done", b))
    assert sim.state.RQ.shape[1] - int(f(sim, "rq_nfree", b)) == in_flight
    # a backlog exists only while every TBU of its cluster is full
    if strict_backlog:
        full = (ql == qcap).reshape(-1, K).all(axis=1)
        assert (full | (f(sim, "bl_len", b) == 0)).all()
    check_free_stacks(sim, b)


def check_final(sim: Simulation, res, b: int = 0, tasks_per_request: int | None = None,
                commanded_reconf: bool = False) -> None:
    """Invariants of a member that ran to completion. Unless reconfigurations were also
    commanded (``core.reconfigure``), they follow exactly from the trace's config changes."""
    M = sim.model
    N, T = model_int(M, "n_requests"), model_int(M, "T")
    reconf = model_int(M, "reconf")
    assert int(f(sim, "status", b)) == ST_DONE
    # every request completes exactly once, after it arrived
    arr, done = f(sim, "res_arr", b), f(sim, "res_done", b)
    assert res.n_requests == N
    assert int(f(sim, "n_done", b)) == N and int(f(sim, "n_arrived", b)) == N
    assert (arr >= 0).all() and (done >= arr).all()
    np.testing.assert_array_equal(res.latencies, (done - arr).astype(float))
    assert res.makespan == done.max() == int(f(sim, "t_end", b))
    # every TB instance runs exactly once, and every execution is in the trace
    n_tb = int(f(sim, "n_tb_done", b))
    assert int(f(sim, "n_tb_created", b)) == n_tb == res.tb_executions
    assert int(f(sim, "n_traced", b)) == n_tb < model_int(M, "trace_cap")
    assert int(f(sim, "ST_DEM", b).sum()) == n_tb
    tr = trace_rows(sim, b)
    uid, tbu, ready, start, end = (tr[k] for k in ("tr_uid", "tr_tbu", "tr_ready", "tr_start",
                                                   "tr_end"))
    per_req = np.bincount(uid, minlength=N)
    assert per_req.sum() == n_tb and len(per_req) == N
    if tasks_per_request is not None:
        assert (per_req == tasks_per_request).all(), per_req
    # no event in the past: a TB is ready after its request arrived, starts after it was ready,
    # ends before its request completes
    assert (ready >= arr[uid]).all() and (start >= ready).all() and (end >= start).all()
    assert (end <= done[uid]).all()
    # per TBU: intervals in start order never overlap; runs, busy time and reconfigurations
    # agree with the trace
    cfg_of = M.MB[L.MB_BLK_CFG]
    runs = f(sim, "tb_runs", b)
    split = res.tbu_idle
    n_changes = 0
    for u in range(T):
        m = tbu == u
        s, e = start[m], end[m]
        assert (np.diff(s) >= 0).all()
        assert (e[:-1] <= s[1:]).all(), f"overlap on TBU {u}"
        assert runs[u] == m.sum()
        assert split["busy"][u] == int((e - s).sum())
        cfgs = np.concatenate([[sim.tbu_cfg[u]], cfg_of[tr["tr_blk"][m]]])
        ch = int((cfgs[1:] != cfgs[:-1]).sum())
        n_changes += ch
        if not commanded_reconf:
            assert split["reconfiguring"][u] == reconf * ch
    if commanded_reconf:  # a reconfiguration running past the end is clipped there
        assert res.reconfigurations >= n_changes
        assert int(split["reconfiguring"].sum()) <= reconf * res.reconfigurations
    else:
        assert res.reconfigurations == n_changes
        assert int(split["reconfiguring"].sum()) == reconf * res.reconfigurations
    # exact time split of every TBU
    tot = sum(split[k] for k in ("busy", "starved", "waiting_data", "reconfiguring", "blocked"))
    np.testing.assert_array_equal(tot, np.full(T, res.makespan))
    for k in split:
        assert (split[k] >= 0).all(), k
    # everything drained (only a periodic epoch event, or the end of a commanded
    # reconfiguration still running past the makespan, may be left), all pools free again
    ht, hk, hd = heap_events(sim, b)
    pending = hk == EV_TBU_FREE
    assert ((hk == EV_EPOCH) | pending).all() and int(f(sim, "dq_len", b)) == 0
    state = f(sim, "tb_state", b)
    assert (state[hd[pending]] == TBU_RECONF).all() and (ht[pending] > res.makespan).all()
    assert ((state == TBU_IDLE) | (state == TBU_RECONF)).all()
    assert int(pending.sum()) == int((state == TBU_RECONF).sum())
    assert (f(sim, "bl_len", b) == 0).all() and (f(sim, "tb_ql", b) == 0).all()
    assert int(f(sim, "rq_nfree", b)) == sim.state.RQ.shape[1]
    assert int(f(sim, "fr_nfree", b)) == sim.state.FR.shape[1]
    assert int(f(sim, "jb_nfree", b)) == sim.state.JB.shape[1]
    check_free_stacks(sim, b)


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


# ---- 6. mechanisms ------------------------------------------------------------------------------


def hw2(**kw):
    """Two clusters side by side (1 hop apart), one TBU each."""
    spec = dict(preset="chip", rows=1, cols=2, tbus_per_cluster=1, die_rows=1, die_cols=2,
                queue_capacity=4, reconfig_cycles=2000, hop_cycles=7, die_hop_cycles=0,
                link_bytes_per_cycle=16, local_bytes_per_cycle=0)
    spec.update(kw)
    return get_hardware(spec)


def two_config_sim(r1_arrival: int, n: int = 2) -> Simulation:
    """r0 (config a, 1000 cycles) at t=0 on cluster 0; r1 (config b) on cluster 1 later."""
    wfs = [toy_chain(1, 1000, config="a", name="A"), toy_chain(1, 1000, config="b", name="B")]
    times, wfi = [0, r1_arrival][:n], [0, 1][:n]
    sim = Simulation(wfs, hw2(), n_requests=n, arrival="trace", trace=(times, wfi),
                     policy="round_robin", tbu_init=np.zeros(2, np.int64), trace_cap=100)
    assert sim.mix.configs.index("b") == 1
    return sim


@pytest.mark.parametrize("r1_arrival,r1_latency", [(5000, 1000), (1000, 2000), (2000, 1000)])
def test_reconfigure_ahead_of_need(r1_arrival, r1_latency):
    sim = two_config_sim(r1_arrival)
    M, S = sim.model, sim.state
    assert sim.advance(until=100)[0] == ST_TIME
    assert f(sim, "tb_state").tolist() == [TBU_RUN, TBU_IDLE]
    n0, now = int(f(sim, "n_reconf")), int(f(sim, "now"))
    # refused: a busy TBU, a TBU already holding the config
    assert not reconfigure(M, S, 0, 0, 1)
    assert not reconfigure(M, S, 0, 1, 0)
    assert int(f(sim, "n_reconf")) == n0 and f(sim, "tb_cfg").tolist() == [0, 0]
    # accepted on the idle, empty TBU 1
    assert reconfigure(M, S, 0, 1, 1)
    assert f(sim, "tb_state")[1] == TBU_RECONF and f(sim, "tb_cfg")[1] == 1
    assert int(f(sim, "n_reconf")) == n0 + 1
    assert f(sim, "acc_reconf")[1] == 2000 and f(sim, "tb_end")[1] == now + 2000
    ht, hk, hd = heap_events(sim)
    assert ((hk == EV_TBU_FREE) & (hd == 1) & (ht == now + 2000)).sum() == 1
    assert not reconfigure(M, S, 0, 1, 0)  # now busy reconfiguring
    res = sim.run()[0]
    # r1 finds its TBU configured (or waits for the reconfiguration to end), no second reconf
    assert res.latencies.tolist() == [1000, r1_latency]
    assert res.reconfigurations == 1
    check_final(sim, res, commanded_reconf=True)


def test_reconfigure_then_tbu_is_free_again():
    sim = two_config_sim(5000)
    sim.advance(until=100)
    assert reconfigure(sim.model, sim.state, 0, 1, 1)
    sim.advance(until=2500)
    assert f(sim, "tb_state")[1] == TBU_IDLE and f(sim, "tb_ql")[1] == 0
    check_paused(sim, 2500)
    assert reconfigure(sim.model, sim.state, 0, 1, 0)  # idle again: may reconfigure back
    res = sim.run()[0]
    assert res.latencies.tolist() == [1000, 3000]  # r1 (config b) pays a reconfiguration
    assert res.reconfigurations == 3
    assert res.tbu_idle["reconfiguring"].tolist() == [0, 6000]
    check_final(sim, res, commanded_reconf=True)


def test_reconfigure_running_past_the_end_is_clipped_at_the_makespan():
    """2 clusters x 1 TBU, one 1000-cycle request on TBU 0; at t=0 TBU 1 is told to
    reconfigure (2000 cycles). The run ends at 1000: TBU 1's split is clipped there (its
    reconfiguration's EV_TBU_FREE at 2000 is left pending, harmlessly)."""
    sim = two_config_sim(0, n=1)  # only r0: done at 1000
    sim.advance(until=100)
    assert reconfigure(sim.model, sim.state, 0, 1, 1)  # ends at 2000 > makespan
    res = sim.run()[0]
    assert res.makespan == 1000 and res.latencies.tolist() == [1000]
    assert res.tbu_idle["reconfiguring"].tolist() == [0, 1000]
    assert res.tbu_idle["busy"].tolist() == [1000, 0]
    assert res.reconfigurations == 1
    check_final(sim, res, commanded_reconf=True)


def chain_2(d0: int, d1: int, nbytes: int) -> Workflow:
    return Workflow.from_dict({
        "name": "c2", "entry": "t0",
        "blocks": [{"id": "t0", "type": "task", "config": "toy", "kind": "ai",
                    "duration": {"dist": "fixed", "value": d0}},
                   {"id": "t1", "type": "task", "config": "toy", "kind": "ai",
                    "duration": {"dist": "fixed", "value": d1}}],
        "flows": [{"src": "t0", "dst": "t1", "bytes": nbytes}],
    })


def test_migrate_moves_a_waiting_job_and_pays_the_transfer():
    hw = hw2()
    sim = Simulation(chain_2(10, 1000, 64), hw, n_requests=6, arrival="closed",
                     policy="round_robin", tbu_init=np.zeros(2, np.int64), trace_cap=100)
    M, S = sim.model, sim.state
    assert sim.advance(until=100)[0] == ST_TIME
    now = int(f(sim, "now"))
    assert now == 30
    assert f(sim, "tb_ql").tolist() == [3, 3]
    assert f(sim, "tb_state").tolist() == [TBU_RUN, TBU_RUN]
    qh = f(sim, "tb_qh")
    j = int(f(sim, "TBQ")[0, (qh[0] + 2) % 4])  # r4's t1, last in TBU 0's queue
    assert f(sim, "jb_tbu")[j] == 0 and f(sim, "jb_bytes")[j] == 64
    # refused: the running head, a position past the queue, the same TBU
    assert not migrate(M, S, 0, 0, 0, 1)
    assert not migrate(M, S, 0, 0, 3, 1)
    assert not migrate(M, S, 0, 0, 2, 0)
    bh0 = float(f(sim, "byte_hops"))
    assert migrate(M, S, 0, 0, 2, 1)
    assert f(sim, "tb_ql").tolist() == [2, 4]
    assert f(sim, "cl_queued").tolist() == [2, 4]
    assert int(f(sim, "n_migrations")) == 1 and int(f(sim, "n_steals")) == 0
    qh = f(sim, "tb_qh")
    assert int(f(sim, "TBQ")[1, (qh[1] + 3) % 4]) == j and f(sim, "jb_tbu")[j] == 1
    assert f(sim, "jb_data")[j] == now + int(hw.transfer_cycles(0, 1, 64)) == now + 7 + 4
    assert float(f(sim, "byte_hops")) == bh0 + 64 * 1
    assert not migrate(M, S, 0, 0, 1, 1)  # TBU 1 is full now
    check_paused(sim, 100)
    res = sim.run()[0]
    # TBU 1 runs t1 of r1, r3, r5, then r4 (whose data arrived long before)
    assert res.latencies.tolist() == [1030, 1030, 2030, 2030, 4030, 3030]
    tr = trace_rows(sim)
    r4 = (tr["tr_uid"] == 4) & (tr["tr_end"] - tr["tr_start"] == 1000)  # r4's t1
    assert tr["tr_tbu"][r4].tolist() == [1] and tr["tr_start"][r4].tolist() == [3030]
    assert res.migrations == 1
    check_final(sim, res)


def steal_sim() -> Simulation:
    """r0 (long) and r2 (long) on cluster 0, r1 (short) on cluster 1: TBU 1 idles from t=10
    while TBU 0 runs r0 and holds r2."""
    wfs = [toy_chain(1, 1000, name="long"), toy_chain(1, 10, name="short")]
    return Simulation(wfs, hw2(), n_requests=3, arrival="trace", trace=([0, 0, 0], [0, 1, 0]),
                      policy="round_robin", tbu_init=np.zeros(2, np.int64), trace_cap=100)


def test_steal_takes_the_tail_job_to_the_idle_thief():
    sim = steal_sim()
    M, S = sim.model, sim.state
    assert sim.advance(until=50)[0] == ST_TIME
    now = int(f(sim, "now"))
    assert now == 10 and f(sim, "tb_ql").tolist() == [2, 0]
    assert not steal(M, S, 0, 0, 1)  # the victim has nothing movable
    assert steal(M, S, 0, 1, 0)
    assert int(f(sim, "n_steals")) == 1 and int(f(sim, "n_migrations")) == 0
    assert f(sim, "tb_ql").tolist() == [1, 1]
    assert f(sim, "tb_state").tolist() == [TBU_RUN, TBU_RUN]  # the thief started at once
    assert not steal(M, S, 0, 1, 0)  # only the running job is left
    check_paused(sim, 50)
    res = sim.run()[0]
    # r2's data crosses one hop (7 cycles, 0 bytes) before it runs on TBU 1
    assert res.latencies.tolist() == [1000, 10, now + 7 + 1000]
    assert res.tbu_idle["waiting_data"].tolist() == [0, 7]
    assert res.steals == 1 and res.migrations == 0
    check_final(sim, res)


def test_steal_without_steal_is_slower():
    res = steal_sim().run()[0]
    assert res.latencies.tolist() == [1000, 10, 2000]


def test_steal_re_offers_the_source_cluster_backlog():
    """2 clusters x 1 TBU, queue capacity 2, five requests at t=0 round-robin over the
    clusters: cluster 0 gets r0 (running), r2 (queued), r4 (backlog); cluster 1 gets two
    10-cycle requests and idles from t=20. At t=20 TBU 1 steals r2: the freed slot in cluster 0
    is offered to its backlog (r4 goes to the decision queue, placed when the member next
    advances, still at t=20)."""
    wfs = [toy_chain(1, 1000, name="long"), toy_chain(1, 10, name="short")]
    sim = Simulation(wfs, hw2(queue_capacity=2), n_requests=5, arrival="trace",
                     trace=([0] * 5, [0, 1, 0, 1, 0]), policy="round_robin",
                     tbu_init=np.zeros(2, np.int64), trace_cap=100)
    sim.advance(until=50)
    assert f(sim, "tb_ql").tolist() == [2, 0] and f(sim, "bl_len").tolist() == [1, 0]
    assert steal(sim.model, sim.state, 0, 1, 0)
    assert f(sim, "tb_ql").tolist() == [1, 1]
    assert f(sim, "bl_len").tolist() == [0, 0] and int(f(sim, "dq_len")) == 1
    assert sim.advance(until=50)[0] == ST_TIME
    assert int(f(sim, "now")) == 20
    assert f(sim, "tb_ql").tolist() == [2, 1] and int(f(sim, "dq_len")) == 0
    check_paused(sim, 50)
    res = sim.run()[0]
    # r2 runs on TBU 1 after a 7-cycle hop; r4 follows r0 on TBU 0
    assert res.latencies.tolist() == [1000, 10, 1027, 20, 2000]
    check_final(sim, res)


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


# ---- the field layout ---------------------------------------------------------------------------


def test_fields_module_and_docs_table_are_generated_from_the_layout_tables():
    assert layout.FIELDS_PATH.read_text() == layout.fields_source(), \
        "octogym/kernel/fields.py is stale: regenerate it (python -m octogym.kernel.layout)"
    doc = (Path(__file__).resolve().parents[1] / "docs" / "model.md").read_text()
    assert layout.groups_markdown() in doc, \
        "docs/model.md 'Kernel state' is stale: paste the table that " \
        "python -m octogym.kernel.layout prints"


def test_every_field_has_a_meaning_and_its_row_constant():
    tables = [(g, fs) for g, _, fs in layout.MODEL_TABLE]
    tables += [(g, fs) for g, _, _, _, fs in layout.STATE_TABLE]
    tables.append((layout.WL_TABLE[0], layout.WL_TABLE[2]))
    for g, fs in tables:
        assert getattr(L, f"{g}_NFIELDS") == len(fs)
        for i, (name, meaning) in enumerate(fs):
            assert meaning.strip(), f"{g}.{name} has no meaning written"
            assert getattr(L, layout.constant_name(g, name)) == i
            assert g == "WL" or layout.FIELD_INDEX[name] == (g, i), f"{name!r} is not unique"


def test_every_row_constant_used_in_code_is_defined_in_fields():
    """``L.<NAME>`` anywhere in the project is a constant defined (greppable) in fields.py."""
    root = Path(__file__).resolve().parents[1]
    defined = set(re.findall(r"^([A-Z][A-Z0-9_]*) = \d+", layout.FIELDS_PATH.read_text(), re.M))
    used: dict[str, str] = {}
    for folder in ("octogym", "envs", "agents", "benchmarks", "tests"):
        for p in (root / folder).rglob("*.py"):
            for name in re.findall(r"\bL\.([A-Za-z_]\w*)", p.read_text()):
                used.setdefault(name, str(p.relative_to(root)))
    assert len(used) > 100
    missing = {n: p for n, p in used.items() if n not in defined}
    assert not missing, f"row constants used but not defined in fields.py: {missing}"


def test_park_codes_name_every_cluster_below_park_home():
    codes = [park_code(c) for c in range(300)]
    assert all(code < PARK_HOME for code in codes) and len(set(codes)) == 300
    assert [parked_cluster(code) for code in codes] == list(range(300))
