"""The imitation warm start (octogym.agents.imitation): value targets, VecNormalize's return
statistics, and behaviour cloning that fits the teacher, deterministically from the seed."""

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from octogym.agents.imitation import imitate, init_normalizer, value_targets
from octogym.envs.sb3 import make_sb3_vec_env

torch.set_num_threads(1)
ENV, KW = "octogym/TBUAssign-v0", {"requests_per_episode": 20}


def test_value_targets_restart_at_episode_ends():
    target, valid = value_targets(np.array([1.0, 2.0, 3.0, 4.0]),
                                  np.array([False, True, False, False]), gamma=0.5, scale=2.0)
    # step 1 ends its episode: 2 * 2 = 4; step 0: 1 * 2 + 0.5 * 4 = 4; steps 2-3 never end
    assert target.tolist() == [4.0, 4.0, 0.0, 0.0]
    assert valid.tolist() == [True, True, False, False]


def test_init_normalizer_sets_the_return_statistics():
    venv = VecNormalize(make_sb3_vec_env(ENV, n_envs=1, seed=0, **KW), norm_obs=False)
    rew, ends = np.array([1.0, 1.0, 1.0]), np.array([False, True, False])
    scale = init_normalizer(venv, np.zeros((3, 1), np.float32), rew, ends, gamma=0.5)
    rets = [1.0, 1.5, 1.0]  # the running discounted return, restarted after step 1
    # RunningMeanStd starts from a prior of weight 1e-4
    assert venv.ret_rms.var == pytest.approx(np.var(rets), rel=1e-2)
    assert scale == pytest.approx(1 / np.sqrt(np.var(rets) + venv.epsilon), rel=1e-2)
    assert init_normalizer(None, None, rew, ends, 0.5) == 1.0


def model(algo=MaskablePPO, norm=False):
    venv = make_sb3_vec_env(ENV, n_envs=1, seed=0, **KW)
    venv = VecNormalize(venv, norm_obs=False) if norm else venv
    return algo("MlpPolicy", venv, n_steps=32, batch_size=32, seed=0, device="cpu",
                policy_kwargs={"net_arch": [16]}), venv


def params(m):
    return torch.cat([p.detach().flatten() for p in m.policy.parameters()])


def test_imitate_fits_the_teacher_and_is_seeded():
    runs = []
    for _ in range(2):
        m, _ = model()
        stats = imitate(m, None, ENV, KW, seed=0, teacher="least_loaded", samples=128,
                        rounds=2, epochs=20, lr=1e-2)
        runs.append((stats, params(m)))
    (stats, p), (stats2, p2) = runs
    assert stats == stats2 and torch.equal(p, p2)
    assert stats["samples"] == 128 and stats["rounds"] == 2
    assert stats["train_agreement"] >= 0.9  # 128 labels, 20 epochs: the net fits them
    assert 0 <= stats["agreement"] <= 1


def test_imitate_plain_ppo_with_reward_normalisation():
    m, venv = model(PPO, norm=True)
    before = params(m)
    stats = imitate(m, venv, ENV, KW, seed=1, teacher="adaptive", samples=64, rounds=1,
                    epochs=1)
    assert stats["samples"] == 64 and not torch.equal(before, params(m))
    assert venv.ret_rms.count > 64  # initialised from the 64 rollout steps
