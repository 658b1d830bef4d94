"""Agents: heuristics replay the kernel's schedulers exactly; learned agents load with their
config and refuse a different env."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import train_tiny

import octogym  # noqa: F401
from octogym.agents import HeuristicAgent, SB3Agent, load_hyperparams, make_agent
from octogym.envs.registration import ENV_IDS
from octogym.simulator import Simulation

torch.set_num_threads(1)
KW = {"requests_per_episode": 50, "load": 0.9}


def play(env, seed, agent):
    obs, info = env.reset(seed=seed)
    while True:
        obs, _, term, trunc, info = env.step(agent.act(obs, info["action_mask"], env))
        if term or trunc:
            return info["metrics"]


# Every scheduler whose hook for this decision is expressible as an env action reproduces
# the kernel-only run exactly. Not in the TBU list: static/reactive (their hook can defer a TB,
# which no action expresses), eft and (reconfiguration-cost aware since issue 14) adaptive,
# proactive, octopus (they may pick a TBU outside the home cluster).
TBU_EXACT = ["least_loaded", "random", "round_robin"]
CLUSTER_EXACT = ["least_loaded", "adaptive", "proactive", "octopus", "random", "round_robin",
                 "static", "reactive", "eft"]


@pytest.mark.parametrize("env_id,name", [("octogym/TBUAssign-v0", n) for n in TBU_EXACT]
                         + [("octogym/ClusterAssign-v0", n) for n in CLUSTER_EXACT]
                         + [("octogym/TBUAssign-Wafer-v0", "least_loaded")])
def test_heuristic_agent_reproduces_the_kernel_run(env_id, name):
    env = gym.make(env_id, controller=name, **KW)
    agent = HeuristicAgent(name)
    for seed in (0, 1):
        m = play(env, seed, agent)
        ref = Simulation(None, env.unwrapped.core.hw, load=KW["load"],
                         n_requests=KW["requests_per_episode"], seed=seed,
                         policy=name).run()[0].to_dict()
        assert {k: v for k, v in m.items() if k in ref} == ref
        assert m["env_invalid_actions"] == 0
    assert agent.fallbacks == 0


@pytest.mark.parametrize("name", ["static", "eft", "adaptive"])
def test_heuristic_agent_falls_back_to_a_valid_action(name):
    env = gym.make("octogym/TBUAssign-v0", controller=name, **KW)
    agent = HeuristicAgent(name)
    m = play(env, 0, agent)
    assert m["n_requests"] == KW["requests_per_episode"] and m["env_invalid_actions"] == 0
    assert agent.fallbacks > 0  # documented: a defer / off-cluster TBU -> a home-cluster TBU


@pytest.mark.parametrize("name", ["eft", "adaptive"])
def test_earliest_finish_fallback_is_its_rule_at_home(name):
    """Where ``adaptive``/``eft`` leave the home cluster, the action is their earliest-finish
    rule over the home cluster (``eft``: ``eft_tbu`` over it; ``adaptive``: with its
    reconfiguration awareness, ``aware_home_tbu``), not the least-loaded TBU."""
    from octogym.kernel import fields as L
    from octogym.kernel.policies import aware_home_tbu, decide_tbu, eft_tbu

    env = gym.make("octogym/TBUAssign-v0", controller=name, **KW)
    agent = HeuristicAgent(name)
    sim = env.unwrapped.sim
    K = env.unwrapped.core.hw.tbus_per_cluster
    obs, info = env.reset(seed=0)
    checked = differs = 0
    while True:
        M, S = sim.model, sim.state
        job = int(S.SC[0, L.SC_DEC_JOB])
        home = int(S.RQ[0, S.JB[0, job, L.JB_REQ], L.RQ_HOME])
        own = int(decide_tbu(M, S, 0, job, agent.code)) - home * K
        leaves = not 0 <= own < K
        if name == "adaptive" and not leaves:  # the home-only rule is the rule, at home
            assert int(aware_home_tbu(M, S, 0, job, home)) - home * K == own
        at_home = int(aware_home_tbu(M, S, 0, job, home) if name == "adaptive" else
                      eft_tbu(M, S, 0, job, home * K, (home + 1) * K)) - home * K
        queue = S.TB[0, L.TB_QL, home * K:(home + 1) * K]
        a = agent.act(obs, info["action_mask"], env)
        if leaves and at_home >= 0:
            assert a == at_home
            checked += 1
            differs += int(queue[a] > queue.min())
        obs, _, term, trunc, info = env.step(a)
        if term or trunc:
            break
    assert checked > 0 and differs > 0  # it fired, and picked other than the least-loaded TBU


def test_heuristic_agent_errors():
    with pytest.raises(ValueError, match="unknown scheduler"):
        HeuristicAgent("telepathy")
    with pytest.raises(TypeError, match="env_state"):
        HeuristicAgent("adaptive").act(np.zeros(3), np.ones(3, bool), None)
    with pytest.raises(ValueError, match="neither a scheduler"):
        make_agent("no/such/checkpoint.zip")
    assert isinstance(make_agent("adaptive"), HeuristicAgent)


def test_hyperparams_files_cover_every_env_and_load():
    for algo in ("ppo", "maskable_ppo", "ppo_native"):
        for env_id in ENV_IDS:
            hp = load_hyperparams(algo, env_id)
            assert hp["policy"] == "MlpPolicy" and isinstance(hp["policy_kwargs"], dict)


def test_hyperparams_errors(tmp_path):
    with pytest.raises(KeyError, match="no hyperparameters for env"):
        load_hyperparams("ppo", "CartPole-v1")
    bad = tmp_path / "bad.yml"
    bad.write_text("octogym/TBUAssign-v0:\n  n_steps: 8\n  learning_rat: 0.1\n")
    with pytest.raises(ValueError, match="learning_rat"):
        load_hyperparams("ppo", "octogym/TBUAssign-v0", bad)
    bad.write_text("octogym/TBUAssign-v0:\n  policy_kwargs: \"__import__('os')\"\n")
    with pytest.raises(ValueError, match="cannot parse"):
        load_hyperparams("ppo", "octogym/TBUAssign-v0", bad)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny MaskablePPO run of train.py (normalised observations, to cover the stats)."""
    return train_tiny(tmp_path_factory.mktemp("run"), "--env", "octogym/TBUAssign-v0")


