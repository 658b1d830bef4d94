"""Seeded evaluation scenarios and the scheduler comparison behind ``evaluate.py``.

Everything the comparison needs lives here, so ``evaluate.py`` stays a thin command line and
the learned-agent evaluation can reuse it:

* :data:`SCENARIOS`: named, fixed test scenarios (each suite workflow and the mix on ``chip``
  and ``wafer`` at two loads, a load sweep, what-ifs: one slowed cluster, and static's
  profile spread over the mesh) and :data:`GROUPS` of them (``default``: the demo; ``study``:
  everything in docs/results.md);
* :func:`compare`: run scenarios x schedulers x seeds (progress bar, optional worker
  processes) into tidy rows, one per (scenario, scheduler, seed);
* :func:`aggregate`: mean / std / min / max over seeds and the speedup over ``static``;
* writers for Markdown and CSV tables, and the plots (matplotlib, Agg canvas);
* :func:`compare_agents`: learned agents (checkpoints) beside every heuristic making the same
  decisions through the same env and controller, and the kernel-only schedulers, on the
  ``learn`` scenarios (``env-chip`` / ``env-wafer``: the envs' default task; ``mix-chip``),
  with :func:`learned_report` and :func:`plot_learned` (docs/agents.md, "Evaluation").

**Seeds.** Evaluation seed ``i`` is batch member ``i`` of base seed :data:`EVAL_SEED`
(``Simulation(..., seed=EVAL_SEED, batch=n)``; ``member_offset=i`` reproduces one alone).
Training seeds stay below ``EVAL_SEED`` (train.py enforces it; :func:`check_training_seeds`
refuses a checkpoint whose ``config.json`` says otherwise), so test runs stay disjoint from
training runs. Env runs of a scenario use the same seeds (the native vector env reset with
``seed=EVAL_SEED``: member ``i`` = evaluation seed ``i``). Every scheduler sees the same
seeds, hence the same request arrivals, durations and branch outcomes (common random
numbers), which makes per-seed speedups paired comparisons.

**Load** (our choice). The simulator's ``load`` is a fraction of the capacity estimate for the
*initial* phase's work, but the suite's drift phases raise the work per request by up to 3.3x
(``video_analytics``), so a fixed simulator load would leave every scheduler overloaded after a
drift and mean latency would only measure the run's length. A scenario's ``load`` is therefore
relative to a ``basis``: ``"peak"``, the capacity in the heaviest drift phase the run reaches
(the ``busy`` scenarios, 0.7); or ``"static"``, the capacity that ``static``'s compile-time
profile gives its busiest configuration (the ``light`` scenarios, 0.7: ``static`` could keep
up if its routing spread work evenly). :meth:`Scenario.sim_load` converts.
"""

from __future__ import annotations

import csv
import math
import multiprocessing
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from octogym.hardware import PRESETS, HardwareConfig, get_hardware
from octogym.kernel.build import model_int, profile_configs
from octogym.kernel.layout import field
from octogym.metrics import tbu_time_split
from octogym.schedulers import SCHEDULERS
from octogym.simulator import Simulation, resolve_workflows
from octogym.workflows.frequencies import expected_frequencies
from octogym.workflows.suite import suite_names

__all__ = [
    "AGENT_METRICS", "Arm", "BASELINE", "EVAL_SEED", "GROUPS", "METRICS", "SCENARIOS",
    "SPLIT_KEYS", "Scenario", "aggregate_agents", "check_training_seeds", "compare_agents",
    "env_arm", "learned_arm", "learned_md", "learned_report", "plan_agents", "plot_learned",
    "resolve_agents", "run_arm",
    "WorkloadProfile", "aggregate", "compare", "contagion_rings", "csv_table",
    "markdown_report", "plot_contagion", "plot_heatmap", "plot_latency_vs_load",
    "plot_speedup", "plot_timeline", "resolve_scenarios", "resolve_schedulers", "run_one",
    "speedup_summary", "spread_configs", "workload_profile",
]

EVAL_SEED = 10_000  # base seed of every evaluation run (ours); training must not use it
BASELINE = "static"  # speedups are over the paper's traditional baseline
SPLIT_KEYS = ("busy", "starved", "waiting_data", "reconfiguring", "blocked")


# ---- scenarios ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkloadProfile:
    """Expected per-configuration work of a workload over the drift phases a run reaches."""

    configs: tuple[str, ...]
    initial: np.ndarray  # (NCFG,) TBU-cycles per request per config, initial phase
    segments: np.ndarray  # (S, NCFG) the same in each combination of phases reached

    @property
    def initial_work(self) -> float:
        return float(self.initial.sum())

    @property
    def peak_work(self) -> float:
        """TBU-cycles per request in the heaviest combination of phases reached."""
        return float(self.segments.sum(axis=1).max())

    def static_rho(self, hardware: str, sim_load: float) -> float:
        """Peak utilisation of ``static``'s busiest configuration: offered work per cycle of a
        configuration / TBUs that ``static``'s compile-time profile gives it, maximised over
        configurations and phases. Above 1, ``static`` cannot keep up in that phase (its
        backlog, hence its latency, grows with the run's length); below 1 it can, up to local
        imbalance. Exact for the expected work; ignores transfers and routing."""
        hw = get_hardware(hardware)
        share = self.initial / self.initial.sum()
        n_k = np.bincount(profile_configs(hw, share), minlength=len(self.configs))
        rate = hw.arrival_rate(sim_load, self.initial_work)  # requests per cycle
        demand = rate * self.segments  # TBU-cycles per cycle, per phase and config
        with np.errstate(divide="ignore"):
            rho = np.where(demand > 0, demand / n_k, 0.0)
        return float(rho.max())


