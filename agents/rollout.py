"""The rollout planner as an :class:`~octogym.agents.base.Agent` (a teacher for imitation).

``make_agent("rollout:adaptive")`` (any ``rollout:<base>[:k=..,R=..,H=..,resample=..]`` spec,
:mod:`octogym.planner`) answers the env's pending decision (TBU, cluster, Place, Provision),
whichever the env asks (the spec's ``level`` is for whole runs): its rollouts clone the env's
simulation member, apply each candidate and continue under the base scheduler on the env's
model. The env's ``controller`` keeps deciding the level the agent does not control in the real run.

At a TBU decision the candidates are concrete TBUs of the home cluster, the first being what
``tbu:<base>`` plays in the env (``HeuristicAgent(base)``: the base's hook, or its fallback
when the hook's TBU is not an action), then the other valid home TBUs (``k`` as for whole
runs). The kernel's ``POLICY_ACTION`` is not a candidate there: at the TBU level the base's
hook may answer a TBU of another cluster, which the env cannot play, so its rollouts would
score an action other than the one played. Ties and the ``z`` guard keep the base's env answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from octogym.agents.base import Agent, HeuristicAgent, _octo_env, _vector_sim
from octogym.kernel import fields as L
from octogym.kernel.layout import DEC_TBU
from octogym.kernel.loop import POLICY_ACTION
from octogym.planner import RolloutConfig, RolloutPlanner


class EnvPlanner(RolloutPlanner):
    """A :class:`~octogym.planner.RolloutPlanner` whose TBU candidates are the env's actions
    (module docstring)."""

    def __init__(self, sim: Any, cfg: RolloutConfig) -> None:
        super().__init__(sim, cfg)
        self.base_agent = HeuristicAgent(cfg.base)
        self._first: dict[int, int] = {}  # member -> the base's env answer (candidate 0)

    def candidates(self, b: int) -> list[int]:
        cands = super().candidates(b)
        S = self.sim.state
        if int(S.SC[b, L.SC_DEC_KIND]) != DEC_TBU:
            return cands
        K, Q = self.sim.hw.tbus_per_cluster, self.sim.hw.queue_capacity
        home = int(S.RQ[b, S.JB[b, S.SC[b, L.SC_DEC_JOB], L.JB_REQ], L.RQ_HOME])
        mask = S.TB[b, L.TB_QL, home * K:(home + 1) * K] < Q
        first = home * K + self.base_agent._decide(self.sim, b, mask)
        self._first[b] = first
        return [first, *(a for a in cands[1:] if a != first)]

    def env_action(self, b: int, action: int, mask: np.ndarray) -> int:
        """Member ``b``'s env action for the kernel action ``action`` that :meth:`choose`
        returned (``mask``: the env's valid actions). ``POLICY_ACTION`` (the base's move; also
        a decision with one candidate, where no rollout was needed) is what
        ``HeuristicAgent(base)`` plays there: at a TBU decision the answer :meth:`candidates`
        already asked for (asking again would move the base's policy state twice), at the
        other levels the base's hook now. A TBU id becomes its index in the home cluster."""
        S = self.sim.state
        tbu = int(S.SC[b, L.SC_DEC_KIND]) == DEC_TBU
        first = self._first.pop(b, None)
        if action == POLICY_ACTION:
            if not tbu:
                return int(self.base_agent._decide(self.sim, b, mask))
            action = first
        if tbu:
            action -= int(S.RQ[b, S.JB[b, S.SC[b, L.SC_DEC_JOB], L.JB_REQ], L.RQ_HOME]) \
                * self.sim.hw.tbus_per_cluster
        return int(action)


class RolloutAgent(Agent):
    """``act`` / ``act_batch`` through a :class:`~octogym.planner.RolloutPlanner` (one per
    env simulation, kept between calls)."""

    def __init__(self, spec: str) -> None:
        self.cfg = RolloutConfig.parse(spec)
        self.name = spec
        self._planner: RolloutPlanner | None = None

    def _planner_for(self, sim: Any) -> RolloutPlanner:
        if self._planner is None or self._planner.sim is not sim:
            self._planner = EnvPlanner(sim, self.cfg)
        return self._planner

    def _env_actions(self, sim: Any, rows: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Env actions of members ``rows`` (``masks``: their valid actions, row by row)."""
        planner = self._planner_for(sim)
        kernel = planner.choose(rows)
        return np.array([planner.env_action(b, int(a), m)
                         for b, a, m in zip(rows.tolist(), kernel, masks, strict=True)],
                        np.int64)

    def act(self, obs: np.ndarray, mask: np.ndarray, env_state: Any = None) -> int:
        env = _octo_env(env_state)
        return int(self._env_actions(env.sim, np.zeros(1, np.int64),
                                     np.asarray(mask, bool)[None])[0])

    def act_batch(self, obs: np.ndarray, masks: np.ndarray, env_state: Any = None,
                  rows: np.ndarray | None = None) -> np.ndarray:
        """Every member ``rows`` of a native vector env planned in one compiled rollout call."""
        sim = _vector_sim(env_state, "RolloutAgent.act_batch")
        B = sim.state.SC.shape[0]
        rows = np.arange(B) if rows is None else np.asarray(rows, np.int64)
        out = np.zeros(B, np.int64)
        out[rows] = self._env_actions(sim, rows, np.asarray(masks, bool)[rows])
        return out
