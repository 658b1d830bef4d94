"""Imitation warm start for ``ppo_native`` (hyperparameter ``pretrain``, docs/agents.md):
behaviour cloning of any ``make_agent`` teacher with DAgger rounds, in the native vector env.

``pretrain: "dict(teacher='rollout:adaptive:level=tbu,k=4,R=1,H=8', samples=40000, rounds=2)"``
(or just a teacher spec). The teacher is anything :func:`octogym.agents.make_agent` builds
that has ``act_batch`` over a native vector env: a scheduler name (``HeuristicAgent``), a
planner spec (``RolloutAgent``: one compiled rollout call labels every member's pending
decision at once), or a checkpoint.

A native vector env of ``n_envs`` members (the run's env id and options; member ``i`` reset
with ``seed + i``, the training run's first seeds, all below the evaluation seeds) is played
for ``samples / rounds`` samples per round: round 0 by the teacher, each later round by the
current student (argmax of its masked logits) with every visited state labelled by the teacher
(DAgger). With ``behaviour`` (any ``make_agent`` spec with ``act_batch``, e.g. an earlier
checkpoint) the odd members are played by it in every round instead (the even ones as above),
their states labelled by the teacher too: the labels then cover the states a good student
visits from the start. After each round the policy is fit to all labels so far: ``epochs``
passes of Adam (``lr``, minibatches of ``batch_size``) on the masked cross-entropy. The value
head is left to PPO (its returns depend on the run's reward options: shaping, time discount,
replica baseline). Randomness: the env seeds and ``torch.Generator(seed)`` (minibatch order);
the policy's initial weights come from the caller's ``torch.manual_seed``, so one seed gives
one set of weights.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

#: The keys of ``pretrain`` and their defaults (``teacher`` has none).
DEFAULTS: dict[str, Any] = {"samples": 40_000, "rounds": 2, "epochs": 4, "lr": 1e-3,
                            "batch_size": 1024, "n_envs": 64, "behaviour": None}


def pretrain_options(value: Any) -> dict[str, Any]:
    """The ``pretrain`` hyperparameter (a teacher spec, or a dict with ``teacher`` and any of
    :data:`DEFAULTS`) as a complete dict; ``ValueError`` naming a bad key or value."""
    opts = {"teacher": value} if isinstance(value, str) else value
    if not isinstance(opts, dict) or not isinstance(opts.get("teacher"), str):
        raise ValueError(f"pretrain must be a teacher spec or a dict with a 'teacher' spec, "
                         f"got {value!r}")
    unknown = sorted(set(opts) - set(DEFAULTS) - {"teacher"})
    if unknown:
        raise ValueError(f"pretrain: unknown keys {unknown}; known: teacher, "
                         f"{', '.join(DEFAULTS)}")
    out = {**DEFAULTS, **opts}
    for k in ("samples", "rounds", "epochs", "batch_size", "n_envs"):
        if not isinstance(out[k], int) or out[k] < 1:
            raise ValueError(f"pretrain: {k} must be an integer >= 1, got {out[k]!r}")
    if not float(out["lr"]) > 0:
        raise ValueError(f"pretrain: lr must be > 0, got {out['lr']!r}")
    if out["behaviour"] is not None and not isinstance(out["behaviour"], str):
        raise ValueError(f"pretrain: behaviour must be a make_agent spec, got "
                         f"{out['behaviour']!r}")
    return out


class Labels:
    """Visited states (observation dicts), their masks and the teacher's actions."""

    def __init__(self) -> None:
        self.obs: list[dict[str, np.ndarray]] = []
        self.masks: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []

    def add(self, obs: dict[str, np.ndarray], mask: np.ndarray, actions: np.ndarray) -> None:
        self.obs.append({k: np.array(v, np.float32) for k, v in obs.items()})
        self.masks.append(np.array(mask, bool))
        self.actions.append(np.array(actions, np.int64))

    def tensors(self) -> tuple[dict[str, Any], Any, Any]:
        import torch

        obs = {k: torch.from_numpy(np.concatenate([o[k] for o in self.obs]))
               for k in self.obs[0]}
        return (obs, torch.from_numpy(np.concatenate(self.masks)),
                torch.from_numpy(np.concatenate(self.actions)))


