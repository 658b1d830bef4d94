"""The native vector envs, their agreement with gymnasium's sync/async vectorization, and the
SB3 adapter (MaskablePPO and PPO train on it)."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import octogym  # noqa: F401  (registers the ids)
from octogym.envs import ENV_IDS, SB3VecEnv, make_sb3_vec_env
from octogym.envs.registration import ENV_OPTIONS
from octogym.simulator import Simulation

SMALL = {"requests_per_episode": 20}


def small(env_id: str) -> dict:
    """Short episodes, unless the id sets its own length (``ENV_OPTIONS``: the wafer's
    dispatch decisions only come once its pipeline has filled)."""
    # under the fair `static`, chip queues seldom hold two jobs in the first 20 requests:
    # a Dispatch episode of 100 has 8-40 decisions (seeds 0-5)
    base = {"requests_per_episode": 100} if "Dispatch" in env_id else SMALL
    return {**base, **{k: v for k, v in ENV_OPTIONS.get(env_id.split("/")[-1], {}).items()
                       if k == "requests_per_episode"}}


def native(env_id: str, n: int, **kw) -> gym.vector.VectorEnv:
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point",
                        **{**small(env_id), **kw})


def policy(step: int, mask: np.ndarray) -> np.ndarray:
    """A deterministic policy that uses several actions: the k-th valid action per env."""
    n, A = mask.shape
    out = np.empty(n, np.int64)
    for i in range(n):
        valid = np.flatnonzero(mask[i])
        out[i] = valid[(step + 3 * i) % len(valid)]
    return out


def compare_runs(a: gym.vector.VectorEnv, b: gym.vector.VectorEnv, seeds: list[int],
                 steps: int) -> int:
    """Step both with the same actions; assert identical results. Returns episodes ended."""
    oa, ia = a.reset(seed=seeds)
    ob, ib = b.reset(seed=seeds)
    np.testing.assert_array_equal(oa, ob)
    np.testing.assert_array_equal(ia["action_mask"], ib["action_mask"])
    ended = 0
    for t in range(steps):
        act = policy(t, ia["action_mask"])
        oa, ra, ta, ua, ia = a.step(act)
        ob, rb, tb, ub, ib = b.step(act)
        np.testing.assert_array_equal(oa, ob)
        np.testing.assert_allclose(ra, rb, rtol=0, atol=0)
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ua, ub)
        for k in ("action_mask", "invalid_actions", "time"):
            np.testing.assert_array_equal(ia[k], ib[k])
        if "final_obs" in ia or "final_obs" in ib:
            np.testing.assert_array_equal(ia["_final_obs"], ib["_final_obs"])
            for i in np.flatnonzero(ia["_final_obs"]):
                np.testing.assert_array_equal(ia["final_obs"][i], ib["final_obs"][i])
            ma, mb = ia["final_info"]["metrics"], ib["final_info"]["metrics"]
            for k in ("latency_mean", "makespan", "episode_steps"):
                np.testing.assert_array_equal(ma[k], mb[k])
        if "metrics" in ia or "metrics" in ib:
            np.testing.assert_array_equal(ia["_metrics"], ib["_metrics"])
            np.testing.assert_array_equal(ia["metrics"]["latency_mean"],
                                          ib["metrics"]["latency_mean"])
        ended += int((ta | ua).sum())
    return ended


# enough for every member to end an episode of small(env_id) requests (Provision-Wafer asks
# 256 clusters per epoch)
STEPS = {"TBUAssign": 140, "ClusterAssign": 45, "Dispatch": 120, "Dispatch-Wafer": 4000,
         "Place": 200, "Provision": 800, "Provision-Wafer": 10000}


def steps_for(env_id: str) -> int:
    name = env_id.split("/")[1].removesuffix("-v0")
    return STEPS.get(name, STEPS[name.split("-")[0]])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_native_agrees_with_sync_and_async_same_step(env_id):
    n, seeds = 3, [5, 17, 2]
    nat = native(env_id, n)
    assert nat.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    for mode in ("sync", "async"):
        other = gym.make_vec(env_id, num_envs=n, vectorization_mode=mode,
                             vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
                             **small(env_id))
        ended = compare_runs(nat, other, seeds, steps_for(env_id))
        assert ended >= n
        other.close()


@pytest.mark.parametrize("env_id", ["octogym/TBUAssign-v0", "octogym/ClusterAssign-v0"])
def test_native_agrees_with_sync_next_step(env_id):
    n, seeds = 3, [1, 2, 3]
    nat = native(env_id, n, autoreset_mode="NextStep")
    assert nat.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    sync = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync", **small(env_id))
    assert compare_runs(nat, sync, seeds, steps_for(env_id)) >= n


def make_serial(env: gym.vector.VectorEnv) -> None:
    """Step and start ``env``'s members on one thread (the compiled serial loops)."""
    from octogym.envs.core import run_serial, step_serial

    env.unwrapped.core._step = step_serial
    env.unwrapped.core._run = run_serial


