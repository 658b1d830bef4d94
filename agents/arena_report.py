"""The report on :func:`octogym.agents.arena.compare_agents` rows: aggregation over seeds
(keeping each arm's description), the Markdown section ``learned.md`` (also appended to
``table.md``) and the plot ``learned.png`` (docs/agents.md, "Evaluation")."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from octogym.agents.base import EXACT
from octogym.evaluation import EVAL_SEED, METRICS, Scenario, aggregate
from octogym.evaluation.plots import new_figure
from octogym.evaluation.report import cycles_to_us, md_table, speedup_cell

#: The metrics aggregated over seeds: the kernel's, and what only env runs count.
AGENT_METRICS = (*METRICS, "fallbacks", "env_invalid_actions", "episode_steps")
_META = ("kind", "agent", "level", "controller", "trained_on")
#: How each kind of arm is named in the report.
KINDS = {"learned": "learned", "env": "heuristic, same env",
         "kernel": "heuristic, whole machine (reference)"}


def aggregate_agents(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`aggregate` of :func:`compare_agents` rows, keeping each arm's description."""
    agg = aggregate(rows, AGENT_METRICS)
    meta = {(r["scenario"], r["scheduler"]): {k: r.get(k, "") for k in _META} for r in rows}
    return [{**a, **meta[(a["scenario"], a["scheduler"])]} for a in agg]


def learned_md(agg: Sequence[dict[str, Any]], skipped: Sequence[dict[str, str]] = ()) -> str:
    """Per scenario with a learned agent: learned agents, the heuristics through the same env
    (same controller) and the kernel-only heuristics, with mean/p99 latency, speedup over
    kernel-only ``static`` and, for learned agents, the ratio to the best heuristic in the
    same env (above 1: the learned agent is faster)."""
    parts = []
    scens = list(dict.fromkeys(a["scenario"] for a in agg if a.get("kind") == "learned"))
    for scen in scens:
        arms = [a for a in agg if a["scenario"] == scen]
        learned = [a for a in arms if a["kind"] == "learned"]

        def key(a: dict[str, Any]) -> tuple:
            order = {"learned": 0, "env": 1, "kernel": 2}[a["kind"]]
            return (order, a["level"], a["controller"], a["latency_mean_mean"])

        best = {}
        for a in arms:
            if a["kind"] == "env":
                k = (a["level"], a["controller"])
                if k not in best or a["latency_mean_mean"] < best[k]["latency_mean_mean"]:
                    best[k] = a
        body = []
        for a in sorted(arms, key=key):
            pm = f"{cycles_to_us(a['latency_mean_mean']):,.0f}" + (
                f" ± {cycles_to_us(a['latency_mean_std']):,.0f}" if a["seeds"] > 1 else "")
            kind = KINDS[a["kind"]]
            if a["kind"] == "env":
                names = a["scheduler"].split(":", 1)[1].split("=")
                if not set(names) <= set(EXACT[a["level"]]):
                    kind += " †"
            where = (f"{a['level']} ({a['controller']})" if a["level"] else "-")
            if a["kind"] == "learned" and a["trained_on"] != a["hardware"]:
                where += f", trained on {a['trained_on']}"
            vs = "-"
            b = best.get((a["level"], a["controller"]))
            if a["kind"] == "learned" and b:
                vs = f"{b['latency_mean_mean'] / a['latency_mean_mean']:.2f}x ({b['scheduler']})"
            fb = a.get("fallbacks_mean")
            inv = a.get("env_invalid_actions_mean")
            p99 = f"{cycles_to_us(a['latency_p99_mean']):,.0f}"
            body.append([a["scheduler"], kind, where, pm, p99, speedup_cell(a), vs,
                         f"{fb:,.0f}" if a["kind"] == "env" and fb is not None else "-",
                         f"{inv:,.0f}" if a["kind"] != "kernel" and inv is not None else "-"])
        parts.append(f"**{scen}** ({', '.join(a['scheduler'] for a in learned)}):\n\n" + md_table(
            ["agent", "kind", "level (controller)", "mean latency (us)", "p99 latency (us)",
             "speedup vs static", "best same-env heuristic / this", "fallbacks per run",
             "invalid actions per run"], body, "lllrrrrrr"))
    if skipped:
        parts.append("Not run: " + "; ".join(f"{d['agent']} on {d['scenario']} ({d['reason']})"
                                             for d in skipped) + ".")
    parts.append("† the heuristic's decision at this level is not always expressible as an "
                 "action (TBU level: `static`/`reactive` defer a TB when their fixed TBU is "
                 "full, `eft`, `adaptive`, `octopus` may pick a TBU of another cluster); the "
                 "agent then takes, in the home cluster, the earliest-finish TBU (`eft`; "
                 "`adaptive`, `octopus` with their reconfiguration awareness) or the "
                 "least-loaded valid TBU (the others), counted in "
                 "`fallbacks per run`, so the row is an approximation of that heuristic, not "
                 "the heuristic itself.")
    return "\n\n".join(parts)


