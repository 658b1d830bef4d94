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
  capacity, and their maximum, which no scheduler can beat on that run;
* with ``--levels ... provision``, the Provision level (docs/envs.md, Provision): arms
  ``provision:<rule>@<controller>``, the kernel run of ``controller`` whose epoch
  reconfigurations are those of ``rule``'s provisioning hook
  (``octogym.kernel.provision.provision_choice``; ``static`` and the other rules without one
  keep), exactly what ``HeuristicAgent(rule)`` does through ``octogym/Provision-v0`` with that
  controller; ``rule == controller`` is the kernel-only run of ``controller``
  (tests/test_provision.py). A controller without an epoch gets ``DEFAULT_EPOCH``, as in the
  env. Then the rollout planner at ``level=provision`` over each controller
  (:data:`PROVISION_SETTINGS`).

``--reconfig-cycles N`` plays every scenario on its hardware with ``reconfig_cycles = N`` (a
slower reconfiguration; the scenario's name gets ``@reconfN``). ``--load X`` plays every
scenario at offered load ``X`` in the scenario's own basis (:class:`Scenario`: ``env-*`` count
it as the envs' ``load``, a fraction of the initial phase's capacity; the ``mix-*`` ones as a
fraction of the peak phase's or of ``static``'s capacity); the name gets ``@loadX``.

Rows pair by seed (common random numbers), so each arm's change against the best heuristic is
a per-seed ratio with a 95% Student-t interval over the seeds; ``room`` is the best
heuristic's mean latency over the bound minus one (what a perfect scheduler could at most
gain), ``closed`` the share of that room an arm takes.

    python evaluate.py --scenarios headroom --seeds 10 --requests 100 --out results
    python -m octogym.headroom --scenarios mix-wafer --settings level=tbu,k=4,R=4,H=4,z=2
    python -m octogym.headroom --scenarios env-chip --levels provision --reconfig-cycles 200000
    python -m octogym.headroom --scenarios env-chip --load 1.1 --settings level=place,k=8,R=1,H=8
"""

from __future__ import annotations

import csv
import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from octogym.bounds import request_bounds
from octogym.evaluation import EVAL_SEED, SCENARIOS, Scenario
from octogym.evaluation.stats import mean_ci
from octogym.hardware import get_hardware
from octogym.kernel import fields as L
from octogym.kernel.layout import EXT_PROVISION, ST_DECISION
from octogym.kernel.provision import provision_choice
from octogym.schedulers import DEFAULT_EPOCH, SCHEDULERS, is_planner
from octogym.simulator import Simulation

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
LEVELS = ("machine", "provision")
# the Provision level: every provisioning rule (the three hooks, and static's "keep") under the
# env's default controller (octopus) and under eft (the best whole-machine heuristic on the chip)
PROVISION_CONTROLLERS = ("octopus", "eft")
PROVISION_RULES = ("static", "reactive", "proactive", "octopus")
# candidates: keep, the base's move and the 4 most demanded configurations; H = 16 mean TB
# durations spans about two default epochs; the guarded planner and the oracle
PROVISION_SETTINGS = ("level=provision,k=6,R=4,H=16,z=2", "level=provision,k=6,R=1,H=16,resample=0")


def with_reconfig(scenario: Scenario, cycles: int) -> Scenario:
    """``scenario`` on its hardware with ``reconfig_cycles = cycles`` (name ``...@reconfN``)."""
    hw = dataclasses.replace(get_hardware(scenario.hardware), reconfig_cycles=int(cycles))
    return dataclasses.replace(scenario, name=f"{scenario.name}@reconf{cycles}", hardware=hw)


def with_load(scenario: Scenario, load: float) -> Scenario:
    """``scenario`` at offered load ``load`` in its own basis (name ``...@loadX``)."""
    load = float(load)
    if not np.isfinite(load) or load <= 0:
        raise ValueError(f"load must be a positive number, got {load!r}")
    return dataclasses.replace(scenario, name=f"{scenario.name}@load{load:g}", load=load)


def simulation(scenario: Scenario, policy: str, seeds: int, n_requests: int | None,
               provision: bool = False) -> Simulation:
    """:meth:`Scenario.simulation`, with ``DEFAULT_EPOCH`` for a ``policy`` (or planner base)
    without an epoch when ``provision`` (epochs are where Provision decisions come)."""
    n = n_requests or scenario.n_requests
    base = policy.split(":")[1] if is_planner(policy) else policy
    epoch = DEFAULT_EPOCH if provision and not SCHEDULERS[base].epoch else None
    return Simulation(scenario.workflows, scenario.hardware, load=scenario.sim_load(n),
                      n_requests=n, batch=seeds, seed=EVAL_SEED, policy=policy, epoch=epoch,
                      slowdown=dict(scenario.slowdown) or None, tbu_init=scenario._tbu_init(n))


def run_provisioned(sim: Simulation, rule: str) -> list:
    """Run every member of ``sim`` to its end, each epoch reconfiguration decided by ``rule``'s
    provisioning hook on the member's own state (module docstring)."""
    code = SCHEDULERS[rule].code
    st = sim.advance(ext=EXT_PROVISION)
    while (st == ST_DECISION).any():
        rows = np.flatnonzero(st == ST_DECISION)
        acts = np.full(sim.batch, -1, np.int64)
        for b in rows:
            c = int(sim.state.SC[b, L.SC_PROV_CLUSTER]) - 1
            acts[b] = provision_choice(sim.model, sim.state, int(b), c, code)
        st = sim.advance(actions=acts, active=st == ST_DECISION, ext=EXT_PROVISION)
    return [sim.result(b) for b in range(sim.batch)]

