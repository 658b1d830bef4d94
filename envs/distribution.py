"""The training distribution: what changes from episode to episode, and which generated
workflows an agent may train on (the env options ``load_range``, ``workflow_pool``,
``generated_workflows``, ``workflow_split`` and ``warmup_requests`` of
:class:`~octogym.envs.config.EnvConfig`; docs/envs.md "Training distribution").

* **Load per episode** (``load_range=(lo, hi)``): each episode of each member draws its offered
  load uniformly from ``[lo, hi]`` with ``numpy.random.default_rng([episode seed, LOAD_STREAM])``
  (:func:`episode_loads`): one seed, one trajectory, and a stream of its own, independent of
  the kernel's draws. The simulation is built at load ``lo`` (so its horizon check covers the
  whole range) and each member's arrival rate is multiplied by ``load / lo`` (the kernel's
  ``SF_RATE_SCALE``).
* **Generated workflows** (``workflow_pool="generated"`` or ``"mixed"``): the mix holds
  ``generated_workflows`` workflows of the seeded generator, with drift phases
  (:data:`GENERATED_CONFIG`); ``"mixed"`` puts them beside the ``workflows`` mix, each half of
  the requests. Generated workflow ``i`` of split ``s`` is drawn with
  ``default_rng(SPLIT_SEEDS[s] + i)``: ``"train"`` seeds are ``[0, 10_000)`` and
  ``"held_out"`` seeds ``[10_000, 20_000)`` (``EVAL_SEED``, the evaluation seeds' base), and
  ``generated_workflows <= SPLIT_SIZE`` is checked, so no generator seed is in both splits and
  held-out evaluation meets workflows never drawn for training (tests/test_distribution.py
  also compares the workflows themselves). The benchmark's frozen generated workflows
  (``octogym.benchmark``) come from seeds ``20_000 +``, in neither split.
* **Warm starts** (``warmup_requests=W``): the kernel's controller alone (no agent decision)
  runs each episode's first ``W / rate`` cycles, the expected arrival time of request ``W`` at
  the episode's load (the number that arrive by then is random, about ``W``); then the agent
  takes over. The episode runs ``W`` more requests (``requests_per_episode + W`` in all), its
  reward starts at the take-over (the warm-up's time integral is not paid), and its
  ``metrics`` still cover every request, the warm-up's included.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from octogym.workflows.generator import GeneratorConfig, generate_workflow
from octogym.workflows.model import Workflow

WORKFLOW_POOLS = ("suite", "generated", "mixed")
SPLIT_SIZE = 10_000
"""Generator seeds per split: ``octogym.evaluation.EVAL_SEED`` (not imported, to keep the env
options light; tests/test_distribution.py checks they agree)."""
SPLIT_SEEDS: dict[str, int] = {"train": 0, "held_out": SPLIT_SIZE}
"""First generator seed of each split; each split has ``SPLIT_SIZE`` seeds."""
LOAD_STREAM = 0x10AD
"""Second word of the load draw's seed: keeps it apart from any other use of the episode seed."""

GENERATED_CONFIG = GeneratorConfig(n_tasks=(3, 10), n_phases=(1, 2), phase_length=(40, 160))
"""The generator's knobs for env workflows (ours): the defaults, smaller graphs, and one or two
drift phases that start within a 200-request episode."""


@lru_cache(maxsize=64)
def generated_workflows(split: str, count: int) -> tuple[Workflow, ...]:
    """Generated workflows ``0 .. count-1`` of ``split`` (module docstring), named
    ``gen-<split>-<i>``; ``ValueError`` names a bad split or count."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f"env option workflow_split must be one of {list(SPLIT_SEEDS)}, got "
                         f"{split!r}")
    if not 1 <= count <= SPLIT_SIZE:
        raise ValueError(f"env option generated_workflows must be in [1, {SPLIT_SIZE}], got "
                         f"{count!r}")
    base = SPLIT_SEEDS[split]
    return tuple(generate_workflow(np.random.default_rng(base + i), GENERATED_CONFIG,
                                   name=f"gen-{split}-{i}") for i in range(count))


def pool_workflows(workflows: Any, pool: str, count: int, split: str) -> Any:
    """The ``workflows`` argument of the env's ``Simulation``: ``workflows`` itself for the
    ``"suite"`` pool (unchanged, so existing ids stay bit-identical), else a
    ``{Workflow: weight}`` mix (module docstring)."""
    if pool == "suite":
        return workflows
    gen = generated_workflows(split, count)
    mix: dict[Workflow, float] = {w: 1.0 / count for w in gen}
    if pool == "generated":
        return mix
    from octogym.simulator import resolve_workflows

    wfs, weights = resolve_workflows(workflows)
    total = float(sum(weights))
    for w, x in zip(wfs, weights, strict=True):
        mix[w] = mix.get(w, 0.0) + x / total
    return mix


def episode_loads(seeds: list[int], load_range: tuple[float, float]) -> np.ndarray:
    """The offered load of each episode seeded ``seeds[i]``: uniform in ``load_range``."""
    lo, hi = load_range
    return np.array([lo + (hi - lo) * np.random.default_rng([int(s), LOAD_STREAM]).random()
                     for s in seeds])


def check_load_range(value: Any) -> tuple[float, float] | None:
    """``value`` as ``(lo, hi)`` (or None); ``ValueError`` naming ``load_range`` otherwise."""
    if value is None:
        return None
    try:
        lo, hi = (float(x) for x in value)
        ok = all(not isinstance(x, (bool, str)) for x in value)
    except (TypeError, ValueError):
        ok = False
    if not ok or not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"env option load_range must be None or (lo, hi) with 0 < lo <= hi, "
                         f"both finite, got {value!r}")
    return lo, hi
