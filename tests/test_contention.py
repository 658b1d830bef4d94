"""The contention mechanisms (docs/model.md §3 "Link contention", §4 "Output buffers"): exact
small cases, and contagious idleness on a constructed case, `static` against `octopus`.

The kernel and the SimPy reference agree on both mechanisms event for event
(tests/test_reference.py); this file checks the numbers against hand computation and shows
what the mechanisms are for.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from kernel_checks import check_final

from octogym.hardware import HardwareError, get_hardware
from octogym.kernel import fields as L
from octogym.kernel.layout import EXT_TBU, ST_DECISION, ST_DONE, field
from octogym.kernel.policies import KERNEL_POLICIES
from octogym.simulator import Simulation
from octogym.workflows.io import loads_workflow

PAIR = """
name: pair
entry: src
blocks:
  - {id: src, type: task, config: a, kind: ai, duration: {dist: fixed, value: 1000},
     out_bytes: 3200}
  - {id: dst, type: task, config: a, kind: ai, duration: {dist: fixed, value: 1000},
     out_bytes: 0}
flows:
  - {src: src, dst: dst, bytes: 3200}
"""
# 1 x 3 clusters of 2 TBUs; 3200 bytes at 32 bytes/cycle = 100 cycles on a link, 4 per hop
ROW = {"preset": "chip", "rows": 1, "cols": 3, "die_rows": 1, "die_cols": 3,
       "tbus_per_cluster": 2, "local_bytes_per_cycle": 0}


def test_route_links_are_xy():
    hw = get_hardware("chip")  # 4 x 4
    assert hw.route_links(5, 5) == []
    # (1, 1) -> (3, 2): east once, then south twice; link 4 c + d, d = N, S, W, E
    assert hw.route_links(5, 14) == [4 * 5 + 3, 4 * 6 + 1, 4 * 10 + 1]
    assert hw.route_links(14, 5) == [4 * 14 + 2, 4 * 13 + 0, 4 * 9 + 0]
    for a in range(16):
        for b in range(16):
            assert len(hw.route_links(a, b)) == hw.hop_matrix()[a, b]


def test_new_fields_are_validated():
    with pytest.raises(HardwareError, match="noc_contention"):
        get_hardware("chip", noc_contention=1)
    with pytest.raises(HardwareError, match="output_buffer"):
        get_hardware("chip", output_buffer=-1)
    assert get_hardware("chip").noc_contention is False
    assert get_hardware("chip").output_buffer == 0


def run_pair(contention: bool) -> tuple[list[int], dict[str, int]]:
    """Two requests at t = 0; the sources run on clusters 0 and 1 and finish together at
    1000; both consumers go to cluster 2, so both inputs cross link 1 -> 2 at once. Returns
    the consumers' start cycles and the contention counters."""
    hw = {**ROW, "noc_contention": contention}
    sim = Simulation(loads_workflow(PAIR), hw, n_requests=2, arrival="closed",
                     policy="round_robin", tbu_init=np.zeros(6, np.int64), trace_cap=8)
    where = {(0, 0): 0, (1, 0): 2, (0, 1): 4, (1, 1): 5}  # (request, block) -> TBU
    acts = np.full(1, -1, np.int64)
    while True:
        st = sim.advance(actions=acts, ext=EXT_TBU)
        if st[0] == ST_DONE:
            break
        assert st[0] == ST_DECISION
        S = sim.state
        j = int(field(S, "dec_job")[0])
        uid = int(S.RQ[0, S.JB[0, j, L.JB_REQ], L.RQ_UID])
        acts[0] = where[uid, int(S.JB[0, j, L.JB_BLOCK])]
    n = int(field(sim.state, "n_traced")[0])
    blk = field(sim.state, "tr_blk")[0][:n]
    starts = sorted(field(sim.state, "tr_start")[0][:n][blk == 1].tolist())
    return starts, sim.contention()


def test_two_transfers_serialise_on_a_shared_link():
    # without contention: 0 -> 2 takes 2 hops + 100, 1 -> 2 one hop + 100, independently
    starts, cont = run_pair(False)
    assert starts == [1000 + 4 + 100, 1000 + 8 + 100]
    assert cont["link_wait"] == 0
    # with it: the first consumer placed (request 0's, from cluster 0) holds links 0->1 and
    # 1->2 for [1000, 1100); request 1's transfer waits for link 1->2 until 1100
    starts, cont = run_pair(True)
    assert starts == [1000 + 8 + 100, 1100 + 4 + 100]
    assert cont == {"link_wait": 100, "link_waits": 1, "output_blocked": 0,
                    "output_blocked_tbus": 0}


# ---- contagious idleness (the case: benchmarks/contagion_buffers.py) -----------------------


def _case():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "contagion_buffers.py"
    spec = importlib.util.spec_from_file_location("contagion_buffers", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_contagious_idleness_static_spreads_it_octopus_contains_it():
    case = _case()
    run = case.contagion_run
    static0, static1 = run("static", 0), run("static", 1)
    octo0, octo1 = run("octopus", 0), run("octopus", 1)
    for b in range(case.B):
        # static: the fa TBUs (upstream) sit blocked with outputs the stalled kb consumers
        # have not taken, a fifth of all TBU time ...
        assert static1["oblocked"][b] > 0.1
        assert static1["blocked_cfgs"][b] == {"fa"}
        assert static0["oblocked"][b] == 0
        # ... so the idleness spreads to the other workflow, which never needs kb: its
        # requests wait for the blocked fa TBUs (over 3x their latency without buffers)
        assert static1["fast"][b] > 3 * static0["fast"][b]
        # octopus places consumers on any TBU (reconfiguring it) and re-provisions: the
        # buffers hardly ever fill, and its latency moves by under 10 %
        assert octo1["oblocked"][b] < 0.01
        assert octo1["lat"][b] < 1.1 * octo0["lat"][b]
        assert octo1["fast"][b] < 1.1 * octo0["fast"][b]
        assert octo1["lat"][b] < 0.6 * static1["lat"][b]


@pytest.mark.parametrize("policy", sorted(KERNEL_POLICIES))
def test_every_scheduler_keeps_the_invariants_with_both_mechanisms(policy):
    """Both mechanisms on, every kernel scheduler (migrations, steals, diffusion, commanded
    reconfigurations included): every request completes, the idle split of every TBU sums
    exactly to the makespan, every output-buffer place is freed, and output-blocked time is
    part of blocked time."""
    hw = {"preset": "chip", "noc_contention": True, "output_buffer": 1}
    sim = Simulation("recognition", hw, load=0.9, n_requests=100, seed=5, policy=policy,
                     batch=2, trace_cap=4000)
    blocked = 0
    for b, res in enumerate(sim.run()):
        check_final(sim, res, b, commanded_reconf=True)
        assert (field(sim.state, "ob_len")[b] == 0).all()
        ob = field(sim.state, "acc_oblocked")[b]
        assert (ob <= res.tbu_idle["blocked"]).all()
        assert sim.contention(b)["output_blocked"] == int(ob.sum())
        blocked += int(ob.sum())
    assert blocked > 0  # the buffers did fill
    if policy == "eft":  # it places TBs anywhere on the machine: transfers contend
        assert sim.contention(0)["link_waits"] > 0
