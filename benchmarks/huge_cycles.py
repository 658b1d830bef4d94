"""Epoch-driven schedulers with huge cycle counts: wall time of a run with the chip's normal
reconfiguration time and with ``reconfig_cycles = 10**12`` (the issue's case: 41 s for 50
requests under ``octopus`` when every empty epoch was ticked through), side by side, with the
number of kernel events (skipped epochs are counted as if run, so the counts show how many
epochs were not executed one by one).

    python benchmarks/huge_cycles.py
"""

from __future__ import annotations

import time

from octogym.hardware import get_hardware
from octogym.simulator import Simulation


def timed(policy: str, reconfig: int) -> tuple[float, int, float]:
    hw = get_hardware("chip", reconfig_cycles=reconfig)
    t = time.perf_counter()
    r = Simulation("recognition", hw, load=0.5, n_requests=50, seed=1, policy=policy).run()[0]
    return time.perf_counter() - t, r.events, r.latency_mean


def main() -> None:
    timed("octopus", 20_000)  # compile outside the clock
    print(f"{'policy':>10} {'reconfig':>10} {'wall s':>8} {'events':>10} {'latency_mean':>16}")
    for policy in ("reactive", "proactive", "octopus"):
        for reconfig in (20_000, 10**12):
            dt, ev, lat = timed(policy, reconfig)
            print(f"{policy:>10} {reconfig:>10.0e} {dt:>8.3f} {ev:>10} {lat:>16.1f}")


if __name__ == "__main__":
    main()