def workload_profile(workflows: str | None, n_requests: int) -> WorkloadProfile:
    """The :class:`WorkloadProfile` of a suite workflow or ``"mix"`` (the equally weighted
    suite) for requests ``0 .. n_requests - 1``. A phase triggered by cycles (none in the
    suite) counts as reachable anywhere, which can only raise the peak."""
    wfs, weights = resolve_workflows(workflows)
    configs = tuple(dict.fromkeys(c for wf in wfs for c in wf.configs))
    total = sum(weights)

    def vec(wf, k: int) -> np.ndarray:
        v = np.zeros(len(configs))
        for c, x in expected_frequencies(wf, k).work_per_config.items():
            v[configs.index(c)] = x
        return v

    per = [[vec(wf, k) for k in range(len(wf.phases) + 1)] for wf in wfs]
    starts = sorted({0} | {p.after_requests for wf in wfs for p in wf.phases
                           if p.after_requests is not None and p.after_requests < n_requests})
    segs = []
    for s in starts:
        w = np.zeros(len(configs))
        for wf, vs, x in zip(wfs, per, weights, strict=True):
            k = sum(1 for p in wf.phases if p.after_requests is not None and p.after_requests <= s)
            cands = [vs[k]] + [vs[i + 1] for i, p in enumerate(wf.phases)
                               if p.after_requests is None]
            w += x * max(cands, key=lambda v: v.sum())
        segs.append(w / total)
    initial = sum(x * vs[0] for vs, x in zip(per, weights, strict=True)) / total
    return WorkloadProfile(configs, initial, np.array(segs))


@dataclass(frozen=True)
class Scenario:
    """One fixed test scenario. All its numbers are ours."""

    name: str
    workflows: str  # a suite workflow name, or "mix" (the whole suite, equally weighted)
    hardware: str  # a preset of octogym.hardware.PRESETS
    load: float  # offered load, as a fraction of the capacity named by `basis`
    n_requests: int
    # "peak": capacity in the heaviest drift phase reached; "static": the capacity static's
    # compile-time profile gives its busiest configuration (load < 1 keeps static stable)
    basis: str = "peak"
    slowdown: tuple[tuple[int, float], ...] = ()  # (cluster, factor): a what-if straggler
    # initial TBU configurations: "profile" (the kernel's static profile, every scheduler's
    # default) or "spread" (the same counts spread evenly over the mesh: see spread_configs)
    layout: str = "profile"
    baseline: str | None = None  # for a what-if: the scenario it modifies (same run otherwise)
    note: str = ""

    def profile(self, n_requests: int | None = None) -> WorkloadProfile:
        return workload_profile(self.workflows, n_requests or self.n_requests)

    def sim_load(self, n_requests: int | None = None) -> float:
        """The simulator's ``load`` (a fraction of initial-phase capacity) for this scenario."""
        prof = self.profile(n_requests)
        if self.basis == "peak":
            return self.load * prof.initial_work / prof.peak_work
        if self.basis == "static":
            return self.load / prof.static_rho(self.hardware, 1.0)
        if self.basis == "sim":
            return self.load
        raise ValueError(f"scenario {self.name!r}: basis must be 'peak', 'static' or 'sim'")

    def static_rho(self, n_requests: int | None = None) -> float:
        """:meth:`WorkloadProfile.static_rho` at this scenario's load."""
        return self.profile(n_requests).static_rho(self.hardware, self.sim_load(n_requests))

    def simulation(self, scheduler: str, seeds: int, *, n_requests: int | None = None,
                   trace_cap: int = 0) -> Simulation:
        """The batched simulation of this scenario: member ``i`` is evaluation seed ``i``."""
        n = n_requests or self.n_requests
        return Simulation(self.workflows, self.hardware, load=self.sim_load(n), n_requests=n,
                          batch=seeds, seed=EVAL_SEED, policy=scheduler, trace_cap=trace_cap,
                          slowdown=dict(self.slowdown) or None, tbu_init=self._tbu_init(n))

    def _tbu_init(self, n: int) -> np.ndarray | None:
        if self.layout == "spread":
            prof = self.profile(n)
            return spread_configs(get_hardware(self.hardware), prof.initial / prof.initial_work)
        if self.layout != "profile":
            raise ValueError(f"scenario {self.name!r}: layout must be 'profile' or 'spread'")
        return None

    def env_kwargs(self, n_requests: int | None = None) -> dict[str, Any]:
        """Keywords of an octogym env (any id) that plays this scenario: one episode = one run
        of :meth:`simulation` (same workload, hardware, simulator load, requests, what-ifs).
        Reset the native vector env with ``seed=EVAL_SEED`` and member ``i`` is evaluation
        seed ``i``: the same arrivals, durations and branch outcomes as the kernel-only run."""
        n = n_requests or self.n_requests
        opts: dict[str, Any] = {}
        if self.slowdown:
            opts["slowdown"] = dict(self.slowdown)
        init = self._tbu_init(n)
        if init is not None:
            opts["tbu_init"] = init
        return {"hardware": self.hardware, "workflows": self.workflows,
                "load": self.sim_load(n), "requests_per_episode": n,
                "sim_options": opts or None}

    def arrival_horizon(self, sim: Simulation) -> int:
        """Expected cycle of the last arrival: the window in which per-cluster time is split
        (after it, the run only drains, and idleness there says nothing about scheduling)."""
        n = model_int(sim.model, "n_requests")
        rate = sim.hw.arrival_rate(self.sim_load(n), sim.work_per_request)
        return max(int(n / rate), 1)


