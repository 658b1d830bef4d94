"""Aggregating the rows of a comparison over seeds, and the report's tables.

* :func:`aggregate`: one row per (scenario, scheduler): mean / std / min / max over seeds of
  every metric, and the speedup over ``static`` (paired by seed);
* :func:`speedup_summary`, :func:`contagion_rings`: the summaries the study reads;
* :func:`csv_table` and the Markdown tables, put together by :func:`markdown_report` (what
  ``evaluate.py`` prints and writes to ``table.md``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from octogym.evaluation.runner import SPLIT_KEYS
from octogym.evaluation.scenarios import BASELINE, EVAL_SEED, VARIANTS, Scenario
from octogym.hardware import PRESETS, get_hardware
from octogym.workflows.suite import suite_names

#: Metrics aggregated over seeds (each gets _mean, _std, _min, _max columns).
METRICS = ("latency_mean", "latency_p50", "latency_p99", "throughput_per_mcycle",
           "utilisation", "idle_starved", "idle_waiting_data", "idle_reconfiguring",
           "idle_blocked", "reconfigurations", "migrations", "steals", "noc_byte_hops",
           "makespan", "n_requests", "wall_s")


def _stats(x: Sequence[float]) -> tuple[float, float, float, float]:
    """mean, sample standard deviation (0 for one seed), min, max."""
    a = np.asarray(x, dtype=float)
    std = float(a.std(ddof=1)) if a.size > 1 else 0.0
    return float(a.mean()), std, float(a.min()), float(a.max())


def aggregate(rows: Sequence[dict[str, Any]], metrics: Sequence[str] = METRICS
              ) -> list[dict[str, Any]]:
    """One row per (scenario, scheduler), in first-seen order: ``seeds``, and for each metric
    its mean, sample std, min and max over seeds. When the scenario has ``static`` rows:
    ``speedup`` = static's mean latency (mean over seeds) / this scheduler's, and
    ``speedup_min`` / ``speedup_max`` over the per-seed ratios (paired by seed)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["scheduler"]), []).append(r)
    out = []
    for (scen, sched), rs in groups.items():
        a: dict[str, Any] = {k: rs[0][k] for k in ("scenario", "workflows", "hardware", "load",
                                                   "basis", "layout") if k in rs[0]}
        a["scheduler"] = sched
        a["seeds"] = len(rs)
        for m in metrics:
            if m in rs[0]:
                a[f"{m}_mean"], a[f"{m}_std"], a[f"{m}_min"], a[f"{m}_max"] = \
                    _stats([r[m] for r in rs])
        base = groups.get((scen, BASELINE))
        if base:
            lat = {r["seed"]: r["latency_mean"] for r in rs}
            blat = {r["seed"]: r["latency_mean"] for r in base}
            a["speedup"] = float(np.mean(list(blat.values())) / np.mean(list(lat.values())))
            per_seed = [blat[s] / lat[s] for s in lat if s in blat]
            a["speedup_min"] = float(min(per_seed)) if per_seed else math.nan
            a["speedup_max"] = float(max(per_seed)) if per_seed else math.nan
        out.append(a)
    return out


def speedup_summary(agg: Sequence[dict[str, Any]], scenarios: Sequence[str]
                    ) -> dict[str, dict[str, float]]:
    """Per scheduler, over the given scenarios (those present): arithmetic mean, geometric
    mean, min and max of the speedup over ``static``, and the scenario of the maximum."""
    out: dict[str, dict[str, Any]] = {}
    by: dict[str, list[tuple[str, float]]] = {}
    for a in agg:
        if a["scenario"] in scenarios and "speedup" in a:
            by.setdefault(a["scheduler"], []).append((a["scenario"], a["speedup"]))
    for sched, xs in by.items():
        v = np.array([x for _, x in xs])
        out[sched] = {"n": len(v), "mean": float(v.mean()),
                      "geomean": float(np.exp(np.log(v).mean())),
                      "min": float(v.min()), "max": float(v.max()),
                      "argmax": xs[int(v.argmax())][0]}
    return out


