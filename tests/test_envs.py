"""The single Gymnasium environments, parametrized over every registered id."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from conftest import ROOT
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import octogym  # noqa: F401  (registers the ids)
from octogym.envs import ENV_IDS, register_envs
from octogym.envs.layout import (
    CLUSTER_FEATURES,
    DISPATCH_FEATURES,
    PLACE_FEATURES,
    PROVISION_FEATURES,
    TBU_FEATURES,
    layout,
    markdown_table,
    n_candidates,
)
from octogym.envs.registration import ENV_OPTIONS
from octogym.envs.reward import REWARDS
from octogym.kernel.policies import KERNEL_POLICIES
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


def make(env_id: str, **kw) -> gym.Env:
    return gym.make(env_id, **{**small(env_id), **kw})


def first_valid(info: dict) -> int:
    return int(np.argmax(info["action_mask"]))


def rollout(env: gym.Env, seed: int, policy=first_valid, max_steps: int = 100_000):
    """Run one episode; returns (observations, rewards, last info)."""
    obs, info = env.reset(seed=seed)
    observations, rewards = [obs], []
    for _ in range(max_steps):
        obs, r, term, trunc, info = env.step(policy(info))
        observations.append(obs)
        rewards.append(r)
        if term or trunc:
            break
    return np.array(observations), np.array(rewards), info


# ---- registration -------------------------------------------------------------------------


def test_registered_ids():
    assert set(ENV_IDS) == {"octogym/TBUAssign-v0", "octogym/TBUAssign-Wafer-v0",
                            "octogym/ClusterAssign-v0", "octogym/ClusterAssign-Wafer-v0",
                            "octogym/Dispatch-v0", "octogym/Dispatch-Wafer-v0",
                            "octogym/Place-v0", "octogym/Place-Wafer-v0",
                            "octogym/Provision-v0", "octogym/Provision-Wafer-v0"}
    for env_id in ENV_IDS:
        spec = gym.spec(env_id)
        assert spec.vector_entry_point is not None
        assert spec.kwargs["hardware"] == ("wafer" if "Wafer" in env_id else "chip")


def test_registration_is_idempotent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_envs()
        register_envs()


def test_make_with_module_prefix_in_fresh_interpreter():
    code = ("import gymnasium as gym, sys\n"
            "assert 'octogym' not in sys.modules\n"
            "env = gym.make('octogym:octogym/TBUAssign-v0', requests_per_episode=5)\n"
            "obs, info = env.reset(seed=0)\n"
            "assert obs.shape == env.observation_space.shape\n")
    # generous timeout: in a fresh checkout this process may compile the kernel first
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=900)


# ---- checkers -----------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_check_env(env_id):
    for mode in (None, "ansi", "rgb_array"):
        env = make(env_id, render_mode=mode)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(env.unwrapped, skip_render_check=False)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_check_env(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(make(env_id), warn=True)


# ---- spaces, masks, observations ----------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_spaces_and_masks(env_id):
    env = make(env_id)
    core = env.unwrapped.core
    hw = core.hw
    tbu, place, dispatch = "TBUAssign" in env_id, "Place" in env_id, "Dispatch" in env_id
    n_configs = core.sim.model.CFG.shape[1]
    n_actions = {"TBUAssign": hw.tbus_per_cluster, "ClusterAssign": hw.n_clusters,
                 "Dispatch": n_candidates(hw), "Place": hw.n_tbus + hw.n_clusters,
                 "Provision": hw.tbus_per_cluster * n_configs + 1}[core.decision.name]
    assert env.action_space.n == n_actions
    feats = core.decision.features
    assert env.observation_space.shape == (core.obs_dim,)
    obs, info = env.reset(seed=3)
    n = 0
    while True:
        assert env.observation_space.contains(obs)
        mask = env.unwrapped.action_masks()
        assert mask.dtype == np.bool_ and mask.shape == (env.action_space.n,)
        np.testing.assert_array_equal(mask, info["action_mask"])
        assert mask.any()
        if tbu:
            np.testing.assert_array_equal(obs[core.slices["tbu_free_slot"]] > 0.5, mask)
        elif dispatch:  # a prefix of the slots, at least two (else there is no decision)
            np.testing.assert_array_equal(obs[core.slices["cand_valid"]] > 0.5, mask)
            assert mask.sum() >= 2 and mask[:mask.sum()].all()
        elif place:  # a TBU is valid iff its queue has space
            np.testing.assert_array_equal(obs[core.slices["tbu_queue"]] < 1, mask[:hw.n_tbus])
        elif core.decision.name == "Provision":  # "keep" is always valid
            assert mask[-1]
        else:
            assert mask.all()
        obs, _, term, trunc, info = env.step(first_valid(info))
        n += 1
        if term or trunc:
            break
    assert env.observation_space.contains(obs)
    lay = layout(feats, hw.tbus_per_cluster, hw.n_clusters, n_configs, n_candidates(hw))
    assert obs[lay["progress"]][0] == pytest.approx(1.0)


def test_tbu_layout_is_the_same_at_chip_and_wafer():
    a, b = make("octogym/TBUAssign-v0"), make("octogym/TBUAssign-Wafer-v0")
    assert a.observation_space == b.observation_space
    assert a.unwrapped.core.slices == b.unwrapped.core.slices


def test_layout_covers_the_vector_exactly():
    for feats in (TBU_FEATURES, CLUSTER_FEATURES, DISPATCH_FEATURES, PLACE_FEATURES,
                  PROVISION_FEATURES):
        for K, C, G in ((4, 16, 1), (4, 256, 7), (3, 5, 2)):
            lay = layout(feats, K, C, G, 12)
            idx = np.concatenate([np.arange(s.start, s.stop) for s in lay.values()])
            np.testing.assert_array_equal(np.sort(idx), np.arange(len(idx)))


def test_docs_and_docstrings_carry_the_generated_tables():
    from octogym.envs import ClusterAssignEnv, DispatchEnv, PlaceEnv, ProvisionEnv, TBUAssignEnv
    from octogym.envs.provision import DOC_N_CONFIGS
    doc = (ROOT / "docs" / "envs.md").read_text()
    for cls, feats in ((TBUAssignEnv, TBU_FEATURES), (ClusterAssignEnv, CLUSTER_FEATURES),
                       (DispatchEnv, DISPATCH_FEATURES), (PlaceEnv, PLACE_FEATURES),
                       (ProvisionEnv, PROVISION_FEATURES)):
        table = markdown_table(feats, n_configs=DOC_N_CONFIGS)
        assert table in cls.__doc__
        assert table in doc, f"docs/envs.md is stale: regenerate the {cls.__name__} table " \
                             "(python -m octogym.envs.layout)"
    for name in REWARDS:
        assert f"`{name}`" in doc


# ---- rewards ------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("reward", ["latency", "completion"])
def test_episode_reward_is_minus_total_latency(env_id, reward):
    env = make(env_id, reward=reward)
    _, rewards, info = rollout(env, seed=11)
    m = info["metrics"]
    assert m["n_requests"] == small(env_id)["requests_per_episode"]
    total = m["latency_mean"] * m["n_requests"]
    tau = env.unwrapped.core.tau
    assert rewards.sum() == pytest.approx(-total / tau, rel=1e-9)
    assert (rewards <= 0).all()


def test_reward_scale_and_in_system():
    a = make("octogym/TBUAssign-v0", reward_scale=1.0)
    _, r, info = rollout(a, seed=2)
    m = info["metrics"]
    assert r.sum() == pytest.approx(-m["latency_mean"] * m["n_requests"], rel=1e-9)
    b = make("octogym/TBUAssign-v0", reward="in_system")
    _, r, _ = rollout(b, seed=2)
    assert (r <= 0).all() and (r > -10).all()
    with pytest.raises(ValueError, match="reward must be one of"):
        make("octogym/TBUAssign-v0", reward="nope")


# ---- episode end, invalid actions ---------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_episode_end_info_and_truncation(env_id):
    env = make(env_id, max_steps=5)
    obs, info = env.reset(seed=0)
    for _ in range(5):
        obs, r, term, trunc, info = env.step(first_valid(info))
    assert trunc and not term
    assert info["metrics"]["episode_steps"] == 5
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset()
    _, _, info = rollout(make(env_id), seed=0)
    m = info["metrics"]
    for k in ("latency_mean", "latency_p50", "latency_p95", "latency_p99", "makespan",
              "throughput_per_mcycle", "utilisation", "idle_starved", "reconfigurations",
              "noc_byte_hops", "episode_steps", "env_invalid_actions"):
        assert k in m


def test_invalid_actions_become_the_nearest_valid_one():
    kw = {"requests_per_episode": 40, "load": 1.5}
    env, twin = make("octogym/TBUAssign-v0", **kw), make("octogym/TBUAssign-v0", **kw)
    _, info = env.reset(seed=5)
    twin.reset(seed=5)
    n_bad = 0
    checked_masked = False
    while True:
        mask = info["action_mask"]
        if not mask.all() and not checked_masked:
            bad = int(np.flatnonzero(~mask)[0])  # a masked-out TBU
            checked_masked = True
        else:
            bad = [-3, 99][n_bad % 2]  # outside the action space
        d = np.abs(np.arange(len(mask)) - bad).astype(float)
        d[~mask] = np.inf
        good = int(np.argmin(d))
        n_bad += 1
        obs, r, term, trunc, info = env.step(bad)
        obs2, r2, term2, trunc2, info2 = twin.step(good)
        np.testing.assert_array_equal(obs, obs2)
        assert (r, term, trunc) == (r2, term2, trunc2)
        assert info["invalid_actions"] == n_bad and info2["invalid_actions"] == 0
        if term or trunc:
            break
    assert checked_masked, "load too low to ever fill a TBU queue"
    assert info["metrics"]["invalid_actions"] == 0  # the kernel never saw one
    assert info["metrics"]["env_invalid_actions"] == n_bad


def test_invalid_cluster_action_is_clipped():
    env, twin = make("octogym/ClusterAssign-v0"), make("octogym/ClusterAssign-v0")
    env.reset(seed=1)
    twin.reset(seed=1)
    o1, *_, i1 = env.step(1000)
    o2, *_, i2 = twin.step(15)
    np.testing.assert_array_equal(o1, o2)
    assert i1["invalid_actions"] == 1


# ---- seeding, determinism, pickling -------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seeded_determinism(env_id):
    o1, r1, i1 = rollout(make(env_id), seed=7)
    o2, r2, i2 = rollout(make(env_id), seed=7)
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(r1, r2)
    assert i1["metrics"] == i2["metrics"]
    o3, r3, _ = rollout(make(env_id), seed=8)
    assert len(r3) != len(r1) or not np.array_equal(r1, r3)


def test_unseeded_resets_continue_the_seed_chain():
    a, b = make("octogym/TBUAssign-v0"), make("octogym/TBUAssign-v0")
    rollout(a, seed=4)
    rollout(b, seed=4)
    _, ra, _ = rollout(a, seed=None)
    _, rb, _ = rollout(b, seed=None)
    np.testing.assert_array_equal(ra, rb)
    _, r0, _ = rollout(make("octogym/TBUAssign-v0"), seed=4)
    assert len(ra) != len(r0) or not np.array_equal(ra, r0)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_pickle_mid_episode(env_id):
    env = make(env_id)
    _, info = env.reset(seed=9)
    for _ in range(3):  # (a short Dispatch episode has few decisions)
        _, _, _, _, info = env.step(first_valid(info))
    clone = pickle.loads(pickle.dumps(env))
    while True:
        a = first_valid(info)
        o1, r1, t1, u1, info = env.step(a)
        o2, r2, t2, u2, _ = clone.step(a)
        np.testing.assert_array_equal(o1, o2)
        assert (r1, t1, u1) == (r2, t2, u2)
        if t1 or u1:
            break


# ---- rendering ----------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render_modes(env_id):
    env = make(env_id, render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    hw = env.unwrapped.core.hw
    assert isinstance(text, str) and len(text.splitlines()) == 3 + hw.rows
    env = make(env_id, render_mode="rgb_array")
    _, info = env.reset(seed=0)
    for _ in range(10):
        _, _, term, trunc, info = env.step(first_valid(info))
        if term or trunc:  # (a short Dispatch episode has few decisions)
            break
    img = env.render()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape[0] % hw.rows == 0 and img.shape[1] % hw.cols == 0
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 2
    with pytest.raises(ValueError, match="render_mode"):
        type(env.unwrapped)(render_mode="vr-headset")


# ---- the env adds no hidden behaviour -----------------------------------------------------


def least_loaded_tbu_from_obs(env):
    sl = env.unwrapped.core.slices

    def act(obs):
        q = np.where(obs[sl["tbu_free_slot"]] > 0.5, obs[sl["tbu_queue"]], np.inf)
        return int(np.argmin(q))  # lowest id on ties, like the kernel's least_loaded
    return act


def least_loaded_cluster_from_obs(env):
    core = env.unwrapped.core
    sl, K, Q = core.slices, core.K, core.Q

    def act(obs):
        s = obs[sl["cluster_backlog"]].astype(np.float64)
        load = np.rint(obs[sl["cluster_queue"]] * (K * Q)) + np.rint(K * s / (1 - s))
        return int(np.argmin(load))
    return act


def round_robin_clusters(env):
    count = [0]

    def act(obs):
        count[0] += 1
        return (count[0] - 1) % env.unwrapped.core.C
    return act


def play(env, seed, act):
    obs, _ = env.reset(seed=seed)
    while True:
        obs, _, term, trunc, info = env.step(act(obs))
        if term or trunc:
            return info["metrics"]


@pytest.mark.parametrize("env_id,controller,agent,reference", [
    ("octogym/TBUAssign-v0", "least_loaded", least_loaded_tbu_from_obs, "least_loaded"),
    ("octogym/TBUAssign-Wafer-v0", "least_loaded", least_loaded_tbu_from_obs, "least_loaded"),
    ("octogym/ClusterAssign-v0", "least_loaded", least_loaded_cluster_from_obs, "least_loaded"),
    ("octogym/ClusterAssign-Wafer-v0", "least_loaded", least_loaded_cluster_from_obs,
     "least_loaded"),
    # adaptive sends requests to clusters in turn and places TBs itself (with stealing)
    ("octogym/ClusterAssign-v0", "adaptive", round_robin_clusters, "adaptive"),
])
def test_heuristic_agent_reproduces_kernel_metrics(env_id, controller, agent, reference):
    kw = {"requests_per_episode": 50, "load": 0.9}
    env = gym.make(env_id, controller=controller, **kw)
    core = env.unwrapped.core
    for seed in (0, 1):
        m = play(env, seed, agent(env))
        ref = Simulation(None, core.hw, load=kw["load"], n_requests=kw["requests_per_episode"],
                         seed=seed, policy=reference).run()[0].to_dict()
        got = {k: v for k, v in m.items() if k in ref}
        assert got == ref


@pytest.mark.parametrize("controller", sorted(KERNEL_POLICIES))
def test_every_kernel_policy_can_be_the_controller(controller):
    for env_id in ("octogym/TBUAssign-v0", "octogym/ClusterAssign-v0"):
        _, r, info = rollout(make(env_id, controller=controller), seed=0)
        assert info["metrics"]["n_requests"] == small(env_id)["requests_per_episode"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="controller must be one of"):
        make("octogym/TBUAssign-v0", controller="telepathy")
    with pytest.raises(ValueError, match="max_steps"):
        make("octogym/TBUAssign-v0", max_steps=0)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_compiled_observations_match_the_numpy_reference(env_id):
    """The compiled builders write exactly what the readable numpy definitions compute,
    including terminal rows (no decision pending) and over many states."""
    venv = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point",
                        load=1.2, **small(env_id))
    core = venv.unwrapped.core
    rng = np.random.default_rng(0)
    _, info = venv.reset(seed=0)
    for _ in range(120):
        mask = info["action_mask"]
        act = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
        r, term, trunc = core.step(act)  # no autoreset: ended rows stay terminal
        obs, m, home = core.decision.observe_reference(core, core.rows)
        np.testing.assert_array_equal(core.obs, obs)
        np.testing.assert_array_equal(core.mask, m)
        np.testing.assert_array_equal(core.home, home)
        info = {"action_mask": core.mask}
        done = term | trunc
        if done.any():
            core.next_episode(np.flatnonzero(done))
