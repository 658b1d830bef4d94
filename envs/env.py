"""The single Gymnasium environments: TBU assignment and cluster assignment.

:class:`OctoEnv` owns everything (a one-member :class:`~octogym.envs.core.KernelBatch`); the
two public classes only name their :class:`~octogym.envs.decisions.Decision`.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from octogym.envs.config import RENDER_MODES, EnvConfig, rst_list
from octogym.envs.core import KernelBatch, root_seed
from octogym.envs.decisions import (
    ClusterDecision,
    Decision,
    DispatchDecision,
    PlaceDecision,
    ProvisionDecision,
    TBUDecision,
)
from octogym.envs.layout import (
    CLUSTER_FEATURES,
    DISPATCH_FEATURES,
    PLACE_FEATURES,
    PROVISION_FEATURES,
    TBU_FEATURES,
    markdown_table,
)
from octogym.envs.provision import DOC_N_CONFIGS, doc_note
from octogym.envs.reward import REWARDS
from octogym.envs.viewer import GridViewer

__all__ = ["RENDER_MODES", "ClusterAssignEnv", "DispatchEnv", "OctoEnv", "PlaceEnv",
           "ProvisionEnv", "TBUAssignEnv"]


class OctoEnv(gym.Env[np.ndarray, np.int64]):
    """Base class of the Octopus environments (see the subclasses for the documentation)."""

    metadata: dict[str, Any] = {"render_modes": RENDER_MODES, "render_fps": 4}
    decision: Decision

    def __init__(self, **options: Any) -> None:
        """``options``: the env options of :class:`~octogym.envs.config.EnvConfig` (the
        Arguments section below), as keywords."""
        self.config = config = EnvConfig.from_kwargs(**options)
        self.core = KernelBatch(self.decision, 1, config)
        self.render_mode = config.render_mode
        self.viewer = config.viewer or GridViewer()
        self.observation_space = self.core.observation_space()
        self.action_space = spaces.Discrete(self.core.n_actions)
        self._started = False
        self._over = False

    @property
    def sim(self):
        """The underlying :class:`~octogym.simulator.Simulation` (batch of one)."""
        return self.core.sim

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        core = self.core
        if seed is not None:
            core.seed([0], [root_seed(seed)])
        elif not self._started:
            core.seed([0], [int(self.np_random.integers(0, 2**63))])
        else:
            core.episode[0] += 1
        core.start(np.zeros(1, np.int64))
        self._started = True
        self._over = False
        return core.observation(0), core.info(0)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self._started or self._over:
            raise RuntimeError("the episode is over (or never started): call reset()")
        core = self.core
        r, term, trunc = core.step(action)
        terminated, truncated = bool(term[0]), bool(trunc[0])
        if terminated or truncated:
            self._over = True
            info = core.final_info(0)
        else:
            info = core.info(0)
        return core.observation(0), float(r[0]), terminated, truncated, info

    def fork(self) -> OctoEnv:
        """An independent env at this env's current state (kernel state, episode bookkeeping
        and ``np_random``): stepped with the same actions it returns what this env returns,
        and whatever its actions it sees the same future arrivals, durations and branch
        outcomes (:mod:`octogym.envs.fork`)."""
        from octogym.envs.fork import fork_batch

        other = copy.copy(self)
        other.core = fork_batch(self.core)
        other._np_random = copy.deepcopy(self._np_random)
        return other

    def action_masks(self) -> np.ndarray:
        """Valid actions of the pending decision (bool, ``(n_actions,)``); all ones when no
        decision is pending (before reset, after the episode ended)."""
        return self.core.mask[0].copy()

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "ansi":
            return self.viewer.ansi(self.core, 0)
        if self.render_mode == "rgb_array":
            return self.viewer.rgb(self.core, 0)
        return None


_DOC = """{title}

## Description

{description}

The model, the workflows and the kernel: ``docs/model.md``. One env is one member of the
batched kernel; :class:`{vector}` runs many in one kernel call.

## Action Space

{action}

Masks: ``env.action_masks()`` (for sb3-contrib ``MaskablePPO``) and ``info["action_mask"]``.
An action is an integer (or a float; a scalar or shape ``(1,)``); another shape or dtype is a
``ValueError``. An invalid action (outside the space, masked out, a fractional float, NaN or
+-inf) is replaced by the nearest valid action (smallest ``|a - a'|``, the lower on a tie; NaN
as the lowest) and counted in ``info["invalid_actions"]``; it never reaches the kernel.

## Observation Space

``Box(0, 1, (D,), float32)``: scalars first, then per-entity features, feature-major.
``squash(x, s) = x / (x + s)``; ``tau`` = expected cycles of one TB execution of the workflow
mix, ``work`` = expected TBU-cycles of one request (``octogym.envs.layout``).

{table}

## Rewards

``reward=`` one of {rewards}. Default ``latency``: minus the time-integral of the requests in
the system between consecutive decisions, times ``reward_scale`` (default ``1 / tau``); the
episode's rewards sum to minus the total latency of its requests (times the scale). The others
are documented in ``octogym.envs.reward``.

## Episode End

``terminated`` when all ``requests_per_episode`` requests have finished; ``truncated`` after
``max_steps`` decisions (default ``None``: no limit). The last step's ``info["metrics"]`` holds
the episode's metrics (``SimResult.to_dict()``: latency mean/p50/p95/p99, makespan, throughput,
utilisation and idle split, reconfigurations, NoC byte-hops, ...) plus ``episode_steps`` and
``env_invalid_actions``.