def test_sb3_agent_loads_and_acts(trained):
    agent = make_agent(str(trained))
    assert isinstance(agent, SB3Agent) and agent.algo == "maskable_ppo"
    assert agent.obs_rms is not None
    env = agent.make_env()
    obs, info = env.reset(seed=0)
    for _ in range(20):
        a = agent.act(obs, info["action_mask"], env)
        assert info["action_mask"][a]  # masked prediction picks a valid action
        obs, _, term, trunc, info = env.step(a)
        if term or trunc:
            break
    assert SB3Agent(trained / "final.zip").model.num_timesteps >= 64


def test_sb3_agent_refuses_another_env(trained):
    agent = SB3Agent(trained)
    agent.check_env("octogym/TBUAssign-v0", {"requests_per_episode": 20})
    with pytest.raises(ValueError, match="requests_per_episode"):
        agent.check_env("octogym/TBUAssign-v0", {"requests_per_episode": 50})
    with pytest.raises(ValueError, match="'load'"):
        agent.check_env("octogym/TBUAssign-v0", {"requests_per_episode": 20, "load": 0.5})
    with pytest.raises(ValueError, match="ClusterAssign"):
        agent.check_env("octogym/ClusterAssign-v0", {"requests_per_episode": 20})
    with pytest.raises(ValueError, match="may only override"):
        agent.make_env(load=0.5)
    cfg = json.loads((trained / "config.json").read_text())
    assert cfg["env_kwargs"] == {"requests_per_episode": 20}
