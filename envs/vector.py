"""Native vector environments: ``num_envs`` members of one batched kernel, stepped by one
compiled call that advances each member, accounts its reward and builds its observation in one
go, members in parallel from ``octogym.envs.core.PARALLEL_MIN`` members on (see there).

Reach them with ``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")``.

* ``autoreset_mode`` (keyword; default ``SAME_STEP``, declared in ``metadata``): with
  ``SAME_STEP`` a member that ends is reset inside the same ``step``; its last observation and
  info are in ``info["final_obs"]`` / ``info["final_info"]`` (with ``"_final_obs"`` masks, as
  gymnasium's ``SyncVectorEnv`` lays them out). ``NEXT_STEP`` (gymnasium's default) returns the
  last observation and resets on the next ``step``, ignoring that member's action.
  ``DISABLED`` leaves ended members to ``reset(options={"reset_mask": mask})``.
* Seeding: ``reset(seed=s)`` gives member ``i`` the root ``member_seed(s, i)``;
  ``reset(seed=[s_0, ..., s_{N-1}])`` gives member ``i`` what a single env reset with ``s_i``
  gets, so it agrees step for step with ``SyncVectorEnv`` reset with the same list. Later
  episodes continue each member's own seed chain (:mod:`octogym.envs.core`).
* ``info`` per step: ``action_mask`` ``(N, A)``, ``invalid_actions`` and ``time`` ``(N,)``,
  each with its ``_key`` mask; ``final_info["metrics"]`` carries the episode metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from octogym.envs.config import RENDER_MODES, EnvConfig
from octogym.envs.core import KernelBatch, root_seed
from octogym.envs.decisions import (
    ClusterDecision,
    Decision,
    DispatchDecision,
    PlaceDecision,
    ProvisionDecision,
    TBUDecision,
)
from octogym.envs.viewer import GridViewer


def stack_infos(num_envs: int, member_infos: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The vector ``info`` that gymnasium's ``VectorEnv._add_info`` builds from the infos of
    some members (``{member: info}``, visited in ascending member order), in one pass per key
    instead of one per member and key. Every member's info must have the same keys and value
    types (ours do)."""
    rows = sorted(member_infos)
    first = member_infos[rows[0]]
    out: dict[str, Any] = {}
    mask = np.zeros(num_envs, np.bool_)
    mask[rows] = True
    for key, value in first.items():
        if isinstance(value, dict):
            out[key] = stack_infos(num_envs, {b: member_infos[b][key] for b in rows})
        else:
            if type(value) in (int, float, bool) or isinstance(value, np.number):
                array = np.zeros(num_envs, dtype=type(value))
            elif isinstance(value, np.ndarray):
                array = np.zeros((num_envs, *value.shape), dtype=value.dtype)
            else:
                array = np.full(num_envs, fill_value=None, dtype=object)
            for b in rows:
                array[b] = member_infos[b][key]
            out[key] = array
        out[f"_{key}"] = mask.copy()
    return out


