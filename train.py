#!/usr/bin/env python
"""Train a learned scheduling agent (PPO / MaskablePPO) on an octogym environment.

Reads top to bottom: the arguments, the env, the model, the optional imitation warm start,
the callbacks (progress bar, steps per second, checkpoints, held-out evaluation), the loop, the
learning curve. See ``docs/agents.md``.

    python train.py --env octogym/TBUAssign-v0 --algo maskable_ppo --timesteps 200000
    python train.py --resume runs/octogym-TBUAssign-v0-maskable_ppo-0/checkpoints/step_00100000.zip

Output directory (``--out``, default ``runs/<env>-<algo>-<seed>``):

    final.zip, config.json               the final model and what it was trained on
    final_vecnormalize.pkl               VecNormalize statistics (only with ``normalize``)
    checkpoints/step_<N>.zip, config.json   periodic checkpoints (config = the latest)
    progress.csv, events.out.tfevents.*  SB3 logs (CSV always; TensorBoard when installed);
                                         episode return/length via VecMonitor (rollout/ep_*)
    eval.csv                             held-out mean latency vs steps (``--eval-every``)
    curve.png                            learning curve from progress.csv and eval.csv

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
    eval_every: int = 50_000
    """every this many env steps (and before the first PPO update), play ``--eval-episodes``
    held-out episodes (seeds from 10_000) with the deterministic policy and log their mean
    latency (``eval/latency_mean``, eval.csv, curve.png); 0 turns it off"""
    eval_episodes: int = 3
    """held-out episodes per evaluation"""
    eval_references: str = "random,round_robin,least_loaded,adaptive,proactive"
    """schedulers played (``HeuristicAgent``, same env, same held-out episodes) at the end of
    the run for reference lines in curve.png (eval_references.json); empty for none"""


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
    against the env options (``octogym.envs.config``)."""
    from octogym.envs.config import ENV_OPTIONS, ROLES
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
    allowed = set(ENV_OPTIONS) - set(ROLES["display"])
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


