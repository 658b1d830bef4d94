"""Differential tests: the compiled kernel against the SimPy reference simulator.

On the same scenario and seed both must produce the same trajectory (docs/model.md §4): the same TB
schedule (every execution's request, block, TBU, ready, start and end, in the same start order),
the same per-request arrival / completion / home / workflow, and the same metrics (all scalar
fields of ``SimResult``, per-TBU utilisation and idle split), and the same control-plane cost
(every decision's server, cycles and queueing; per-cluster CBU busy cycles) when decisions cost
time (docs/model.md §3 "Control plane").
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from octogym.control_plane import control_plane_stats
from octogym.kernel import fields as L
from octogym.kernel.layout import EXT_TBU, ST_DECISION, ST_DONE, ST_STALLED, field
from octogym.reference import ReferenceSimulation
from octogym.simulator import Simulation
from octogym.workflows.generator import GeneratorConfig, generate_workflow
from octogym.workflows.suite import suite_names

POLICIES = ("round_robin", "least_loaded", "eft")
TRACE_COLS = ("tr_uid", "tr_blk", "tr_tbu", "tr_ready", "tr_start", "tr_end")
TRACE_CAP = 200_000
QCAP1 = {"preset": "chip", "queue_capacity": 1}


def scatter_choice(qcap: int):
    """A TBU choice both simulators make the same way (the kernel's as outside EXT_TBU
    actions): from a hash of the job's request and block, the first TBU with queue space,
    anywhere on the machine, so TB inputs cross the NoC."""
    def choose(uid: int, block: int, ql: list[int]) -> int:
        T = len(ql)
        first = (uid * 2654435761 + block * 40503) % T
        for k in range(T):
            u = (first + k) % T
            if ql[u] < qcap:
                return u
        raise AssertionError("no TBU has queue space")
    return choose


def kernel_run(workflows, hardware, member: int = 0, tbu_choice=None, **kw):
    """Run the kernel (batch ``member + 1``); return member ``member``'s result, schedule and
    per-request arrays and contention counters. With ``tbu_choice``, its TBU decisions are
    external actions."""
    sim = Simulation(workflows, hardware, trace_cap=TRACE_CAP, batch=member + 1, **kw)
    if tbu_choice is None:
        res = sim.run()[member]
    else:
        acts = np.full(member + 1, -1, np.int64)
        while True:
            st = sim.advance(actions=acts, ext=EXT_TBU)
            if (st == ST_DONE).all():
                break
            assert set(st.tolist()) <= {ST_DONE, ST_DECISION}, st
            S = sim.state
            for b in np.flatnonzero(st == ST_DECISION):
                j = int(field(S, "dec_job")[b])
                uid = int(S.RQ[b, S.JB[b, j, L.JB_REQ], L.RQ_UID])
                acts[b] = tbu_choice(uid, int(S.JB[b, j, L.JB_BLOCK]),
                                     field(S, "tb_ql")[b].tolist())
            acts[st != ST_DECISION] = -1
        res = sim.result(member)
    S = sim.state
    n = int(field(S, "n_traced")[member])
    assert n < TRACE_CAP, "trace truncated: raise TRACE_CAP"
    sched = list(zip(*[field(S, c)[member][:n].tolist() for c in TRACE_COLS], strict=True))
    per_req = {k: field(S, f"res_{k}")[member].copy() for k in ("arr", "done", "home", "wf")}
    per_req["acc_cbu"] = field(S, "acc_cbu")[member].copy()
    return res, sched, per_req, control_plane_stats(S, member), sim.contention(member)


def ref_run(workflows, hardware, **kw):
    ref = ReferenceSimulation(workflows, hardware, **kw)
    res = ref.run()
    per_req = {"arr": ref.arrival, "done": ref.completion, "home": ref.home,
               "wf": ref.workflow, "acc_cbu": np.array([c.cbu_busy for c in ref.clusters])}
    return ref, res, per_req


def assert_same(workflows, hardware, member: int = 0, tbu_choice=None,
                **kw) -> ReferenceSimulation:
    kres, ksched, kreq, kcp, kcont = kernel_run(workflows, hardware, member=member,
                                                tbu_choice=tbu_choice, **kw)
    ref, rres, rreq = ref_run(workflows, hardware, member_offset=member, tbu_choice=tbu_choice,
                              **kw)
    # schedule: same executions in the same start order; report the first difference
    for i, (a, b) in enumerate(zip(ksched, ref.schedule, strict=False)):
        assert a == b, (f"TB execution #{i} differs (uid, block, tbu, ready, start, end): "
                        f"kernel {a} vs reference {b}")
    assert len(ksched) == len(ref.schedule)
    for k in kreq:
        np.testing.assert_array_equal(kreq[k], rreq[k], err_msg=f"per-request {k}")
    kd, rd = kres.to_dict(), rres.to_dict()
    for k, v in kd.items():
        if isinstance(v, float) and math.isnan(v):
            assert math.isnan(rd[k]), k
        else:
            assert v == rd[k], f"metric {k}: kernel {v} vs reference {rd[k]}"
    np.testing.assert_array_equal(kres.latencies, rres.latencies)
    np.testing.assert_array_equal(kres.tbu_utilisation, rres.tbu_utilisation)
    for k, v in kres.tbu_idle.items():
        np.testing.assert_array_equal(v, rres.tbu_idle[k], err_msg=f"tbu_idle[{k}]")
    assert rres.n_requests == kw["n_requests"]
    assert kcp == ref.control_plane()
    assert kcont == ref.contention, \
        f"contention counters: kernel {kcont} vs reference {ref.contention}"
    return ref


# ---- the suite and the mix on both presets, both policies ---------------------------------

SUITE_CASES = [(wf, hw, n, pol) for wf in [*suite_names(), "mix"]
               for hw, n in (("chip", 150), ("wafer", 60)) for pol in POLICIES]


@pytest.mark.parametrize(("wf", "hw", "n", "policy"), SUITE_CASES,
                         ids=[f"{w}-{h}-{p}" for w, h, _, p in SUITE_CASES])
def test_suite_matches_kernel(wf, hw, n, policy):
    assert_same(wf, hw, load=0.8, n_requests=n, seed=11, policy=policy)


@pytest.mark.parametrize("policy", POLICIES)
def test_closed_batch_matches_kernel(policy):
    ref = assert_same("mix", "chip", arrival="closed", n_requests=200, seed=5, policy=policy)
    assert (ref.arrival == 0).all()
    assert ref.n_backlogged > 0  # a closed batch overfills the queues


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(("arrival", "load"), [("poisson", 0.8), ("poisson", 1.5),
                                               ("closed", 0.8)])
def test_queue_capacity_one_backpressure(policy, arrival, load):
    """One queue place per TBU: TB jobs wait in cluster backlogs and are re-offered in order."""
    ref = assert_same("mix", QCAP1, arrival=arrival, load=load, n_requests=200, seed=2,
                      policy=policy)
    assert ref.n_backlogged > 0


def test_trace_arrivals_with_ties():
    """Trace arrivals, several requests at the same cycle (ARRIVAL ties with other kinds)."""
    n = 120
    times = np.repeat(np.arange(0, n // 4) * 150_000, 4)
    wfs = np.arange(n) % 6
    assert_same("mix", "chip", arrival="trace", trace=(times, wfs), n_requests=n, seed=4,
                policy="least_loaded")


def test_unconfigured_tbus_and_member_offset():
    """TBUs that start unconfigured (every first run reconfigures) and a batch member != 0."""
    ref = assert_same("mix", "chip", load=0.9, n_requests=150, seed=8, policy="round_robin",
                      tbu_init="none", member=2)
    assert ref.n_reconf >= ref.hw.n_tbus // 2


# ---- the control plane costs time: decisions queue on the CBUs and the central scheduler ----

REALISTIC = {"decision_base_cycles": 50, "decision_cycles_per_entity": 4}
HEAVY = {"decision_base_cycles": 0, "decision_cycles_per_entity": 300}  # eft saturates
BASE_ONLY = {"decision_base_cycles": 3000, "decision_cycles_per_entity": 0}
WAFER_4x8 = {"preset": "wafer", "rows": 4, "cols": 8, "queue_capacity": 2}
CP_CASES = [("mix", "chip", REALISTIC, "eft", 1), ("mix", "chip", HEAVY, "eft", 2),
            ("mix", "chip", HEAVY, "least_loaded", 3), ("mix", "chip", BASE_ONLY, "round_robin", 4),
            ("recognition", QCAP1, HEAVY, "eft", 5), ("sensor_fusion", "chip", BASE_ONLY, "eft", 6),
            ("agent_loop", WAFER_4x8, REALISTIC, "least_loaded", 7),
            ("recommendation", WAFER_4x8, BASE_ONLY, "eft", 8),
            ("early_exit", QCAP1, HEAVY, "round_robin", 9)]


def _with(hw, costs):
    return {**({"preset": hw} if isinstance(hw, str) else hw), **costs}


@pytest.mark.parametrize(("wf", "hw", "costs", "policy", "seed"), CP_CASES,
                         ids=[f"{c[0]}-{c[3]}-{c[4]}" for c in CP_CASES])
def test_control_plane_costs_match_kernel(wf, hw, costs, policy, seed):
    ref = assert_same(wf, _with(hw, costs), load=0.8, n_requests=120, seed=seed, policy=policy)
    cp = ref.control_plane()
    assert cp.decisions >= 120  # the mechanism is on: every request pays for decisions
    assert cp.wait > 0  # and some decisions queued for a busy server


@pytest.mark.parametrize("policy", POLICIES)
def test_control_plane_closed_batch_matches_kernel(policy):
    """All requests at t = 0: the central scheduler's queue holds every cluster decision."""
    ref = assert_same("mix", _with("chip", REALISTIC), arrival="closed", n_requests=150, seed=3,
                      policy=policy)
    assert ref.control_plane().wait_central > 0