@pytest.mark.parametrize("env_id", ["octogym/TBUAssign-v0", "octogym/ClusterAssign-v0",
                                    "octogym/Dispatch-v0"])
def test_threaded_step_equals_serial_step(env_id):
    """From PARALLEL_MIN members on, members step (and start episodes: a dispatch episode's
    run to its first decision is long) on numba's threads: same results, bit for bit, as one
    thread, including episode ends, resets and pool growth."""
    from octogym.envs.core import PARALLEL_MIN, run_parallel, step_parallel
    from octogym.kernel.build import new_state

    n = PARALLEL_MIN
    threaded, serial = native(env_id, n), native(env_id, n)
    core = threaded.unwrapped.core
    assert (core._step, core._run) == (step_parallel, run_parallel) or numba_threads() == 1
    make_serial(serial)
    assert compare_runs(threaded, serial, list(range(n)), steps_for(env_id)) >= n
    if numba_threads() > 1:  # it really ran on threads (not a serial compilation from the cache)
        import numba

        assert numba.threading_layer() in ("omp", "tbb", "workqueue")
    # tiny request pools: they grow in the middle of steps (members resumed after growing)
    threaded, serial = native(env_id, n, load=2.0), native(env_id, n, load=2.0)
    make_serial(serial)
    for env in (threaded, serial):
        sim = env.unwrapped.sim
        sim.state = new_state(sim.model, sim.mix, n, sim.seeds, sim.tbu_cfg, R=2)
    compare_runs(threaded, serial, list(range(n)), steps_for(env_id))
    assert threaded.unwrapped.sim.state.RQ.shape[1] >= 16  # grew several times


def numba_threads() -> int:
    import numba

    return numba.config.NUMBA_NUM_THREADS


def test_disabled_autoreset_needs_reset_mask():
    venv = native("octogym/ClusterAssign-v0", 2, autoreset_mode=AutoresetMode.DISABLED,
                  max_steps=3)
    _, info = venv.reset(seed=0)
    for _ in range(3):
        _, _, term, trunc, info = venv.step(np.zeros(2, np.int64))
    assert trunc.all() and info["_metrics"].all()
    with pytest.raises(RuntimeError, match="reset_mask"):
        venv.step(np.zeros(2, np.int64))
    venv.reset(options={"reset_mask": np.array([True, True])})
    venv.step(np.zeros(2, np.int64))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_native_spaces_masks_and_final_info(env_id):
    n = 4
    venv = native(env_id, n)
    single = gym.make(env_id, **small(env_id))
    assert venv.single_observation_space == single.observation_space
    assert venv.single_action_space == single.action_space
    obs, info = venv.reset(seed=0)
    assert venv.observation_space.contains(obs)
    ended = np.zeros(n, np.bool_)
    for t in range(steps_for(env_id)):
        np.testing.assert_array_equal(venv.unwrapped.action_masks(), info["action_mask"])
        obs, r, term, trunc, info = venv.step(policy(t, info["action_mask"]))
        assert venv.observation_space.contains(obs)
        done = term | trunc
        if done.any():
            np.testing.assert_array_equal(info["_final_info"], done)
            m = info["final_info"]["metrics"]
            assert (m["n_requests"][done] == small(env_id)["requests_per_episode"]).all()
            assert (info["time"][done] >= 0).all()
            for i in np.flatnonzero(done):  # reset in the same step: a fresh episode
                assert info["final_obs"][i].shape == single.observation_space.shape
                assert info["invalid_actions"][i] == 0
        ended |= done
    assert ended.all()


