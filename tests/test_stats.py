"""The study's statistics (octogym/evaluation/stats.py), steady-window metrics, the SLO
bisection, the claim rules and the study's quick mode end to end. Tiny budgets."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from conftest import run_script

from octogym.evaluation import stats as S
from octogym.evaluation.claims import number_verdict, order_verdict
from octogym.evaluation.study import ABLATED, ABLATIONS, Arm, slo_check, slo_task, study_arms
from octogym.evaluation.study_report import latency_speedups, slo_load
from octogym.kernel.layout import field
from octogym.metrics import STEADY_KEYS, make_result, steady_slice
from octogym.schedulers import SCHEDULERS
from octogym.simulator import Simulation

# ---- intervals and tests on synthetic data with a known answer ---------------------------


def test_log_ratio_t_interval_covers_the_true_speedup_about_95_percent():
    """Paired latencies whose per-seed log-ratio is normal around log(2): the interval of
    paired_speedup must cover 2 in about 95% of 1000 synthetic studies of 10 seeds."""
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(1000):
        other = rng.lognormal(13, 0.5, size=10)  # seed-to-seed spread of the workload
        base = other * np.exp(rng.normal(math.log(2.0), 0.3, size=10))
        s = S.paired_speedup(base, other)
        hits += s["lo"] <= 2.0 <= s["hi"]
        assert s["n"] == 10 and s["min"] <= s["speedup"] <= s["max"]
    assert 0.93 <= hits / 1000 <= 0.97


def test_paired_speedup_direction_and_bad_pairs():
    s = S.paired_speedup([10.0, 20.0, 40.0], [5.0, 10.0, 20.0])
    assert s["speedup"] == pytest.approx(2.0) and s["lo"] == pytest.approx(2.0)
    up = S.paired_speedup([1.0, 2.0], [3.0, 6.0], higher_is_better=True)
    assert up["speedup"] == pytest.approx(3.0)
    # a non-finite or zero value drops its pair; none left gives NaN, not an error
    assert S.paired_speedup([1.0, math.nan, 2.0], [1.0, 1.0, 0.0])["n"] == 1
    assert math.isnan(S.paired_speedup([0.0], [1.0])["speedup"])
    with pytest.raises(ValueError, match="equal length"):
        S.paired_speedup([1.0, 2.0], [1.0])


def test_sign_flip_test_is_exact_for_small_samples():
    # all 10 differences positive: only the all-plus and all-minus patterns are as extreme
    assert S.sign_flip_p(np.full(10, 0.3)) == pytest.approx(2 / 1024)
    # perfectly balanced differences: every pattern is as extreme as the observed 0
    assert S.sign_flip_p([1.0, -1.0, 2.0, -2.0]) == 1.0
    # above 16 seeds: Monte Carlo from the seeded generator, reproducible
    d = np.random.default_rng(3).normal(0.1, 1.0, 20)
    assert S.sign_flip_p(d) == S.sign_flip_p(d)
    assert 0.0 < S.sign_flip_p(d) <= 1.0


def test_bootstrap_interval_brackets_the_statistic_and_is_seeded():
    rng = np.random.default_rng(5)
    data = rng.normal(1.0, 0.2, size=(12, 3))
    v, lo, hi = S.bootstrap_ci(data, lambda d: float(d.mean()))
    assert lo < v < hi and (lo, hi) == S.bootstrap_ci(data, lambda d: float(d.mean()))[1:]
    # a wider spread gives a wider interval
    _, lo2, hi2 = S.bootstrap_ci(data * 3, lambda d: float(d.mean()))
    assert hi2 - lo2 > hi - lo


def test_stable_only_filter():
    assert S.is_stable(0.7, [1.1, 1.2])
    assert not S.is_stable(1.2, [1.1, 1.2])  # overloaded by the exact expected work
    assert not S.is_stable(0.7, [1.1, S.GROWTH_MAX + 0.5])  # latency grows with run length
    assert not S.is_stable(0.7, [1.1, math.nan])
    assert S.is_stable(math.nan, [1.0])  # rho unknown: the measured growth decides
    rows = [{"s": 1, "stable": True}, {"s": 2, "stable": False}, {"s": 3}]
    assert [r["s"] for r in S.stable_only(rows)] == [1]


def test_speedups_are_reported_only_where_static_passes_the_run_length_test():
    """Hand-made rows: static's latency triples on the longer run in scenario 'bad', stays
    put in 'good'; both have rho 0.7. Only 'good' is stable, and its speedup is exact."""
    rows = []
    for scen, longer in (("good", 110.0), ("bad", 300.0)):
        meta = {"scenario": scen, "workflows": "recognition", "hardware": "chip",
                "regime": "light", "static_rho": 0.7, "n_requests": 100}
        for seed in range(3):
            rows += [{**meta, "kind": "latency", "arm": "static", "seed": seed,
                      "latency_mean_steady": 100.0},
                     {**meta, "kind": "latency", "arm": "octopus", "seed": seed,
                      "latency_mean_steady": 50.0},
                     {**meta, "kind": "runlength", "arm": "static", "seed": seed,
                      "n_requests": 200, "latency_mean_steady": longer}]
    sp = {s["scenario"]: s for s in latency_speedups(rows)}
    assert sp["good"]["stable"] and sp["good"]["base_growth"] == pytest.approx(1.1)
    assert not sp["bad"]["stable"] and sp["bad"]["base_growth"] == pytest.approx(3.0)
    assert sp["good"]["speedup"] == pytest.approx(2.0)
    assert [s["scenario"] for s in S.stable_only(list(sp.values()))] == ["good"]


# ---- bisection ---------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.137, 0.7372, 2.31])
def test_bisection_finds_a_known_threshold(threshold):
    calls = []

    def meets(x: float) -> bool:
        calls.append(x)
        return x <= threshold

    lo, hi = S.bisect_max(meets, 0.1, 2.5, 6)
    assert lo <= threshold < hi
    assert hi / lo <= 2 ** (1 / 64) + 1e-12  # the promised resolution
    # upwards by doubling to the first failure, then 6 bisections; never far above it
    assert len(calls) == 1 + math.ceil(math.log2(threshold / 0.1)) + 6
    assert max(calls) <= 2 * threshold


def test_bisection_open_ends_and_bad_range():
    assert S.bisect_max(lambda x: False, 0.1, 2.5, 5) == (0.0, 0.1)
    assert S.bisect_max(lambda x: True, 0.1, 2.5, 5) == (2.5, math.inf)
    with pytest.raises(ValueError, match="lo < hi"):
        S.bisect_max(lambda x: True, 2.0, 1.0, 3)
    with pytest.raises(ValueError, match="growth"):
        S.bisect_max(lambda x: True, 1.0, 2.0, 3, growth=1.0)
    assert slo_load({"load_max": 0.5, "load_fail": 2.0}) == pytest.approx(1.0)
    assert slo_load({"load_max": 2.5, "load_fail": math.inf}) == 2.5
    assert slo_load({"load_max": 0.0, "load_fail": 0.1}) == 0.1


def test_slo_task_is_monotone_in_the_target():
    """A looser latency target can only raise the sustainable load (same seeded runs)."""
    arm = Arm("octopus", "octopus")
    tight, loose = (slo_task("recognition", "chip", arm, 0, t, 300, steps=3)[0]
                    for t in (1.0e6, 1.0e8))
    assert 0 < tight["load_max"] < loose["load_max"]
    assert tight["runs"] <= 1 + 8 + 3 and tight["stalled"] == 0


def test_slo_check_stops_an_overloaded_run_early_and_agrees_with_the_full_run():
    def sim(load: float) -> Simulation:
        return Simulation("recognition", "chip", load=load, n_requests=400, seed=1,
                          policy="static")

    full = sim(3.0).run()[0].latency_p99_steady
    ok, p99, how = slo_check(sim(3.0), full / 4)  # far above the target: decided early
    assert (ok, how) == (False, "early") and math.isnan(p99)
    ok, p99, how = slo_check(sim(3.0), full * 1.01)  # passes: only the full run can say so
    assert (ok, how) == (True, "run") and p99 == full


# ---- steady window -----------------------------------------------------------------------


def _result(lat: np.ndarray):
    z = np.zeros(2)
    split = {k: z for k in ("busy", "starved", "waiting_data", "reconfiguring", "blocked")}
    counters = dict(reconfigurations=0, noc_byte_hops=0.0, tb_executions=0, cb_executions=0,
                    events=0, invalid_actions=0, migrations=0, steals=0)
    return make_result(lat, 1000, split, counters)


def test_warm_up_and_drain_exclusion_picks_the_right_requests():
    assert steady_slice(100) == slice(10, 90)
    assert steady_slice(9) == slice(0, 9)
    with pytest.raises(ValueError, match="warmup"):
        steady_slice(10, 0.6, 0.5)
    lat = np.arange(100, dtype=float)  # request i (arrival order) has latency i
    r = _result(lat)
    assert r.latency_mean_steady == pytest.approx(np.mean(np.arange(10, 90)))
    assert r.latency_p99_steady == pytest.approx(np.percentile(np.arange(10, 90), 99))
    # trend: last quarter of the window (70..89) over its first (10..29)
    assert r.latency_trend == pytest.approx(np.mean(np.arange(70, 90)) / np.mean(np.arange(10, 30)))
    # the steady statistics stay out of to_dict (env infos, golden hashes)
    assert not set(STEADY_KEYS) & set(r.to_dict()) and set(r.steady_dict()) == set(STEADY_KEYS)


def test_steady_window_is_in_arrival_order_on_a_real_run():
    sim = Simulation("recognition", "chip", load=0.8, n_requests=60, seed=3, policy="octopus")
    r = sim.run()[0]
    arr = field(sim.state, "res_arr")[0]
    done = field(sim.state, "res_done")[0]
    assert np.all(np.diff(arr) >= 0)  # ids are in arrival order
    assert np.array_equal(r.latency_steady, (done - arr)[6:54].astype(float))


# ---- claims and arms ---------------------------------------------------------------------


def test_claim_rules():
    assert number_verdict(2.4, 2.0, 2.9, 2.5) == "reproduced"
    assert number_verdict(9.0, 7.0, 11.0, 2.5).startswith("direction only (above")
    assert number_verdict(1.1, 0.9, 1.3, 2.5) == "not reproduced"
    assert order_verdict([(1.1, 1.5), (1.01, 1.2)]) == "reproduced"
    assert order_verdict([(1.1, 1.5), (0.5, 0.9)]) == "not reproduced"
    assert order_verdict([(1.1, 1.5), (0.9, 1.2)]) == "inconclusive"


def test_ablation_arms_follow_the_registry():
    notes: list[str] = []
    arms = study_arms(notes.append)
    labels = [a.label for a in arms]
    assert labels[0] == "static" and "octopus" in labels
    for mech, param, _ in ABLATIONS:
        have = param in SCHEDULERS[ABLATED].params
        assert (f"{ABLATED} -{param}" in labels) == have
        assert any(mech in n for n in notes) != have


# ---- the study's quick mode, end to end --------------------------------------------------


def test_study_quick_mode_end_to_end(tmp_path):
    out = tmp_path / "study"
    p = run_script("evaluate.py", "--scenarios", "study", "--quick", "--no-progress",
                   "--schedulers", "static", "octopus", "--out", str(out), timeout=900)
    assert p.returncode == 0, p.stderr
    table = (out / "table.md").read_text()
    for head in ("### Headline", "### Claims", "### Ablation", "### Throughput at the p99 SLO",
                 "## Comparison"):
        assert head in table, head
    assert "2.50x / 4.26x" in table
    with (out / "study_runs.csv").open() as fh:
        kinds = {r["kind"] for r in csv.DictReader(fh)}
    assert kinds == {"latency", "runlength", "target", "slo"}