def imitate(model: Any, norm: Any, env_id: str, env_kwargs: dict[str, Any], seed: int,
            teacher: str, samples: int = 100_000, rounds: int = 2, epochs: int = 10,
            lr: float = 1e-3, batch_size: int = 256) -> dict[str, Any]:
    """Warm start (hyperparameter ``pretrain``): behaviour cloning of heuristic ``teacher``
    with DAgger rounds, plus a value-head fit, before PPO.

    Round 0 plays ``samples / rounds`` steps with the teacher (``HeuristicAgent``) on one
    training env (seed ``seed``, then its episode chain); each later round plays the current
    student (deterministic) and labels every visited state with the teacher's action. After
    each round the policy is fit to all labels so far (masked cross-entropy) and its value
    head to the discounted returns observed (reward scaled as VecNormalize will scale it: its
    return statistics are initialised from these rollouts). Returns summary statistics.
    """
    import gymnasium as gym
    import numpy as np
    import torch

    from octogym.agents import HeuristicAgent
    env = gym.make(env_id, **env_kwargs)
    agent = HeuristicAgent(teacher)
    policy = model.policy
    masked = "Maskable" in type(policy).__name__
    gen = torch.Generator().manual_seed(seed)
    gamma = float(model.gamma)
    obs_l, mask_l, act_l, rew_l, end_l = [], [], [], [], []
    norm_obs = norm is not None and norm.norm_obs
    norm_rew = norm is not None and norm.norm_reward

    def prep(o: np.ndarray) -> np.ndarray:
        return norm.normalize_obs(o).astype(np.float32) if norm_obs else o

    def fit() -> float:
        obs = np.asarray(obs_l, np.float32)
        rew = np.asarray(rew_l, np.float64)
        end = np.asarray(end_l, bool)
        if norm_obs:
            norm.obs_rms.update(obs)
        scale = 1.0
        if norm_rew:  # what VecNormalize does: running discounted return, its variance
            ret, rets = 0.0, np.empty_like(rew)
            for i, r in enumerate(rew):
                ret = ret * gamma + r
                rets[i] = ret
                if end[i]:
                    ret = 0.0
            norm.ret_rms = type(norm.ret_rms)(shape=())
            norm.ret_rms.update(rets)
            scale = 1.0 / float(np.sqrt(norm.ret_rms.var + norm.epsilon))
        target, valid, g = np.zeros_like(rew), np.zeros(len(rew), bool), None
        for i in range(len(rew) - 1, -1, -1):  # discounted return to the episode's end
            if end[i]:
                g = 0.0
            if g is not None:
                g = rew[i] * scale + gamma * g
                target[i], valid[i] = g, True
        O = torch.as_tensor(prep(obs))
        A = torch.as_tensor(np.asarray(act_l))
        M = torch.as_tensor(np.asarray(mask_l, bool))
        G = torch.as_tensor(target, dtype=torch.float32)
        W = torch.as_tensor(valid, dtype=torch.float32)
        opt = torch.optim.Adam(policy.parameters(), lr=lr)
        policy.set_training_mode(True)
        for _ in range(epochs):
            perm = torch.randperm(len(A), generator=gen)
            for i in range(0, len(A), batch_size):
                j = perm[i:i + batch_size]
                if masked:
                    v, logp, _ = policy.evaluate_actions(O[j], A[j], action_masks=M[j])
                else:
                    v, logp, _ = policy.evaluate_actions(O[j], A[j])
                v_loss = ((v.flatten() - G[j]) ** 2 * W[j]).sum() / W[j].sum().clamp(min=1)
                loss = -logp.mean() + model.vf_coef * v_loss
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), model.max_grad_norm)
                opt.step()
        policy.set_training_mode(False)
        with torch.no_grad():
            if masked:
                pred = policy.get_distribution(O, action_masks=M.numpy()).distribution.probs
            else:
                pred = policy.get_distribution(O).distribution.probs
        return float((pred.argmax(1) == A).float().mean())

    obs, info = env.reset(seed=seed)
    per_round = -(-samples // rounds)
    on_policy = None
    for rnd in range(rounds):
        start, same = len(act_l), 0
        while len(act_l) - start < per_round:
            mask = np.asarray(info["action_mask"], bool)
            label = agent.act(obs, mask, env)
            action = label
            if rnd > 0:
                kw = {"action_masks": mask} if masked else {}
                action = int(policy.predict(prep(obs[None]), deterministic=True, **kw)[0][0])
                same += action == label
            obs_l.append(obs)
            mask_l.append(mask)
            act_l.append(label)
            obs, r, term, trunc, info = env.step(action)
            rew_l.append(float(r))
            end_l.append(bool(term or trunc))
            if term or trunc:
                obs, info = env.reset()
        if rnd > 0:
            on_policy = same / per_round
        train_acc = fit()
    env.close()
    return {"teacher": teacher, "samples": len(act_l), "rounds": rounds,
            "train_agreement": round(train_acc, 4),
            "agreement": round(on_policy if on_policy is not None else train_acc, 4)}


def held_out_latency(model: Any, venv: Any, env_id: str, env_kwargs: dict[str, Any],
                     episodes: int) -> list[float]:
    """Mean latency (us at 1 GHz) of the deterministic policy in each of ``episodes`` held-out
    episodes: env ``j`` is a single env reset with ``EVAL_SEED + j`` (batched in one kernel)."""
    import numpy as np
    from stable_baselines3.common.vec_env import VecNormalize

    from octogym.envs.sb3 import make_sb3_vec_env
    from octogym.evaluation import EVAL_SEED
    env = make_sb3_vec_env(env_id, n_envs=episodes, seed=EVAL_SEED, **env_kwargs)
    masked = "Maskable" in type(model.policy).__name__
    obs = env.reset()
    lat: list[float | None] = [None] * episodes
    while any(x is None for x in lat):
        if isinstance(venv, VecNormalize) and venv.norm_obs:
            obs = venv.normalize_obs(obs)
        kw = {"action_masks": np.asarray(env.env_method("action_masks"))} if masked else {}
        action, _ = model.predict(obs, deterministic=True, **kw)
        obs, _, done, infos = env.step(action)
        for j in np.flatnonzero(done):
            if lat[j] is None:
                lat[j] = infos[j]["metrics"]["latency_mean"] / 1000.0
    env.close()
    return [float(x) for x in lat]


def reference_latency(env_id: str, env_kwargs: dict[str, Any], names: list[str],
                      episodes: int) -> dict[str, float]:
    """Mean latency (us) of each scheduler in ``names`` on the held-out episodes of
    :func:`held_out_latency` (a ``HeuristicAgent`` through the same env)."""
    import gymnasium as gym
    import numpy as np

    from octogym.agents import HeuristicAgent
    from octogym.evaluation import EVAL_SEED
    env = gym.make(env_id, **env_kwargs)
    refs = {}
    for name in names:
        lat = []
        for j in range(episodes):
            agent = HeuristicAgent(name)
            obs, info = env.reset(seed=EVAL_SEED + j)
            done = False
            while not done:
                obs, _, term, trunc, info = env.step(agent.act(obs, info["action_mask"], env))
                done = term or trunc
            lat.append(info["metrics"]["latency_mean"] / 1000.0)
        refs[name] = round(float(np.mean(lat)), 3)
    env.close()
    return refs


def plot_curve(out: Path, title: str = "") -> Path:
    """``curve.png`` in ``out``: episode return (VecMonitor, progress.csv) and held-out mean
    latency (eval.csv) against env steps."""
    import csv

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    def column(path: Path, x: str, y: str) -> tuple[list[float], list[float]]:
        xs, ys = [], []
        if path.is_file():
            with path.open() as f:
                for row in csv.DictReader(f):
                    if row.get(x) and row.get(y):
                        xs.append(float(row[x]))
                        ys.append(float(row[y]))
        return xs, ys

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    xs, ys = column(out / "progress.csv", "time/total_timesteps", "rollout/ep_rew_mean")
    a.plot(xs, ys, color="C0")
    a.set(xlabel="env steps", ylabel="episode return (mean of last 100)",
          title="training episodes")
    xs, ys = column(out / "eval.csv", "timesteps", "latency_mean_us")
    b.plot(xs, ys, "o-", color="C1", label="this policy")
    refs_path = out / "eval_references.json"
    if refs_path.is_file():
        refs = json.loads(refs_path.read_text())
        for i, (name, value) in enumerate(sorted(refs.items(), key=lambda kv: kv[1])):
            b.axhline(value, ls="--", lw=1, color=f"C{(i + 2) % 10}", label=name)
        b.legend(fontsize=7, loc="best")
    b.set(xlabel="env steps", ylabel="mean latency (us)", title="held-out episodes")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = out / "curve.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
    if args.eval_every < 0 or args.eval_episodes < 1:
        fail("--eval-every must be >= 0 and --eval-episodes >= 1")
    from octogym.schedulers import SCHEDULERS
    unknown = [n for n in args.eval_references.split(",") if n and n not in SCHEDULERS]
    if unknown:
        fail(f"--eval-references: unknown schedulers {unknown}; one of {sorted(SCHEDULERS)}")
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
    import numpy as np
    import torch
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

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
    # VecMonitor under VecNormalize: rollout/ep_rew_mean is the raw (unnormalised) return.
    venv = VecMonitor(venv)
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
                   if k not in {"n_envs", "n_timesteps", "policy", "normalize", "pretrain"}}
        model = Algo(hp.get("policy", "MlpPolicy"), venv, seed=args.seed, device="cpu",
                     verbose=0, **algo_kw)
    config = {"env_id": args.env, "env_kwargs": env_kwargs, "algo": args.algo,
              "seed": args.seed, "n_envs": args.n_envs, "hyperparams": jsonable(hp),
              "target_timesteps": timesteps}
    if resume_cfg is not None and "pretrain_stats" in resume_cfg:
        config["pretrain_stats"] = resume_cfg["pretrain_stats"]
    out.mkdir(parents=True, exist_ok=True)
    model.set_logger(configure(str(out), ["csv"] + (["tensorboard"] if use_tb else [])))

    # ---- optional warm start: imitate a heuristic (hyperparameter ``pretrain``) ----------
    if resume_cfg is None and hp.get("pretrain"):
        pre = hp["pretrain"] if isinstance(hp["pretrain"], dict) else {"teacher": hp["pretrain"]}
        t0 = time.perf_counter()
        stats = imitate(model, venv if isinstance(venv, VecNormalize) else None, args.env,
                        env_kwargs, seed=args.seed, **pre)
        print(f"train.py: imitated {pre['teacher']!r}: {stats['samples']:,} samples, "
              f"action agreement {stats['agreement']:.3f}, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        config["pretrain_stats"] = stats

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

    class HeldOut(BaseCallback):
        """Every ``--eval-every`` steps (and at the start): mean latency of the deterministic
        policy on ``--eval-episodes`` held-out episodes, logged and appended to eval.csv."""

        def _on_training_start(self) -> None:
            self.next, self.last = self.model.num_timesteps, None
            self.path = out / "eval.csv"
            if args.eval_every > 0 and not self.path.is_file():
                self.path.write_text("timesteps,latency_mean_us,latency_std_us,episodes\n")
            self._on_step()

        def _on_training_end(self) -> None:  # the final model too
            if args.eval_every > 0 and self.last != self.model.num_timesteps:
                self.next = self.model.num_timesteps
                self._on_step()

        def _on_step(self) -> bool:
            if args.eval_every > 0 and self.model.num_timesteps >= self.next:
                self.last = self.model.num_timesteps
                lat = held_out_latency(self.model, venv, args.env, env_kwargs,
                                       args.eval_episodes)
                self.logger.record("eval/latency_mean_us", float(np.mean(lat)))
                with self.path.open("a") as f:
                    f.write(f"{self.model.num_timesteps},{np.mean(lat):.3f},"
                            f"{np.std(lat):.3f},{len(lat)}\n")
                self.next = (self.model.num_timesteps // args.eval_every + 1) * args.eval_every
            return True

    # ---- the loop ------------------------------------------------------------------------
    remaining = timesteps - model.num_timesteps
    if remaining <= 0:
        print(f"train.py: already at {model.num_timesteps:,} >= --timesteps {timesteps:,}")
    else:
        try:
            model.learn(remaining, callback=CallbackList([Progress(), Checkpoint(), HeldOut()]),
                        reset_num_timesteps=resume_cfg is None, progress_bar=False)
        except KeyboardInterrupt:
            save(out / "checkpoints" / f"step_{model.num_timesteps:08d}")
            print(f"train.py: interrupted; checkpoint at {model.num_timesteps:,} steps in "
                  f"{out / 'checkpoints'}", file=sys.stderr)
            return 130
    save(out / "final")
    print(f"train.py: saved {out / 'final.zip'}")
    venv.close()
    names = [n for n in args.eval_references.split(",") if n]
    if args.eval_every > 0 and names:
        refs = reference_latency(args.env, env_kwargs, names, args.eval_episodes)
        (out / "eval_references.json").write_text(json.dumps(refs, indent=2) + "\n")
        print("train.py: held-out mean latency (us): "
              + ", ".join(f"{k} {v:.1f}" for k, v in refs.items()))
    try:
        plot_curve(out, title=f"{args.env} {args.algo} seed {args.seed}")
        print(f"train.py: learning curve {out / 'curve.png'}")
    except Exception as e:  # a missing plot must not fail a finished run
        print(f"train.py: no learning curve ({type(e).__name__}: {e})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
