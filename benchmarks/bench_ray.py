"""Speed-up of the scheduler comparison from 1 to 2 workers, on Ray and on the process pool,
side by side (the figures in docs/scaling.md), and where each Ray worker got its kernel.

The workload is ``evaluation.compare`` over ``--scenarios`` (default: the ``chip`` group) x
``--schedulers`` x
``--seeds`` seeds at ``--requests`` requests (one task per scenario and scheduler). Each
executor is timed on the whole list (the process pool's time includes starting its
processes, as ``evaluate.py --jobs`` pays it; Ray's is a fresh local instance of N CPUs,
started and its workers warmed outside the timing, as a running cluster would be; its
start-up time is printed apart). Every configuration's rows are checked equal to the
serial run's (wall-clock columns aside).

    python benchmarks/bench_ray.py                   # ~3-5 minutes on 2 cores
    python benchmarks/bench_ray.py --requests 200 --repeats 1
"""

from __future__ import annotations

import argparse
import time

from octogym import evaluation as E
from octogym.distributed import ProcessExecutor, RayExecutor, connect, kernel_cache_report
from octogym.evaluation.runner import warm_up


def _strip(rows: list[dict]) -> list[dict]:
    return [{k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in r.items()
             if k != "wall_s"} for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", nargs="+", default=["chip"], help="scenarios or groups")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--schedulers", nargs="+",
                    default=["static", "octopus", "least_loaded", "adaptive"])
    ap.add_argument("--repeats", type=int, default=2, help="best of this many timings")
    args = ap.parse_args()
    import ray

    scen = E.resolve_scenarios(args.scenarios)
    n_tasks = len(scen) * len(args.schedulers)
    print(f"{n_tasks} tasks ({len(scen)} scenarios x {len(args.schedulers)} schedulers), "
          f"{args.seeds} seeds, {args.requests} requests")

    def timed(executor) -> tuple[float, list[dict]]:
        best, rows = float("inf"), []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            rows = E.compare(scen, args.schedulers, args.seeds, n_requests=args.requests,
                             progress=False, executor=executor)
            best = min(best, time.perf_counter() - t0)
        return best, rows

    warm_up()
    t_serial, ref = timed(None)
    print(f"serial (jobs=1)           {t_serial:7.2f} s  1.00x")
    figures = {}
    for n in (1, 2):
        t, rows = timed(ProcessExecutor(n, warm_up))
        assert _strip(rows) == _strip(ref), "process pool rows differ"
        figures[("pool", n)] = t
        t0 = time.perf_counter()
        connect(num_cpus=n)
        start = time.perf_counter() - t0
        remote = ray.remote(num_cpus=1)(kernel_cache_report)
        reports = ray.get([remote.remote() for _ in range(2 * n)])  # start n workers
        t, rows = timed(RayExecutor())
        assert _strip(rows) == _strip(ref), "Ray rows differ"
        figures[("ray", n)] = t
        workers = {r["pid"]: r for r in reports}
        ray.shutdown()
        print(f"process pool, {n} worker(s) {figures[('pool', n)]:7.2f} s  "
              f"{t_serial / figures[('pool', n)]:.2f}x")
        print(f"Ray, {n} CPU(s)            {t:7.2f} s  {t_serial / t:.2f}x   (ray.init "
              f"{start:.1f} s; workers' kernel: "
              + ", ".join(f"pid {p} {r['cache_hits']} cache hit(s) {r['cache_misses']} "
                          f"miss(es)" for p, r in workers.items()) + ")")
    for kind in ("pool", "ray"):
        print(f"speed-up 1 -> 2 workers, {kind}: "
              f"{figures[(kind, 1)] / figures[(kind, 2)]:.2f}x")


if __name__ == "__main__":
    main()
