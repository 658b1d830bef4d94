#!/usr/bin/env python
"""Train a learned scheduling agent (PPO / MaskablePPO) on an octogym environment.

Reads top to bottom: the arguments, the run they resolve to (fresh or resumed), seeding, the
env, the model, the optional imitation warm start, the logger and callbacks (progress bar and
steps per second, checkpoints, held-out evaluation), the loop, the reference lines and the
learning curve. See ``docs/agents.md``.

    python train.py --env octogym/TBUAssign-v0 --algo maskable_ppo --timesteps 200000
    python train.py --resume runs/octogym-TBUAssign-v0-maskable_ppo-0/checkpoints/step_00100000.zip

Output directory (``--out``, default ``runs/<env>-<algo>-<seed>``):

    final.zip, config.json               the final model and what it was trained on
    final_vecnormalize.pkl               VecNormalize statistics (only with ``normalize``)
    checkpoints/step_<N>.zip, config.json   periodic checkpoints (config = the latest)
    progress.csv, events.out.tfevents.*  SB3 logs (CSV always, continued on --resume;
                                         TensorBoard when installed); episode return/length
                                         via VecMonitor (rollout/ep_*)
    eval.csv                             held-out mean latency vs steps (``--eval-every``)
    curve.png                            learning curve from progress.csv and eval.csv

Every file is written under a temporary name and renamed (``octogym.agents.checkpoint``), so a
kill at any moment leaves the previous checkpoints intact and no half-written file behind a
final name. Checkpoints are trusted input: loading one unpickles files.

Seeds: training env ``i`` is seeded ``seed + i``; every such seed must be below
``octogym.evaluation.EVAL_SEED`` (10_000), the base of the evaluation seeds, so training and
evaluation episodes never coincide. The held-out evaluation during training (monitoring only,
never a training signal) plays single-env episodes ``reset(seed=EVAL_SEED + j)``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib.util
import inspect
import json
import sys
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octogym.agents.checkpoint import RESUME_KEYS, CheckpointError, read_config
from octogym.agents.config import TRAIN_KEYS, AlgoName, jsonable, load_hyperparams, normalises


@dataclass
class Args:
    env: str = "octogym/TBUAssign-v0"
    """the registered env id (``octogym.envs.registration.ENV_IDS``)"""
    algo: AlgoName = "maskable_ppo"
    """``ppo`` (stable-baselines3), ``maskable_ppo`` (sb3-contrib, uses the action masks) or
    ``ppo_native`` (ours: masked PPO on the native vector env, hundreds of envs)"""
    n_envs: int | None = None
    """envs in the batched kernel (default: the hyperparameter file's ``n_envs``)"""
    timesteps: int | None = None
    """total env steps of the run, counting those of a resumed checkpoint (default: the
    hyperparameter file's ``n_timesteps``)"""
    seed: int = 0
    """base seed: env ``i`` is seeded ``seed + i``; all must be < 10_000 (evaluation seeds)"""
    hyperparams: str | None = None
    """rl-zoo3-style YAML file (default: ``agents/hyperparams/<algo>.yml``)"""
    policy: str | None = None
    """the policy network: ``MlpPolicy`` or ``entity`` (the size-agnostic entity policy,
    ``octogym.agents.entity_policy``; needs ``--algo maskable_ppo`` or ``ppo_native`` and
    ``--env-kwargs obs_mode=entities``); default: the hyperparameter file's ``policy``"""
    env_kwargs: list[str] = field(default_factory=list)
    """env keywords: one JSON object or ``key=value`` pairs (values parsed as JSON if they can
    be, e.g. ``requests_per_episode=50 hardware=wafer``)"""
    out: str | None = None
    """output directory (default ``runs/<env>-<algo>-<seed>``, ``/`` replaced by ``-``; with
    ``--resume``, the checkpoint's run directory)"""
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
    eval_every: int = 50_000
    """every this many env steps (and before the first PPO update), play ``--eval-episodes``
    held-out episodes (seeds from 10_000) with the deterministic policy and log their mean
    latency (``eval/latency_mean``, eval.csv, curve.png); 0 turns it off"""
    eval_episodes: int = 3
    """held-out episodes per evaluation"""
    eval_references: str = "random,round_robin,least_loaded,adaptive,proactive"
    """schedulers played (``HeuristicAgent``, same env, same held-out episodes) at the end of
    the run for reference lines in curve.png (eval_references.json); empty for none"""


#: Options a resumed run takes from the checkpoint's config.json (passing one is an error).
FROM_CHECKPOINT = {"env": "env_id", "algo": "algo", "seed": "seed", "env_kwargs": "env_kwargs",
                   "hyperparams": "hyperparams", "n_envs": "n_envs", "policy": "hyperparams"}


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each dataclass field (CleanRL style), for ``--help``."""
    body = ast.parse(inspect.getsource(cls)).body[0].body
    docs = {}
    for a, b in zip(body, body[1:], strict=False):
        if (isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr)
                and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str)):
            docs[a.target.id] = " ".join(b.value.value.split())
    return docs


def argument(hint: Any) -> dict[str, Any]:
    """argparse keywords for a field annotated ``hint``: ``bool`` a ``--x/--no-x`` flag,
    ``Literal[...]`` its choices, ``list[T]`` zero or more ``T``, else ``type=hint``
    (``X | None`` as ``X``)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(hint) is typing.Literal:
        return {"choices": typing.get_args(hint)}
    if typing.get_origin(hint) is list:
        return {"nargs": "*", "type": typing.get_args(hint)[0]}
    return {"type": hint}


def parse_args(argv: list[str] | None = None) -> tuple[Args, set[str]]:
    """``Args`` from the command line, and the names of the fields given on it."""
    docs, hints = field_docs(Args), typing.get_type_hints(Args)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for f in dataclasses.fields(Args):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        # SUPPRESS: an option not given leaves no attribute, so we know which were given
        p.add_argument("--" + f.name.replace("_", "-"), default=argparse.SUPPRESS,
                       help=docs[f.name] + ("" if default is None else f" (default: {default})"),
                       **argument(hints[f.name]))
    given = vars(p.parse_args(argv))
    return Args(**given), set(given)


def fail(msg: str) -> typing.NoReturn:
    print(f"train.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_env_kwargs(items: list[str]) -> dict[str, Any]:
    """``['{"load": 0.9}']`` or ``['load=0.9', 'hardware=wafer']`` -> dict, keys validated
    against the env options (``octogym.envs.config``). Raises ``ValueError`` saying what is
    wrong."""
    from octogym.envs.config import ENV_OPTIONS, ROLES
    if len(items) == 1 and items[0].lstrip().startswith("{"):
        try:
            kw = json.loads(items[0])
        except json.JSONDecodeError as e:
            raise ValueError(f"invalid JSON: {e}") from None
    else:
        kw = {}
        for item in items:
            if "=" not in item:
                raise ValueError(f"expected key=value or one JSON object, got {item!r}")
            key, text = item.split("=", 1)
            try:
                kw[key] = json.loads(text)
            except json.JSONDecodeError:
                kw[key] = text
    allowed = set(ENV_OPTIONS) - set(ROLES["display"])
    unknown = set(kw) - allowed
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    return kw


@dataclass
class Run:
    """What a run trains, derived once from ``Args`` (and a resumed checkpoint's config)."""

    env: str
    algo: str
    seed: int
    n_envs: int
    env_kwargs: dict[str, Any]
    hp: dict[str, Any]
    timesteps: int
    out: Path
    tensorboard: bool
    references: list[str]
    resume: Path | None = None
    pretrain_stats: dict[str, Any] | None = None

    def config(self) -> dict[str, Any]:
        """What ``config.json`` records (``make_agent`` and ``--resume`` read it)."""
        cfg = {"env_id": self.env, "env_kwargs": self.env_kwargs, "algo": self.algo,
               "seed": self.seed, "n_envs": self.n_envs, "hyperparams": jsonable(self.hp),
               "target_timesteps": self.timesteps}
        if self.pretrain_stats is not None:
            cfg["pretrain_stats"] = self.pretrain_stats
        return cfg


def resolve(args: Args, given: set[str]) -> Run:
    """The :class:`Run` of ``args``: a fresh run, or (``--resume``) the checkpoint's config.
    Raises ``ValueError`` (a :class:`CheckpointError` for a damaged checkpoint) naming the
    bad option or file."""
    import octogym  # noqa: F401  (registers the ids)
    from octogym.envs.registration import ENV_IDS
    from octogym.evaluation import EVAL_SEED
    from octogym.schedulers import SCHEDULERS

    cfg: dict[str, Any] = {}
    if args.resume:
        ckpt = Path(args.resume)
        if ckpt.suffix != ".zip" or not ckpt.is_file():
            raise CheckpointError(ckpt, "not a checkpoint .zip")
        cfg = read_config(ckpt, RESUME_KEYS)
        for name in sorted(given & set(FROM_CHECKPOINT)):
            key = FROM_CHECKPOINT[name]
            raise ValueError(f"--resume takes --{name.replace('_', '-')} from the checkpoint's "
                             f"config.json ({key} = {cfg[key]!r}); do not pass it")
        env, algo, seed, n_envs = cfg["env_id"], cfg["algo"], cfg["seed"], cfg["n_envs"]
        env_kwargs, hp = cfg["env_kwargs"], dict(cfg["hyperparams"])
        target = cfg.get("target_timesteps")
        if target is not None and (not isinstance(target, int) or target < 1):
            raise CheckpointError(ckpt.parent / "config.json",
                                  f"'target_timesteps' must be a positive int, got {target!r}")
        out = Path(args.out) if args.out else ckpt.parent.parent
    else:
        env, algo, seed = args.env, args.algo, args.seed
        if env not in ENV_IDS:
            raise ValueError(f"--env: unknown env {env!r}; one of {list(ENV_IDS)}")
        try:
            env_kwargs = parse_env_kwargs(args.env_kwargs)
        except ValueError as e:
            raise ValueError(f"--env-kwargs: {e}") from None
        try:
            hp = load_hyperparams(algo, env, args.hyperparams)
        except (FileNotFoundError, KeyError, ValueError) as e:
            raise ValueError(f"--hyperparams: {e.args[0] if isinstance(e, KeyError) else e}"
                             ) from None
        if args.policy:
            hp["policy"] = args.policy
        check_entity_run(algo, env_kwargs, hp)
        n_envs = args.n_envs or hp.get("n_envs", 8)
        target = None
        out = Path(args.out or f"runs/{env.replace('/', '-')}-{algo}-{seed}")
    if n_envs < 1:
        raise ValueError("--n-envs must be >= 1")
    timesteps = args.timesteps or int(target or hp.get("n_timesteps", 1_000_000))
    # n_timesteps: 0 with a ppo_native warm start: the imitated policy alone, no PPO
    imitation_only = timesteps == 0 and algo == "ppo_native" and bool(hp.get("pretrain"))
    if (timesteps < 1 and not imitation_only) or args.checkpoint_every < 1:
        raise ValueError("--timesteps and --checkpoint-every must be >= 1 (n_timesteps: 0 "
                         "only for ppo_native with a pretrain: the imitation alone)")
    if args.eval_every < 0 or args.eval_episodes < 1:
        raise ValueError("--eval-every must be >= 0 and --eval-episodes >= 1")
    references = [n for n in args.eval_references.split(",") if n]
    unknown = [n for n in references if n not in SCHEDULERS]
    if unknown:
        raise ValueError(f"--eval-references: unknown schedulers {unknown}; one of "
                         f"{sorted(SCHEDULERS)}")
    if seed < 0 or seed + n_envs > EVAL_SEED:
        raise ValueError(f"training seeds are seed .. seed + n_envs - 1 = {seed} .. "
                         f"{seed + n_envs - 1}; they must lie in [0, {EVAL_SEED}) (seeds from "
                         f"{EVAL_SEED} on are evaluation seeds, see octogym/evaluation/)")
    if env_kwargs.get("workflow_split", "train") != "train":
        raise ValueError("--env-kwargs workflow_split: training draws generated workflows from "
                         "the 'train' split only ('held_out' is for evaluation, "
                         "octogym/envs/distribution.py)")
    tb_available = importlib.util.find_spec("tensorboard") is not None
    if args.tensorboard and not tb_available:
        raise ValueError("--tensorboard: the tensorboard package is not installed (pip install "
                         "tensorboard) - or pass --no-tensorboard; progress.csv is written "
                         "either way")
    if args.tensorboard is None and not tb_available:
        print("train.py: tensorboard not installed: logging to progress.csv only",
              file=sys.stderr)
    return Run(env=env, algo=algo, seed=seed, n_envs=n_envs, env_kwargs=env_kwargs, hp=hp,
               timesteps=timesteps, out=out, references=references,
               tensorboard=tb_available if args.tensorboard is None else args.tensorboard,
               resume=Path(args.resume) if args.resume else None,
               pretrain_stats=cfg.get("pretrain_stats"))


def check_entity_run(algo: str, env_kwargs: dict[str, Any], hp: dict[str, Any]) -> None:
    """``ValueError`` unless an ``entity`` policy run can work (the policy scores entity
    observations and is a MaskablePPO or ppo_native policy; MaskablePPO's imitation warm
    start is flat-only)."""
    from octogym.agents.entity_policy import POLICY_NAME

    if hp.get("policy") != POLICY_NAME:
        return
    if algo not in ("maskable_ppo", "ppo_native"):
        raise ValueError(f"--policy {POLICY_NAME} needs --algo maskable_ppo or ppo_native, "
                         f"got {algo!r}")
    if env_kwargs.get("obs_mode") != "entities":
        raise ValueError(f"--policy {POLICY_NAME} needs --env-kwargs obs_mode=entities")
    if hp.get("pretrain") and algo != "ppo_native":
        raise ValueError(f"--policy {POLICY_NAME}: the hyperparameters' 'pretrain' (imitation) "
                         "takes flat observations only with maskable_ppo (ppo_native's takes "
                         "both); use --hyperparams agents/hyperparams/maskable_ppo_entity.yml")
    if normalises(hp, "obs"):
        raise ValueError(f"--policy {POLICY_NAME}: normalize must set norm_obs=False (entity "
                         "observations are in [0, 1])")


def main(argv: list[str] | None = None) -> int:
    args, given = parse_args(argv)
    try:
        run = resolve(args, given)
    except CheckpointError as e:
        fail(f"--resume: {e}")
    except ValueError as e:
        fail(str(e))

    if run.algo == "ppo_native":  # ours, on the native vector env: octogym.agents.ppo_run
        from octogym.agents.ppo_run import train_native
        try:
            return train_native(run, args)
        except CheckpointError as e:
            fail(f"--resume: {e}")
        except ValueError as e:
            fail(str(e))

    # ---- seeding: python, numpy and torch (SB3 seeds them again, with the same seed) -----
    # (torch and SB3 are imported only now, so that --help and bad arguments answer at once)
    import torch
    from stable_baselines3.common.utils import set_random_seed
    set_random_seed(run.seed)
    torch.set_num_threads(args.torch_threads)

    # ---- env -----------------------------------------------------------------------------
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    from octogym.agents.callbacks import Checkpoint, HeldOut, Progress
    from octogym.agents.checkpoint import (
        algo_class,
        load_model,
        load_vecnormalize,
        remove_temporaries,
        save_checkpoint,
    )
    from octogym.agents.imitation import imitate
    from octogym.agents.logs import finish_run, keep_rows_until, make_logger
    from octogym.envs.sb3 import make_sb3_vec_env
    try:  # training env i is seeded seed + i
        venv = make_sb3_vec_env(run.env, n_envs=run.n_envs, seed=run.seed, **run.env_kwargs)
    except (TypeError, ValueError) as e:
        fail(f"--env-kwargs: the env rejected {run.env_kwargs}: {e}")
    # VecMonitor under VecNormalize: rollout/ep_rew_mean is the raw (unnormalised) return.
    venv = VecMonitor(venv)

    # ---- model: new, or the checkpoint's (policy, optimiser, step count, statistics) -----
    if run.resume is not None:
        try:
            if normalises(run.hp):
                venv = load_vecnormalize(run.resume, run.hp, venv)
            model = load_model(run.resume, run.algo, env=venv)
        except CheckpointError as e:
            fail(f"--resume: {e}")
    else:
        if normalises(run.hp):
            norm_kw = run.hp["normalize"]
            venv = VecNormalize(venv, **(norm_kw if isinstance(norm_kw, dict) else {}))
        algo_kw = {k: v for k, v in run.hp.items() if k not in TRAIN_KEYS}
        from octogym.agents.entity_policy import resolve_policy
        policy, pkw = resolve_policy(run.hp.get("policy", "MlpPolicy"), run.env,
                                     algo_kw.pop("policy_kwargs", None))
        if pkw is not None:
            algo_kw["policy_kwargs"] = pkw
        model = algo_class(run.algo)(policy, venv, seed=run.seed, device="cpu", verbose=0,
                                     **algo_kw)
    norm = venv if isinstance(venv, VecNormalize) else None

    # ---- optional warm start: imitate a heuristic (hyperparameter ``pretrain``) ----------
    if run.resume is None and run.hp.get("pretrain"):
        pre = run.hp["pretrain"]
        pre = pre if isinstance(pre, dict) else {"teacher": pre}
        t0 = time.perf_counter()
        run.pretrain_stats = imitate(model, norm, run.env, run.env_kwargs, seed=run.seed, **pre)
        print(f"train.py: imitated {pre['teacher']!r}: {run.pretrain_stats['samples']:,} "
              f"samples, action agreement {run.pretrain_stats['agreement']:.3f}, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)

    # ---- logs and callbacks --------------------------------------------------------------
    out, ckpt_dir, config = run.out, run.out / "checkpoints", run.config()
    out.mkdir(parents=True, exist_ok=True)
    for folder in (out, ckpt_dir):  # what a killed save left; never loaded
        remove_temporaries(folder)
    start = model.num_timesteps if run.resume is not None else None
    if start is not None:
        keep_rows_until(out / "eval.csv", start, key="timesteps")
    model.set_logger(make_logger(out, run.tensorboard, resume_step=start))
    callbacks = CallbackList([
        Progress(run.timesteps, show=args.progress),
        Checkpoint(args.checkpoint_every,
                   lambda n: save_checkpoint(model, norm, ckpt_dir / f"step_{n:08d}", config)),
        HeldOut(args.eval_every, args.eval_episodes, run.env, run.env_kwargs, venv,
                out / "eval.csv"),
    ])

    # ---- the loop ------------------------------------------------------------------------
    remaining = run.timesteps - model.num_timesteps
    if remaining <= 0:
        print(f"train.py: already at {model.num_timesteps:,} >= --timesteps {run.timesteps:,}")
    else:
        try:
            model.learn(remaining, callback=callbacks, reset_num_timesteps=run.resume is None,
                        progress_bar=False)
        except KeyboardInterrupt:
            save_checkpoint(model, norm, ckpt_dir / f"step_{model.num_timesteps:08d}", config)
            print(f"train.py: interrupted; checkpoint at {model.num_timesteps:,} steps in "
                  f"{ckpt_dir}", file=sys.stderr)
            return 130
    save_checkpoint(model, norm, out / "final", config)
    print(f"train.py: saved {out / 'final.zip'}")
    venv.close()
    finish_run(out, run, args.eval_every, args.eval_episodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
