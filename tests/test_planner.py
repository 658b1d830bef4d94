"""The rollout planner (octogym.planner): spec parsing, k = 1 is its base exactly, whole runs
at every level, the agent, and that planning does not lose to the base."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import octogym  # noqa: F401  (registers the env ids)
from octogym.agents.base import HeuristicAgent, make_agent
from octogym.agents.rollout import RolloutAgent
from octogym.planner import RolloutConfig
from octogym.simulator import Simulation


@pytest.mark.parametrize("spec, msg", [
    ("rollout", "must be"), ("rollout:nope", "not a kernel scheduler"),
    ("rollout:adaptive:x=1", "key one of"), ("rollout:adaptive:k=two", "is not a int"),
    ("rollout:adaptive:level=chip", "level must be"),
    ("rollout:adaptive:resample=0,R=2", "R = 1"), ("rollout:adaptive:H=0", "H > 0"),
    ("rollout:adaptive:resample=3", "resample must be 0, 1 or 2"),
])
def test_bad_specs_are_named(spec, msg):
    with pytest.raises(ValueError, match=msg):
        RolloutConfig.parse(spec)


def test_spec_defaults_and_name():
    cfg = RolloutConfig.parse("rollout:eft:k=3,R=2")
    assert (cfg.base, cfg.level, cfg.k, cfg.R, cfg.resample) == ("eft", "both", 3, 2, 1)
    assert RolloutConfig.parse(cfg.name) == cfg


@pytest.mark.parametrize("hw", ["chip", "wafer"])
@pytest.mark.parametrize("base", ["adaptive", "round_robin", "static"])
def test_k1_is_the_base_itself(hw, base):
    kw = dict(hardware=hw, load=0.9, n_requests=50, seed=4, batch=2)
    ref = Simulation(policy=base, **kw).run()
    sim = Simulation(policy=f"rollout:{base}:k=1", **kw)
    got = sim.run()
    assert [r.to_dict() for r in got] == [r.to_dict() for r in ref]
    assert sim.planner_stats["decisions"] > 0


@pytest.mark.parametrize("level", ["tbu", "cluster", "both"])
def test_planner_runs_at_every_level(level):
    sim = Simulation(policy=f"rollout:adaptive:level={level},k=3,R=2,H=3", hardware="chip",
                     load=0.9, n_requests=40, seed=1, batch=2)
    res = sim.run()
    assert all(r.n_requests == 40 for r in res)
    assert sim.planner_stats["rollouts"] == pytest.approx(
        sim.planner_stats["decisions"] * 2 * 3, rel=0.5)


def test_planner_does_not_lose_to_its_base():
    kw = dict(hardware="chip", load=0.9, n_requests=80, seed=8, batch=3)
    base = np.mean([r.latency_mean for r in Simulation(policy="adaptive", **kw).run()])
    plan = np.mean([r.latency_mean for r in Simulation(policy="rollout:adaptive", **kw).run()])
    assert plan <= base * 1.02, (plan, base)


def test_agent_k1_acts_as_the_heuristic_agent():
    env = gym.make("octogym/TBUAssign-v0", requests_per_episode=20, controller="adaptive")
    agent = make_agent("rollout:adaptive:k=1")
    assert isinstance(agent, RolloutAgent)
    heur = HeuristicAgent("adaptive")
    obs, info = env.reset(seed=3)
    for _ in range(10_000):
        a = agent.act(obs, info["action_mask"], env)
        assert a == heur.act(obs, info["action_mask"], env)
        obs, r, term, trunc, info = env.step(a)
        if term or trunc:
            break
    assert term


@pytest.mark.parametrize("env_id", ["octogym/TBUAssign-v0", "octogym/ClusterAssign-v0"])
def test_agent_plays_single_and_vector_envs(env_id):
    agent = make_agent("rollout:adaptive:k=3,H=2")
    env = gym.make(env_id, requests_per_episode=15)
    obs, info = env.reset(seed=1)
    term = False
    while not term:
        a = agent.act(obs, info["action_mask"], env)
        assert info["action_mask"][a]
        obs, r, term, trunc, info = env.step(a)
    venv = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point",
                        requests_per_episode=15)
    obs, info = venv.reset(seed=2)
    for _ in range(20):
        acts = agent.act_batch(obs, info["action_mask"], venv)
        assert info["action_mask"][np.arange(3), acts].all()
        obs, r, term, trunc, info = venv.step(acts)


def test_cluster_agent_k1_acts_as_the_heuristic_agent():
    """Round-robin cluster choice (adaptive's): the base's pointer moves as in the kernel."""
    env = gym.make("octogym/ClusterAssign-v0", requests_per_episode=20, controller="adaptive")
    twin = gym.make("octogym/ClusterAssign-v0", requests_per_episode=20, controller="adaptive")
    agent, heur = make_agent("rollout:adaptive:k=1"), HeuristicAgent("adaptive")
    (obs, info), (obs2, info2) = env.reset(seed=5), twin.reset(seed=5)
    seen = set()
    for _ in range(10_000):
        a = agent.act(obs, info["action_mask"], env)
        assert a == heur.act(obs2, info2["action_mask"], twin)
        seen.add(a)
        obs, r, term, trunc, info = env.step(a)
        obs2, r2, term2, trunc2, info2 = twin.step(a)
        assert r == r2
        if term:
            break
    assert term and len(seen) > 1


def test_headroom_rows_pair_seeds_and_respect_the_bound():
    from octogym.headroom import run_headroom, summarise

    rows = run_headroom(["env-chip"], 2, 20, ["level=both,k=2,R=1,H=2"], log=lambda m: None)
    arms = {r["arm"] for r in rows}
    assert {"best", "eft", "bound", "bound:path", "bound:capacity"} <= arms
    assert any(a.startswith("rollout:") for a in arms)
    bound = {r["seed"]: r["latency_mean"] for r in rows if r["arm"] == "bound"}
    for r in rows:
        if not r["arm"].startswith("bound"):
            assert r["latency_mean"] >= bound[r["seed"]]
    summ = summarise(rows)
    assert all(s["seeds"] == 2 for s in summ)
    best = next(s for s in summ if s["arm"] == next(r["best"] for r in rows if r["arm"] == "best"))
    assert best["vs_best"] == 0.0


def test_z_guard_keeps_the_base_unless_the_saving_is_clear():
    sim = Simulation(policy="adaptive", hardware="chip", n_requests=5)
    from octogym.planner import RolloutPlanner

    noisy = np.array([[10.0, 20.0, 30.0, 40.0], [12.0, 14.0, 31.0, 38.0]])  # saves 1.25, sd 2.9
    clear = np.array([[10.0, 20.0, 30.0, 40.0], [9.0, 19.0, 29.0, 39.0]])  # saves 1 each time
    guarded = RolloutPlanner(sim, RolloutConfig.parse("rollout:adaptive:R=4,z=2"))
    plain = RolloutPlanner(sim, RolloutConfig.parse("rollout:adaptive:R=4,z=0"))
    assert guarded._pick(noisy) == 0 and plain._pick(noisy) == 1
    assert guarded._pick(clear) == 1
    assert plain._pick(np.array([[5.0, 5.0], [5.0, 5.0]])) == 0  # ties: the base


@pytest.mark.parametrize("base", ["octopus", "proactive"])
def test_provision_level_k1_is_the_base_and_k4_plans(base):
    kw = dict(hardware="chip", load=0.9, n_requests=60, seed=3, batch=2)
    ref = [r.to_dict() for r in Simulation(policy=base, **kw).run()]
    one = Simulation(policy=f"rollout:{base}:level=provision,k=1", **kw)
    assert [r.to_dict() for r in one.run()] == ref
    assert one.planner_stats["decisions"] > 0
    sim = Simulation(policy=f"rollout:{base}:level=provision,k=4,R=2,H=4", **kw)
    assert all(r.n_requests == 60 for r in sim.run())
    assert sim.planner_stats["rollouts"] > 2 * sim.planner_stats["decisions"]


def test_provision_candidates_are_keep_and_valid_reconfigurations():
    from octogym.kernel import fields as L
    from octogym.kernel.layout import EXT_PROVISION, ST_DECISION, TBU_IDLE
    from octogym.kernel.provision import keep_action
    from octogym.planner import RolloutPlanner

    sim = Simulation(policy="octopus", hardware="chip", load=0.9, n_requests=60, seed=3)
    assert sim.advance(ext=EXT_PROVISION)[0] == ST_DECISION
    planner = RolloutPlanner(sim, RolloutConfig.parse("rollout:octopus:level=provision,k=0"))
    S, ncfg, K = sim.state, sim.model.CFG.shape[1], sim.hw.tbus_per_cluster
    c = int(S.SC[0, L.SC_PROV_CLUSTER]) - 1
    cands = planner.candidates(0)
    keep = int(keep_action(sim.model))
    assert cands[:2] == [-2, keep]  # the base's move, then keep
    for a in cands[2:]:
        u, g = c * K + a // ncfg, a % ncfg
        assert S.TB[0, L.TB_STATE, u] == TBU_IDLE and S.TB[0, L.TB_QL, u] == 0
        assert S.TB[0, L.TB_CFG, u] != g


def test_headroom_provision_arms_replay_their_controllers():
    from octogym.headroom import run_headroom

    rows = run_headroom(["env-chip"], 2, 30, [], log=lambda m: None, levels=("provision",))
    lat = {}
    for r in rows:
        lat.setdefault(r["arm"], []).append(r["latency_mean"])
    assert lat["provision:octopus@octopus"] == lat["octopus"]  # its own hook: the kernel run
    assert lat["provision:static@eft"] == lat["eft"]  # keep: eft's run, epochs change nothing
    assert any(a.startswith("rollout:eft:level=provision") for a in lat)
    with pytest.raises(ValueError, match="levels"):
        run_headroom(["env-chip"], 1, 10, [], levels=("chip",))


def test_agent_plays_the_provision_env_with_valid_actions():
    env = gym.make("octogym/Provision-v0", requests_per_episode=30)
    agent = make_agent("rollout:octopus:k=4,R=2,H=4")
    (obs, info), seen = env.reset(seed=2), set()
    for _ in range(10_000):
        a = agent.act(obs, info["action_mask"], env)
        assert info["action_mask"][a], a
        seen.add(a)
        obs, _, term, trunc, info = env.step(a)
        if term or trunc:
            break
    assert term and len(seen) > 1  # it reconfigures, not only keeps


def test_reactive_serves_a_configuration_an_agent_left_unheld():
    """A planner's placements can reconfigure away the machine's last TBU of a configuration
    (``reactive`` itself never does); a TB needing it was then parked at home with every TBU
    idle and waited forever (the run stalled: docs/results.md, Surprises). ``reactive`` now
    presses a configuration no TBU holds as soon as one job waits for it."""
    from octogym.evaluation.scenarios import EVAL_SEED, SCENARIOS
    from octogym.headroom import with_reconfig
    from octogym.kernel import fields as L
    from octogym.planner import run_planned

    sc = with_reconfig(SCENARIOS["env-chip"], 200_000)
    sim = Simulation(sc.workflows, sc.hardware, load=sc.sim_load(100), n_requests=100,
                     seed=EVAL_SEED, member_offset=6, slowdown=dict(sc.slowdown) or None,
                     tbu_init=sc._tbu_init(100),
                     policy="rollout:reactive:level=place,k=8,R=1,H=8,resample=0")
    run_planned(sim, RolloutConfig.parse(sim.policy_name), until=6_000_000)
    S, M = sim.state, sim.model
    waiting_for = set()  # configurations of the TBs parked in any cluster's backlog
    for c in range(sim.hw.n_clusters):
        j = int(S.CL[0, L.CL_BL_HEAD, c])
        for _ in range(int(S.CL[0, L.CL_BL_LEN, c])):
            waiting_for.add(int(M.MB[L.MB_BLK_CFG, S.JB[0, j, L.JB_BLOCK]]))
            j = int(S.JB[0, j, L.JB_NEXT])
    held = set(S.TB[0, L.TB_CFG].tolist())
    assert int(S.SC[0, L.SC_N_DONE]) > 5 and waiting_for <= held


@pytest.mark.parametrize("rule", ["fifo", "srw"])
def test_dispatch_level_k1_is_the_rule_and_candidates_are_the_kernels(rule):
    """At the dispatch level the base's move is the run's dispatch rule (k = 1 replays it bit
    for bit); the oracle's candidates are every dispatch candidate of the freed TBU."""
    from octogym.kernel import fields as L
    from octogym.kernel.dispatch import dispatch_count
    from octogym.kernel.layout import EXT_DISPATCH, ST_DECISION
    from octogym.planner import RolloutPlanner

    kw = dict(hardware="chip", load=1.5, n_requests=60, seed=3, batch=2, dispatch=rule)
    ref = [r.to_dict() for r in Simulation(policy="eft", **kw).run()]
    one = Simulation(policy="rollout:eft:level=dispatch,k=1", **kw)
    assert [r.to_dict() for r in one.run()] == ref
    assert one.planner_stats["decisions"] > 0
    sim = Simulation(policy="eft", **kw)
    st = sim.advance(ext=EXT_DISPATCH)
    b = int(np.flatnonzero(st == ST_DECISION)[0])
    planner = RolloutPlanner(sim, RolloutConfig.parse("rollout:eft:level=dispatch,k=0"))
    n = int(dispatch_count(sim.model, sim.state, b, int(sim.state.SC[b, L.SC_DEC_TBU]),
                           sim.policy))
    assert n >= 2 and planner.candidates(b) == [-2, *range(n)]
    orc = Simulation(policy="rollout:eft:level=dispatch,k=0,R=1,H=4,resample=0", **kw)
    assert all(r.n_requests == 60 for r in orc.run())
    assert orc.planner_stats["rollouts"] > orc.planner_stats["decisions"]


def test_headroom_load_option_plays_the_scenario_at_that_load():
    from octogym.evaluation import SCENARIOS
    from octogym.headroom import run_headroom, with_load

    sc = with_load(SCENARIOS["env-chip"], 1.3)
    assert (sc.name, sc.load, sc.sim_load(50)) == ("env-chip@load1.3", 1.3, 1.3)  # envs' basis
    busy = with_load(SCENARIOS["mix-chip"], 0.9)
    assert busy.sim_load(4000) == pytest.approx(SCENARIOS["mix-chip"].sim_load(4000) * 0.9 / 0.7)
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="load must be"):
            with_load(sc, bad)
    rows = run_headroom(["env-chip"], 2, 30, [], log=lambda m: None, load=1.3)
    heavy = {r["seed"]: r["latency_mean"] for r in rows if r["arm"] == "eft"}
    assert {r["scenario"] for r in rows} == {"env-chip@load1.3"}
    base = run_headroom(["env-chip"], 2, 30, [], log=lambda m: None)
    light = {r["seed"]: r["latency_mean"] for r in base if r["arm"] == "eft"}
    assert heavy != light  # the load reached the runs
