"""Agents for the octogym environments: one interface for heuristics and learned policies
(``docs/agents.md``)."""

from octogym.agents.base import Agent, HeuristicAgent, SB3Agent, make_agent
from octogym.agents.config import load_hyperparams

__all__ = ["Agent", "HeuristicAgent", "SB3Agent", "make_agent", "load_hyperparams"]
