"""Learned agents beside the heuristics: who plays which scenario, and how one arm is run.

A learned agent makes one level of decisions inside an env (TBUAssign: which TBU of the home
cluster runs a ready TB; ClusterAssign: a request's home cluster); the env's ``controller``
runs everything else. The fair comparison is therefore every heuristic making the *same*
decisions through the *same* env with the *same* controller (``HeuristicAgent(name)``, kind
``"env"``), on the same seeded episodes. The kernel-only runs of the full heuristics (kind
``"kernel"``, each scheduler controlling everything) are listed beside them for reference.

* :func:`resolve_agents`: command-line specs to scheduler names and checkpoint paths;
* :func:`plan_agents`: the (scenario, :class:`Arm`) runs, and which learned agent was skipped
  where and why; :func:`check_training_seeds` refuses a checkpoint trained on evaluation seeds;
* :func:`run_arm`: the unit of work, one arm on one scenario for some seeds (a top-level
  function of picklable arguments);
* :func:`compare_agents`: every planned run (worker processes optional) into tidy rows.

Scenarios, seeds and the kernel-only runs come from :mod:`octogym.evaluation`; the report on
the rows is :mod:`octogym.agents.arena_report` (docs/agents.md, "Evaluation").
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from octogym.agents.base import SB3Agent, decision_groups, make_agent, zoo_checkpoints
from octogym.distributed import Executor
from octogym.envs.config import ROLES, split_env_kwargs
from octogym.envs.decisions import DECISIONS
from octogym.envs.layout import obs_size
from octogym.evaluation import EVAL_SEED, Scenario, run_one, run_tasks
from octogym.evaluation.runner import Rows
from octogym.hardware import PRESETS, get_hardware
from octogym.schedulers import SCHEDULERS

#: The env options an evaluation may set differently from an agent's training: the scenario
#: (EnvConfig's "scenario" role: hardware, workload), the episode length and rendering. Every
#: other option the agent was trained with (controller, reward, observation) is kept.
VARY = (*ROLES["scenario"], "max_steps", *ROLES["display"])
#: Short names of the decision levels in row labels.
LEVELS = {"TBUAssign": "tbu", "ClusterAssign": "cluster", "Place": "place",
          "Provision": "provision"}


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
    size_agnostic: bool = False  # learned: an entity policy (acts on any hardware)


def learned_arm(agent: Any, label: str | None = None) -> Arm:
    """The :class:`Arm` of a loaded :class:`~octogym.agents.SB3Agent`."""
    controller = (agent.env_kwargs.get("controller")
                  or DECISIONS[agent.decision].default_controller)
    if label is None:
        p = agent.zip_path
        run = p.parent.parent if p.parent.name == "checkpoints" else p.parent
        label = "rl:" + (run.name if p.name == "final.zip" else f"{run.name}/{p.stem}")
    hw = agent.hardware if isinstance(agent.hardware, str) else hardware_label(agent.hardware)
    return Arm(label, "learned", str(agent.zip_path), agent.decision, controller,
               agent.env_id, hw, size_agnostic=agent.entity is not None)


def hardware_label(hardware: Any) -> str:
    """A hardware kwarg that is not a preset name (a dict such as ``{"preset": "wafer",
    "hop_cycles": 6}``) as a string: canonical JSON (sorted keys), read back by
    :func:`hardware_from_label`."""
    return json.dumps(hardware, sort_keys=True, default=str)


def hardware_from_label(label: str) -> Any:
    """The hardware kwarg an :class:`Arm`'s ``hardware`` label stands for: the dict of a
    :func:`hardware_label`, else the preset name itself."""
    return json.loads(label) if label.startswith("{") else label


def env_arm(names: str | Sequence[str], level: str, controller: str) -> Arm:
    """Heuristic ``names[0]`` making the ``level`` decisions of an env run by ``controller``;
    the label names every heuristic of ``names`` (the same decision hook:
    :data:`octogym.agents.SAME_DECISION`)."""
    names = (names,) if isinstance(names, str) else tuple(names)
    default = DECISIONS[level].default_controller
    tag = LEVELS[level] + ("" if controller == default else f"[{controller}]")
    return Arm(f"{tag}:{'='.join(names)}", "env", names[0], level, controller,
               f"octogym/{level}-v0")


def check_training_seeds(agent: Any) -> None:
    """Raise ``ValueError`` unless every training env seed of ``agent`` (``seed + i``,
    ``i < n_envs``, from its config.json) lies below :data:`EVAL_SEED` and it did not train on
    the held-out generated workflows (``workflow_split="held_out"``)."""
    cfg = agent.config
    seed, n_envs = cfg.get("seed"), cfg.get("n_envs")
    if not isinstance(seed, int) or not isinstance(n_envs, int):
        raise ValueError(f"{agent.name}: config.json lacks integer 'seed' / 'n_envs', so its "
                         "training seeds cannot be checked against the evaluation seeds")
    if seed < 0 or seed + n_envs > EVAL_SEED:
        raise ValueError(f"{agent.name}: trained on env seeds {seed}..{seed + n_envs - 1}, "
                         f"which reach the evaluation seeds (base {EVAL_SEED})")
    if (getattr(agent, "env_kwargs", None) or {}).get("workflow_split", "train") != "train":
        raise ValueError(f"{agent.name}: trained on the held-out generated workflows "
                         "(workflow_split='held_out'), which evaluation must not have seen")


def _spaces_fit(arm: Arm, hardware: str) -> str | None:
    """Why a learned ``arm`` cannot act on ``hardware`` (observation or action size), or
    ``None`` if it can (an entity policy acts on any hardware: its weights score rows, however
    many the machine has)."""
    if arm.size_agnostic:
        return None
    dec = DECISIONS[arm.level]
    shapes = []
    for h in (arm.hardware, hardware):
        hw = get_hardware(hardware_from_label(h))
        shapes.append((obs_size(dec.features, hw.tbus_per_cluster, hw.n_clusters),
                       dec.n_actions(hw)))
    if shapes[0] != shapes[1]:
        return (f"trained on {arm.hardware} (observation {shapes[0][0]}, {shapes[0][1]} "
                f"actions); {hardware} has observation {shapes[1][0]}, {shapes[1][1]} actions")
    return None


def run_arm(scenario: Scenario, arm: Arm, seeds: int, n_requests: int | None = None, *,
            allow_hardware_transfer: bool = False) -> Rows:
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
    kw = scenario.env_kwargs(n_requests)
    if arm.kind == "learned":
        import torch

        torch.set_num_threads(1)
        agent: Any = SB3Agent(arm.agent)
        kw = {**split_env_kwargs(agent.env_kwargs, VARY)[1], **kw}
        agent.check_env(agent.env_id, kw, vary=VARY,
                        allow_hardware_transfer=allow_hardware_transfer)
        env_id = agent.env_id
    else:
        agent = make_agent(arm.agent)  # a heuristic, or a rollout:<base> planner
        kw["controller"] = arm.controller
        env_id = arm.env_id
    venv = gym.make_vec(env_id, num_envs=seeds, vectorization_mode="vector_entry_point", **kw)
    core = getattr(venv, "unwrapped", venv).core
    if arm.kind == "learned":
        agent.check_spaces(venv.single_observation_space, venv.single_action_space)
    t0 = time.perf_counter()
    venv.reset(seed=EVAL_SEED)
    done = np.zeros(seeds, np.bool_)
    metrics: Rows = [{} for _ in range(seeds)]
    while not done.all():
        rows = np.flatnonzero(~done)
        obs = core.obs if core.entities is None else core.entities
        actions = agent.act_batch(obs, core.mask, venv, rows)
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
                   allow_hardware_transfer: bool = True, progress: bool = True, jobs: int = 1,
                   executor: Executor | None = None) -> tuple[Rows, list[dict[str, str]]]:
    """Learned agents beside the heuristics on ``scenarios`` (see :func:`plan_agents` for
    what runs): ``(rows, skipped)``, rows as :func:`run_arm` gives them, in plan order.
    ``jobs`` / ``executor``: where the runs execute (``octogym.evaluation.run_tasks``)."""
    plan, skipped, _ = plan_agents(scenarios, heuristics, checkpoints,
                                   allow_hardware_transfer=allow_hardware_transfer)
    tasks = [(s, arm, seeds, n_requests) for s, arm in plan]

    def cost(t: tuple) -> float:
        hw = PRESETS[t[0].hardware]
        c = {"kernel": 0.3, "env": 1.0, "learned": 2.0}[t[1].kind]
        return hw.n_tbus ** 0.5 * (n_requests or t[0].n_requests) * c

    run = functools.partial(run_arm, allow_hardware_transfer=allow_hardware_transfer)
    done = run_tasks(run, tasks, cost=cost, label=lambda t: f"{t[0].name} / {t[1].label}",
                     jobs=jobs, progress=progress, desc="agents", executor=executor)
    return [r for rows in done for r in rows], skipped
