"""Learned agents against every heuristic across offered loads: one scenario, ``--loads``
replacing its ``load``; at each load 20 held-out episodes (member ``j`` of a native vector
env reset with seed ``--seed + j``) are played by every registered scheduler through
``HeuristicAgent`` and by each ``--agents`` spec (checkpoints, planners) with the scenario's
options. Prints, per load and agent, the paired difference to the best heuristic at that load
(95 % t-interval, seeds lower, sign-flip p) and plots mean latency against load with the
intervals (docs/results.md §8, "Other loads").

    python benchmarks/load_sweep.py --env-kwargs obs_mode=entities requests_per_episode=400 \\
        controller=reactive --agents agents/zoo/Place-v0-heavy-distill-entity \\
        --loads 1.3 1.4 1.5 1.6 1.7 1.8 2.0 2.5 --out docs/figures/place_heavy_loads.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

import octogym  # noqa: F401  (registers the ids)
from octogym.agents import HeuristicAgent, make_agent
from octogym.agents.heldout import play_held_out
from octogym.commands.train import parse_env_kwargs
from octogym.evaluation import EVAL_SEED
from octogym.evaluation.stats import mean_ci, sign_flip_p
from octogym.schedulers import SCHEDULERS


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="octogym/Place-v0")
    p.add_argument("--env-kwargs", nargs="*", default=[],
                   help="the scenario's env options (as train.py's), without load")
    p.add_argument("--agents", nargs="+", required=True, help="make_agent specs")
    p.add_argument("--loads", nargs="+", type=float, required=True)
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=EVAL_SEED,
                   help=f"seed of the first episode (default {EVAL_SEED}, the held-out ones)")
    p.add_argument("--heuristics", nargs="+", default=list(SCHEDULERS))
    p.add_argument("--out", type=Path, default=None, help="the plot (.png); none by default")
    a = p.parse_args()
    kw = parse_env_kwargs(a.env_kwargs)
    if "load" in kw:
        raise SystemExit("--env-kwargs: leave out load; --loads sets it")
    agents = {spec: make_agent(spec) for spec in a.agents}
    best, learned = [], {spec: [] for spec in agents}
    print(f"{a.env} {kw}: {a.episodes} episodes from seed {a.seed}")
    print("| load | best heuristic (us) | agent | agent - best (us) | change | lower on | p |")
    print("|---:|---|---|---:|---:|---:|---:|")
    for load in tqdm(a.loads, unit="load", leave=False):
        opts = {**kw, "load": load}
        heur = {name: play_held_out(a.env, HeuristicAgent(name).act_batch, a.episodes, a.seed,
                                    **opts) for name in a.heuristics}
        ref = min(heur.values(), key=np.mean)
        name = "=".join(n for n, lat in heur.items() if np.array_equal(lat, ref))  # ties
        best.append((name, ref))
        for spec, ag in agents.items():
            lat = play_held_out(a.env, ag.act_batch, a.episodes, a.seed, **opts)
            learned[spec].append(lat)
            d = lat - ref
            m, h = mean_ci(d)
            tqdm.write(f"| {load:g} | `{name}` {ref.mean():.1f} | {spec} | {m:+.1f} ± {h:.1f} | "
                       f"{m / ref.mean():+.1%} | {int((d < 0).sum())}/{len(d)} | "
                       f"{sign_flip_p(d):.2g} |")
    if a.out is not None:
        plot(a, best, learned)


def plot(a: argparse.Namespace, best: list, learned: dict) -> None:
    """Mean latency against load, 95 % t-intervals: the best heuristic and each agent."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    series = {"best heuristic": [ref for _, ref in best],
              **{Path(spec).name: lats for spec, lats in learned.items()}}
    for i, (label, lats) in enumerate(series.items()):
        y = [float(np.mean(x)) for x in lats]
        err = [mean_ci(x)[1] for x in lats]
        ax.errorbar(a.loads, y, yerr=err, fmt="o-", ms=3, capsize=2, color=f"C{i}", label=label)
    for load, (name, ref) in zip(a.loads, best, strict=True):
        ax.annotate(name, (load, float(np.mean(ref))), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=7, color="C0")
    ax.set_xlabel("offered load")
    ax.set_ylabel("mean latency (us)")
    ax.set_title(f"{a.env}, {a.episodes} episodes from seed {a.seed}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=120)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
