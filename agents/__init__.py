"""Agents for the octogym environments: one interface for heuristics and learned policies
(``docs/agents.md``)."""

from octogym.agents.base import (
    EXACT,
    SAME_DECISION,
    ZOO_DIR,
    Agent,
    DispatchAgent,
    HeuristicAgent,
    SB3Agent,
    decision_groups,
    make_agent,
    zoo_checkpoints,
)
from octogym.agents.checkpoint import CheckpointError
from octogym.agents.config import load_hyperparams

__all__ = ["EXACT", "SAME_DECISION", "ZOO_DIR", "Agent", "CheckpointError", "DispatchAgent",
           "HeuristicAgent",
           "SB3Agent", "decision_groups", "load_hyperparams", "make_agent", "zoo_checkpoints"]
