"""ppo_native's imitation warm start (octogym.agents.imitation_native): it raises the
policy's agreement with the teacher (a heuristic or the rollout planner, MLP or entity
policy), one seed gives one set of weights, bad options are clear errors, and train.py runs it
before PPO and records its statistics; the planner teacher's TBU candidates are env actions."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import octogym  # noqa: F401  (registers the ids)
from octogym.agents.base import HeuristicAgent, make_agent
from octogym.agents.imitation_native import (
    Labels,
    imitate_native,
    play,
    pretrain_options,
)
from octogym.agents.ppo_policy import policy_actions, policy_class, policy_kwargs_for

ENV = "octogym/TBUAssign-v0"
KW = {"requests_per_episode": 10}
ENTITY_KW = {**KW, "obs_mode": "entities", "max_tbus": 4}
OPTS = {"samples": 256, "rounds": 2, "epochs": 20, "lr": 3e-3, "batch_size": 64, "n_envs": 4}


def new_policy(env_kwargs: dict, name: str, seed: int = 0) -> torch.nn.Module:
    venv = gym.make_vec(ENV, num_envs=1, vectorization_mode="vector_entry_point", **env_kwargs)
    kw = policy_kwargs_for(name, venv.single_observation_space, venv.single_action_space.n,
                           venv.decision.name, {"hidden": 16} if name == "entity" else None)
    venv.close()
    torch.manual_seed(seed)
    return policy_class(name)(**kw)


def agreement(policy: torch.nn.Module, teacher: str, env_kwargs: dict, seed: int = 500
              ) -> float:
    """The student's share of the teacher's labels on states the teacher visits (seeds the
    warm start did not play)."""
    venv = gym.make_vec(ENV, num_envs=4, vectorization_mode="vector_entry_point", **env_kwargs)
    labels = Labels()
    play(venv, make_agent(teacher), None, labels, 40, venv.reset(seed=[seed + i for i in
                                                                      range(4)]))
    venv.close()
    hits = sum(int((policy_actions(policy, o, m) == a).sum())
               for o, m, a in zip(labels.obs, labels.masks, labels.actions, strict=True))
    return hits / sum(len(a) for a in labels.actions)


@pytest.mark.parametrize("name,env_kwargs,teacher", [
    ("MlpPolicy", KW, "least_loaded"),
    ("entity", ENTITY_KW, "rollout:adaptive:level=tbu,k=0,R=1,H=2")])
def test_warm_start_raises_agreement_with_the_teacher(name, env_kwargs, teacher):
    policy = new_policy(env_kwargs, name)
    before = agreement(policy, teacher, env_kwargs)
    stats = imitate_native(policy, ENV, env_kwargs, seed=1, teacher=teacher, **OPTS)
    after = agreement(policy, teacher, env_kwargs)
    assert stats["teacher"] == teacher and stats["samples"] == 256 and stats["rounds"] == 2
    assert 0 <= stats["agreement"] <= 1 and stats["train_agreement"] > 0.5
    assert after > before + 0.1, (before, after)


def imitated_weights(seed: int, **kwargs) -> list[np.ndarray]:
    """The weights of a fresh MLP after a short imitation of ``adaptive``."""
    policy = new_policy(KW, "MlpPolicy")
    imitate_native(policy, ENV, KW, seed=seed, teacher="adaptive", **{**OPTS, "epochs": 2},
                   **kwargs)
    return [p.detach().numpy().copy() for p in policy.parameters()]


def test_one_seed_gives_one_set_of_weights():
    weights = imitated_weights
    a, b, c = weights(1), weights(1), weights(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_behaviour_plays_the_odd_members_and_the_teacher_labels_them():
    """With ``behaviour`` the odd members follow it (not the teacher) and every state,
    theirs too, carries the teacher's label."""
    venv = gym.make_vec(ENV, num_envs=4, vectorization_mode="vector_entry_point", **KW)
    teacher, other = make_agent("least_loaded"), make_agent("round_robin")
    labels = Labels()
    state = venv.reset(seed=[7, 8, 9, 10])
    _, same, played = play(venv, teacher, None, labels, 30, state, behaviour=other)
    assert (same, played) == (60, 60)  # the teacher plays members 0 and 2 only
    venv.close()
    # replay: the odd members' actions were round_robin's, the labels least_loaded's
    venv = gym.make_vec(ENV, num_envs=4, vectorization_mode="vector_entry_point", **KW)
    replay_t, replay_o = make_agent("least_loaded"), make_agent("round_robin")
    obs, info = venv.reset(seed=[7, 8, 9, 10])
    differs = 0
    for _o, m, label in zip(labels.obs, labels.masks, labels.actions, strict=True):
        assert np.array_equal(m, info["action_mask"])
        t = np.asarray(replay_t.act_batch(obs, m, venv))
        b = np.asarray(replay_o.act_batch(obs, m, venv, rows=np.array([1, 3])))
        assert np.array_equal(label, t)
        differs += int((t[1::2] != b[1::2]).sum())
        obs, _, _, _, info = venv.step(np.where(np.arange(4) % 2, b, t))
    venv.close()
    assert differs > 0  # the two rules disagreed, so the odd members were round_robin's
    with pytest.raises(ValueError, match="behaviour"):
        pretrain_options({"teacher": "adaptive", "behaviour": 3})


