#!/usr/bin/env python
"""Compare schedulers on seeded scenarios (the project's main command, `make demo`).

Today it validates and summarises the built-in workflow suite, then runs the kernel's
reference policies on the suite mix at chip scale. The paper's schedulers and learned agents
join this comparison in later releases (see the open issues).
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hardware", default="chip", help="preset name (chip, wafer)")
    ap.add_argument("--requests", type=int, default=2000, help="requests per run")
    ap.add_argument("--load", type=float, default=0.7, help="offered load (fraction of capacity)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per policy")
    args = ap.parse_args(argv)

    from octogym.workflows.suite import main as suite_main

    status = suite_main()
    if status:
        return status
    print()
    from octogym.kernel.policies import KERNEL_POLICIES
    from octogym.simulator import Simulation

    print(f"Kernel policies on the suite mix, {args.hardware}, load {args.load}, "
          f"{args.requests} requests x {args.seeds} seeds (the first run compiles the kernel, "
          "about a minute once; later runs use the cache)")
    header = f"{'policy':14s} {'mean lat (us)':>14s} {'p99 lat (us)':>13s} {'util':>6s} " \
             f"{'reconfigs':>10s} {'TB/s':>10s}"
    print(header)
    print("-" * len(header))
    for name in KERNEL_POLICIES:
        sim = Simulation(None, args.hardware, load=args.load, n_requests=args.requests,
                         batch=args.seeds, seed=0, policy=name)
        t0 = time.perf_counter()
        res = sim.run()
        dt = time.perf_counter() - t0
        n = len(res)
        mean = sum(r.latency_mean for r in res) / n / 1e3
        p99 = sum(r.latency_p99 for r in res) / n / 1e3
        util = sum(r.utilisation for r in res) / n
        rec = sum(r.reconfigurations for r in res) / n
        tbs = sum(r.tb_executions for r in res) / dt
        print(f"{name:14s} {mean:14.1f} {p99:13.1f} {util:6.2f} {rec:10.0f} {tbs:10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