## Arguments

Keywords (``octogym.envs.config.EnvConfig``; an unknown keyword or a bad value is a
``ValueError`` naming it):

{arguments}

```python
import gymnasium as gym, octogym
env = gym.make("{env_id}", requests_per_episode=50)
obs, info = env.reset(seed=0)
obs, reward, terminated, truncated, info = env.step(int(info["action_mask"].argmax()))
```

## Version History

* v0: initial version.
"""


class TBUAssignEnv(OctoEnv):
    decision = TBUDecision()


class ClusterAssignEnv(OctoEnv):
    decision = ClusterDecision()


class DispatchEnv(OctoEnv):
    decision = DispatchDecision()


class PlaceEnv(OctoEnv):
    decision = PlaceDecision()


class ProvisionEnv(OctoEnv):
    decision = ProvisionDecision()


TBUAssignEnv.__doc__ = _DOC.format(
    title="TBU assignment: choose the TBU that runs each ready TB instance.",
    description="One step = one ready TB instance (a task block execution) whose home cluster "
    "has a TBU with queue space. Requests arrive open-loop; the controller gives each its home "
    "cluster; the agent places the request's TB instances on TBUs of that cluster.",
    vector="TBUAssignVectorEnv",
    action="``Discrete(K)``, ``K = tbus_per_cluster``: TBU ``k`` of the TB's home cluster. "
    "Valid: TBUs whose queue has space.",
    table=markdown_table(TBU_FEATURES), rewards=", ".join(f"``{r}``" for r in REWARDS),
    arguments=rst_list(), env_id="octogym/TBUAssign-v0")
ClusterAssignEnv.__doc__ = _DOC.format(
    title="Cluster assignment: choose the home cluster of each arriving request.",
    description="One step = one arriving request. Its control blocks run on the home "
    "cluster's CBU and its TB instances are placed on that cluster's TBUs by the controller.",
    vector="ClusterAssignVectorEnv",
    action="``Discrete(C)``, ``C`` = clusters: the request's home cluster. Every cluster is "
    "valid (a full cluster queues work in its backlog), so the mask is all ones.",
    table=markdown_table(CLUSTER_FEATURES), rewards=", ".join(f"``{r}``" for r in REWARDS),
    arguments=rst_list(), env_id="octogym/ClusterAssign-v0")
DispatchEnv.__doc__ = _DOC.format(
    title="Dispatch: choose which waiting TB a freed TBU runs next.",
    description="One step = one TBU that finished its TB (or a reconfiguration) while work "
    "waits for it: its queued TB instances and, if its queue has space, its cluster's "
    "backlog. The controller (default ``static``) gives requests their home clusters, "
    "places TB instances on TBUs, steals and reconfigures; the agent only orders the work a "
    "TBU runs (octogym/kernel/dispatch.py). With a single candidate there is nothing to "
    "decide and no step.",
    vector="DispatchVectorEnv",
    action="``Discrete(queue_capacity + 8)``: candidate slot ``i``: the TBU's ``i``-th queued "
    "job (head first), then its cluster's backlog, oldest first (at most 8). Valid: the slots "
    "holding a candidate. Action 0 is first-in-first-out (the kernel's own behaviour).",
    table=markdown_table(DISPATCH_FEATURES), rewards=", ".join(f"``{r}``" for r in REWARDS),
    arguments=rst_list(), env_id="octogym/Dispatch-v0")
PlaceEnv.__doc__ = _DOC.format(
    title="Place: send each ready TB instance to any TBU of the machine, or let it wait.",
    description="One step = one ready TB instance, at every TB instance (also when its home "
    "cluster is full: exactly where a scheduler's placement hook decides, so every scheduler's "
    "placement is expressible). The controller keeps the cluster choice, stealing, "
    "provisioning and diffusion; a parked TB is re-offered when a queue slot frees in the "
    "cluster it waits in (docs/envs.md, Place).",
    vector="PlaceVectorEnv",
    action="``Discrete(T + C)``: ``u < T`` = TBU ``u`` of the machine (valid if its queue has "
    "space); ``T + c`` = wait in cluster ``c``'s backlog (valid if a TBU of ``c`` is busy, so "
    "a slot will free; ``T + home`` is the plain wait).",
    table=markdown_table(PLACE_FEATURES), rewards=", ".join(f"``{r}``" for r in REWARDS),
    arguments=rst_list(), env_id="octogym/Place-v0")
ProvisionEnv.__doc__ = _DOC.format(
    title="Provision: at every epoch, choose each cluster's reconfigurations.",
    description="One step = one cluster at an epoch (clusters in order, each until the agent "
    "keeps). The controller keeps placing TBs, choosing clusters, stealing and diffusing; the "
    "provisioning part of its epoch is the agent's. A controller without an epoch gets the "
    "default one (docs/envs.md, Provision).",
    vector="ProvisionVectorEnv",
    action="``Discrete(K * NCFG + 1)`` (``NCFG``: configurations of the workflow mix): "
    "``k * NCFG + g`` reconfigures TBU ``k`` of the cluster to configuration ``g`` (valid if "
    "it is idle with an empty queue and does not hold ``g``); ``K * NCFG`` keeps the rest and "
    "moves on to the next cluster (always valid).",
    table=doc_note() + "\n\n" + markdown_table(PROVISION_FEATURES, n_configs=DOC_N_CONFIGS),
    rewards=", ".join(f"``{r}``" for r in REWARDS), arguments=rst_list(),
    env_id="octogym/Provision-v0")
