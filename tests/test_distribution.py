"""The training distribution options (envs/distribution.py, octogym/workflows/splits.py): load
per episode, generated workflows and their train / held-out split, warm starts, the
episode-length curriculum, the held-out generated scenario. Tiny episodes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import octogym  # noqa: F401  (registers the ids)
from octogym.envs.config import EnvConfig
from octogym.envs.core import KernelBatch
from octogym.envs.decisions import DECISIONS
from octogym.envs.reward import AC_I
from octogym.evaluation import EVAL_SEED
from octogym.kernel import fields as L
from octogym.simulator import Simulation
from octogym.workflows import dumps_workflow
from octogym.workflows.splits import SPLIT_SIZE, generated_workflows, pool_workflows

TBU = "octogym/TBUAssign-v0"
SMALL = {"requests_per_episode": 20}


def play(env_id: str, seeds: list[int], episodes: int = 2, **kw) -> list:
    """Every (obs, reward, metrics) of ``episodes`` episodes per member of a native vector env
    reset with ``seeds``, actions the first valid one."""
    venv = gym.make_vec(env_id, num_envs=len(seeds), vectorization_mode="vector_entry_point",
                        **{**SMALL, **kw})
    obs, info = venv.reset(seed=seeds)
    out, ended = [obs.copy()], np.zeros(len(seeds), np.int64)
    while ended.min() < episodes:
        obs, r, term, trunc, info = venv.step(info["action_mask"].argmax(axis=1))
        out += [obs.copy(), r.copy()]
        for j in np.flatnonzero(term | trunc):
            ended[j] += 1
            out.append(dict(info["final_info"]["metrics"])["latency_mean"][j])
            if "episode_load" in info["final_info"]["metrics"]:
                out.append(info["final_info"]["metrics"]["episode_load"][j])
    venv.close()
    return out


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# ---- the generated workflows' split -------------------------------------------------------
def test_train_and_held_out_generated_workflows_are_disjoint():
    assert SPLIT_SIZE == EVAL_SEED  # held-out workflows start where evaluation seeds start

    def shapes(split: str) -> set[str]:  # the workflows themselves, names aside
        return {dumps_workflow(w).replace(w.name, "") for w in generated_workflows(split, 40)}

    train, held_out = shapes("train"), shapes("held_out")
    assert len(train) == 40 and len(held_out) == 40
    assert not train & held_out
    # drift phases: the generator config asks for them; most workflows have a branch or map
    assert sum(len(w.phases) > 0 for w in generated_workflows("train", 40)) >= 20


def test_workflow_pools():
    gen = generated_workflows("train", 3)
    assert pool_workflows("recognition", "suite", 3, "train") == "recognition"
    mix = pool_workflows(None, "generated", 3, "train")
    assert list(mix) == list(gen) and sum(mix.values()) == pytest.approx(1.0)
    mixed = pool_workflows(["recognition", "agent_loop"], "mixed", 3, "train")
    assert len(mixed) == 5 and sum(mixed.values()) == pytest.approx(2.0)
    assert sum(v for w, v in mixed.items() if w in gen) == pytest.approx(1.0)
    env = gym.make(TBU, workflow_pool="generated", generated_workflows=3,
                   workflow_split="held_out", **SMALL)
    assert [w.name for w in env.unwrapped.sim.workflows] == ["gen-held_out-0", "gen-held_out-1",
                                                             "gen-held_out-2"]
    env.close()


def test_generated_pool_is_deterministic_and_changes_the_episodes():
    kw = {"workflow_pool": "mixed", "generated_workflows": 4}
    a = play(TBU, [3, 4], **kw)
    assert same(a, play(TBU, [3, 4], **kw))
    assert not same(a, play(TBU, [3, 4]))
    assert not same(a, play(TBU, [3, 4], **{**kw, "workflow_split": "held_out"}))


# ---- load per episode ----------------------------------------------------------------------
def test_rate_scale_multiplies_the_arrival_rate():
    base = Simulation("recognition", "chip", load=0.4, n_requests=30, seed=5)
    base.reset_members([0], [base.seeds[0]], [2.0])
    double = Simulation("recognition", "chip", load=0.8, n_requests=30, seed=5)
    arr = []
    for sim in (base, double):
        sim.run()
        arr.append(sim.state.RES[0, :, L.RES_ARR].copy())
    assert (arr[1] > 0).sum() > 20
    assert np.abs(arr[0] - arr[1]).max() <= 1  # the same draws, up to rounding


def test_load_range_draws_one_load_per_episode_from_its_seed():
    kw = {"load_range": (0.5, 1.1)}
    a = play(TBU, [1, 2, 3], **kw)
    assert same(a, play(TBU, [1, 2, 3], **kw))
    assert not same(a, play(TBU, [1, 2, 3]))
    core = KernelBatch(DECISIONS["TBUAssign"], 3, EnvConfig(**SMALL, **kw))
    core.seed([0, 1, 2], [11, 12, 13])
    core.start(np.arange(3))
    loads = core.episode_load.copy()
    assert ((loads >= 0.5) & (loads <= 1.1)).all() and len(set(loads.tolist())) == 3
    np.testing.assert_array_equal(core.sim.state.SF[:, L.SF_RATE_SCALE], loads / 0.5)
    assert core.metrics(0)["episode_load"] == loads[0]
    core.next_episode(np.arange(3))  # the next episode draws anew
    assert not np.array_equal(core.episode_load, loads)
    # a degenerate range is exactly the fixed load (rate times 1.0)
    ranged = [x for x in play(TBU, [1, 2], load_range=(0.8, 0.8))
              if not (isinstance(x, float) and x == 0.8)]
    assert same(play(TBU, [1, 2]), ranged)


# ---- warm starts ---------------------------------------------------------------------------
def test_warmup_runs_the_controller_first_and_pays_no_reward_for_it():
    W = 30
    core = KernelBatch(DECISIONS["TBUAssign"], 2, EnvConfig(**SMALL, warmup_requests=W))
    core.seed([0, 1], [7, 8])
    core.start(np.arange(2))
    SC = core.sim.state.SC
    assert (SC[:, L.SC_N_ARRIVED] >= W // 2).all()  # about W arrived before the first decision
    start_i = core.rewards.acc[:, AC_I].copy()
    assert (start_i > 0).all()  # the warm-up's time integral, not paid
    total = np.zeros(2)
    done = np.zeros(2, bool)
    while not done.all():
        r, term, trunc = core.step(core.mask.argmax(axis=1), ~done)
        total += np.where(done, 0.0, r)
        done |= term | trunc
    assert (SC[:, L.SC_N_DONE] == 20 + W).all()
    # the episode's rewards sum to minus the integral from the take-over on
    end_i = SC[:, L.SC_SUM_DONE] - SC[:, L.SC_SUM_ARR]
    np.testing.assert_allclose(total, -(end_i - start_i) * core.rewards.scale, rtol=1e-9)
    a, b = play(TBU, [4, 5], warmup_requests=W), play(TBU, [4, 5], warmup_requests=W)
    assert same(a, b) and not same(a, play(TBU, [4, 5]))


# ---- bad values ------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, name", [
    ({"load_range": (0.9, 0.5)}, "load_range"),
    ({"load_range": (0.0, 0.5)}, "load_range"),
    ({"load_range": "0.5"}, "load_range"),
    ({"load_range": (0.5, float("inf"))}, "load_range"),
    ({"workflow_pool": "generator"}, "workflow_pool"),
    ({"generated_workflows": 0}, "generated_workflows"),
    ({"generated_workflows": SPLIT_SIZE + 1}, "generated_workflows"),
    ({"workflow_split": "test"}, "workflow_split"),
    ({"warmup_requests": -1}, "warmup_requests"),
    ({"warmup_requests": 2.5}, "warmup_requests"),
    ({"warmup_requests": 5, "arrival": "closed"}, "warmup_requests"),
])
def test_bad_values_name_the_option(kw, name):
    with pytest.raises(ValueError, match=name):
        gym.make(TBU, **kw)


# ---- episode-length curriculum -----------------------------------------------------------------
def test_set_requests_per_episode_plays_the_shorter_episodes():
    # an explicit initial layout: "best" (the controllers' default) looks at the run's length
    kw = {"sim_options": {"tbu_init": "profile"}}
    venv = gym.make_vec(TBU, num_envs=2, vectorization_mode="vector_entry_point",
                        requests_per_episode=45, **kw)
    venv.unwrapped.set_requests_per_episode(20)
    out = []
    obs, info = venv.reset(seed=[4, 5])
    out.append(obs.copy())
    ended = np.zeros(2, np.int64)
    while ended.min() < 2:
        obs, r, term, trunc, info = venv.step(info["action_mask"].argmax(axis=1))
        out += [obs.copy(), r.copy()]
        for j in np.flatnonzero(term | trunc):
            ended[j] += 1
            m = info["final_info"]["metrics"]
            assert m["n_requests"][j] == 20
            out.append(m["latency_mean"][j])
    assert same(out, play(TBU, [4, 5], **kw))  # = an env built with 20 requests
    for bad in (0, 46, 2.0, True):
        with pytest.raises(ValueError, match="requests_per_episode"):
            venv.unwrapped.set_requests_per_episode(bad)
    venv.close()


def test_curriculum_schedule_and_its_errors():
    from octogym.agents.curriculum import Curriculum

    c = Curriculum([[0, 10], [100, 30], [500, 50]])
    assert [c.requests_at(s) for s in (0, 99, 100, 499, 10**9)] == [10, 10, 30, 30, 50]
    for bad in ([], [[5, 10]], [[0, 10], [0, 20]], [[0, 0]], [[0, 1.5]], "x", [[0, 10, 3]]):
        with pytest.raises(ValueError, match="curriculum"):
            Curriculum(bad)


def test_native_ppo_applies_the_curriculum_between_rollouts():
    import torch

    from octogym.agents.ppo import NativePPO, PPOConfig
    from octogym.agents.ppo_policy import MLPPolicy

    torch.manual_seed(0)
    venv = gym.make_vec(TBU, num_envs=2, vectorization_mode="vector_entry_point",
                        requests_per_episode=30)
    cfg = PPOConfig(n_envs=2, n_steps=4, batch_size=8, n_epochs=1,
                    curriculum=[[0, 10], [8, 30]])
    algo = NativePPO(venv, MLPPolicy(venv.single_observation_space.shape[0], 4), cfg, seed=0)
    assert venv.core.N == 10
    algo.learn(8)
    assert venv.core.N == 10 and algo.num_timesteps == 8
    algo.learn(16)  # the iteration from step 8 on runs 30-request episodes
    assert venv.core.N == 30
    with pytest.raises(ValueError, match="requests_per_episode"):
        NativePPO(venv, MLPPolicy(venv.single_observation_space.shape[0], 4),
                  PPOConfig(n_envs=2, curriculum=[[0, 31]]), seed=0)
    with pytest.raises(ValueError, match="curriculum"):
        PPOConfig(n_envs=2, curriculum=[[1, 10]]).check()


# ---- held-out evaluation on generated workflows ---------------------------------------------
def test_held_out_generated_scenario_pairs_kernel_and_env_runs():
    from octogym import evaluation as E
    from octogym.agents import arena as A

    scen = E.SCENARIOS["env-gen-held_out-chip"]
    assert "env-gen-held_out-chip" in E.GROUPS["learn-generated"]
    kw = scen.env_kwargs(20)
    assert kw["workflow_split"] == "held_out" and kw["workflow_pool"] == "generated"
    sim = scen.simulation("static", 2, n_requests=20)
    assert [w.name for w in sim.workflows] == [f"gen-held_out-{i}" for i in range(8)]
    kernel = E.run_one(scen, "adaptive", 2, 20)
    arm = A.env_arm("adaptive", "TBUAssign", "adaptive")
    env = A.run_arm(scen, arm, 2, 20)
    assert [r["latency_mean"] for r in env] == [r["latency_mean"] for r in
                                                A.run_arm(scen, arm, 2, 20)]
    assert all(r["workflows"] == "generated-held_out" for r in env + kernel)
    # paired seeds: the env's episode j and the kernel-only run j see the same arrivals
    sim.run()
    venv = gym.make_vec(TBU, num_envs=2, vectorization_mode="vector_entry_point", **kw)
    venv.reset(seed=EVAL_SEED)
    res = venv.unwrapped.sim.state.RES
    n = int(venv.unwrapped.sim.state.SC[:, L.SC_N_ARRIVED].min())
    assert n >= 1
    np.testing.assert_array_equal(res[:, :n, L.RES_ARR], sim.state.RES[:, :n, L.RES_ARR])
    venv.close()


def test_training_never_uses_the_held_out_workflows(tmp_path):
    import types

    from octogym.agents import arena as A
    from octogym.commands import train as T

    args, given = T.parse_args(["--env", TBU, "--algo", "ppo_native", "--env-kwargs",
                                "workflow_pool=generated", "workflow_split=held_out",
                                "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="workflow_split"):
        T.resolve(args, given)
    agent = types.SimpleNamespace(name="a", config={"seed": 0, "n_envs": 4},
                                  env_kwargs={"workflow_split": "held_out"})
    with pytest.raises(ValueError, match="held-out generated workflows"):
        A.check_training_seeds(agent)
    A.check_training_seeds(types.SimpleNamespace(name="a", config={"seed": 0, "n_envs": 4},
                                                 env_kwargs={"workflow_pool": "mixed"}))
