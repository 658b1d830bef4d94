"""The paper's claims, each tested on the study's rows and marked reproduced or not.

A claim's verdict follows a fixed rule on 95% intervals (ours), so that re-running the study
after a model change re-decides every verdict:

* a number (2.50x, 4.26x): **reproduced** when our interval contains it; **direction only**
  when our interval lies above 1 but excludes it; **not reproduced** when it reaches 1 or
  below;
* an ordering or a "more than": **reproduced** when the interval of every comparison lies on
  the claimed side of 1; **not reproduced** when some interval lies on the other side;
  **inconclusive** otherwise.

The mechanism column states what drives the verdict in the data (stability of ``static``,
which ablation costs most); docs/results.md explains it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from octogym.evaluation.report import md_table
from octogym.evaluation.scenarios import BASELINE
from octogym.evaluation.study import ABLATED
from octogym.evaluation.study_report import (
    HEADLINE_REGIME,
    PAPER_AVG,
    PAPER_MAX,
    Rows,
    _across,
    latency_speedups,
    slo_speedups,
)
from octogym.workflows.suite import suite_names


def number_verdict(value: float, lo: float, hi: float, paper: float) -> str:
    """The verdict on a number the paper gives (module docstring)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive (no interval)"
    if lo <= paper <= hi:
        return "reproduced"
    if lo > 1.0:
        return f"direction only ({'above' if lo > paper else 'below'} the paper's)"
    return "not reproduced"


def order_verdict(intervals: list[tuple[float, float]]) -> str:
    """The verdict on "ahead in every comparison" from (lo, hi) of each speedup."""
    if not intervals:
        return "not tested"
    if all(lo > 1.0 for lo, _ in intervals):
        return "reproduced"
    if any(hi < 1.0 for _, hi in intervals):
        return "not reproduced"
    return "inconclusive"


def _fmt(s: dict[str, Any]) -> str:
    if not s.get("n"):
        return "-"
    return f"{s['avg']:.2f}x [{s['lo']:.2f}, {s['hi']:.2f}]"


def _count(xs: list[dict[str, Any]]) -> str:
    up = sum(s["lo"] > 1 for s in xs)
    down = sum(s["hi"] < 1 for s in xs)
    return f"ahead in {up}, behind in {down}, tied in {len(xs) - up - down} of {len(xs)}"


