"""The reproduction study behind docs/results.md: sound statistics over paired seeds.

What it runs (every definition here is data, read at run time, so schedulers, ablation
switches and hardware options added later are picked up by name):

* **Arms**: the baseline ``static``, every paper scheduler of the registry
  (:data:`~octogym.schedulers.PAPER_SCHEDULERS`), the :data:`REFERENCES` for scale, and
  ``octopus`` with each mechanism of :data:`ABLATIONS` switched off, where the registry gives
  ``octopus`` that parameter (a missing one is skipped with a printed note).
* **Mean-latency runs**: every workload (six suite workflows and the mix) on ``chip`` and
  ``wafer`` in two regimes, the scenarios ``<wf>-<hw>`` (busy: 0.7 of the heaviest phase's
  capacity) and ``<wf>-<hw>-light`` (0.7 of what ``static``'s profile sustains), for
  :data:`STUDY_SEEDS` paired seeds. Latency statistics over the steady window
  (``SimResult.latency_mean_steady``: warm-up and drain excluded, docs/model.md §5). The
  baseline runs each scenario once more at another length (:func:`other_length`; rows of
  kind ``runlength``): where its steady mean latency grows with the run's length it is not
  stable, and no speedup over it is reported (stats.is_stable).
* **Throughput at a p99 SLO**: per workload, hardware, paper scheduler or ablation arm (the
  references are left out: the most expensive runs) and seed, the largest offered load
  (fraction of the heaviest phase's capacity) at which the steady p99 latency stays within
  :data:`SLO_FACTOR` x the p99 of the same seed's critical paths (the latency of an ideal
  unloaded machine: no queueing, reconfiguration or transfer; :mod:`octogym.bounds`; the
  target is the same for every scheduler and does not depend on load), found by
  :func:`~octogym.evaluation.stats.bisect_max` over :data:`SLO_RANGE` on runs of
  :data:`SLO_REQUESTS` requests (each stopped as soon as its verdict is certain:
  :func:`slo_check`).

Units of work (:func:`latency_task`, :func:`target_task`, :func:`slo_task`) are top-level
functions of picklable arguments, run by :func:`~octogym.evaluation.runner.run_tasks` (progress
bar, worker processes). :func:`run_study` runs them all; ``study_report`` turns the rows into
the tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from octogym.distributed import Executor
from octogym.evaluation.runner import run_tasks
from octogym.evaluation.scenarios import BASELINE, EVAL_SEED, SCENARIOS, WORKFLOWS, Scenario
from octogym.evaluation.stats import bisect_max
from octogym.hardware import PRESETS, get_hardware
from octogym.kernel.build import model_int
from octogym.kernel.layout import MODEL_GROUPS, ST_DONE, ST_STALLED, field
from octogym.limits import TimeHorizonError
from octogym.metrics import STEADY_KEYS, steady_slice
from octogym.schedulers import PAPER_SCHEDULERS, SCHEDULERS
from octogym.simulator import Simulation

STUDY_SEEDS = 10  # paired evaluation seeds (members 0.. of EVAL_SEED)
HARDWARE = ("chip", "wafer")
#: Load regimes of the mean-latency runs: scenario-name suffix and label.
REGIMES = (("-light", "light"), ("", "busy"))
#: Reference heuristics shown for scale (not paper schedulers).
REFERENCES = ("eft",)
#: Mechanisms of ``octopus`` switched off one at a time: (mechanism, registry parameter,
#: value that switches it off). Run only where ``octopus`` has the parameter. Migration has no
#: row of its own: in ``octopus`` jobs migrate only by diffusion (``diffusion_epoch``), so
#: switching diffusion off switches migration off.
ABLATIONS = (
    ("work stealing", "steal", 0.0),
    ("proactive provisioning", "provision", 0.0),
    ("diffusion (and with it migration)", "diffusion", 0.0),
)
ABLATED = "octopus"
#: SLO target = SLO_FACTOR x the p99 of the seed's critical-path latencies (ours: 3x leaves
#: room for transfers, reconfigurations and moderate queueing, and is far below the latency
#: of an overloaded queue).
SLO_FACTOR = 3.0
#: Requests per SLO run (ours): the chip's 4000 reach every drift phase (the last starts at
#: request 3000) and arrive over tens of p99 latencies. The wafer takes 16x the chip's
#: arrival rate at equal load, so only 16x the requests give an arrival window as long: with
#: fewer, every request arrives within a few latencies of the first, the run never reaches a
#: steady state and an overload never shows (measured: with 8000 requests `octopus`'s p99 on
#: the wafer's mix is below the target at 5x the capacity estimate).
SLO_REQUESTS = {"chip": 4000, "wafer": 64000}
#: Hardware of the SLO search (``evaluate.py --study-slo-hardware chip`` skips the wafer's
#: 64000-request runs, about half the study's time).
SLO_HARDWARE = ("chip", "wafer")
#: Offered load (fraction of the heaviest phase's capacity estimate) searched from 0.1
#: upwards by doubling to 12.8: the estimate is conservative on the wafer, where `octopus`
#: still keeps up at 2.5.
SLO_RANGE = (0.1, 12.8)
SLO_STEPS = 4  # bisections after the upward search: the bracket shrinks to 2^(1/16), 4.4%


@dataclass(frozen=True)
class Arm:
    """One scheduler configuration of the study: a registry scheduler with tunables set."""

    label: str
    scheduler: str
    params: tuple[tuple[str, float], ...] = ()
    ablates: str = ""  # the mechanism this arm switches off ("" for a plain scheduler)

    @property
    def policy_params(self) -> dict[str, float] | None:
        return dict(self.params) or None


def study_arms(log: Callable[[str], Any] = print) -> list[Arm]:
    """The arms, from the registry: ``static``, the paper schedulers, the references, then
    one ablation arm per switch ``octopus`` has (a note for each one it lacks)."""
    names = [BASELINE, *(n for n in PAPER_SCHEDULERS if n != BASELINE),
             *(n for n in REFERENCES if n in SCHEDULERS)]
    arms = [Arm(n, n) for n in dict.fromkeys(names)]
    for mech, param, value in ABLATIONS:
        if param in SCHEDULERS[ABLATED].params:
            arms.append(Arm(f"{ABLATED} -{param}", ABLATED, ((param, value),), mech))
        else:
            log(f"study: ablation '{mech}' skipped: {ABLATED!r} has no parameter {param!r} "
                "in octogym.schedulers (not yet)")
    return arms


def other_length(n: int) -> int:
    """The request count of the run-length test of a run of ``n`` requests: half as many when
    that still reaches every drift phase of the suite (the last starts at request 3000, so
    ``n / 2 >= 4000``), else twice as many."""
    return n // 2 if n // 2 >= 4000 else 2 * n


def regime_of(scenario: str) -> str:
    """The :data:`REGIMES` label of a study scenario's name."""
    for suffix, label in REGIMES:
        if suffix and scenario.endswith(suffix):
            return label
    return dict(REGIMES)[""]


