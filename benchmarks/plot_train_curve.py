"""Held-out mean latency against training wall-clock time of ``ppo_native`` runs (their
``eval.csv``, column ``seconds``: training time without the held-out evaluations), with the
heuristics of ``eval_references.json`` as dashed lines; prints when each run first reaches
each reference (docs/results.md §8, "Training speed").

    python benchmarks/plot_train_curve.py runs/native-curve-s1 \
        --out docs/figures/ppo_native_wallclock.png
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=Path("ppo_native_wallclock.png"))
    p.add_argument("--references", default="least_loaded,adaptive",
                   help="reference lines drawn (from the first run's eval_references.json)")
    p.add_argument("--title", default="ppo_native from scratch, TBUAssign-v0 (chip)")
    p.add_argument("--logy", action="store_true",
                   help="log latency axis, not cut at 2x the best reference (runs far above it)")
    a = p.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    refs = json.loads((a.runs[0] / "eval_references.json").read_text())
    best = min(refs.values())
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, run in enumerate(a.runs):
        with (run / "eval.csv").open() as f:
            rows = list(csv.DictReader(f))
        t = [float(r["seconds"]) / 60 for r in rows]
        y = [float(r["latency_mean_us"]) for r in rows]
        ax.plot(t, y, "o-", ms=3, color=f"C{i}", label=run.name)
        print(f"{run}: last {y[-1]:.1f} us at {t[-1]:.1f} min; best {min(y):.1f} us")
        for name in sorted(refs, key=refs.get):
            hit = next((r for r in rows if float(r["latency_mean_us"]) <= refs[name]), None)
            print(f"  {name} {refs[name]:.1f} us: "
                  + (f"first reached at {float(hit['seconds']):.0f} s, "
                     f"{int(hit['timesteps']):,} steps ({float(hit['latency_mean_us']):.1f} us)"
                     if hit else "not reached"))
    for j, name in enumerate(n for n in a.references.split(",") if n in refs):
        ax.axhline(refs[name], ls="--", lw=1, color=f"C{j + len(a.runs) + 1}",
                   label=f"{name} {refs[name]:.0f}")
    ax.set(xlabel="training wall-clock (min, 2 shared cores)", ylabel="held-out mean latency (us)",
           title=a.title)
    if a.logy:
        ax.set_yscale("log")
    else:
        ax.set_ylim(top=min(ax.get_ylim()[1], 2 * best))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