def contagion_rings(rows: Sequence[dict[str, Any]], scenario: Scenario, max_dist: int = 4
                    ) -> list[dict[str, Any]]:
    """Per scheduler and Manhattan distance ``d`` from the slowed cluster (``d = max_dist``
    collects everything farther): mean over clusters and seeds of each idle-split fraction in
    the what-if (``<split>``) and in its baseline (``<split>_base``), the idle fraction
    (1 - busy) and its change, with the range of the per-seed changes. Rows of both scenarios
    must be present (pairs without a baseline are skipped)."""
    hw = get_hardware(scenario.hardware)
    slow = scenario.slowdown[0][0]
    xy = hw.cluster_coords()
    dist = np.minimum(np.abs(xy - xy[slow]).sum(axis=1), max_dist)
    out = []
    scheds = list(dict.fromkeys(r["scheduler"] for r in rows if r["scenario"] == scenario.name))
    for sched in scheds:
        what = [r for r in rows if r["scenario"] == scenario.name and r["scheduler"] == sched]
        base = [r for r in rows if r["scenario"] == scenario.baseline and r["scheduler"] == sched]
        if not base:
            continue
        for d in range(max_dist + 1):
            m = dist == d
            if not m.any():
                continue
            e: dict[str, Any] = {"scheduler": sched, "distance": d, "clusters": int(m.sum())}
            for k in SPLIT_KEYS:
                w = float(np.mean([r[f"cl_{k}"][m].mean() for r in what]))
                b = float(np.mean([r[f"cl_{k}"][m].mean() for r in base]))
                e[k], e[f"{k}_base"] = w, b
            e["idle"] = 1.0 - e["busy"]
            e["idle_base"] = 1.0 - e["busy_base"]
            e["idle_change"] = e["idle"] - e["idle_base"]
            # per-seed changes, paired by seed (common random numbers)
            bb = {r["seed"]: r["cl_busy"][m].mean() for r in base}
            per = [bb[r["seed"]] - r["cl_busy"][m].mean() for r in what if r["seed"] in bb]
            e["idle_change_min"], e["idle_change_max"] = min(per), max(per)
            out.append(e)
    return out


def cycles_to_us(cycles: float, clock_ghz: float = 1.0) -> float:
    """Cycles to microseconds at ``clock_ghz``."""
    return cycles / (clock_ghz * 1e3)


def scalar_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every key of ``rows`` whose value is not an array, list or dict, in first-seen order."""
    keys: list[str] = []
    for r in rows:
        for k, v in r.items():
            if k not in keys and not isinstance(v, (np.ndarray, list, dict)):
                keys.append(k)
    return keys


def csv_table(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write the scalar columns of ``rows`` (per-seed or aggregated) as CSV."""
    path = Path(path)
    keys = scalar_keys(rows)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in keys})
    return path


def md_table(header: Sequence[str], body: Iterable[Sequence[str]], align: str | None = None
             ) -> str:
    """A Markdown table; ``align`` has one letter per column, ``l`` or ``r`` (default: the
    first column left, the others right)."""
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def speedup_cell(a: dict[str, Any]) -> str:
    """The speedup of aggregated row ``a`` over ``static``, per-seed range in brackets."""
    if "speedup" not in a:
        return "-"
    if a["seeds"] > 1:
        return f"{a['speedup']:.2f}x ({a['speedup_min']:.2f}-{a['speedup_max']:.2f})"
    return f"{a['speedup']:.2f}x"


def speedup_matrix_md(agg: Sequence[dict[str, Any]]) -> str:
    """Scenarios x schedulers: speedup over ``static`` (per-seed min-max in brackets)."""
    scheds = list(dict.fromkeys(a["scheduler"] for a in agg))
    scens = list(dict.fromkeys(a["scenario"] for a in agg))
    cell = {(a["scenario"], a["scheduler"]): a for a in agg}
    body = [[s, *(speedup_cell(cell[(s, p)]) if (s, p) in cell else "" for p in scheds)]
            for s in scens]
    return md_table(["scenario", *scheds], body)


def full_table_md(agg: Sequence[dict[str, Any]]) -> str:
    """Every (scenario, scheduler): latency (mean, p99, in us), throughput, utilisation,
    reconfigurations and speedup, as mean +- sample std over seeds."""
    def pm(a: dict[str, Any], m: str, f: Callable[[float], str]) -> str:
        if f"{m}_mean" not in a:
            return "-"
        s = f(a[f"{m}_mean"])
        return s + (f" ± {f(a[f'{m}_std'])}" if a["seeds"] > 1 else "")

    body = []
    for a in agg:
        body.append([a["scenario"], a["scheduler"],
                     pm(a, "latency_mean", lambda x: f"{cycles_to_us(x):,.0f}"),
                     pm(a, "latency_p99", lambda x: f"{cycles_to_us(x):,.0f}"),
                     pm(a, "throughput_per_mcycle", lambda x: f"{x:.1f}"),
                     pm(a, "utilisation", lambda x: f"{x:.2f}"),
                     pm(a, "reconfigurations", lambda x: f"{x:,.0f}"),
                     speedup_cell(a)])
    return md_table(["scenario", "scheduler", "mean latency (us)", "p99 latency (us)",
                "throughput (req/ms)", "utilisation", "reconfigurations", "speedup vs static"],
               body, "llrrrrrr")