# ---- random workflows: nested maps, forks/joins in map bodies, loops, drift phases --------

GEN = GeneratorConfig(n_tasks=(3, 10), map_density=0.25, fork_density=0.25, branch_density=0.3,
                      max_depth=3, n_phases=(0, 2), phase_length=(5, 40), cb_cost=(0, 50),
                      max_continue=0.5, duration_spread=0.8, bytes=(0, 1 << 16))
HWS = [QCAP1, "chip", {"preset": "wafer", "rows": 4, "cols": 8, "queue_capacity": 2}]


@pytest.mark.parametrize("i", range(12))
def test_random_workflows_match_kernel(i):
    rng = np.random.default_rng(1000 + i)
    cfg = GEN if i % 3 else GeneratorConfig(**{**GEN.to_dict(), "duration_spread": 0.0})
    wfs = [generate_workflow(rng, cfg, name=f"r{i}_{k}") for k in range(1 + i % 3)]
    assert_same(wfs, HWS[i % 3], load=1.2, n_requests=60, seed=i,
                arrival=("poisson", "closed")[(i // 2) % 2], policy=POLICIES[i % 2])


@pytest.mark.parametrize("i", range(6))
def test_random_workflows_with_control_plane_costs_match_kernel(i):
    rng = np.random.default_rng(2000 + i)
    wfs = [generate_workflow(rng, GEN, name=f"c{i}_{k}") for k in range(1 + i % 2)]
    costs = (REALISTIC, HEAVY, BASE_ONLY)[i % 3]
    assert_same(wfs, _with(HWS[i % 3], costs), load=1.0, n_requests=60, seed=100 + i,
                arrival=("poisson", "closed")[i % 2], policy=POLICIES[(i + 1) % 3])


# ---- the reference on its own ----------------------------------------------------------------


def test_reference_schedule_is_consistent():
    ref = ReferenceSimulation("mix", "chip", load=0.9, n_requests=200, seed=3)
    res = ref.run()
    assert len(ref.schedule) == res.tb_executions
    by_tbu: dict[int, list[tuple[int, int]]] = {}
    for _uid, _blk, tbu, ready, start, end in ref.schedule:
        assert ready <= start < end
        by_tbu.setdefault(tbu, []).append((start, end))
    for spans in by_tbu.values():  # a TBU runs one TB at a time, in start order
        for (_, e0), (s1, _) in zip(spans, spans[1:], strict=False):
            assert e0 <= s1
    assert (ref.completion >= ref.arrival).all()
    busy = sum(e - s for *_, s, e in ref.schedule)
    assert busy == pytest.approx(res.utilisation * res.makespan * ref.hw.n_tbus)


def test_reference_rejects_other_policies():
    with pytest.raises(ValueError, match="round_robin"):
        ReferenceSimulation("mix", "chip", policy="random")
    with pytest.raises(ValueError, match="arrival"):
        ReferenceSimulation("mix", "chip", arrival="uniform")


# ---- the contention mechanisms: NoC link contention, bounded output buffers ---------------

CONT = {"preset": "chip", "noc_contention": True}
OBUF = {"preset": "chip", "output_buffer": 1, "queue_capacity": 2}
BOTH = {"preset": "wafer", "rows": 4, "cols": 8, "noc_contention": True, "output_buffer": 1,
        "queue_capacity": 2}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_link_contention_matches_kernel(seed):
    """TBs scattered over the machine (outside TBU choices): inputs cross the NoC and
    concurrent transfers queue for shared links, event for event as in the kernel."""
    ref = assert_same("mix", CONT, load=0.9, n_requests=120, seed=seed, policy="least_loaded",
                      tbu_choice=scatter_choice(4))
    assert ref.contention["link_wait"] > 0 and ref.contention["link_waits"] > 0


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(("wf", "seed"), [("mix", 4), ("recognition", 5), ("sensor_fusion", 6)])
def test_output_buffers_match_kernel(policy, wf, seed):
    """One output-buffer place per TBU: producers wait for their consumers' placement (under
    ``eft`` on ``recognition`` none waits: a consumer takes any TBU of the machine with space,
    so the run only checks that both simulators agree on that)."""
    ref = assert_same(wf, OBUF, load=1.0, n_requests=100, seed=seed, policy=policy)
    if (policy, wf) != ("eft", "recognition"):
        assert ref.contention["output_blocked"] > 0


@pytest.mark.parametrize(("q", "ob", "load"), [(4, 1, 0.9), (1, 2, 1.0)])
def test_output_buffers_under_static_match_kernel(q, ob, load):
    """``static`` defers consumers until a TBU of their configuration has space: their
    producers stay blocked meanwhile."""
    hw = {"preset": "chip", "queue_capacity": q, "output_buffer": ob}
    ref = assert_same("recognition", hw, load=load, n_requests=100, seed=5, policy="static")
    assert ref.contention["output_blocked"] > 0


def test_output_buffer_deadlock_is_reported_alike():
    """Under ``static``, ``recognition`` deadlocks with one output-buffer place per TBU and two
    queue places (a producer holds its output until its consumer, deferred for a TBU of its
    configuration, is placed, and that TBU's producers wait for it). Neither simulator hangs:
    both stop at the same cycle with the same requests done, and ``Simulation.run`` says
    why."""
    hw = {"preset": "chip", "queue_capacity": 2, "output_buffer": 1}
    kw = dict(load=1.0, n_requests=100, seed=5, policy="static")
    sim = Simulation("recognition", hw, **kw)
    st = sim.advance()
    assert st[0] == ST_STALLED
    with pytest.raises(RuntimeError, match="output buffer"):
        Simulation("recognition", hw, **kw).run()
    ref = ReferenceSimulation("recognition", hw, **kw)
    with pytest.raises(RuntimeError, match="stalled"):
        ref.run()
    assert ref.env.now == int(field(sim.state, "now")[0])
    assert ref.n_done == int(field(sim.state, "n_done")[0]) < 100


STATIC_CASES = [("mix", "chip", 150, 16), ("recognition", "chip", 150, 16),
                ("mix", "wafer", 60, 16), ("mix", "wafer", 60, 1), ("agent_loop", QCAP1, 100, 1)]


@pytest.mark.parametrize(("wf", "hw", "n", "reach"), STATIC_CASES)
def test_static_matches_kernel(wf, hw, n, reach):
    """``static``: TBs only on TBUs of their configuration, the earliest estimated finish
    among the holders of the ``reach`` nearest clusters holding it; jobs they cannot take
    wait in the nearest holder's backlog and are all re-offered (with a reach of 1, the
    nearest cluster's holders only, the backlogs fill)."""
    ref = assert_same(wf, hw, load=0.8, n_requests=n, seed=11, policy="static",
                      policy_params={"reach": reach})
    if reach == 1:
        assert ref.n_backlogged > 0


@pytest.mark.parametrize("seed", [1, 2])
def test_static_with_both_mechanisms_matches_kernel(seed):
    """``static`` sends TBs to the nearest cluster holding their configuration, so its
    transfers cross the NoC and contend; consumers it defers hold their producers'
    output-buffer places."""
    hw = {"preset": "chip", "noc_contention": True, "output_buffer": 1}
    ref = assert_same("early_exit", hw, load=0.9, n_requests=120, seed=seed, policy="static")
    assert ref.contention["link_wait"] > 0 and ref.contention["output_blocked"] > 0


@pytest.mark.parametrize("seed", [7, 8])
def test_both_mechanisms_on_two_dies_match_kernel(seed):
    ref = assert_same("mix", BOTH, load=0.9, n_requests=80, seed=seed, policy="round_robin",
                      tbu_choice=scatter_choice(BOTH["queue_capacity"]))
    assert ref.contention["link_wait"] > 0 and ref.contention["output_blocked"] > 0


@pytest.mark.parametrize("i", range(4))
def test_random_workflows_with_contention_match_kernel(i):
    """Random graphs (maps, forks, joins in map bodies, loops) through both mechanisms."""
    rng = np.random.default_rng(2000 + i)
    wfs = [generate_workflow(rng, GEN, name=f"c{i}_{k}") for k in range(1 + i % 2)]
    hw = {"preset": "chip", "noc_contention": True, "output_buffer": 1 + i % 2}
    assert_same(wfs, hw, load=1.0, n_requests=50, seed=i, policy=POLICIES[i % 2],
                tbu_choice=scatter_choice(4) if i % 2 else None)


@pytest.mark.parametrize(("policy", "tbu_choice"),
                         [("eft", None), ("static", None),
                          ("least_loaded", scatter_choice(4))])
def test_contention_with_control_plane_costs_matches_kernel(policy, tbu_choice):
    """Decisions that cost cycles and links that contend at once: a transfer is issued when
    its TBU decision completes and reserves its links from then (docs/model.md §3)."""
    hw = {"preset": "chip", "noc_contention": True, **REALISTIC}
    ref = assert_same("mix", hw, load=0.9, n_requests=120, seed=21, policy=policy,
                      tbu_choice=tbu_choice)
    assert ref.control_plane().wait > 0 and ref.contention["link_wait"] > 0