def claims(rows: Rows) -> list[dict[str, str]]:
    """Every claim: ``claim``, ``test`` (our measurement), ``ours``, ``verdict``,
    ``mechanism``."""
    wls = [w for w in suite_names() if any(r.get("workflows") == w for r in rows)]
    hws = list(dict.fromkeys(r["hardware"] for r in rows if r["kind"] == "latency"))
    arms = {r["arm"] for r in rows if "arm" in r}
    top_hw = hws[-1]  # the largest system present (wafer when run): the paper's setting
    out: list[dict[str, str]] = []

    def across(kind: str, hw: str, arm: str, base: str = BASELINE, **kw: Any) -> dict:
        return _across(rows, kind, hw, arm, base, workloads=kw.pop("workloads", wls),
                       regime=kw.pop("regime", HEADLINE_REGIME if kind == "latency" else None),
                       stable_only=kw.pop("stable_only", kind == "latency"))

    lat = {hw: across("latency", hw, "octopus") for hw in hws}
    slo = {hw: across("slo", hw, "octopus") for hw in hws}
    stable = [s for s in latency_speedups(rows) if s["arm"] == "octopus"
              and s["regime"] == HEADLINE_REGIME and s["workflows"] in wls]

    def stable_note(hw: str) -> str:
        xs = [s for s in stable if s["hardware"] == hw]
        return f"`static` stable on {sum(s['stable'] for s in xs)} of {len(xs)} workflows"

    ablation = _worst_ablation(rows, across, hws, arms)
    for label, paper, key in (("average", PAPER_AVG, "avg"), ("maximum", PAPER_MAX, "max")):
        s = lat[top_hw]
        if not s.get("n"):
            out.append({"claim": f"`octopus` {paper:.2f}x faster than the baseline ({label})",
                        "test": f"mean-latency speedup, {top_hw}", "ours": "-",
                        "verdict": "not tested (static unstable everywhere)",
                        "mechanism": stable_note(top_hw)})
            continue
        v, lo, hi = ((s["avg"], s["lo"], s["hi"]) if key == "avg" else
                     (s["max"]["speedup"], s["max"]["lo"], s["max"]["hi"]))
        where = "" if key == "avg" else f" ({s['max']['workflows']})"
        out.append({
            "claim": f"`octopus` {paper:.2f}x faster than a traditional baseline ({label} "
                     "over workloads, mean latency)",
            "test": f"steady mean latency, {top_hw}, {HEADLINE_REGIME} regime, "
                    "stable workflows",
            "ours": f"{v:.2f}x [{lo:.2f}, {hi:.2f}]{where}",
            "verdict": number_verdict(v, lo, hi, paper),
            "mechanism": f"{stable_note(top_hw)}; {ablation}"})
    for hw in hws:
        s = slo[hw]
        out.append({
            "claim": "`octopus` carries more load than the baseline (ours: the headline at a "
                     "latency target)",
            "test": f"throughput at the p99 SLO, {hw}, average over workflows",
            "ours": _fmt(s), "verdict": order_verdict([(s["lo"], s["hi"])]) if s.get("n")
            else "not tested",
            "mechanism": "our reading: a fixed profile saturates the holders of the "
                         "configuration the drift makes heaviest; octopus re-provisions TBUs "
                         "towards it"})
    pairs = [("octopus", "reactive"), ("reactive", BASELINE)]
    if {"octopus", "reactive"} <= arms:
        per = [s for a, b in pairs for s in latency_speedups(rows, b)
               if s["arm"] == a and s["workflows"] in wls and (s["stable"] or b != BASELINE)]
        out.append({
            "claim": "`octopus` ahead of `reactive`, `reactive` ahead of `static`",
            "test": "paired steady mean latency per scenario (static stable only)",
            "ours": "; ".join(f"`{a}` vs `{b}`: " + _count(
                [s for s in per if s["arm"] == a and s["base"] == b]) for a, b in pairs),
            "verdict": order_verdict([(s["lo"], s["hi"]) for s in per]),
            "mechanism": "our `reactive` re-provisions only under machine-wide pressure that"
                         " pays a reconfiguration; against a `static` provisioned for the whole"
                         " trace it rarely fires (docs/model.md §6)"})
    if {"adaptive", "proactive"} <= arms:
        comb = {(hw, b): across("latency", hw, "octopus", b, regime="busy", stable_only=False,
                                workloads=list(dict.fromkeys(
                                    r["workflows"] for r in rows if r["kind"] == "latency")))
                for hw in hws for b in ("adaptive", "proactive")}
        out.append({
            "claim": "Discriminate Dual-Scheduling beats each strategy alone",
            "test": "octopus over adaptive / proactive, busy regime, average over workloads",
            "ours": "; ".join(f"{hw} vs {b}: {_fmt(s)}" for (hw, b), s in comb.items()),
            "verdict": order_verdict([(s["lo"], s["hi"]) for s in comb.values() if s.get("n")]),
            "mechanism": "fine-grained placement (adaptive) does most of the work"})
    if len(hws) > 1:
        a, b = hws[0], hws[-1]
        checks = [(x[a], x[b]) for x in (lat, slo) if x[a].get("n") and x[b].get("n")]
        grows = ["reproduced" if yb["lo"] > ya["hi"] else
                 "not reproduced" if yb["hi"] < ya["lo"] else "inconclusive"
                 for ya, yb in checks]
        verdict = (grows[0] if grows and len(set(grows)) == 1 else
                   "mixed: " + ", ".join(grows) if grows else "not tested")
        out.append({
            "claim": f"gains grow from {a} to {b}",
            "test": "average speedup (mean latency; throughput at SLO), intervals compared",
            "ours": f"latency {_fmt(lat[a])} -> {_fmt(lat[b])}; SLO {_fmt(slo[a])} -> "
                    f"{_fmt(slo[b])}",
            "verdict": verdict,
            "mechanism": "static's layout and routing at each size (docs/results.md §3)"})
    diff = f"{ABLATED} -diffusion"
    if diff in arms:
        s = across("slo", top_hw, ABLATED, diff)
        out.append({
            "claim": "diffusion load balancing matters at wafer scale",
            "test": f"{ABLATED} vs {ABLATED} without diffusion, throughput at SLO, {top_hw}",
            "ours": _fmt(s),
            "verdict": order_verdict([(s["lo"], s["hi"])]) if s.get("n") else "not tested",
            "mechanism": "see the ablation table (latency on the wafer)"})
    return out


def _worst_ablation(rows: Rows, across: Callable[..., dict], hws: list[str],
                    arms: set[str]) -> str:
    """The mechanism whose removal costs ``octopus`` most throughput at the SLO."""
    best = None
    for a in sorted(a for a in arms if a.startswith(f"{ABLATED} -")):
        for hw in hws:
            s = across("slo", hw, ABLATED, a)
            if s.get("n") and (best is None or s["avg"] > best[2]["avg"]):
                best = (a, hw, s)
    if best is None:
        return "no ablation run"
    return (f"largest ablation effect: `{best[0]}` on {best[1]}, octopus carries "
            f"{_fmt(best[2])} its load")


def claims_md(rows: Rows) -> str:
    """The claim table."""
    body = [[c["claim"], c["test"], c["ours"], f"**{c['verdict']}**", c["mechanism"]]
            for c in claims(rows)]
    return md_table(["paper claim", "our test", "ours [95% CI]", "verdict", "mechanism"],
                    body, "lllll")


__all__ = ["claims", "claims_md", "number_verdict", "order_verdict", "slo_speedups"]
