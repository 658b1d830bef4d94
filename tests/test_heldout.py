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


def test_load_sweep_pairs_agents_and_heuristics_on_the_same_episodes(tmp_path):
    """benchmarks/load_sweep.py: an agent that is a heuristic's twin differs from it by exactly
    0 at every load (the same episodes), one row per load, and the plot is written."""
    import subprocess
    import sys
    from pathlib import Path
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "load_sweep.py"
    out = tmp_path / "sweep.png"
    r = subprocess.run([sys.executable, str(script), "--env-kwargs", "requests_per_episode=8",
                        "--agents", "reactive", "--heuristics", "reactive", "--loads", "1.0",
                        "1.5", "--episodes", "2", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith("| 1")]
    assert [row.split(" | ")[0] for row in rows] == ["| 1", "| 1.5"]
    assert all("| reactive | +0.0 ± 0.0 | +0.0% | 0/2 |" in row for row in rows), rows
    assert out.stat().st_size > 0
    bad = subprocess.run([sys.executable, str(script), "--env-kwargs", "load=1.5", "--agents",
                          "reactive", "--loads", "1.0"], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode != 0 and "leave out load" in bad.stderr
