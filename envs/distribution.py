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
* **Generated workflows** (``workflow_pool="generated"`` or ``"mixed"``,
  :func:`octogym.workflows.splits.pool_workflows`): the mix holds ``generated_workflows``
  workflows of the seeded generator, with drift phases; ``"mixed"`` puts them beside the
  ``workflows`` mix, each half of the requests; ``workflow_split`` picks the ``train`` or
  ``held_out`` split, disjoint by construction (:mod:`octogym.workflows.splits`).
* **Warm starts** (``warmup_requests=W``): the kernel's controller alone (no agent decision)
  runs each episode's first ``W / rate`` cycles, the expected arrival time of request ``W`` at
  the episode's load (the number that arrive by then is random, about ``W``); then the agent
  takes over. The episode runs ``W`` more requests (``requests_per_episode + W`` in all), its
  reward starts at the take-over (the warm-up's time integral is not paid), and its
  ``metrics`` still cover every request, the warm-up's included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LOAD_STREAM = 0x10AD
"""Second word of the load draw's seed: keeps it apart from any other use of the episode seed."""


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
