#!/usr/bin/env python
"""Train a learned scheduling agent (PPO / MaskablePPO) on an octogym environment.

Reads top to bottom: the arguments, the env, the model, the callbacks (progress bar,
steps per second, checkpoints), the loop. See ``docs/agents.md``.

    python train.py --env octogym/TBUAssign-v0 --algo maskable_ppo --timesteps 200000
    python train.py --resume runs/octogym-TBUAssign-v0-maskable_ppo-0/checkpoints/step_00100000.zip

Output directory (``--out``, default ``runs/<env>-<algo>-<seed>``):

    final.zip, config.json               the final model and what it was trained on
    final_vecnormalize.pkl               VecNormalize statistics (only with ``normalize``)
    checkpoints/step_<N>.zip, config.json   periodic checkpoints (config = the latest)
    progress.csv, events.out.tfevents.*  SB3 logs (CSV always; TensorBoard when installed)

Seeds: training env ``i`` is seeded ``seed + i``; every such seed must be below
``octogym.evaluation.EVAL_SEED`` (10_000), the base of the evaluation seeds, so training and
evaluation episodes never coincide.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib.util
import inspect
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALGOS = ("ppo", "maskable_ppo")


@dataclass
class Args:
    env: str = "octogym/TBUAssign-v0"
    """the registered env id (``octogym.envs.registration.ENV_IDS``)"""
    algo: str = "maskable_ppo"
    """``ppo`` (stable-baselines3) or ``maskable_ppo`` (sb3-contrib, uses the action masks)"""
    n_envs: int | None = None
    """envs in the batched kernel (default: the hyperparameter file's ``n_envs``)"""
    timesteps: int | None = None
    """total env steps of the run, counting those of a resumed checkpoint (default: the
    hyperparameter file's ``n_timesteps``)"""
    seed: int = 0
    """base seed: env ``i`` is seeded ``seed + i``; all must be < 10_000 (evaluation seeds)"""
    hyperparams: str | None = None
    """rl-zoo3-style YAML file (default: ``agents/hyperparams/<algo>.yml``)"""
    env_kwargs: list[str] = field(default_factory=list)
    """env keywords: one JSON object or ``key=value`` pairs (values parsed as JSON if they can
    be, e.g. ``requests_per_episode=50 hardware=wafer``)"""
    out: str | None = None
    """output directory (default ``runs/<env>-<algo>-<seed>``, ``/`` replaced by ``-``)"""
    checkpoint_every: int = 50_000
    """save a checkpoint every this many env steps (an interrupted run loses at most this)"""
    resume: str | None = None
    """continue from a checkpoint ``.zip`` (its ``config.json`` gives env, kwargs, algo, seed,
    hyperparameters; step count, optimiser and normalisation state are restored)"""
    tensorboard: bool | None = None
    """TensorBoard logs in ``--out`` (default: on when ``tensorboard`` is installed)"""
    progress: bool = True
    """show a tqdm progress bar"""
    torch_threads: int = 1
    """torch CPU threads (the kernel is the bottleneck; small MLPs gain nothing from more)"""


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each dataclass field (CleanRL style), for ``--help``."""
    body = ast.parse(inspect.getsource(cls)).body[0].body
    docs = {}
    for a, b in zip(body, body[1:], strict=False):
        if (isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr)
                and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str)):
            docs[a.target.id] = " ".join(b.value.value.split())
    return docs


def parse_args(argv: list[str] | None = None) -> Args:
    docs = field_docs(Args)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(Args):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if f.type in ("bool | None", "bool"):
            p.add_argument(flag, default=default, action=argparse.BooleanOptionalAction,
                           help=docs[f.name])
        elif f.name == "env_kwargs":
            p.add_argument(flag, nargs="*", default=default, help=docs[f.name])
        elif f.name == "algo":
            p.add_argument(flag, default=default, choices=ALGOS, help=docs[f.name])
        else:
            typ = int if "int" in str(f.type) else str
            p.add_argument(flag, type=typ, default=default, help=docs[f.name])
    ns = p.parse_args(argv)
    args = Args(**vars(ns))
    # Remember which options were given, so --resume can reject contradictory ones.
    args._given = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:])
                   if a.startswith("--")}
    return args


def fail(msg: str) -> None:
    print(f"train.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_env_kwargs(items: list[str]) -> dict[str, Any]:
    """``['{"load": 0.9}']`` or ``['load=0.9', 'hardware=wafer']`` -> dict, keys validated
    against the env constructor."""
    from octogym.envs.env import OctoEnv
    if len(items) == 1 and items[0].lstrip().startswith("{"):
        try:
            kw = json.loads(items[0])
        except json.JSONDecodeError as e:
            fail(f"--env-kwargs: invalid JSON: {e}")
    else:
        kw = {}
        for item in items:
            if "=" not in item:
                fail(f"--env-kwargs: expected key=value or one JSON object, got {item!r}")
            key, text = item.split("=", 1)
            try:
                kw[key] = json.loads(text)
            except json.JSONDecodeError:
                kw[key] = text
    allowed = set(inspect.signature(OctoEnv.__init__).parameters) - {"self", "render_mode",
                                                                      "viewer"}
    unknown = set(kw) - allowed
    if unknown:
        fail(f"--env-kwargs: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    return kw


def check_seeds(seed: int, n_envs: int) -> None:
    from octogym.evaluation import EVAL_SEED
    if seed < 0 or seed + n_envs > EVAL_SEED:
        fail(f"training seeds are seed .. seed + n_envs - 1 = {seed} .. {seed + n_envs - 1}; "
             f"they must lie in [0, {EVAL_SEED}) (seeds from {EVAL_SEED} on are evaluation "
             "seeds, see octogym/evaluation.py)")


def jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=lambda o: getattr(o, "__name__", str(o))))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    # ---- configuration: fresh run or resumed checkpoint ----------------------------------
    from octogym.agents.config import load_hyperparams
    resume_cfg = None
    if args.resume:
        ckpt = Path(args.resume)
        if ckpt.is_dir() or ckpt.suffix != ".zip" or not ckpt.is_file():
            fail(f"--resume: {ckpt} is not a checkpoint .zip")
        cfg_path = ckpt.parent / "config.json"
        if not cfg_path.is_file():
            fail(f"--resume: no config.json beside {ckpt}")
        resume_cfg = json.loads(cfg_path.read_text())
        for opt, key in (("--env", "env_id"), ("--algo", "algo"), ("--seed", "seed"),
                         ("--env-kwargs", "env_kwargs"), ("--hyperparams", "hyperparams"),
                         ("--n-envs", "n_envs")):
            if opt in args._given:
                fail(f"--resume takes {opt} from the checkpoint's config.json "
                     f"({key} = {resume_cfg[key]!r}); do not pass it")
        args.env, args.algo, args.seed = resume_cfg["env_id"], resume_cfg["algo"], \
            resume_cfg["seed"]
        env_kwargs = resume_cfg["env_kwargs"]
        hp = dict(resume_cfg["hyperparams"])
        args.n_envs = resume_cfg["n_envs"]
        if args.out is None:
            args.out = str(ckpt.parent.parent)
    else:
        import octogym  # noqa: F401  (registers the ids)
        from octogym.envs.registration import ENV_IDS
        if args.env not in ENV_IDS:
            fail(f"--env: unknown env {args.env!r}; one of {list(ENV_IDS)}")
        env_kwargs = parse_env_kwargs(args.env_kwargs)
        try:
            hp = load_hyperparams(args.algo, args.env, args.hyperparams)
        except (FileNotFoundError, KeyError, ValueError) as e:
            fail(f"--hyperparams: {e.args[0] if isinstance(e, KeyError) else e}")
        args.n_envs = args.n_envs or hp.get("n_envs", 8)
    if args.n_envs < 1:
        fail("--n-envs must be >= 1")
    timesteps = args.timesteps or int((resume_cfg or {}).get("target_timesteps")
                                      or hp.get("n_timesteps", 1_000_000))
    if timesteps < 1 or args.checkpoint_every < 1:
        fail("--timesteps and --checkpoint-every must be >= 1")
    check_seeds(args.seed, args.n_envs)
    out = Path(args.out or f"runs/{args.env.replace('/', '-')}-{args.algo}-{args.seed}")
    tb_available = importlib.util.find_spec("tensorboard") is not None
    if args.tensorboard and not tb_available:
        fail("--tensorboard: the tensorboard package is not installed (pip install tensorboard) "
             "- or pass --no-tensorboard; progress.csv is written either way")
    use_tb = tb_available if args.tensorboard is None else args.tensorboard
    if args.tensorboard is None and not tb_available:
        print("train.py: tensorboard not installed: logging to progress.csv only",
              file=sys.stderr)

    # ---- env and model -------------------------------------------------------------------
    import torch
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import VecNormalize

    from octogym.envs.sb3 import make_sb3_vec_env
    torch.set_num_threads(args.torch_threads)
    if args.algo == "maskable_ppo":
        from sb3_contrib import MaskablePPO as Algo
    else:
        from stable_baselines3 import PPO as Algo

    try:
        venv = make_sb3_vec_env(args.env, n_envs=args.n_envs, seed=args.seed, **env_kwargs)
    except (TypeError, ValueError) as e:
        fail(f"--env-kwargs: the env rejected {env_kwargs}: {e}")
    normalize = hp.get("normalize", False)
    if resume_cfg is not None:
        stats = Path(args.resume).with_name(Path(args.resume).stem + "_vecnormalize.pkl")
        if normalize:
            if not stats.is_file():
                fail(f"--resume: the run normalises but {stats} is missing")
            venv = VecNormalize.load(str(stats), venv)
        # The .zip holds num_timesteps, the policy and the optimiser state.
        model = Algo.load(args.resume, env=venv, device="cpu")
    else:
        if normalize:
            venv = VecNormalize(venv, **(normalize if isinstance(normalize, dict) else {}))
        algo_kw = {k: v for k, v in hp.items()
                   if k not in {"n_envs", "n_timesteps", "policy", "normalize"}}
        model = Algo(hp.get("policy", "MlpPolicy"), venv, seed=args.seed, device="cpu",
                     verbose=0, **algo_kw)
    out.mkdir(parents=True, exist_ok=True)
    model.set_logger(configure(str(out), ["csv"] + (["tensorboard"] if use_tb else [])))

    config = {"env_id": args.env, "env_kwargs": env_kwargs, "algo": args.algo,
              "seed": args.seed, "n_envs": args.n_envs, "hyperparams": jsonable(hp),
              "target_timesteps": timesteps}

    def save(stem: Path) -> None:
        """``stem.zip`` (+ VecNormalize stats) and ``config.json`` beside it."""
        stem.parent.mkdir(parents=True, exist_ok=True)
        model.save(str(stem) + ".zip")
        if isinstance(venv, VecNormalize):
            venv.save(str(stem) + "_vecnormalize.pkl")
        cfg = {**config, "timesteps_done": int(model.num_timesteps), "checkpoint": stem.name}
        tmp = stem.parent / "config.json.tmp"
        tmp.write_text(json.dumps(cfg, indent=2) + "\n")
        os.replace(tmp, stem.parent / "config.json")  # atomic: never a half-written config

    # ---- callbacks: progress, steps per second, checkpoints -------------------------------
    class Progress(BaseCallback):
        """tqdm bar over env steps and steps per second (printed and logged as
        ``time/steps_per_second`` at every rollout)."""

        def _on_training_start(self) -> None:
            from tqdm import tqdm
            self.bar = tqdm(total=timesteps, initial=self.model.num_timesteps, unit="step",
                            disable=not args.progress, dynamic_ncols=True)
            self.t0, self.n0 = time.perf_counter(), self.model.num_timesteps

        def _on_step(self) -> bool:
            self.bar.update(self.model.num_timesteps - self.bar.n)
            return True

        def _on_rollout_end(self) -> None:
            sps = (self.model.num_timesteps - self.n0) / (time.perf_counter() - self.t0)
            self.logger.record("time/steps_per_second", sps)
            self.bar.set_postfix(sps=f"{sps:,.0f}")
            if not args.progress:
                print(f"steps {self.model.num_timesteps:,}  sps {sps:,.0f}", flush=True)

        def _on_training_end(self) -> None:
            self.bar.close()
            sps = (self.model.num_timesteps - self.n0) / (time.perf_counter() - self.t0)
            print(f"train.py: {self.model.num_timesteps:,} steps, {sps:,.0f} steps/s")

    class Checkpoint(BaseCallback):
        """Save to ``checkpoints/step_<N>`` each time the step count crosses a multiple of
        ``--checkpoint-every``."""

        def _on_training_start(self) -> None:
            self.next = (self.model.num_timesteps // args.checkpoint_every + 1) \
                * args.checkpoint_every

        def _on_step(self) -> bool:
            if self.model.num_timesteps >= self.next:
                save(out / "checkpoints" / f"step_{self.model.num_timesteps:08d}")
                self.next = (self.model.num_timesteps // args.checkpoint_every + 1) \
                    * args.checkpoint_every
            return True

    # ---- the loop ------------------------------------------------------------------------
    remaining = timesteps - model.num_timesteps
    if remaining <= 0:
        print(f"train.py: already at {model.num_timesteps:,} >= --timesteps {timesteps:,}")
    else:
        try:
            model.learn(remaining, callback=CallbackList([Progress(), Checkpoint()]),
                        reset_num_timesteps=resume_cfg is None, progress_bar=False)
        except KeyboardInterrupt:
            save(out / "checkpoints" / f"step_{model.num_timesteps:08d}")
            print(f"train.py: interrupted; checkpoint at {model.num_timesteps:,} steps in "
                  f"{out / 'checkpoints'}", file=sys.stderr)
            return 130
    save(out / "final")
    print(f"train.py: saved {out / 'final.zip'}")
    venv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
