"""The Provision level: at every epoch, cluster by cluster, which idle TBUs to reconfigure.

The checks every id gets (Gymnasium's and SB3's check_env, determinism, pickling, sync / async /
native agreement, compiled observation = numpy reference, rendering, rewards) run over
``ENV_IDS`` in tests/test_envs.py and tests/test_envs_vector.py, which include the Provision
ids. Here: exactness of every scheduler's provisioning, the mask's meaning, invalid actions."""

import gymnasium as gym
import numpy as np
import pytest

import octogym  # noqa: F401
from octogym.agents import EXACT, HeuristicAgent
from octogym.kernel import fields as L
from octogym.kernel.layout import DEC_PROVISION, EXT_PROVISION, ST_DECISION, TBU_IDLE
from octogym.kernel.loop import POLICY_ACTION
from octogym.schedulers import DEFAULT_EPOCH, SCHEDULERS
from octogym.simulator import Simulation

KW = {"requests_per_episode": 50, "load": 0.9}


def play(env, seed, agent):
    obs, info = env.reset(seed=seed)
    while True:
        obs, _, term, trunc, info = env.step(agent.act(obs, info["action_mask"], env))
        if term or trunc:
            return info["metrics"]


def kernel_run(hw, seed, name, n=KW["requests_per_episode"], load=KW["load"]):
    """The kernel-only run, with the epoch the Provision env gives a scheduler without one."""
    epoch = DEFAULT_EPOCH if SCHEDULERS[name].epoch == 0 else None
    return Simulation(None, hw, load=load, n_requests=n, seed=seed, policy=name,
                      epoch=epoch).run()[0].to_dict()


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_scheduler_is_exact_through_provision(name):
    """provision_choice answers what on_epoch would do next in the pending cluster, so the
    agent's reconfigurations are the kernel-only run's, metric for metric."""
    # the fair reactive reconfigures only under real pressure: 0-1 times in 50 requests at
    # load 0.9, 3 in 100 at load 1.0 (seeds 0, 1)
    kw = {"requests_per_episode": 100, "load": 1.0} if name == "reactive" else KW
    env = gym.make("octogym/Provision-v0", controller=name, **kw)
    agent = HeuristicAgent(name)
    for seed in (0, 1):
        m = play(env, seed, agent)
        ref = kernel_run(env.unwrapped.core.hw, seed, name, kw["requests_per_episode"],
                         kw["load"])
        assert {k: v for k, v in m.items() if k in ref} == ref
        assert m["env_invalid_actions"] == 0 and m["invalid_actions"] == 0
        if name in ("reactive", "proactive", "octopus"):
            assert m["reconfigurations"] > 0  # the agent, not the controller, made them
    assert agent.fallbacks == 0
    assert name in EXACT["Provision"]


def test_exact_on_the_wafer():
    env = gym.make("octogym/Provision-Wafer-v0", controller="octopus",
                   requests_per_episode=30, load=0.9)
    agent = HeuristicAgent("octopus")
    m = play(env, 2, agent)
    ref = kernel_run(env.unwrapped.core.hw, 2, "octopus", n=30)
    assert {k: v for k, v in m.items() if k in ref} == ref


def test_agent_provisioning_under_another_controller():
    """The demand averages are kept whatever the controller: proactive's provisioning through
    an adaptive controller reconfigures, and differs from adaptive alone."""
    env = gym.make("octogym/Provision-v0", controller="adaptive", **KW)
    m = play(env, 0, HeuristicAgent("proactive"))
    ref = kernel_run(env.unwrapped.core.hw, 0, "adaptive")
    assert m["reconfigurations"] > ref["reconfigurations"]


def test_policy_action_in_the_kernel_equals_the_kernel_only_run():
    for name in ("reactive", "octopus"):
        sim = Simulation(None, "chip", load=0.9, n_requests=40, seed=5, policy=name)
        st = sim.advance(ext=EXT_PROVISION)
        n = 0
        while st[0] == ST_DECISION:
            st = sim.advance(actions=np.array([POLICY_ACTION]), ext=EXT_PROVISION)
            n += 1
        ref = Simulation(None, "chip", load=0.9, n_requests=40, seed=5, policy=name).run()
        assert sim.result(0).to_dict() == ref[0].to_dict()
        assert n > 16  # at least one epoch's worth of decisions


def test_mask_and_random_valid_actions():
    env = gym.make("octogym/Provision-v0", **KW)
    core = env.unwrapped.core
    K, G, C = core.K, core.sim.model.CFG.shape[1], core.C
    assert env.action_space.n == K * G + 1
    rng = np.random.default_rng(1)
    _, info = env.reset(seed=3)
    seen, reconf, steps = set(), 0, 0
    while True:
        S = core.sim.state
        assert S.SC[0, L.SC_DEC_KIND] == DEC_PROVISION
        c = int(S.SC[0, L.SC_PROV_CLUSTER]) - 1
        seen.add(c)
        mask = info["action_mask"]
        tbus = np.arange(c * K, (c + 1) * K)
        free = (S.TB[0, L.TB_STATE, tbus] == TBU_IDLE) & (S.TB[0, L.TB_QL, tbus] == 0)
        want = free[:, None] & (S.TB[0, L.TB_CFG, tbus][:, None] != np.arange(G))
        np.testing.assert_array_equal(mask[:-1], want.reshape(-1))
        assert mask[-1]
        a = int(rng.choice(np.flatnonzero(mask))) if rng.random() < 0.2 else K * G
        reconf += a < K * G
        _, _, term, trunc, info = env.step(a)
        steps += 1
        if term or trunc:
            break
    m = info["metrics"]
    assert seen == set(range(C)) and reconf > 0
    assert m["reconfigurations"] >= reconf and m["invalid_actions"] == 0
    assert m["n_requests"] == KW["requests_per_episode"]


def test_invalid_actions_become_the_nearest_valid_one():
    env, twin = gym.make("octogym/Provision-v0", **KW), gym.make("octogym/Provision-v0", **KW)
    _, info = env.reset(seed=5)
    twin.reset(seed=5)
    n_bad = 0
    for i in range(300):
        mask = info["action_mask"]
        masked = np.flatnonzero(~mask)
        bad = int(masked[0]) if masked.size and i % 2 else [-3, 10**6][n_bad % 2]
        d = np.abs(np.arange(len(mask)) - bad).astype(float)
        d[~mask] = np.inf
        good = int(np.argmin(d))
        n_bad += 1
        o1, r1, t1, u1, info = env.step(bad)
        o2, r2, t2, u2, info2 = twin.step(good)
        np.testing.assert_array_equal(o1, o2)
        assert (r1, t1, u1) == (r2, t2, u2)
        assert info["invalid_actions"] == n_bad and info2["invalid_actions"] == 0
        if t1 or u1:
            break
    assert core_invalid(env) == 0  # the kernel never saw one


def core_invalid(env) -> int:
    return int(env.unwrapped.core.sim.state.SC[0, L.SC_N_INVALID])
