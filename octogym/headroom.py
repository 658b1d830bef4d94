"""The headroom report: how far the heuristics are from the best any scheduler could do, and
how much of that room the rollout planner takes (``python evaluate.py --scenarios headroom``).

For each scenario (the envs' default tasks ``env-chip`` / ``env-wafer`` and the busy and light
mixes ``mix-{chip,wafer}[-light]`` of :mod:`octogym.evaluation`) and each evaluation seed
(member ``i`` of ``EVAL_SEED``, the same seeds as every other table):

* every kernel heuristic runs the whole machine; the *best heuristic* of the scenario is the
  one with the lowest mean latency averaged over the seeds;
* the rollout planner (:mod:`octogym.planner`) runs over that best heuristic at the TBU
  level, the cluster level and both, for the (level, k, R, H) settings of ``--planner``;
* the lower bounds of the seed (:mod:`octogym.bounds`): per-request critical path, fluid
  capacity, and their maximum, which no scheduler can beat on that run.

Rows pair by seed (common random numbers), so each arm's change against the best heuristic is
a per-seed ratio with a 95% Student-t interval over the seeds; ``room`` is the best
heuristic's mean latency over the bound minus one (what a perfect scheduler could at most
gain), ``closed`` the share of that room an arm takes.

    python evaluate.py --scenarios headroom --seeds 10 --requests 100 --out results
    python -m octogym.headroom --scenarios mix-wafer --settings level=tbu,k=4,R=4,H=4,z=2
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from octogym.bounds import request_bounds
from octogym.evaluation import EVAL_SEED, SCENARIOS, Scenario
from octogym.evaluation.stats import mean_ci
from octogym.schedulers import SCHEDULERS

HEADROOM_SCENARIOS = ("env-chip", "env-wafer", "mix-chip", "mix-chip-light", "mix-wafer",
                      "mix-wafer-light")
# k = 4 at the TBU level is every TBU of the cluster (K = 4) plus the base's own choice; the
# cluster level has 16 (chip) or 256 (wafer) candidates, so its k keeps decisions affordable.
# R = 4 with the z = 2 guard per level and for both; R = 1 unguarded (the lowest estimate
# always wins); the oracle (resample = 0: rollouts see the run's own future).
PLANNER_SETTINGS = ("level=tbu,k=4,R=4,H=8,z=2", "level=cluster,k=4,R=4,H=8,z=2",
                    "level=both,k=4,R=4,H=8,z=2", "level=both,k=4,R=1,H=8",
                    "level=both,k=4,R=1,H=8,resample=0")
BOUND_ARMS = ("bound:path", "bound:capacity", "bound")

def run_arm(scenario: Scenario, arm: str, seeds: int, n_requests: int | None
            ) -> list[dict[str, Any]]:
    """One scheduler or planner spec on ``seeds`` evaluation seeds: one row per seed."""
    sim = scenario.simulation(arm, seeds, n_requests=n_requests)
    t0 = time.perf_counter()
    res = sim.run()
    wall = time.perf_counter() - t0
    stats = getattr(sim, "planner_stats", None) or {}
    return [{"scenario": scenario.name, "arm": arm, "seed": b, "latency_mean": r.latency_mean,
             "makespan": r.makespan, "wall_s": wall / seeds,
             "decisions": stats.get("decisions", 0) / seeds} for b, r in enumerate(res)]


def bound_rows(scenario: Scenario, seeds: int, n_requests: int | None) -> list[dict[str, Any]]:
    n = n_requests or scenario.n_requests
    rows = []
    for b in range(seeds):
        rb = request_bounds(scenario.workflows, scenario.hardware, load=scenario.sim_load(n),
                            n_requests=n, seed=EVAL_SEED, member_offset=b)
        s = rb.summary()
        for arm, key in zip(BOUND_ARMS, ("path_latency_mean", "capacity_latency_mean",
                                         "latency_mean"), strict=True):
            rows.append({"scenario": scenario.name, "arm": arm, "seed": b,
                         "latency_mean": s[key], "makespan": s["makespan"], "wall_s": 0.0,
                         "decisions": 0})
    return rows


def run_headroom(scenarios: Sequence[str], seeds: int, n_requests: int | None,
                 settings: Sequence[str] = PLANNER_SETTINGS, log: Any = print
                 ) -> list[dict[str, Any]]:
    """Every arm of every scenario (module docstring): tidy rows, one per (scenario, arm,
    seed); the best heuristic's rows are repeated under arm ``best``."""
    rows: list[dict[str, Any]] = []
    for name in scenarios:
        sc = SCENARIOS[name]
        heur: dict[str, list[dict[str, Any]]] = {}
        for h in SCHEDULERS:
            heur[h] = run_arm(sc, h, seeds, n_requests)
            rows += heur[h]
        best = min(heur, key=lambda h: np.mean([r["latency_mean"] for r in heur[h]]))
        rows += [{**r, "arm": "best", "best": best} for r in heur[best]]
        log(f"{name}: best heuristic {best}")
        for s in settings:
            t = time.perf_counter()
            rows += run_arm(sc, f"rollout:{best}:{s}", seeds, n_requests)
            log(f"{name}: rollout:{best}:{s} {time.perf_counter() - t:.0f} s")
        rows += bound_rows(sc, seeds, n_requests)
    return rows


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (scenario, arm): mean latency with its 95% interval, the paired per-seed change
    against the scenario's best heuristic with its interval, and the room it closes."""
    out = []
    for name in dict.fromkeys(r["scenario"] for r in rows):
        mine = [r for r in rows if r["scenario"] == name]
        best = {r["seed"]: r["latency_mean"] for r in mine if r["arm"] == "best"}
        bound = {r["seed"]: r["latency_mean"] for r in mine if r["arm"] == "bound"}
        room = mean_ci([best[s] / bound[s] - 1 for s in best])
        for arm in dict.fromkeys(r["arm"] for r in mine):
            if arm == "best":
                continue
            rs = [r for r in mine if r["arm"] == arm]
            lat = mean_ci([r["latency_mean"] for r in rs])
            chg = mean_ci([r["latency_mean"] / best[r["seed"]] - 1 for r in rs])
            closed = mean_ci([(best[r["seed"]] - r["latency_mean"])
                              / max(best[r["seed"]] - bound[r["seed"]], 1e-9) for r in rs])
            out.append({"scenario": name, "arm": arm,
                        "best": next(r["best"] for r in mine if r["arm"] == "best"),
                        "seeds": len(rs), "latency_mean": lat[0], "latency_ci": lat[1],
                        "vs_best": chg[0], "vs_best_ci": chg[1], "closed": closed[0],
                        "closed_ci": closed[1], "room": room[0], "room_ci": room[1],
                        "wall_s": float(np.mean([r["wall_s"] for r in rs])),
                        "decisions": float(np.mean([r["decisions"] for r in rs]))})
    return out


