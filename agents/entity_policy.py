"""A size-agnostic policy over entity observations (``obs_mode="entities"``, docs/agents.md).

:class:`EntityPolicy` (plain torch) is a DeepSets scorer: one shared MLP per entity kind embeds
every row (TBUs, clusters, waiting TBs, the request's blocks; :mod:`octogym.envs.entities`), the
valid rows of each kind are pooled (masked mean and max) and, with the embedded global
features, make a context vector; a head per *action entity* kind scores each of its rows
from its embedding and the context (the kinds named by the decision's ``action_entities``,
their logits concatenated in that order: the TBU env's actions are rows ``0 .. K-1`` of
``"tbu"``, the cluster env's the cluster rows, Place's the TBU rows then the cluster rows,
Dispatch's the first waiting rows, Provision's the option rows), and a value head reads the
context. No weight depends on the number of rows or actions, so a policy trained on the chip
acts on the wafer or on any other hardware:
``EntityPolicy.forward(obs, mask) -> (logits (B, A), value (B,))`` with batched tensors, ``A``
taken from the mask's width; invalid and padded rows get :data:`MASKED_LOGIT`.

:class:`EntityMaskablePolicy` is the same network as an sb3-contrib ``MaskablePPO`` policy
class: ``MaskablePPO(EntityMaskablePolicy, venv, policy_kwargs={"action_entities": ["tbu"]})``,
or ``train.py --policy entity --env-kwargs obs_mode=entities`` (:func:`resolve_policy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from torch import nn

ROW_KINDS: tuple[str, ...] = ("tbu", "cluster", "waiting", "blocks", "option")  # envs.entities
MASKED_LOGIT = -1e8  # as sb3-contrib's MaskableCategorical: exp() is 0, no NaN in gradients
POLICY_NAME = "entity"  # the ``policy`` name train.py and the hyperparameter files accept


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out), nn.ReLU())


class EntityPolicy(nn.Module):
    """DeepSets scorer (module docstring). ``feature_dims``: columns per key (``"global"`` and
    the row kinds present), e.g. from :func:`feature_dims`; ``action_entities``: the row kinds
    whose rows, concatenated in this order, are the actions
    (``Decision.action_entities``); ``hidden``: embedding width."""

    def __init__(self, feature_dims: dict[str, int], action_entities: Sequence[str],
                 hidden: int = 64) -> None:
        super().__init__()
        self.kinds = tuple(k for k in ROW_KINDS if k in feature_dims)
        action_entities = (action_entities,) if isinstance(action_entities, str) else \
            tuple(action_entities)
        bad = [k for k in action_entities if k not in self.kinds]
        if bad or not action_entities:
            raise ValueError(f"action_entities {list(action_entities)}: need one or more of "
                             f"the observation's entity kinds {list(self.kinds)}")
        if "global" not in feature_dims:
            raise ValueError("feature_dims needs 'global'")
        self.feature_dims = dict(feature_dims)
        self.action_entities = tuple(action_entities)
        self.hidden = hidden
        self.encoders = nn.ModuleDict({k: _mlp(feature_dims[k], hidden, hidden)
                                       for k in self.kinds})
        self.global_encoder = _mlp(feature_dims["global"], hidden, hidden)
        self.context = nn.Sequential(nn.Linear(hidden * (1 + 2 * len(self.kinds)), hidden),
                                     nn.ReLU())
        self.score = nn.ModuleDict({
            k: nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
            for k in action_entities})
        self.value = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        with th.no_grad():  # a near-uniform first policy (as SB3 scales its action head)
            for head in self.score.values():
                head[-1].weight.mul_(0.01)
                head[-1].bias.zero_()

    def forward(self, obs: dict[str, th.Tensor], mask: th.Tensor | None = None
                ) -> tuple[th.Tensor, th.Tensor]:
        """``(logits (B, A), value (B,))``. ``obs``: batched tensors per key (masks as
        0/1 of any dtype); ``mask``: ``(B, A)`` valid actions (``None``: every valid row of
        the action kind is an action)."""
        pooled = [self.global_encoder(obs["global"].float())]
        emb: dict[str, tuple[th.Tensor, th.Tensor]] = {}
        for k in self.kinds:
            # its own columns: a policy built without the `tbu_detail` columns reads the
            # TBU rows' first ones (the detail columns are appended)
            e = self.encoders[k](obs[k][..., :self.feature_dims[k]].float())  # (B, R, H)
            m = obs[f"{k}_mask"].bool()  # (B, R)
            mf = m.unsqueeze(-1).float()
            mean = (e * mf).sum(1) / mf.sum(1).clamp(min=1.0)
            mx = e.masked_fill(~m.unsqueeze(-1), float("-inf")).amax(1)
            mx = th.where(m.any(1, keepdim=True), mx, th.zeros_like(mx))
            pooled += [mean, mx]
            emb[k] = (e, m)
        ctx = self.context(th.cat(pooled, dim=-1))
        scores, valids = [], []
        for k in self.action_entities:
            e, m = emb[k]
            h = th.cat([e, ctx.unsqueeze(1).expand(-1, e.shape[1], -1)], dim=-1)
            scores.append(self.score[k](h).squeeze(-1))
            valids.append(m)
        logits, valid = th.cat(scores, dim=1), th.cat(valids, dim=1)
        A = logits.shape[1] if mask is None else mask.shape[1]
        if A > logits.shape[1]:
            raise ValueError(f"{A} actions but only {logits.shape[1]} "
                             f"{'+'.join(self.action_entities)} rows in the observation")
        logits, valid = logits[:, :A], valid[:, :A]
        if mask is not None:
            valid = valid & mask.bool()
        logits = logits.masked_fill(~valid, MASKED_LOGIT)
        return logits, self.value(ctx).squeeze(-1)

    def act(self, obs: dict[str, np.ndarray], mask: np.ndarray, deterministic: bool = True,
            generator: th.Generator | None = None) -> np.ndarray:
        """Actions ``(B,)`` int64 for batched numpy observations and masks: the best valid
        row, or (``deterministic=False``) one drawn from the masked softmax."""
        with th.no_grad():
            logits, _ = self(obs_tensors(obs), th.as_tensor(np.asarray(mask, bool)))
            if deterministic:
                return logits.argmax(dim=1).numpy().astype(np.int64)
            probs = th.softmax(logits, dim=1)
            return th.multinomial(probs, 1, generator=generator).squeeze(1).numpy().astype(
                np.int64)


def obs_tensors(obs: dict[str, np.ndarray]) -> dict[str, th.Tensor]:
    """Numpy entity observations as tensors (no copy where numpy allows)."""
    return {k: th.as_tensor(np.asarray(v)) for k, v in obs.items()}


def feature_dims(space: spaces.Dict) -> dict[str, int]:
    """Columns per key of an entity observation space (``"global"`` and the row kinds)."""
    if not isinstance(space, spaces.Dict) or "global" not in space.spaces:
        raise ValueError("the entity policy needs an entity observation space (env option "
                         f"obs_mode='entities'), got {space}")
    return {k: int(s.shape[-1]) for k, s in space.spaces.items()
            if k == "global" or k in ROW_KINDS}


class EntityMaskablePolicy(MaskableActorCriticPolicy):
    """:class:`EntityPolicy` as a ``MaskablePPO`` policy: the action logits are the scores of
    the first ``action_space.n`` action-entity rows, the value is the context's (SB3's
    features extractor and MLP extractor are not used). ``action_entities`` and ``hidden`` are
    its ``policy_kwargs``; MaskablePPO masks invalid actions with the env's mask."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 lr_schedule: Any, action_entities: Sequence[str] = ("tbu",), hidden: int = 64,
                 **kwargs: Any) -> None:
        self.action_entities = tuple(action_entities)
        self.hidden = hidden
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule: Any) -> None:
        self.entity = EntityPolicy(feature_dims(self.observation_space),
                                   self.action_entities, self.hidden)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1),
                                              **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(action_entities=self.action_entities, hidden=self.hidden)
        return data

    def _logits_value(self, obs: dict[str, th.Tensor]) -> tuple[th.Tensor, th.Tensor]:
        logits, value = self.entity(obs)
        n = int(self.action_space.n)
        if logits.shape[1] < n:
            raise ValueError(f"{n} actions but {logits.shape[1]} action rows")
        return logits[:, :n], value.unsqueeze(-1)

    def _distribution(self, logits: th.Tensor, action_masks: Any):
        d = self.action_dist.proba_distribution(action_logits=logits)
        if action_masks is not None:
            d.apply_masking(action_masks)
        return d

    def forward(self, obs, deterministic: bool = False, action_masks=None):
        logits, values = self._logits_value(obs)
        d = self._distribution(logits, action_masks)
        actions = d.get_actions(deterministic=deterministic)
        return actions, values, d.log_prob(actions)

    def evaluate_actions(self, obs, actions, action_masks=None):
        logits, values = self._logits_value(obs)
        d = self._distribution(logits, action_masks)
        return values, d.log_prob(actions), d.entropy()

    def get_distribution(self, obs, action_masks=None):
        return self._distribution(self._logits_value(obs)[0], action_masks)

    def predict_values(self, obs):
        return self._logits_value(obs)[1]


def resolve_policy(policy: Any, env_id: str, policy_kwargs: dict[str, Any] | None
                   ) -> tuple[Any, dict[str, Any] | None]:
    """``(policy, policy_kwargs)`` for an SB3 constructor: :data:`POLICY_NAME` becomes
    :class:`EntityMaskablePolicy` with ``action_entities`` set from ``env_id``'s decision;
    anything else passes through."""
    if policy != POLICY_NAME:
        return policy, policy_kwargs
    from octogym.envs.decisions import DECISIONS
    from octogym.envs.registration import ENV_SPECS, NAMESPACE

    decision = ENV_SPECS[env_id.removeprefix(NAMESPACE + "/")][0]
    kw = dict(policy_kwargs or {})
    kw.setdefault("action_entities", DECISIONS[decision].action_entities)
    return EntityMaskablePolicy, kw
