"""One agent interface for heuristics and learned policies (docs/agents.md).

``Agent.act(obs, mask, env_state) -> action`` where

* ``obs``: the env's observation (``(D,)`` float32, one env);
* ``mask``: the valid actions (``(n_actions,)`` bool; ``env.action_masks()`` or
  ``info["action_mask"]``);
* ``env_state``: the env itself: a ``gym.make`` env (wrapped) or an
  :class:`~octogym.envs.env.OctoEnv` (unwrapped). Only :class:`HeuristicAgent` reads it (the
  kernel state of the pending decision); learned agents ignore it and may be given ``None``.

The returned action is an ``int`` in the env's action space (a local TBU index for
``TBUAssign``, a cluster id for ``ClusterAssign``, a candidate slot for ``Dispatch``).

>>> env = gym.make("octogym/TBUAssign-v0", controller="adaptive")      # doctest: +SKIP
>>> agent = make_agent("adaptive")                                     # doctest: +SKIP
>>> obs, info = env.reset(seed=0)                                      # doctest: +SKIP
>>> env.step(agent.act(obs, info["action_mask"], env))                 # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from octogym.agents.checkpoint import (
    CONFIG_NAME,
    CheckpointError,
    checkpoint_zip,
    load_model,
    load_vecnormalize,
    read_config,
)
from octogym.agents.config import jsonable
from octogym.kernel import fields as L
from octogym.kernel.dispatch import DISPATCH_RULES, dispatch_rule, dispatch_rule_code
from octogym.kernel.layout import (
    DEC_CLUSTER,
    DEC_DISPATCH,
    DEC_PLACE,
    DEC_PROVISION,
    DEC_TBU,
    PARK_HOME,
)
from octogym.kernel.mechanisms import parked_cluster
from octogym.kernel.policies import (
    P_ADAPTIVE,
    P_EFT,
    P_OCTOPUS,
    aware_home_tbu,
    decide_cluster,
    decide_tbu,
    eft_tbu,
)
from octogym.kernel.provision import provision_choice
from octogym.schedulers import SCHEDULERS, is_planner

#: Schedulers whose TBU rule is earliest finish (``adaptive``/``octopus``: in the home cluster,
#: then a reconfiguration-aware search that may leave it; ``eft``: over the whole machine). At the
#: TBU level, where only the home cluster's TBUs are actions, their fallback is that same rule
#: restricted to the home cluster, not the least-loaded TBU (docs/agents.md): for the
#: reconfiguration-aware ones (``AWARE_AT_HOME``) with its reconfiguration awareness
#: (``policies.aware_home_tbu``), for ``eft`` the plain earliest finish (``eft_tbu``).
EFT_AT_HOME = frozenset((P_ADAPTIVE, P_OCTOPUS, P_EFT))
AWARE_AT_HOME = frozenset((P_ADAPTIVE, P_OCTOPUS))


class Agent:
    """Base class: ``act(obs, mask, env_state) -> action`` (see the module docstring)."""

    name: str = "agent"

    def act(self, obs: np.ndarray, mask: np.ndarray, env_state: Any = None) -> int:
        raise NotImplementedError

    def act_batch(self, obs: np.ndarray, masks: np.ndarray, env_state: Any = None,
                  rows: np.ndarray | None = None) -> np.ndarray:
        """One action per member of a native vector env: ``obs`` ``(N, D)``, ``masks``
        ``(N, A)``, ``env_state`` the vector env (or its ``.core``), ``rows`` the members that
        are waiting for an action (default: all). Returns ``(N,)`` int64; entries outside
        ``rows`` are 0 and meaningless. The base class calls :meth:`act` per row (no env
        state); subclasses batch."""
        rows = np.arange(len(obs)) if rows is None else np.asarray(rows, np.int64)
        out = np.zeros(len(obs), np.int64)
        for b in rows:
            out[b] = self.act(obs[b], masks[b], None)
        return out

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


def _vector_sim(env_state: Any, who: str):
    """The simulation behind a native octogym vector env ``env_state`` (the vector env, a
    wrapper of it, or its ``.core``); ``who`` names the caller in the error."""
    core = getattr(getattr(env_state, "unwrapped", env_state), "core", env_state)
    sim = getattr(core, "sim", None)
    if sim is None or not hasattr(sim, "state"):
        raise TypeError(f"{who} needs env_state = a native octogym vector "
                        f"env (or its .core), got {type(env_state).__name__}")
    return sim


class StateAgent(Agent):
    """An agent that decides from the env's simulation state, member by member: a subclass
    gives ``_decide(sim, b, mask) -> action`` for member ``b``'s pending decision, and this
    class plays it in a single env (``act``) or for every waiting member of a native vector env
    (``act_batch``); ``_start_batch(B)`` may size per-member bookkeeping first."""

    def act(self, obs: np.ndarray, mask: np.ndarray, env_state: Any = None) -> int:
        return self._decide(_octo_env(env_state).sim, 0, np.asarray(mask, bool))

    def act_batch(self, obs: Any, masks: np.ndarray, env_state: Any = None,
                  rows: np.ndarray | None = None) -> np.ndarray:
        """:meth:`act` for every member ``rows`` of a native vector env (``env_state``: the
        vector env, or its ``.core``), each on its own member's state; entries outside
        ``rows`` are 0."""
        sim = _vector_sim(env_state, f"{type(self).__name__}.act_batch")
        B = sim.state.SC.shape[0]
        self._start_batch(B)
        rows = np.arange(B) if rows is None else np.asarray(rows, np.int64)
        masks = np.asarray(masks, bool)
        out = np.zeros(B, np.int64)
        for b in rows:
            out[b] = self._decide(sim, int(b), masks[b])
        return out

    def _start_batch(self, B: int) -> None:
        """Before a batch of ``B`` members (default: nothing)."""

    def _decide(self, sim: Any, b: int, mask: np.ndarray) -> int:
        raise NotImplementedError


class HeuristicAgent(StateAgent):
    """Acts as registered scheduler ``name`` would: it calls the scheduler's compiled decision
    hook (``octogym.kernel.policies.decide_tbu`` / ``decide_cluster`` with the scheduler's
    kernel code) on the env's simulation state at the pending decision.

    * TBU env: the hook returns a global TBU ``u``; the action is ``u - home * K`` (its index
      in the TB's home cluster). A negative answer (the scheduler would defer the TB) cannot
      be expressed as an action, so the agent takes the least-loaded valid TBU (fewest queued
      jobs, lowest index on ties). A TBU outside the home cluster (``eft`` searches the whole
      chip; ``adaptive``, ``proactive`` and ``octopus`` may prefer a nearby cluster's TBU that
      holds the TB's configuration to reconfiguring one at home) is likewise replaced: for
      ``adaptive``, ``octopus`` and ``eft`` by their own earliest-finish rule restricted to the
      home cluster (``EFT_AT_HOME``; ``adaptive``'s and ``octopus``'s with its
      reconfiguration awareness, ``policies.aware_home_tbu``), else (and when that finds no
      TBU with space) by the least-loaded valid TBU of the home cluster; both cases are
      counted in ``self.fallbacks``.
    * Cluster env: the hook's cluster id is the action.
    * Place env: the hook's answer is the action exactly: TBU ``u`` is ``u``, a park in
      cluster ``c``'s backlog (``PARK_HOME`` = the home cluster) is ``T + c``. Every
      scheduler's answer is valid there, so no fallback is taken (tests/test_place.py); an
      answer the mask refuses would be replaced by the least-loaded valid TBU of the machine
      (else the first valid wait) and counted in ``self.fallbacks``.
    * Provision env: the scheduler's provisioning for the pending cluster
      (``octogym.kernel.provision.provision_choice``: ``reactive``, ``proactive``,
      ``octopus`` reconfigure, the others keep), which is exactly what its ``on_epoch`` does
      there (tests/test_provision.py); a refused answer would become "keep" (a fallback).

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
        self.member_fallbacks = np.zeros(1, np.int64)

    def _start_batch(self, B: int) -> None:
        """Member ``b``'s hook runs on member ``b``'s state, so its policy state and random
        draws are that member's own; fallbacks are counted in ``self.fallbacks`` and per
        member in ``self.member_fallbacks`` (sized here)."""
        if self.member_fallbacks.shape[0] != B:
            self.member_fallbacks = np.zeros(B, np.int64)

    def _decide(self, sim: Any, b: int, mask: np.ndarray) -> int:
        M, S = sim.model, sim.state
        kind = int(S.SC[b, L.SC_DEC_KIND])
        job = int(S.SC[b, L.SC_DEC_JOB])
        if kind == DEC_CLUSTER:
            return int(decide_cluster(M, S, b, job, self.code))
        if kind == DEC_PLACE:
            return self._place(sim, b, job, mask)
        if kind == DEC_PROVISION:
            a = int(provision_choice(M, S, b, int(S.SC[b, L.SC_PROV_CLUSTER]) - 1, self.code))
            if 0 <= a < mask.shape[0] and mask[a]:
                return a
            self._fallback(b)
            return mask.shape[0] - 1  # keep
        if kind == DEC_DISPATCH:  # a scheduler has no dispatch rule: the member's own (FIFO)
            u = int(S.SC[b, L.SC_DEC_TBU])
            return int(dispatch_rule(M, S, b, u, dispatch_rule_code(M), self.code))
        if kind != DEC_TBU:
            raise RuntimeError(f"member {b}: no decision is pending (call reset(), or the "
                               "episode is over)")
        K = sim.hw.tbus_per_cluster
        home = int(S.RQ[b, S.JB[b, job, L.JB_REQ], L.RQ_HOME])
        u = int(decide_tbu(M, S, b, job, self.code))
        k = u - home * K
        if u >= 0 and 0 <= k < K and mask[k]:
            return k
        self._fallback(b)
        if self.code in EFT_AT_HOME:  # the scheduler's own earliest-finish rule, at home
            u = (aware_home_tbu(M, S, b, job, home) if self.code in AWARE_AT_HOME else
                 eft_tbu(M, S, b, job, home * K, (home + 1) * K))
            k = int(u) - home * K
            if 0 <= k < K and mask[k]:
                return k
        queue = S.TB[b, L.TB_QL, home * K:(home + 1) * K].astype(np.float64)
        return int(np.argmin(np.where(mask, queue, np.inf)))


    def _place(self, sim: Any, b: int, job: int, mask: np.ndarray) -> int:
        """The Place action for the scheduler's ``decide_tbu`` answer (class docstring)."""
        M, S = sim.model, sim.state
        T = sim.hw.n_tbus
        home = int(S.RQ[b, S.JB[b, job, L.JB_REQ], L.RQ_HOME])
        u = int(decide_tbu(M, S, b, job, self.code))
        a = u if u >= 0 else T + (home if u == PARK_HOME else int(parked_cluster(u)))
        if 0 <= a < mask.shape[0] and mask[a]:
            return a
        self._fallback(b)
        queue = np.where(mask[:T], S.TB[b, L.TB_QL].astype(np.float64), np.inf)
        return int(np.argmin(queue)) if np.isfinite(queue).any() else int(np.argmax(mask))

    def _fallback(self, b: int) -> None:
        self.fallbacks += 1
        if b < self.member_fallbacks.shape[0]:
            self.member_fallbacks[b] += 1


class DispatchAgent(StateAgent):
    """Dispatch rule ``name`` (``octogym.kernel.dispatch.DISPATCH_RULES``: ``fifo``, ``sed``,
    ``srw``, ``oldest``, ``config_match``) at the ``Dispatch`` envs' decisions: it calls the
    kernel's compiled ``dispatch_rule`` on the env's state, so through an env it does exactly
    what ``Simulation(..., dispatch=name)`` does without one (tests/test_dispatch.py)."""

    def __init__(self, name: str) -> None:
        if name not in DISPATCH_RULES:
            raise ValueError(f"unknown dispatch rule {name!r}; one of {list(DISPATCH_RULES)}")
        self.name = name
        self.code = DISPATCH_RULES[name]

    def _decide(self, sim: Any, b: int, mask: np.ndarray) -> int:
        S = sim.state
        if int(S.SC[b, L.SC_DEC_KIND]) != DEC_DISPATCH:
            raise RuntimeError(f"member {b}: no dispatch decision is pending (call reset(), "
                               "or the episode is over)")
        return int(dispatch_rule(sim.model, S, b, int(S.SC[b, L.SC_DEC_TBU]), self.code,
                                 sim.policy))


class SB3Agent(Agent):
    """A trained SB3 model saved by ``train.py``: ``path`` is a run directory (its
    ``final.zip``) or a checkpoint ``.zip``; the ``config.json`` beside it says the env id,
    env kwargs and algorithm it was trained with. Deterministic actions by default;
    MaskablePPO predicts with ``action_masks=mask``. If the run normalised observations,
    the saved ``VecNormalize`` statistics are applied (frozen) before prediction.

    A missing, truncated or inconsistent zip, ``config.json`` or statistics file raises
    :class:`~octogym.agents.checkpoint.CheckpointError` naming it. Loading unpickles the
    statistics (and parts of the zip): checkpoints are trusted input."""

    def __new__(cls, path: str | Path, deterministic: bool = True) -> SB3Agent:
        """A ``ppo_native`` checkpoint (``config.json``'s ``algo``) gives its own agent,
        :class:`~octogym.agents.ppo_policy.NativePPOAgent`, with the same interface."""
        if cls is SB3Agent:
            cfg = read_config(checkpoint_zip(path))
            if cfg["algo"] == "ppo_native":
                from octogym.agents.ppo_policy import NativePPOAgent
                return super().__new__(NativePPOAgent)
        return super().__new__(cls)

    def __init__(self, path: str | Path, deterministic: bool = True) -> None:
        path = Path(path)
        self.zip_path = checkpoint_zip(path)
        self.config = read_config(self.zip_path)
        self.algo: str = self.config["algo"]
        self.env_id: str = self.config["env_id"]
        self.env_kwargs: dict[str, Any] = dict(self.config["env_kwargs"])
        self.name = str(path)
        self.deterministic = deterministic
        self._load_model()

    def _load_model(self) -> None:
        """The SB3 model and the observation statistics of ``self.zip_path``."""
        self.model = load_model(self.zip_path, self.algo)
        self.model.policy.set_training_mode(False)
        self.obs_rms = None
        hp = self.config.get("hyperparams")
        vn = load_vecnormalize(self.zip_path, hp if isinstance(hp, dict) else {}, what="obs")
        if vn is not None and vn.norm_obs:  # reward-only statistics do not touch obs
            self.obs_rms, self._clip, self._eps = vn.obs_rms, vn.clip_obs, vn.epsilon
        # a size-agnostic entity policy (octogym.agents.entity_policy) acts through its own
        # network, so it runs on observations and action counts of any hardware
        self.entity = getattr(self.model.policy, "entity", None)
        if self.entity is not None and self.obs_rms is not None:
            raise CheckpointError(self.zip_path, "an entity policy with observation "
                                  "normalisation statistics (entity observations are in [0, 1]; "
                                  "train it with norm_obs=False)")

    @property
    def decision(self) -> str:
        """``"TBUAssign"`` or ``"ClusterAssign"``: the decision this model makes."""
        return _env_spec(self.env_id)[0]

    @property
    def hardware(self) -> Any:
        """The hardware it was trained on (the ``hardware`` kwarg, else the id's preset)."""
        return self.env_kwargs.get("hardware", _env_spec(self.env_id)[1])

    def check_env(self, env_id: str, env_kwargs: dict[str, Any] | None = None, *,
                  vary: tuple[str, ...] | list[str] = (),
                  allow_hardware_transfer: bool = False) -> None:
        """Raise ``ValueError`` naming the first difference between the env this model was
        trained on and ``(env_id, env_kwargs)``. Kwargs absent on one side count as a
        difference (defaults are not guessed). Unknown or invalid env options (in
        ``env_kwargs`` or ``vary``) raise ``ValueError`` naming them
        (``octogym.envs.config``).

        * ``vary``: kwargs the caller changes on purpose (``evaluate.py`` sets the scenario's
          ``workflows``, ``load``, ``requests_per_episode``, ``sim_options``); not compared.
        * The decision kind must match (``TBUAssign`` / ``ClusterAssign``); the hardware is
          compared as in effect (the ``hardware`` kwarg, else the id's preset), so
          ``TBUAssign-v0`` with ``hardware="wafer"`` equals ``TBUAssign-Wafer-v0``.
        * ``allow_hardware_transfer``: accept other hardware, e.g. a chip-trained TBU policy
          on the wafer. Off by default: a policy is only known to work where it was trained.
          The spaces must still fit (:meth:`check_spaces`: the TBU env's are the same at every
          size, the cluster env's grow with the clusters)."""
        mine, theirs = _env_spec(self.env_id), _env_spec(env_id)
        if mine[0] != theirs[0]:
            raise ValueError(f"{self.name}: trained on env {self.env_id!r} ({mine[0]}), asked "
                             f"to act on {env_id!r} ({theirs[0]})")
        from octogym.envs.config import check_env_keys, validate_env_kwargs
        env_kwargs = validate_env_kwargs(env_kwargs or {}, where=f"{self.name}: env_kwargs")
        check_env_keys(vary, where=f"{self.name}: vary")
        # the hardware in effect: the kwarg, else the id's preset (TBUAssign-v0 with
        # hardware="wafer" is TBUAssign-Wafer-v0)
        hw_a, hw_b = self.hardware, env_kwargs.get("hardware", theirs[1])
        if jsonable(hw_a) != jsonable(hw_b) and not allow_hardware_transfer:
            raise ValueError(f"{self.name}: trained on hardware {hw_a!r}, asked to act on "
                             f"{hw_b!r} (allow_hardware_transfer=True evaluates a transfer)")
        for key in sorted(set(env_kwargs) | set(self.env_kwargs)):
            if key in vary or key == "hardware":
                continue
            a, b = self.env_kwargs.get(key, "<default>"), env_kwargs.get(key, "<default>")
            if jsonable(a) != jsonable(b):
                raise ValueError(f"{self.name}: env kwarg {key!r} differs: trained with {a!r}, "
                                 f"asked with {b!r}")

    def check_spaces(self, observation_space: Any, action_space: Any) -> None:
        """Raise ``ValueError`` unless the model's observation and action spaces have the
        shapes of the given (single-env) spaces. An entity policy needs only the same
        entity features (its rows and actions may number anything)."""
        if self.entity is not None:
            self._check_entity_features(observation_space)
            return
        mo, ma = self.model.observation_space, self.model.action_space
        if tuple(mo.shape) != tuple(observation_space.shape):
            raise ValueError(f"{self.name}: observation shape {tuple(mo.shape)} (trained on "
                             f"{self.hardware!r}) does not fit this env's "
                             f"{tuple(observation_space.shape)}")
        if int(ma.n) != int(action_space.n):
            raise ValueError(f"{self.name}: {int(ma.n)} actions (trained on "
                             f"{self.hardware!r}) do not fit this env's {int(action_space.n)}")

    def _check_entity_features(self, observation_space: Any) -> None:
        """Raise ``ValueError`` unless ``observation_space`` has the entity features the
        entity policy was built for (any number of rows)."""
        from octogym.agents.entity_policy import feature_dims
        from octogym.envs.entities import ENTITY_FEATURES, TBU_DETAIL

        def detailed(dims: dict[str, int]) -> dict[str, int]:
            # a policy built without the tbu_detail columns reads the first ones
            return {**dims, "tbu": dims["tbu"] + len(ENTITY_FEATURES[TBU_DETAIL])}

        try:
            theirs = feature_dims(observation_space)
        except ValueError as e:
            raise ValueError(f"{self.name}: {e}") from None
        if theirs != self.entity.feature_dims and theirs != detailed(self.entity.feature_dims):
            raise ValueError(f"{self.name}: entity features {self.entity.feature_dims} do not "
                             f"fit this env's {theirs}")

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

    def _normalise(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float32)
        if self.obs_rms is None:
            return obs
        return np.clip((obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + self._eps),
                       -self._clip, self._clip).astype(np.float32)

    def act(self, obs: np.ndarray, mask: np.ndarray, env_state: Any = None) -> int:
        if self.entity is not None:
            return int(self.entity.act({k: np.asarray(v)[None] for k, v in obs.items()},
                                       np.asarray(mask, bool)[None], self.deterministic)[0])
        obs = self._normalise(obs)
        if self.algo == "maskable_ppo":
            a, _ = self.model.predict(obs, action_masks=np.asarray(mask, bool),
                                      deterministic=self.deterministic)
        else:
            a, _ = self.model.predict(obs, deterministic=self.deterministic)
        return int(a)

    def act_batch(self, obs: np.ndarray, masks: np.ndarray, env_state: Any = None,
                  rows: np.ndarray | None = None) -> np.ndarray:
        """One forward pass of the policy network over all ``N`` members. Deterministic: the
        argmax of the action logits (MaskablePPO: over the valid actions), which is what
        ``model.predict(obs, action_masks=masks, deterministic=True)`` returns (checked in
        tests/test_agents.py) at a fraction of its per-call overhead (~0.25 ms instead of
        ~1.5 ms per step). Sampling (``deterministic=False``) goes through ``model.predict``."""
        import torch
        from stable_baselines3.common.policies import BaseModel

        if self.entity is not None:
            return self.entity.act(obs, np.asarray(masks, bool), self.deterministic)
        obs = self._normalise(obs)
        masks = np.asarray(masks, bool)
        if not self.deterministic:
            kw = {"action_masks": masks} if self.algo == "maskable_ppo" else {}
            a, _ = self.model.predict(obs, deterministic=False, **kw)
            return np.asarray(a, np.int64).reshape(len(obs))
        pol = self.model.policy
        with torch.no_grad():
            x = torch.as_tensor(obs)
            feats = BaseModel.extract_features(pol, x, pol.pi_features_extractor)
            logits = pol.action_net(pol.mlp_extractor.forward_actor(feats)).numpy()
        if self.algo == "maskable_ppo":
            logits = np.where(masks, logits, -np.inf)
        return logits.argmax(axis=1).astype(np.int64)


def _env_spec(env_id: str) -> tuple[str, str]:
    """``(decision, hardware preset)`` of a registered octogym id."""
    from octogym.envs.registration import ENV_SPECS, NAMESPACE

    name = env_id.split("/", 1)[1] if env_id.startswith(NAMESPACE + "/") else env_id
    if name not in ENV_SPECS:
        raise ValueError(f"{env_id!r} is not an octogym env id; one of "
                         f"{[f'{NAMESPACE}/{k}' for k in ENV_SPECS]}")
    return ENV_SPECS[name]


def make_agent(spec: str | Path, **kwargs: Any) -> Agent:
    """A scheduler name (``HeuristicAgent``), a dispatch rule name (``DispatchAgent``),
    ``switch_averse:<x>`` (``octogym.agents.switch_averse.SwitchAverseAgent``), a planner
    spec such as ``"rollout:adaptive"`` (``octogym.agents.rollout.RolloutAgent``) or a
    checkpoint path (``SB3Agent``: a run directory with ``final.zip`` and ``config.json``, or
    a checkpoint ``.zip``; ``kwargs`` go to it). Anything else is a ``ValueError`` saying what
    is wrong (a :class:`~octogym.agents.checkpoint.CheckpointError` for a path)."""
    if isinstance(spec, str) and spec in SCHEDULERS:
        return HeuristicAgent(spec)
    if isinstance(spec, str) and spec in DISPATCH_RULES:
        return DispatchAgent(spec)
    if isinstance(spec, str) and spec.split(":")[0] == "switch_averse":
        from octogym.agents.switch_averse import SwitchAverseAgent

        return SwitchAverseAgent(spec)
    if isinstance(spec, str) and is_planner(spec):
        from octogym.agents.rollout import RolloutAgent

        return RolloutAgent(spec)
    p = Path(spec)
    if p.is_dir():
        if not (p / "final.zip").is_file():
            raise CheckpointError(p / "final.zip", f"not found: {p} is a directory without "
                                  "final.zip, not a train.py run (give the run directory, or a "
                                  "checkpoint .zip inside it)")
        return SB3Agent(p, **kwargs)
    if p.is_file() or (p.suffix != ".zip" and p.with_suffix(".zip").is_file()):
        if p.suffix not in (".zip", ""):
            raise CheckpointError(p, "not a checkpoint .zip")
        return SB3Agent(p, **kwargs)
    raise CheckpointError(p, f"neither a scheduler ({sorted(SCHEDULERS)}) nor a checkpoint "
                          "path (a train.py run directory or a .zip); no such file or directory")


#: The bundled agents: ``agents/zoo/<name>/final.zip`` + ``config.json`` (``octogym.agents``
#: is installed from ``agents/``, so this is the source tree's folder).
ZOO_DIR = Path(__file__).resolve().parent / "zoo"


def zoo_checkpoints(root: str | Path | None = None) -> list[Path]:
    """Run directories under ``root`` (default :data:`ZOO_DIR`) holding ``final.zip`` and
    ``config.json``, sorted by name; ``[]`` if there are none."""
    root = ZOO_DIR if root is None else Path(root)
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir()
                  if (d / "final.zip").is_file() and (d / CONFIG_NAME).is_file())


#: Heuristics whose :class:`HeuristicAgent` reproduces the kernel-only run of the same
#: scheduler exactly when the env's controller is that scheduler (docs/agents.md, tested in
#: tests/test_agents.py, tests/test_place.py). Elsewhere (TBU level: static and reactive defer,
#: eft and the reconfiguration-cost-aware adaptive, proactive and octopus may pick a matching
#: TBU outside the home cluster) the agent falls back; Place expresses every scheduler's
#: placement.
EXACT: dict[str, tuple[str, ...]] = {
    "TBUAssign": ("least_loaded", "random", "round_robin"),
    "ClusterAssign": tuple(SCHEDULERS),
    # a DispatchAgent is the kernel's own rule: equal to Simulation(dispatch=name) under any
    # controller (the Dispatch level is expressible everywhere; tests/test_dispatch.py)
    "Dispatch": tuple(DISPATCH_RULES),
    "Place": tuple(SCHEDULERS),
    "Provision": tuple(SCHEDULERS),
}

#: Heuristics whose decision hook at a level is the same code (``decide_tbu`` /
#: ``decide_cluster`` in ``octogym.kernel.policies``), so that through an env with a fixed
#: controller they act identically (tests/test_evaluation_agents.py checks it). Evaluation
#: runs one of each group and labels the row with every name, e.g. ``tbu:adaptive=octopus``.
SAME_DECISION: dict[str, tuple[tuple[str, ...], ...]] = {
    "TBUAssign": (("static", "reactive"), ("adaptive", "octopus")),
    "Dispatch": (),
    "ClusterAssign": (("static", "reactive", "adaptive", "round_robin"),
                      ("proactive", "octopus"), ("least_loaded", "eft")),
    "Place": (("static", "reactive"), ("adaptive", "octopus")),
    "Provision": (("static", "adaptive", "random", "round_robin", "least_loaded", "eft"),),
}


def decision_groups(names: list[str] | tuple[str, ...], level: str) -> list[tuple[str, ...]]:
    """``names`` grouped by :data:`SAME_DECISION` at ``level`` (``"TBUAssign"`` or
    ``"ClusterAssign"``), in first-seen order; a name in no group stands alone."""
    out: dict[tuple[str, ...], list[str]] = {}
    for n in names:
        key = next((g for g in SAME_DECISION[level] if n in g), (n,))
        out.setdefault(key, []).append(n)
    return [tuple(v) for v in out.values()]