def test_int_seed_matches_batched_simulation():
    """reset(seed=s): member i plays member i of Simulation(seed=s, batch=N)."""
    n, N = 3, 30
    venv = native("octogym/TBUAssign-v0", n, requests_per_episode=N, load=0.9,
                  controller="least_loaded")
    sl = venv.unwrapped.core.slices
    obs, info = venv.reset(seed=42)
    metrics: dict[int, dict] = {}
    while len(metrics) < n:
        q = np.where(obs[:, sl["tbu_free_slot"]] > 0.5, obs[:, sl["tbu_queue"]], np.inf)
        obs, _, term, _, info = venv.step(np.argmin(q, axis=1))  # least loaded, lowest id
        for i in np.flatnonzero(term):
            if int(i) not in metrics:
                m = info["final_info"]["metrics"]
                metrics[int(i)] = {k: m[k][i] for k in m if not k.startswith("_")}
    ref = Simulation(None, "chip", load=0.9, n_requests=N, seed=42, batch=n).run()
    for i in range(n):
        want = ref[i].to_dict()
        assert {k: metrics[i][k] for k in want} == want


def test_native_pickles_and_renders():
    venv = native("octogym/TBUAssign-v0", 3, render_mode="rgb_array")
    _, info = venv.reset(seed=1)
    for t in range(10):
        _, _, _, _, info = venv.step(policy(t, info["action_mask"]))
    clone = pickle.loads(pickle.dumps(venv))
    for t in range(30):
        act = policy(t, info["action_mask"])
        o1, r1, *_, info = venv.step(act)
        o2, r2, *_ = clone.step(act)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
    frames = venv.render()
    assert len(frames) == 3 and all(f.dtype == np.uint8 and f.ndim == 3 for f in frames)
    texts = native("octogym/TBUAssign-v0", 2, render_mode="ansi")
    texts.reset(seed=0)
    assert all(isinstance(s, str) for s in texts.render())


# ---- SB3 adapter --------------------------------------------------------------------------


