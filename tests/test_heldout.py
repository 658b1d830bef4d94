"""``play_held_out``: member ``j`` of its vector env plays what a single env reset with seed
``seed + j`` plays (the held-out episodes by default, another base for validation episodes)."""

import gymnasium as gym
import numpy as np

import octogym  # noqa: F401  (registers the ids)
from octogym.agents import HeuristicAgent
from octogym.agents.heldout import play_held_out
from octogym.evaluation import EVAL_SEED

KW = {"requests_per_episode": 12, "load": 1.5}


def single_env_latency(seed: int) -> float:
    env, agent = gym.make("octogym/Place-v0", **KW), HeuristicAgent("reactive")
    obs, info = env.reset(seed=seed)
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(agent.act(obs, info["action_mask"], env))
        done = term or trunc
    return info["metrics"]["latency_mean"] / 1000.0


def test_seed_base_picks_the_episodes():
    act = HeuristicAgent("reactive").act_batch
    default = play_held_out("octogym/Place-v0", act, 2, **KW)
    validation = play_held_out("octogym/Place-v0", act, 2, 30_000, **KW)
    assert np.array_equal(default, play_held_out("octogym/Place-v0", act, 2, EVAL_SEED, **KW))
    assert np.allclose(validation, [single_env_latency(30_000 + j) for j in range(2)])
    assert not np.array_equal(default, validation)
