"""Decisions per episode of the Provision envs (docs/envs.md, Provision): ``octopus`` as agent
and controller (the exact replay of the kernel's ``octopus``), per seed, at chip and wafer.

    python benchmarks/provision_decisions.py --seeds 5 --requests 200 --load 0.8
"""

from __future__ import annotations

import argparse

import gymnasium as gym

import octogym  # noqa: F401  (registers the ids)
from octogym.agents import HeuristicAgent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--load", type=float, default=0.8)
    a = ap.parse_args()
    for env_id in ("octogym/Provision-v0", "octogym/Provision-Wafer-v0"):
        env = gym.make(env_id, requests_per_episode=a.requests, load=a.load)
        agent = HeuristicAgent("octopus")
        steps = []
        for seed in range(a.seeds):
            obs, info = env.reset(seed=seed)
            while True:
                obs, _, term, trunc, info = env.step(agent.act(obs, info["action_mask"], env))
                if term or trunc:
                    break
            steps.append(info["metrics"]["episode_steps"])
        core = env.unwrapped.core
        print(f"{env_id:<28} C={core.C:<4d} actions={core.n_actions:<3d} decisions/episode "
              f"{steps} (mean {sum(steps) / len(steps):,.0f})", flush=True)


if __name__ == "__main__":
    main()