def parse_hw_options(items: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    """``["key=value", ...]`` to HardwareConfig overrides (values as int, float, or text),
    checked against a preset so that a bad name or value fails before any run."""
    out: list[tuple[str, Any]] = []
    for item in items:
        key, eq, text = item.partition("=")
        if not eq or not key:
            raise ValueError(f"hardware option {item!r} must be KEY=VALUE")
        value: Any = text
        for cast in (int, float):
            try:
                value = cast(text)
                break
            except ValueError:
                continue
        out.append((key, value))
    if out:
        try:
            get_hardware("chip", **dict(out))
        except Exception as e:  # HardwareError or an unknown field: say which option
            raise ValueError(f"hardware options {dict(out)}: {e}") from None
    return tuple(out)


def _hardware(name: str, hw_options: tuple[tuple[str, Any], ...]):
    return get_hardware(name, **dict(hw_options)) if hw_options else name


def latency_task(scenario: Scenario, arm: Arm, seeds: int,
                 hw_options: tuple[tuple[str, Any], ...] = ()) -> list[dict[str, Any]]:
    """One scenario under one arm for ``seeds`` evaluation seeds (one batched run): a row per
    seed with the steady and whole-run latency statistics."""
    n = scenario.n_requests
    sim = Simulation(scenario.workflows, _hardware(scenario.hardware, hw_options),
                     load=scenario.sim_load(n), n_requests=n, batch=seeds, seed=EVAL_SEED,
                     policy=arm.scheduler, policy_params=arm.policy_params,
                     slowdown=dict(scenario.slowdown) or None,
                     tbu_init=scenario._tbu_init(n))
    rho = scenario.static_rho(n)
    meta = {"kind": "latency", "scenario": scenario.name, "n_requests": n,
            "workflows": scenario.workflows,
            "hardware": scenario.hardware, "regime": regime_of(scenario.name),
            "static_rho": rho, "arm": arm.label, "scheduler": arm.scheduler,
            "ablates": arm.ablates}
    try:
        results = sim.run()
    except RuntimeError as e:  # a kernel stall: NaN rows (dropped by the statistics), noted
        nan = dict.fromkeys(("latency_mean", "latency_p99", *STEADY_KEYS, "reconfigurations"),
                            math.nan)
        return [{**meta, "seed": b, **nan, "error": str(e)} for b in range(seeds)]
    return [{**meta, "seed": b, "latency_mean": r.latency_mean, "latency_p99": r.latency_p99,
             **r.steady_dict(), "reconfigurations": r.reconfigurations, "error": ""}
            for b, r in enumerate(results)]


def target_task(workflows: str, hardware: str, seed: int, n_requests: int,
                factor: float) -> list[dict[str, Any]]:
    """The SLO target of one seed: ``factor`` x the p99 of its requests' critical paths over
    the steady window (scheduler- and load-independent: octogym.bounds)."""
    from octogym.bounds import request_bounds
    from octogym.metrics import percentiles

    cp = request_bounds(workflows, hardware, load=0.5, n_requests=n_requests, seed=EVAL_SEED,
                        member_offset=seed).critical_path
    p99 = percentiles(cp[steady_slice(cp.size)].astype(float), (99,))[0]
    return [{"kind": "target", "workflows": workflows, "hardware": hardware, "seed": seed,
             "cp_p99": p99, "target": factor * p99}]


def slo_check(sim: Simulation, target: float, checks: int = 8) -> tuple[bool, float, str]:
    """Does member 0 of ``sim`` keep its steady p99 latency within ``target``? Returns
    ``(meets, p99, how)``, ``how`` = ``"run"`` (ran to the end), ``"early"`` or ``"stalled"``.

    The run advances in ``checks`` slices of its expected arrival window (then on, slices of
    the same length) and stops as soon as the answer is certain: when ``k`` steady-window
    requests have waited longer than ``target`` and are still unfinished, with ``k`` enough
    to put the 99th percentile above ``target`` (numpy's linear rule: ``floor(0.01 (m - 1))
    + 2`` of ``m``). An overloaded run, the slowest kind, so stops near where its backlog
    passes the target. A run the kernel reports stalled (a scheduler bug) fails."""
    n = model_int(sim.model, "n_requests")
    win = steady_slice(n)
    ids = np.arange(win.start, win.stop)
    limit = int(0.01 * (ids.size - 1)) + 2
    rate = float(sim.model.MF[MODEL_GROUPS["MF"].index("rate")])  # requests per cycle
    step = max(int(n / rate / checks), 1)
    t = 0
    while True:
        t += step
        try:
            st = int(sim.advance(until=t)[0])
        except TimeHorizonError:
            return False, math.nan, "stalled"
        if st == ST_STALLED:
            return False, math.nan, "stalled"
        if st == ST_DONE:
            break
        arrived = ids < int(field(sim.state, "n_arrived")[0])
        arr = field(sim.state, "res_arr")[0][win]
        done = field(sim.state, "res_done")[0][win]
        if int(np.sum(arrived & (done < 0) & (arr <= t - target))) >= limit:
            return False, math.nan, "early"
    p99 = sim.result(0).latency_p99_steady
    return p99 <= target, p99, "run"


def slo_task(workflows: str, hardware: str, arm: Arm, seed: int, target: float,
             n_requests: int, steps: int = SLO_STEPS, load_range: tuple[float, float] = SLO_RANGE,
             hw_options: tuple[tuple[str, Any], ...] = ()) -> list[dict[str, Any]]:
    """The largest load (fraction of the heaviest phase's capacity) at which evaluation seed
    ``seed`` under ``arm`` keeps its steady p99 latency within ``target``: one row with the
    bracket ``load_max`` (passes) / ``load_fail`` (fails), the runs it took, how many
    stopped early and how many stalled (a kernel error, counted as failing)."""
    per_load = Scenario("slo", workflows, hardware, 1.0, n_requests).sim_load()
    hw = _hardware(hardware, hw_options)
    hows: list[str] = []

    def meets(load: float) -> bool:
        sim = Simulation(workflows, hw, load=load * per_load, n_requests=n_requests,
                         seed=EVAL_SEED, member_offset=seed, policy=arm.scheduler,
                         policy_params=arm.policy_params)
        ok, _, how = slo_check(sim, target)
        hows.append(how)
        return ok

    lo, hi = bisect_max(meets, *load_range, steps)
    return [{"kind": "slo", "workflows": workflows, "hardware": hardware, "arm": arm.label,
             "scheduler": arm.scheduler, "ablates": arm.ablates, "seed": seed,
             "target": target, "load_max": lo, "load_fail": hi, "runs": len(hows),
             "early": hows.count("early"), "stalled": hows.count("stalled")}]


@dataclass(frozen=True)
class StudyPlan:
    """What :func:`run_study` runs (defaults: the full study; :meth:`quick`: a smoke test)."""

    seeds: int = STUDY_SEEDS
    workflows: tuple[str, ...] = tuple(WORKFLOWS)
    hardware: tuple[str, ...] = HARDWARE
    regimes: tuple[tuple[str, str], ...] = REGIMES
    slo_requests: tuple[tuple[str, int], ...] = tuple(SLO_REQUESTS.items())
    slo_hardware: tuple[str, ...] = SLO_HARDWARE
    slo_steps: int = SLO_STEPS
    slo_factor: float = SLO_FACTOR
    n_requests: int | None = None  # override every mean-latency scenario's request count
    hw_options: tuple[tuple[str, Any], ...] = ()  # HardwareConfig overrides for every run

    @classmethod
    def quick(cls, **kw: Any) -> StudyPlan:
        """Tiny budgets: 2 seeds, one workflow, 400-request runs, 2 bisection steps."""
        return cls(**{"seeds": 2, "workflows": ("recognition",),
                      "slo_requests": (("chip", 400), ("wafer", 400)),
                      "slo_steps": 2, "n_requests": 400, "slo_hardware": HARDWARE, **kw})

    def scenarios(self) -> list[Scenario]:
        out = []
        for hw in self.hardware:
            for wf in self.workflows:
                for suffix, _ in self.regimes:
                    s = SCENARIOS[f"{wf}-{hw}{suffix}"]
                    if self.n_requests:
                        s = replace(s, n_requests=self.n_requests)
                    out.append(s)
        return out


def run_study(plan: StudyPlan, *, jobs: int = 1, progress: bool = True,
              executor: Executor | None = None, log: Callable[[str], Any] = print
              ) -> list[dict[str, Any]]:
    """Every mean-latency run, SLO target and SLO bisection of ``plan``: tidy rows (``kind``
    = ``latency``, ``target`` or ``slo``) for :mod:`octogym.evaluation.study_report`."""
    arms = study_arms(log)
    opts = plan.hw_options
    common = dict(jobs=jobs, progress=progress, executor=executor)

    def size(hw: str) -> int:
        return PRESETS[hw].n_tbus

    lat_tasks = [(s, a, plan.seeds, opts) for s in plan.scenarios() for a in arms]
    # the baseline again on runs of another length (run-length test of its stability)
    base = next(a for a in arms if a.label == BASELINE)
    lat_tasks += [(replace(s, n_requests=other_length(s.n_requests)), base, plan.seeds, opts)
                  for s in plan.scenarios()]
    rows = [r for rs in run_tasks(
        latency_task, lat_tasks, cost=lambda t: size(t[0].hardware) * t[0].n_requests,
        label=lambda t: f"{t[0].name} / {t[1].label}", desc="study: latency", **common)
        for r in rs]
    own = {s.name: s.n_requests for s in plan.scenarios()}
    for r in rows:  # the other-length runs: kept apart from the scenario's own
        if r["n_requests"] != own[r["scenario"]]:
            r["kind"] = "runlength"
    cases = [(wf, hw) for hw in plan.hardware if hw in plan.slo_hardware
             for wf in plan.workflows]
    n_slo = dict(plan.slo_requests)
    tgt_tasks = [(wf, hw, b, n_slo[hw], plan.slo_factor)
                 for wf, hw in cases for b in range(plan.seeds)]
    targets = [r for rs in run_tasks(
        target_task, tgt_tasks, cost=lambda t: 1.0, label=lambda t: f"{t[0]}-{t[1]} seed {t[2]}",
        desc="study: SLO targets", **common) for r in rs]
    rows += targets
    tmap = {(r["workflows"], r["hardware"], r["seed"]): r["target"] for r in targets}
    slo_arms = [a for a in arms if a.scheduler not in REFERENCES or a.params]
    slo_tasks = [(wf, hw, a, b, tmap[(wf, hw, b)], n_slo[hw], plan.slo_steps, SLO_RANGE,
                  opts) for wf, hw in cases for a in slo_arms for b in range(plan.seeds)]
    rows += [r for rs in run_tasks(
        slo_task, slo_tasks,
        cost=lambda t: size(t[1]) * t[5],
        label=lambda t: f"{t[0]}-{t[1]} / {t[2].label}", desc="study: SLO bisection",
        **common) for r in rs]
    return rows


def arm_labels(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The arms present in ``rows``, in first-seen order."""
    return list(dict.fromkeys(r["arm"] for r in rows if "arm" in r))
