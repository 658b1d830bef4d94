"""The Place level: a ready TB to any TBU of the machine, or wait in a cluster's backlog.

The checks every id gets (Gymnasium's and SB3's check_env, determinism, pickling, sync / async /
native agreement, compiled observation = numpy reference, rendering, rewards) run over
``ENV_IDS`` in tests/test_envs.py and tests/test_envs_vector.py, which include the Place ids.
Here: exactness of every scheduler through Place, the mask's meaning, invalid actions."""

import gymnasium as gym
import numpy as np
import pytest

import octogym  # noqa: F401
from octogym.agents import EXACT, HeuristicAgent, make_agent
from octogym.kernel import fields as L
from octogym.kernel.layout import DEC_PLACE, TBU_IDLE
from octogym.schedulers import SCHEDULERS
from octogym.simulator import Simulation

KW = {"requests_per_episode": 50, "load": 0.9}


def play(env, seed, agent):
    obs, info = env.reset(seed=seed)
    while True:
        obs, _, term, trunc, info = env.step(agent.act(obs, info["action_mask"], env))
        if term or trunc:
            return info["metrics"]


def kernel_run(hw, seed, name, **kw):
    return Simulation(None, hw, load=kw.get("load", KW["load"]),
                      n_requests=kw.get("requests_per_episode", KW["requests_per_episode"]),
                      seed=seed, policy=name).run()[0].to_dict()


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_scheduler_is_exact_through_place(name):
    """decide_tbu's every answer (a TBU anywhere, a park at home or elsewhere) is an action,
    so replaying it reproduces the kernel-only run, metric for metric, with no fallback."""
    env = gym.make("octogym/Place-v0", controller=name, **KW)
    agent = HeuristicAgent(name)
    for seed in (0, 1):
        m = play(env, seed, agent)
        ref = kernel_run(env.unwrapped.core.hw, seed, name)
        assert {k: v for k, v in m.items() if k in ref} == ref
        assert m["env_invalid_actions"] == 0 and m["invalid_actions"] == 0
    assert agent.fallbacks == 0
    assert name in EXACT["Place"]


@pytest.mark.parametrize("name", ["eft", "static"])
def test_exact_on_the_wafer_and_under_overload(name):
    kw = {"requests_per_episode": 30, "load": 1.5}
    env = gym.make("octogym/Place-Wafer-v0", controller=name, **kw)
    agent = HeuristicAgent(name)
    m = play(env, 3, agent)
    ref = kernel_run(env.unwrapped.core.hw, 3, name, **kw)
    assert {k: v for k, v in m.items() if k in ref} == ref
    assert agent.fallbacks == 0


def test_heuristic_agent_batches_on_the_native_vector_env():
    n, name = 3, "static"
    venv = gym.make_vec("octogym/Place-v0", num_envs=n, vectorization_mode="vector_entry_point",
                        controller=name, **KW)
    agent = HeuristicAgent(name)
    obs, info = venv.reset(seed=[0, 1, 2])
    metrics = {}
    while len(metrics) < n:
        a = agent.act_batch(obs, info["action_mask"], venv)
        obs, _, term, trunc, info = venv.step(a)
        for b in np.flatnonzero(term | trunc):
            metrics.setdefault(int(b), info["final_info"]["metrics"]["latency_mean"][b])
    hw = venv.unwrapped.core.hw
    for b in range(n):
        assert metrics[b] == kernel_run(hw, b, name)["latency_mean"]
    assert agent.fallbacks == 0


def test_park_actions_are_valid_exactly_where_a_slot_will_free():
    # short queues and every request at t = 0, so home clusters fill up
    env = gym.make("octogym/Place-v0", hardware={"preset": "chip", "queue_capacity": 2},
                   arrival="closed", requests_per_episode=40)
    core = env.unwrapped.core
    T, C, K, Q = core.T, core.C, core.K, core.Q
    _, info = env.reset(seed=4)
    parks = full_home = 0
    rng = np.random.default_rng(0)
    while True:
        S = core.sim.state
        assert S.SC[0, L.SC_DEC_KIND] == DEC_PLACE
        mask = info["action_mask"]
        busy = (S.TB[0, L.TB_STATE] != TBU_IDLE).reshape(C, K).any(axis=1)
        np.testing.assert_array_equal(mask[:T], S.TB[0, L.TB_QL] < Q)
        np.testing.assert_array_equal(mask[T:], busy)
        home = int(core.home[0])
        full_home += not mask[home * K:(home + 1) * K].any()
        # a home TBU (filling the home cluster), else wait at home now and then, else any
        at_home = np.flatnonzero(mask[home * K:(home + 1) * K]) + home * K
        if at_home.size:
            a = int(rng.choice(at_home))
        elif mask[T + home] and rng.random() < 0.5:
            a = T + home
        else:
            a = int(rng.choice(np.flatnonzero(mask)))
        parks += a >= T
        _, _, term, trunc, info = env.step(a)
        if term or trunc:
            break
    m = info["metrics"]
    assert m["n_requests"] == 40 and m["invalid_actions"] == 0
    assert parks > 0 and full_home > 0  # offered also when the home cluster is full


