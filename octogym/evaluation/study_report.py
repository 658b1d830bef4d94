"""The study's tables (docs/results.md), from the rows of :func:`~octogym.evaluation.study.
run_study`: the headline (mean-latency and throughput-at-SLO speedups over ``static`` beside
the paper's 2.50x / 4.26x), per-scenario speedups with intervals, the SLO loads, the ablation
and the claim table. The statistical rules are :mod:`octogym.evaluation.stats`'.

Summaries over workloads use the six suite workflows (not the mix, which is their average) and,
for mean latency, only the scenarios where ``static`` is stable: there a speedup is a
steady-state number; elsewhere it grows with the run's length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from octogym.evaluation.report import cycles_to_us, md_table
from octogym.evaluation.scenarios import BASELINE
from octogym.evaluation.stats import GROWTH_MAX, bootstrap_ci, is_stable, paired_speedup
from octogym.evaluation.study import ABLATED, REFERENCES, SLO_FACTOR, SLO_RANGE
from octogym.schedulers import PAPER_SCHEDULERS
from octogym.workflows.suite import suite_names

PAPER_AVG, PAPER_MAX = 2.50, 4.26  # the paper's average and maximum speedup (its baseline)
HEADLINE_REGIME = "light"  # the regime designed so that static's profile can keep up
#: What each paper strategy alone lacks of ``octopus`` (docs/model.md §6).
STRATEGY_HALVES = {"adaptive": "coarse-grained half (proactive provisioning, cluster choice, "
                               "diffusion)",
                   "proactive": "fine-grained half (earliest-finish TBU choice, stealing, "
                                "structural-idle rule)"}

Rows = Sequence[dict[str, Any]]


def _series(rows: Rows, kind: str, key: str, field: str) -> dict[tuple, np.ndarray]:
    """``{(group key..., arm): values ordered by seed}`` for rows of ``kind``."""
    acc: dict[tuple, dict[int, float]] = {}
    for r in rows:
        if r["kind"] == kind:
            k = (*(r[x] for x in key.split(",")), r["arm"])
            acc.setdefault(k, {})[r["seed"]] = r[field]
    return {k: np.array([v[s] for s in sorted(v)]) for k, v in acc.items()}


def slo_load(row: dict[str, Any]) -> float:
    """A seed's sustainable load from its bisection bracket: the geometric midpoint; the
    passing end when the top of the range still passed; the failing end (an upper bound) when
    the bottom already failed."""
    lo, hi = row["load_max"], row["load_fail"]
    if not math.isfinite(hi):
        return lo
    if lo <= 0:
        return hi
    return math.sqrt(lo * hi)


def _censored(row: dict[str, Any]) -> bool:
    return row["load_max"] <= 0 or not math.isfinite(row["load_fail"])


def latency_speedups(rows: Rows, base: str = BASELINE) -> list[dict[str, Any]]:
    """Per (scenario, arm != base): the paired speedup of steady mean latency over ``base``
    (stats.paired_speedup). For ``base = static``: whether it is stable there
    (stats.is_stable: static rho, and the growth of its steady mean latency per seed from the
    shorter to the longer of its two run lengths, rows of kind ``runlength``)."""
    lat = _series(rows, "latency", "scenario", "latency_mean_steady")
    other = _series(rows, "runlength", "scenario", "latency_mean_steady")
    meta = {r["scenario"]: r for r in rows if r["kind"] == "latency"}
    n_other = {r["scenario"]: r["n_requests"] for r in rows if r["kind"] == "runlength"}
    out = []
    for (scen, arm), x in lat.items():
        if arm == base or (scen, base) not in lat:
            continue
        m = meta[scen]
        growth = np.full(len(lat[(scen, base)]), math.nan)
        if base == BASELINE and (scen, base) in other:
            a, b = lat[(scen, base)], other[(scen, base)]
            growth = b / a if n_other[scen] > m["n_requests"] else a / b
        rho = m["static_rho"] if base == BASELINE else math.nan
        out.append({"scenario": scen, "workflows": m["workflows"], "hardware": m["hardware"],
                    "regime": m["regime"], "arm": arm, "base": base, "static_rho": rho,
                    "base_growth": float(np.max(growth)) if growth.size else math.nan,
                    "stable": is_stable(rho, growth), **paired_speedup(lat[(scen, base)], x)})
    return out


def slo_speedups(rows: Rows, base: str = BASELINE) -> list[dict[str, Any]]:
    """Per (workload, hardware, arm != base): sustainable loads (mean over seeds) and the
    paired speedup of the sustainable load over ``base``'s; ``censored`` when a bracket was
    open at either end of the range for some seed."""
    by: dict[tuple, dict[int, dict[str, Any]]] = {}
    for r in rows:
        if r["kind"] == "slo":
            by.setdefault((r["workflows"], r["hardware"], r["arm"]), {})[r["seed"]] = r
    out = []
    for (wf, hw, arm), rs in by.items():
        b = by.get((wf, hw, base))
        if arm == base or b is None:
            continue
        seeds = sorted(set(rs) & set(b))
        x = np.array([slo_load(rs[s]) for s in seeds])
        y = np.array([slo_load(b[s]) for s in seeds])
        out.append({"workflows": wf, "hardware": hw, "arm": arm, "base": base,
                    "load": float(x.mean()), "base_load": float(y.mean()),
                    "target": float(np.mean([b[s]["target"] for s in seeds])),
                    "censored": any(_censored(rs[s]) or _censored(b[s]) for s in seeds),
                    **paired_speedup(y, x, higher_is_better=True)})
    return out


def _across(rows: Rows, kind: str, hw: str, arm: str, base: str, *, regime: str | None,
            stable_only: bool, workloads: Sequence[str]) -> dict[str, Any]:
    """Average (arithmetic mean over workloads of the per-workload geometric-mean speedup)
    with its bootstrap interval over seeds, and the maximum workload with its t interval."""
    if kind == "latency":
        table = [s for s in latency_speedups(rows, base) if s["hardware"] == hw
                 and s["arm"] == arm and s["regime"] == regime and s["workflows"] in workloads
                 and (s["stable"] or not stable_only)]
        ser = _series(rows, "latency", "scenario", "latency_mean_steady")
        cols = [(ser[(s["scenario"], base)], ser[(s["scenario"], arm)]) for s in table]
        ratios = [b / x for b, x in cols]
    else:
        table = [s for s in slo_speedups(rows, base) if s["hardware"] == hw
                 and s["arm"] == arm and s["workflows"] in workloads]
        by = {(r["workflows"], r["arm"], r["seed"]): slo_load(r) for r in rows
              if r["kind"] == "slo" and r["hardware"] == hw}
        seeds = sorted({r["seed"] for r in rows if r["kind"] == "slo"})
        ratios = [np.array([by[(s["workflows"], arm, i)] / by[(s["workflows"], base, i)]
                            for i in seeds]) for s in table]
    if not table:
        return {"n": 0}
    n = min(len(r) for r in ratios)
    data = np.log(np.column_stack([r[:n] for r in ratios]))  # seeds x workloads

    def stat(d: np.ndarray) -> float:
        return float(np.mean(np.exp(d.mean(axis=0))))

    avg, lo, hi = bootstrap_ci(data, stat)
    top = max(table, key=lambda s: s["speedup"])
    return {"n": len(table), "avg": avg, "lo": lo, "hi": hi, "max": top,
            "censored": any(s.get("censored") for s in table)}


def _ci(v: float, lo: float, hi: float, mark: str = "") -> str:
    if not math.isfinite(v):
        return "-"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{v:.2f}x{mark}"
    return f"{v:.2f}x{mark} [{lo:.2f}, {hi:.2f}]"


def _summary_cells(s: dict[str, Any], of: int) -> list[str]:
    if not s.get("n"):
        return [f"- (0 of {of})", "-"]
    mark = "†" if s.get("censored") else ""
    top = s["max"]
    return [f"{_ci(s['avg'], s['lo'], s['hi'], mark)} ({s['n']} of {of})",
            f"{_ci(top['speedup'], top['lo'], top['hi'], mark)} {top['workflows']}"]


def headline_arms(rows: Rows) -> list[str]:
    """Paper schedulers (not the baseline) and the references present in ``rows``."""
    present = {r["arm"] for r in rows if "arm" in r}
    return [a for a in (*PAPER_SCHEDULERS, *REFERENCES) if a != BASELINE and a in present]


def headline_md(rows: Rows) -> str:
    """Per (scheduler, hardware): average and maximum over the six suite workflows of the
    mean-latency speedup (light regime, static stable only) and of the throughput-at-SLO
    speedup, with 95% intervals; the paper's numbers beside."""
    wls = [w for w in suite_names() if any(r.get("workflows") == w for r in rows)]
    hws = list(dict.fromkeys(r["hardware"] for r in rows if r["kind"] == "latency"))
    body = []
    for arm in headline_arms(rows):
        for hw in hws:
            lat = _across(rows, "latency", hw, arm, BASELINE, regime=HEADLINE_REGIME,
                          stable_only=True, workloads=wls)
            slo = _across(rows, "slo", hw, arm, BASELINE, regime=None, stable_only=False,
                          workloads=wls)
            name = f"{arm} (reference)" if arm in REFERENCES else arm
            body.append([name, hw, *_summary_cells(lat, len(wls)), *_summary_cells(slo, len(wls)),
                         f"{PAPER_AVG:.2f}x / {PAPER_MAX:.2f}x" if arm == "octopus" else ""])
    return md_table(["scheduler", "hardware", "mean-latency speedup: average (stable of six)",
                     "max", "throughput-at-SLO speedup: average", "max", "paper avg / max"],
                    body, "llrrrrr")


