"""One agent interface for heuristics and learned policies (DESIGN §8).

``Agent.act(obs, mask, env_state) -> action`` where

* ``obs``: the env's observation (``(D,)`` float32, one env);
* ``mask``: the valid actions (``(n_actions,)`` bool; ``env.action_masks()`` or
  ``info["action_mask"]``);
* ``env_state``: the env itself: a ``gym.make`` env (wrapped) or an
  :class:`~octogym.envs.env.OctoEnv` (unwrapped). Only :class:`HeuristicAgent` reads it (the
  kernel state of the pending decision); learned agents ignore it and may be given ``None``.

The returned action is an ``int`` in the env's action space (a local TBU index for
``TBUAssign``, a cluster id for ``ClusterAssign``).

>>> env = gym.make("octogym/TBUAssign-v0", controller="adaptive")      # doctest: +SKIP
>>> agent = make_agent("adaptive")                                     # doctest: +SKIP
>>> obs, info = env.reset(seed=0)                                      # doctest: +SKIP
>>> env.step(agent.act(obs, info["action_mask"], env))                 # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from octogym.kernel import layout as L
from octogym.kernel.layout import DEC_CLUSTER, DEC_TBU
from octogym.kernel.policies import decide_cluster, decide_tbu
from octogym.schedulers import SCHEDULERS

ALGOS = ("ppo", "maskable_ppo")
CONFIG_NAME = "config.json"


class Agent:
    """Base class: ``act(obs, mask, env_state) -> action`` (see the module docstring)."""

    name: str = "agent"

    def act(self, obs: np.ndarray, mask: np.ndarray, env_state: Any = None) -> int:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _octo_env(env_state: Any):
    """The :class:`~octogym.envs.env.OctoEnv` behind ``env_state`` (an env or a wrapped env)."""
    env = getattr(env_state, "unwrapped", env_state)
    if env is None or not hasattr(env, "core"):
        raise TypeError("HeuristicAgent.act needs env_state = the octogym env (gym.make(...) "
                        f"or its .unwrapped), got {type(env_state).__name__}")
    if env.sim.state.SC.shape[0] != 1:
        raise TypeError("HeuristicAgent acts on single envs, not vector envs")
    return env


class HeuristicAgent(Agent):
    """Acts as registered scheduler ``name`` would: it calls the scheduler's compiled decision
    hook (``octogym.kernel.policies.decide_tbu`` / ``decide_cluster`` with the scheduler's
    kernel code) on the env's simulation state at the pending decision.

    * TBU env: the hook returns a global TBU ``u``; the action is ``u - home * K`` (its index
      in the TB's home cluster). A negative answer (the scheduler would defer the TB) cannot
      be expressed as an action, so the agent takes the least-loaded valid TBU (fewest queued
      jobs, lowest index on ties). A TBU outside the home cluster (``eft`` searches the whole
      chip) is likewise replaced by the least-loaded valid TBU of the home cluster; both
      cases are counted in ``self.fallbacks``.
    * Cluster env: the hook's cluster id is the action.

    The hook may update policy state (round-robin pointers, random draws) exactly as the
    kernel would have. Only the decision the env hands to the agent is replayed: everything
    else a scheduler does in other hooks (e.g. ``adaptive``'s work stealing, ``reactive``'s
    reconfiguration) runs in the kernel under the env's ``controller``; set ``controller`` to
    the same scheduler to reproduce it (``docs/agents.md`` lists which pairs match exactly).
    """

    def __init__(self, name: str) -> None:
        if name not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {name!r}; one of {sorted(SCHEDULERS)}")
        self.name = name
        self.code = SCHEDULERS[name].code
        self.fallbacks = 0

    def act(self, obs: np.ndarray, mask: np.ndarray, env_state: Any = None) -> int:
        env = _octo_env(env_state)
        sim = env.sim
        M, S = sim.model, sim.state
        kind = int(S.SC[0, L.SC_DEC_KIND])
        job = int(S.SC[0, L.SC_DEC_JOB])
        mask = np.asarray(mask, bool)
        if kind == DEC_CLUSTER:
            return int(decide_cluster(M, S, 0, job, self.code))
        if kind != DEC_TBU:
            raise RuntimeError("no decision is pending (call reset(), or the episode is over)")
        K = sim.hw.tbus_per_cluster
        home = int(S.RQ[0, S.JB[0, job, L.JB_REQ], L.RQ_HOME])
        u = int(decide_tbu(M, S, 0, job, self.code))
        k = u - home * K
        if u >= 0 and 0 <= k < K and mask[k]:
            return k
        self.fallbacks += 1
        queue = S.TB[0, home * K:(home + 1) * K, L.TB_QL].astype(np.float64)
        return int(np.argmin(np.where(mask, queue, np.inf)))


def _load_config(path: Path) -> dict[str, Any]:
    cfg_path = path.parent / CONFIG_NAME if path.is_file() else path / CONFIG_NAME
    if not cfg_path.is_file():
        raise FileNotFoundError(f"no {CONFIG_NAME} next to checkpoint {path} (train.py writes "
                                "one beside every checkpoint)")
    return json.loads(cfg_path.read_text())


def _checkpoint_zip(path: Path) -> Path:
    if path.is_dir():
        path = path / "final.zip"
    if path.suffix != ".zip":
        path = path.with_suffix(".zip")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    return path


class SB3Agent(Agent):
    """A trained SB3 model saved by ``train.py``: ``path`` is a run directory (its
    ``final.zip``) or a checkpoint ``.zip``; the ``config.json`` beside it says the env id,
    env kwargs and algorithm it was trained with. Deterministic actions by default;
    MaskablePPO predicts with ``action_masks=mask``. If the run normalised observations,
    the saved ``VecNormalize`` statistics are applied (frozen) before prediction."""

    def __init__(self, path: str | Path, deterministic: bool = True) -> None:
        path = Path(path)
        self.zip_path = _checkpoint_zip(path)
        self.config = _load_config(self.zip_path)
        self.algo = self.config["algo"]
        if self.algo not in ALGOS:
            raise ValueError(f"checkpoint algo {self.algo!r} is not one of {ALGOS}")
        self.env_id: str = self.config["env_id"]
        self.env_kwargs: dict[str, Any] = dict(self.config.get("env_kwargs", {}))
        self.name = str(path)
        self.deterministic = deterministic
        if self.algo == "maskable_ppo":
            from sb3_contrib import MaskablePPO as cls
        else:
            from stable_baselines3 import PPO as cls
        self.model = cls.load(self.zip_path, device="cpu")
        self.obs_rms = None
        stats = self.zip_path.with_name(self.zip_path.stem + "_vecnormalize.pkl")
        if stats.is_file():
            import pickle
            with stats.open("rb") as f:
                vn = pickle.load(f)
            self.obs_rms, self._clip, self._eps = vn.obs_rms, vn.clip_obs, vn.epsilon

    def check_env(self, env_id: str, env_kwargs: dict[str, Any] | None = None) -> None:
        """Raise ``ValueError`` naming the first difference between the env this model was
        trained on and ``(env_id, env_kwargs)``. Kwargs absent on one side count as a
        difference (defaults are not guessed)."""
        if env_id != self.env_id:
            raise ValueError(f"{self.name}: trained on env {self.env_id!r}, asked to act on "
                             f"{env_id!r}")
        env_kwargs = dict(env_kwargs or {})
        for key in sorted(set(env_kwargs) | set(self.env_kwargs)):
            a, b = self.env_kwargs.get(key, "<default>"), env_kwargs.get(key, "<default>")
            if _jsonable(a) != _jsonable(b):
                raise ValueError(f"{self.name}: env kwarg {key!r} differs: trained with {a!r}, "
                                 f"asked with {b!r}")

    def make_env(self, **overrides: Any):
        """A single env exactly as trained (``overrides`` are allowed only for keys that do
        not change the task: ``render_mode``, ``max_steps``)."""
        import gymnasium as gym

        import octogym  # noqa: F401  (registers the ids)
        bad = set(overrides) - {"render_mode", "max_steps"}
        if bad:
            raise ValueError(f"make_env may only override render_mode/max_steps, not "
                             f"{sorted(bad)}")
        return gym.make(self.env_id, **{**self.env_kwargs, **overrides})

    def act(self, obs: np.ndarray, mask: np.ndarray, env_state: Any = None) -> int:
        obs = np.asarray(obs, np.float32)
        if self.obs_rms is not None:
            obs = np.clip((obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + self._eps),
                          -self._clip, self._clip).astype(np.float32)
        if self.algo == "maskable_ppo":
            a, _ = self.model.predict(obs, action_masks=np.asarray(mask, bool),
                                      deterministic=self.deterministic)
        else:
            a, _ = self.model.predict(obs, deterministic=self.deterministic)
        return int(a)


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, sort_keys=True, default=str))


def make_agent(spec: str | Path) -> Agent:
    """A scheduler name (``HeuristicAgent``) or a checkpoint path (``SB3Agent``)."""
    if isinstance(spec, str) and spec in SCHEDULERS:
        return HeuristicAgent(spec)
    p = Path(spec)
    if p.exists() or p.with_suffix(".zip").exists():
        return SB3Agent(p)
    raise ValueError(f"{spec!r} is neither a scheduler ({sorted(SCHEDULERS)}) nor a checkpoint "
                     "path")