def markdown(summary: Sequence[dict[str, Any]], seeds: int, n_requests: int | None) -> str:
    lines = [f"# Headroom ({seeds} paired seeds, requests per run: "
             f"{n_requests or 'each scenario own'})", "",
             "Mean latency in k-cycles with its 95% interval over seeds; `vs best`: per-seed "
             "change against the scenario's best heuristic (negative = faster); `closed` (planner "
             "rows): share of the room between the best heuristic and the lower bound that the "
             "arm takes; decisions/s: the planner's, over its whole run.",
             ""]
    for name in dict.fromkeys(s["scenario"] for s in summary):
        mine = [s for s in summary if s["scenario"] == name]
        m0 = mine[0]
        lines += [f"## {name} (best heuristic: {m0['best']}; room to the bound: "
                  f"{100 * m0['room']:.1f}% ± {100 * m0['room_ci']:.1f}%)", "",
                  "| arm | latency (k-cycles) | vs best | closed | s/seed | decisions/s |",
                  "|---|---|---|---|---|---|"]
        for s in mine:
            dps = s["decisions"] / s["wall_s"] if s["decisions"] and s["wall_s"] else 0
            closed = (f"{100 * s['closed']:.0f}% ± {100 * s['closed_ci']:.0f}%"
                      if s["arm"].startswith("rollout") else "")
            lines.append(f"| {s['arm']} | {s['latency_mean'] / 1e3:.1f} ± "
                         f"{s['latency_ci'] / 1e3:.1f} | {100 * s['vs_best']:+.1f}% ± "
                         f"{100 * s['vs_best_ci']:.1f}% | {closed} | {s['wall_s']:.2f} | "
                         f"{dps:.0f} |")
        lines.append("")
    return "\n".join(lines)


def write_report(rows: Sequence[dict[str, Any]], out: Path, seeds: int,
                 n_requests: int | None) -> str:
    """``headroom.md``, ``headroom.csv`` (summary) and ``headroom_runs.csv`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows)
    text = markdown(summary, seeds, n_requests)
    (out / "headroom.md").write_text(text)
    for path, data in ((out / "headroom.csv", summary), (out / "headroom_runs.csv", rows)):
        keys = list(dict.fromkeys(k for r in data for k in r))
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, keys)
            w.writeheader()
            w.writerows(data)
    return text


def main(out: Path, seeds: int | None, n_requests: int | None,
         scenarios: Sequence[str] = HEADROOM_SCENARIOS,
         settings: Sequence[str] = PLANNER_SETTINGS) -> int:
    """``evaluate.py --scenarios headroom`` (default 10 seeds)."""
    seeds = seeds or 10
    t0 = time.perf_counter()
    rows = run_headroom(scenarios, seeds, n_requests, settings,
                        log=lambda m: print(f"[{time.perf_counter() - t0:6.0f} s] {m}",
                                            flush=True))
    print(write_report(rows, out, seeds, n_requests))
    print(f"wrote {out}/headroom.md, headroom.csv, headroom_runs.csv")
    return 0


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="the headroom report (module docstring)")
    ap.add_argument("--scenarios", nargs="+", default=list(HEADROOM_SCENARIOS))
    ap.add_argument("--settings", nargs="+", default=list(PLANNER_SETTINGS),
                    help="planner settings 'level=..,k=..,R=..,H=..[,z=..][,resample=..]'")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--requests", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("results"))
    a = ap.parse_args()
    raise SystemExit(main(a.out, a.seeds, a.requests, a.scenarios, a.settings))
