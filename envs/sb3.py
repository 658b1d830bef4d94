"""A stable-baselines3 ``VecEnv`` over the native vector env: one kernel for all envs.

SB3 semantics: ``reset()`` returns observations only (infos in ``reset_infos``); ``step`` returns
``(obs, rewards, dones, infos)`` with ended envs already reset, their last observation in
``infos[i]["terminal_observation"]``, ``infos[i]["TimeLimit.truncated"]`` set when the step limit
(not the end of the requests) ended the episode, and ``infos[i]["metrics"]`` the episode metrics.
Masks: ``env_method("action_masks")`` (what sb3-contrib's ``MaskablePPO`` calls).

>>> venv = make_sb3_vec_env("octogym/TBUAssign-v0", n_envs=8, seed=0)  # doctest: +SKIP
>>> from sb3_contrib import MaskablePPO                                  # doctest: +SKIP
>>> MaskablePPO("MlpPolicy", venv).learn(10_000)                         # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv

from octogym.envs.vector import OctoVectorEnv


class SB3VecEnv(VecEnv):
    """SB3 view of an :class:`~octogym.envs.vector.OctoVectorEnv` (any autoreset mode; the
    adapter always resets ended envs within the step, as SB3 expects)."""

    def __init__(self, venv: OctoVectorEnv) -> None:
        if not isinstance(venv, OctoVectorEnv):
            raise TypeError(f"expected an octogym native vector env, got {type(venv).__name__}")
        self.venv = venv
        self._actions: np.ndarray | None = None
        super().__init__(venv.num_envs, venv.single_observation_space,
                         venv.single_action_space)

    def _idx(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, (int, np.integer)):
            return [int(indices)]
        return [int(i) for i in indices]

    def reset(self) -> np.ndarray:
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        obs, _ = self.venv.reset(seed=seeds)
        self.reset_infos = [self.venv.core.info(b) for b in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions  # checked by the native env's step (octogym.envs.actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        r, term, trunc, finals = self.venv.step_same(self._actions)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for b, (obs, info) in finals.items():
            infos[b] = {"terminal_observation": obs,
                        "TimeLimit.truncated": bool(trunc[b] and not term[b]),
                        "metrics": info["metrics"]}
        return (self.venv.core.observation(), r.astype(np.float32), term | trunc, infos)

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        value = getattr(self.venv, attr_name)  # AttributeError if absent, as SB3 expects
        return [value for _ in self._idx(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Attributes are shared by all members: setting one sets it for all."""
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None,
                   **method_kwargs: Any) -> list[Any]:
        idx = self._idx(indices)
        if method_name == "action_masks":
            masks = self.venv.core.mask.copy()
            return [masks[i] for i in idx]
        if method_name == "render":
            return [self._render_one(i) for i in idx]
        raise AttributeError(f"SB3VecEnv supports env_method('action_masks') and "
                             f"env_method('render'), not {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None
                       ) -> list[bool]:
        return [False for _ in self._idx(indices)]

    def _render_one(self, b: int) -> Any:
        v = self.venv
        if v.render_mode == "ansi":
            return v.viewer.ansi(v.core, b)
        if v.render_mode == "rgb_array":
            return v.viewer.rgb(v.core, b)
        return None

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.venv.render_mode != "rgb_array":
            return [None] * self.num_envs
        return [self.venv.viewer.rgb(self.venv.core, b) for b in range(self.num_envs)]


def make_sb3_vec_env(env_id: str, n_envs: int = 1, seed: int | None = None,
                     **kwargs: Any) -> SB3VecEnv:
    """An :class:`SB3VecEnv` of ``n_envs`` members of registered env ``env_id``. With ``seed``,
    env ``i`` is seeded as a single env reset with ``seed + i`` (SB3's convention)."""
    venv = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point",
                        autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)
    env = SB3VecEnv(venv)
    if seed is not None:
        env.seed(seed)
    return env
