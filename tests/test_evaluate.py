"""evaluate.py and octogym.evaluation: the command runs end to end, bad names fail clearly,
the aggregation math is right on hand-made rows, scenarios mean what they say."""

from __future__ import annotations

import ast
import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from octogym import evaluation as E
from octogym.schedulers import SCHEDULERS
from octogym.simulator import Simulation

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "evaluate.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


# ---- the command -------------------------------------------------------------------------


def test_quick_run_writes_tables_and_plots(tmp_path):
    out = tmp_path / "res"
    p = run_cli("--quick", "--no-progress", "--out", str(out))
    assert p.returncode == 0, p.stderr
    for name in ("table.md", "table.csv", "runs.csv", "speedup.png", "latency_vs_load.png",
                 "heatmap_mix-wafer.png", "heatmap_contagion-wafer.png",
                 "contagion_contagion-wafer.png", "timeline.png"):
        f = out / name
        assert f.is_file() and f.stat().st_size > 0, name
        if name.endswith(".png"):
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    report = (out / "table.md").read_text()
    assert "### Speedup over static" in report and "### All metrics" in report
    assert report in p.stdout  # the command prints what it writes
    # every default scenario x every registered scheduler, one aggregated CSV row each
    with (out / "table.csv").open() as fh:
        agg = list(csv.DictReader(fh))
    pairs = {(r["scenario"], r["scheduler"]) for r in agg}
    scen = [s.name for s in E.resolve_scenarios(["default"])]
    assert pairs == {(s, p) for s in scen for p in SCHEDULERS}
    assert all(r["seeds"] == "1" and r["n_requests_mean"] == "100.0" for r in agg)


@pytest.mark.parametrize("flag,bad,valid", [
    ("--scenarios", "no-such-scenario", "mix-wafer"),
    ("--schedulers", "no-such-scheduler", "octopus"),
])
def test_unknown_names_fail_listing_the_valid_ones(tmp_path, flag, bad, valid):
    p = run_cli(flag, bad, "--out", str(tmp_path), timeout=120)
    assert p.returncode == 2
    assert bad in p.stderr and valid in p.stderr
    assert "Traceback" not in p.stderr