def latency_md(rows: Rows) -> str:
    """Every scenario: static's rho and growth, stable or not, and each arm's speedup with its
    interval and p-value (only where static is stable; ``unstable`` otherwise)."""
    sp = latency_speedups(rows)
    arms = headline_arms(rows)
    scens = list(dict.fromkeys(s["scenario"] for s in sp))
    cell = {(s["scenario"], s["arm"]): s for s in sp}
    body = []
    for sc in scens:
        first = next(s for s in sp if s["scenario"] == sc)
        row = [sc, f"{first['static_rho']:.2f}", f"{first['base_growth']:.2f}",
               "yes" if first["stable"] else "**no**"]
        for a in arms:
            s = cell.get((sc, a))
            if s is None:
                row.append("")
            elif not s["stable"]:
                row.append("unstable")
            else:
                row.append(f"{_ci(s['speedup'], s['lo'], s['hi'])} p={s['p']:.3f}")
        body.append(row)
    return md_table(["scenario", "static rho", "static growth", "stable", *arms], body,
                    "lrrl" + "r" * len(arms))


def slo_md(rows: Rows) -> str:
    """Per workload and hardware: the SLO target, static's sustainable load, and each arm's
    sustainable load with its paired speedup over static."""
    sp = slo_speedups(rows)
    arms = [a for a in headline_arms(rows) if any(s["arm"] == a for s in sp)]
    cases = list(dict.fromkeys((s["workflows"], s["hardware"]) for s in sp))
    cell = {(s["workflows"], s["hardware"], s["arm"]): s for s in sp}
    body = []
    for wf, hw in cases:
        any_s = next(s for s in sp if (s["workflows"], s["hardware"]) == (wf, hw))
        row = [f"{wf}-{hw}", f"{cycles_to_us(any_s['target']):,.0f}",
               f"{any_s['base_load']:.2f}"]
        for a in arms:
            s = cell.get((wf, hw, a))
            row.append("" if s is None else f"{s['load']:.2f}: "
                       + _ci(s["speedup"], s["lo"], s["hi"], "†" if s["censored"] else ""))
        body.append(row)
    return md_table(["workload", "p99 target (us)", "static load", *arms], body,
                    "lrr" + "r" * len(arms))


