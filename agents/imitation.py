"""Imitation warm start (hyperparameter ``pretrain``, ``docs/agents.md``): behaviour cloning
of a heuristic teacher with DAgger rounds, plus a value-head fit, before PPO.

Round 0 plays ``samples / rounds`` steps with the teacher (``HeuristicAgent``) on one training
env (seed ``seed``, then its episode chain); each later round plays the current student
(deterministic) and labels every visited state with the teacher's action. After each round the
policy is fit to all labels so far (masked cross-entropy) and its value head to the discounted
returns observed (reward scaled as ``VecNormalize`` will scale it: its return statistics are
initialised from these rollouts). All randomness comes from ``torch.Generator(seed)`` (the
minibatch order) and the env's seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Demonstrations:
    """Every visited state with its mask, the teacher's action (the label), the reward and
    whether the episode ended there, in visiting order."""

    obs: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    ends: list[bool] = field(default_factory=list)


def is_masked(policy: Any) -> bool:
    """Whether ``policy`` is sb3-contrib's maskable policy (it takes ``action_masks``)."""
    return "Maskable" in type(policy).__name__


def imitate(model: Any, norm: Any, env_id: str, env_kwargs: dict[str, Any], seed: int,
            teacher: str, samples: int = 100_000, rounds: int = 2, epochs: int = 10,
            lr: float = 1e-3, batch_size: int = 256) -> dict[str, Any]:
    """Fit ``model``'s policy (PPO or MaskablePPO) to scheduler ``teacher`` on ``env_id`` with
    ``env_kwargs`` as the module docstring says; ``norm`` is the training ``VecNormalize`` (or
    ``None``), whose statistics are initialised from the rollouts. Returns summary statistics:
    ``teacher``, ``samples``, ``rounds``, ``train_agreement`` (on the labels after the last fit)
    and ``agreement`` (the student's on-policy agreement in the last DAgger round)."""
    import gymnasium as gym
    import torch

    from octogym.agents.base import HeuristicAgent
    env = gym.make(env_id, **env_kwargs)
    agent = HeuristicAgent(teacher)
    gen = torch.Generator().manual_seed(seed)
    demos = Demonstrations()
    obs, info = env.reset(seed=seed)
    per_round = -(-samples // rounds)
    on_policy = None
    for rnd in range(rounds):
        student = model.policy if rnd > 0 else None
        obs, info, same = play(env, agent, student, norm, demos, per_round, obs, info)
        if rnd > 0:
            on_policy = same / per_round
        train_acc = fit(model, norm, demos, gen, epochs=epochs, lr=lr, batch_size=batch_size)
    env.close()
    return {"teacher": teacher, "samples": len(demos.labels), "rounds": rounds,
            "train_agreement": round(train_acc, 4),
            "agreement": round(on_policy if on_policy is not None else train_acc, 4)}


def normalized_obs(norm: Any, obs: np.ndarray) -> np.ndarray:
    """``obs`` as the policy sees it (``VecNormalize``'s observation scaling, if on)."""
    if norm is not None and norm.norm_obs:
        return norm.normalize_obs(obs).astype(np.float32)
    return obs


def play(env: Any, teacher: Any, student: Any, norm: Any, demos: Demonstrations, steps: int,
         obs: np.ndarray, info: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any], int]:
    """Play ``steps`` steps of ``env`` from ``(obs, info)``, acting with ``student`` (a policy,
    deterministic) or, if ``None``, the teacher; every state is labelled with the teacher's
    action into ``demos``. Returns the last ``(obs, info)`` and how often the student's
    action equalled the label."""
    same = 0
    kw: dict[str, Any] = {}
    for _ in range(steps):
        mask = np.asarray(info["action_mask"], bool)
        label = teacher.act(obs, mask, env)
        action = label
        if student is not None:
            if is_masked(student):
                kw = {"action_masks": mask}
            action = int(student.predict(normalized_obs(norm, obs[None]), deterministic=True,
                                         **kw)[0][0])
            same += action == label
        demos.obs.append(obs)
        demos.masks.append(mask)
        demos.labels.append(label)
        obs, r, term, trunc, info = env.step(action)
        demos.rewards.append(float(r))
        demos.ends.append(bool(term or trunc))
        if term or trunc:
            obs, info = env.reset()
    return obs, info, same


