"""The policies of the native PPO trainer (``octogym.agents.ppo``), their checkpoints, and the
agent that acts from one.

Policy interface (shared with the entity policy, ``octogym.agents.entity_policy``):
``policy(obs, mask) -> (logits, value)`` where ``obs`` is a dict of batched tensors (a flat
observation is ``{"obs": (B, D)}``), ``mask`` the ``(B, A)`` bool valid actions, ``logits``
``(B, A)`` (the trainer masks them again, so a policy may ignore ``mask``) and ``value``
``(B,)``.

Checkpoint ``<stem>.zip``: what ``torch.save`` writes (a zip archive) holding plain data only,
loaded with ``torch.load(weights_only=True)``: ``policy`` (the class name, one of
:data:`POLICIES`, and its keyword arguments), ``state_dict``, ``optimizer``, ``timesteps`` and
``reward_rms`` (the reward normaliser, for resuming). ``config.json`` beside it is the same as
for the SB3 algorithms (``algo`` = ``"ppo_native"``).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from octogym.agents.base import SB3Agent
from octogym.agents.checkpoint import CONFIG_NAME, CheckpointError, atomic_write

#: Policy classes a checkpoint may name: ``name -> "module:Class"``, imported on demand (the
#: entity policy lives in its own module). Nothing else is ever imported from a checkpoint.
POLICIES: dict[str, str] = {
    "MlpPolicy": "octogym.agents.ppo_policy:MLPPolicy",
    "entity": "octogym.agents.entity_policy:EntityPolicy",
}

ACTIVATIONS: dict[str, type[nn.Module]] = {"Tanh": nn.Tanh, "ReLU": nn.ReLU}


def _mlp(sizes: list[int], act: type[nn.Module], out_std: float) -> nn.Sequential:
    """Linear layers with ``act`` between them; orthogonal init (CleanRL's), the last layer
    scaled by ``out_std``."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        lin = nn.Linear(a, b)
        last = i == len(sizes) - 2
        nn.init.orthogonal_(lin.weight, out_std if last else np.sqrt(2))
        nn.init.zeros_(lin.bias)
        layers.append(lin)
        if not last:
            layers.append(act())
    return nn.Sequential(*layers)


class MLPPolicy(nn.Module):
    """Separate actor and critic MLPs on the flat observation ``obs["obs"]`` (SB3's
    ``net_arch=dict(pi=[...], vf=[...])``)."""

    def __init__(self, obs_dim: int, n_actions: int, net_arch: Any = None,
                 activation_fn: str = "Tanh") -> None:
        super().__init__()
        net_arch = net_arch if net_arch is not None else [64, 64]
        pi, vf = ((net_arch["pi"], net_arch["vf"]) if isinstance(net_arch, dict)
                  else (net_arch, net_arch))
        act = ACTIVATIONS[activation_fn]
        self.actor = _mlp([obs_dim, *pi, n_actions], act, 0.01)
        self.critic = _mlp([obs_dim, *vf, 1], act, 1.0)

    def forward(self, obs: dict[str, torch.Tensor], mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x = obs["obs"]
        return self.actor(x), self.critic(x).squeeze(-1)


def policy_class(name: str) -> type[nn.Module]:
    """The class registered as ``name`` in :data:`POLICIES` (``ValueError`` otherwise)."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; one of {sorted(POLICIES)}")
    module, cls = POLICIES[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"policy {name!r} is not available ({POLICIES[name]}: {e})") from None


def policy_kwargs_for(name: str, obs_space: Any, n_actions: int, decision: str,
                      policy_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """The constructor keywords of policy ``name`` for these spaces and ``decision``
    (a key of ``DECISIONS``), JSON-able (stored in the checkpoint): the MLP
    gets ``obs_dim`` and ``n_actions``, the entity policy (env option
    ``obs_mode="entities"``) ``feature_dims`` and ``action_entities``; both get
    ``policy_kwargs``."""
    kw = dict(policy_kwargs or {})
    if isinstance(kw.get("activation_fn"), type):
        kw["activation_fn"] = kw["activation_fn"].__name__
    if name == "MlpPolicy":
        return {"obs_dim": int(np.prod(obs_space.shape)), "n_actions": int(n_actions), **kw}
    policy_class(name)  # a clear error when it is not available
    from octogym.agents.entity_policy import feature_dims
    from octogym.envs.decisions import DECISIONS
    return {"feature_dims": feature_dims(obs_space),
            "action_entities": list(DECISIONS[decision].action_entities), **kw}


def as_obs_dict(obs: Any) -> dict[str, np.ndarray]:
    """An env observation (array or dict of arrays) as the dict the policies take."""
    return dict(obs) if isinstance(obs, dict) else {"obs": obs}


def policy_actions(policy: nn.Module, obs: Any, masks: np.ndarray,
                   gen: torch.Generator | None = None) -> np.ndarray:
    """One action per member from ``policy(obs_dict, mask) -> (logits, value)``: the argmax of
    the masked logits, or, given the torch generator ``gen``, a sample (Gumbel-max)."""
    m = torch.as_tensor(np.asarray(masks, bool))
    x = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in as_obs_dict(obs).items()}
    with torch.no_grad():
        logits = policy(x, m)[0].masked_fill(~m, -torch.inf)
    if gen is not None:
        u = torch.rand(logits.shape, generator=gen).clamp_min(1e-12)
        logits = logits - torch.log(-torch.log(u))
    return logits.argmax(-1).numpy().astype(np.int64)


def save_native(stem: Path, payload: dict[str, Any], config: dict[str, Any]) -> Path:
    """Write ``<stem>.zip`` (``torch.save(payload)``) with ``config.json`` (``config`` plus
    ``timesteps_done`` and ``checkpoint``) beside it, each atomically, config first (the
    zip's rename commits the checkpoint, as for the SB3 algorithms)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    cfg = {**config, "timesteps_done": int(payload["timesteps"]), "checkpoint": stem.name}
    text = (json.dumps(cfg, indent=2) + "\n").encode()
    atomic_write(stem.parent / CONFIG_NAME, lambda f: f.write(text))
    path = stem.with_name(stem.name + ".zip")
    atomic_write(path, lambda f: torch.save(payload, f))
    return path


def load_native(zip_path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The policy (eval mode) and the payload of checkpoint ``zip_path``; a damaged file is a
    :class:`CheckpointError` naming it."""
    try:
        payload = torch.load(zip_path, map_location="cpu", weights_only=True)
        spec = payload["policy"]
        policy = policy_class(spec["name"])(**spec["kwargs"])
        policy.load_state_dict(payload["state_dict"])
    except Exception as e:  # torch.load / a wrong state dict raise many kinds
        raise CheckpointError(zip_path, f"cannot load it as a ppo_native checkpoint "
                              f"({type(e).__name__}: {e})") from e
    policy.eval()
    return policy, payload


class NativePPOAgent(SB3Agent):
    """An agent acting from a ``ppo_native`` checkpoint (``SB3Agent(path)`` returns one when
    the checkpoint's ``config.json`` says ``algo: ppo_native``): the saved torch policy,
    masked; argmax by default, samples with ``deterministic=False``."""

    def _load_model(self) -> None:
        self.policy, payload = load_native(self.zip_path)
        self.obs_rms = None
        # as SB3Agent's: the entity policy when there is one (the arena lets it play any size)
        self.entity = self.policy if payload["policy"]["name"] == "entity" else None
        self.spaces = payload.get("spaces", {})
        self._gen = torch.Generator().manual_seed(0)

    def check_spaces(self, observation_space: Any, action_space: Any) -> None:
        """As :meth:`SB3Agent.check_spaces`: an entity policy needs only the same entity
        features (its rows and actions may number anything), a flat one the same shapes."""
        if self.entity is not None:
            self._check_entity_features(observation_space)
            return
        shape = self.spaces.get("obs_shape")
        if shape is not None and getattr(observation_space, "shape", None) is not None \
                and tuple(shape) != tuple(observation_space.shape):
            raise ValueError(f"{self.name}: observation shape {tuple(shape)} (trained on "
                             f"{self.hardware!r}) does not fit this env's "
                             f"{tuple(observation_space.shape)}")
        n = self.spaces.get("n_actions")
        if n is not None and int(n) != int(action_space.n):
            raise ValueError(f"{self.name}: {n} actions (trained on {self.hardware!r}) do "
                             f"not fit this env's {int(action_space.n)}")

    def act(self, obs: Any, mask: np.ndarray, env_state: Any = None) -> int:
        one = {k: np.asarray(v)[None] for k, v in as_obs_dict(obs).items()}
        return int(self.act_batch(one, np.asarray(mask, bool)[None])[0])

    def act_batch(self, obs: Any, masks: np.ndarray, env_state: Any = None,
                  rows: np.ndarray | None = None) -> np.ndarray:
        """One forward pass over all members: the argmax of the masked logits (or a sample
        with ``deterministic=False``; :func:`policy_actions`)."""
        return policy_actions(self.policy, obs, masks,
                              None if self.deterministic else self._gen)
