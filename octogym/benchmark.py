"""``octogym-bench``: frozen, versioned benchmark task sets and their normalised scores.

A benchmark *version* (:data:`VERSIONS`) is a tuple of frozen :class:`Task` s defined once
here: decision level (every level the envs expose), hardware (``chip``, ``wafer``), workload
(a suite workflow, the suite ``mix`` or the fixed generated workflows of
``octogym/data/bench/``), simulator load, episode length (requests) and number of held-out
evaluation seeds (evaluation seed ``i`` = vector-env member ``i`` reset with
``EVAL_SEED`` = 10,000; training seeds stay below it). Changing any of it means a new version:
:func:`definition_hash` hashes a version's tasks and the generated workflow files they use,
and tests/test_benchmark.py pins the hash of every version, so old versions stay runnable and
comparable.

Every agent plays every task it can act on through the task's env (``octogym/<level>-v0``
with the scenario's kwargs; a heuristic or planner through the level's default controller, a
checkpoint with its own controller and on hardware whose spaces fit), via
:func:`octogym.agents.arena.run_arm`. The per-task **normalised score** is
``(L_random - L_agent) / (L_random - L_best)`` on mean latency (mean over seeds): 0 = the
``random`` heuristic, 1 = the best of the paper's heuristics (:data:`PAPER`) making the same
decisions through the same env, above 1 beats it. Reported beside it: mean latency and p99
latency, each with its 95% Student-t interval over seeds.

:func:`run_benchmark` gives one result dict per agent (the JSON of ``octogym bench --out``);
:func:`markdown_rows` the leaderboard rows (docs/leaderboard.md).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from octogym.evaluation.scenarios import EVAL_SEED, Scenario

#: The generated workflows of the benchmark (drawn once with
#: ``generate_workflow_dict(np.random.default_rng(20_000 + i))``, then frozen as files so a
#: change to the generator cannot change a version).
DATA = Path(__file__).resolve().parent / "data" / "bench"
GENERATED = ("gen0.json", "gen1.json", "gen2.json")
#: The paper's heuristics: the best of them at a level defines score 1.
PAPER = ("static", "reactive", "adaptive", "proactive", "octopus")
RANDOM = "random"  # defines score 0
LEVELS = ("TBUAssign", "ClusterAssign")


@dataclass(frozen=True)
class Task:
    """One benchmark task: a decision level played on one fixed, seeded scenario."""

    level: str  # "TBUAssign" | "ClusterAssign"
    hardware: str  # a preset: "chip" | "wafer"
    workload: str  # a suite workflow, "mix", or "generated" (the files of GENERATED)
    load: float  # simulator load (fraction of initial-phase capacity)
    n_requests: int  # episode length
    seeds: int  # held-out evaluation seeds 0 .. seeds-1 (base EVAL_SEED)

    @property
    def name(self) -> str:
        return f"{self.level}/{self.hardware}/{self.workload}@{self.load:g}"

    def scenario(self) -> Scenario:
        """The :class:`~octogym.evaluation.Scenario` the task's env plays."""
        wf: Any = (tuple(str(DATA / g) for g in GENERATED) if self.workload == "generated"
                   else self.workload)
        return Scenario(self.name, wf, self.hardware, self.load, self.n_requests, basis="sim")


def _tasks(hardware: dict[str, int], workloads: Sequence[tuple[str, float]], seeds: int
           ) -> tuple[Task, ...]:
    return tuple(Task(level, hw, wl, load, n, seeds) for level in LEVELS
                 for hw, n in hardware.items() for wl, load in workloads)


#: Every version, frozen. v1 (ours): both levels on chip and wafer; the suite mix at a light
#: and the envs' default load; ``agent_loop``, whose tool-call rate drifts after request 1000
#: (the drifting load: chip episodes reach it); the generated workflows. 10 seeds each.
#: ``tiny``: two short tasks for tests.
VERSIONS: dict[str, tuple[Task, ...]] = {
    "v1": _tasks({"chip": 1200, "wafer": 1200},
                 (("mix", 0.5), ("mix", 0.8), ("agent_loop", 0.8), ("generated", 0.8)), 10),
    # v1's two chip mix tasks at a tenth of the episode length: the budget at which the
    # rollout planner (hundreds of decisions per second) gets a leaderboard row
    "v1-mini": (Task("TBUAssign", "chip", "mix", 0.8, 120, 10),
                Task("ClusterAssign", "chip", "mix", 0.8, 120, 10)),
    "tiny": (Task("TBUAssign", "chip", "mix", 0.8, 30, 2),
             Task("ClusterAssign", "chip", "mix", 0.8, 30, 2)),
}


def tasks(version: str) -> tuple[Task, ...]:
    """The tasks of ``version``; ``ValueError`` naming the versions if it is unknown."""
    if version not in VERSIONS:
        raise ValueError(f"unknown benchmark version {version!r}; one of {sorted(VERSIONS)}")
    return VERSIONS[version]


