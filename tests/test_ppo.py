"""``ppo_native`` (octogym.agents.ppo): trains through train.py with tiny budgets, saves
checkpoints that make_agent loads and acts from, every option runs, one seed gives one set of
weights, and the options' pieces compute what their docstrings say."""

from __future__ import annotations

import csv
import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import octogym  # noqa: F401  (registers the ids)
from octogym.agents import SB3Agent, make_agent
from octogym.agents.checkpoint import CheckpointError
from octogym.agents.config import load_hyperparams
from octogym.agents.ppo import NativePPO, PPOConfig, gae, replica_baseline
from octogym.agents.ppo_policy import MLPPolicy, NativePPOAgent

ENV = "octogym/TBUAssign-v0"
KW = {"requests_per_episode": 10}


def tiny_hp(tmp_path, **extra):
    hp = {"n_envs": 4, "n_steps": 16, "batch_size": 32, "n_epochs": 2, **extra}
    path = tmp_path / "hp.yml"
    path.write_text(json.dumps({ENV: hp}))  # JSON is YAML
    return str(path)


def train(tmp_path, name="run", env_kwargs=KW, **extra):
    from octogym.commands.train import main
    out = tmp_path / name
    status = main(["--algo", "ppo_native", "--hyperparams", tiny_hp(tmp_path, **extra),
                   "--timesteps", "192", "--seed", "3", "--out", str(out), "--no-progress",
                   "--no-tensorboard", "--eval-every", "128", "--eval-episodes", "1",
                   "--eval-references", "", "--checkpoint-every", "64",
                   "--env-kwargs", json.dumps(env_kwargs)])
    assert status == 0
    return out


def test_trains_saves_and_make_agent_acts(tmp_path):
    out = train(tmp_path)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["algo"] == "ppo_native" and cfg["timesteps_done"] == 192
    assert sorted(p.name for p in (out / "checkpoints").glob("*.zip")) == [
        "step_00000064.zip", "step_00000128.zip", "step_00000192.zip"]
    rows = (out / "eval.csv").read_text().splitlines()
    assert rows[0].endswith(",seconds") and [r.split(",")[0] for r in rows[1:]] == [
        "0", "128", "192"]
    assert "time/steps_per_second" in (out / "progress.csv").read_text().splitlines()[0]
    assert (out / "curve.png").stat().st_size > 0  # agents.logs.finish_run, as for SB3 runs
    agent = make_agent(out)
    assert isinstance(agent, NativePPOAgent) and isinstance(SB3Agent(out), NativePPOAgent)
    assert agent.entity is None  # evaluate.py's arena reads it (an MLP fits one size)
    env = gym.make(ENV, **KW)
    agent.check_env(ENV, KW)
    agent.check_spaces(env.observation_space, env.action_space)
    obs, info = env.reset(seed=10_000)
    done = False
    while not done:
        a = agent.act(obs, info["action_mask"], None)
        assert info["action_mask"][a]
        obs, _, term, trunc, info = env.step(a)
        done = term or trunc
    assert info["metrics"]["env_invalid_actions"] == 0
    # act_batch: the argmax of the masked logits, never a masked-out action
    masks = np.zeros((5, 4), bool)
    masks[np.arange(5), [0, 1, 2, 3, 1]] = True
    obs = np.random.default_rng(0).random((5, env.observation_space.shape[0]), np.float32)
    assert agent.act_batch(obs, masks).tolist() == [0, 1, 2, 3, 1]
    # a checkpoint midway loads too
    assert isinstance(make_agent(out / "checkpoints" / "step_00000064.zip"), NativePPOAgent)


def test_entity_policy_trains_and_its_checkpoint_acts(tmp_path):
    kw = {**KW, "obs_mode": "entities", "max_tbus": 4}
    out = train(tmp_path, env_kwargs=kw, policy="entity", policy_kwargs={"hidden": 8})
    agent = make_agent(out)
    assert agent.policy.action_entities == ("tbu",) and agent.policy.hidden == 8
    assert agent.entity is agent.policy
    venv = gym.make_vec(ENV, num_envs=3, vectorization_mode="vector_entry_point", **kw)
    obs, info = venv.reset(seed=10_000)
    a = agent.act_batch(obs, info["action_mask"])
    assert info["action_mask"][np.arange(3), a].all()


