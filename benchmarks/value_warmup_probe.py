"""Does an inaccurate value head explain why ``ppo_native`` drifts to worse policies at the
Provision level (docs/results.md §8, "Place and Provision")? ``--warmup`` iterations of
``NativePPO`` with the actor frozen and no entropy bonus (only the critic learns, on the
untrained policy's rollouts), then ordinary iterations; every ``--every`` steps the argmax
and the sampled policy play 8 held-out episodes (seeds ``EVAL_SEED + j``) and the mean
latencies are printed beside the critic's explained variance.

    python benchmarks/value_warmup_probe.py --override time_discount=4 --warmup 30 \\
        --timesteps 2500000
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import gymnasium as gym
import yaml

import octogym  # noqa: F401  (registers the ids)
from octogym.agents.heldout import play_held_out
from octogym.agents.ppo import NativePPO, PPOConfig
from octogym.agents.ppo_policy import policy_actions, policy_class, policy_kwargs_for


def acts(policy: Any, sample: bool):
    """``act(obs, masks, venv)`` of ``policy``: argmax, or a seeded sample."""
    import torch  # after octogym (it sets OMP_WAIT_POLICY before torch loads OpenMP)

    gen = torch.Generator().manual_seed(0) if sample else None
    return lambda obs, masks, venv=None: policy_actions(policy, obs, masks, gen)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hyperparams", default="agents/hyperparams/ppo_native_provision.yml")
    p.add_argument("--override", nargs="*", default=[], help="key=value (YAML value)")
    p.add_argument("--env", default="octogym/Provision-v0")
    p.add_argument("--reconfig-cycles", type=int, default=200000)
    p.add_argument("--warmup", type=int, default=30, help="critic-only iterations")
    p.add_argument("--timesteps", type=float, default=3e6)
    p.add_argument("--every", type=float, default=5e5)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    hp = dict(next(iter(yaml.safe_load(open(a.hyperparams)).values())))
    for item in a.override:
        key, text = item.split("=", 1)
        hp[key] = yaml.safe_load(text)
    if "time_discount" in hp and hp["time_discount"]:
        hp.pop("gamma", None)  # replaced by the discount in simulated time
    kw = {"hardware": {"preset": "chip", "reconfig_cycles": a.reconfig_cycles}}
    cfg = PPOConfig.from_hyperparams(hp, hp["n_envs"])
    import torch

    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    venv = gym.make_vec(a.env, num_envs=cfg.n_envs, vectorization_mode="vector_entry_point",
                        **kw)
    pk = policy_kwargs_for("MlpPolicy", venv.single_observation_space,
                           venv.single_action_space.n, venv.decision.name,
                           eval(hp["policy_kwargs"]))  # the yml's "dict(...)" string
    policy = policy_class("MlpPolicy")(**pk)
    algo = NativePPO(venv, policy, cfg, a.seed)
    t0, ent = time.time(), cfg.ent_coef

    def report(stats: dict) -> None:
        lat = {s: play_held_out(a.env, acts(policy, s), 8, **kw).mean() for s in (False, True)}
        print(f"{algo.num_timesteps:,} steps, {time.time() - t0:.0f} s: explained variance "
              f"{stats['explained_variance']:.2f}; held-out argmax {lat[False]:.1f} us, "
              f"sampled {lat[True]:.1f} us", flush=True)

    policy.actor.requires_grad_(False)
    cfg.ent_coef = 0.0
    for _ in range(a.warmup):
        stats = algo.update(algo.collect())
    report(stats)
    policy.actor.requires_grad_(True)
    cfg.ent_coef = ent
    nxt = algo.num_timesteps + a.every
    while algo.num_timesteps < a.timesteps:
        stats = algo.update(algo.collect())
        if algo.num_timesteps >= nxt:
            nxt += a.every
            report(stats)


if __name__ == "__main__":
    main()