def ablation_md(rows: Rows) -> str:
    """``octopus`` against each arm with a mechanism off (and the paper's strategies alone):
    per hardware, the average over all seven workloads of the paired ratio arm / octopus of
    steady mean latency (busy regime: above 1, the mechanism helps) and of octopus's
    sustainable load over the arm's (above 1, the mechanism helps), with bootstrap intervals."""
    present = list(dict.fromkeys(r["arm"] for r in rows if "arm" in r))
    rivals = [a for a in present if a.startswith(f"{ABLATED} -")]
    rivals += [a for a in ("adaptive", "proactive") if a in present]
    wls = list(dict.fromkeys(r["workflows"] for r in rows if r["kind"] == "latency"))
    hws = list(dict.fromkeys(r["hardware"] for r in rows if r["kind"] == "latency"))
    mech = {**STRATEGY_HALVES, **{r["arm"]: r["ablates"] for r in rows if r.get("ablates")}}
    body = []
    for a in rivals:
        row = [a, mech.get(a, "")]
        for hw in hws:
            lat = _across(rows, "latency", hw, ABLATED, a, regime="busy", stable_only=False,
                          workloads=wls)
            slo = _across(rows, "slo", hw, ABLATED, a, regime=None, stable_only=False,
                          workloads=wls)
            row += [_ci(lat["avg"], lat["lo"], lat["hi"]) if lat.get("n") else "-",
                    _ci(slo["avg"], slo["lo"], slo["hi"]) if slo.get("n") else "-"]
        body.append(row)
    head = ["arm", "switched off"]
    for hw in hws:
        head += [f"{hw}: latency arm / octopus", f"{hw}: SLO load octopus / arm"]
    return md_table(head, body, "ll" + "r" * (2 * len(hws)))