def definition_hash(version: str) -> str:
    """SHA-256 (16 hex digits) of ``version``'s task definitions and of the generated workflow
    files they use: any change to the tasks shows up here (pinned in the tests)."""
    h = hashlib.sha256()
    ts = tasks(version)
    h.update(json.dumps([asdict(t) for t in ts], sort_keys=True).encode())
    if any(t.workload == "generated" for t in ts):
        for g in GENERATED:
            h.update(g.encode())
            h.update((DATA / g).read_bytes())
    return h.hexdigest()[:16]


def mean_ci(x: Sequence[float]) -> tuple[float, float]:
    """``(mean, half-width of its 95% t interval)`` (the headroom report's)."""
    from octogym.headroom import mean_ci as ci

    return ci(x)


def _arms(task: Task, agents: Sequence[str], checkpoint_arms: dict[str, Any]
          ) -> tuple[dict[str, Any], dict[str, str]]:
    """``({agent spec: Arm}, {agent spec: why skipped})`` for one task; every spec of
    ``agents`` plus the reference arms (:data:`RANDOM`, :data:`PAPER`)."""
    from octogym.agents.arena import _spaces_fit, env_arm
    from octogym.envs.decisions import DECISIONS

    ctrl = DECISIONS[task.level].default_controller
    arms, skipped = {}, {}
    for spec in dict.fromkeys([RANDOM, *PAPER, *agents]):
        arm = checkpoint_arms.get(spec)
        if arm is None:
            arms[spec] = env_arm(spec, task.level, ctrl)
        elif arm.level != task.level:
            skipped[spec] = f"acts at the {arm.level} level"
        elif (why := arm.hardware != task.hardware and _spaces_fit(arm, task.hardware)):
            skipped[spec] = why
        else:
            arms[spec] = arm
    return arms, skipped


def check_agents(agents: Sequence[str]) -> dict[str, Any]:
    """Validate agent specs (a scheduler name, a ``rollout:<base>`` planner spec, or a
    checkpoint): ``{checkpoint spec: its learned Arm}``; ``ValueError`` naming a bad spec."""
    from octogym.agents.arena import check_training_seeds, learned_arm
    from octogym.agents.base import SB3Agent
    from octogym.schedulers import SCHEDULERS, is_planner

    out = {}
    for spec in agents:
        if spec in SCHEDULERS:
            continue
        if is_planner(spec):
            from octogym.agents.rollout import RolloutAgent

            RolloutAgent(spec)  # parses the spec: a bad one raises here, not mid-run
            continue
        if not Path(spec).exists() and not Path(spec).with_suffix(".zip").is_file():
            raise ValueError(f"agent {spec!r}: neither a scheduler ({', '.join(SCHEDULERS)}), "
                             "a rollout:<base> planner spec nor an existing checkpoint")
        agent = SB3Agent(spec)
        check_training_seeds(agent)
        out[spec] = learned_arm(agent)
    return out


def _cost(job: tuple[Task, Any]) -> float:
    """Relative cost of a run (for scheduling worker processes: longest first)."""
    from octogym.hardware import PRESETS

    task, arm = job
    kind = 20.0 if arm.agent.startswith("rollout:") else {"env": 1.0, "learned": 2.0}[arm.kind]
    return PRESETS[task.hardware].n_tbus ** 0.5 * task.n_requests * task.seeds * kind


def _run(task: Task, arm: Any) -> list[dict[str, Any]]:
    from octogym.agents.arena import run_arm

    return run_arm(task.scenario(), arm, task.seeds, allow_hardware_transfer=True)


def run_benchmark(version: str, agents: Sequence[str], *, jobs: int = 1,
                  progress: bool = False, executor: Any = None) -> list[dict[str, Any]]:
    """Score ``agents`` on every task of ``version`` they can act on: one result dict per
    agent (:func:`result_json`'s fields). The reference arms run on every task."""
    from octogym.evaluation.runner import run_tasks

    ts = tasks(version)
    agents = list(dict.fromkeys(agents))
    cps = check_agents(agents)
    plan, skipped = [], {}
    for t in ts:
        arms, sk = _arms(t, agents, cps)
        skipped[t] = sk
        plan.append((t, arms))
    # one run per distinct (task, arm): heuristics sharing a decision hook share nothing here
    # (each spec is its own arm), which keeps every agent's row independent of the others
    jobs_list = [(t, arm) for t, arms in plan for arm in dict.fromkeys(arms.values())]
    done = run_tasks(_run, jobs_list, cost=_cost,
                     label=lambda j: f"{j[0].name} / {j[1].label}",
                     jobs=jobs, progress=progress, desc="bench", executor=executor)
    rows = {(j[0], j[1]): r for j, r in zip(jobs_list, done, strict=True)}
    meta = version_info(version)
    out = []
    for spec in agents:
        per_task = []
        for t, arms in plan:
            if spec not in arms:
                continue
            per_task.append(_task_result(t, rows[(t, arms[spec])],
                                         {s: rows[(t, arms[s])] for s in (RANDOM, *PAPER)}))
        scores = [r["score"] for r in per_task]
        out.append({"agent": _agent_name(spec), "spec": spec, **meta,
                    "score_mean": float(np.mean(scores)) if scores else None,
                    "tasks": per_task,
                    "skipped": {t.name: why for t in ts for s, why in skipped[t].items()
                                if s == spec}})
    return out


