"""Paired differences of learned agents against the same-env heuristics, from the
``learned_runs.csv`` that ``evaluate.py --agents ...`` writes: for every learned agent and
every same-env heuristic (``tbu:<name>``, ``cluster:<name>``, ...) in each scenario, the mean
of (learned - heuristic) mean latency over the shared seeds, its 95 % t-interval, the
relative change, how many seeds the learned agent was lower on, and the paired sign-flip
p-value (docs/results.md §8).

    python evaluate.py --agents runs/a adaptive least_loaded --agent-scenarios env-chip \\
        --agent-seeds 20 --out results/learn
    python benchmarks/paired_learned.py results/learn/learned_runs.csv
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from octogym.evaluation.stats import mean_ci, sign_flip_p


def latencies(path: Path) -> dict[tuple[str, str, str], dict[int, float]]:
    """``(scenario, kind, agent) -> {seed: mean latency in us}`` for the learned and the
    same-env rows (kind ``learned`` / ``env``) of ``path``."""
    out: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
    with path.open() as f:
        for r in csv.DictReader(f):
            if r["kind"] in ("learned", "env"):
                key = (r["scenario"], r["kind"], r["agent"])
                out[key][int(r["seed"])] = float(r["latency_mean"]) / 1000.0
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("csv", type=Path, help="learned_runs.csv of an evaluate.py --agents run")
    a = p.parse_args()
    lat = latencies(a.csv)
    if not any(k[1] == "learned" for k in lat):
        raise SystemExit(f"{a.csv}: no learned-agent rows (kind 'learned')")
    print("| scenario | learned | heuristic (same env) | learned - heuristic (us) | change | "
          "lower on | p |")
    print("|---|---|---|---:|---:|---:|---:|")
    for (scen, kind, agent), xs in sorted(lat.items()):
        if kind != "learned":
            continue
        for (scen2, kind2, heur), ys in sorted(lat.items()):
            if kind2 != "env" or scen2 != scen:
                continue
            seeds = sorted(set(xs) & set(ys))
            d = np.array([xs[s] - ys[s] for s in seeds])
            m, h = mean_ci(d)
            rel = m / np.mean([ys[s] for s in seeds])
            print(f"| {scen} | {agent} | {heur} | {m:+.1f} ± {h:.1f} | {rel:+.1%} | "
                  f"{int((d < 0).sum())}/{len(d)} | {sign_flip_p(d):.2g} |")


if __name__ == "__main__":
    main()
