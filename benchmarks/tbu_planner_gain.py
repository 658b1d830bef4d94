"""The rollout planner's gain at the TBU level, and how much of it learned policies keep
(issue 13, docs/results.md §8): every arm makes the TBU decisions of ``octogym/TBUAssign-v0``
(controller ``proactive`` picks the clusters) on the same paired evaluation seeds as
``evaluate.py --agents ... --agent-scenarios <scenario> --agent-seeds N`` (members ``0..N-1``
of base seed ``EVAL_SEED``, through :func:`octogym.agents.arena.run_arm`), so its rows pair
seed for seed with ``evaluate.py``'s ``learned_runs.csv``.

Arms: each heuristic (``HeuristicAgent``), each planner spec (``rollout:<base>:..``, a
``RolloutAgent`` answering every TBU decision through the env), each checkpoint. Printed:
mean latency and wall time per arm, then every arm minus ``--reference`` (paired, 95 %
t-interval, seeds lower, sign-flip p) and, for checkpoints, the share of the planner's gain
over the reference they keep: ``(ref - learned) / (ref - planner)``. ``--csv`` writes the rows.

    python benchmarks/tbu_planner_gain.py --planners "rollout:adaptive:level=tbu,k=4,R=1,H=8" \\
        --runs runs/ent16-s1 --seeds 20 --csv results/tbu_planner.csv
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

import octogym  # noqa: F401  (registers the ids)
from octogym.agents.arena import env_arm, learned_arm, run_arm
from octogym.agents.base import SB3Agent
from octogym.evaluation.scenarios import resolve_scenarios
from octogym.evaluation.stats import mean_ci, sign_flip_p

LEVEL = "TBUAssign"


def paired(x: np.ndarray, ref: np.ndarray) -> str:
    """``x - ref`` as ``mean ± half-width (relative, lower on n/N, p)``."""
    d = x - ref
    m, h = mean_ci(d)
    return (f"{m:+.1f} ± {h:.1f} us ({m / ref.mean():+.1%}, lower on {int((d < 0).sum())}/"
            f"{len(d)}, p {sign_flip_p(d):.2g})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="env-chip")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--heuristics", nargs="+", default=["adaptive", "eft", "least_loaded"])
    p.add_argument("--planners", nargs="*", default=["rollout:adaptive:level=tbu,k=4,R=1,H=8"])
    p.add_argument("--runs", nargs="*", default=[], help="train.py runs or checkpoints")
    p.add_argument("--controller", default="proactive")
    p.add_argument("--reference", default="adaptive", help="the heuristic gains are over")
    p.add_argument("--csv", type=Path, default=None)
    a = p.parse_args()
    if a.reference not in a.heuristics:
        raise SystemExit(f"--reference {a.reference!r} must be one of --heuristics")
    (scen,) = resolve_scenarios([a.scenario])
    arms = [env_arm(h, LEVEL, a.controller) for h in [*a.heuristics, *a.planners]]
    arms += [learned_arm(SB3Agent(r)) for r in a.runs]
    lat: dict[str, np.ndarray] = {}
    rows = []
    for arm in arms:
        t = time.perf_counter()
        out = run_arm(scen, arm, a.seeds)
        wall = time.perf_counter() - t
        lat[arm.label] = np.array([r["latency_mean"] for r in out]) / 1000.0
        rows += out
        print(f"{arm.label}: {lat[arm.label].mean():.1f} us ({wall:.0f} s for {a.seeds} seeds)",
              flush=True)
    ref_label = env_arm(a.reference, LEVEL, a.controller).label
    ref = lat[ref_label]
    print(f"\n{a.scenario}, {a.seeds} paired seeds; minus {ref_label}:")
    for label, x in lat.items():
        if label != ref_label:
            print(f"  {label}: {paired(x, ref)}")
    for pl in a.planners:
        gain = ref - lat[env_arm(pl, LEVEL, a.controller).label]
        for arm in arms:
            if arm.kind == "learned":
                kept = (ref - lat[arm.label]).mean() / gain.mean()
                print(f"  {arm.label} keeps {kept:.0%} of {pl}'s gain over {ref_label} "
                      f"({(ref - lat[arm.label]).mean():.1f} of {gain.mean():.1f} us)")
    if a.csv is not None:
        a.csv.parent.mkdir(parents=True, exist_ok=True)
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with a.csv.open("w", newline="") as f:
            w = csv.DictWriter(f, keys)
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
