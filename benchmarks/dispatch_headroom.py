"""How much the dispatch rules change a scheduler's mean latency: every rule of
``octogym.kernel.dispatch.DISPATCH_RULES`` under each placement scheduler of ``--policy``
(comma-separated, default ``adaptive``),
on evaluation scenarios (``octogym.evaluation.SCENARIOS``), paired by seed against ``fifo``
(common random numbers: a per-seed latency ratio, mean with its 95% Student-t interval, as
``octogym.headroom`` pairs its arms), beside the room left: ``fifo``'s mean latency over the
seed's lower bound (``octogym.bounds``) minus one. ``--settings`` adds the rollout planner at
the dispatch level (``octogym.planner``, e.g. ``level=dispatch,k=0,R=1,H=8,resample=0``, the
oracle) under each policy, its base move and its rollouts' dispatch being that policy's best
rule (lowest mean latency), paired against that rule and against ``fifo``. Last per scenario:
the best (policy, rule) pair against the best policy under ``fifo``, paired. ``--load X``
plays every scenario at offered load ``X`` in its own basis (``octogym.headroom.with_load``;
``env-*``: the envs' ``load``).

    python benchmarks/dispatch_headroom.py --scenarios mix-chip,env-chip --seeds 8
    python benchmarks/dispatch_headroom.py --scenarios env-chip --policy eft,adaptive --load 1.1
    python benchmarks/dispatch_headroom.py --scenarios env-chip --policy proactive --load 1.5 \
        --requests 400 --seeds 3 --settings level=dispatch,k=0,R=1,H=8,resample=0
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from octogym.evaluation import EVAL_SEED, SCENARIOS, Scenario
from octogym.headroom import bound_rows, mean_ci, with_load
from octogym.kernel.dispatch import DISPATCH_RULES
from octogym.simulator import Simulation


def latencies(sc: Scenario, policy: str, rule: str, seeds: int, n: int | None) -> np.ndarray:
    """Mean latency per seed of scenario ``sc`` under ``policy`` with dispatch ``rule``."""
    n = n or sc.n_requests
    sim = Simulation(sc.workflows, sc.hardware, load=sc.sim_load(n), n_requests=n, batch=seeds,
                     seed=EVAL_SEED, policy=policy, slowdown=dict(sc.slowdown) or None,
                     tbu_init=sc._tbu_init(n), dispatch=rule)
    return np.array([r.latency_mean for r in sim.run()])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", default="mix-chip,env-chip")
    ap.add_argument("--policy", default="adaptive")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--requests", type=int, default=None, help="default: the scenario's")
    ap.add_argument("--settings", nargs="*", default=[],
                    help="dispatch-level planner settings 'level=dispatch,k=..,R=..,H=..[,..]'")
    ap.add_argument("--load", type=float, default=None,
                    help="offered load in each scenario's basis (default: the scenario's)")
    a = ap.parse_args()
    print(f"policies={a.policy}  seeds={a.seeds}  requests={a.requests or 'scenario default'}"
          f"  load={a.load or 'scenario default'}")
    print("| scenario | policy | rule | mean latency (cycles) | vs fifo, paired | "
          "room left by fifo |")
    print("|---|---|---|---|---|---|")
    for name in a.scenarios.split(","):
        sc = SCENARIOS[name] if a.load is None else with_load(SCENARIOS[name], a.load)
        bound = np.array([row["latency_mean"] for row in bound_rows(
            sc, a.seeds, a.requests) if row["arm"] == "bound"])
        every: dict[tuple[str, str], np.ndarray] = {}
        for policy in a.policy.split(","):
            t0 = time.perf_counter()
            lat = {r: latencies(sc, policy, r, a.seeds, a.requests) for r in DISPATCH_RULES}
            every.update({(policy, r): x for r, x in lat.items()})
            room, rh = mean_ci(lat["fifo"] / bound - 1.0)
            for r, x in lat.items():
                m, h = mean_ci(x)
                d, dh = mean_ci(x / lat["fifo"] - 1.0)
                print(f"| {sc.name} | {policy} | {r} | {m:,.0f} +- {h:,.0f} | {d:+.2%} +- "
                      f"{dh:.2%} | {room:.1%} +- {rh:.1%} |", flush=True)
            print(f"<!-- {sc.name} {policy}: {time.perf_counter() - t0:.0f} s -->")
            best = min(lat, key=lambda r: lat[r].mean())
            for s in a.settings:
                if "level=dispatch" not in s:
                    raise SystemExit(f"--settings {s!r}: the planner here is dispatch-level "
                                     "(level=dispatch)")
                t0 = time.perf_counter()
                x = latencies(sc, f"rollout:{policy}:{s}", best, a.seeds, a.requests)
                m, h = mean_ci(x)
                d, dh = mean_ci(x / lat["fifo"] - 1.0)
                e, eh = mean_ci(x / lat[best] - 1.0)
                print(f"| {sc.name} | {policy} | planner {s} over {best} | {m:,.0f} +- {h:,.0f} "
                      f"| {d:+.2%} +- {dh:.2%} (vs {best}: {e:+.2%} +- {eh:.2%}) | "
                      f"{room:.1%} +- {rh:.1%} |", flush=True)
                print(f"<!-- {sc.name} {policy} planner: {time.perf_counter() - t0:.0f} s -->")
        fifo = min((k for k in every if k[1] == "fifo"), key=lambda k: every[k].mean())
        top = min(every, key=lambda k: every[k].mean())
        d, dh = mean_ci(every[top] / every[fifo] - 1.0)
        print(f"<!-- {sc.name}: best pair {top[0]} + {top[1]} vs the best fifo policy "
              f"{fifo[0]}: {d:+.2%} +- {dh:.2%} -->")


if __name__ == "__main__":
    main()
