"""Hostile input at the env boundary: actions and env keywords no sane caller sends.

Each bad input either raises a ``ValueError`` whose message names the offending argument, or
(an invalid action the env handles) is replaced by the nearest valid action, counted in the
env's ``invalid_actions`` while the kernel's own ``invalid_actions`` metric stays 0
(docs/envs.md, "Actions, masks, invalid actions" and "Arguments").
"""

from __future__ import annotations

import math
import types

import gymnasium as gym
import numpy as np
import pytest

import octogym  # noqa: F401  (registers the ids)
from octogym.envs.config import (
    ENV_OPTIONS,
    ROLES,
    EnvConfig,
    markdown_table,
    split_env_kwargs,
    validate_env_kwargs,
)
from octogym.envs.core import fix_action
from octogym.envs.sb3 import make_sb3_vec_env

TBU, CLUSTER = "octogym/TBUAssign-v0", "octogym/ClusterAssign-v0"
SMALL = {"requests_per_episode": 20}
BUSY = {"requests_per_episode": 40, "load": 1.5}  # TBU queues fill up: masked TBUs


def first_valid(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def expected_action(x, mask: np.ndarray) -> int:
    """The documented nearest valid action to ``x``, by exact arithmetic (Python ints and
    floats): smallest ``|k - x|`` over valid ``k``, the lower on a tie, NaN below the range."""
    x = -1 if isinstance(x, float) and math.isnan(x) else min(max(x, -1), len(mask))
    valid = [k for k in range(len(mask)) if mask[k]]
    return min(valid, key=lambda k: (abs(k - x), k))


def pair_at_masked_decision(env_id: str):
    """Two identical envs at a decision whose action 0 is masked out (TBU 0 full), or at the
    first decision for the cluster env (whose mask is all ones)."""
    kw = BUSY if env_id == TBU else SMALL
    env, twin = gym.make(env_id, **kw).unwrapped, gym.make(env_id, **kw).unwrapped
    _, info = env.reset(seed=3)
    twin.reset(seed=3)
    while env_id == TBU and info["action_mask"][0]:
        a = first_valid(info["action_mask"])
        _, _, term, trunc, info = env.step(a)
        twin.step(a)
        assert not (term or trunc), "no decision with TBU 0 masked out"
    return env, twin, info


def finish(env, info) -> dict:
    while True:
        _, r, term, trunc, info = env.step(first_valid(info["action_mask"]))
        assert math.isfinite(r)
        if term or trunc:
            return info["metrics"]


# ---- invalid actions the env handles ----------------------------------------------------------

HANDLED = [
    (2**63 - 1, True), (-(2**63), True), (2**70, True), (-(2**70), True),
    (np.uint64(2**64 - 1), True), (float("nan"), True), (float("inf"), True),
    (float("-inf"), True), (np.float32(0.4), True), (1.5, True), (2.5, True), (-0.3, True),
    (1e300, True), (np.array([7.6]), True), (-1, True), (99, True), (0, None), (3.0, None),
    (np.array([2]), None), (np.int8(1), None), (np.array([1.5], dtype=object), True),
    (np.array([-(2**70)], dtype=object), True),
]


@pytest.mark.parametrize("env_id", [TBU, CLUSTER])
@pytest.mark.parametrize("action,counted", HANDLED, ids=[repr(a)[:24] for a, _ in HANDLED])
def test_handled_actions_become_the_nearest_valid_one(env_id, action, counted):
    env, twin, info = pair_at_masked_decision(env_id)
    mask = info["action_mask"]
    x = action.item() if isinstance(action, np.ndarray | np.generic) else action
    good = expected_action(x, mask)
    if counted is None:  # an integer (or integral float): counted iff it is not valid
        counted = not (0 <= x < len(mask) and mask[int(x)])
    before = info["invalid_actions"]
    obs, r, *_, info = env.step(action)
    obs2, r2, *_, info2 = twin.step(good)
    np.testing.assert_array_equal(obs, obs2)
    assert r == r2 and math.isfinite(r)
    assert info["invalid_actions"] == before + int(counted)
    metrics = finish(env, info)
    assert metrics["invalid_actions"] == 0  # the kernel never saw an invalid action
    assert metrics["env_invalid_actions"] == before + int(counted)


def test_fix_action_far_away_actions_respect_the_mask():
    mask = np.array([[False, True, True, True]])
    for x, want in ((2**63 - 1, 3), (-(2**63), 1), (0, 1), (5, 3)):
        invalid = np.zeros(1, np.int64)
        assert fix_action(np.array([x], np.int64), mask, 0, invalid) == want
        assert invalid[0] == 1


def test_huge_cluster_action_is_the_last_cluster():
    env, twin, info = pair_at_masked_decision(CLUSTER)
    C = len(info["action_mask"])
    obs, *_ = env.step(2**63 - 1)
    obs2, *_ = twin.step(C - 1)
    np.testing.assert_array_equal(obs, obs2)


# ---- actions refused --------------------------------------------------------------------------

REFUSED = ["1", True, np.bool_(False), None, 1 + 0j, np.array([[1]]), [0, 1], np.array([]),
           np.array(["a"]), np.array([None], dtype=object), np.array(["1"], dtype=object),
           [[0], [0, 1]], {"a": 1}]


@pytest.mark.parametrize("env_id", [TBU, CLUSTER])
@pytest.mark.parametrize("action", REFUSED, ids=[repr(a)[:24] for a in REFUSED])
def test_single_env_refuses_non_actions(env_id, action):
    env = gym.make(env_id, **SMALL)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="actions must be one action"):
        env.step(action)