def learned_report(agg: Sequence[dict[str, Any]], skipped: Sequence[dict[str, str]],
                   scenarios: Sequence[Scenario], seeds: int,
                   n_requests: int | None = None) -> str:
    """The Markdown section on learned agents (``learned.md``, appended to ``table.md``)."""
    head = (f"Seeds: {seeds} (evaluation seeds 0..{seeds - 1}: members of base seed "
            f"{EVAL_SEED}; every training seed is below it, checked). Latency in us at 1 GHz, "
            "mean ± sample std over seeds. A learned agent makes one level of decisions inside "
            "its env (`level`), the env's controller makes the rest; `heuristic, same env` "
            "rows are each heuristic making the same decisions through the same env, same "
            "controller, same seeds (the fair comparison); `whole machine` rows are the "
            "kernel-only schedulers (each controls both levels), for reference. `a=b`: "
            "heuristics whose decision at this level is the same code, run once. Speedup: "
            "kernel-only `static`'s mean latency / this one's.")
    scen = md_table(["scenario", "workload", "hardware", "requests", "sim load", "note"],
               [[s.name, s.workflows, s.hardware, str(n_requests or s.n_requests),
                 f"{s.sim_load(n_requests):.3f}", s.note] for s in scenarios], "lllrrl")
    return "\n\n".join(["## Learned agents beside the heuristics", head, learned_md(agg, skipped),
                        "### Scenarios (learned agents)", scen]) + "\n"


def plot_learned(agg: Sequence[dict[str, Any]], path: str | Path) -> Path | None:
    """Mean latency (log scale, whiskers: per-seed range), one panel per scenario and decision
    level with a learned agent: the learned agents, every heuristic through the same env and
    the kernel-only heuristics; colour = kind."""
    panels = []
    for scen in dict.fromkeys(a["scenario"] for a in agg if a.get("kind") == "learned"):
        arms = [a for a in agg if a["scenario"] == scen]
        for level, ctrl in dict.fromkeys((a["level"], a["controller"]) for a in arms
                                         if a["kind"] == "learned"):
            sel = [a for a in arms if a["kind"] == "kernel"
                   or (a["level"], a["controller"]) == (level, ctrl)]
            sel.sort(key=lambda a: ({"learned": 0, "env": 1, "kernel": 2}[a["kind"]],
                                    a["latency_mean_mean"]))
            panels.append((f"{scen}: {level} ({ctrl})", sel))
    if not panels:
        return None
    colour = {"learned": "tab:red", "env": "tab:blue", "kernel": "0.6"}
    ncol = min(2, len(panels))
    nrow = -(-len(panels) // ncol)
    fig = new_figure(6.0 * ncol, nrow * (0.8 + 0.16 * max(len(a) for _, a in panels)))
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax, (title, arms) in zip(axes, panels, strict=False):
        y = np.arange(len(arms))
        m = np.array([cycles_to_us(a["latency_mean_mean"]) for a in arms])
        lo = m - np.array([cycles_to_us(a["latency_mean_min"]) for a in arms])
        hi = np.array([cycles_to_us(a["latency_mean_max"]) for a in arms]) - m
        ax.barh(y, m, xerr=[lo, hi], color=[colour[a["kind"]] for a in arms],
                error_kw={"elinewidth": 0.6, "capsize": 1.5})
        ax.set_yticks(y, [a["scheduler"] for a in arms], fontsize=7)
        ax.set_ylim(len(arms) - 0.5, -0.5)
        ax.set_xscale("log")
        ax.set_xlabel("mean request latency (us)", fontsize=8)
        ax.set_title(title, fontsize=9)
    from matplotlib.patches import Patch

    fig.legend([Patch(color=c) for c in colour.values()], list(KINDS.values()),
               loc="outside upper center", ncol=3, fontsize=8)
    fig.savefig(path)
    return Path(path)