def version_info(version: str) -> dict[str, Any]:
    """What a result was measured with: version, its definition hash, the package version
    and the kernel's source hash."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as pkg_version

    from octogym._numba_cache import _source_hash

    try:
        pv = pkg_version("octogym")
    except PackageNotFoundError:
        pv = "unknown"
    return {"version": version, "definition_hash": definition_hash(version),
            "package_version": pv, "kernel_source_hash": _source_hash()}


def _agent_name(spec: str) -> str:
    """A checkpoint's run-directory name (``rl:<run>``), else the spec itself."""
    p = Path(spec)
    if p.exists() or p.with_suffix(".zip").is_file():
        run = p if p.is_dir() else (p.parent.parent if p.parent.name == "checkpoints"
                                    else p.parent)
        return "rl:" + run.name
    return spec


def _task_result(task: Task, rows: list[dict[str, Any]],
                 refs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    lat = [r["latency_mean"] for r in rows]
    p99 = [r["latency_p99"] for r in rows]
    rand = float(np.mean([r["latency_mean"] for r in refs[RANDOM]]))
    paper = {s: float(np.mean([r["latency_mean"] for r in refs[s]])) for s in PAPER}
    best = min(paper, key=lambda s: (paper[s], s))
    m, ci = mean_ci(lat)
    q, qci = mean_ci(p99)
    gap = rand - paper[best]
    score = (rand - m) / gap if gap != 0 else float("nan")
    return {"task": task.name, **asdict(task), "score": score,
            "latency_mean": m, "latency_mean_ci95": ci, "latency_p99": q,
            "latency_p99_ci95": qci, "random_latency": rand, "best_heuristic": best,
            "best_latency": paper[best], "fallbacks": int(sum(r.get("fallbacks", 0)
                                                             for r in rows))}


def _fmt(x: float | None, nd: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


HEADER = ("| agent | version | tasks | mean score | TBU score | cluster score | "
          "mean latency ratio to best | package | kernel |\n"
          "|---|---|---|---|---|---|---|---|---|")


def markdown_row(result: dict[str, Any]) -> str:
    """The leaderboard row of one result (:func:`run_benchmark`): mean normalised score over
    all its tasks and per level, and its mean latency over the best heuristic's (mean over
    tasks)."""
    ts = result["tasks"]

    def lvl(level: str) -> float | None:
        s = [t["score"] for t in ts if t["level"] == level]
        return float(np.mean(s)) if s else None

    ratio = float(np.mean([t["latency_mean"] / t["best_latency"] for t in ts])) if ts else None
    return (f"| {result['agent']} | {result['version']} | {len(ts)} | "
            f"{_fmt(result['score_mean'])} | {_fmt(lvl('TBUAssign'))} | "
            f"{_fmt(lvl('ClusterAssign'))} | {_fmt(ratio)} | {result['package_version']} | "
            f"{result['kernel_source_hash']} |")


def markdown_rows(results: Sequence[dict[str, Any]]) -> str:
    """The header and one :func:`markdown_row` per result, best mean score first."""
    order = sorted(results, key=lambda r: (-(r["score_mean"] if r["score_mean"] is not None
                                             and not math.isnan(r["score_mean"])
                                             else -math.inf), r["agent"]))
    return "\n".join([HEADER, *(markdown_row(r) for r in order)])


def task_table(result: dict[str, Any]) -> str:
    """Per-task numbers of one result as a Markdown table."""
    lines = ["| task | score | mean latency (95% CI) | p99 latency (95% CI) | best heuristic |",
             "|---|---|---|---|---|"]
    for t in result["tasks"]:
        lines.append(f"| {t['task']} | {_fmt(t['score'])} | {t['latency_mean']:.0f} ± "
                     f"{_fmt(t['latency_mean_ci95'], 0)} | {t['latency_p99']:.0f} ± "
                     f"{_fmt(t['latency_p99_ci95'], 0)} | {t['best_heuristic']} |")
    return "\n".join(lines)


def write_results(results: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """One ``<agent>.json`` per result under ``out`` (created), keys sorted."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in results:
        p = out / (r["agent"].replace("/", "_").replace(":", "_") + ".json")
        p.write_text(json.dumps(r, indent=1, sort_keys=True) + "\n")
        paths.append(p)
    return paths


__all__ = ["EVAL_SEED", "PAPER", "RANDOM", "VERSIONS", "Task", "definition_hash",
           "markdown_row", "markdown_rows", "run_benchmark", "task_table", "tasks",
           "version_info", "write_results"]
