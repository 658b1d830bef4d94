"""``train.py --algo ppo_native``: the run around :class:`~octogym.agents.ppo.NativePPO`
(env, policy, logs, progress bar and steps per second, checkpoints, held-out evaluation,
reference lines, learning curve), with the layout of the SB3 runs (docs/agents.md).

Differences from the SB3 runs: ``final.zip`` / ``checkpoints/step_<N>.zip`` are torch
checkpoints (``octogym.agents.ppo_policy``), there is no ``*_vecnormalize.pkl`` (rewards are
scaled inside the trainer, observations not at all), ``eval.csv`` has a ``seconds`` column
(wall-clock of training since the run's start, for learning curves against time), ``--resume``
restores weights, optimiser, step count, reward scale and the sampling generator but not the
envs (the members start new episodes from their seeds, so a resumed run is not the same run
as an uninterrupted one), and the ``pretrain`` warm start is
:mod:`octogym.agents.imitation_native` (any ``make_agent`` teacher, e.g. the rollout planner,
labelling states in the native vector env; its statistics go to ``config.json``'s
``pretrain_stats``).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np


def train_native(run: Any, args: Any) -> int:
    """Train ``run`` (``train.py``'s ``Run``) with the options ``args``; returns the exit
    status. Bad hyperparameters raise ``ValueError``."""
    import gymnasium as gym
    import torch
    from tqdm import tqdm

    import octogym  # noqa: F401  (registers the ids; sets OMP_WAIT_POLICY before torch runs)
    from octogym.agents.checkpoint import remove_temporaries
    from octogym.agents.logs import finish_run, keep_rows_until, make_logger
    from octogym.agents.ppo import NativePPO, PPOConfig, held_out_native
    from octogym.agents.ppo_policy import load_native, policy_class, policy_kwargs_for, save_native

    resumed = load_native(run.resume)[1] if run.resume is not None else None
    pretrain = run.hp.get("pretrain") if resumed is None else None
    if pretrain:
        from octogym.agents.imitation_native import imitate_native, pretrain_options
        pretrain = pretrain_options(pretrain)  # a bad value fails before any work
    cfg = PPOConfig.from_hyperparams(run.hp, run.n_envs)
    torch.set_num_threads(cfg.torch_threads if "torch_threads" in run.hp
                          else args.torch_threads)
    torch.manual_seed(run.seed)
    venv = gym.make_vec(run.env, num_envs=run.n_envs, vectorization_mode="vector_entry_point",
                        **run.env_kwargs)
    if resumed is None:
        name = run.hp.get("policy", "MlpPolicy")
        kwargs = policy_kwargs_for(name, venv.single_observation_space,
                                   venv.single_action_space.n, venv.decision.name,
                                   run.hp.get("policy_kwargs"))
    else:
        name, kwargs = resumed["policy"]["name"], resumed["policy"]["kwargs"]
    policy = policy_class(name)(**kwargs)
    if pretrain:
        run.pretrain_stats = imitate_native(policy, run.env, run.env_kwargs, run.seed,
                                            progress=args.progress, **pretrain)
        print(f"train.py: imitated {pretrain['teacher']!r}: {run.pretrain_stats['samples']:,} "
              f"samples, agreement {run.pretrain_stats['agreement']:.3f}, "
              f"{run.pretrain_stats['seconds']:.0f} s", flush=True)
    algo = NativePPO(venv, policy, cfg, run.seed)
    start, seconds0 = 0, 0.0  # a resumed run's step count and training seconds so far
    if resumed is not None:
        algo.restore(resumed)
        start, seconds0 = algo.num_timesteps, float(resumed.get("train_seconds", 0.0))
    spec = {"name": name, "kwargs": kwargs}
    obs_shape = getattr(venv.single_observation_space, "shape", None)
    spaces = {"obs_shape": list(obs_shape) if obs_shape else None,
              "n_actions": int(venv.single_action_space.n)}

    out, ckpt_dir, config = run.out, run.out / "checkpoints", run.config()
    out.mkdir(parents=True, exist_ok=True)
    for folder in (out, ckpt_dir):
        remove_temporaries(folder)
    logger = make_logger(out, run.tensorboard, resume_step=start if resumed else None)
    t_start = time.perf_counter()
    eval_time = [0.0]  # wall-clock spent in held-out evaluation (not training)
    evaluated_at = [start if resumed else -1]  # a resumed run's start was evaluated before

    def train_seconds() -> float:
        """Training wall-clock of the whole run (a resumed one's earlier part included)."""
        return seconds0 + time.perf_counter() - t_start - eval_time[0]

    def save(stem: Any) -> None:
        save_native(stem, {"policy": spec, "spaces": spaces, **algo.payload(),
                           "train_seconds": train_seconds()}, config)

    eval_csv = out / "eval.csv"
    if args.eval_every > 0 and not (resumed and keep_rows_until(eval_csv, start, "timesteps")):
        eval_csv.write_text("timesteps,latency_mean_us,latency_std_us,episodes,seconds\n")

    def evaluate() -> None:
        if evaluated_at[0] == algo.num_timesteps:
            return
        evaluated_at[0] = algo.num_timesteps
        t = time.perf_counter()
        policy.eval()
        lat = held_out_native(policy, run.env, run.env_kwargs, args.eval_episodes)
        policy.train()
        logger.record("eval/latency_mean_us", float(np.mean(lat)))
        with eval_csv.open("a") as f:
            f.write(f"{algo.num_timesteps},{np.mean(lat):.3f},{np.std(lat):.3f},{len(lat)},"
                    f"{seconds0 + t - t_start - eval_time[0]:.1f}\n")
        eval_time[0] += time.perf_counter() - t

    bar = tqdm(total=run.timesteps, initial=start, unit="step",
               disable=not args.progress or not run.timesteps, dynamic_ncols=True)
    state = {"next_ckpt": (start // args.checkpoint_every + 1) * args.checkpoint_every,
             "next_eval": (start // args.eval_every + 1) * args.eval_every
             if args.eval_every > 0 else 0}
    if args.eval_every > 0:
        evaluate()

    def on_iteration(a: NativePPO, stats: dict[str, float]) -> bool:
        n = a.num_timesteps
        sps = (n - start) / max(train_seconds() - seconds0, 1e-9)  # this process's steps/s
        train_s = train_seconds()
        bar.update(n - bar.n)
        bar.set_postfix(sps=f"{sps:,.0f}")
        if not args.progress:
            print(f"steps {n:,}  sps {sps:,.0f}", flush=True)
        logger.record("time/total_timesteps", n)
        logger.record("time/steps_per_second", sps)
        logger.record("time/seconds", train_s)
        if a.ep_returns:
            logger.record("rollout/ep_rew_mean", float(np.mean(a.ep_returns)))
            logger.record("rollout/ep_latency_mean_us", float(np.mean(a.ep_latency)))
        for k, v in stats.items():
            logger.record(f"train/{k}", v)
        if args.eval_every > 0 and n >= state["next_eval"]:
            evaluate()
            state["next_eval"] = (n // args.eval_every + 1) * args.eval_every
        logger.dump(n)
        if n >= state["next_ckpt"]:
            save(ckpt_dir / f"step_{n:08d}")
            state["next_ckpt"] = (n // args.checkpoint_every + 1) * args.checkpoint_every
        return False

    try:
        algo.learn(run.timesteps, on_iteration)
    except KeyboardInterrupt:
        save(ckpt_dir / f"step_{algo.num_timesteps:08d}")
        print(f"train.py: interrupted; checkpoint at {algo.num_timesteps:,} steps in "
              f"{ckpt_dir}", file=sys.stderr)
        return 130
    bar.close()
    train_s = train_seconds() - seconds0
    done = algo.num_timesteps - start
    print(f"train.py: {done:,} steps{f' after {start:,} resumed' if start else ''}, "
          f"{done / max(train_s, 1e-9):,.0f} steps/s (env + policy + updates, {train_s:.0f} s "
          "without held-out evaluation)")
    if args.eval_every > 0:
        evaluate()
    save(out / "final")
    print(f"train.py: saved {out / 'final.zip'}")
    venv.close()
    finish_run(out, run, args.eval_every, args.eval_episodes)
    return 0