def spread_configs(hw: HardwareConfig, share: np.ndarray) -> np.ndarray:
    """The static profile's TBU counts per configuration (:func:`profile_configs`), laid out
    evenly over the mesh instead of in bands of consecutive clusters (a what-if of ours).

    The kernel's profile deals configurations to clusters in id order, so a configuration
    with fewer TBUs than clusters occupies a band of consecutive rows; ``static`` sends a TB
    to the nearest cluster holding its configuration, so on the wafer every cluster outside
    the band sends its work to the few holders on the band's edge. Here TBU ``i`` of the same
    sequence goes to cluster ``(i * s) mod C`` (``s`` odd, coprime with ``C``, near ``C`` over
    the golden ratio), slot ``i // C``: each cluster still gets one TBU per slot, and each
    configuration's holders are scattered over the whole mesh."""
    seq = np.sort(profile_configs(hw, share), kind="stable")
    C, K = hw.n_clusters, hw.tbus_per_cluster
    step = int(round(C * 0.618)) | 1
    while math.gcd(step, C) != 1:
        step += 2
    out = np.empty_like(seq)
    i = np.arange(len(seq))
    out[((i * step) % C) * K + i // C] = seq
    return out


def _cluster(hw: str, row: int, col: int) -> int:
    return row * PRESETS[hw].cols + col


def _build_scenarios() -> dict[str, Scenario]:
    # Requests (ours): chip 4000 reaches every drift phase of the suite (the last starts at
    # request 3000); the wafer's arrival rate is 16x the chip's at equal load, so it gets 3x
    # the requests (a run 3/16 as long in cycles, still tens of request latencies).
    n = {"chip": 4000, "wafer": 12000}
    out: dict[str, Scenario] = {}

    def add(s: Scenario) -> None:
        out[s.name] = s

    for hw in ("chip", "wafer"):
        for wf in _WORKFLOWS:
            # busy: 0.7 of the capacity in the heaviest phase, for a scheduler that provisions
            # well; static's fixed profile is overloaded there in most workflows
            add(Scenario(f"{wf}-{hw}", wf, hw, 0.7, n[hw], note=f"{wf} on {hw}, busy"))
        for wf in _WORKFLOWS:
            # light: 0.7 of what static's own profile sustains, so static stays stable too
            add(Scenario(f"{wf}-{hw}-light", wf, hw, 0.7, n[hw], basis="static",
                         note=f"{wf} on {hw}, light (static's busiest config at 0.7)"))
        for wf in _WORKFLOWS:
            # the same, with the static profile's TBUs spread over the mesh (what-if)
            add(Scenario(f"{wf}-{hw}-light-spread", wf, hw, 0.7, n[hw], basis="static",
                         layout="spread", note=f"{wf} on {hw}, light, spread layout"))
    for load in (0.3, 0.5, 0.7, 0.9, 1.1):
        add(Scenario(f"sweep-chip-{load:.1f}", "mix", "chip", load, n["chip"],
                     note="load sweep, mix on chip"))
    # run-length check: static's latency grows with the run once it is overloaded
    add(Scenario("mix-chip-x2", "mix", "chip", 0.7, 2 * n["chip"], note="mix-chip, 2x requests"))
    # Contagious PEA Idleness what-if (ours): one cluster's TBUs run 4x slower (a throttled or
    # degraded cluster); an interior cluster, so it has four mesh neighbours (on the wafer
    # also inside one die).
    for hw, (r, c) in (("chip", (1, 1)), ("wafer", (5, 5))):
        add(Scenario(f"contagion-{hw}", "mix", hw, 0.7, n[hw],
                     slowdown=((_cluster(hw, r, c), 4.0),), baseline=f"mix-{hw}",
                     note=f"mix on {hw}, busy, cluster ({r},{c}) 4x slower"))
    # The envs' default task (octogym/<Decision>-v0 and -Wafer-v0 without kwargs: the whole
    # suite, simulator load 0.8, 200 requests per episode): what the bundled agents were trained
    # on, here on the evaluation seeds (learned agents: in distribution).
    for hw in ("chip", "wafer"):
        add(Scenario(f"env-{hw}", "mix", hw, 0.8, 200, basis="sim",
                     note=f"the envs' default task on {hw} (mix, sim load 0.8, 200 requests)"))
    return out


_WORKFLOWS = [*suite_names(), "mix"]
SCENARIOS: dict[str, Scenario] = _build_scenarios()
GROUPS: dict[str, tuple[str, ...]] = {
    # `python evaluate.py`: every plot, about a minute on 2 cores
    "default": (*(f"{w}-chip" for w in _WORKFLOWS), *(f"{w}-chip-light" for w in _WORKFLOWS),
                *(n for n in SCENARIOS if "sweep" in n), "mix-wafer", "mix-wafer-light",
                "contagion-wafer"),
    # docs/results.md: everything but the envs' default tasks (those are for learned agents)
    "study": tuple(n for n in SCENARIOS if not n.startswith("env-")),
    # learned agents beside the heuristics (`python evaluate.py`: --agent-scenarios)
    "learn": ("env-chip", "mix-chip", "env-wafer"),
    # the learning section of docs/results.md (several minutes per agent)
    "learn-study": ("env-chip", *(f"{w}-chip" for w in _WORKFLOWS), "mix-chip-light",
                    "env-wafer", "mix-wafer", "mix-wafer-light"),
    **{g: tuple(f"{w}-{g}" for w in _WORKFLOWS) for g in ("chip", "wafer")},
    **{f"{g}{v}": tuple(f"{w}-{g}{v}" for w in _WORKFLOWS)
       for g in ("chip", "wafer") for v in ("-light", "-light-spread")},
    "sweep": tuple(n for n in SCENARIOS if n.startswith("sweep")),
    "contagion": tuple(n for n in SCENARIOS if n.startswith("contagion")),
}


def resolve_scenarios(names: Iterable[str]) -> list[Scenario]:
    """Scenario and group names to scenarios (order kept, duplicates dropped); a what-if's
    baseline is added when missing. Unknown names raise ``ValueError`` listing valid ones."""
    out: dict[str, Scenario] = {}
    for name in names:
        if name in GROUPS:
            picked = GROUPS[name]
        elif name in SCENARIOS:
            picked = (name,)
        else:
            raise ValueError(f"unknown scenario {name!r}; groups: {', '.join(GROUPS)}; "
                             f"scenarios: {', '.join(SCENARIOS)}")
        for p in picked:
            out.setdefault(p, SCENARIOS[p])
    for s in list(out.values()):
        if s.baseline and s.baseline not in out:
            out[s.baseline] = SCENARIOS[s.baseline]
    return list(out.values())


def resolve_schedulers(names: Iterable[str] | None) -> list[str]:
    """Scheduler names (``None``: the whole registry, in registry order)."""
    if names is None:
        return list(SCHEDULERS)
    names = list(dict.fromkeys(names))
    bad = [n for n in names if n not in SCHEDULERS]
    if bad:
        raise ValueError(f"unknown scheduler(s) {', '.join(map(repr, bad))}; valid: "
                         f"{', '.join(SCHEDULERS)}")
    return names


# ---- running -----------------------------------------------------------------------------


def run_one(scenario: Scenario, scheduler: str, seeds: int,
            n_requests: int | None = None) -> list[dict[str, Any]]:
    """Run one scenario under one scheduler for ``seeds`` evaluation seeds: one row each.

    A row holds the scenario's description, the scheduler, the seed index, every scalar of
    :meth:`SimResult.to_dict` (whole run), ``wall_s`` (wall time per seed), and per-cluster
    arrays ``cl_<split>`` (C,) = fraction of the cluster's TBU-time in each state of the idle
    split, measured from 0 to the arrival horizon (:meth:`Scenario.arrival_horizon`)."""
    sim = scenario.simulation(scheduler, seeds, n_requests=n_requests)
    horizon = scenario.arrival_horizon(sim)
    K = sim.hw.tbus_per_cluster
    t0 = time.perf_counter()
    sim.advance(until=horizon)
    window = [tbu_time_split(sim.model, sim.state, b, horizon) for b in range(seeds)]
    results = sim.run()
    wall = time.perf_counter() - t0
    rows = []
    for b, (res, split) in enumerate(zip(results, window, strict=True)):
        row: dict[str, Any] = {
            "scenario": scenario.name, "workflows": scenario.workflows,
            "hardware": scenario.hardware, "load": scenario.load, "basis": scenario.basis,
            "layout": scenario.layout, "scheduler": scheduler,
            "seed": b, **res.to_dict(), "wall_s": wall / seeds, "horizon": horizon,
        }
        for k in SPLIT_KEYS:
            row[f"cl_{k}"] = split[k].reshape(-1, K).sum(axis=1) / (K * horizon)
        rows.append(row)
    return rows


def _warm_up() -> None:
    """Compile (or load) the kernel once in this process before workers start, so that
    workers read the cache instead of compiling concurrently."""
    Simulation("recognition", "chip", n_requests=2, policy=BASELINE).run()


def compare(scenarios: Sequence[Scenario], schedulers: Sequence[str], seeds: int, *,
            n_requests: int | None = None, progress: bool = True, jobs: int = 1
            ) -> list[dict[str, Any]]:
    """Run every scenario under every scheduler for ``seeds`` evaluation seeds.

    Returns tidy rows (see :func:`run_one`), ordered by scenario, scheduler (as given) and
    seed. ``n_requests`` overrides every scenario's; ``jobs > 1`` runs (scenario, scheduler)
    pairs in that many worker processes (results are identical, only faster)."""
    from tqdm.auto import tqdm

    tasks = [(s, p) for s in scenarios for p in schedulers]
    # longest first, so that parallel workers finish together (wafer, then eft, are slowest)
    cost = {p: (3.0 if p == "eft" else 1.0) for p in schedulers}
    order = sorted(tasks, key=lambda t: -PRESETS[t[0].hardware].tbus_per_cluster
                   * PRESETS[t[0].hardware].rows * PRESETS[t[0].hardware].cols
                   * (n_requests or t[0].n_requests) * cost[t[1]])
    bar = tqdm(total=len(tasks), disable=not progress, unit="run", desc="compare")
    done: dict[tuple[str, str], list[dict[str, Any]]] = {}
    try:
        if jobs <= 1:
            for s, p in order:
                bar.set_postfix_str(f"{s.name} / {p}")
                done[(s.name, p)] = run_one(s, p, seeds, n_requests)
                bar.update()
        else:
            _warm_up()
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                futs = {pool.submit(run_one, s, p, seeds, n_requests): (s.name, p)
                        for s, p in order}
                for fut in as_completed(futs):
                    done[futs[fut]] = fut.result()
                    bar.set_postfix_str(" / ".join(futs[fut]))
                    bar.update()
    finally:
        bar.close()
    return [r for s, p in tasks for r in done[(s.name, p)]]


# ---- aggregation -------------------------------------------------------------------------

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


# ---- tables ------------------------------------------------------------------------------


def _us(cycles: float, clock_ghz: float = 1.0) -> float:
    return cycles / (clock_ghz * 1e3)


def _scalar_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for r in rows:
        for k, v in r.items():
            if k not in keys and not isinstance(v, (np.ndarray, list, dict)):
                keys.append(k)
    return keys


def csv_table(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write the scalar columns of ``rows`` (per-seed or aggregated) as CSV."""
    path = Path(path)
    keys = _scalar_keys(rows)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in keys})
    return path


def _md(header: Sequence[str], body: Iterable[Sequence[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _speedup_cell(a: dict[str, Any]) -> str:
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
    body = [[s, *(_speedup_cell(cell[(s, p)]) if (s, p) in cell else "" for p in scheds)]
            for s in scens]
    return _md(["scenario", *scheds], body)


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
                     pm(a, "latency_mean", lambda x: f"{_us(x):,.0f}"),
                     pm(a, "latency_p99", lambda x: f"{_us(x):,.0f}"),
                     pm(a, "throughput_per_mcycle", lambda x: f"{x:.1f}"),
                     pm(a, "utilisation", lambda x: f"{x:.2f}"),
                     pm(a, "reconfigurations", lambda x: f"{x:,.0f}"),
                     _speedup_cell(a)])
    return _md(["scenario", "scheduler", "mean latency (us)", "p99 latency (us)",
                "throughput (req/ms)", "utilisation", "reconfigurations", "speedup vs static"],
               body, "llrrrrrr")


_VARIANTS = (("", "busy"), ("-light", "light"), ("-light-spread", "light, spread layout"))


def summary_md(agg: Sequence[dict[str, Any]]) -> str:
    """Average and maximum speedup over ``static`` across the six suite workflows (not the
    mix), per hardware and load regime."""
    parts = []
    for hw in PRESETS:
        for suffix, label in _VARIANTS:
            summ = speedup_summary(agg, [f"{w}-{hw}{suffix}" for w in suite_names()])
            summ.pop(BASELINE, None)
            if not summ:
                continue
            body = [[p, str(s["n"]), f"{s['mean']:.2f}x", f"{s['geomean']:.2f}x",
                     f"{s['min']:.2f}x", f"{s['max']:.2f}x ({s['argmax']})"]
                    for p, s in summ.items()]
            parts.append(f"**{hw}, {label}** (the suite workflows, not the mix):\n\n" + _md(
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
    return _md(["scheduler", "distance", "clusters", "idle", "change (per-seed range)",
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
                 "phase (above 1, static cannot keep up).\n\n" + _md(
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


# ---- plots (an Agg canvas per figure: no pyplot, no global backend change) ----------------


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _colours(names: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def plot_speedup(agg: Sequence[dict[str, Any]], path: str | Path,
                 variants: Sequence[str] = ("", "-light")) -> Path | None:
    """Bars per scheduler of the speedup over ``static`` for each workflow scenario (log
    scale), one panel per hardware and variant (scenario-name suffix: ``""`` busy,
    ``"-light"``, ``"-light-spread"``); whiskers give the per-seed range."""
    cell = {(a["scenario"], a["scheduler"]): a for a in agg}
    panels = [(hw, suffix, label) for hw in PRESETS for suffix, label in _VARIANTS
              if suffix in variants
              if any((f"{w}-{hw}{suffix}", BASELINE) in cell for w in _WORKFLOWS)]
    if not panels:
        return None
    scheds = [p for p in dict.fromkeys(a["scheduler"] for a in agg) if p != BASELINE]
    col = _colours(list(SCHEDULERS))
    fig = _figure(11, 3.2 * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (hw, suffix, label) in zip(axes, panels, strict=True):
        wfs = [w for w in _WORKFLOWS if (f"{w}-{hw}{suffix}", BASELINE) in cell]
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
    col = _colours(list(SCHEDULERS))
    fig = _figure(7, 4.2)
    ax = fig.subplots()
    for p in dict.fromkeys(a["scheduler"] for a in sweep):
        pts = sorted((a["load"], _us(a["latency_mean_mean"]), _us(a["latency_mean_min"]),
                      _us(a["latency_mean_max"])) for a in sweep if a["scheduler"] == p)
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

    fig = _figure(4.2 * len(grids) + 0.8, 4.2)
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
    col = _colours(list(SCHEDULERS))
    fig = _figure(6.5, 4)
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
    fig = _figure(11, 0.9 + 0.06 * T * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    for ax, (p, tr, sim, t0, t1) in zip(axes, panels, strict=True):
        cfg = sim.mix.blk_cfg[tr["tr_blk"]]
        for k in np.unique(cfg):
            m = cfg == k
            s = np.maximum(tr["tr_start"][m], t0)
            e = np.minimum(tr["tr_end"][m], t1)
            ax.barh(tr["tr_tbu"][m], _us(e - s), left=_us(s - t0), height=0.85,
                    color=cmap(int(k) % 20), label=configs[int(k)], lw=0)
        for c in range(K, T, K):
            ax.axhline(c - 0.5, color="0.85", lw=0.4)
        ax.set_ylim(T - 0.5, -0.5)
        ax.set_xlim(0, _us(t1 - t0))
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


# ---- learned agents beside the heuristics --------------------------------------------------
#
# A learned agent makes one level of decisions inside an env (TBUAssign: which TBU of the home
# cluster runs a ready TB; ClusterAssign: a request's home cluster); the env's `controller`
# runs everything else. The fair comparison is therefore every heuristic making the *same*
# decisions through the *same* env with the *same* controller (`HeuristicAgent(name)`, kind
# "env"), on the same seeded episodes. The kernel-only runs of the full heuristics (kind
# "kernel", each scheduler controlling everything) are listed beside them for reference.

#: The env kwargs an evaluation scenario sets (Scenario.env_kwargs); every other kwarg a
#: learned agent was trained with (controller, reward, ...) is kept.
SCENARIO_ENV_KEYS = ("hardware", "workflows", "load", "requests_per_episode", "sim_options")
#: Short names of the decision levels in row labels.
LEVELS = {"TBUAssign": "tbu", "ClusterAssign": "cluster"}
KINDS = {"learned": "learned", "env": "heuristic, same env",
         "kernel": "heuristic, whole machine (reference)"}


@dataclass(frozen=True)
class Arm:
    """One contestant of :func:`compare_agents`: a row label and how it is run."""

    label: str  # the rows' "scheduler" value
    kind: str  # "learned" | "env" (a heuristic through the env) | "kernel" (kernel only)
    agent: str  # a scheduler name or a checkpoint path
    level: str | None = None  # "TBUAssign" / "ClusterAssign" (None: kernel)
    controller: str | None = None  # the env's controller (None: kernel)
    env_id: str | None = None  # the env id (learned: the one it was trained on)
    hardware: str | None = None  # learned: the hardware it was trained on


def learned_arm(agent: Any, label: str | None = None) -> Arm:
    """The :class:`Arm` of a loaded :class:`~octogym.agents.SB3Agent`."""
    from octogym.envs.decisions import ClusterDecision, TBUDecision

    default = {"TBUAssign": TBUDecision, "ClusterAssign": ClusterDecision}[agent.decision]
    controller = agent.env_kwargs.get("controller") or default.default_controller
    if label is None:
        p = agent.zip_path
        run = p.parent.parent if p.parent.name == "checkpoints" else p.parent
        label = "rl:" + (run.name if p.name == "final.zip" else f"{run.name}/{p.stem}")
    hw = agent.hardware if isinstance(agent.hardware, str) else json_name(agent.hardware)
    return Arm(label, "learned", str(agent.zip_path), agent.decision, controller,
               agent.env_id, hw)


def json_name(x: Any) -> str:
    import json

    return json.dumps(x, sort_keys=True, default=str)


def env_arm(names: str | Sequence[str], level: str, controller: str) -> Arm:
    """Heuristic ``names[0]`` making the ``level`` decisions of an env run by ``controller``;
    the label names every heuristic of ``names`` (the same decision hook:
    :data:`octogym.agents.SAME_DECISION`)."""
    from octogym.envs.decisions import ClusterDecision, TBUDecision

    names = (names,) if isinstance(names, str) else tuple(names)
    default = {"TBUAssign": TBUDecision, "ClusterAssign": ClusterDecision}[level]
    tag = LEVELS[level] + ("" if controller == default.default_controller else f"[{controller}]")
    return Arm(f"{tag}:{'='.join(names)}", "env", names[0], level, controller,
               f"octogym/{level}-v0")


def check_training_seeds(agent: Any) -> None:
    """Raise ``ValueError`` unless every training env seed of ``agent`` (``seed + i``,
    ``i < n_envs``, from its config.json) lies below :data:`EVAL_SEED`."""
    cfg = agent.config
    seed, n_envs = cfg.get("seed"), cfg.get("n_envs")
    if not isinstance(seed, int) or not isinstance(n_envs, int):
        raise ValueError(f"{agent.name}: config.json lacks integer 'seed' / 'n_envs', so its "
                         "training seeds cannot be checked against the evaluation seeds")
    if seed < 0 or seed + n_envs > EVAL_SEED:
        raise ValueError(f"{agent.name}: trained on env seeds {seed}..{seed + n_envs - 1}, "
                         f"which reach the evaluation seeds (base {EVAL_SEED})")


def _spaces_fit(arm: Arm, hardware: str) -> str | None:
    """Why a learned ``arm`` cannot act on ``hardware`` (observation or action size), or
    ``None`` if it can."""
    from octogym.envs.decisions import ClusterDecision, TBUDecision
    from octogym.envs.layout import obs_size

    dec = {"TBUAssign": TBUDecision, "ClusterAssign": ClusterDecision}[arm.level]()
    shapes = []
    for h in (arm.hardware, hardware):
        hw = get_hardware(json_load(h))
        shapes.append((obs_size(dec.features, hw.tbus_per_cluster, hw.n_clusters),
                       dec.n_actions(hw)))
    if shapes[0] != shapes[1]:
        return (f"trained on {arm.hardware} (observation {shapes[0][0]}, {shapes[0][1]} "
                f"actions); {hardware} has observation {shapes[1][0]}, {shapes[1][1]} actions")
    return None


def json_load(x: str) -> Any:
    import json

    return json.loads(x) if x.startswith("{") else x


def run_arm(scenario: Scenario, arm: Arm, seeds: int, n_requests: int | None = None, *,
            allow_hardware_transfer: bool = False) -> list[dict[str, Any]]:
    """Rows of one :class:`Arm` on one scenario, one per evaluation seed (see
    :func:`run_one`; env arms carry no per-cluster arrays, but ``fallbacks`` (heuristic
    decisions not expressible as an action, replaced by the least-loaded valid TBU),
    ``env_invalid_actions`` and ``episode_steps``).

    Env arms play the scenario in the native vector env (:meth:`Scenario.env_kwargs`), one
    member per seed, reset with ``seed=EVAL_SEED``: member ``i`` is evaluation seed ``i``
    (the kernel-only runs' seeds). Every step asks the agent for all members still playing
    at once (``act_batch``: one policy forward pass for a learned agent)."""
    meta = {"kind": arm.kind, "agent": arm.agent, "level": arm.level or "",
            "controller": arm.controller or "", "trained_on": arm.hardware or ""}
    if arm.kind == "kernel":
        return [{**r, "scheduler": arm.label, **meta}
                for r in run_one(scenario, arm.agent, seeds, n_requests)]
    import gymnasium as gym

    import octogym  # noqa: F401  (registers the ids)
    from octogym.agents import HeuristicAgent, SB3Agent

    kw = scenario.env_kwargs(n_requests)
    if arm.kind == "learned":
        import torch

        torch.set_num_threads(1)
        agent: Any = SB3Agent(arm.agent)
        kw = {**{k: v for k, v in agent.env_kwargs.items()
                 if k not in (*SCENARIO_ENV_KEYS, "max_steps", "render_mode")}, **kw}
        agent.check_env(agent.env_id, kw, vary=(*SCENARIO_ENV_KEYS, "max_steps", "render_mode"),
                        allow_hardware_transfer=allow_hardware_transfer)
        env_id = agent.env_id
    else:
        agent = HeuristicAgent(arm.agent)
        kw["controller"] = arm.controller
        env_id = arm.env_id
    venv = gym.make_vec(env_id, num_envs=seeds, vectorization_mode="vector_entry_point", **kw)
    core = getattr(venv, "unwrapped", venv).core
    if arm.kind == "learned":
        agent.check_spaces(venv.single_observation_space, venv.single_action_space)
    t0 = time.perf_counter()
    venv.reset(seed=EVAL_SEED)
    done = np.zeros(seeds, np.bool_)
    metrics: list[dict[str, Any]] = [{} for _ in range(seeds)]
    while not done.all():
        rows = np.flatnonzero(~done)
        actions = agent.act_batch(core.obs, core.mask, venv, rows)
        _, term, trunc = core.step(actions, active=~done)
        if trunc.any():
            raise RuntimeError(f"{arm.label} on {scenario.name}: an episode was truncated")
        for b in np.flatnonzero(term & ~done):
            metrics[b] = core.metrics(int(b))
        done |= term
    wall = time.perf_counter() - t0
    venv.close()
    fb = getattr(agent, "member_fallbacks", np.zeros(seeds, np.int64))
    rows_out = []
    for b in range(seeds):
        rows_out.append({
            "scenario": scenario.name, "workflows": scenario.workflows,
            "hardware": scenario.hardware, "load": scenario.load, "basis": scenario.basis,
            "layout": scenario.layout, "scheduler": arm.label, "seed": b, **metrics[b],
            "wall_s": wall / seeds, **meta,
            "fallbacks": int(fb[b]) if b < len(fb) else 0})
    return rows_out


def resolve_agents(specs: Iterable[str] | None, zoo: bool = True
                   ) -> tuple[list[str], list[str]]:
    """Split agent specs into scheduler names and checkpoint paths. ``None``: every
    scheduler, plus (``zoo``) every bundled checkpoint (:func:`octogym.agents.zoo_checkpoints`).
    A spec that is neither raises ``ValueError`` saying so; checkpoints are loaded later."""
    from octogym.agents import zoo_checkpoints

    if specs is None:
        return list(SCHEDULERS), [str(p) for p in zoo_checkpoints()] if zoo else []
    names, paths, bad = [], [], []
    for sp in dict.fromkeys(specs):
        if sp in SCHEDULERS:
            names.append(sp)
        elif Path(sp).exists() or Path(sp).with_suffix(".zip").is_file():
            paths.append(sp)
        else:
            bad.append(sp)
    if bad:
        raise ValueError(f"{', '.join(map(repr, bad))}: neither a scheduler "
                         f"({', '.join(SCHEDULERS)}) nor an existing checkpoint (a train.py run "
                         "directory with final.zip and config.json, or a .zip)")
    return names, paths


def plan_agents(scenarios: Sequence[Scenario], heuristics: Sequence[str],
                checkpoints: Sequence[str], *, allow_hardware_transfer: bool = True
                ) -> tuple[list[tuple[Scenario, Arm]], list[dict[str, str]], list[Arm]]:
    """The runs of :func:`compare_agents`: ``(tasks, skipped, learned arms)``.

    For each scenario: every heuristic kernel-only; each learned agent that can act on the
    scenario's hardware (its own, or another with ``allow_hardware_transfer`` when the spaces
    fit); and, for each (level, controller) of a learned agent that runs there, every
    heuristic through that env (heuristics with the same decision hook at that level run
    once, labelled with all their names). ``skipped`` says which learned agent was not run
    where, and why. Checkpoints are loaded here: a broken one, or one whose training seeds reach the
    evaluation seeds, raises ``ValueError``."""
    from octogym.agents import SB3Agent, decision_groups

    learned: list[Arm] = []
    for cp in checkpoints:
        try:
            agent = SB3Agent(cp)
        except (FileNotFoundError, KeyError, ValueError) as e:
            raise ValueError(f"cannot load checkpoint {cp!r}: {e}") from e
        check_training_seeds(agent)
        arm = learned_arm(agent)
        if any(a.label == arm.label for a in learned):
            arm = learned_arm(agent, f"{arm.label}#{len(learned)}")
        learned.append(arm)
    tasks: list[tuple[Scenario, Arm]] = []
    skipped: list[dict[str, str]] = []
    for s in scenarios:
        tasks += [(s, Arm(h, "kernel", h)) for h in heuristics]
        levels: dict[tuple[str, str], None] = {}
        for arm in learned:
            why = None
            if s.hardware != arm.hardware:
                why = (_spaces_fit(arm, s.hardware) if allow_hardware_transfer else
                       f"trained on {arm.hardware}; hardware transfer disabled")
            if why:
                skipped.append({"scenario": s.name, "agent": arm.label, "reason": why})
                continue
            tasks.append((s, arm))
            levels[(arm.level, arm.controller)] = None
        for level, controller in levels:
            tasks += [(s, env_arm(g, level, controller))
                      for g in decision_groups(list(heuristics), level)]
    return tasks, skipped, learned


def compare_agents(scenarios: Sequence[Scenario], heuristics: Sequence[str],
                   checkpoints: Sequence[str], seeds: int, *, n_requests: int | None = None,
                   allow_hardware_transfer: bool = True, progress: bool = True, jobs: int = 1
                   ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Learned agents beside the heuristics on ``scenarios`` (see :func:`plan_agents` for
    what runs): ``(rows, skipped)``, rows as :func:`run_arm` gives them, in plan order."""
    from tqdm.auto import tqdm

    tasks, skipped, _ = plan_agents(scenarios, heuristics, checkpoints,
                                    allow_hardware_transfer=allow_hardware_transfer)

    def cost(t: tuple[Scenario, Arm]) -> float:
        hw = PRESETS[t[0].hardware]
        c = {"kernel": 0.3, "env": 1.0, "learned": 2.0}[t[1].kind]
        return hw.n_tbus ** 0.5 * (n_requests or t[0].n_requests) * c

    order = sorted(range(len(tasks)), key=lambda i: -cost(tasks[i]))
    done: dict[int, list[dict[str, Any]]] = {}
    bar = tqdm(total=len(tasks), disable=not progress, unit="run", desc="agents")
    kw = {"allow_hardware_transfer": allow_hardware_transfer}
    try:
        if jobs <= 1:
            for i in order:
                s, arm = tasks[i]
                bar.set_postfix_str(f"{s.name} / {arm.label}")
                done[i] = run_arm(s, arm, seeds, n_requests, **kw)
                bar.update()
        else:
            _warm_up()
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                futs = {pool.submit(run_arm, *tasks[i], seeds, n_requests, **kw): i
                        for i in order}
                for fut in as_completed(futs):
                    i = futs[fut]
                    done[i] = fut.result()
                    bar.set_postfix_str(f"{tasks[i][0].name} / {tasks[i][1].label}")
                    bar.update()
    finally:
        bar.close()
    return [r for i in range(len(tasks)) for r in done[i]], skipped


AGENT_METRICS = (*METRICS, "fallbacks", "env_invalid_actions", "episode_steps")
_META = ("kind", "agent", "level", "controller", "trained_on")


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
    from octogym.agents import EXACT

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
            pm = f"{_us(a['latency_mean_mean']):,.0f}" + (
                f" ± {_us(a['latency_mean_std']):,.0f}" if a["seeds"] > 1 else "")
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
            body.append([a["scheduler"], kind, where, pm, f"{_us(a['latency_p99_mean']):,.0f}",
                         _speedup_cell(a), vs,
                         f"{fb:,.0f}" if a["kind"] == "env" and fb is not None else "-",
                         f"{inv:,.0f}" if a["kind"] != "kernel" and inv is not None else "-"])
        parts.append(f"**{scen}** ({', '.join(a['scheduler'] for a in learned)}):\n\n" + _md(
            ["agent", "kind", "level (controller)", "mean latency (us)", "p99 latency (us)",
             "speedup vs static", "best same-env heuristic / this", "fallbacks per run",
             "invalid actions per run"], body, "lllrrrrrr"))
    if skipped:
        parts.append("Not run: " + "; ".join(f"{d['agent']} on {d['scenario']} ({d['reason']})"
                                             for d in skipped) + ".")
    parts.append("† the heuristic's decision at this level is not always expressible as an "
                 "action (TBU level: `static`/`reactive` defer a TB when their fixed TBU is "
                 "full, `eft` may pick a TBU of another cluster); the agent then takes the "
                 "least-loaded valid TBU of the home cluster (`fallbacks per run`), so the row "
                 "is an approximation of that heuristic, not the heuristic itself.")
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
    scen = _md(["scenario", "workload", "hardware", "requests", "sim load", "note"],
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
    fig = _figure(6.0 * ncol, nrow * (0.8 + 0.16 * max(len(a) for _, a in panels)))
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax, (title, arms) in zip(axes, panels, strict=False):
        y = np.arange(len(arms))
        m = np.array([_us(a["latency_mean_mean"]) for a in arms])
        lo = m - np.array([_us(a["latency_mean_min"]) for a in arms])
        hi = np.array([_us(a["latency_mean_max"]) for a in arms]) - m
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