def study_markdown(rows: Rows, seeds: int) -> str:
    """The study's part of ``table.md``: the rules, then every table."""
    from octogym._numba_cache import _source_hash
    from octogym.evaluation.claims import claims_md
    from octogym.metrics import DRAIN_FRACTION, WARMUP_FRACTION

    lo, hi = SLO_RANGE
    rules = (
        f"Kernel source hash `{_source_hash()}`. {seeds} paired seeds (common random numbers). "
        f"Latency statistics over the steady window: the first {WARMUP_FRACTION:.0%} and last "
        f"{DRAIN_FRACTION:.0%} of requests (arrival order) excluded. Speedup = geometric mean "
        "over seeds of the paired ratio; [95% interval] = Student-t on log-ratios; p = exact "
        "paired sign-flip test. Averages over the six suite workflows: arithmetic mean of "
        "their speedups, percentile bootstrap over seeds (seeded). Mean-latency speedups only "
        f"where `static` is stable: static rho < 1 and, on every seed, its steady mean latency "
        f"grows by less than {GROWTH_MAX:g}x from a run to one twice as long (`static growth`, "
        "the largest over seeds). Throughput at SLO: the largest load (fraction of the "
        f"heaviest phase's capacity estimate; searched upwards from {lo:g} by doubling, "
        f"then bisected, up to {hi:g}) with steady p99 <= {SLO_FACTOR:g} x the seed's p99 "
        "critical-path latency (paper schedulers and ablations; references not run); "
        "† = some seed's bracket open at an end of the range.")
    return "\n\n".join([
        "## Study: sound statistics", rules,
        "### Headline: speedup over `static`, beside the paper", headline_md(rows),
        "### Claims", claims_md(rows),
        "### Ablation: `octopus` with one mechanism off, and each strategy alone",
        ablation_md(rows),
        "### Mean-latency speedup per scenario (steady window)", latency_md(rows),
        "### Throughput at the p99 SLO (sustainable load: speedup over static)", slo_md(rows),
    ]) + "\n"
