"""Where a native vector env's step goes, per id, side by side: steps/s, the simulated work
behind a step, and the step's time split into its parts.

For each id, the native vector env (``vectorization_mode="vector_entry_point"``) plays
``bench_env.heuristic`` for ``--seconds`` per round, every id in turn for ``--rounds`` rounds
(medians), and the run reports

* steps/s (= decisions/s) and the ratio to ``TBUAssign-v0``'s in the same round;
* TB executions/s and kernel events/s (``bench_env.WorkCount``): the simulated work per second,
  the fair throughput figure across levels whose decisions are rarer or denser;
* decisions per episode, TB executions and events per step;
* the step's time split: the fused compiled step (kernel to the next decision, reward,
  observation), episode starts (``KernelBatch.start``: member resets and the run to the first
  decision), and the rest (Python: action checks, infos, final infos, the heuristic);
* the observation builder's cost, measured apart: ``observe_rows`` over every member after the
  run (a separate, cache-cold pass, so an upper bound of its share inside the fused step).

    python benchmarks/env_breakdown.py --sizes 64,1024 --seconds 3 --rounds 3
    python benchmarks/env_breakdown.py --ids octogym/Dispatch-v0,octogym/Provision-v0
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import time
from pathlib import Path

import gymnasium as gym
import numba
import numpy as np

import octogym  # noqa: F401  (registers the ids)
from octogym.envs.decisions import observe_rows

BASE = "octogym/TBUAssign-v0"
CHIP_IDS = ("octogym/TBUAssign-v0", "octogym/ClusterAssign-v0", "octogym/Dispatch-v0",
            "octogym/Place-v0", "octogym/Provision-v0")


@functools.cache
def _bench_env():
    """benchmarks/bench_env.py as a module (its heuristics)."""
    spec = importlib.util.spec_from_file_location(
        "bench_env", Path(__file__).resolve().parent / "bench_env.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def measure(venv: gym.vector.VectorEnv, env_id: str, act, seconds: float) -> dict[str, float]:
    """One timed run of ``venv`` (already reset) playing ``act``."""
    core = venv.unwrapped.core
    inner_step, inner_start = core._step, core.start
    spent = {"fused": 0.0, "start": 0.0}

    def fused(*args):
        t0 = time.perf_counter()
        inner_step(*args)
        spent["fused"] += time.perf_counter() - t0

    def start(rows):
        t0 = time.perf_counter()
        inner_start(rows)
        spent["start"] += time.perf_counter() - t0

    obs = core.observation()
    for _ in range(3):  # warm-up
        obs = venv.step(act(obs))[0]
    core._step, core.start = fused, start
    count = _bench_env().WorkCount(venv)
    count.attach()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        obs = venv.step(act(obs))[0]
        steps += venv.num_envs
    total = time.perf_counter() - t0
    tb, events, dec_ep = count.detach()
    core._step, core.start = inner_step, inner_start
    rows = core.rows
    sim = core.sim
    t1 = time.perf_counter()
    reps = 20
    for _ in range(reps):
        observe_rows(rows, sim.model, sim.state, core.consts, core.members)
    obs_t = (time.perf_counter() - t1) / reps  # one pass over every member
    return {"sps": steps / total, "tb_s": tb / total, "ev_s": events / total,
            "dec_ep": dec_ep, "tb_step": tb / steps, "ev_step": events / steps,
            "fused": spent["fused"] / total, "start": spent["start"] / total,
            "obs": obs_t * steps / venv.num_envs / total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ids", default=",".join(CHIP_IDS))
    ap.add_argument("--sizes", default="64,1024")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--load", type=float, default=0.8)
    ap.add_argument("--requests", type=int, default=200, help="requests per episode")
    a = ap.parse_args()
    bench = _bench_env()
    kw = {"load": a.load, "requests_per_episode": a.requests}
    ids = [BASE] + [i for i in a.ids.split(",") if i != BASE]
    print(f"load={a.load}, requests/episode={a.requests}, {a.seconds:.0f}s each, {a.rounds} "
          f"rounds (medians), numba threads={numba.get_num_threads()}")
    for n in [int(s) for s in a.sizes.split(",")]:
        envs, acts = {}, {}
        for i in ids:
            envs[i] = gym.make_vec(i, num_envs=n, vectorization_mode="vector_entry_point", **kw)
            core = envs[i].unwrapped.core
            acts[i] = bench.heuristic(i, core.slices, core.K, core.Q)
            envs[i].reset(seed=0)
        runs: dict[str, list[dict[str, float]]] = {i: [] for i in ids}
        for _ in range(a.rounds):
            for i in ids:
                runs[i].append(measure(envs[i], i, acts[i], a.seconds))
        print(f"\nN = {n}")
        print("| id | steps/s | ratio | TB exec/s | events/s | decisions/episode | TB exec/step "
              "| events/step | fused step | starts | rest (Python) | obs builder (cold) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for i in ids:
            med = {k: float(np.median([r[k] for r in runs[i]])) for k in runs[i][0]}
            ratio = np.median([r["sps"] / b["sps"] for r, b in zip(runs[i], runs[BASE],
                                                                   strict=True)])
            rest = 1 - med["fused"] - med["start"]
            print(f"| `{i.split('/')[1]}` | {med['sps']:,.0f} | {ratio:.2f} | "
                  f"{med['tb_s']:,.0f} | {med['ev_s']:,.0f} | {med['dec_ep']:.1f} | "
                  f"{med['tb_step']:.2f} | {med['ev_step']:.2f} | {med['fused']:.0%} | "
                  f"{med['start']:.0%} | {rest:.0%} | {med['obs']:.0%} |", flush=True)
        for v in envs.values():
            v.close()


if __name__ == "__main__":
    main()
