"""Soak test: many episodes in one process, printing resident memory and time per episode over
time, so a leak (RSS climbing) or a slowdown (time per episode climbing) is visible.

* one env (``gym.make``), thousands of short episodes, reset after each;
* the native vector env (N = 256, ``SAME_STEP`` auto-reset), stepped until thousands of members'
  episodes (about ten per member) have ended and been reset inside ``step``.

Both play the lowest-id valid action from ``info["action_mask"]`` (no agent in the loop: the
figures are the environment's own). RSS is the current resident set (``/proc/self/statm``),
not the peak. CPU time (``time.process_time``, all threads) is printed beside wall time: on a
shared machine wall time also measures the neighbours.

    python benchmarks/soak.py                                  # ~2-4 minutes
    python benchmarks/soak.py --episodes 5000 --vector-episodes 1000 --windows 10
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import numpy as np

import octogym  # noqa: F401  (registers the ids)

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def first_valid(mask: np.ndarray) -> np.ndarray:
    """Lowest valid action per row (mask (N, A) or (A,))."""
    return np.argmax(mask, axis=-1)


def soak_single(env_id: str, episodes: int, windows: int, requests: int) -> None:
    env = gym.make(env_id, requests_per_episode=requests)
    per = max(1, episodes // windows)
    print(f"single env {env_id}, {episodes} episodes of {requests} requests")
    print(f"{'episodes':>9} {'RSS MB':>8} {'ms/episode':>11} {'CPU ms/ep':>10} "
          f"{'steps/episode':>14}")
    obs, info = env.reset(seed=1)
    env.step(int(first_valid(info["action_mask"])))  # compile outside the clock
    obs, info = env.reset(seed=1)
    t0, c0 = time.perf_counter(), time.process_time()
    steps = 0
    for ep in range(1, episodes + 1):
        done = False
        while not done:
            obs, r, term, trunc, info = env.step(int(first_valid(info["action_mask"])))
            steps += 1
            done = term or trunc
        obs, info = env.reset()
        if ep % per == 0:
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            print(f"{ep:>9} {rss_mb():>8.1f} {1e3 * dt / per:>11.2f} {1e3 * dc / per:>10.2f} "
                  f"{steps / per:>14.1f}")
            t0, c0 = time.perf_counter(), time.process_time()
            steps = 0
    env.close()


def soak_vector(env_id: str, n: int, episodes: int, windows: int, requests: int) -> None:
    env = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point",
                       requests_per_episode=requests)
    per = max(1, episodes // windows)
    print(f"\nnative vector env {env_id}, N = {n}, until {episodes} episodes have ended "
          f"(auto-reset in the same step), {requests} requests each")
    print(f"{'episodes':>9} {'RSS MB':>8} {'ms/episode':>11} {'ms/step':>8} {'CPU ms/st':>10} "
          f"{'steps':>7}")
    obs, info = env.reset(seed=1)
    # one step outside the clock: it compiles the vector step
    obs, r, term, trunc, info = env.step(first_valid(info["action_mask"]))
    ended = int(np.count_nonzero(term | trunc))
    last_ended, last_steps, steps = ended, 0, 1
    mark = per
    t0, c0 = time.perf_counter(), time.process_time()
    while ended < episodes:
        obs, r, term, trunc, info = env.step(first_valid(info["action_mask"]))
        steps += 1
        ended += int(np.count_nonzero(term | trunc))
        if ended >= mark:
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            print(f"{ended:>9} {rss_mb():>8.1f} {1e3 * dt / (ended - last_ended):>11.3f} "
                  f"{1e3 * dt / (steps - last_steps):>8.3f} "
                  f"{1e3 * dc / (steps - last_steps):>10.3f} {steps:>7}")
            mark = ended + per
            last_ended, last_steps = ended, steps
            t0, c0 = time.perf_counter(), time.process_time()
    env.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="octogym/TBUAssign-v0")
    ap.add_argument("--episodes", type=int, default=2000, help="single-env episodes")
    ap.add_argument("--vector-envs", type=int, default=256)
    ap.add_argument("--vector-episodes", type=int, default=2560,
                    help="episodes ended across the vector env's members")
    ap.add_argument("--requests", type=int, default=20, help="requests per episode")
    ap.add_argument("--windows", type=int, default=8, help="lines printed per soak")
    a = ap.parse_args()
    print(f"start: RSS {rss_mb():.1f} MB")
    soak_single(a.env, a.episodes, a.windows, a.requests)
    if a.vector_episodes > 0:
        soak_vector(a.env, a.vector_envs, a.vector_episodes, a.windows, a.requests)


if __name__ == "__main__":
    main()