def test_evaluation_does_not_depend_on_envs_or_agents():
    """The agents build on the evaluation (octogym.agents.arena), never the other way round."""
    pkg = ROOT / "octogym" / "evaluation"
    imported = []
    for path in sorted(pkg.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:  # also `from octogym import envs`
                imported += [(path.name, f"{node.module}.{a.name}") for a in node.names]
            elif isinstance(node, ast.Import):
                imported += [(path.name, a.name) for a in node.names]
    assert imported and {f for f, _ in imported} >= {"runner.py", "scenarios.py"}
    bad = [(f, m) for f, m in imported if m.startswith(("octogym.envs", "octogym.agents"))]
    assert not bad, f"octogym/evaluation imports envs/agents: {bad}"


def test_resolvers():
    assert E.resolve_schedulers(None) == list(SCHEDULERS)
    assert E.resolve_schedulers(["octopus", "static", "octopus"]) == ["octopus", "static"]
    # groups expand, duplicates collapse, a what-if brings its baseline along
    names = [s.name for s in E.resolve_scenarios(["contagion-chip", "chip"])]
    assert names[0] == "contagion-chip" and names.count("mix-chip") == 1
    assert set(E.GROUPS["chip"]) <= set(names)
    for group in E.GROUPS.values():
        assert set(group) <= set(E.SCENARIOS)


# ---- aggregation math --------------------------------------------------------------------


def _row(scenario: str, scheduler: str, seed: int, latency: float, util: float) -> dict:
    return {"scenario": scenario, "workflows": "mix", "hardware": "chip", "load": 0.5,
            "scheduler": scheduler, "seed": seed, "latency_mean": latency, "utilisation": util,
            "cl_busy": np.zeros(4)}


def test_aggregate_mean_spread_and_speedup():
    rows = [_row("a", "static", s, lat, u) for s, lat, u in ((0, 100, .2), (1, 200, .4),
                                                             (2, 300, .6))]
    rows += [_row("a", "octopus", s, lat, .5) for s, lat in ((0, 50, ), (1, 50), (2, 100))]
    rows += [_row("b", "octopus", 0, 10, .1)]  # no static in scenario b: no speedup
    agg = {(a["scenario"], a["scheduler"]): a for a in E.aggregate(rows)}
    st = agg[("a", "static")]
    assert st["seeds"] == 3
    assert st["latency_mean_mean"] == pytest.approx(200)
    assert st["latency_mean_std"] == pytest.approx(100)  # sample std (ddof=1)
    assert (st["latency_mean_min"], st["latency_mean_max"]) == (100, 300)
    assert st["utilisation_mean"] == pytest.approx(0.4)
    assert st["speedup"] == pytest.approx(1.0)
    oc = agg[("a", "octopus")]
    assert oc["speedup"] == pytest.approx(200 / (200 / 3))  # ratio of the means: 3.0
    # per-seed ratios, paired by seed: 100/50, 200/50, 300/100
    assert (oc["speedup_min"], oc["speedup_max"]) == pytest.approx((2.0, 4.0))
    assert "speedup" not in agg[("b", "octopus")]
    assert agg[("b", "octopus")]["latency_mean_std"] == 0.0  # one seed
    summ = E.speedup_summary(list(agg.values()), ["a"])
    assert summ["octopus"]["max"] == pytest.approx(3.0)
    # the CSV writer keeps scalars only
    table = E.markdown_report(rows, E.aggregate(rows), [], 3)
    assert "3.00x (2.00-4.00)" in table


def test_csv_table_round_trip(tmp_path):
    rows = [_row("a", "static", 0, 100.0, 0.25)]
    path = E.csv_table(rows, tmp_path / "t.csv")
    with path.open() as fh:
        got = list(csv.DictReader(fh))
    assert got == [{"scenario": "a", "workflows": "mix", "hardware": "chip", "load": "0.5",
                    "scheduler": "static", "seed": "0", "latency_mean": "100.0",
                    "utilisation": "0.25"}]


def test_contagion_rings_by_mesh_distance():
    s = E.SCENARIOS["contagion-chip"]  # 4x4 chip, cluster (1, 1) slowed
    busy_what = np.full(16, 0.5)
    busy_what[[1, 4, 6, 9]] = 0.3  # the four neighbours of cluster 5 lose busy time
    rows = []
    for scen, busy in ((s.name, busy_what), (s.baseline, np.full(16, 0.5))):
        r = {"scenario": scen, "scheduler": "static", "seed": 0,
             **{f"cl_{k}": np.zeros(16) for k in E.SPLIT_KEYS}}
        r["cl_busy"] = busy
        rows.append(r)
    rings = {e["distance"]: e for e in E.contagion_rings(rows, s)}
    assert [rings[d]["clusters"] for d in sorted(rings)] == [1, 4, 6, 4, 1]
    assert rings[1]["idle_change"] == pytest.approx(0.2)
    assert rings[1]["idle_change_min"] == rings[1]["idle_change_max"] == pytest.approx(0.2)
    assert rings[0]["idle_change"] == rings[2]["idle_change"] == pytest.approx(0.0)


# ---- scenarios ---------------------------------------------------------------------------


def test_workload_profile_matches_the_suite_figures():
    # docs/model.md: agent_loop 587,562 -> 1,328,700 TBU-cycles per request (drift at 1000)
    p = E.workload_profile("agent_loop", 4000)
    assert p.initial_work == pytest.approx(587_562.5)
    assert p.peak_work == pytest.approx(1_328_700)
    assert E.workload_profile("agent_loop", 1000).peak_work == pytest.approx(587_562.5)
    # the peak-load basis: offered load 0.7 of peak capacity
    s = E.Scenario("t", "agent_loop", "chip", 0.7, 4000)
    assert s.sim_load() == pytest.approx(0.7 * 587_562.5 / 1_328_700)
    # the static basis: static's busiest configuration at exactly the given load
    s = E.Scenario("t", "mix", "wafer", 0.7, 4000, basis="static")
    assert s.static_rho() == pytest.approx(0.7)


def test_compare_rows_are_tidy_and_reproducible():
    s = E.Scenario("t", "recognition", "chip", 0.5, 40)
    rows = E.compare([s], ["static", "octopus"], 2, progress=False)
    assert [(r["scheduler"], r["seed"]) for r in rows] == [
        ("static", 0), ("static", 1), ("octopus", 0), ("octopus", 1)]
    assert all(r["n_requests"] == 40 and r["cl_busy"].shape == (16,) for r in rows)
    # evaluation seed i is member i of EVAL_SEED: reproducible alone with member_offset
    alone = Simulation("recognition", "chip", load=s.sim_load(), n_requests=40, seed=E.EVAL_SEED,
                       member_offset=1, policy="octopus").run()[0]
    assert alone.latency_mean == rows[3]["latency_mean"]
    # the per-cluster split of the arrival window sums to 1 on every cluster
    tot = sum(rows[0][f"cl_{k}"] for k in E.SPLIT_KEYS)
    np.testing.assert_allclose(tot, 1.0)
    # worker processes give the same rows
    par = E.compare([s], ["static", "octopus"], 2, progress=False, jobs=2)
    assert [r["latency_mean"] for r in par] == [r["latency_mean"] for r in rows]
    assert all(not math.isnan(r["latency_mean"]) for r in rows)
