"""The fixed, seeded evaluation scenarios (all their numbers are ours).

* :data:`SCENARIOS`: named test scenarios (each suite workflow and the mix on ``chip`` and
  ``wafer`` at two loads, a load sweep, what-ifs: one slowed cluster, and static's profile
  spread over the mesh; the envs' default tasks for learned agents) and :data:`GROUPS` of
  them (``default``: the demo; ``study``: everything in docs/results.md; ``learn``: the
  learned agents' scenarios);
* :func:`resolve_scenarios` / :func:`resolve_schedulers`: names from the command line to
  scenarios and schedulers, with errors that list the valid names.

**Seeds.** Evaluation seed ``i`` is batch member ``i`` of base seed :data:`EVAL_SEED`
(``Simulation(..., seed=EVAL_SEED, batch=n)``; ``member_offset=i`` reproduces one alone).
Training seeds stay below ``EVAL_SEED`` (train.py enforces it;
``octogym.agents.arena.check_training_seeds`` refuses a checkpoint whose ``config.json`` says
otherwise), so test runs stay disjoint from training runs. Env runs of a scenario use the
same seeds (the native vector env reset with ``seed=EVAL_SEED``: member ``i`` = evaluation
seed ``i``). Every scheduler sees the same seeds, hence the same request arrivals, durations
and branch outcomes (common random numbers), which makes per-seed speedups paired
comparisons.

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

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from octogym.hardware import PRESETS, HardwareConfig, get_hardware
from octogym.kernel.build import model_int, profile_configs
from octogym.schedulers import SCHEDULERS
from octogym.simulator import Simulation, resolve_workflows
from octogym.workflows.frequencies import expected_frequencies
from octogym.workflows.splits import pool_workflows
from octogym.workflows.suite import suite_names

EVAL_SEED = 10_000  # base seed of every evaluation run (ours); training must not use it
BASELINE = "static"  # speedups are over the paper's traditional baseline
#: Every suite workflow, then the equally weighted mix: the workloads of the scenarios.
WORKFLOWS = [*suite_names(), "mix"]
#: Workloads of the envs' generated workflows (octogym/workflows/splits.py): a scenario whose
#: ``workflows`` names one of these plays the generated mix those env options give (8
#: workflows, the envs' default count), not a suite workload. ``held_out`` workflows are never
#: drawn for training (train.py trains on the ``train`` split only).
GENERATED_WORKLOADS: dict[str, dict[str, Any]] = {
    f"generated-{split}": {"workflow_pool": "generated", "workflow_split": split,
                           "generated_workflows": 8}
    for split in ("train", "held_out")}
#: Scenario-name suffixes of the load regimes of a workflow scenario, with their labels.
VARIANTS = (("", "busy"), ("-light", "light"), ("-light-spread", "light, spread layout"))


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
        return workload_profile(self.workflow_spec(), n_requests or self.n_requests)

    def workflow_spec(self) -> Any:
        """The ``workflows`` argument of :class:`Simulation` (a generated workload's mix,
        :data:`GENERATED_WORKLOADS`)."""
        g = GENERATED_WORKLOADS.get(self.workflows)
        if g is None:
            return self.workflows
        return pool_workflows(None, g["workflow_pool"], g["generated_workflows"],
                              g["workflow_split"])

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
        return Simulation(self.workflow_spec(), self.hardware, load=self.sim_load(n), n_requests=n,
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
        g = GENERATED_WORKLOADS.get(self.workflows)
        workload = {"workflows": self.workflows} if g is None else {"workflows": None, **g}
        return {"hardware": self.hardware, **workload,
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
        for wf in WORKFLOWS:
            # busy: 0.7 of the capacity in the heaviest phase, for a scheduler that provisions
            # well; static's fixed profile is overloaded there in most workflows
            add(Scenario(f"{wf}-{hw}", wf, hw, 0.7, n[hw], note=f"{wf} on {hw}, busy"))
        for wf in WORKFLOWS:
            # light: 0.7 of what static's own profile sustains, so static stays stable too
            add(Scenario(f"{wf}-{hw}-light", wf, hw, 0.7, n[hw], basis="static",
                         note=f"{wf} on {hw}, light (static's busiest config at 0.7)"))
        for wf in WORKFLOWS:
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
    # The same task on the envs' generated workflows: the training split (what an agent trained
    # with workflow_pool="generated"/"mixed" saw) and the held-out split (never seen)
    for wl in GENERATED_WORKLOADS:
        split = wl.split("-", 1)[1]
        add(Scenario(f"env-gen-{split}-chip", wl, "chip", 0.8, 200, basis="sim",
                     note=f"the envs' task on 8 generated workflows of the {split} split"))
    return out


SCENARIOS: dict[str, Scenario] = _build_scenarios()
GROUPS: dict[str, tuple[str, ...]] = {
    # `python evaluate.py`: every plot, about a minute on 2 cores
    "default": (*(f"{w}-chip" for w in WORKFLOWS), *(f"{w}-chip-light" for w in WORKFLOWS),
                *(n for n in SCENARIOS if "sweep" in n), "mix-wafer", "mix-wafer-light",
                "contagion-wafer"),
    # docs/results.md: everything but the envs' default tasks (those are for learned agents)
    "study": tuple(n for n in SCENARIOS if not n.startswith("env-")),
    # learned agents beside the heuristics (`python evaluate.py`: --agent-scenarios)
    "learn": ("env-chip", "mix-chip", "env-wafer"),
    # learned agents on generated workflows, seen in training and held out
    "learn-generated": ("env-chip", "env-gen-train-chip", "env-gen-held_out-chip"),
    # the learning section of docs/results.md (several minutes per agent)
    "learn-study": ("env-chip", *(f"{w}-chip" for w in WORKFLOWS), "mix-chip-light",
                    "env-wafer", "mix-wafer", "mix-wafer-light"),
    **{g: tuple(f"{w}-{g}" for w in WORKFLOWS) for g in ("chip", "wafer")},
    **{f"{g}{v}": tuple(f"{w}-{g}{v}" for w in WORKFLOWS)
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


