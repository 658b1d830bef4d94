"""End-to-end training throughput (env + policy + updates), env steps per second, side by
side in one run (docs/agents.md, "Fast training"; docs/results.md §8, "Training speed"):

* ``sb3-maskable``: sb3-contrib ``MaskablePPO`` on ``octogym/TBUAssign-v0`` through
  ``make_sb3_vec_env`` (the native batched kernel behind SB3's ``VecEnv`` interface);
* ``sb3-cartpole``: stable-baselines3 ``PPO`` on ``CartPole-v1`` (SB3's ``make_vec_env``,
  a ``DummyVecEnv``) with the same settings: what SB3 itself manages on the cheapest env;
* ``ppo_native``: ours (``octogym.agents.ppo``) on the native vector env;
* ``ppo_native-entity``: ours with the entity policy (``policy: entity``,
  ``octogym.agents.entity_policy.EntityPolicy``) on the env option ``obs_mode="entities"``;
* ``sb3-maskable-entity``: ``MaskablePPO`` with ``EntityMaskablePolicy`` on the same
  entity observations through ``make_sb3_vec_env``;
* ``torchrl``: TorchRL's collector, masked categorical actor, GAE and ``ClipPPOLoss`` on the
  native vector env (skipped when torchrl is not installed; throughput only);

at each ``N`` of ``--envs`` with the same ``n_steps``, minibatch, epochs and 64x64 actor and
critic MLPs (the entity arms: embedding width ``--hidden``; ``--env-kwargs`` are extra entity
env options, e.g. ``max_waiting=8``). Each arm trains one warm-up rollout (numba compilation,
allocations), then ``--iters`` rollouts + updates timed. Ratios are printed against
``sb3-cartpole`` at the same ``N``. ``--threads`` sets torch's threads (the env uses
numba's, see docs/envs.md "Threads").

    python benchmarks/bench_train.py                       # N = 64, 256, 1024
    python benchmarks/bench_train.py --envs 256 --iters 3 --threads 1 2
    python benchmarks/bench_train.py --envs 256 1024 --arms sb3-cartpole ppo_native-entity
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import octogym  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)

ENV = "octogym/TBUAssign-v0"
NET = {"net_arch": {"pi": [64, 64], "vf": [64, 64]}}
ENTITY = {"obs_mode": "entities"}  # the env option the entity arms add (plus --env-kwargs)


@dataclass
class EntityArm:
    """What the ``*-entity`` arms use: env options and the policy's embedding width."""

    env_kwargs: dict[str, Any]
    hidden: int


def settings(n_envs: int, n_steps: int, batch: int, epochs: int) -> dict:
    return {"n_steps": n_steps, "batch_size": min(batch, n_envs * n_steps), "n_epochs": epochs}


def time_sb3(make_model: Callable[[], object], steps_per_iter: int, iters: int) -> float:
    model = make_model()
    model.learn(steps_per_iter)  # warm-up rollout
    t = time.perf_counter()
    model.learn(steps_per_iter * iters, reset_num_timesteps=False)
    return steps_per_iter * iters / (time.perf_counter() - t)


def sb3_maskable(n: int, kw: dict, iters: int, entity: EntityArm | None = None) -> float:
    """MaskablePPO with the MLP, or (``entity``) with ``EntityMaskablePolicy``."""
    from sb3_contrib import MaskablePPO

    from octogym.agents.entity_policy import EntityMaskablePolicy
    from octogym.envs.sb3 import make_sb3_vec_env

    def make() -> object:
        if entity is None:
            venv = make_sb3_vec_env(ENV, n_envs=n, seed=0)
            return MaskablePPO("MlpPolicy", venv, policy_kwargs=NET, seed=0, device="cpu", **kw)
        venv = make_sb3_vec_env(ENV, n_envs=n, seed=0, **entity.env_kwargs)
        return MaskablePPO(EntityMaskablePolicy, venv, seed=0, device="cpu",
                           policy_kwargs={"action_entities": ("tbu",),
                                          "hidden": entity.hidden}, **kw)
    return time_sb3(make, n * kw["n_steps"], iters)


def sb3_cartpole(n: int, kw: dict, iters: int) -> float:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    def make() -> object:
        return PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=n, seed=0),
                   policy_kwargs=NET, seed=0, device="cpu", **kw)
    return time_sb3(make, n * kw["n_steps"], iters)


def native(n: int, kw: dict, iters: int, entity: EntityArm | None = None) -> float:
    """``ppo_native`` with the MLP, or (``entity``) with the entity policy."""
    import gymnasium as gym
    import torch

    from octogym.agents.ppo import NativePPO, PPOConfig
    from octogym.agents.ppo_policy import policy_class, policy_kwargs_for
    venv = gym.make_vec(ENV, num_envs=n, vectorization_mode="vector_entry_point",
                        **(entity.env_kwargs if entity else {}))
    torch.manual_seed(0)
    name = "MlpPolicy" if entity is None else "entity"
    pkw = NET if entity is None else {"hidden": entity.hidden}
    policy = policy_class(name)(**policy_kwargs_for(
        name, venv.single_observation_space, venv.single_action_space.n, "TBUAssign", pkw))
    algo = NativePPO(venv, policy, PPOConfig(n_envs=n, torch_threads=torch.get_num_threads(),
                                             **kw), seed=0)
    per = n * kw["n_steps"]
    algo.learn(per)  # warm-up rollout
    split = {"collect_s": 0.0, "update_s": 0.0}

    def tally(_: object, stats: dict) -> bool:
        for k in split:
            split[k] += stats[k]
        return False
    t = time.perf_counter()
    algo.learn(per * (iters + 1), tally)
    dt = time.perf_counter() - t
    print(f"# {name} N={n}: rollouts {split['collect_s'] / dt:.0%} of the time "
          f"(env + policy sampling), updates {split['update_s'] / dt:.0%}")
    return per * iters / dt


