"""Fork / clone of simulation state (octogym.kernel.fork, Simulation.clone/fork, env.fork,
vector clone_member): a clone given the same actions is its source, event for event; clones
given different actions share arrivals, durations and branch outcomes (common random
numbers)."""

from __future__ import annotations

from collections import Counter

import gymnasium as gym
import numpy as np
import pytest

import octogym  # noqa: F401  (registers the env ids)
from octogym.kernel import fields as L
from octogym.kernel.fork import clone_rows, redraw_waiting_durations
from octogym.kernel.layout import ST_DONE, ST_TIME, TBU_RUN, State
from octogym.schedulers import SCHEDULERS
from octogym.simulator import Simulation
from octogym.workflows.distributions import DUR_FIXED

TRACE = 20_000


def member(sim: Simulation, b: int) -> list[np.ndarray]:
    return [np.array(a[b]) for a in sim.state]


def assert_members_equal(sim: Simulation, a: int, b: int) -> None:
    for name, x, y in zip(State._fields, member(sim, a), member(sim, b), strict=True):
        assert np.array_equal(x, y), f"State.{name} differs between members {a} and {b}"


def tb_multiset(sim: Simulation, b: int) -> Counter:
    """(request, block, run cycles) of every TB execution: the draws, whatever the placement."""
    S = sim.state
    n = int(S.SC[b, L.SC_N_TRACED])
    tr = S.TR[b, :n]
    return Counter(zip(tr[:, L.TR_UID].tolist(), tr[:, L.TR_BLK].tolist(),
                       (tr[:, L.TR_END] - tr[:, L.TR_START]).tolist(), strict=True))


@pytest.mark.parametrize("hw", ["chip", "wafer"])
@pytest.mark.parametrize("policy", sorted(SCHEDULERS))
def test_fork_mid_run_equals_unforked_run(hw, policy):
    n = 60 if hw == "chip" else 120
    kw = dict(hardware=hw, load=0.9, n_requests=n, seed=3, policy=policy, trace_cap=TRACE,
              epoch=20_000)
    ref = Simulation(batch=1, **kw)
    ref.run()
    sim = Simulation(batch=3, **kw)
    t_mid = int(ref.state.SC[0, L.SC_T_END]) // 2
    st = sim.advance(until=t_mid)
    assert st[0] == ST_TIME
    fork = sim.fork()
    sim.clone(0, [1, 2])  # one member into many rows
    assert_members_equal(sim, 0, 2)
    sim.run()
    fork.run()
    for b in (0, 1, 2):
        assert_members_equal(sim, 0, b)
    for x, y in zip(ref.state, sim.state, strict=True):
        if x.shape[1:] == y.shape[1:]:
            assert np.array_equal(x[0], y[0])
    assert sim.result(1).to_dict() == ref.result(0).to_dict()
    assert fork.result(0).to_dict() == ref.result(0).to_dict()
    k = int(ref.state.SC[0, L.SC_N_TRACED])
    assert k > 0 and np.array_equal(sim.state.TR[1, :k], ref.state.TR[0, :k])  # event log


def test_fork_is_independent_of_its_source():
    sim = Simulation("recognition", "chip", n_requests=40, batch=1, seed=1)
    sim.advance(until=50_000)
    before = member(sim, 0)
    fork = sim.fork()
    fork.run()
    for x, y in zip(before, member(sim, 0), strict=True):
        assert np.array_equal(x, y)
    assert sim.result(0).n_requests < fork.result(0).n_requests == 40


def test_clone_rows_rejects_bad_rows_and_mismatched_pools():
    sim = Simulation("recognition", "chip", n_requests=20, batch=2, seed=1)
    with pytest.raises(ValueError, match="outside"):
        sim.clone(0, [2])
    with pytest.raises(ValueError, match="both a source and a destination"):
        sim.clone(0, [0])
    other = Simulation("recognition", "chip", n_requests=20, batch=2, seed=1)
    from octogym.kernel.build import grow_state
    with pytest.raises(ValueError, match="grow the smaller"):
        clone_rows(sim.state, [0], grow_state(other.state, "J"), [1])


def _play(env, policy_of, steps):
    """Step ``env`` with ``policy_of(step, mask)``; returns (obs, reward, info) per step."""
    out = []
    for i in range(steps):
        mask = env.unwrapped.action_masks()
        obs, r, term, trunc, info = env.step(policy_of(i, mask))
        out.append((obs, r, term, info))
        if term or trunc:
            break
    return out


def _first_valid(i, mask):
    return int(np.flatnonzero(mask)[0])


def _last_valid(i, mask):
    return int(np.flatnonzero(mask)[-1])


@pytest.mark.parametrize("env_id", ["octogym/TBUAssign-v0", "octogym/ClusterAssign-Wafer-v0"])
def test_env_fork_same_actions_same_trajectory(env_id):
    env = gym.make(env_id, requests_per_episode=25)
    env.reset(seed=4)
    _play(env.unwrapped, _first_valid, 10)
    fork = env.unwrapped.fork()
    a = _play(env.unwrapped, _first_valid, 100_000)
    b = _play(fork, _first_valid, 100_000)
    assert len(a) == len(b) and a[-1][2]
    for (o1, r1, t1, i1), (o2, r2, t2, i2) in zip(a, b, strict=True):
        assert np.array_equal(o1, o2) and r1 == r2 and t1 == t2
        assert i1.get("metrics") == i2.get("metrics")
        assert np.array_equal(i1["action_mask"], i2["action_mask"]) and i1["time"] == i2["time"]