def value_targets(rewards: np.ndarray, ends: np.ndarray, gamma: float, scale: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The discounted return (rewards times ``scale``) from each step to its episode's end,
    and whether it is known (steps after the last episode end are not)."""
    target, valid, g = np.zeros_like(rewards), np.zeros(len(rewards), bool), None
    for i in range(len(rewards) - 1, -1, -1):
        if ends[i]:
            g = 0.0
        if g is not None:
            g = rewards[i] * scale + gamma * g
            target[i], valid[i] = g, True
    return target, valid


def init_normalizer(norm: Any, obs: np.ndarray, rewards: np.ndarray, ends: np.ndarray,
                    gamma: float) -> float:
    """Update ``norm``'s observation statistics with ``obs`` and reset its return statistics
    to those of ``rewards`` (what ``VecNormalize`` computes: the running discounted return,
    restarted at episode ends). Returns the reward scale it implies (1 without reward
    normalisation)."""
    if norm is None:
        return 1.0
    if norm.norm_obs:
        norm.obs_rms.update(obs)
    if not norm.norm_reward:
        return 1.0
    ret, rets = 0.0, np.empty_like(rewards)
    for i, r in enumerate(rewards):
        ret = ret * gamma + r
        rets[i] = ret
        if ends[i]:
            ret = 0.0
    norm.ret_rms = type(norm.ret_rms)(shape=())
    norm.ret_rms.update(rets)
    return 1.0 / float(np.sqrt(norm.ret_rms.var + norm.epsilon))


def fit(model: Any, norm: Any, demos: Demonstrations, gen: Any, *, epochs: int, lr: float,
        batch_size: int) -> float:
    """``epochs`` passes of Adam over ``demos`` (minibatch order from ``gen``): masked
    cross-entropy to the labels plus ``model.vf_coef`` times the value error on the known
    returns. Returns the fraction of labels the deterministic policy now predicts."""
    import torch

    policy, gamma = model.policy, float(model.gamma)
    masked = is_masked(policy)
    obs = np.asarray(demos.obs, np.float32)
    rew = np.asarray(demos.rewards, np.float64)
    end = np.asarray(demos.ends, bool)
    scale = init_normalizer(norm, obs, rew, end, gamma)
    target, valid = value_targets(rew, end, gamma, scale)
    O = torch.as_tensor(normalized_obs(norm, obs))
    A = torch.as_tensor(np.asarray(demos.labels))
    M = torch.as_tensor(np.asarray(demos.masks, bool))
    G = torch.as_tensor(target, dtype=torch.float32)
    W = torch.as_tensor(valid, dtype=torch.float32)
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    policy.set_training_mode(True)
    for _ in range(epochs):
        perm = torch.randperm(len(A), generator=gen)
        for i in range(0, len(A), batch_size):
            j = perm[i:i + batch_size]
            if masked:
                v, logp, _ = policy.evaluate_actions(O[j], A[j], action_masks=M[j])
            else:
                v, logp, _ = policy.evaluate_actions(O[j], A[j])
            v_loss = ((v.flatten() - G[j]) ** 2 * W[j]).sum() / W[j].sum().clamp(min=1)
            loss = -logp.mean() + model.vf_coef * v_loss
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), model.max_grad_norm)
            opt.step()
    policy.set_training_mode(False)
    with torch.no_grad():
        if masked:
            pred = policy.get_distribution(O, action_masks=M.numpy()).distribution.probs
        else:
            pred = policy.get_distribution(O).distribution.probs
    return float((pred.argmax(1) == A).float().mean())
