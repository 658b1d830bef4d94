"""Held-out evaluation during training (monitoring only, never a training signal): the
deterministic policy, and reference schedulers, on single-env episodes seeded
``EVAL_SEED + j`` (``octogym.evaluation``), disjoint from every training seed."""

from __future__ import annotations

from typing import Any


def held_out_latency(model: Any, venv: Any, env_id: str, env_kwargs: dict[str, Any],
                     episodes: int) -> list[float]:
    """Mean latency (us at 1 GHz) of the deterministic policy in each of ``episodes`` held-out
    episodes: env ``j`` is a single env reset with ``EVAL_SEED + j`` (batched in one kernel).
    Observations are scaled by ``venv``'s statistics when it is an observation-normalising
    ``VecNormalize``."""
    import numpy as np
    from stable_baselines3.common.vec_env import VecNormalize

    from octogym.agents.imitation import is_masked
    from octogym.envs.sb3 import make_sb3_vec_env
    from octogym.evaluation import EVAL_SEED
    env = make_sb3_vec_env(env_id, n_envs=episodes, seed=EVAL_SEED, **env_kwargs)
    masked = is_masked(model.policy)
    obs = env.reset()
    lat: list[float | None] = [None] * episodes
    while any(x is None for x in lat):
        if isinstance(venv, VecNormalize) and venv.norm_obs:
            obs = venv.normalize_obs(obs)
        kw = {"action_masks": np.asarray(env.env_method("action_masks"))} if masked else {}
        action, _ = model.predict(obs, deterministic=True, **kw)
        obs, _, done, infos = env.step(action)
        for j in np.flatnonzero(done):
            if lat[j] is None:
                lat[j] = infos[j]["metrics"]["latency_mean"] / 1000.0
    env.close()
    return [float(x) for x in lat]


def reference_latency(env_id: str, env_kwargs: dict[str, Any], names: list[str],
                      episodes: int) -> dict[str, float]:
    """Mean latency (us) of each scheduler in ``names`` on the held-out episodes of
    :func:`held_out_latency` (a ``HeuristicAgent`` through the same env)."""
    import gymnasium as gym
    import numpy as np

    from octogym.agents.base import HeuristicAgent
    from octogym.evaluation import EVAL_SEED
    env = gym.make(env_id, **env_kwargs)
    refs = {}
    for name in names:
        lat = []
        for j in range(episodes):
            agent = HeuristicAgent(name)
            obs, info = env.reset(seed=EVAL_SEED + j)
            done = False
            while not done:
                obs, _, term, trunc, info = env.step(agent.act(obs, info["action_mask"], env))
                done = term or trunc
            lat.append(info["metrics"]["latency_mean"] / 1000.0)
        refs[name] = round(float(np.mean(lat)), 3)
    env.close()
    return refs


def play_held_out(env_id: str, act: Any, episodes: int, seed: int | None = None,
                  **env_kwargs: Any) -> Any:
    """Mean latency (us) of each of ``episodes`` held-out episodes (member ``j`` of a native
    vector env reset with seed ``seed + j``, ``EVAL_SEED`` by default), actions from
    ``act(obs, masks, venv)`` (an agent's ``act_batch``): a float array ``(episodes,)``."""
    import gymnasium as gym
    import numpy as np

    from octogym.evaluation import EVAL_SEED
    venv = gym.make_vec(env_id, num_envs=episodes, vectorization_mode="vector_entry_point",
                        **env_kwargs)
    base = EVAL_SEED if seed is None else seed
    obs, info = venv.reset(seed=[base + j for j in range(episodes)])
    lat = np.full(episodes, np.nan)
    while np.isnan(lat).any():
        obs, _, term, trunc, info = venv.step(act(obs, info["action_mask"], venv))
        for j in np.flatnonzero((term | trunc) & np.isnan(lat)):
            lat[j] = float(info["final_info"]["metrics"]["latency_mean"][j]) / 1000.0
    venv.close()
    return lat