class OctoVectorEnv(VectorEnv):
    """Base class of the native vector environments (module docstring)."""

    metadata: dict[str, Any] = {"render_modes": RENDER_MODES, "render_fps": 4,
                                "autoreset_mode": AutoresetMode.SAME_STEP}
    decision: Decision

    def __init__(self, num_envs: int = 1, *,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
                 **options: Any) -> None:
        """``num_envs`` members; ``options``: the env options of
        :class:`~octogym.envs.config.EnvConfig`, as keywords."""
        if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool) \
                or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.config = config = EnvConfig.from_kwargs(**options)
        self.core = KernelBatch(self.decision, int(num_envs), config)
        self.num_envs = int(num_envs)
        self.render_mode = config.render_mode
        self.viewer = config.viewer or GridViewer()
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.single_observation_space = self.core.observation_space()
        self.single_action_space = spaces.Discrete(self.core.n_actions)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._started = np.zeros(self.num_envs, np.bool_)
        self._ended = np.zeros(self.num_envs, np.bool_)  # ended, not yet reset

    @property
    def sim(self):
        """The underlying :class:`~octogym.simulator.Simulation` (batch of ``num_envs``)."""
        return self.core.sim

    # ---- reset ----------------------------------------------------------------------------
    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        N = self.num_envs
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is None:
            mask = np.ones(N, np.bool_)
        mask = np.asarray(mask, np.bool_)
        if mask.shape != (N,) or not mask.any():
            raise ValueError(f"reset_mask must be a bool array of shape ({N},) with a True")
        # each member's new root seed, None to continue its chain (module docstring)
        roots: list[int | None]
        if isinstance(seed, (int, np.integer)):
            super().reset(seed=int(seed))
            roots = [root_seed(int(seed), i) for i in range(N)]  # member i of a batch
        elif seed is None:
            roots = [None] * N
        else:
            if len(seed) != N:
                raise ValueError(f"a list of seeds must have num_envs={N} entries, got "
                                 f"{len(seed)}")
            roots = [None if s is None else root_seed(int(s)) for s in seed]  # single envs
        rows = np.flatnonzero(mask)
        cont = []
        for b in rows:
            if roots[b] is not None:
                self.core.seed([b], [roots[b]])
            elif not self._started[b]:
                self.core.seed([b], [int(self.np_random.integers(0, 2**63))])
            else:
                cont.append(b)
        self.core.episode[cont] += 1
        self.core.start(rows)
        self._started[rows] = True
        self._ended[rows] = False
        return self.core.observation(), self.core.infos()

    # ---- step -----------------------------------------------------------------------------
    def step_same(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                               dict[int, tuple[np.ndarray, dict[str, Any]]]]:
        """One step with same-step autoreset, for adapters: ``(reward, terminated, truncated,
        {member: (last obs, last info)} of the members that ended and were reset)``."""
        core = self.core
        r, term, trunc = core.step(actions)
        done = term | trunc
        finals = {}
        if done.any():
            rows = np.flatnonzero(done)
            finals = {int(b): (core.observation(int(b)), core.final_info(int(b))) for b in rows}
            core.next_episode(rows)
        return r, term, trunc, finals

    def step(self, actions: Any
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        core = self.core
        mode = self.autoreset_mode
        if not self._started.all():
            raise RuntimeError("call reset() before step()")
        if mode == AutoresetMode.SAME_STEP:
            r, term, trunc, finals = self.step_same(actions)
            infos = core.infos()
            if finals:
                done = term | trunc
                fobs = np.full(self.num_envs, None, dtype=object)
                for b, (o, _) in finals.items():
                    fobs[b] = o
                finfo = stack_infos(self.num_envs, {b: i for b, (_, i) in finals.items()})
                infos.update(final_obs=fobs, _final_obs=done.copy(), final_info=finfo,
                             _final_info=done.copy())
            return core.observation(), r, term, trunc, infos
        pending = self._ended.copy()
        if pending.any() and mode == AutoresetMode.DISABLED:
            raise RuntimeError(f"members {np.flatnonzero(pending).tolist()} ended; reset them "
                               "with reset(options={'reset_mask': mask}) (autoreset disabled)")
        if pending.any():
            active = ~pending
            if active.any():
                r, term, trunc = core.step(actions, active=active)
            else:
                r = np.zeros(self.num_envs)
                term = np.zeros(self.num_envs, np.bool_)
                trunc = term.copy()
            core.next_episode(np.flatnonzero(pending))
        else:
            r, term, trunc = core.step(actions)
        done = term | trunc
        infos = core.infos()
        if done.any():
            infos.update(stack_infos(self.num_envs, {int(b): {"metrics": core.metrics(int(b))}
                                                     for b in np.flatnonzero(done)}))
        self._ended = done
        return core.observation(), r, term, trunc, infos

    def clone_member(self, src: int, dst: int | list[int]) -> None:
        """Member ``src`` cloned into member(s) ``dst`` at its current state (kernel state and
        episode bookkeeping; :mod:`octogym.envs.fork`)."""
        from octogym.envs.fork import clone_members

        clone_members(self.core, src, dst)
        d = np.atleast_1d(np.asarray(dst, np.int64))
        self._started[d] = self._started[src]
        self._ended[d] = self._ended[src]

    def set_requests_per_episode(self, n: int) -> None:
        """Episodes end after ``n`` requests from now on (``n`` at most the env's
        ``requests_per_episode`` option; :meth:`KernelBatch.set_requests_per_episode`): the
        episode-length curriculum of ``train.py --algo ppo_native``."""
        self.core.set_requests_per_episode(n)

    def action_masks(self) -> np.ndarray:
        """Valid actions of every member's pending decision, ``(num_envs, n_actions)`` bool."""
        return self.core.mask.copy()

    def render(self) -> tuple[Any, ...] | None:
        if self.render_mode == "ansi":
            return tuple(self.viewer.ansi(self.core, b) for b in range(self.num_envs))
        if self.render_mode == "rgb_array":
            return tuple(self.viewer.rgb(self.core, b) for b in range(self.num_envs))
        return None


class TBUAssignVectorEnv(OctoVectorEnv):
    """Native vector env of :class:`~octogym.envs.env.TBUAssignEnv` (module docstring)."""

    decision = TBUDecision()


class ClusterAssignVectorEnv(OctoVectorEnv):
    """Native vector env of :class:`~octogym.envs.env.ClusterAssignEnv` (module docstring)."""

    decision = ClusterDecision()


class DispatchVectorEnv(OctoVectorEnv):
    """Native vector env of :class:`~octogym.envs.env.DispatchEnv` (module docstring)."""

    decision = DispatchDecision()


class PlaceVectorEnv(OctoVectorEnv):
    """Native vector env of :class:`~octogym.envs.env.PlaceEnv` (module docstring)."""

    decision = PlaceDecision()


class ProvisionVectorEnv(OctoVectorEnv):
    """Native vector env of :class:`~octogym.envs.env.ProvisionEnv` (module docstring)."""

    decision = ProvisionDecision()