def torchrl_ppo(n: int, kw: dict, iters: int) -> float:
    """TorchRL (optional; ``pip install torchrl``): ``GymWrapper`` over the native vector env
    (its infos, the action mask included, read into the tensordict), a ``Collector``, a
    ``ProbabilisticActor`` with ``MaskedCategorical``, ``GAE`` and ``ClipPPOLoss``."""
    import gymnasium as gym
    import torch
    from tensordict.nn import TensorDictModule
    from torch import nn
    from torchrl.collectors import Collector
    from torchrl.data import LazyTensorStorage, ReplayBuffer, SamplerWithoutReplacement
    from torchrl.envs import GymWrapper
    from torchrl.modules import MaskedCategorical, ProbabilisticActor, ValueOperator
    from torchrl.objectives import ClipPPOLoss
    from torchrl.objectives.value import GAE

    venv = gym.make_vec(ENV, num_envs=n, vectorization_mode="vector_entry_point")
    env = GymWrapper(venv, categorical_action_encoding=True)
    d, a = venv.single_observation_space.shape[0], int(venv.single_action_space.n)

    def mlp(out: int) -> nn.Module:
        return nn.Sequential(nn.Linear(d, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                             nn.Linear(64, out))
    torch.manual_seed(0)
    actor = ProbabilisticActor(TensorDictModule(mlp(a), ["observation"], ["logits"]),
                               in_keys={"logits": "logits", "mask": "action_mask"},
                               out_keys=["action"], distribution_class=MaskedCategorical,
                               return_log_prob=True, spec=env.action_spec)
    critic = ValueOperator(mlp(1), in_keys=["observation"])
    loss = ClipPPOLoss(actor, critic, clip_epsilon=0.2, entropy_coeff=0.01)
    advantage = GAE(gamma=0.99, lmbda=0.95, value_network=critic)
    opt = torch.optim.Adam(loss.parameters(), lr=3e-4)
    per = n * kw["n_steps"]
    collector = Collector(env, actor, frames_per_batch=per, total_frames=-1,
                          auto_register_policy_transforms=False)
    rb = ReplayBuffer(storage=LazyTensorStorage(per), sampler=SamplerWithoutReplacement(),
                      batch_size=kw["batch_size"])
    t = 0.0
    for i, data in enumerate(collector):
        with torch.no_grad():
            advantage(data)
        rb.extend(data.reshape(-1))
        for _ in range(kw["n_epochs"] * (per // kw["batch_size"])):
            out = loss(rb.sample())
            total = out["loss_objective"] + out["loss_critic"] + out["loss_entropy"]
            opt.zero_grad()
            total.backward()
            nn.utils.clip_grad_norm_(loss.parameters(), 0.5)
            opt.step()
        if i == 0:  # warm-up rollout done
            t = time.perf_counter()
        if i == iters:
            break
    collector.shutdown()
    return per * iters / (time.perf_counter() - t)


ARMS: dict[str, Callable[..., float]] = {
    "sb3-maskable": sb3_maskable, "sb3-cartpole": sb3_cartpole, "ppo_native": native,
    "torchrl": torchrl_ppo,
    # called with entity=EntityArm(...) (main)
    "ppo_native-entity": native, "sb3-maskable-entity": sb3_maskable}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--n-steps", type=int, default=64, help="rollout length per env")
    p.add_argument("--batch", type=int, default=4096, help="minibatch size")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--iters", type=int, default=2, help="timed rollouts + updates per arm")
    p.add_argument("--threads", type=int, nargs="+", default=[1], help="torch threads")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--hidden", type=int, default=64, help="entity arms: embedding width")
    p.add_argument("--env-kwargs", nargs="*", default=[], metavar="KEY=INT",
                   help="entity arms: more env options, e.g. max_waiting=8")
    a = p.parse_args()
    ent = EntityArm(dict(ENTITY), a.hidden)
    for item in a.env_kwargs:
        key, sep, value = item.partition("=")
        if not sep or not value.lstrip("-").isdigit():
            p.error(f"--env-kwargs {item!r}: expected KEY=INTEGER")
        ent.env_kwargs[key] = int(value)
    import torch
    print(f"# bench_train: n_steps {a.n_steps}, minibatch {a.batch}, epochs {a.epochs}, "
          f"64x64 actor+critic, entity hidden {ent.hidden} env {ent.env_kwargs}, "
          f"{a.iters} timed rollouts; cpus {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'N':>5} {'threads':>7} {'arm':>19} {'steps/s':>10} {'vs cartpole':>11}")
    for threads in a.threads:
        torch.set_num_threads(threads)
        for n in a.envs:
            kw = settings(n, a.n_steps, a.batch, a.epochs)
            sps = {}
            for arm in a.arms:
                try:
                    extra = {"entity": ent} if arm.endswith("-entity") else {}
                    sps[arm] = ARMS[arm](n, kw, a.iters, **extra)
                except ImportError as e:  # torchrl is optional
                    print(f"# {arm}: skipped ({e})")
            for arm, v in sps.items():
                ratio = (f"{v / sps['sb3-cartpole']:.2f}x" if "sb3-cartpole" in sps else "-")
                print(f"{n:>5} {threads:>7} {arm:>19} {v:>10,.0f} {ratio:>11}", flush=True)
    print(f"# load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