VECTOR_REFUSED = [np.zeros((2, 2), np.int64), np.zeros(3, np.int64), 1, np.array(["0"] * 4),
                  np.ones(4, np.bool_), np.array([0, 0, None, 0], dtype=object),
                  [[0], [0], [0], [0, 1]], np.zeros(4, np.complex128)]


@pytest.mark.parametrize("actions", VECTOR_REFUSED, ids=[repr(a)[:24] for a in VECTOR_REFUSED])
def test_vector_env_and_sb3_adapter_refuse_non_actions(actions):
    venv = gym.make_vec(TBU, num_envs=4, vectorization_mode="vector_entry_point", **SMALL)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must be shape \(4,\)"):
        venv.step(actions)
    sb3 = make_sb3_vec_env(TBU, n_envs=4, seed=0, **SMALL)
    sb3.reset()
    with pytest.raises(ValueError, match=r"actions must be shape \(4,\)"):
        sb3.step(actions)


def test_vector_env_fixes_each_member_on_its_own():
    kw = {"num_envs": 4, "vectorization_mode": "vector_entry_point", **SMALL}
    venv, twin = gym.make_vec(CLUSTER, **kw), gym.make_vec(CLUSTER, **kw)
    _, info = venv.reset(seed=1)
    twin.reset(seed=1)
    C = info["action_mask"].shape[1]
    obs, r, *_, info = venv.step(np.array([np.nan, np.inf, 2.5, 3.0]))
    obs2, r2, *_ = twin.step(np.array([0, C - 1, 2, 3]))
    np.testing.assert_array_equal(obs, obs2)
    np.testing.assert_array_equal(r, r2)
    np.testing.assert_array_equal(info["invalid_actions"], [1, 1, 1, 0])
    sb3 = make_sb3_vec_env(CLUSTER, n_envs=4, seed=0, **SMALL)
    sb3.reset()
    sb3.step(np.array([2**70, -1, 0.5, 1]))
    np.testing.assert_array_equal(sb3.venv.core.invalid, [1, 1, 1, 0])


# ---- env keywords refused ---------------------------------------------------------------------

