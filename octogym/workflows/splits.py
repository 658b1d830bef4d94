"""Generated workflows for training and held-out evaluation, in two disjoint splits, and the
workflow pools of the envs' ``workflow_pool`` option (docs/envs.md "Training distribution").

Generated workflow ``i`` of split ``s`` is ``generate_workflow(default_rng(SPLIT_SEEDS[s] + i),
GENERATED_CONFIG)``, named ``gen-<s>-<i>``. The ``"train"`` split uses generator seeds
``[0, 10_000)``, ``"held_out"`` seeds ``[10_000, 20_000)`` (from ``EVAL_SEED``, the evaluation
seeds' base), and a split holds at most ``SPLIT_SIZE`` workflows (checked), so no generator
seed is in both splits: held-out evaluation meets workflows never drawn for training
(tests/test_distribution.py also compares the workflows themselves, and ``train.py`` trains on
the ``"train"`` split only). The benchmark's frozen generated workflows (``octogym.benchmark``)
come from seeds ``20_000 +``, in neither split.
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
    """The ``workflows`` argument of ``Simulation`` for an env's pool: ``workflows`` itself
    for ``"suite"`` (unchanged, so existing ids stay bit-identical); for ``"generated"`` the
    ``count`` workflows of ``split``, equally weighted; for ``"mixed"`` those beside the
    ``workflows`` mix, each half of the requests (a ``{Workflow: weight}`` dict)."""
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