def run_arm(scenario: Scenario, arm: str, seeds: int, n_requests: int | None
            ) -> list[dict[str, Any]]:
    """One scheduler, planner spec or ``provision:<rule>@<controller>`` arm on ``seeds``
    evaluation seeds: one row per seed."""
    if arm.startswith("provision:"):
        rule, controller = arm.split(":", 1)[1].split("@")
        sim = simulation(scenario, controller, seeds, n_requests, provision=True)
    else:
        sim = simulation(scenario, arm, seeds, n_requests, provision="level=provision" in arm)
    t0 = time.perf_counter()
    res = run_provisioned(sim, rule) if arm.startswith("provision:") else sim.run()
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
                 settings: Sequence[str] = PLANNER_SETTINGS, log: Any = print,
                 levels: Sequence[str] = ("machine",), reconfig_cycles: int | None = None,
                 load: float | None = None) -> list[dict[str, Any]]:
    """Every arm of every scenario (module docstring): tidy rows, one per (scenario, arm,
    seed); the best heuristic's rows are repeated under arm ``best``. ``levels``: the whole
    machine's planner ``settings`` (``machine``) and / or the Provision level's arms;
    ``reconfig_cycles`` / ``load``: every scenario with that reconfiguration time / load."""
    bad = sorted(set(levels) - set(LEVELS))
    if bad:
        raise ValueError(f"levels {bad} unknown: choose from {list(LEVELS)}")
    rows: list[dict[str, Any]] = []
    for name in scenarios:
        sc = SCENARIOS[name]
        if reconfig_cycles is not None:
            sc = with_reconfig(sc, reconfig_cycles)
        if load is not None:
            sc = with_load(sc, load)
        name = sc.name
        heur: dict[str, list[dict[str, Any]]] = {}
        for h in SCHEDULERS:
            heur[h] = run_arm(sc, h, seeds, n_requests)
            rows += heur[h]
        best = min(heur, key=lambda h: np.mean([r["latency_mean"] for r in heur[h]]))
        rows += [{**r, "arm": "best", "best": best} for r in heur[best]]
        log(f"{name}: best heuristic {best}")
        arms = [f"rollout:{best}:{s}" for s in settings] if "machine" in levels else []
        if "provision" in levels:
            arms += [f"provision:{r}@{c}" for c in PROVISION_CONTROLLERS for r in PROVISION_RULES]
            arms += [f"rollout:{c}:{s}" for c in PROVISION_CONTROLLERS for s in PROVISION_SETTINGS]
        for arm in arms:
            t = time.perf_counter()
            rows += run_arm(sc, arm, seeds, n_requests)
            log(f"{name}: {arm} {time.perf_counter() - t:.0f} s")
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
            over = mean_ci([r["latency_mean"] / bound[r["seed"]] - 1 for r in rs])
            out.append({"scenario": name, "arm": arm,
                        "best": next(r["best"] for r in mine if r["arm"] == "best"),
                        "seeds": len(rs), "latency_mean": lat[0], "latency_ci": lat[1],
                        "vs_best": chg[0], "vs_best_ci": chg[1], "closed": closed[0],
                        "closed_ci": closed[1], "room": room[0], "room_ci": room[1],
                        "vs_bound": over[0], "vs_bound_ci": over[1],
                        "wall_s": float(np.mean([r["wall_s"] for r in rs])),
                        "decisions": float(np.mean([r["decisions"] for r in rs]))})
    return out


