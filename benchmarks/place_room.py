"""Where is the room at the Place level? Mean request latency on the chip, through
``octogym/Place-v0``, of heuristic placements under several controllers, each paired by seed
with the kernel-only ``adaptive`` run (common random numbers: the same seeds draw the same
arrivals, durations and branches). Prints per arm the mean latency over the seeds and the
paired difference to ``adaptive`` with a 95% Student-t interval.

An arm ``agent@controller`` plays ``HeuristicAgent(agent)``'s placements in the env with
``controller`` keeping the cluster choice, stealing, provisioning and diffusion; with
``agent == controller`` it equals the kernel-only run of that scheduler (tests/test_place.py).

    python benchmarks/place_room.py --seeds 10 --requests 200 --load 0.8
    python benchmarks/place_room.py --seeds 5 --planner rollout:eft:level=place,k=4,R=4
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import octogym  # noqa: F401  (registers the ids)
from octogym.agents import HeuristicAgent
from octogym.headroom import mean_ci

ARMS = ("adaptive@adaptive", "eft@eft", "eft@adaptive", "eft@octopus", "octopus@octopus",
        "eft@least_loaded", "least_loaded@least_loaded")


def latencies(arm: str, seeds: range, kw: dict) -> np.ndarray:
    agent_name, controller = arm.split("@")
    env = gym.make("octogym/Place-v0", controller=controller, **kw)
    agent = HeuristicAgent(agent_name)
    out = []
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        while True:
            obs, _, term, trunc, info = env.step(agent.act(obs, info["action_mask"], env))
            if term or trunc:
                break
        out.append(info["metrics"]["latency_mean"])
    assert agent.fallbacks == 0
    return np.asarray(out)


def planner_rows(spec: str, seeds: int, kw: dict) -> None:
    """The rollout planner ``spec`` beside its base, kernel runs of ``seeds`` members of one
    batch (paired by member), latency as in :func:`main`."""
    from octogym.simulator import Simulation
    base = spec.split(":")[1]
    args = dict(hardware="chip", load=kw["load"], n_requests=kw["requests_per_episode"],
                seed=0, batch=seeds)
    ref = np.array([r.latency_mean for r in Simulation(policy=base, **args).run()])
    t0 = time.perf_counter()
    got = np.array([r.latency_mean for r in Simulation(policy=spec, **args).run()])
    secs = time.perf_counter() - t0
    for name, lat in ((base, ref), (spec, got)):
        m, h = mean_ci(lat)
        d, dh = mean_ci(lat - ref)
        print(f"{name:<40} mean {m:>12,.0f} +- {h:>9,.0f}   diff {d:>+11,.0f} +- {dh:>9,.0f} "
              f"({d / ref.mean():+.1%})", flush=True)
    print(f"  ({secs:.0f} s for the planned runs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--load", type=float, default=0.8)
    ap.add_argument("--planner", default="", help="a rollout spec to run beside its base "
                    "instead, e.g. rollout:eft:level=place,k=4,R=4")
    a = ap.parse_args()
    kw = {"requests_per_episode": a.requests, "load": a.load}
    if a.planner:
        planner_rows(a.planner, a.seeds, kw)
        return
    seeds = range(a.seeds)
    base = latencies(ARMS[0], seeds, kw)
    print(f"chip, load {a.load}, {a.requests} requests/episode, seeds 0-{a.seeds - 1}; "
          "latency in cycles; diff = arm - adaptive@adaptive (paired), 95% t interval")
    for arm in ARMS:
        lat = base if arm == ARMS[0] else latencies(arm, seeds, kw)
        m, h = mean_ci(lat)
        d, dh = mean_ci(lat - base)
        print(f"{arm:<28} mean {m:>12,.0f} +- {h:>9,.0f}   diff {d:>+11,.0f} +- {dh:>9,.0f} "
              f"({d / base.mean():+.1%})", flush=True)


if __name__ == "__main__":
    main()