def summary_md(agg: Sequence[dict[str, Any]]) -> str:
    """Average and maximum speedup over ``static`` across the six suite workflows (not the
    mix), per hardware and load regime."""
    parts = []
    for hw in PRESETS:
        for suffix, label in VARIANTS:
            summ = speedup_summary(agg, [f"{w}-{hw}{suffix}" for w in suite_names()])
            summ.pop(BASELINE, None)
            if not summ:
                continue
            body = [[p, str(s["n"]), f"{s['mean']:.2f}x", f"{s['geomean']:.2f}x",
                     f"{s['min']:.2f}x", f"{s['max']:.2f}x ({s['argmax']})"]
                    for p, s in summ.items()]
            parts.append(f"**{hw}, {label}** (the suite workflows, not the mix):\n\n" + md_table(
                ["scheduler", "workflows", "mean", "geomean", "min", "max"], body))
    return "\n\n".join(parts)


def contagion_md(rings: Sequence[dict[str, Any]]) -> str:
    """By distance from the slowed cluster: idle fraction (1 - busy), baseline -> what-if
    (change), and its starved and blocked parts, baseline -> what-if."""
    def ab(e: dict[str, Any], k: str) -> str:
        return f"{e[f'{k}_base']:.3f} -> {e[k]:.3f}"

    body = [[e["scheduler"], str(e["distance"]), str(e["clusters"]), ab(e, "idle"),
             f"{e['idle_change']:+.3f} ({e['idle_change_min']:+.3f} to "
             f"{e['idle_change_max']:+.3f})", ab(e, "starved"), ab(e, "blocked")]
            for e in rings]
    return md_table(["scheduler", "distance", "clusters", "idle", "change (per-seed range)",
                "starved", "blocked"], body, "lrrrrrr")


def markdown_report(rows: Sequence[dict[str, Any]], agg: Sequence[dict[str, Any]],
                    scenarios: Sequence[Scenario], seeds: int,
                    n_requests: int | None = None) -> str:
    """The whole Markdown report ``evaluate.py`` prints and writes to ``table.md``."""
    from octogym._numba_cache import _source_hash

    parts = [f"Seeds: {seeds} (evaluation seeds 0..{seeds - 1}: members of base seed "
             f"{EVAL_SEED}). Latency in us at 1 GHz; ± is the sample std over seeds; brackets "
             "give the per-seed range of the speedup (paired seeds). Kernel source hash "
             f"`{_source_hash()}`.",
             "### Speedup over static (mean latency of static / mean latency)",
             speedup_matrix_md(agg)]
    summ = summary_md(agg)
    if summ:
        parts += ["### Speedup summary", summ]
    parts += ["### All metrics", full_table_md(agg)]
    for s in scenarios:
        if s.slowdown and any(r["scenario"] == s.baseline for r in rows):
            parts += [f"### Contagion: {s.note}; baseline {s.baseline}\n\nPer-cluster TBU time "
                      "fractions while requests arrive, averaged over the clusters at each mesh "
                      "distance from the slowed one (4 = 4 or more) and over seeds.",
                      contagion_md(contagion_rings(rows, s))]
    parts.append("### Scenarios\n\n`peak load`: offered load / capacity in the heaviest drift "
                 "phase reached; `sim load`: the simulator's `load` (initial phase); `static "
                 "rho`: offered work / capacity of static's busiest configuration in its worst "
                 "phase (above 1, static cannot keep up).\n\n" + md_table(
        ["scenario", "workload", "hardware", "requests", "peak load", "sim load", "static rho",
         "what-if"],
        [[s.name, s.workflows, s.hardware, str(n_requests or s.n_requests),
          f"{s.load if s.basis == 'peak' else _peak_load(s, n_requests):.2f}",
          f"{s.sim_load(n_requests):.3f}", f"{s.static_rho(n_requests):.2f}",
          ", ".join([*(f"cluster {c} x{f:g}" for c, f in s.slowdown),
                     *(["spread layout"] if s.layout == "spread" else [])]) or "-"]
         for s in scenarios], "lllrrrrl"))
    return "\n\n".join(parts) + "\n"


def _peak_load(s: Scenario, n_requests: int | None) -> float:
    prof = s.profile(n_requests)
    return s.sim_load(n_requests) * prof.peak_work / prof.initial_work
