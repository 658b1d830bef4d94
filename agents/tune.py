"""Hyperparameter search over ``train.py`` with Ray Tune (docs/scaling.md, "Training sweeps").

    python -m octogym.agents.tune tune.yaml [--out DIR] [--ray [ADDRESS]] [--cpus N]

Every trial is one ``train.py`` run (a subprocess, so a trial is exactly what a user would
run by hand) with the base hyperparameters of ``env`` overridden by the trial's sample. The
trial's score is the held-out mean latency of its final model (train.py's ``eval.csv``: the
deterministic policy on ``eval_episodes`` episodes seeded from ``EVAL_SEED``, never seen in
training); lower is better. Output in ``--out`` (default ``runs/tune-<name>``):

    trials/<trial>/        each trial's train.py run directory (final.zip, config.json, ...)
                           plus hyperparams.yml, the file it was trained with
    best/                  a copy of the best trial's run directory: load it like any run,
                           ``make_agent("runs/tune-<name>/best")`` or ``evaluate.py --agents``
    results.csv            one row per trial: sampled hyperparameters, latency, run directory
    tune/                  Ray Tune's own experiment folder

The search file (YAML, read with ``yaml.safe_load``)::

    name: lr-epochs                  # optional (default: the file's stem)
    env: octogym/TBUAssign-v0        # required: a registered env id
    algo: maskable_ppo               # ppo or maskable_ppo (default maskable_ppo)
    hyperparams: my_hp.yml           # base file (default: agents/hyperparams/<algo>.yml)
    timesteps: 4000                  # env steps per trial (required)
    seed: 0                          # train.py --seed of every trial (default 0)
    env_kwargs: {requests_per_episode: 50}
    eval_episodes: 3                 # held-out episodes scoring a trial (default 3)
    num_samples: 2                   # trials (with `grid`: per grid combination; default 1)
    search_seed: 0                   # seeds Tune's sampling of the space (default 0)
    search:                          # hyperparameter -> one sampler
      learning_rate: {loguniform: [1.0e-5, 1.0e-3]}
      n_epochs: {choice: [1, 2]}
      ent_coef: {uniform: [0.0, 0.01]}
      n_steps: {grid: [64, 128]}     # also randint: [lo, hi)

Hyperparameter names are those of the hyperparameter files (``octogym.agents.config``).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SAMPLERS", "TuneSpec", "load_tune_spec", "main", "run_tune"]

SAMPLERS = ("choice", "uniform", "loguniform", "randint", "grid")
_KEYS = ("name", "env", "algo", "hyperparams", "timesteps", "seed", "env_kwargs",
         "eval_episodes", "num_samples", "search_seed", "search")
TRAIN_PY = Path(__file__).resolve().parents[1] / "train.py"  # a source checkout's train.py
METRIC = "latency_mean_us"


class TuneSpec(dict):
    """A validated search file (a plain dict of its keys, defaults filled in)."""


def load_tune_spec(path: str | Path) -> TuneSpec:
    """Read and validate a search file; ``ValueError`` naming the file and key when bad."""
    from octogym.agents.config import KNOWN_KEYS
    from octogym.envs.registration import ENV_IDS

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read the search file: {e}") from e

    def fail(msg: str) -> None:
        raise ValueError(f"{path}: {msg}")

    if not isinstance(data, dict):
        fail(f"expected a mapping, got {type(data).__name__}")
    unknown = set(data) - set(_KEYS)
    if unknown:
        fail(f"unknown keys {sorted(unknown)}; allowed: {list(_KEYS)}")
    spec = TuneSpec(name=path.stem, algo="maskable_ppo", hyperparams=None, seed=0,
                    env_kwargs={}, eval_episodes=3, num_samples=1, search_seed=0)
    spec.update(data)
    if spec.get("env") not in ENV_IDS:
        fail(f"env must be one of {list(ENV_IDS)}, got {spec.get('env')!r}")
    if spec["algo"] not in ("ppo", "maskable_ppo"):
        fail(f"algo must be 'ppo' or 'maskable_ppo', got {spec['algo']!r}")
    for key in ("timesteps", "eval_episodes", "num_samples"):
        v = spec.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            fail(f"{key} must be a positive integer, got {v!r}")
    for key in ("seed", "search_seed"):
        if isinstance(spec[key], bool) or not isinstance(spec[key], int) or spec[key] < 0:
            fail(f"{key} must be an integer >= 0, got {spec[key]!r}")
    if not isinstance(spec["env_kwargs"], dict):
        fail(f"env_kwargs must be a mapping, got {spec['env_kwargs']!r}")
    if spec["hyperparams"] is not None:
        hp = Path(spec["hyperparams"])
        hp = hp if hp.is_absolute() else (path.parent / hp)
        if not hp.is_file():
            fail(f"hyperparams: file {hp} not found")
        spec["hyperparams"] = str(hp.resolve())
    search = spec.get("search")
    if not isinstance(search, dict) or not search:
        fail("search must map hyperparameter names to samplers, e.g. "
             "learning_rate: {loguniform: [1.0e-5, 1.0e-3]}")
    for name, sampler in search.items():
        where = f"search.{name}"
        if name not in KNOWN_KEYS:
            fail(f"{where}: unknown hyperparameter; known: {sorted(KNOWN_KEYS)}")
        if not isinstance(sampler, dict) or len(sampler) != 1:
            fail(f"{where}: expected one sampler of {list(SAMPLERS)}, got {sampler!r}")
        (kind, args), = sampler.items()
        if kind not in SAMPLERS:
            fail(f"{where}: unknown sampler {kind!r}; samplers: {list(SAMPLERS)}")
        if not isinstance(args, list) or not args:
            fail(f"{where}.{kind}: expected a non-empty list, got {args!r}")
        if kind in ("uniform", "loguniform", "randint"):
            if len(args) != 2 or not all(isinstance(a, (int, float)) for a in args) \
                    or not args[0] < args[1] or (kind == "loguniform" and args[0] <= 0):
                low = "0 < low" if kind == "loguniform" else "low"
                fail(f"{where}.{kind}: expected [low, high] with {low} < high, got {args!r}")
    return spec


def _space(search: dict[str, dict[str, list]]) -> dict[str, Any]:
    from ray import tune

    make = {"choice": tune.choice, "grid": tune.grid_search,
            "uniform": lambda a: tune.uniform(*a), "loguniform": lambda a: tune.loguniform(*a),
            "randint": lambda a: tune.randint(*a)}
    return {name: make[kind](args) for name, s in search.items() for kind, args in s.items()}


def train_trial(config: dict[str, Any], spec: dict[str, Any], trials_dir: str) -> dict[str, Any]:
    """Run train.py once with ``config`` over the base hyperparameters; return the score."""
    from ray import tune

    from octogym.agents.config import load_hyperparams
    name = tune.get_context().get_trial_name() if _in_tune() else "trial"
    run = Path(trials_dir) / name
    run.mkdir(parents=True, exist_ok=True)
    hp = load_hyperparams(spec["algo"], spec["env"], spec["hyperparams"])
    hp.update({k: v.item() if hasattr(v, "item") else v for k, v in config.items()})
    hp_file = run / "hyperparams.yml"
    hp_file.write_text(yaml.safe_dump({spec["env"]: hp}, sort_keys=False))
    cmd = [sys.executable, str(TRAIN_PY), "--env", spec["env"], "--algo", spec["algo"],
           "--timesteps", str(spec["timesteps"]), "--hyperparams", str(hp_file),
           "--seed", str(spec["seed"]), "--env-kwargs", json.dumps(spec["env_kwargs"]),
           "--out", str(run), "--eval-every", str(spec["timesteps"]),
           "--eval-episodes", str(spec["eval_episodes"]), "--eval-references", "",
           "--checkpoint-every", str(spec["timesteps"]), "--no-progress", "--no-tensorboard"]
    p = subprocess.run(cmd, cwd=TRAIN_PY.parent, capture_output=True, text=True)
    (run / "train.log").write_text(p.stdout + p.stderr)
    if p.returncode != 0:
        raise RuntimeError(f"train.py failed in trial {name} (exit {p.returncode}); "
                           f"{run / 'train.log'}:\n{p.stderr[-2000:]}")
    last = list(csv.DictReader((run / "eval.csv").open()))[-1]
    result = {METRIC: float(last["latency_mean_us"]), "timesteps": int(last["timesteps"]),
              "run_dir": str(run)}
    if _in_tune():
        tune.report(result)
    return result


def _in_tune() -> bool:
    from ray import tune
    try:
        return tune.get_context().get_trial_name() is not None
    except Exception:  # outside a Tune session the context has no trial
        return False


def run_tune(spec: TuneSpec, out: str | Path, *, address: str | None = None,
             num_cpus: int | None = None, verbose: int = 1) -> dict[str, Any]:
    """Run the search on Ray (``address``/``num_cpus``: see ``octogym.distributed.connect``)
    and copy the best trial's run directory to ``out/best``. Returns ``{"best", "latency",
    "config", "results"}`` (paths and the best trial's score and sample)."""
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    from octogym.distributed import connect

    if not TRAIN_PY.is_file():
        raise RuntimeError(f"train.py not found at {TRAIN_PY}: Tune sweeps need a source "
                           "checkout of octogym")
    out = Path(out).resolve()
    trials = out / "trials"
    trials.mkdir(parents=True, exist_ok=True)
    connect(address, num_cpus)
    trainable = tune.with_parameters(train_trial, spec=dict(spec), trials_dir=str(trials))
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space=_space(spec["search"]),
        tune_config=tune.TuneConfig(
            metric=METRIC, mode="min", num_samples=spec["num_samples"],
            search_alg=BasicVariantGenerator(random_state=spec["search_seed"])),
        run_config=tune.RunConfig(name=spec["name"], storage_path=str(out / "tune"),
                                  verbose=verbose),
    )
    grid = tuner.fit()
    errors = [str(r.error) for r in grid if r.error is not None]
    if errors and len(errors) == len(grid):
        raise RuntimeError(f"every trial failed; first error: {errors[0]}")
    rows = [{**{f"config/{k}": v for k, v in r.config.items()},
             METRIC: r.metrics.get(METRIC), "run_dir": r.metrics.get("run_dir"),
             "error": "" if r.error is None else type(r.error).__name__} for r in grid]
    with (out / "results.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows(rows)
    best = grid.get_best_result(metric=METRIC, mode="min")
    best_dir = out / "best"
    if best_dir.exists():
        shutil.rmtree(best_dir)
    shutil.copytree(best.metrics["run_dir"], best_dir)
    return {"best": best_dir, "latency": best.metrics[METRIC], "config": best.config,
            "results": out / "results.csv", "trials": len(rows), "failed": len(errors)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m octogym.agents.tune",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path, help="the search file (YAML)")
    ap.add_argument("--out", type=Path, default=None, help="default runs/tune-<name>")
    ap.add_argument("--ray", nargs="?", const="local", default="local", metavar="ADDRESS",
                    help="Ray cluster to join ('auto', ray://HOST:10001); default: a local "
                         "instance with --cpus CPUs")
    ap.add_argument("--cpus", type=int, default=None,
                    help="CPUs of a local Ray instance = trials at once (default: all)")
    args = ap.parse_args(argv)
    from octogym.distributed import require_ray
    try:
        require_ray()
        spec = load_tune_spec(args.file)
        local = args.ray == "local"
        res = run_tune(spec, args.out or Path("runs") / f"tune-{spec['name']}",
                       address=None if local else args.ray,
                       num_cpus=args.cpus if local else None)
    except (ValueError, RuntimeError) as e:
        print(f"tune: error: {e}", file=sys.stderr)
        return 2
    print(f"tune {spec['name']}: {res['trials']} trials ({res['failed']} failed); best "
          f"held-out latency {res['latency']:.1f} us with {res['config']}; best run "
          f"{res['best']}; all trials {res['results']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
