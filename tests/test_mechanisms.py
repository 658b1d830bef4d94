"""The scheduler mechanisms of the compiled kernel (octogym.kernel.mechanisms): reconfigure
ahead of need, migrate a waiting job (paying the transfer), steal the tail job to an idle TBU;
each on a tiny two-cluster system with known answers, checked mid-run and at the end.

The first import compiles the kernel (~1 min, cached in __pycache__ afterwards)."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
from kernel_checks import check_final, check_paused, f, heap_events, hw1, trace_rows

from octogym.kernel import fields as L
from octogym.kernel.layout import EV_TBU_FREE, ST_TIME, TBU_IDLE, TBU_RECONF, TBU_RUN
from octogym.kernel.mechanisms import heap_pop, heap_push, migrate, reconfigure, ring, steal
from octogym.simulator import Simulation
from octogym.workflows import Workflow
from octogym.workflows.generator import toy_chain


def hw2(**kw):
    """Two clusters side by side (1 hop apart), one TBU each (override any field)."""
    return hw1(**{**dict(cols=2, die_cols=2, queue_capacity=4, reconfig_cycles=2000,
                         hop_cycles=7, link_bytes_per_cycle=16), **kw})


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


def _heap_ordered(S, b=0):
    """Every entry of member ``b``'s event heap comes no earlier than its parent."""
    n = int(S.SC[b, L.SC_HP_LEN])
    t, k = S.HP[b, :n, L.HP_TIME], S.HP[b, :n, L.HP_KEY]
    return all((t[(i - 1) // 2], k[(i - 1) // 2]) <= (t[i], k[i]) for i in range(1, n))


def test_event_heap_orders_by_time_then_kind_then_push_order():
    """heap_push / heap_pop (sifts that move a hole) against heapq, pushes and pops mixed: each
    pop is the earliest event, ties broken by kind, then by push order; the heap stays
    ordered after every operation."""
    sim = two_config_sim(5000)
    S = sim.state
    S.SC[0, L.SC_HP_LEN] = 0
    rng = np.random.default_rng(7)
    ref, seq = [], 0
    for i in range(400):
        if ref and rng.random() < 0.4:
            t0, k0, _, d0 = heapq.heappop(ref)
            assert tuple(int(x) for x in heap_pop(S, 0)) == (t0, k0, d0)
            assert _heap_ordered(S)
        t, kind = int(rng.integers(0, 30)), int(rng.integers(0, 4))
        heap_push(S, 0, t, kind, i)
        heapq.heappush(ref, (t, kind, seq, i))
        seq += 1
        assert _heap_ordered(S)
    while ref:
        t, kind, _, data = heapq.heappop(ref)
        assert tuple(int(x) for x in heap_pop(S, 0)) == (t, kind, data)
        assert _heap_ordered(S)
    assert S.SC[0, L.SC_HP_LEN] == 0


def test_ring_is_modulo_below_twice_the_capacity():
    for q in (1, 3, 4, 7):
        assert [ring(i, q) for i in range(2 * q)] == [i % q for i in range(2 * q)]