def play(venv: Any, teacher: Any, policy: Any | None, labels: Labels, steps: int,
         state: tuple[Any, Any], behaviour: Any = None, bar: Any = None
         ) -> tuple[tuple[Any, Any], int, int]:
    """``steps`` vector steps of ``venv`` from ``state`` (``(obs, info)``), acting with the
    teacher (``policy`` ``None``) or the student, and on the odd members with ``behaviour``
    (an agent) if given; every state labelled by the teacher (``bar``: a tqdm bar advanced by
    the labels of each step). Returns the last state, the student's matches with the labels (on
    the members it plays) and the samples it played."""
    from octogym.agents.ppo_policy import as_obs_dict, policy_actions

    obs, info = state
    same = 0
    own = np.ones(venv.num_envs, bool)  # the members the teacher or the student plays
    odd = np.arange(1, venv.num_envs, 2)
    if behaviour is not None:
        own[odd] = False
    for _ in range(steps):
        mask = info["action_mask"]
        o = as_obs_dict(obs)
        label = np.asarray(teacher.act_batch(obs, mask, venv), np.int64)
        labels.add(o, mask, label)
        action = label if policy is None else policy_actions(policy, o, mask)
        same += int((action == label)[own].sum())
        if behaviour is not None:
            action = action.copy()
            action[odd] = np.asarray(behaviour.act_batch(obs, mask, venv, rows=odd),
                                     np.int64)[odd]
        obs, _, _, _, info = venv.step(action)
        if bar is not None:
            bar.update(len(label))
    return (obs, info), same, steps * int(own.sum())


def fit(policy: Any, labels: Labels, gen: Any, epochs: int, lr: float, batch_size: int
        ) -> float:
    """``epochs`` passes of Adam over ``labels`` (minibatch order from ``gen``), masked
    cross-entropy; returns the share of labels the argmax policy predicts afterwards."""
    import torch

    obs, masks, actions = labels.tensors()
    n = len(actions)
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    policy.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, batch_size):
            j = perm[s:s + batch_size]
            m = masks[j]
            logits, _ = policy({k: v[j] for k, v in obs.items()}, m)
            logp = torch.log_softmax(logits.masked_fill(~m, -torch.inf), -1)
            loss = -logp.gather(1, actions[j, None]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    hits = 0
    with torch.no_grad():
        for s in range(0, n, 8192):
            m = masks[s:s + 8192]
            logits, _ = policy({k: v[s:s + 8192] for k, v in obs.items()}, m)
            pred = logits.masked_fill(~m, -torch.inf).argmax(-1)
            hits += int((pred == actions[s:s + 8192]).sum())
    return hits / n


def imitate_native(policy: Any, env_id: str, env_kwargs: dict[str, Any], seed: int,
                   teacher: str, samples: int, rounds: int, epochs: int, lr: float,
                   batch_size: int, n_envs: int, behaviour: str | None = None,
                   progress: bool = False) -> dict[str, Any]:
    """Fit ``policy`` (``policy(obs_dict, mask) -> (logits, value)``) to ``teacher`` as the
    module docstring says. Returns ``teacher``, ``samples`` (labels), ``rounds``,
    ``train_agreement`` (on every label after the last fit), ``agreement`` (the student's
    on-policy agreement in the last DAgger round; the training one with ``rounds = 1``) and
    ``seconds``. ``progress``: a progress bar over the labels (a planner teacher labels some
    tens per second on one core, so a run's imitation can take many minutes)."""
    import gymnasium as gym
    import torch
    from tqdm import tqdm

    from octogym.agents.base import make_agent

    t0 = time.perf_counter()
    agent = make_agent(teacher)
    other = None if behaviour is None else make_agent(behaviour)
    for spec, a in ((teacher, agent), (behaviour, other)):
        if a is not None and not hasattr(a, "act_batch"):
            raise ValueError(f"pretrain agent {spec!r} has no act_batch")
    venv = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point",
                        **env_kwargs)
    gen = torch.Generator().manual_seed(seed)
    labels = Labels()
    state = venv.reset(seed=[seed + i for i in range(n_envs)])
    steps = max(1, -(-samples // (rounds * n_envs)))
    on_policy = None
    bar = tqdm(total=steps * rounds * n_envs, unit="label", desc="imitation",
               disable=not progress, dynamic_ncols=True)
    for rnd in range(rounds):
        policy.eval()
        state, same, played = play(venv, agent, policy if rnd else None, labels, steps, state,
                                   other, bar)
        if rnd:
            on_policy = same / played
        bar.set_postfix_str(f"fitting round {rnd}")
        train_acc = fit(policy, labels, gen, epochs, float(lr), batch_size)
        bar.set_postfix_str(f"round {rnd} fit, agreement {train_acc:.3f}")
    bar.close()
    venv.close()
    policy.train()
    return {"teacher": teacher, "behaviour": behaviour,
            "samples": sum(len(a) for a in labels.actions),
            "rounds": rounds, "train_agreement": round(train_acc, 4),
            "agreement": round(on_policy if on_policy is not None else train_acc, 4),
            "seconds": round(time.perf_counter() - t0, 1)}