@pytest.mark.parametrize("env_id", ["octogym/TBUAssign-v0", "octogym/ClusterAssign-v0"])
def test_stepping_a_fork_leaves_its_source_untouched(env_id):
    """The fork owns its buffers: its compiled steps write its own observations, masks and
    counters, never the source's."""
    env = gym.make(env_id, requests_per_episode=25)
    env.reset(seed=4)
    _play(env.unwrapped, _first_valid, 3)
    core = env.unwrapped.core
    before = {k: getattr(core, k).copy() for k in ("obs", "mask", "home", "steps", "invalid")}
    acc = core.rewards.acc.copy()
    fork = env.unwrapped.fork()
    _play(fork, _last_valid, 20)
    for k, v in before.items():
        assert np.array_equal(getattr(core, k), v), f"stepping the fork changed the source's {k}"
    assert np.array_equal(core.rewards.acc, acc)


def test_env_forks_with_different_actions_share_arrivals_and_draws():
    env = gym.make("octogym/TBUAssign-v0", requests_per_episode=30, controller="least_loaded",
                   sim_options={"trace_cap": TRACE})
    env.reset(seed=2)
    _play(env.unwrapped, _first_valid, 5)
    fork = env.unwrapped.fork()
    _play(env.unwrapped, _first_valid, 100_000)
    _play(fork, _last_valid, 100_000)
    s1, s2 = env.unwrapped.sim, fork.sim
    assert not np.array_equal(s1.state.RES[0, :, L.RES_DONE], s2.state.RES[0, :, L.RES_DONE])
    assert np.array_equal(s1.state.RES[0, :, L.RES_ARR], s2.state.RES[0, :, L.RES_ARR])
    assert np.array_equal(s1.state.RES[0, :, L.RES_WF], s2.state.RES[0, :, L.RES_WF])
    assert tb_multiset(s1, 0) == tb_multiset(s2, 0)  # same durations, branches, map counts


def test_vector_clone_member_follows_its_source():
    env = gym.make_vec("octogym/TBUAssign-v0", num_envs=3, vectorization_mode="vector_entry_point",
                       requests_per_episode=20)
    env.reset(seed=7)
    env.unwrapped.clone_member(0, [1, 2])
    obs = env.unwrapped.core.obs
    assert np.array_equal(obs[0], obs[1]) and np.array_equal(obs[0], obs[2])
    for _ in range(60):
        masks = env.unwrapped.action_masks()
        acts = masks.argmax(axis=1)
        acts[:] = acts[0]
        o, r, term, trunc, info = env.step(acts)
        assert np.array_equal(o[0], o[1]) and np.array_equal(o[0], o[2])
        assert r[0] == r[1] == r[2] and term[0] == term[1] == term[2]
    with pytest.raises(ValueError, match="members must be in"):
        env.unwrapped.clone_member(0, [3])


def test_clone_after_growth_keeps_results():
    kw = dict(hardware="chip", load=3.0, n_requests=600, seed=2, policy="least_loaded")
    ref = Simulation(batch=1, **kw)
    ref.run()
    sim = Simulation(batch=2, **kw)
    st = sim.advance(until=int(ref.state.SC[0, L.SC_T_END]) * 3 // 4)
    assert st[0] == ST_TIME and sim.state.JB.shape[1] > Simulation(batch=1, **kw).state.JB.shape[1]
    sim.clone(0, 1)
    assert (sim.advance() == ST_DONE).all()
    assert sim.result(1).to_dict() == ref.result(0).to_dict()


def queued_jobs(sim: Simulation, b: int) -> tuple[list[int], list[int]]:
    """Job slots queued at member ``b``'s TBUs: (running ones, waiting ones)."""
    S = sim.state
    run, wait = [], []
    for u in range(S.TB.shape[2]):
        qh, ql = int(S.TB[b, L.TB_QH, u]), int(S.TB[b, L.TB_QL, u])
        for q in range(ql):
            j = int(S.TBQ[b, u, (qh + q) % S.TBQ.shape[2]])
            (run if q == 0 and S.TB[b, L.TB_STATE, u] == TBU_RUN else wait).append(j)
    return run, wait


def test_redraw_waiting_durations_draws_as_the_kernel_and_keeps_running_ones():
    sim = Simulation("recognition", "chip", load=1.5, n_requests=200, batch=3, seed=2)
    sim.advance(until=1_000_000)
    sim.clone(0, [1, 2])
    run, wait = queued_jobs(sim, 0)
    assert run and len(wait) >= 5, "the test needs queued TBs"
    S = sim.state
    redraw_waiting_durations(sim.model, S, np.array([1]))  # the same seed: the same draws
    assert np.array_equal(S.JB[1, run + wait, L.JB_DUR], S.JB[0, run + wait, L.JB_DUR])
    S.SEED[2] = S.SEED[0] ^ np.uint64(12345)
    redraw_waiting_durations(sim.model, S, np.array([2]))
    assert np.array_equal(S.JB[2, run, L.JB_DUR], S.JB[0, run, L.JB_DUR])
    fixed = sim.model.MB[L.MB_DUR_CODE, S.JB[0, wait, L.JB_BLOCK]] == DUR_FIXED
    assert 0 < fixed.sum() < len(wait)
    changed = S.JB[2, wait, L.JB_DUR] != S.JB[0, wait, L.JB_DUR]
    assert not changed[fixed].any() and changed[~fixed].all()
    assert (S.JB[2, wait, L.JB_DUR] >= 1).all()
