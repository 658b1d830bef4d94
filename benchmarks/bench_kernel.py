"""Speed and memory of the compiled batched kernel, side by side with the reference simulator.

Measures, in one run (compilation excluded: every hardware is warmed up with a tiny run first),
with the kernel compiled in the default mode (or the one ``OCTOGYM_KERNEL_INLINE`` names):

1. the kernel's TB executions/s, events/s and requests/s on ``chip`` and ``wafer`` with the
   built-in suite mix (``workflows=None``) under ``round_robin`` and ``least_loaded``, and,
   if ``octogym/reference.py`` exists, the reference (SimPy) simulator on the very same
   scenarios, the kernel/reference speed ratio and whether both gave identical metrics;
2. the kernel's aggregate rate over a whole batch at B = 1, 64, 1024 members (fewer requests
   per member at larger B; the table says what ran), with the state's size (``nbytes`` of all
   arrays, before and after pool growth) and the peak of traced allocations (tracemalloc,
   measured in a separate untimed pass);
3. the contention mechanisms (docs/model.md §3 "Link contention", §4 "Output buffers")
   switched on beside off, in the same run: TB executions/s per scenario and their ratio
   (the target: on >= 0.85 x off);
4. with ``--inline-modes``: the kernel's compile modes (``octogym/kernel/jit.py``) side by
   side, each compiled from scratch in a child process: first-compilation seconds and TB/s.

Run times (kernel and reference) are CPU seconds of this process (``time.process_time``; both
run on one core), so the rates say what one core does even on a shared machine, where
wall-clock time also counts the time other processes hold the core. Kernel:
``Simulation.advance()`` to the end (the compiled loop and pool growth); building the batch
and reading metrics out (``result()``, Python, per member) are shown apart, wall-clock.
Reference: its ``run()`` (metrics included, a few ms). Kernel rows are the best of
``--repeat`` runs, reference rows of ``--ref-repeat``.

    python benchmarks/bench_kernel.py            # full run (under a minute)
    python benchmarks/bench_kernel.py --quick    # tiny run (seconds, after compilation)
    python benchmarks/bench_kernel.py --json out.json
    python benchmarks/bench_kernel.py --inline-modes   # + compile modes side by side
    python benchmarks/bench_kernel.py --no-batch --inline-modes llvm calls
    python benchmarks/bench_kernel.py --no-reference --no-batch   # tables 1 and 3 only

Nothing is written unless ``--json PATH`` is given.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from octogym.kernel.jit import INLINE, INLINE_MODES  # noqa: E402
from octogym.kernel.layout import ST_DONE  # noqa: E402
from octogym.simulator import Simulation  # noqa: E402

HARDWARE = ("chip", "wafer")
POLICIES = ("round_robin", "least_loaded")

# requests per run of the scenario table, per hardware
FULL_REQUESTS = {"chip": 5000, "wafer": 10000}
QUICK_REQUESTS = {"chip": 150, "wafer": 150}
# (B, requests per member) of the batch table, per hardware
FULL_BATCHES = {"chip": [(1, 5000), (64, 500), (1024, 100)],
                "wafer": [(1, 10000), (64, 500), (1024, 40)]}
QUICK_BATCHES = {"chip": [(1, 100), (64, 10), (1024, 2)],
                 "wafer": [(1, 100), (16, 5), (64, 2)]}


def reference_class():
    """``ReferenceSimulation`` if octogym/reference.py exists (None otherwise)."""
    if importlib.util.find_spec("octogym.reference") is None:
        return None
    from octogym.reference import ReferenceSimulation
    return ReferenceSimulation


def warm_up() -> float:
    """Compile (or load from cache) the kernel; returns the seconds it took."""
    t = time.perf_counter()
    for hw in HARDWARE:
        for pol in POLICIES:
            Simulation(None, hw, n_requests=10, policy=pol, batch=2, seed=0).run()
    return time.perf_counter() - t


def state_mb(sim: Simulation) -> float:
    return sum(a.nbytes for a in sim.state) / 2**20


def time_kernel(hw: str | dict, policy: str, n: int, load: float, seed: int, batch: int,
                repeat: int) -> dict:
    """Kernel time = ``advance()`` to the end (the compiled event loop plus pool growth);
    reading the metrics out (``Simulation.result`` per member, Python) is timed apart."""
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        sim = Simulation(None, hw, load=load, n_requests=n, seed=seed, policy=policy,
                         batch=batch)
        t1 = time.perf_counter()
        mb0 = state_mb(sim)
        c1 = time.process_time()
        status = sim.advance()
        run_s = time.process_time() - c1
        t2 = time.perf_counter()
        res = [sim.result(b) for b in range(batch)]
        t3 = time.perf_counter()
        if not (status == ST_DONE).all():
            raise RuntimeError(f"{hw}/{policy}/B={batch}: members did not finish: {status}")
        row = dict(build_s=t1 - t0, run_s=run_s, collect_s=t3 - t2, state_mb_initial=mb0,
                   state_mb_final=state_mb(sim),
                   tb=sum(r.tb_executions for r in res), events=sum(r.events for r in res),
                   requests=sum(r.n_requests for r in res),
                   result0=res[0].to_dict(),  # metrics of member 0
                   contention0=sim.contention(0))
        if best is None or row["run_s"] < best["run_s"]:
            best = row
    for k in ("tb", "events", "requests"):
        best[f"{k}_per_s"] = best[k] / best["run_s"]
    return best


def traced_peak_mb(hw: str, policy: str, n: int, load: float, seed: int, batch: int) -> float:
    """Peak of traced (Python/numpy) allocations over building and running one batch."""
    tracemalloc.start()
    try:
        sim = Simulation(None, hw, load=load, n_requests=n, seed=seed, policy=policy,
                         batch=batch)
        sim.run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def time_reference(ref_cls, hw: str, policy: str, n: int, load: float, seed: int,
                   repeat: int) -> dict:
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        sim = ref_cls(None, hw, load=load, n_requests=n, seed=seed, policy=policy)
        t1 = time.perf_counter()
        c1 = time.process_time()
        res = sim.run()
        run_s = time.process_time() - c1
        row = dict(build_s=t1 - t0, run_s=run_s, tb=res.tb_executions, events=res.events,
                   requests=res.n_requests, result0=res.to_dict())
        if best is None or row["run_s"] < best["run_s"]:
            best = row
    for k in ("tb", "events", "requests"):
        best[f"{k}_per_s"] = best[k] / best["run_s"]
    return best


# (policy, mechanisms switched on) of the contention table: least_loaded and round_robin keep
# a request in its home cluster (no NoC links used) but exercise the output buffers; static
# sends TBs to the nearest cluster holding their configuration, so its transfers contend (its
# deferred consumers can deadlock with output buffers on the suite mix, docs/model.md §4).
CONTENTION_ROWS = (("least_loaded", {"noc_contention": True, "output_buffer": 2}),
                   ("round_robin", {"noc_contention": True, "output_buffer": 2}),
                   ("static", {"noc_contention": True}))


def contention_table(requests: dict[str, int], load: float, seed: int, repeat: int
                     ) -> tuple[list[dict], list[list[str]]]:
    """Kernel TB/s with the contention mechanisms off and on, same scenario, same run."""
    recs, rows = [], []
    for hw in HARDWARE:
        for pol, on in CONTENTION_ROWS:
            n = requests[hw]
            off_k = time_kernel(hw, pol, n, load, seed, 1, repeat)
            on_k = time_kernel({"preset": hw, **on}, pol, n, load, seed, 1, repeat)
            ratio = on_k["tb_per_s"] / off_k["tb_per_s"]
            lat_ratio = on_k["result0"]["latency_mean"] / off_k["result0"]["latency_mean"]
            recs.append(dict(hardware=hw, policy=pol, on=on, n_requests=n, off=off_k, on_=on_k,
                             ratio=ratio))
            rows.append([hw, pol, ", ".join(f"{k}={v}" for k, v in on.items()), str(n),
                         fmt_rate(off_k["tb_per_s"]), fmt_rate(on_k["tb_per_s"]),
                         f"{ratio:.2f}x", f"{lat_ratio:.3f}",
                         str(on_k["contention0"]["link_waits"]),
                         str(on_k["contention0"]["output_blocked"])])
    return recs, rows


def fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
         for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w[i]) for i, h in enumerate(header)))
    print("  ".join("-" * x for x in w))
    for r in rows:
        print("  ".join(c.rjust(w[i]) for i, c in enumerate(r)))


def child_rates(requests: dict[str, int], load: float, seed: int, repeat: int) -> None:
    """In a child process (its own compile mode and a fresh cache): print, as JSON, the CPU and
    wall seconds of the first run (the kernel's first compilation) and the TB executions per
    CPU-second of the kernel on each hardware (round_robin, one member, best of ``repeat``),
    with the run's metrics (every mode must give the same)."""
    t0, c0 = time.perf_counter(), time.process_time()
    Simulation(None, "wafer", n_requests=50, policy="round_robin").run()
    out = dict(compile_cpu_s=time.process_time() - c0, compile_wall_s=time.perf_counter() - t0,
               tb_per_s={}, metrics={})
    for hw in HARDWARE:
        best = float("inf")
        for _ in range(repeat):
            sim = Simulation(None, hw, load=load, n_requests=requests[hw], seed=seed,
                             policy="round_robin")
            t = time.process_time()
            res = sim.run()[0]
            best = min(best, time.process_time() - t)
        out["tb_per_s"][hw] = res.tb_executions / best
        out["metrics"][hw] = res.to_dict()
    print(json.dumps(out))


def compare_modes(modes: list[str], requests: dict[str, int], load: float, seed: int,
                  repeat: int) -> dict:
    """Each compile mode in a child process with an empty cache folder: first compilation and
    kernel speed, side by side (the first mode is the reference of the ratios)."""
    res: dict = {}
    for mode in modes:
        with tempfile.TemporaryDirectory(prefix="octogym-bench-") as cache:
            child = subprocess.run(
                [sys.executable, __file__, "--child-rates", json.dumps(requests), str(load),
                 str(seed), str(repeat)],
                env={**os.environ, "OCTOGYM_KERNEL_INLINE": mode, "OCTOGYM_CACHE_DIR": cache},
                capture_output=True, text=True, check=True)
        res[mode] = json.loads(child.stdout)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a tiny run (smoke test)")
    ap.add_argument("--json", metavar="PATH", help="also write all measurements as JSON")
    ap.add_argument("--load", type=float, default=0.8, help="offered load (default 0.8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="kernel runs per row, best kept")
    ap.add_argument("--ref-repeat", type=int, default=1,
                    help="reference runs per row, best kept")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference simulator")
    ap.add_argument("--no-batch", action="store_true", help="skip the batch table")
    ap.add_argument("--no-contention", action="store_true",
                    help="skip the contention mechanisms table")
    ap.add_argument("--inline-modes", nargs="*", metavar="MODE", choices=INLINE_MODES,
                    help="also compare the kernel's compile modes (OCTOGYM_KERNEL_INLINE; "
                         f"default: all of {', '.join(INLINE_MODES)}) side by side, each "
                         "compiled from scratch in a child process (about a minute each)")
    args = ap.parse_args(argv)

    requests = QUICK_REQUESTS if args.quick else FULL_REQUESTS
    batches = QUICK_BATCHES if args.quick else FULL_BATCHES
    repeat = 1 if args.quick else max(1, args.repeat)
    ref_cls = None if args.no_reference else reference_class()

    warm_s = warm_up()
    print(f"octogym kernel benchmark: python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}; load {args.load}, seed {args.seed}, "
          f"suite mix; kernel mode {INLINE}; warm-up (compile or cache load) {warm_s:.1f} s, "
          "excluded")
    print("rates = (TB executions | events | completed requests) / CPU seconds of the "
          f"kernel's advance() or the reference's run(); kernel best of {repeat}, reference "
          f"best of {args.ref_repeat}")
    if ref_cls is None:
        print("reference simulator: " + ("skipped" if args.no_reference
                                         else "octogym/reference.py not found"))

    out: dict = dict(meta=dict(python=platform.python_version(), cpus=os.cpu_count(), mode=INLINE,
                               machine=platform.machine(), load=args.load, seed=args.seed,
                               quick=args.quick, repeat=repeat, ref_repeat=args.ref_repeat,
                               warm_up_s=warm_s),
                     scenarios=[], batches=[])

    rows = []
    for hw in HARDWARE:
        for pol in POLICIES:
            n = requests[hw]
            k = time_kernel(hw, pol, n, args.load, args.seed, 1, repeat)
            rec = dict(hardware=hw, policy=pol, n_requests=n, kernel=k)
            r = None
            if ref_cls is not None:
                r = time_reference(ref_cls, hw, pol, n, args.load, args.seed, args.ref_repeat)
                rec["reference"] = r
                rec["speedup"] = r["run_s"] / k["run_s"]
                rec["identical_metrics"] = r["result0"] == k["result0"]
            out["scenarios"].append(rec)
            row = [hw, pol, str(n), str(k["tb"]), f"{k['run_s']:.3f}", fmt_rate(k["tb_per_s"]),
                   fmt_rate(k["events_per_s"]), fmt_rate(k["requests_per_s"])]
            if r is not None:
                row += [f"{r['run_s']:.3f}", fmt_rate(r["tb_per_s"]), fmt_rate(r["events_per_s"]),
                        f"{rec['speedup']:.1f}x", "yes" if rec["identical_metrics"] else "NO"]
            rows.append(row)
    header = ["hw", "policy", "requests", "TB execs", "kernel CPU s", "TB/s", "events/s",
              "req/s"]
    if ref_cls is not None:
        header += ["ref CPU s", "ref TB/s", "ref ev/s", "kernel/ref", "same metrics"]
    print_table(f"1. one run (B=1), kernel ({INLINE} mode) vs reference", header, rows)

    if not args.no_batch:
        rows = []
        for hw in HARDWARE:
            for B, n in batches[hw]:
                rep = repeat if B < 1024 else 1
                k = time_kernel(hw, "least_loaded", n, args.load, args.seed, B, rep)
                peak = traced_peak_mb(hw, "least_loaded", n, args.load, args.seed, B)
                out["batches"].append(dict(hardware=hw, policy="least_loaded", batch=B,
                                           requests_per_member=n, kernel=k,
                                           tracemalloc_peak_mb=peak))
                rows.append([hw, str(B), str(n), str(B * n), str(k["tb"]), f"{k['build_s']:.2f}",
                             f"{k['run_s']:.3f}", f"{k['collect_s']:.2f}", fmt_rate(k["tb_per_s"]),
                             fmt_rate(k["events_per_s"]), fmt_rate(k["requests_per_s"]),
                             f"{k['state_mb_initial']:.1f}", f"{k['state_mb_final']:.1f}",
                             f"{peak:.1f}"])
        print_table("2. batch scaling (least_loaded; aggregate over all members)",
                    ["hw", "B", "req/member", "requests", "TB execs", "build s", "run CPU s",
                     "collect s", "TB/s", "events/s", "req/s", "state MB", "grown MB",
                     "traced peak MB"],
                    rows)

    if not args.no_contention:
        recs, rows = contention_table(requests, args.load, args.seed, repeat)
        out["contention"] = recs
        print_table(f"3. contention mechanisms off vs on (kernel {INLINE} mode, B=1, TB/s per "
                    f"CPU-second, best of {repeat}; target on/off >= 0.85)",
                    ["hw", "policy", "switched on", "requests", "off TB/s", "on TB/s", "on/off",
                     "latency on/off", "transfers waited", "output-blocked TBU-cycles"], rows)

    if args.inline_modes is not None:
        modes = args.inline_modes or list(INLINE_MODES)
        res = compare_modes(modes, requests, args.load, args.seed, repeat)
        out["inline_modes"] = res
        ref = res[modes[0]]
        rows = []
        for m, r in res.items():
            rate, ref_rate = r["tb_per_s"], ref["tb_per_s"]
            rows.append([m + (" (default)" if m == INLINE_MODES[0] else ""),
                         f"{r['compile_cpu_s']:.0f}", f"{r['compile_wall_s']:.0f}",
                         *(x for hw in HARDWARE
                           for x in (fmt_rate(rate[hw]), f"{rate[hw] / ref_rate[hw]:.2f}x")),
                         "yes" if r["metrics"] == ref["metrics"] else "NO"])
        print_table("4. compile modes (OCTOGYM_KERNEL_INLINE), each in a child process with an "
                    "empty cache: first compilation, then TB/s per CPU-second (round_robin, one "
                    f"member, best of {repeat})",
                    ["mode", "compile CPU s", "compile wall s",
                     *(x for hw in HARDWARE for x in (f"{hw} TB/s", f"vs {modes[0]}")),
                     "same metrics"], rows)

    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out["meta"]["maxrss_mb"] = maxrss_mb
    print(f"\nprocess peak RSS (ru_maxrss, whole run incl. numba/LLVM): {maxrss_mb:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--child-rates":
    child_rates(json.loads(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    sys.exit(0)
if __name__ == "__main__":
    raise SystemExit(main())