def test_parking_everything_far_away_never_strands_work():
    # always the highest valid action (a park in the last cluster with a busy TBU): parked
    # TBs pile up beyond a cluster's free slots and the agent re-parks what is re-offered
    # elsewhere; the kernel re-offers a cluster's whole backlog once none of its TBUs will
    # free a slot again (before, this stalled the run; 2 TBUs per cluster stalled soonest)
    env = gym.make("octogym/Place-v0", hardware={"preset": "chip", "tbus_per_cluster": 2},
                   requests_per_episode=30)
    core = env.unwrapped.core
    _, info = env.reset(seed=1)
    episodes = parks = 0
    while episodes < 3:
        a = int(np.flatnonzero(info["action_mask"])[-1])
        parks += a >= core.T
        _, _, term, trunc, info = env.step(a)
        if term or trunc:
            assert info["metrics"]["n_requests"] == 30
            episodes += 1
            _, info = env.reset()
    assert parks > 100


def test_invalid_actions_become_the_nearest_valid_one():
    kw = {"requests_per_episode": 30, "load": 1.5}
    env, twin = gym.make("octogym/Place-v0", **kw), gym.make("octogym/Place-v0", **kw)
    _, info = env.reset(seed=5)
    twin.reset(seed=5)
    n_bad = 0
    while True:
        mask = info["action_mask"]
        masked = np.flatnonzero(~mask)
        bad = int(masked[0]) if masked.size and n_bad % 3 == 0 else [-3, 10**6, 2.5][n_bad % 3]
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
    assert info["metrics"]["invalid_actions"] == 0  # the kernel never saw one


def test_kernel_resolves_raw_place_actions():
    """The kernel's own handling of a raw action (Simulation.advance, no env): a park code,
    a full TBU and an out-of-range action, each the documented fallback."""
    from octogym.kernel.layout import EXT_PLACE, ST_DECISION
    sim = Simulation(None, "chip", load=1.5, n_requests=20, seed=0, policy="least_loaded")
    T, C = sim.hw.n_tbus, sim.hw.n_clusters
    st = sim.advance(ext=EXT_PLACE)
    n = 0
    while st[0] == ST_DECISION:
        a = [T + C + 5, 0, -7][n % 3]  # out of range, TBU 0 (often full), negative
        st = sim.advance(actions=np.array([a]), ext=EXT_PLACE)
        n += 1
    S = sim.state
    assert S.SC[0, L.SC_N_DONE] == 20
    assert S.SC[0, L.SC_N_INVALID] >= 2 * (n // 3)  # out of range and negative, at least


@pytest.mark.parametrize("base", ["static", "eft"])
def test_rollout_planner_at_the_place_level(base):
    """``level=place``: with k = 1 the planner is its base (every base answer is a Place
    action); with more candidates it runs (any TBU or a wait) and finishes."""
    kw = dict(hardware="chip", load=0.9, n_requests=40, seed=4, batch=2)
    ref = Simulation(policy=base, **kw).run()
    sim = Simulation(policy=f"rollout:{base}:level=place,k=1", **kw)
    assert [r.to_dict() for r in sim.run()] == [r.to_dict() for r in ref]
    sim = Simulation(policy=f"rollout:{base}:level=place,k=3,R=2,H=3", **kw)
    assert all(r.n_requests == 40 for r in sim.run())
    assert sim.planner_stats["rollouts"] > 0


def test_rollout_agent_plays_place():
    env = gym.make("octogym/Place-v0", requests_per_episode=15, controller="static")
    k1, heur = make_agent("rollout:static:k=1"), HeuristicAgent("static")
    obs, info = env.reset(seed=1)
    term = False
    while not term:
        a = k1.act(obs, info["action_mask"], env)
        assert a == heur.act(obs, info["action_mask"], env)  # static: no policy state
        obs, _, term, _, info = env.step(a)
    agent = make_agent("rollout:eft:k=3,H=2")
    obs, info = env.reset(seed=2)
    for _ in range(30):
        a = agent.act(obs, info["action_mask"], env)
        assert info["action_mask"][a]
        obs, _, term, _, info = env.step(a)
        if term:
            break


def test_parks_are_decisions_that_take_no_simulated_time():
    # Why a per-decision discount misleads learning at Place (docs/results.md §8, "Place and
    # Provision"): a park is usually re-offered at the same cycle, so a parking policy makes
    # many decisions per unit of simulated time, each one discounted by gamma at no cost;
    # placing every TB at once (least_loaded) makes far fewer zero-time decisions.
    def zero_time_share(act):
        env = gym.make("octogym/Place-v0", **KW)
        _, info = env.reset(seed=3)
        t, same, steps, done = info["time"], 0, 0, False
        while not done:
            _, _, term, trunc, info = env.step(act(info["action_mask"], env))
            same += info["time"] == t
            t, steps, done = info["time"], steps + 1, term or trunc
        return same / steps

    T = gym.make("octogym/Place-v0", **KW).unwrapped.core.T
    agent = HeuristicAgent("least_loaded")

    def park_first(mask, env):  # the first valid park if there is one, else the first TBU
        parks = np.flatnonzero(mask[T:])
        return int(T + parks[0]) if parks.size else int(np.flatnonzero(mask)[0])

    parking, placing = zero_time_share(park_first), zero_time_share(
        lambda mask, env: agent.act(None, mask, env))
    assert parking > 0.8 and parking > placing + 0.2