def test_damaged_checkpoint_is_a_checkpoint_error(tmp_path):
    out = train(tmp_path)
    (out / "final.zip").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="final.zip"):
        make_agent(out)


def test_same_seed_same_weights(tmp_path):
    a = torch.load(train(tmp_path, "a") / "final.zip", weights_only=True)["state_dict"]
    b = torch.load(train(tmp_path, "b") / "final.zip", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("option", [{"time_discount": 2.0}, {"input_baseline": 2},
                                    {"shaping": 1.0},
                                    {"time_discount": 2.0, "input_baseline": 2,
                                     "shaping": 1.0}])
def test_options_run_and_change_the_weights(tmp_path, option):
    base = torch.load(train(tmp_path, "off") / "final.zip", weights_only=True)["state_dict"]
    on = torch.load(train(tmp_path, "on", **option) / "final.zip",
                    weights_only=True)["state_dict"]
    assert not all(torch.equal(base[k], on[k]) for k in base)


def test_bad_hyperparameters_are_named(tmp_path):
    with pytest.raises(ValueError, match="input_baseline"):
        PPOConfig.from_hyperparams({"input_baseline": 3}, n_envs=4)
    with pytest.raises(ValueError, match="norm_obs"):
        PPOConfig.from_hyperparams({"normalize": {"norm_obs": True}}, n_envs=4)
    path = tmp_path / "hp.yml"
    path.write_text(json.dumps({ENV: {"shaping": 1.0}}))
    with pytest.raises(ValueError, match="ppo_native hyperparameters"):
        load_hyperparams("maskable_ppo", ENV, path)


def test_replicas_share_seeds_and_inputs():
    venv = gym.make_vec(ENV, num_envs=4, vectorization_mode="vector_entry_point", **KW)
    cfg = PPOConfig(n_envs=4, n_steps=4, batch_size=8, input_baseline=2)
    algo = NativePPO(venv, MLPPolicy(venv.single_observation_space.shape[0], 4), cfg, seed=7)
    assert algo.member_seeds() == [7, 7, 8, 8]
    algo.reset()
    SC = venv.core.sim.state.SC
    assert np.array_equal(SC[0], SC[1]) and not np.array_equal(SC[0], SC[2])


def test_gae_and_replica_baseline_by_hand():
    r = torch.tensor([[1.0], [2.0]])
    v = torch.tensor([[0.5], [0.25]])
    d = torch.tensor([[0.0], [1.0]])
    g = torch.tensor([[0.5], [0.9]])
    adv = gae(r, v, torch.tensor([9.0]), d, g, lam=1.0)
    # t=1 ends the episode: A1 = 2 - 0.25; A0 = 1 + 0.5*0.25 - 0.5 + 0.5*A1
    assert adv[1, 0] == pytest.approx(1.75) and adv[0, 0] == pytest.approx(0.625 + 0.875)
    # two replicas: each loses the other's advantage at its latest decision not after
    # the same (episode, time)
    a = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    ep = np.zeros((3, 2))
    t = np.array([[0, 0], [5, 7], [9, 8]], float)
    out = replica_baseline(a, ep, t, group=2)
    assert out[:, 0].tolist() == [1 - 10, 2 - 10, 3 - 30]
    assert out[:, 1].tolist() == [10 - 1, 20 - 2, 30 - 2]


def test_linear_learning_rate_decays_and_bad_values_are_named():
    venv = gym.make_vec(ENV, num_envs=4, vectorization_mode="vector_entry_point", **KW)
    cfg = PPOConfig.from_hyperparams({"learning_rate": "lin_1e-3", "n_steps": 8,
                                      "batch_size": 16, "n_epochs": 1}, n_envs=4)
    algo = NativePPO(venv, MLPPolicy(venv.single_observation_space.shape[0], 4), cfg, seed=0)
    algo.learn(4 * 8 * 4)  # 4 iterations: lr 1e-3 * (1, 3/4, 1/2, 1/4)
    assert algo.opt.param_groups[0]["lr"] == pytest.approx(2.5e-4)
    for bad in ("lin_", "linear_1e-3", -1.0):
        with pytest.raises(ValueError, match="learning_rate"):
            PPOConfig(n_envs=4, learning_rate=bad).check()


class ConstantValue(MLPPolicy):
    """The MLP's logits with a critic that always says 100."""

    def forward(self, obs, mask=None):
        logits, v = super().forward(obs, mask)
        return logits, torch.full_like(v, 100.0)


def test_truncated_episodes_end_the_advantage_and_bootstrap():
    venv = gym.make_vec(ENV, num_envs=2, vectorization_mode="vector_entry_point", max_steps=5,
                        **KW)
    cfg = PPOConfig(n_envs=2, n_steps=12, batch_size=8, n_epochs=1, norm_reward=False)
    algo = NativePPO(venv, ConstantValue(venv.single_observation_space.shape[0], 4), cfg,
                     seed=0)
    roll = algo.collect()
    assert torch.nonzero(roll["dones"][:, 0]).flatten().tolist() == [4, 9]
    # latency rewards are <= 0; a truncated step adds gamma * V(last obs) = 99
    r = roll["rewards"]
    cut = roll["dones"].bool()
    assert (r[cut] > 90).all() and (r[~cut] <= 0).all()


def resume(ckpt, out, timesteps=256):
    from octogym.commands.train import main
    assert main(["--resume", str(ckpt), "--timesteps", str(timesteps), "--out", str(out),
                 "--no-progress", "--no-tensorboard", "--eval-every", "128",
                 "--eval-episodes", "1", "--eval-references", "",
                 "--checkpoint-every", "64"]) == 0
    return out


def test_resume_continues_the_run_and_is_deterministic(tmp_path):
    out = train(tmp_path)
    ckpt = out / "checkpoints" / "step_00000128.zip"
    before = torch.load(ckpt, weights_only=True)
    assert before["timesteps"] == 128 and before["train_seconds"] > 0
    a = resume(ckpt, out)  # into the run's own folder: its logs continue
    cfg = json.loads((a / "config.json").read_text())
    assert cfg["timesteps_done"] == 256 and cfg["seed"] == 3
    assert [r.split(",")[0] for r in (a / "eval.csv").read_text().splitlines()[1:]] == [
        "0", "128", "256"]  # the killed run's row at 192 is dropped, then logged again
    seconds = [float(r.split(",")[-1]) for r in (a / "eval.csv").read_text().splitlines()[1:]]
    assert seconds == sorted(seconds)
    with (a / "progress.csv").open() as f:
        steps = [int(float(r["time/total_timesteps"])) for r in csv.DictReader(f)]
    assert steps == [64, 128, 192, 256]  # continued after the checkpoint's rows
    after = torch.load(a / "final.zip", weights_only=True)
    assert after["timesteps"] == 256
    assert any(not torch.equal(after["state_dict"][k], before["state_dict"][k])
               for k in before["state_dict"])
    b = torch.load(resume(ckpt, tmp_path / "again") / "final.zip", weights_only=True)
    assert all(torch.equal(after["state_dict"][k], b["state_dict"][k]) for k in b["state_dict"])
    # resuming at the target trains nothing more: the checkpoint's weights
    c = torch.load(resume(ckpt, tmp_path / "done", 128) / "final.zip", weights_only=True)
    assert all(torch.equal(c["state_dict"][k], before["state_dict"][k]) for k in c["state_dict"])


def test_unsupported_requests_exit_with_a_clear_error(tmp_path, capsys):
    from octogym.commands.train import main
    out = train(tmp_path)
    (out / "checkpoints" / "step_00000064.zip").write_bytes(b"damaged")
    with pytest.raises(SystemExit) as e:
        main(["--resume", str(out / "checkpoints" / "step_00000064.zip")])
    assert e.value.code == 2 and "step_00000064.zip" in capsys.readouterr().err
    path = tmp_path / "bad.yml"
    path.write_text(json.dumps({ENV: {"n_envs": 4, "use_sde": True}}))
    with pytest.raises(SystemExit) as e:
        main(["--algo", "ppo_native", "--hyperparams", str(path), "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and "use_sde" in capsys.readouterr().err
