"""The scheduler registry: the single source of truth for scheduler names (stable API), what
each does, and its tunables with defaults and reasons.

The algorithms are compiled into the kernel (:mod:`octogym.kernel.policies`); every one of them
is ours, named after the paper's strategies (docs/model.md §6 says what is the
paper's and what is ours).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from octogym import limits
from octogym.kernel import policies as P


@dataclass(frozen=True)
class Param:
    name: str
    index: int  # position in the kernel's tunables vector (P.PARAM_*)
    default: float
    reason: str


# Every tunable, defined once. Values are ours.
PARAMS: dict[str, Param] = {p.name: p for p in (
    Param("ema", P.PARAM_EMA, 0.3,
          "weight of the newest epoch in the moving average of per-config demand: follows a "
          "drift within ~3 epochs while smoothing one epoch's noise"),
    Param("reactive_threshold", P.PARAM_REACTIVE_THRESHOLD, 3.0,
          "waiting jobs per TBU of a configuration before reactive rebalances: a queue of 3 "
          "(of capacity 4) is clearly overloaded, not a transient burst"),
    Param("diffusion", P.PARAM_DIFFUSION, 1.0,
          "1 = diffusion load balancing between mesh neighbours on (the paper's wafer-scale "
          "mechanism), 0 = off"),
    Param("diffusion_threshold", P.PARAM_DIFFUSION_THRESHOLD, 0.5,
          "relative excess of predicted wait over a neighbour's (plus one mean TB) before a job "
          "moves: moving pays a transfer, so only clear imbalances are worth it"),
    Param("structural_idle", P.PARAM_STRUCTURAL_IDLE, 200_000.0,
          "cycles a TBU must have been idle before octopus calls its idleness structural and "
          "re-provisions it: one epoch, several mean TB durations"),
    Param("steal", P.PARAM_STEAL, 1.0, "1 = an idle TBU steals waiting work from a sibling"),
    Param("provision", P.PARAM_PROVISION, 1.0,
          "1 = each epoch re-provisions idle TBUs towards the predicted mix, 0 = off (an "
          "ablation switch)"),
    Param("reconf_aware", P.PARAM_RECONF_AWARE, 1.0,
          "1 = weigh a reconfiguration's cost: place a TB on a TBU that must reconfigure only "
          "if that finishes sooner than a matching TBU nearby (queue wait and transfer "
          "included); re-provision only when the predicted demand gain exceeds the "
          "reconfiguration; reactive rebalances only when the waiting work exceeds it. 0 = the "
          "cost-blind versions"),
    Param("reach", P.PARAM_REACH, 16.0,
          "clusters holding a TB's configuration that a placement considers, nearest first: "
          "enough to spread a hot configuration's work over several holders, few enough that "
          "a TB's data stays near (and the search stays short on the wafer)"),
)}
DEFAULT_EPOCH = 200_000  # cycles (ours): a few mean TB durations, ~0.2 ms at 1 GHz


@dataclass(frozen=True)
class Scheduler:
    name: str
    code: int
    origin: str  # "paper" (named after one of the paper's strategies) or "reference"
    summary: str
    params: tuple[str, ...] = ()
    epoch: int = 0  # default epoch length in cycles (0: the scheduler has no epoch)
    # initial TBU configurations: "best" (the paper's schedulers: static's compile-time
    # provisioning, octogym/layouts.py, so they compare from the same start) or "profile" (the
    # reference heuristics: the kernel's historical initial-phase, banded profile)
    tbu_init: str = "profile"
    extra: dict = field(default_factory=dict)


SCHEDULERS: dict[str, Scheduler] = {s.name: s for s in (
    Scheduler("static", P.P_STATIC, "paper",
              "traditional spatial baseline: TBUs provisioned once in proportion to the whole "
              "expected trace's work (every drift phase, weighted by the requests it covers), "
              "laid out by the best of several mesh layouts; requests to clusters round-robin; "
              "a TB runs only on a TBU of its own configuration, the one with the earliest "
              "estimated finish among the holders in the reach nearest clusters holding it; "
              "never reconfigures", ("reach",), tbu_init="best"),
    Scheduler("reactive", P.P_REACTIVE, "paper",
              "static plus threshold-triggered rebalancing: each epoch, a configuration whose "
              "waiting jobs per TBU (counted by the request's home cluster) pass the threshold "
              "takes over an idle TBU of a lightly loaded one in that cluster, if the waiting "
              "work outweighs the reconfiguration", ("reactive_threshold", "reconf_aware", "reach"),
              DEFAULT_EPOCH, tbu_init="best"),
    Scheduler("adaptive", P.P_ADAPTIVE, "paper",
              "Adaptive TBU Scheduling (fine-grained): a ready TB goes to the TBU of its home "
              "cluster with the earliest estimated finish (queued work, reconfiguration, data "
              "arrival); a matching TBU of a nearby cluster instead when that beats "
              "reconfiguring; an idle TBU steals waiting work from a sibling when that is "
              "sooner; requests to clusters round-robin", ("steal", "reconf_aware", "reach"),
              tbu_init="best"),
    Scheduler("proactive", P.P_PROACTIVE, "paper",
              "Proactive Cluster Scheduling (coarse-grained): moving averages of per-config "
              "demand per cluster; each epoch re-provision idle TBUs towards the predicted "
              "mix before work queues up; requests to the cluster with the lowest predicted "
              "finish; diffusion between mesh neighbours; least-loaded TBU choice (a matching "
              "TBU nearby instead when that beats reconfiguring)",
              ("ema", "diffusion", "diffusion_threshold", "provision", "reconf_aware", "reach"),
              DEFAULT_EPOCH, tbu_init="best"),
    Scheduler("octopus", P.P_OCTOPUS, "paper",
              "Discriminate Dual-Scheduling: transient idleness (a TBU briefly idle) handled by "
              "adaptive's earliest-finish placement and stealing; structural idleness (idle "
              "longer than structural_idle) by proactive re-provisioning, with proactive "
              "cluster choice and diffusion; every mechanism weighs the reconfiguration cost",
              ("ema", "diffusion", "diffusion_threshold", "structural_idle", "steal",
               "provision", "reconf_aware", "reach"), DEFAULT_EPOCH, tbu_init="best"),
    Scheduler("random", P.P_RANDOM, "reference",
              "uniformly random cluster, random TBU with space in it (seeded)"),
    Scheduler("round_robin", P.P_ROUND_ROBIN, "reference",
              "clusters in turn; TBUs with space in turn within the cluster"),
    Scheduler("least_loaded", P.P_LEAST_LOADED, "reference",
              "cluster with the fewest queued+backlogged TBs; TBU with the shortest queue"),
    Scheduler("eft", P.P_EFT, "reference",
              "greedy earliest finish time (HEFT-style) over every TBU of the machine, transfer "
              "included; least-loaded cluster"),
)}
PAPER_SCHEDULERS = tuple(n for n, s in SCHEDULERS.items() if s.origin == "paper")
assert set(SCHEDULERS) == set(P.KERNEL_POLICIES), "registry and kernel policy codes disagree"




@dataclass(frozen=True)
class Planner:
    """A scheduler driven from Python around the kernel (not a kernel policy code): it pauses
    the kernel at decisions and answers them by simulating forks. Named
    ``<name>:<base>[:key=value,...]``, e.g. ``rollout:adaptive`` or
    ``rollout:eft:level=tbu,k=3,R=2,H=10``; the base is a kernel scheduler above."""

    name: str
    summary: str
    params: dict[str, tuple[float | str, str]]  # name -> (default, reason)


PLANNERS: dict[str, Planner] = {p.name: p for p in (
    Planner("rollout",
            "rollout planner: at each decision, every candidate action is applied to R forks "
            "of the member, each continued under the base scheduler for H mean TB durations; "
            "the candidate with the lowest time-integral of requests in the system wins (the "
            "base's own choice on ties); octogym/planner.py, docs/model.md §6",
            {"level": ("both", "decision levels the planner takes over: tbu, cluster or both; "
                                "or place (any TBU or a wait, as octogym/Place-v0); or "
                                "provision (an epoch's reconfigurations, as "
                                "octogym/Provision-v0); or dispatch (which waiting TB a freed "
                                "TBU runs next, as octogym/Dispatch-v0; the base's move is the "
                                "run's dispatch rule); the base decides the others"),
             "k": (0, "candidates per decision: 0 = every valid action, else the base's choice "
                      "plus the k-1 least-loaded others (cost grows linearly in k)"),
             "R": (4, "forks per candidate, each with a resampled future (common across "
                      "candidates): enough for the z guard to tell a saving from luck "
                      "(docs/results.md §9)"),
             "H": (8.0, "rollout horizon in mean TB durations: long enough for a placement's "
                        "queueing to show, short enough to keep decisions cheap"),
             "z": (2.0, "with R >= 2, leave the base's choice only for a paired saving above "
                        "z standard errors (0 = the lowest mean wins): without it the planner "
                        "picks candidates for their luck and loses to eft (docs/results.md §9)"),
             "resample": (1, "1 = forks draw a fresh future (the planner is not clairvoyant "
                             "about arrivals, durations, branches not yet drawn); 2 = also "
                             "redraw the durations of TBs created but not started (the "
                             "planner knows of them only what an observation shows: their "
                             "means); 0 = forks keep the run's own draws (an oracle, R must "
                             "be 1)")}),
)}


def is_planner(spec: str) -> bool:
    """True if ``spec`` names a planner (``rollout:...``), not a kernel scheduler."""
    return isinstance(spec, str) and spec.split(":", 1)[0] in PLANNERS


def parse_planner(spec: str) -> tuple[str, str, dict[str, float | str]]:
    """``(planner, base, params)`` of ``"<planner>:<base>[:key=value,...]"``, with every
    parameter of the planner present (defaults filled in); a clear ``ValueError`` otherwise."""
    parts = spec.split(":")
    if parts[0] not in PLANNERS or len(parts) not in (2, 3):
        raise ValueError(f"planner spec {spec!r} must be '<planner>:<base>[:key=value,...]' "
                         f"with planner one of {sorted(PLANNERS)}")
    pl = PLANNERS[parts[0]]
    base = parts[1]
    if base not in SCHEDULERS:
        raise ValueError(f"planner spec {spec!r}: base {base!r} is not a kernel scheduler "
                         f"({sorted(SCHEDULERS)})")
    params: dict[str, float | str] = {k: v[0] for k, v in pl.params.items()}
    for item in (parts[2].split(",") if len(parts) == 3 and parts[2] else []):
        key, eq, value = item.partition("=")
        if not eq or key not in pl.params:
            raise ValueError(f"planner spec {spec!r}: {item!r} is not key=value with key one "
                             f"of {sorted(pl.params)}")
        default = pl.params[key][0]
        try:
            params[key] = value if isinstance(default, str) else type(default)(value)
        except ValueError:
            raise ValueError(f"planner spec {spec!r}: {key}={value!r} is not a "
                             f"{type(default).__name__}") from None
    return pl.name, base, params


def get_scheduler(name: str) -> Scheduler:
    try:
        return SCHEDULERS[name]
    except KeyError:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {sorted(SCHEDULERS)}"
                         ) from None


def param_vector(name: str, overrides: Mapping[str, float] | None = None) -> np.ndarray:
    """The kernel's tunables vector for scheduler ``name`` with ``overrides`` applied."""
    sched = get_scheduler(name)
    vec = np.zeros(P.N_PARAMS)
    for p in PARAMS.values():
        vec[p.index] = p.default
    for k, v in (overrides or {}).items():
        if k not in PARAMS:
            raise ValueError(f"unknown scheduler parameter {k!r}; known: {sorted(PARAMS)}")
        if k not in sched.params:
            raise ValueError(f"scheduler {name!r} does not use parameter {k!r} "
                             f"(it uses {list(sched.params) or 'none'})")
        x = float(v) if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) \
            else math.nan
        hi = 1.0 if k == "ema" else float(limits.CYCLE_HORIZON)
        if not 0.0 <= x <= hi:
            raise ValueError(f"scheduler parameter {k!r} must be a number in [0, {hi:g}], got "
                             f"{limits.short(v)}")
        vec[PARAMS[k].index] = x
    return vec
