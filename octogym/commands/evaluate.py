#!/usr/bin/env python
"""Compare schedulers and learned agents on fixed, seeded scenarios (the main command, `make demo`).

Runs every chosen scenario under every chosen scheduler (default: the whole registry) for a
few evaluation seeds, prints a Markdown report (speedup over `static`, all metrics with their
spread over seeds) and writes it with CSV tables and PNG plots to --out. --agents takes any mix
of scheduler names and checkpoints (a train.py run directory or a .zip); by default every
scheduler and every bundled agent in agents/zoo/ (when present). Learned agents play the
--agent-scenarios (default: the `learn` group) beside every heuristic making the same
decisions through the same env and controller, and the kernel-only schedulers (docs/agents.md,
"Evaluation"):

  table.md            the report printed here (with `--scenarios study`: the statistical
                      study's headline, claim, ablation and SLO tables first)
  study.md            with `--scenarios study`: the statistical study's tables alone
  study_runs.csv      with `--scenarios study`: one row per study run (latency, SLO target,
                      SLO bisection; octogym/evaluation/study.py)
  table.csv           one row per (scenario, scheduler): mean/std/min/max over seeds, speedup
  runs.csv            one row per (scenario, scheduler, seed)
  speedup.png         speedup over static per workflow, per hardware and load regime
  speedup_spread.png  the same, light load, static's profile laid out in bands vs spread
  latency_vs_load.png mean latency against offered load (the sweep scenarios)
  heatmap_<s>.png     per-cluster utilisation (idle for a what-if) on the wafer's mesh,
                      static beside octopus, for the mix scenarios
  contagion_<s>.png   idle-time change by distance from a slowed cluster (what-if scenarios)
  timeline.png        TBU timeline (Gantt) of a short window, static above octopus
  learned.md          learned agents beside the heuristics (also appended to table.md)
  learned.csv         one row per (scenario, agent), learned_runs.csv one per seed too
  learned.png         mean latency of every agent per scenario and decision level

Scenarios, seeds and the comparison logic live in `octogym.evaluation` (the learned agents'
in `octogym.agents.arena`); `--list` shows the scenarios.
`--ray [ADDRESS]` runs every (scenario, scheduler or agent) as a Ray task (local instance or a
cluster; same results as the process pool) and `--sweep FILE` runs a grid sweep instead
(octogym/sweep.py); both in docs/scaling.md.
`--benchmark v1` scores --agents on the frozen benchmark instead (`octogym bench`,
docs/leaderboard.md: normalised scores per task, JSON results, a leaderboard row).
`--scenarios headroom` writes the headroom report instead (octogym/headroom.py: every
heuristic, the rollout planner over the best one, and the lower bounds, with 95% intervals over
--seeds, default 10): headroom.md, headroom.csv, headroom_runs.csv.

Scenarios, seeds and the comparison logic live in `octogym.evaluation`; `--list` shows them.
The default takes about a minute or two on 2 cores (plus ~2 min to compile the kernel once),
and about a minute more with the two bundled agents (3.5 min in all, measured while other jobs
shared the 2 cores). `--scenarios study --no-zoo` (docs/results.md) adds the statistical
study (octogym/evaluation/study.py: 10 paired seeds, steady-state latency with a run-length
stability test, throughput at a p99 target, ablations, a verdict per paper claim) before the
comparison: the study alone (`--study-only --jobs 2`) took 10 min on 2 cores shared with
other jobs, the comparison about 3-4 minutes more.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from octogym.distributed import add_executor_arguments

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("--scenarios", nargs="+", default=["default"], metavar="NAME",
                    help="scenario or group names (default: the 'default' group; see --list)")
    ap.add_argument("--agents", "--schedulers", nargs="+", default=None, metavar="SPEC",
                    dest="agents",
                    help="scheduler names and/or checkpoints (train.py run directory or .zip); "
                         "default: every scheduler and every bundled agent in agents/zoo/. "
                         "With checkpoints only, every scheduler is compared with them")
    ap.add_argument("--no-zoo", action="store_true",
                    help="leave the bundled agents of agents/zoo/ out of the default")
    ap.add_argument("--agent-scenarios", nargs="+", default=["learn"], metavar="NAME",
                    help="scenarios or groups the learned agents play (default: 'learn')")
    ap.add_argument("--agent-seeds", type=int, default=None,
                    help="evaluation seeds for the learned-agent comparison (default: --seeds)")
    ap.add_argument("--no-transfer", action="store_true",
                    help="run a learned agent only on the hardware it was trained on (default: "
                         "also on other hardware when its spaces fit, e.g. a chip-trained TBU "
                         "policy on the wafer)")
    ap.add_argument("--seeds", type=int, default=None,
                    help="evaluation seeds per run (default 3; 1 with --quick)")
    ap.add_argument("--requests", type=int, default=None,
                    help="requests per run for every scenario (default: each scenario's own; "
                         "100 with --quick)")
    ap.add_argument("--out", default=None, type=Path,
                    help="output folder (default results/; a sweep's: see octogym/sweep.py)")
    add_executor_arguments(ap, "(scenario, scheduler/agent)")
    ap.add_argument("--sweep", type=Path, default=None, metavar="FILE",
                    help="run the grid sweep in this YAML file instead (octogym/sweep.py, "
                         "docs/scaling.md); --out, --jobs, --ray and --no-progress apply")
    ap.add_argument("--benchmark", default=None, metavar="VERSION",
                    help="score --agents on a frozen benchmark version instead (e.g. v1; "
                         "the same as `octogym bench`, docs/leaderboard.md); --agents, --out, "
                         "--jobs and --no-progress apply")
    ap.add_argument("--study-seeds", type=int, default=None,
                    help="paired seeds of the statistical study that `--scenarios study` adds "
                         "(octogym/evaluation/study.py; default 10, 2 with --quick)")
    ap.add_argument("--study-hw", nargs="+", default=[], metavar="KEY=VALUE",
                    help="HardwareConfig overrides for every run of the statistical study "
                         "(e.g. a control-plane cost; docs/model.md §3)")
    ap.add_argument("--study-slo-hardware", nargs="+", default=None, metavar="HW",
                    help="hardware of the study's throughput-at-SLO search (default: chip "
                         "and wafer; the wafer's runs are the long ones, "
                         "octogym/evaluation/study.py SLO_REQUESTS)")
    ap.add_argument("--study-only", action="store_true",
                    help="with `--scenarios study`: run the statistical study only, not the "
                         "comparison of every scenario under every scheduler")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: tiny budgets (100 requests, 1 seed)")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    ap.add_argument("--list", action="store_true", help="list scenarios and groups, then exit")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from octogym import evaluation as E
    from octogym.distributed import executor_for
    from octogym.evaluation.runner import warm_up

    if args.list:
        for name, s in E.SCENARIOS.items():
            print(f"{name:30s} {s.note} (load {s.load} of {s.basis} capacity, "
                  f"{s.n_requests} requests)")
        for g, names in E.GROUPS.items():
            print(f"group {g}: {' '.join(names)}")
        return 0
    if args.benchmark is not None:  # the frozen benchmark (octogym/benchmark.py)
        from octogym.commands.bench import main as bench

        return bench(["--version", args.benchmark, "--jobs", str(args.jobs),
                      *(["--agents", *args.agents] if args.agents else []),
                      *(["--out", str(args.out)] if args.out else []),
                      *(["--no-progress"] if args.no_progress else [])])
    if args.scenarios == ["headroom"]:  # the headroom report (octogym/headroom.py)
        from octogym.headroom import main as headroom

        return headroom(args.out, args.seeds, args.requests or (100 if args.quick else None))
    if args.sweep is not None:
        from octogym.sweep import main as sweep_main
        return sweep_main([str(args.sweep), *(["--out", str(args.out)] if args.out else []),
                           "--jobs", str(args.jobs),
                           *(["--ray", args.ray] if args.ray else []),
                           *(["--no-progress"] if args.no_progress else [])])
    from octogym.agents import arena, arena_report

    seeds = args.seeds or (1 if args.quick else 3)
    agent_seeds = args.agent_seeds or seeds
    requests = args.requests or (100 if args.quick else None)
    if seeds < 1 or agent_seeds < 1 or (requests is not None and requests < 1):
        print("evaluate.py: error: --seeds, --agent-seeds and --requests must be positive",
              file=sys.stderr)
        return 2
    try:
        scenarios = E.resolve_scenarios(args.scenarios)
        schedulers, checkpoints = arena.resolve_agents(args.agents, zoo=not args.no_zoo)
        schedulers = schedulers or E.resolve_schedulers(None)
        agent_scenarios = E.resolve_scenarios(args.agent_scenarios) if checkpoints else []
        # load every checkpoint now: a broken one fails before the long runs
        arena.plan_agents(agent_scenarios, schedulers, checkpoints,
                          allow_hardware_transfer=not args.no_transfer)
        executor = executor_for(args.jobs, args.ray, warm_up=warm_up)
    except (ValueError, RuntimeError) as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        return 2
    study = None
    if "study" in args.scenarios:  # the statistical study (docs/results.md's headline)
        from octogym.evaluation.study import StudyPlan, parse_hw_options

        try:
            opts = parse_hw_options(args.study_hw)
        except ValueError as e:
            print(f"evaluate.py: error: {e}", file=sys.stderr)
            return 2
        kw = {"hw_options": opts, **({"seeds": args.study_seeds} if args.study_seeds else {}),
              **({"slo_hardware": tuple(args.study_slo_hardware)}
                 if args.study_slo_hardware else {})}
        study = StudyPlan.quick(**kw) if args.quick else StudyPlan(**kw)
    out: Path = args.out or Path("results")
    out.mkdir(parents=True, exist_ok=True)
    print(f"{len(scenarios)} scenarios x {len(schedulers)} schedulers x {seeds} seeds on "
          f"{executor!r}; the first run compiles the kernel (~2 min, cached)", flush=True)
    t0 = time.perf_counter()
    written: list[Path | None] = [out / "table.md"]
    study_md = ""
    if study is not None:  # first: its tables are written even if the comparison fails
        from octogym.evaluation.study import run_study
        from octogym.evaluation.study_report import study_markdown

        srows = run_study(study, progress=not args.no_progress, executor=executor,
                          log=lambda m: print(m, file=sys.stderr, flush=True))
        study_md = study_markdown(srows, study.seeds)
        (out / "study.md").write_text(study_md)
        written += [out / "study.md", E.csv_table(srows, out / "study_runs.csv")]
        if args.study_only:
            print(study_md)
            (out / "table.md").write_text(study_md)
            print("wrote " + " ".join(str(p) for p in written))
            print(f"done in {time.perf_counter() - t0:.0f} s")
            return 0
    rows = E.compare(scenarios, schedulers, seeds, n_requests=requests,
                     progress=not args.no_progress, executor=executor)
    agg = E.aggregate(rows)
    report = E.markdown_report(rows, agg, scenarios, seeds, requests)
    written += [E.csv_table(agg, out / "table.csv"), E.csv_table(rows, out / "runs.csv")]
    if study_md:
        report = study_md + "\n## Comparison: every scenario under every scheduler\n\n" + report
    print(report)
    (out / "table.md").write_text(report)
    written.append(E.plot_speedup(agg, out / "speedup.png"))
    if any(s.layout == "spread" for s in scenarios):
        written.append(E.plot_speedup(agg, out / "speedup_spread.png",
                                      ["-light", "-light-spread"]))
    written.append(E.plot_latency_vs_load(agg, out / "latency_vs_load.png"))
    for s in scenarios:
        if s.hardware == "wafer" and s.workflows == "mix" and not s.slowdown:
            written.append(E.plot_heatmap(rows, s, out / f"heatmap_{s.name}.png"))
        if s.slowdown and any(r["scenario"] == s.baseline for r in rows):
            written.append(E.plot_heatmap(rows, s, out / f"heatmap_{s.name}.png", what="idle"))
            written.append(E.plot_contagion(E.contagion_rings(rows, s), s,
                                            out / f"contagion_{s.name}.png"))
    # the timeline: a chip scenario (64 TBUs fit a page), agent_loop's if present: its drift
    # makes the static profile's mismatch visible
    chip = [s for s in scenarios if s.hardware == "chip" and not s.slowdown] or scenarios
    gantt = next((s for s in chip if s.name == "agent_loop-chip"), chip[0])
    written.append(E.plot_timeline(gantt, out / "timeline.png",
                                   [p for p in (E.BASELINE, "octopus") if p in schedulers]
                                   or schedulers[:1], n_requests=requests))
    if checkpoints:
        print(f"learned agents: {len(checkpoints)} checkpoint(s) x {len(agent_scenarios)} "
              f"scenarios x {agent_seeds} seeds, beside {len(schedulers)} heuristics",
              file=sys.stderr, flush=True)
        arows, skipped = arena.compare_agents(
            agent_scenarios, schedulers, checkpoints, agent_seeds, n_requests=requests,
            progress=not args.no_progress, executor=executor,
            allow_hardware_transfer=not args.no_transfer)
        aagg = arena_report.aggregate_agents(arows)
        learned = arena_report.learned_report(aagg, skipped, agent_scenarios, agent_seeds,
                                              requests)
        print(learned)
        (out / "learned.md").write_text(learned)
        with (out / "table.md").open("a") as fh:
            fh.write("\n" + learned)
        written += [out / "learned.md", E.csv_table(aagg, out / "learned.csv"),
                    E.csv_table(arows, out / "learned_runs.csv"),
                    arena_report.plot_learned(aagg, out / "learned.png")]
    print("wrote " + " ".join(str(p) for p in written if p is not None))
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
