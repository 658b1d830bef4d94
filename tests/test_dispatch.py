"""The Dispatch decision level (octogym/kernel/dispatch.py, the ``octogym/Dispatch*`` envs,
the dispatch agents).

The generic env contracts (gymnasium's and SB3's ``check_env``, spaces and masks, seeded
determinism, pickling mid-episode, rendering, rewards summing to the total latency, compiled
observations equal to the numpy reference, native vector env == sync == async) run for the
Dispatch ids through the ``ENV_IDS`` parametrisation of tests/test_envs.py and
tests/test_envs_vector.py. Here: what is specific to dispatch.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from kernel_checks import chain_dict, check_final

import octogym  # noqa: F401  (registers the ids)
from octogym.agents import DispatchAgent, make_agent
from octogym.kernel import fields as L
from octogym.kernel.dispatch import DISPATCH_RULES, dispatch_count, dispatch_job, dispatch_rule
from octogym.kernel.layout import EXT_DISPATCH, ST_DECISION, ST_DONE
from octogym.kernel.loop import POLICY_ACTION
from octogym.simulator import Simulation
from octogym.workflows import expected_frequencies
from octogym.workflows.remaining import remaining_work

SCEN = {"n_requests": 100, "load": 1.0}


def env_metrics(env_id: str, agent, seed: int, **kw) -> dict:
    env = gym.make(env_id, requests_per_episode=SCEN["n_requests"], load=SCEN["load"], **kw)
    obs, info = env.reset(seed=seed)
    while True:
        obs, _, term, trunc, info = env.step(agent(obs, info, env))
        if term or trunc:
            return info["metrics"]


def kernel_metrics(seed: int, **kw) -> dict:
    return Simulation(seed=seed, **SCEN, **kw).run()[0].to_dict()


def same_run(env_m: dict, sim_m: dict) -> None:
    """The env's episode metrics equal the kernel-only run's (the env adds its counters)."""
    assert {k: env_m[k] for k in sim_m} == sim_m


@pytest.mark.parametrize("controller", ["static", "adaptive", "proactive"])
def test_fifo_through_the_env_is_the_kernel_only_run(controller):
    """Answering 0 (the queue's head) at every dispatch decision changes nothing: the run is
    the controller's own kernel-only run, metric for metric."""
    for seed in (0, 1):
        m = env_metrics("octogym/Dispatch-v0", lambda o, i, e: 0, seed, controller=controller)
        assert m["episode_steps"] > 0
        same_run(m, kernel_metrics(seed, policy=controller))


@pytest.mark.parametrize("rule", list(DISPATCH_RULES))
def test_each_rule_through_the_env_is_the_kernel_rule(rule):
    """A DispatchAgent through the env makes exactly the kernel's own rule's run
    (``Simulation(dispatch=rule)``, no env, no pause)."""
    agent = make_agent(rule)
    assert isinstance(agent, DispatchAgent)
    for controller in ("static", "proactive"):
        m = env_metrics("octogym/Dispatch-v0", lambda o, i, e: agent.act(o, i["action_mask"], e),
                        3, controller=controller)
        same_run(m, kernel_metrics(3, policy=controller, dispatch=rule))


def test_rules_change_the_run_and_the_policy_action_is_the_rule():
    """Every non-FIFO rule changes some run (else it would not be tested above; under
    ``random`` queues mix configurations, so even ``config_match`` has a choice), and
    answering POLICY_ACTION at paused decisions equals the rule run without pauses."""
    base = kernel_metrics(0, policy="random")
    for rule in DISPATCH_RULES:
        ref = kernel_metrics(0, policy="random", dispatch=rule)
        assert (ref == base) == (rule == "fifo"), rule
        sim = Simulation(seed=0, policy="random", dispatch=rule, **SCEN)
        st = sim.advance(ext=EXT_DISPATCH)
        while st[0] == ST_DECISION:
            st = sim.advance(ext=EXT_DISPATCH, actions=np.array([POLICY_ACTION]))
        assert st[0] == ST_DONE and sim.result(0).to_dict() == ref


def test_the_chosen_candidate_runs_next():
    """Whatever candidate the agent picks (queued or from the backlog) is the TB its TBU
    starts, at once, and the run stays consistent (``static`` with a reach of 1 fills its
    backlogs, so backlog candidates come up)."""
    sim = Simulation(seed=4, policy="static", policy_params={"reach": 1}, trace_cap=10_000,
                     **SCEN)
    rng = np.random.default_rng(0)
    st = sim.advance(ext=EXT_DISPATCH)
    picked_backlog = 0
    while st[0] == ST_DECISION:
        S = sim.state  # (pools may grow: a new State)
        u = int(S.SC[0, L.SC_DEC_TBU])
        n = int(dispatch_count(sim.model, S, 0, u, sim.policy))
        assert n >= 2
        i = int(rng.integers(n))
        j = int(dispatch_job(sim.model, S, 0, u, i, sim.policy))
        picked_backlog += i >= int(S.TB[0, L.TB_QL, u])
        uid = int(S.RQ[0, S.JB[0, j, L.JB_REQ], L.RQ_UID])
        blk = int(S.JB[0, j, L.JB_BLOCK])
        k = int(S.SC[0, L.SC_N_TRACED])
        st = sim.advance(ext=EXT_DISPATCH, actions=np.array([i]))
        row = sim.state.TR[0, k]
        assert (row[L.TR_TBU], row[L.TR_UID], row[L.TR_BLK]) == (u, uid, blk)
    assert picked_backlog > 0  # the backlog path ran
    assert st[0] == ST_DONE and int(sim.state.SC[0, L.SC_N_INVALID]) == 0
    # every request and TB once, no overlap on a TBU, the idle split sums, reconfigurations
    # follow the trace
    check_final(sim, sim.result(0))


def test_invalid_actions_become_the_nearest_valid_candidate():
    env = gym.make("octogym/Dispatch-v0", requests_per_episode=200)
    obs, info = env.reset(seed=0)
    n_valid = int(info["action_mask"].sum())
    fork = env.unwrapped.fork()
    _, _, _, _, a = env.step(99)  # beyond the last slot -> the last valid one
    _, _, _, _, b = fork.step(n_valid - 1)
    assert a["invalid_actions"] == 1 and b["invalid_actions"] == 0
    assert a["time"] == b["time"]
    np.testing.assert_array_equal(a["action_mask"], b["action_mask"])
    _, _, _, _, c = env.step(-5)  # below the range -> 0
    _, _, _, _, d = fork.step(0)
    assert c["invalid_actions"] == 2 and c["time"] == d["time"]


def test_remaining_work_at_the_entry_is_the_requests_expected_work():
    """The per-block table is exact: from a workflow's entry it is the expected TBU-cycles of
    a whole request (docs/model.md §1, expected frequencies), and it never grows along a
    task's flow."""
    sim = Simulation(n_requests=1)
    mix = sim.mix
    rem = remaining_work(mix)
    for w, wf in enumerate(sim.workflows):
        row = int(mix.wf_phase_off[w])
        assert rem[row, int(mix.wf_entry[w])] == pytest.approx(expected_frequencies(wf).work,
                                                               rel=1e-9)
    assert (rem >= 0).all()
    np.testing.assert_array_equal(sim.model.rem_work, rem)


def test_layout_does_not_grow_with_the_machine():
    a, b = gym.make("octogym/Dispatch-v0"), gym.make("octogym/Dispatch-Wafer-v0")
    assert a.observation_space == b.observation_space and a.action_space == b.action_space


def test_bad_dispatch_names():
    with pytest.raises(ValueError, match="dispatch must be one of"):
        Simulation(dispatch="lifo")
    with pytest.raises(ValueError, match="dispatch must be one of"):
        Simulation(dispatch=["sed"])
    with pytest.raises(ValueError, match="unknown dispatch rule"):
        DispatchAgent("lifo")
    env = gym.make("octogym/TBUAssign-v0", requests_per_episode=5)
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="no dispatch decision"):
        make_agent("sed").act(None, None, env)


