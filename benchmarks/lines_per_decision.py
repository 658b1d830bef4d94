"""Cache lines of member state that one env step touches, array by array.

The native vector env visits every member once per step, so by a member's next step its state
has left the L2 cache (``benchmarks/bench_env.py``: the env ceiling falls from N = 256 to
N = 1024): what a step costs is set largely by how many distinct cache lines of the member's
state it touches. This tool counts them. It runs the fused env step (kernel to the next
decision, reward, observation) of a one-member env in pure Python (``NUMBA_DISABLE_JIT=1``,
set here) with every State array wrapped so that each element access records its 64-byte line,
playing the benchmark's least-loaded heuristic. Model arrays (shared by all members, always
warm) are not counted.

    python benchmarks/lines_per_decision.py                          # TBUAssign-v0, ~10 s
    python benchmarks/lines_per_decision.py --env octogym/ClusterAssign-v0 --window 10

``--window W`` counts the distinct lines of W consecutive steps (what a member reuses from
one step to the next stays warm only if the cache holds every other member's lines too).
"""

from __future__ import annotations

import os

os.environ["NUMBA_DISABLE_JIT"] = "1"  # before numba is imported: the kernel runs as Python

import argparse  # noqa: E402
import collections  # noqa: E402
import warnings  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import octogym  # noqa: E402, F401  (registers the ids)
from octogym.kernel.build import grow_state  # noqa: E402

LINE = 64
TOUCHED: set[int] = set()


class Recorded(np.ndarray):
    """An array that records the cache line of every single-element access."""

    def _record(self, idx) -> None:
        idx = idx if isinstance(idx, tuple) else (idx,)
        if len(idx) == self.ndim and all(isinstance(i, (int, np.integer)) for i in idx):
            off = sum((int(i) % self.shape[k]) * self.strides[k] for k, i in enumerate(idx))
            TOUCHED.add((self.ctypes.data + off) // LINE)

    def __getitem__(self, idx):
        self._record(idx)
        return super().__getitem__(idx)

    def __setitem__(self, idx, value):
        self._record(idx)
        super().__setitem__(idx, value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="octogym/TBUAssign-v0")
    ap.add_argument("--controller", default=None, help="default: the env's own")
    ap.add_argument("--requests", type=int, default=200, help="requests per episode")
    ap.add_argument("--load", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--window", type=int, default=1, help="consecutive steps per count")
    ap.add_argument("--skip", type=int, default=50, help="warm-up steps not counted")
    a = ap.parse_args()
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # uint64 hashing overflows

    from bench_env import heuristic  # same folder; imported after NUMBA_DISABLE_JIT is set

    env = gym.make(a.env, load=a.load, requests_per_episode=a.requests,
                   **({"controller": a.controller} if a.controller else {}))
    core = env.unwrapped.core
    obs = env.reset(seed=a.seed)[0]
    sim = core.sim
    S = sim.state
    for pool in "FFJJRR":  # room enough that no pool grows (growth would replace the arrays)
        S = grow_state(S, pool)
    names = S._fields
    S = S._replace(**{n: np.ascontiguousarray(getattr(S, n)).view(Recorded) for n in names})
    sim.state = S
    bounds = sorted((getattr(S, n).ctypes.data // LINE,
                     (getattr(S, n).ctypes.data + getattr(S, n).nbytes - 1) // LINE, n)
                    for n in names)
    starts = np.array([b[0] for b in bounds])

    def array_of(line: int) -> str:
        k = int(np.searchsorted(starts, line, side="right")) - 1
        return bounds[k][2] if k >= 0 and line <= bounds[k][1] else "?"

    act = heuristic(a.env, core.slices, core.K, core.Q)
    per_array: collections.Counter[str] = collections.Counter()
    counts, window, step = [], set(), 0
    while True:
        TOUCHED.clear()
        obs, _, term, trunc, _ = env.step(int(act(obs[None])[0]))
        if sim.state.SC is not S.SC:
            raise RuntimeError("a pool grew; raise the initial growth in this tool")
        step += 1
        if term or trunc:
            break
        if step <= a.skip:
            continue
        window |= TOUCHED
        if (step - a.skip) % a.window == 0:
            counts.append(len(window))
            per_array.update(array_of(x) for x in window)
            window = set()
    n = len(counts)
    print(f"{a.env} controller={core.controller} load={a.load} requests={a.requests} "
          f"seed={a.seed}: {n} windows of {a.window} step(s)")
    print(f"distinct cache lines of member state per window: mean {np.mean(counts):.1f} "
          f"({np.mean(counts) * LINE / 1024:.1f} KiB), median {np.median(counts):.0f}, "
          f"max {max(counts)}")
    for name, c in per_array.most_common():
        print(f"  {name:<8} {c / n:7.2f}")


if __name__ == "__main__":
    main()