def markdown(summary: Sequence[dict[str, Any]], seeds: int, n_requests: int | None) -> str:
    lines = [f"# Headroom ({seeds} paired seeds, requests per run: "
             f"{n_requests or 'each scenario own'})", "",
             "Mean latency in k-cycles with its 95% interval over seeds; `vs best`: per-seed "
             "change against the scenario's best heuristic (negative = faster); `vs bound`: "
             "per-seed latency over the seed's lower bound minus one (the arm's room); "
             "`closed` (planner "
             "rows): share of the room between the best heuristic and the lower bound that the "
             "arm takes; decisions/s: the planner's, over its whole run.",
             ""]
    for name in dict.fromkeys(s["scenario"] for s in summary):
        mine = [s for s in summary if s["scenario"] == name]
        m0 = mine[0]
        lines += [f"## {name} (best heuristic: {m0['best']}; room to the bound: "
                  f"{100 * m0['room']:.1f}% ± {100 * m0['room_ci']:.1f}%)", "",
                  "| arm | latency (k-cycles) | vs best | vs bound | closed | s/seed | "
                  "decisions/s |", "|---|---|---|---|---|---|---|"]
        for s in mine:
            dps = s["decisions"] / s["wall_s"] if s["decisions"] and s["wall_s"] else 0
            closed = (f"{100 * s['closed']:.0f}% ± {100 * s['closed_ci']:.0f}%"
                      if s["arm"].startswith("rollout") else "")
            lines.append(f"| {s['arm']} | {s['latency_mean'] / 1e3:.1f} ± "
                         f"{s['latency_ci'] / 1e3:.1f} | {100 * s['vs_best']:+.1f}% ± "
                         f"{100 * s['vs_best_ci']:.1f}% | {100 * s['vs_bound']:+.1f}% ± "
                         f"{100 * s['vs_bound_ci']:.1f}% | {closed} | {s['wall_s']:.2f} | "
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
         settings: Sequence[str] = PLANNER_SETTINGS, levels: Sequence[str] = ("machine",),
         reconfig_cycles: int | None = None, load: float | None = None) -> int:
    """``evaluate.py --scenarios headroom`` (default 10 seeds)."""
    seeds = seeds or 10
    t0 = time.perf_counter()
    rows = run_headroom(scenarios, seeds, n_requests, settings,
                        log=lambda m: print(f"[{time.perf_counter() - t0:6.0f} s] {m}",
                                            flush=True),
                        levels=levels, reconfig_cycles=reconfig_cycles, load=load)
    print(write_report(rows, out, seeds, n_requests))
    print(f"wrote {out}/headroom.md, headroom.csv, headroom_runs.csv")
    return 0


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="the headroom report (module docstring)")
    ap.add_argument("--scenarios", nargs="+", default=list(HEADROOM_SCENARIOS))
    ap.add_argument("--settings", nargs="*", default=list(PLANNER_SETTINGS),
                    help="planner settings 'level=..,k=..,R=..,H=..[,z=..][,resample=..]'")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--requests", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("results"))
    ap.add_argument("--levels", nargs="+", default=["machine"], choices=LEVELS,
                    help="machine: the planner --settings over the best heuristic; provision: "
                    "the Provision level's rules and planner (module docstring)")
    ap.add_argument("--reconfig-cycles", type=int, default=None,
                    help="play every scenario with this reconfiguration time (cycles)")
    ap.add_argument("--load", type=float, default=None,
                    help="play every scenario at this offered load, in its own basis "
                    "(env-*: the envs' load; module docstring)")
    a = ap.parse_args()
    raise SystemExit(main(a.out, a.seeds, a.requests, a.scenarios, a.settings, a.levels,
                          a.reconfig_cycles, a.load))