BAD_KWARGS = [
    ({"bogus": 1}, "bogus"), ({"reward_scale": float("nan")}, "reward_scale"),
    ({"reward_scale": float("inf")}, "reward_scale"), ({"reward_scale": -1.0}, "reward_scale"),
    ({"reward_scale": 0}, "reward_scale"), ({"reward_scale": "1"}, "reward_scale"),
    ({"reward_scale": 1e201}, "reward_scale"), ({"load": float("nan")}, "load"),
    ({"load": -0.5}, "load"), ({"load": "high"}, "load"), ({"load": True}, "load"),
    ({"requests_per_episode": 0}, "requests_per_episode"),
    ({"requests_per_episode": 2.5}, "requests_per_episode"),
    ({"requests_per_episode": True}, "requests_per_episode"), ({"max_steps": 0}, "max_steps"),
    ({"max_steps": 1.5}, "max_steps"), ({"controller": "telepathy"}, "controller"),
    ({"controller": 3}, "controller"), ({"reward": "nope"}, "reward"),
    ({"reward": None}, "reward"), ({"arrival": "never"}, "arrival"),
    ({"render_mode": "sparkles"}, "render_mode"), ({"sim_options": {"seed": 1}}, "sim_options"),
    ({"sim_options": [1]}, "sim_options"), ({"hardware": 3}, "hardware"),
    ({"viewer": "x"}, "viewer"),
]


@pytest.mark.filterwarnings("ignore:.*render_mode='sparkles'")  # gymnasium's own warning
@pytest.mark.parametrize("kw,field", BAD_KWARGS, ids=[f for _, f in BAD_KWARGS])
def test_bad_env_keywords_name_the_field(kw, field):
    for make in (lambda: gym.make(TBU, **kw), lambda: gym.make(CLUSTER, **kw),
                 lambda: gym.make_vec(TBU, num_envs=2, vectorization_mode="vector_entry_point",
                                      **kw),
                 lambda: make_sb3_vec_env(CLUSTER, n_envs=2, **kw)):
        with pytest.raises(ValueError, match=field):
            make()


@pytest.mark.parametrize("n", [0, -1, True, 2.0])
def test_bad_num_envs(n):
    with pytest.raises(ValueError, match="num_envs"):
        gym.make_vec(TBU, num_envs=n, vectorization_mode="vector_entry_point")


def test_unknown_keyword_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['bogus'\]; valid: .*'load'"):
        EnvConfig.from_kwargs(bogus=1, load=0.5)


def test_largest_reward_scale_keeps_rewards_finite():
    env = gym.make(TBU, reward_scale=1e200, **SMALL)
    _, info = env.reset(seed=0)
    finish(env, info)  # asserts every reward is finite


def test_config_helpers_for_other_code():
    assert validate_env_kwargs({"load": 0.5}) == {"load": 0.5}
    with pytest.raises(ValueError, match="--env-kwargs: env option load"):
        validate_env_kwargs({"load": -1}, where="--env-kwargs")
    with pytest.raises(ValueError, match="render_mode"):
        validate_env_kwargs({"render_mode": "ansi"},
                            allowed=set(ENV_OPTIONS) - set(ROLES["display"]))
    scen, rest = split_env_kwargs({"load": 0.5, "reward": "completion"}, ROLES["scenario"])
    assert scen == {"load": 0.5} and rest == {"reward": "completion"}
    assert set(ROLES["scenario"]) == {"hardware", "workflows", "load", "requests_per_episode",
                                      "sim_options", "load_range", "workflow_pool",
                                      "generated_workflows", "workflow_split",
                                      "warmup_requests"}


def test_sb3_agent_check_env_refuses_unknown_options():
    from octogym.agents.base import SB3Agent
    fake = types.SimpleNamespace(name="agent", env_id=TBU, env_kwargs={}, hardware="chip")
    SB3Agent.check_env(fake, TBU, {})
    with pytest.raises(ValueError, match="agent: env_kwargs: unknown option.*'bogus'"):
        SB3Agent.check_env(fake, TBU, {"bogus": 1})
    with pytest.raises(ValueError, match="reward_scale"):
        SB3Agent.check_env(fake, TBU, {"reward_scale": float("nan")})
    with pytest.raises(ValueError, match="vary: unknown option.*'lod'"):
        SB3Agent.check_env(fake, TBU, {}, vary=("lod",))


def test_docs_carry_the_option_table():
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[1] / "docs" / "envs.md").read_text()
    assert markdown_table() in doc, "docs/envs.md is stale: python -m octogym.envs.config"
