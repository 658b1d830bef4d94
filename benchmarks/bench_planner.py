"""Speed of the rollout planner (octogym.planner): decisions answered per second, on ``chip``
and ``wafer`` with the built-in suite mix, for a few (level, k, R, H) settings, beside the
base scheduler's own whole-run time.

A row runs ``Simulation(policy=spec, batch=B).run()`` to the end (compilation excluded: every
hardware is warmed up first) and prints its decisions, rollouts (scratch rows simulated),
wall time, decisions/s, rollouts/s, and the time ratio to the base run of the same scenario.
Times are wall-clock ``time.perf_counter``, the best of ``--repeat`` runs.

    python benchmarks/bench_planner.py            # a few minutes on 2 cores
    python benchmarks/bench_planner.py --quick    # seconds
"""

from __future__ import annotations

import argparse
import time

from octogym.simulator import Simulation

# k = 4 at the TBU level is every TBU of the cluster (K = 4) plus the base's own choice; the
# cluster level has 16 (chip) or 256 (wafer) candidates, hence k = 4 there
SETTINGS = ("level=tbu,k=4,R=1,H=8", "level=cluster,k=4,R=1,H=8", "level=both,k=4,R=1,H=8",
            "level=both,k=3,R=4,H=8", "level=both,k=4,R=1,H=2")


def timed(policy: str, hw: str, n: int, B: int, repeat: int) -> tuple[float, Simulation]:
    best, sim = float("inf"), None
    for _ in range(repeat):
        sim = Simulation(None, hw, policy=policy, load=0.8, n_requests=n, batch=B, seed=1)
        t = time.perf_counter()
        sim.run()
        best = min(best, time.perf_counter() - t)
    return best, sim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--base", default="adaptive")
    args = ap.parse_args()
    n, B = (30, 2) if args.quick else (100, 2)
    for hw in ("chip", "wafer"):
        timed(f"rollout:{args.base}:k=2,H=1", hw, 10, 1, 1)  # warm-up (compilation)
        t_base, _ = timed(args.base, hw, n, B, args.repeat)
        print(f"\n{hw}: {B} members x {n} requests, base {args.base}: {t_base * 1e3:.1f} ms")
        print(f"{'setting':32s} {'decisions':>9s} {'rollouts':>9s} {'time s':>8s} "
              f"{'dec/s':>8s} {'rollouts/s':>10s} {'x base':>7s}")
        for s in SETTINGS:
            t, sim = timed(f"rollout:{args.base}:{s}", hw, n, B, args.repeat)
            d, r = sim.planner_stats["decisions"], sim.planner_stats["rollouts"]
            print(f"{s:32s} {d:9d} {r:9d} {t:8.2f} {d / t:8.0f} {r / t:10.0f} "
                  f"{t / t_base:7.0f}")


if __name__ == "__main__":
    main()
