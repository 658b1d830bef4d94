"""The frozen benchmark (octogym/benchmark.py, `octogym bench`, docs/leaderboard.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import ROOT

from octogym import benchmark as B
from octogym.commands import bench

#: The definition hash of every version. A change here is a new benchmark version: add one to
#: VERSIONS instead of editing a released one.
PINNED = {"v1": "37132f3e5bf726c6", "v1-mini": "adf8ce81ad841332", "tiny": "54faa2dbbb775881"}


def test_every_version_is_frozen():
    assert {v: B.definition_hash(v) for v in B.VERSIONS} == PINNED


def test_v1_covers_every_level_hardware_and_load():
    ts = B.tasks("v1")
    assert {t.level for t in ts} == {"TBUAssign", "ClusterAssign"}
    assert {t.hardware for t in ts} == {"chip", "wafer"}
    assert {"mix", "agent_loop", "generated"} <= {t.workload for t in ts}
    assert len({t.load for t in ts}) >= 2 and all(t.seeds >= 10 for t in ts)
    assert B.EVAL_SEED >= 10_000
    assert len({t.name for t in ts}) == len(ts)
    with pytest.raises(ValueError, match="unknown benchmark version 'v0'"):
        B.tasks("v0")


def run_bench(*argv: str, cwd: Path | None = None, exe: str | None = None
              ) -> subprocess.CompletedProcess:
    cmd = [exe] if exe else [sys.executable, "-m", "octogym.cli"]
    return subprocess.run([*cmd, "bench", "--no-progress", *argv], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def test_tiny_scores_reproduce_bit_for_bit_across_processes(tmp_path):
    outs = []
    for i in range(2):
        p = run_bench("--version", "tiny", "--agents", "static", "adaptive",
                      "--out", str(tmp_path / str(i)))
        assert p.returncode == 0, p.stderr
        outs.append(p.stdout.split("\nwrote ")[0])
    a, b = (sorted((tmp_path / str(i)).glob("*.json")) for i in range(2))
    assert [p.name for p in a] == ["adaptive.json", "static.json"]
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes()
    assert outs[0] == outs[1]
    static = json.loads((tmp_path / "0" / "static.json").read_text())
    assert static["version"] == "tiny" and static["definition_hash"] == PINNED["tiny"]
    assert len(static["tasks"]) == 2 and static["kernel_source_hash"]
    # the printed rows are the rows of the written results
    assert outs[0].startswith(bench.rows_of_results(tmp_path / "0") + "\n")
    # the best paper heuristic scores 1, random defines 0
    ad = json.loads((tmp_path / "0" / "adaptive.json").read_text())
    for t in ad["tasks"]:
        assert t["best_heuristic"] in B.PAPER
        best = t["latency_mean"] == t["best_latency"]
        assert (t["score"] == 1.0) == best


def test_bad_agent_and_zoo_names_are_clear_errors(capsys):
    assert bench.main(["--version", "tiny", "--agents", "nonsense"]) == 2
    assert "agent 'nonsense': neither a scheduler" in capsys.readouterr().err
    assert bench.main(["--version", "tiny", "--agents", "zoo:nope"]) == 2
    assert "'zoo:nope': no bundled checkpoint" in capsys.readouterr().err


def test_leaderboard_rows_are_what_the_command_prints():
    page = (ROOT / "docs" / "leaderboard.md").read_text()
    assert PINNED["v1"] in page
    for version in ("v1", "v1-mini"):
        folder = ROOT / "docs" / "leaderboard" / version
        results = sorted(folder.glob("*.json"))
        assert results, f"no results in {folder}"
        assert bench.page_rows(page, version) == bench.rows_of_results(folder)
        for p in results:
            r = json.loads(p.read_text())
            assert r["version"] == version and r["definition_hash"] == PINNED[version]
    names = {json.loads(p.read_text())["agent"]
             for p in (ROOT / "docs" / "leaderboard" / "v1-mini").glob("*.json")}
    assert {*B.PAPER, bench.PLANNER, "rl:TBUAssign-v0", "rl:ClusterAssign-v0"} <= names


@pytest.mark.slow
def test_installed_wheel_benches_outside_the_repository(tmp_path):
    wheels = tmp_path / "wheels"
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                        "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    (whl,) = wheels.glob("octogym-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True).stdout.strip()
    # the fresh venv sees the test interpreter's dependencies (not octogym: a .pth is read
    # after the venv's own site-packages, where the wheel goes)
    deps = [d for d in sys.path if d.endswith("site-packages")]
    Path(site, "_deps.pth").write_text("\n".join(deps) + "\n")
    p = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                        "--no-deps", str(whl)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "elsewhere"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(py), "-c", "import octogym, octogym.agents; "
                            "print(octogym.__file__); print(octogym.agents.__file__)"],
                           capture_output=True, text=True, cwd=out, env=env)
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(site) for line in where.stdout.split()), where.stdout
    p = subprocess.run([str(env_dir / "bin" / "octogym"), "bench", "--no-progress",
                        "--version", "tiny", "--agents", "zoo:TBUAssign-v0", "static",
                        "--out", "res"], capture_output=True, text=True, cwd=out, env=env,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    assert "| rl:TBUAssign-v0 | tiny | 1 |" in p.stdout and "| static | tiny | 2 |" in p.stdout
    assert sorted(x.name for x in (out / "res").glob("*.json")) == [
        "rl_TBUAssign-v0.json", "static.json"]


def test_a_planner_plays_through_the_same_env():
    """``rollout:<base>`` with one candidate acts exactly as its base (docs/agents.md), so its
    benchmark numbers are the base's."""
    plan, base = B.run_benchmark("tiny", ["rollout:adaptive:k=1", "adaptive"])
    assert plan["agent"] == "rollout:adaptive:k=1" and len(plan["tasks"]) == 2
    keys = ("score", "latency_mean", "latency_p99", "latency_mean_ci95")
    assert [[t[k] for k in keys] for t in plan["tasks"]] == [
        [t[k] for k in keys] for t in base["tasks"]]
