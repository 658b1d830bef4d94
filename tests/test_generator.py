"""The seeded random OWG generator: always valid, exact round trips, determinism, knob effects."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octogym.workflows import (
    Workflow,
    dumps_workflow,
    expected_frequencies,
    loads_workflow,
)
from octogym.workflows.generator import (
    MIN_BRANCH_PROB,
    GeneratorConfig,
    RandomWorkflowGenerator,
    WorkflowGenerator,
    generate_workflow,
    generate_workflow_dict,
    toy_chain,
)
from octogym.workflows.validate import validate

SEEDS = st.integers(0, 2**32 - 1)
FAST = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _gen(seed: int, **knobs) -> Workflow:
    return generate_workflow(np.random.default_rng(seed), GeneratorConfig(**knobs))


def _has_cycle(wf: Workflow) -> bool:
    succ = {b: [f.dst for f in wf.successors(b)] for b in wf.block_ids}
    color = dict.fromkeys(succ, 0)

    def visit(u: str) -> bool:
        color[u] = 1
        for v in succ[u]:
            if color[v] == 1 or (color[v] == 0 and visit(v)):
                return True
        color[u] = 2
        return False

    return any(color[b] == 0 and visit(b) for b in succ)


def _types(wf: Workflow) -> set[str]:
    return {b.type for b in wf.blocks}


def _assert_round_trips(wf: Workflow) -> None:
    for fmt in ("yaml", "json"):
        text = dumps_workflow(wf, fmt)
        back = loads_workflow(text, fmt)
        assert back == wf
        assert back.to_dict() == wf.to_dict()
        assert dumps_workflow(back, fmt) == text
    assert json.loads(dumps_workflow(wf, "json")) == wf.to_dict()


# ---- validity and round trips -----------------------------------------------------------------

@FAST
@given(seed=SEEDS)
def test_default_config_valid_and_round_trips(seed):
    wf = _gen(seed, n_phases=(0, 2))
    validate(wf)
    _assert_round_trips(wf)
    lo, hi = GeneratorConfig().n_tasks
    assert lo <= len(wf.tasks) <= hi
    expected_frequencies(wf)  # finite


KNOBS = st.fixed_dictionaries({
    "n_tasks": st.one_of(st.integers(1, 16),
                         st.tuples(st.integers(1, 8), st.integers(8, 16))),
    "n_configs": st.tuples(st.integers(1, 3), st.integers(3, 6)),
    "branch_density": st.floats(0, 0.4),
    "map_density": st.floats(0, 0.3),
    "fork_density": st.floats(0, 0.3),
    "loop_probability": st.floats(0, 1),
    "max_continue": st.floats(0.05, 0.69),
    "exit_probability": st.floats(0, 1),
    "skip_probability": st.floats(0, 1),
    "max_branch_arms": st.integers(2, 4),
    "max_fork_arms": st.integers(2, 4),
    "max_depth": st.integers(0, 4),
    "duration_spread": st.floats(0, 2),
    "mean_duration": st.tuples(st.integers(1, 1000), st.integers(1000, 10**6)),
    "max_map_count": st.integers(1, 5),
    "n_phases": st.integers(0, 3),
    "bytes": st.tuples(st.integers(0, 64), st.integers(64, 10**6)),
})


@FAST
@given(seed=SEEDS, knobs=KNOBS)
def test_varied_knobs_valid_and_within_bounds(seed, knobs):
    cfg = GeneratorConfig(**knobs)
    wf = generate_workflow(np.random.default_rng(seed), cfg)
    validate(wf)
    _assert_round_trips(wf)
    n = knobs["n_tasks"]
    lo, hi = (n, n) if isinstance(n, int) else n
    assert lo <= len(wf.tasks) <= hi
    assert 1 <= len(wf.configs) <= knobs["n_configs"][1]
    assert len(wf.configs) >= min(knobs["n_configs"][0], len(wf.tasks))
    kind_of = {}
    for t in wf.tasks:
        assert kind_of.setdefault(t.config, t.kind) == t.kind  # one kind per configuration
        if t.duration.dist in ("fixed", "lognormal"):
            m = t.duration.mean()
            assert knobs["mean_duration"][0] <= m <= knobs["mean_duration"][1]
        if knobs["duration_spread"] == 0:
            assert t.duration.dist == "fixed"
        assert knobs["bytes"][0] <= t.out_bytes <= knobs["bytes"][1]
    for f in wf.flows:
        assert knobs["bytes"][0] <= f.bytes <= knobs["bytes"][1]
    for b in wf.blocks:
        if b.type == "map":
            assert b.count.mean() <= knobs["max_map_count"]
        if b.type == "branch":
            assert all(p >= MIN_BRANCH_PROB - 1e-3 for _, p in b.probs)
    assert len(wf.phases) <= knobs["n_phases"]
    if knobs["n_phases"] and any(b.type in ("branch", "map") for b in wf.blocks):
        assert len(wf.phases) == knobs["n_phases"]
    after = [p.after_requests for p in wf.phases]
    assert after == sorted(after) and len(set(after)) == len(after)
    for k in range(len(wf.phases) + 1):
        expected_frequencies(wf, phase=k)  # finite in every phase


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_large_dense_workflows_valid(seed):
    wf = _gen(seed, n_tasks=(20, 30), branch_density=0.3, fork_density=0.3, map_density=0.2,
              loop_probability=0.5, n_phases=2)
    validate(wf)
    assert 20 <= len(wf.tasks) <= 30


# ---- determinism ------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(seed=SEEDS)
def test_same_seed_same_workflow(seed):
    cfg = GeneratorConfig(n_phases=(0, 2))
    a = generate_workflow(np.random.default_rng(seed), cfg)
    b = generate_workflow(np.random.default_rng(seed), cfg)
    assert a == b
    assert dumps_workflow(a) == dumps_workflow(b)
    assert generate_workflow_dict(np.random.default_rng(seed), cfg) == a.to_dict()


def test_different_seeds_differ():
    texts = {dumps_workflow(_gen(s)) for s in range(20)}
    assert len(texts) == 20


def test_uses_only_the_given_generator():
    """Never the global numpy RNG: its state is untouched, and a seeded draw is reproducible
    however the global state was left."""
    # the legacy global RNG on purpose (NPY002): the generator must leave it untouched
    np.random.seed(123)  # noqa: NPY002
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    a = _gen(7, n_phases=2)
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    np.random.seed(999)  # noqa: NPY002
    assert _gen(7, n_phases=2) == a


def test_rng_must_be_a_generator():
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        generate_workflow(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="GeneratorConfig"):
        generate_workflow(np.random.default_rng(0), {"n_tasks": 3})  # type: ignore[arg-type]


def test_random_generator_class():
    cfg = GeneratorConfig(n_tasks=(3, 9), n_phases=1)
    gen = RandomWorkflowGenerator(cfg, name="rnd")
    assert isinstance(gen, WorkflowGenerator)
    wf = gen(np.random.default_rng(5))
    assert wf.name == "rnd"
    assert wf == generate_workflow(np.random.default_rng(5), cfg, name="rnd")
    assert RandomWorkflowGenerator()(np.random.default_rng(5)) == _gen(5)
    assert "RandomWorkflowGenerator" in repr(gen)


# ---- knob effects -----------------------------------------------------------------------------

SOME = range(40)


def test_no_maps_without_map_density():
    for s in SOME:
        assert "map" not in _types(_gen(s, map_density=0.0, branch_density=0.4,
                                        fork_density=0.4, n_tasks=(5, 15)))


def test_no_forks_without_fork_density():
    for s in SOME:
        types = _types(_gen(s, fork_density=0.0, branch_density=0.5, map_density=0.3,
                            n_tasks=(5, 15)))
        assert not types & {"fork", "join"}


def test_no_branches_without_branch_density():
    for s in SOME:
        wf = _gen(s, branch_density=0.0, fork_density=0.4, map_density=0.3, n_tasks=(5, 15),
                  n_phases=2)
        assert "branch" not in _types(wf)
        assert not _has_cycle(wf)
        for p in wf.phases:
            assert not p.probs and p.counts


def test_no_loops_without_loop_probability():
    for s in SOME:
        wf = _gen(s, loop_probability=0.0, branch_density=0.6, n_tasks=(5, 15))
        assert not _has_cycle(wf)


def test_loops_with_loop_probability_one():
    """Every branch is then a loop: exactly one of its flows goes back to an ancestor."""
    n_cyclic = 0
    for s in SOME:
        wf = _gen(s, loop_probability=1.0, branch_density=0.5, map_density=0.0,
                  fork_density=0.0, n_tasks=(4, 10))
        if "branch" in _types(wf):
            assert _has_cycle(wf)
            n_cyclic += 1
    assert n_cyclic > 20


def test_zero_densities_give_a_chain():
    for s in range(10):
        wf = _gen(s, branch_density=0.0, map_density=0.0, fork_density=0.0, n_tasks=7)
        assert _types(wf) == {"task"}
        assert len(wf.flows) == 6
        assert wf.entry == "t0"
        assert np.allclose(expected_frequencies(wf).executions, 1.0)


def test_max_depth_zero_gives_a_chain():
    for s in range(10):
        wf = _gen(s, branch_density=0.5, map_density=0.3, fork_density=0.2, max_depth=0,
                  n_tasks=5)
        assert _types(wf) == {"task"} and len(wf.flows) == 4


def test_zero_spread_gives_fixed_durations():
    for s in range(10):
        wf = _gen(s, duration_spread=0.0, mean_duration=(500, 600))
        assert all(t.duration.dist == "fixed" for t in wf.tasks)
        assert all(500 <= t.duration["value"] <= 600 for t in wf.tasks)


def test_phases_drift_control_blocks():
    n_with = 0
    for s in SOME:
        wf = _gen(s, n_phases=3, phase_length=100, branch_density=0.4, map_density=0.3)
        if any(b.type in ("branch", "map") for b in wf.blocks):
            n_with += 1
            assert [p.after_requests for p in wf.phases] == [100, 200, 300]
            for p in wf.phases:
                assert p.probs or p.counts
        else:
            assert wf.phases == ()
    assert n_with > 30


def test_densities_change_structure():
    """More density of a kind means more blocks of that kind (averaged over fixed seeds)."""
    def count(kind, **knobs):
        return sum(sum(b.type == kind for b in _gen(s, n_tasks=12, **knobs).blocks)
                   for s in SOME)

    assert count("map", map_density=0.4) > count("map", map_density=0.05)
    assert count("fork", fork_density=0.4) > count("fork", fork_density=0.05)
    assert count("branch", branch_density=0.6) > count("branch", branch_density=0.05)


def test_exact_task_count_and_configs():
    for s in SOME:
        wf = _gen(s, n_tasks=9, n_configs=4)
        assert len(wf.tasks) == 9
        assert sorted(wf.configs) == ["cfg0", "cfg1", "cfg2", "cfg3"]
    wf = _gen(0, n_tasks=2, n_configs=5)
    assert len(wf.configs) == 2


def test_fork_arms_never_end_early():
    """With certain early exits, alternatives outside fork arms end the request, yet joins
    (validated for deadlock) still get every token."""
    for s in SOME:
        validate(_gen(s, exit_probability=1.0, branch_density=0.4, fork_density=0.4,
                      n_tasks=(6, 14)))


# ---- bad knobs --------------------------------------------------------------------------------

@pytest.mark.parametrize("knobs,field", [
    ({"n_tasks": 0}, "n_tasks"),
    ({"n_tasks": (5, 3)}, "n_tasks"),
    ({"n_tasks": (1, 2, 3)}, "n_tasks"),
    ({"n_tasks": 2.5}, "n_tasks"),
    ({"n_tasks": True}, "n_tasks"),
    ({"n_configs": 0}, "n_configs"),
    ({"branch_density": -0.1}, "branch_density"),
    ({"map_density": 1.5}, "map_density"),
    ({"fork_density": "lots"}, "fork_density"),
    ({"branch_density": 0.5, "map_density": 0.4, "fork_density": 0.3}, "must be <= 1"),
    ({"loop_probability": 2.0}, "loop_probability"),
    ({"max_continue": 1.0}, "max_continue"),
    ({"max_continue": 0.0}, "max_continue"),
    ({"exit_probability": -1}, "exit_probability"),
    ({"skip_probability": 1.1}, "skip_probability"),
    ({"max_branch_arms": 1}, "max_branch_arms"),
    ({"max_fork_arms": 1}, "max_fork_arms"),
    ({"max_depth": -1}, "max_depth"),
    ({"duration_spread": -0.5}, "duration_spread"),
    ({"duration_spread": float("nan")}, "duration_spread"),
    ({"mean_duration": (0, 10)}, "mean_duration"),
    ({"max_map_count": 0}, "max_map_count"),
    ({"n_phases": -1}, "n_phases"),
    ({"phase_length": 0}, "phase_length"),
    ({"drift_fraction": 0.0}, "drift_fraction"),
    ({"bytes": (-1, 10)}, "bytes"),
    ({"cb_cost": (10, 1)}, "cb_cost"),
    ({"ai_fraction": 3}, "ai_fraction"),
])
def test_bad_knobs_raise(knobs, field):
    with pytest.raises(ValueError, match=field):
        GeneratorConfig(**knobs)


# ---- the toy oracle ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 7])
def test_toy_chain(n):
    wf = toy_chain(n, 1000)
    assert [t.id for t in wf.tasks] == [f"t{i}" for i in range(n)]
    assert len(wf.flows) == n - 1 and wf.entry == "t0"
    assert all(t.duration.dist == "fixed" and t.duration["value"] == 1000 for t in wf.tasks)
    fr = expected_frequencies(wf)
    assert np.array_equal(fr.executions, np.ones(n))
    assert fr.work_per_config == {"toy": n * 1000.0}
    _assert_round_trips(wf)


@pytest.mark.parametrize("args", [(0, 10), (3, 0), (2.5, 10), (3, -1)])
def test_toy_chain_rejects_bad_args(args):
    with pytest.raises(ValueError):
        toy_chain(*args)