@pytest.fixture
def one_torch_thread():
    """Tiny networks on a 2-core machine: torch's thread pool only oversubscribes the cores
    (measured 1.4 s with one thread against 20 s with two while another job ran)."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_adapter_semantics(env_id):
    n = 3
    venv = make_sb3_vec_env(env_id, n_envs=n, seed=10, max_steps=15, **small(env_id))
    assert isinstance(venv, SB3VecEnv) and venv.num_envs == n
    obs = venv.reset()
    assert obs.shape == (n, *venv.observation_space.shape)
    # seed(10) seeds env i like a single env reset with 10 + i
    single = gym.make(env_id, max_steps=15, **small(env_id))
    for i in range(n):
        o, _ = single.reset(seed=10 + i)
        np.testing.assert_array_equal(obs[i], o)
    assert venv.has_attr("action_masks")
    seen_trunc = False
    for t in range(40):
        masks = np.stack(venv.env_method("action_masks"))
        assert masks.shape == (n, venv.action_space.n)
        obs, rew, dones, infos = venv.step(policy(t, masks))
        assert rew.dtype == np.float32 and dones.dtype == np.bool_
        for i in np.flatnonzero(dones):
            assert infos[i]["terminal_observation"].shape == venv.observation_space.shape
            assert "metrics" in infos[i]
            seen_trunc |= infos[i]["TimeLimit.truncated"]
    assert seen_trunc
    assert venv.env_is_wrapped(gym.Wrapper) == [False] * n
    venv.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_maskable_ppo_trains_on_the_adapter(env_id, one_torch_thread):
    from sb3_contrib import MaskablePPO
    venv = make_sb3_vec_env(env_id, n_envs=4, seed=0, **small(env_id))
    model = MaskablePPO("MlpPolicy", venv, n_steps=256, batch_size=256, n_epochs=1, seed=0,
                        device="cpu", policy_kwargs={"net_arch": [32]})
    model.learn(total_timesteps=4096)
    assert model.num_timesteps >= 4096
    obs = venv.reset()
    act, _ = model.predict(obs, action_masks=np.stack(venv.env_method("action_masks")))
    assert act.shape == (4,)


def test_ppo_trains_on_the_adapter(one_torch_thread):
    from stable_baselines3 import PPO
    venv = make_sb3_vec_env("octogym/TBUAssign-v0", n_envs=4, seed=0, **SMALL)
    PPO("MlpPolicy", venv, n_steps=128, batch_size=128, n_epochs=1, seed=0, device="cpu",
        policy_kwargs={"net_arch": [32]}).learn(total_timesteps=512)


@pytest.fixture(scope="module")
def bench():
    """benchmarks/bench_env.py as a module (loaded once: its ceiling loop compiles uncached)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_env.py"
    spec = importlib.util.spec_from_file_location("bench_env", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def heuristic_episodes(bench, env_id: str, n: int, N: int) -> tuple[dict[int, dict], object]:
    """The final metrics of the first episode of each of ``n`` native members (``N`` requests,
    load 0.9, seed 42) played by benchmarks/bench_env.py's heuristic, and the env's core."""
    venv = native(env_id, n, requests_per_episode=N, load=0.9)
    core = venv.unwrapped.core
    act = bench.heuristic(env_id, core.slices, core.K, core.Q)
    obs, _ = venv.reset(seed=42)
    metrics: dict[int, dict] = {}
    while len(metrics) < n:
        obs, _, term, _, info = venv.step(act(obs))
        for i in np.flatnonzero(term):
            if int(i) not in metrics:
                m = info["final_info"]["metrics"]
                metrics[int(i)] = {k: m[k][i] for k in m if not k.startswith("_")}
    return metrics, core


@pytest.mark.parametrize("env_id", ["octogym/TBUAssign-v0", "octogym/ClusterAssign-v0",
                                    "octogym/Dispatch-v0", "octogym/Place-v0",
                                    "octogym/Provision-v0"])
def test_bench_ceiling_does_the_env_work(env_id, bench):
    """benchmarks/bench_env.py's env ceiling (compiled round-robin, no env) makes the same
    decisions as the native env playing the benchmark's heuristic: as many, with the same
    episode metrics, so its rate bounds the env's."""
    n, N = 3, small(env_id)["requests_per_episode"]
    metrics, core = heuristic_episodes(bench, env_id, n, N)
    sim = Simulation(None, "chip", load=0.9, n_requests=N, seed=42, batch=n,
                     policy=core.controller)
    acts, state = np.full(n, -1, np.int64), np.zeros(n, np.int64)
    decisions = 0
    while (state != 1).any():
        decisions += bench.ext_rounds(sim.model, sim.state, sim.policy,
                                      core.decision.ext, acts, state)
        if (state == 2).any():
            sim.grow(state == 2)
            state[state == 2] = 0
    assert decisions == sum(m["episode_steps"] for m in metrics.values())
    for b in range(n):
        want = sim.result(b).to_dict()
        assert {k: metrics[b][k] for k in want} == want


def test_episode_start_past_the_horizon_raises():
    """An episode start runs its members to their first decision in compiled code: one whose
    clock would pass the run's horizon raises, as a step does."""
    from octogym.limits import TimeHorizonError

    venv = native("octogym/Dispatch-v0", 2)
    venv.reset(seed=0)
    venv.unwrapped.core.sim.horizon = 1  # as if the run were huge
    with pytest.raises(TimeHorizonError, match="horizon of 1 cycles"):
        venv.reset(seed=1)


def test_bench_work_count_counts_every_episode(bench):
    """benchmarks/bench_env.py's WorkCount: the TB executions and events a native env simulated
    while attached are those of the episodes that ended (their final metrics), plus what the
    members simulated since, minus what they had simulated before."""
    from octogym.kernel import fields as L

    env_id, n = "octogym/Dispatch-v0", 3
    venv = native(env_id, n)
    core = venv.unwrapped.core
    act = bench.heuristic(env_id, core.slices, core.K, core.Q)
    obs, _ = venv.reset(seed=3)
    obs = venv.step(act(obs))[0]
    SC = core.sim.state.SC
    before = SC[:, [L.SC_N_TB_DONE, L.SC_N_EVENTS]].sum(axis=0)
    count = bench.WorkCount(venv)
    count.attach()
    skipped = int(core.skipped_episodes.sum())
    ended = np.zeros(2, np.int64)
    while ended[0] == 0:
        obs, _, term, trunc, info = venv.step(act(obs))
        for i in np.flatnonzero(term | trunc):
            m = info["final_info"]["metrics"]
            ended += [m["tb_executions"][i], m["events"][i]]
    tb, events, per_episode = count.detach()
    now = core.sim.state.SC[:, [L.SC_N_TB_DONE, L.SC_N_EVENTS]].sum(axis=0)
    if core.skipped_episodes.sum() == skipped:  # (a skipped episode's work is counted too,
        # but has no final metrics)
        assert (tb, events) == tuple(int(x) for x in ended + now - before)
    assert tb > 0 and events > tb and per_episode > 0
    assert core.sim.reset_members.__func__ is type(core.sim).reset_members  # detached


def test_stack_infos_equals_gymnasium_add_info():
    from gymnasium.vector import VectorEnv

    from octogym.envs.vector import stack_infos

    class V(VectorEnv):
        num_envs = 5

    infos = {1: {"a": 3, "m": {"x": 1.5, "n": np.int64(2)}, "mask": np.ones(3, bool)},
             4: {"a": 7, "m": {"x": 2.5, "n": np.int64(9)}, "mask": np.zeros(3, bool)}}
    ref: dict = {}
    for b, i in infos.items():
        ref = V()._add_info(ref, i, b)
    got = stack_infos(5, infos)

    def same(x, y):
        assert type(x) is type(y)
        if isinstance(x, dict):
            assert list(x) == list(y)
            for k in x:
                same(x[k], y[k])
        else:
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_array_equal(x, y)
    same(got, ref)


def test_bench_raw_bound_simulates_the_dispatch_env(bench):
    """benchmarks/bench_env.py's raw-kernel bound for Dispatch-v0 runs the env's own episodes:
    its simulation (`raw_sim`: the id's controller, `sed` compiled in), run to its end, gives
    the metrics of the native env whose agent answers every decision with the benchmark's
    `sed` heuristic."""
    env_id, n = "octogym/Dispatch-v0", 3
    N = small(env_id)["requests_per_episode"]
    metrics, _ = heuristic_episodes(bench, env_id, n, N)
    # (Simulation.run, not the benchmark's run_to_end: its parallel loop is cached from the
    # script, which a module loaded by path cannot load; both run every member to its end)
    results = bench.raw_sim(env_id, n, 0.9, N, 42).run()
    for b in range(n):
        want = results[b].to_dict()
        assert {k: metrics[b][k] for k in want} == want
