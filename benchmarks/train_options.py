"""The ``ppo_native`` options measured on/off (docs/agents.md, "Fast training"): for each
arm (off, ``time_discount``, ``input_baseline``, ``shaping``) and seed, one short
``train.py --algo ppo_native`` run on ``octogym/TBUAssign-v0`` (chip, default controller),
then the final policy's held-out mean latency (``eval.csv``'s last row: ``--eval-episodes``
episodes seeded from ``EVAL_SEED``). Prints, per arm, the mean over seeds with a 95 %
t-interval, and the difference to ``off`` per seed (paired: same seeds, same held-out
episodes).

    python benchmarks/train_options.py                          # 3 seeds, 1.5M steps each
    python benchmarks/train_options.py --seeds 1 2 3 4 --timesteps 3000000 --out runs/opts
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import octogym  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)

ARMS: dict[str, dict[str, float]] = {
    "off": {},
    "time_discount": {"time_discount": 2.0},
    "input_baseline": {"input_baseline": 4},
    "shaping": {"shaping": 1.0},
}
ROOT = Path(__file__).resolve().parents[1]


#: Student's t 0.975 quantiles by degrees of freedom (1.96 beyond the table).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228}


def interval(x: np.ndarray) -> str:
    """``mean ± half-width`` of the 95 % t-interval of ``x``."""
    if len(x) < 2:
        return f"{x.mean():.1f}"
    h = T975.get(len(x) - 1, 1.96) * x.std(ddof=1) / np.sqrt(len(x))
    return f"{x.mean():.1f} ± {h:.1f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--timesteps", type=int, default=1_500_000)
    p.add_argument("--episodes", type=int, default=10, help="held-out episodes")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--out", default="runs/options")
    a = p.parse_args()
    base = json.loads(json.dumps(_base_hyperparams()))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, float]] = {}
    for arm in a.arms:
        hp_path = out / f"{arm}.yml"
        hp_path.write_text(json.dumps({"octogym/TBUAssign-v0": {**base, **ARMS[arm]}}))
        for seed in a.seeds:
            run = out / f"{arm}-{seed}"
            if not (run / "final.zip").is_file():
                subprocess.run([sys.executable, str(ROOT / "train.py"), "--algo", "ppo_native",
                                "--hyperparams", str(hp_path), "--seed", str(seed),
                                "--timesteps", str(a.timesteps), "--out", str(run),
                                "--eval-every", "0", "--eval-episodes", str(a.episodes),
                                "--no-progress", "--no-tensorboard",
                                "--checkpoint-every", str(10 * a.timesteps)],
                               check=True, stdout=subprocess.DEVNULL)
            lat, secs = final_latency_of(run, a.episodes)
            results.setdefault(arm, {})[seed] = lat
            print(f"{arm:>15} seed {seed}: held-out latency {lat:.1f} us ({secs:.0f} s)",
                  flush=True)
    print(f"\n{'arm':>15} {'latency (us), 95% CI':>22} {'minus off, paired':>20}")
    for arm, by_seed in results.items():
        x = np.array([by_seed[s] for s in a.seeds])
        diff = ("-" if arm == "off" or "off" not in results else
                interval(x - np.array([results["off"][s] for s in a.seeds])))
        print(f"{arm:>15} {interval(x):>22} {diff:>20}")


def final_latency_of(run: Path, episodes: int) -> tuple[float, float]:
    """Held-out latency of ``run``'s final policy (played here when the run did not
    evaluate) and the run's training seconds (from its progress.csv)."""
    from octogym.agents.ppo import held_out_native
    from octogym.agents.ppo_policy import load_native
    policy, _ = load_native(run / "final.zip")
    cfg = json.loads((run / "config.json").read_text())
    lat = held_out_native(policy, cfg["env_id"], cfg["env_kwargs"], episodes)
    with (run / "progress.csv").open() as f:
        secs = float(list(csv.DictReader(f))[-1]["time/seconds"])
    return float(np.mean(lat)), secs


def _base_hyperparams() -> dict:
    """The bundled ``ppo_native.yml`` entry for TBUAssign-v0, as plain YAML values."""
    import yaml
    return yaml.safe_load((ROOT / "agents/hyperparams/ppo_native.yml").read_text())[
        "octogym/TBUAssign-v0"]


if __name__ == "__main__":
    main()
