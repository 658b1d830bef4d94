"""The comparison's plots, each on its own Agg canvas (no pyplot, no global backend change):
speedup bars, latency against load, per-cluster heatmaps, contagion by mesh distance, and a
TBU timeline (Gantt chart). Each takes aggregated or per-seed rows and a path, and returns
the path written (``None`` when the rows hold nothing to plot)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from octogym.evaluation.report import cycles_to_us
from octogym.evaluation.scenarios import BASELINE, VARIANTS, WORKFLOWS, Scenario
from octogym.hardware import PRESETS, get_hardware
from octogym.kernel.layout import field
from octogym.schedulers import SCHEDULERS

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(w: float, h: float) -> Figure:
    """A ``w`` x ``h`` inch figure on its own Agg canvas (constrained layout, 110 dpi)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def scheduler_colours(names: Sequence[str]) -> dict[str, Any]:
    """A tab10 colour per name, in order (pass the whole registry: stable across plots)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def plot_speedup(agg: Sequence[dict[str, Any]], path: str | Path,
                 variants: Sequence[str] = ("", "-light")) -> Path | None:
    """Bars per scheduler of the speedup over ``static`` for each workflow scenario (log
    scale), one panel per hardware and variant (scenario-name suffix: ``""`` busy,
    ``"-light"``, ``"-light-spread"``); whiskers give the per-seed range."""
    cell = {(a["scenario"], a["scheduler"]): a for a in agg}
    panels = [(hw, suffix, label) for hw in PRESETS for suffix, label in VARIANTS
              if suffix in variants
              if any((f"{w}-{hw}{suffix}", BASELINE) in cell for w in WORKFLOWS)]
    if not panels:
        return None
    scheds = [p for p in dict.fromkeys(a["scheduler"] for a in agg) if p != BASELINE]
    col = scheduler_colours(list(SCHEDULERS))
    fig = new_figure(11, 3.2 * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (hw, suffix, label) in zip(axes, panels, strict=True):
        wfs = [w for w in WORKFLOWS if (f"{w}-{hw}{suffix}", BASELINE) in cell]
        width = 0.8 / max(len(scheds), 1)
        for i, p in enumerate(scheds):
            xs, ys, lo, hi = [], [], [], []
            for k, w in enumerate(wfs):
                a = cell.get((f"{w}-{hw}{suffix}", p))
                if a and "speedup" in a:
                    xs.append(k + (i - (len(scheds) - 1) / 2) * width)
                    ys.append(a["speedup"])
                    lo.append(max(a["speedup"] - a["speedup_min"], 0))
                    hi.append(max(a["speedup_max"] - a["speedup"], 0))
            ax.bar(xs, ys, width, yerr=[lo, hi], color=col[p], label=p, capsize=1.5,
                   error_kw={"elinewidth": 0.6})
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(range(len(wfs)), wfs)
        ax.set_yscale("log")
        ax.set_ylabel("speedup over static")
        ax.set_title(f"{hw}, {label}: mean latency of static / mean latency")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=min(len(scheds), 8),
               fontsize=8)
    fig.savefig(path)
    return Path(path)


def plot_latency_vs_load(agg: Sequence[dict[str, Any]], path: str | Path) -> Path | None:
    """Mean latency (log scale) against peak offered load for the sweep scenarios."""
    sweep = [a for a in agg if a["scenario"].startswith("sweep")]
    if not sweep:
        return None
    col = scheduler_colours(list(SCHEDULERS))
    fig = new_figure(7, 4.2)
    ax = fig.subplots()
    for p in dict.fromkeys(a["scheduler"] for a in sweep):
        pts = sorted((a["load"], *(cycles_to_us(a[f"latency_mean_{k}"])
                                   for k in ("mean", "min", "max")))
                     for a in sweep if a["scheduler"] == p)
        x, y, lo, hi = map(np.array, zip(*pts, strict=True))
        ax.plot(x, y, "o-", color=col[p], label=p, ms=3)
        ax.fill_between(x, lo, hi, color=col[p], alpha=0.15, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("offered load (fraction of capacity in the heaviest drift phase)")
    ax.set_ylabel("mean request latency (us)")
    ax.set_title(f"Latency vs load: {sweep[0]['workflows']} on {sweep[0]['hardware']} "
                 "(band: min-max over seeds)")
    ax.legend(fontsize=7, ncol=3)
    fig.savefig(path)
    return Path(path)


def plot_heatmap(rows: Sequence[dict[str, Any]], scenario: Scenario, path: str | Path,
                 schedulers: Sequence[str] = (BASELINE, "octopus"), what: str = "busy"
                 ) -> Path | None:
    """Per-cluster mean TBU time fraction ``what`` (``busy`` = utilisation, or any idle-split
    key, or ``idle`` = 1 - busy) on the cluster grid, side by side per scheduler, averaged
    over seeds (window: the arrivals). Die boundaries are drawn; a slowed cluster is boxed."""
    hw = get_hardware(scenario.hardware)
    grids = {}
    for p in schedulers:
        rs = [r for r in rows if r["scenario"] == scenario.name and r["scheduler"] == p]
        if rs:
            v = np.mean([1.0 - r["cl_busy"] if what == "idle" else r[f"cl_{what}"]
                         for r in rs], axis=0)
            grids[p] = v.reshape(hw.rows, hw.cols)
    if not grids:
        return None
    from matplotlib.patches import Rectangle

    fig = new_figure(4.2 * len(grids) + 0.8, 4.2)
    axes = fig.subplots(1, len(grids), squeeze=False)[0]
    vmax = max(float(g.max()) for g in grids.values())
    im = None
    for ax, (p, g) in zip(axes, grids.items(), strict=True):
        im = ax.imshow(g, vmin=0.0, vmax=max(vmax, 1e-9), cmap="viridis")
        for r in range(hw.die_rows, hw.rows, hw.die_rows):
            ax.axhline(r - 0.5, color="w", lw=0.8)
        for c in range(hw.die_cols, hw.cols, hw.die_cols):
            ax.axvline(c - 0.5, color="w", lw=0.8)
        for c, _ in scenario.slowdown:
            ax.add_patch(Rectangle((c % hw.cols - 0.5, c // hw.cols - 0.5), 1, 1, fill=False,
                                   ec="r", lw=1.5))
        ax.set_title(f"{p}: mean {g.mean():.2f}")
        ax.set_xticks([])
        ax.set_yticks([])
    label = "utilisation" if what == "busy" else f"{what} fraction"
    fig.colorbar(im, ax=list(axes), shrink=0.8, label=f"per-cluster TBU {label}")
    fig.suptitle(f"{scenario.name}: per-cluster TBU {label} while requests arrive")
    fig.savefig(path)
    return Path(path)


def plot_contagion(rings: Sequence[dict[str, Any]], scenario: Scenario, path: str | Path
                   ) -> Path | None:
    """Change of the idle fraction (what-if minus baseline) against distance from the slowed
    cluster, per scheduler."""
    if not rings:
        return None
    col = scheduler_colours(list(SCHEDULERS))
    fig = new_figure(6.5, 4)
    ax = fig.subplots()
    for p in dict.fromkeys(e["scheduler"] for e in rings):
        # distance 0 is the slowed cluster itself: busier by construction, not contagion
        pts = [(e["distance"], e["idle_change"]) for e in rings
               if e["scheduler"] == p and e["distance"] > 0]
        x, y = zip(*pts, strict=True)
        ax.plot(x, y, "o-", color=col[p], label=p, ms=3,
                lw=2.0 if p in (BASELINE, "octopus") else 0.8)
    ax.axhline(0.0, color="k", lw=0.8)
    mx = max(e["distance"] for e in rings)
    ax.set_xticks(range(1, mx + 1), [*map(str, range(1, mx)), f">={mx}"])
    ax.set_xlabel("mesh distance from the slowed cluster (hops)")
    ax.set_ylabel("idle fraction: slowed minus baseline")
    ax.set_title(f"Contagion: {scenario.note}\n(neighbours; the slowed cluster is in the "
                 "table)", fontsize=10)
    ax.legend(fontsize=7, ncol=3)
    fig.savefig(path)
    return Path(path)


def plot_timeline(scenario: Scenario, path: str | Path,
                  schedulers: Sequence[str] = (BASELINE, "octopus"),
                  window: tuple[float, float] = (0.40, 0.41), seed: int = 0,
                  n_requests: int | None = None, max_tbus: int = 64) -> Path:
    """A TBU timeline (Gantt chart) of evaluation seed ``seed``: one row per TBU (the first
    ``max_tbus``), one bar per TB execution coloured by configuration, for the window given as
    fractions of the scenario's arrival horizon, one panel per scheduler."""
    panels = []
    configs: list[str] = []
    for p in schedulers:
        sim = scenario.simulation(p, seed + 1, n_requests=n_requests)
        horizon = scenario.arrival_horizon(sim)
        t0, t1 = int(window[0] * horizon), int(window[1] * horizon)
        # the trace keeps the first `trace_cap` executions: grow it until nothing up to t1
        # is cut off
        cap = sim.hw.n_tbus * 64
        while True:
            sim = scenario.simulation(p, seed + 1, n_requests=n_requests, trace_cap=cap)
            sim.advance(until=t1)
            n = int(field(sim.state, "n_traced")[seed])
            if n < cap:
                break
            cap *= 4
        tr = {k: np.array(field(sim.state, k)[seed][:n])
              for k in ("tr_tbu", "tr_start", "tr_end", "tr_blk")}
        keep = (tr["tr_end"] > t0) & (tr["tr_start"] < t1) & (tr["tr_tbu"] < max_tbus)
        configs = list(sim.mix.configs)
        panels.append((p, {k: v[keep] for k, v in tr.items()}, sim, t0, t1))
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    T = min(panels[0][2].hw.n_tbus, max_tbus)
    K = panels[0][2].hw.tbus_per_cluster
    fig = new_figure(11, 0.9 + 0.06 * T * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    for ax, (p, tr, sim, t0, t1) in zip(axes, panels, strict=True):
        cfg = sim.mix.blk_cfg[tr["tr_blk"]]
        for k in np.unique(cfg):
            m = cfg == k
            s = np.maximum(tr["tr_start"][m], t0)
            e = np.minimum(tr["tr_end"][m], t1)
            ax.barh(tr["tr_tbu"][m], cycles_to_us(e - s), left=cycles_to_us(s - t0), height=0.85,
                    color=cmap(int(k) % 20), label=configs[int(k)], lw=0)
        for c in range(K, T, K):
            ax.axhline(c - 0.5, color="0.85", lw=0.4)
        ax.set_ylim(T - 0.5, -0.5)
        ax.set_xlim(0, cycles_to_us(t1 - t0))
        ax.set_ylabel(f"{p}\nTBU (lines: clusters)")
    axes[-1].set_xlabel(f"time since cycle {panels[0][3]:,} (us)")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside right center", fontsize=7, title="configuration")
    shown = "" if T == panels[0][2].hw.n_tbus else f", TBUs 0-{T - 1}"
    fig.suptitle(f"TBU timeline, {scenario.name}, seed {seed}{shown} (gaps: idle, "
                 "reconfiguring or waiting for data)")
    fig.savefig(path)
    return Path(path)
