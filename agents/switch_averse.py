"""A reconfiguration-averse earliest-finish rule at the TBU level (ours; a TBU-level baseline,
docs/agents.md, docs/results.md §8 "Generated workflows: where reconfiguration matters").

``make_agent("switch_averse:3")`` (spec ``switch_averse:<x>``, ``x >= 1``): at a TBU decision
of ``octogym/TBUAssign-v0`` it takes, among the valid TBUs of the TB's home cluster (the env's
actions), the one with the earliest estimated finish of the TB (``policies.finish_at``: its
data's transfer overlapped with the queued expected work and any reconfiguration, plus its
mean duration), where a TBU whose queued configuration (``policies.queued_cfg``) is not the
TB's is charged ``x`` reconfigurations in all (``x - 1`` more than the estimate holds); the
lowest index on ties. ``x = 1`` is plain earliest finish at home; ``x = 2`` charges what the
cost-aware placement of ``adaptive``/``octopus`` charges (``policies.switch_cost``).

Every TBU decision is expressible as an action, so it never falls back. It reads the env's
simulation state only (no draws, no policy state), so it plays any member of a native vector
env (``act_batch``) or a single env (``act``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from octogym.agents.base import StateAgent
from octogym.kernel import fields as L
from octogym.kernel.layout import DEC_TBU
from octogym.kernel.policies import finish_at, queued_cfg

#: The spec prefix: ``switch_averse:<x>``.
PREFIX = "switch_averse"


def is_switch_averse(spec: Any) -> bool:
    """Whether ``spec`` names this rule (``switch_averse`` or ``switch_averse:<x>``)."""
    return isinstance(spec, str) and (spec == PREFIX or spec.startswith(PREFIX + ":"))


def parse_cost(spec: str) -> float:
    """The ``x`` of ``switch_averse:<x>``; ``ValueError`` unless it is a number >= 1."""
    _, _, x = spec.partition(":")
    try:
        cost = float(x)
    except ValueError:
        raise ValueError(f"{spec!r}: give the reconfigurations charged for a switch, "
                         f"e.g. '{PREFIX}:3'") from None
    if not cost >= 1.0 or not np.isfinite(cost):
        raise ValueError(f"{spec!r}: the charge must be a finite number >= 1, got {x!r}")
    return cost


class SwitchAverseAgent(StateAgent):
    """The rule of the module docstring, as an :class:`octogym.agents.base.Agent`."""

    def __init__(self, spec: str) -> None:
        if not is_switch_averse(spec):
            raise ValueError(f"not a {PREFIX}:<x> spec: {spec!r}")
        self.cost = parse_cost(spec)
        self.name = f"{PREFIX}:{self.cost:g}"
        self.fallbacks = 0

    def _decide(self, sim: Any, b: int, mask: np.ndarray) -> int:
        M, S, K = sim.model, sim.state, sim.hw.tbus_per_cluster
        if int(S.SC[b, L.SC_DEC_KIND]) != DEC_TBU:
            raise RuntimeError(f"member {b}: no TBU decision is pending ({PREFIX} acts at the "
                               "TBU level only; call reset(), or the episode is over)")
        job = int(S.SC[b, L.SC_DEC_JOB])
        home = int(S.RQ[b, S.JB[b, job, L.JB_REQ], L.RQ_HOME])
        cfg = M.MB[L.MB_BLK_CFG, S.JB[b, job, L.JB_BLOCK]]
        extra = (self.cost - 1.0) * M.MI[L.MI_RECONF]
        best, bf = -1, np.inf
        for k in np.flatnonzero(mask[:K]):
            u = home * K + int(k)
            f = finish_at(M, S, b, job, u)
            if queued_cfg(M, S, b, u) != cfg:
                f += extra
            if f < bf:
                bf, best = f, int(k)
        if best < 0:
            raise RuntimeError(f"member {b}: no valid TBU in the home cluster")
        return best
