"""``switch_averse:<x>`` (agents/switch_averse.py): x = 1 is earliest finish at home, a large x
keeps a TB on a TBU that holds its configuration whenever one can take it, bad specs raise."""

import gymnasium as gym
import numpy as np
import pytest

import octogym  # noqa: F401
from octogym.agents import make_agent
from octogym.agents.switch_averse import SwitchAverseAgent
from octogym.kernel import fields as L
from octogym.kernel.policies import eft_tbu, queued_cfg

KW = {"requests_per_episode": 40, "load": 0.9, "workflow_pool": "generated"}


def decisions(spec):
    """Yield ``(sim, job, home, K, mask, action)`` at every decision of one episode played by
    ``make_agent(spec)``."""
    env = gym.make("octogym/TBUAssign-v0", **KW)
    agent = make_agent(spec)
    sim = env.unwrapped.sim
    K = env.unwrapped.core.hw.tbus_per_cluster
    obs, info = env.reset(seed=3)
    while True:
        S = sim.state
        job = int(S.SC[0, L.SC_DEC_JOB])
        home = int(S.RQ[0, S.JB[0, job, L.JB_REQ], L.RQ_HOME])
        mask = np.asarray(info["action_mask"], bool)
        a = agent.act(obs, mask, env)
        assert mask[a]
        yield sim, job, home, K, mask, a
        obs, _, term, trunc, info = env.step(a)
        if term or trunc:
            return


def test_cost_one_is_earliest_finish_at_home():
    n = 0
    for sim, job, home, K, _, a in decisions("switch_averse:1"):
        assert a == int(eft_tbu(sim.model, sim.state, 0, job, home * K, (home + 1) * K)) - home * K
        n += 1
    assert n > 0


def test_large_cost_keeps_the_configuration_when_it_can():
    """With x = 1000 a TBU that must reconfigure is taken only if no valid home TBU holds (or
    will hold) the TB's configuration; and that happens, and both cases occur."""
    kept = switched = 0
    for sim, job, home, K, mask, a in decisions("switch_averse:1000"):
        M, S = sim.model, sim.state
        cfg = M.MB[L.MB_BLK_CFG, S.JB[0, job, L.JB_BLOCK]]
        holds = [bool(mask[k]) and queued_cfg(M, S, 0, home * K + k) == cfg for k in range(K)]
        if any(holds):
            assert holds[a]
            kept += 1
        else:
            switched += 1
    assert kept > 0 and switched > 0


def test_bad_specs():
    for spec in ("switch_averse", "switch_averse:", "switch_averse:abc", "switch_averse:0.5",
                 "switch_averse:inf", "switch_averse:nan"):
        with pytest.raises(ValueError, match="switch_averse"):
            make_agent(spec)
    assert make_agent("switch_averse:3").name == "switch_averse:3"
    with pytest.raises(TypeError, match="env_state"):
        SwitchAverseAgent("switch_averse:2").act(np.zeros(3), np.ones(3, bool), None)