@pytest.mark.parametrize("value,msg", [
    ({"samples": 10}, "teacher"), ({"teacher": "adaptive", "sample": 10}, "unknown keys"),
    ({"teacher": "adaptive", "rounds": 0}, "rounds"), ({"teacher": "adaptive", "lr": 0},
                                                       "lr")])
def test_bad_options_are_named(value, msg):
    with pytest.raises(ValueError, match=msg):
        pretrain_options(value)
    assert pretrain_options("adaptive")["teacher"] == "adaptive"


def test_train_py_warm_starts_ppo_native(tmp_path):
    from octogym.commands.train import main

    hp = {"n_envs": 4, "n_steps": 16, "batch_size": 32, "n_epochs": 1,
          "pretrain": "dict(teacher='adaptive', samples=64, epochs=1, n_envs=4)"}
    path = tmp_path / "hp.yml"
    path.write_text(json.dumps({ENV: hp}))
    out = tmp_path / "run"
    assert main(["--algo", "ppo_native", "--hyperparams", str(path), "--timesteps", "64",
                 "--seed", "3", "--out", str(out), "--no-progress", "--no-tensorboard",
                 "--eval-every", "0", "--env-kwargs", json.dumps(KW)]) == 0
    stats = json.loads((out / "config.json").read_text())["pretrain_stats"]
    assert stats["teacher"] == "adaptive" and stats["samples"] == 64


def test_n_timesteps_zero_keeps_the_imitated_policy_alone(tmp_path):
    """``n_timesteps: 0`` with a ``pretrain``: the checkpoint is the student (no PPO step);
    without a ``pretrain`` it is refused with the reason."""
    from octogym.agents.ppo_policy import load_native
    from octogym.commands.train import main

    hp = {"n_envs": 4, "n_steps": 16, "batch_size": 32, "n_epochs": 1, "n_timesteps": 0,
          "pretrain": "dict(teacher='adaptive', samples=64, epochs=2, n_envs=4)"}
    path = tmp_path / "hp.yml"
    path.write_text(json.dumps({ENV: hp}))
    args = ["--algo", "ppo_native", "--hyperparams", str(path), "--seed", "3", "--no-progress",
            "--no-tensorboard", "--eval-every", "0", "--env-kwargs", json.dumps(KW)]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["timesteps_done"] == 0 and cfg["pretrain_stats"]["samples"] == 64
    _, payload = load_native(tmp_path / "run" / "final.zip")
    assert payload["timesteps"] == 0
    del hp["pretrain"]
    path.write_text(json.dumps({ENV: hp}))
    with pytest.raises(SystemExit) as e:
        main([*args, "--out", str(tmp_path / "bad")])
    assert e.value.code == 2
    assert not (tmp_path / "bad" / "final.zip").exists()


def test_agent_tbu_candidates_are_env_actions_led_by_the_heuristic_agent():
    """Inside `proactive`, `adaptive`'s hook may name another cluster's TBU: the agent's
    candidates are still home TBUs, the first being HeuristicAgent("adaptive")'s answer."""
    from octogym.kernel import fields as L

    env = gym.make("octogym/TBUAssign-v0", requests_per_episode=20, controller="proactive")
    agent, heur = make_agent("rollout:adaptive:k=0,R=2,H=2"), HeuristicAgent("adaptive")
    obs, info = env.reset(seed=4)
    sim, K = env.unwrapped.sim, env.unwrapped.sim.hw.tbus_per_cluster
    for _ in range(60):
        planner = agent._planner_for(sim)
        S = sim.state
        home = int(S.RQ[0, S.JB[0, S.SC[0, L.SC_DEC_JOB], L.JB_REQ], L.RQ_HOME])
        cands = planner.candidates(0)
        planner._first.clear()
        assert all(home * K <= c < (home + 1) * K for c in cands)
        assert cands[0] - home * K == heur.act(obs, info["action_mask"], env)
        assert len(set(cands)) == len(cands) == int(info["action_mask"].sum())
        obs, _, term, _, info = env.step(agent.act(obs, info["action_mask"], env))
        if term:
            break


def test_progress_bar_counts_every_label(capsys):
    """``progress=True`` shows a bar over the labels (the planner's labelling takes minutes)
    and does not change what is learned."""
    quiet = imitated_weights(1, progress=False)
    assert "imitation" not in capsys.readouterr().err
    shown = imitated_weights(1, progress=True)
    err = capsys.readouterr().err
    assert "imitation" in err and "256/256" in err and "agreement" in err, err
    assert all(np.array_equal(x, y) for x, y in zip(quiet, shown, strict=True))
