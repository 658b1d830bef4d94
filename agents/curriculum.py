"""An episode-length curriculum: the ``curriculum`` hyperparameter of ``train.py --algo
ppo_native`` (docs/agents.md, "Training distribution").

``curriculum: [[0, 50], [2000000, 200]]`` = from training step 0 on, episodes of 50 requests;
from step 2,000,000 on, 200. The first entry's step must be 0, steps increase, lengths are
integers >= 1 and at most the env's ``requests_per_episode`` option (which sized the env and
is the longest episode it can run; the vector env refuses more). The trainer applies it
between rollouts through the native vector env's ``set_requests_per_episode``; a change takes
effect at once (an episode under way ends once it has finished the new number of requests).
"""

from __future__ import annotations

from typing import Any


class Curriculum:
    """``[[step, requests], ...]`` checked (``ValueError`` naming ``curriculum``)."""

    def __init__(self, stages: Any) -> None:
        def bad(what: str) -> ValueError:
            return ValueError(f"ppo_native: curriculum {what}, got {stages!r} (expected "
                              "[[0, requests], [step, requests], ...])")

        def is_int(x: Any) -> bool:
            return isinstance(x, int) and not isinstance(x, bool)

        if not isinstance(stages, (list, tuple)) or not stages:
            raise bad("must be a non-empty list of [step, requests] pairs")
        pairs = []
        for p in stages:
            if not isinstance(p, (list, tuple)) or len(p) != 2 or not all(map(is_int, p)):
                raise bad("entries must be [step, requests] pairs of integers")
            pairs.append((int(p[0]), int(p[1])))
        if pairs[0][0] != 0:
            raise bad("must start at step 0")
        if any(b[0] <= a[0] for a, b in zip(pairs, pairs[1:], strict=False)):
            raise bad("steps must increase")
        if any(n < 1 for _, n in pairs):
            raise bad("lengths must be >= 1 requests")
        self.stages: tuple[tuple[int, int], ...] = tuple(pairs)

    def requests_at(self, step: int) -> int:
        """Episode length (requests) from training step ``step`` on."""
        return next(n for s, n in reversed(self.stages) if s <= step)

    def as_list(self) -> list[list[int]]:
        return [list(p) for p in self.stages]