def test_vector_agent_acts_per_member():
    venv = gym.make_vec("octogym/Dispatch-v0", num_envs=3, vectorization_mode="vector_entry_point",
                        requests_per_episode=20)
    obs, info = venv.reset(seed=0)
    agent = make_agent("srw")
    acts = agent.act_batch(obs, info["action_mask"], venv)
    sim = venv.unwrapped.core.sim
    for b in range(3):
        u = int(sim.state.SC[b, L.SC_DEC_TBU])
        assert acts[b] == dispatch_rule(sim.model, sim.state, b, u, DISPATCH_RULES["srw"],
                                        sim.policy)
        assert info["action_mask"][b, acts[b]]


def test_episodes_without_a_decision_are_skipped():
    """A short episode under adaptive placement usually has no dispatch decision: the member
    plays the next episode of its seed chain (counted); a scenario that can never have one is
    an error naming the cause."""
    env = gym.make("octogym/Dispatch-v0", requests_per_episode=20, controller="adaptive")
    obs, info = env.reset(seed=0)
    core = env.unwrapped.core
    assert core.skipped_episodes[0] > 0 and core.episode[0] == core.skipped_episodes[0]
    assert info["action_mask"].sum() >= 2 and env.observation_space.contains(obs)
    # one chain of tasks, one request: never two TBs waiting for a TBU
    env = gym.make("octogym/Dispatch-v0", workflows=chain_dict(3, 1000, 0),
                   requests_per_episode=1, controller="adaptive")
    with pytest.raises(RuntimeError, match="before its first Dispatch decision in 101 "
                                           "episodes in a row"):
        env.reset(seed=0)


@pytest.mark.parametrize(("policy", "rule"), [("adaptive", "srw"), ("eft", "config_match")])
def test_rules_with_contention_buffers_and_decision_costs_keep_the_invariants(policy, rule):
    """A dispatched backlog job's transfer reserves links and frees its producer's output
    place like any placement; a TBU with a full output buffer gets no dispatch decision. The
    run finishes consistent, with every mechanism at work."""
    from octogym.hardware import CONTROL_PLANE_REALISTIC

    hw = {"preset": "chip", "noc_contention": True, "output_buffer": 1,
          **CONTROL_PLANE_REALISTIC}
    sim = Simulation(seed=1, policy=policy, dispatch=rule, hardware=hw, trace_cap=10_000,
                     **SCEN)
    st = sim.advance(ext=EXT_DISPATCH)
    n = 0
    while st[0] == ST_DECISION:
        n += 1
        st = sim.advance(ext=EXT_DISPATCH, actions=np.array([n % 3]))
    assert st[0] == ST_DONE and n > 0
    res = sim.result(0)
    check_final(sim, res)
    cont = sim.contention(0)
    assert cont["link_wait"] > 0 and cont["output_blocked"] > 0


def test_a_scheduler_agent_dispatches_as_the_kernel_does():
    """HeuristicAgent(name) at a dispatch decision answers the member's own rule (FIFO: a
    scheduler has none), so it plays the controller's kernel-only run (train.py's held-out
    references use it)."""
    agent = make_agent("static")
    m = env_metrics("octogym/Dispatch-v0", lambda o, i, e: agent.act(o, i["action_mask"], e), 0,
                    controller="static")
    assert m["episode_steps"] > 0
    same_run(m, kernel_metrics(0, policy="static"))
