"""Tests for the built-in workflow suite (octogym.workflows.suite and octogym/data/suite)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import octogym.workflows as owf
from octogym.workflows import (
    dumps_workflow,
    expected_frequencies,
    load_all,
    load_suite,
    load_workflow,
    loads_workflow,
    suite_names,
)
from octogym.workflows.distributions import COUNT_PARAMS, DURATION_PARAMS
from octogym.workflows.model import CONTROL_TYPES
from octogym.workflows.suite import SUITE_DIR, main, summarise
from octogym.workflows.validate import validate

STABLE_NAMES = ["agent_loop", "early_exit", "recognition", "recommendation", "sensor_fusion",
                "video_analytics"]
NAMES = suite_names()


def test_suite_names_match_files():
    files = sorted(p.stem for p in Path(str(SUITE_DIR)).glob("*.yaml"))
    assert NAMES == files
    assert NAMES == sorted(NAMES)
    # The names are stable API (docs/model.md §2).
    assert set(STABLE_NAMES) <= set(NAMES)


def test_exported_from_package():
    for n in ("suite_names", "load_suite", "load_all"):
        assert n in owf.__all__
        assert getattr(owf, n) is not None


def test_unknown_name_lists_valid_names():
    with pytest.raises(KeyError) as ei:
        load_suite("no_such_workflow")
    msg = str(ei.value)
    assert "no_such_workflow" in msg
    for n in NAMES:
        assert n in msg


def test_load_all():
    wfs = load_all()
    assert list(wfs) == NAMES
    for n, wf in wfs.items():
        assert wf.name == n
        assert wf is load_suite(n)


@pytest.mark.parametrize("name", NAMES)
def test_loads_and_validates(name):
    wf = load_suite(name)
    validate(wf)  # again, explicitly
    # Loading the file by path gives the same workflow.
    assert load_workflow(Path(str(SUITE_DIR)) / f"{name}.yaml") == wf
    assert wf.name == name
    assert len(wf.description) > 80
    assert 4 <= len(wf.blocks) <= 9


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_round_trip_exact(name, fmt):
    wf = load_suite(name)
    text = dumps_workflow(wf, fmt)
    back = loads_workflow(text, fmt)
    assert back == wf
    assert back.to_dict() == wf.to_dict()
    assert dumps_workflow(back, fmt) == text


@pytest.mark.parametrize("name", NAMES)
def test_has_drift_that_shifts_demand(name):
    wf = load_suite(name)
    assert len(wf.phases) >= 1
    assert all(p.after_requests is not None for p in wf.phases)
    starts = [p.after_requests for p in wf.phases]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    f0 = expected_frequencies(wf, 0).work_per_config
    fn = expected_frequencies(wf, len(wf.phases)).work_per_config
    assert set(f0) == set(fn)
    # Per-configuration demand changes (by more than 10 % for at least one configuration) ...
    assert any(abs(fn[c] - f0[c]) > 0.1 * max(f0[c], 1.0) for c in f0)
    # ... and so does the mix: a profile normalised at phase 0 is wrong afterwards.
    s0, sn = sum(f0.values()), sum(fn.values())
    assert any(abs(fn[c] / sn - f0[c] / s0) > 0.02 for c in f0)


@pytest.mark.parametrize("name", NAMES)
def test_numbers_in_documented_ranges(name):
    wf = load_suite(name)
    for t in wf.tasks:
        assert 2_000 <= t.duration.mean() <= 400_000, (name, t.id, t.duration.mean())
        assert (t.kind == "general") == (t.config == "cpu")
    assert 2 <= len(wf.configs) <= 6
    assert len({t.config for t in wf.tasks if t.kind == 'ai'}) >= 1


def test_work_per_request_within_10x():
    works = []
    for wf in load_all().values():
        works += [expected_frequencies(wf, k).work for k in range(len(wf.phases) + 1)]
    assert max(works) / min(works) <= 10.0


def test_suite_covers_every_family_and_cb_type():
    wfs = list(load_all().values())
    cbs = {b.type for wf in wfs for b in wf.blocks if b.type != "task"}
    assert cbs == set(CONTROL_TYPES)
    durs = {t.duration.dist for wf in wfs for t in wf.tasks}
    assert durs == set(DURATION_PARAMS)
    counts = {b.count.dist for wf in wfs for b in wf.blocks if b.type == "map"}
    counts |= {c.dist for wf in wfs for ph in wf.phases for _, c in ph.counts}
    assert counts == set(COUNT_PARAMS)


def test_agent_loop_has_a_loop():
    wf = load_suite("agent_loop")
    fr = expected_frequencies(wf, 0)
    assert fr.of(wf.entry) > 1.0  # the planner runs more than once per request on average
    # A back-edge: some flow goes to the entry.
    assert any(f.dst == wf.entry for f in wf.flows)


@pytest.mark.parametrize("name", NAMES)
def test_summarise_one_line(name):
    wf = load_suite(name)
    line = summarise(wf)
    assert "\n" not in line and line.startswith(name)
    fr = expected_frequencies(wf, 0)
    assert f"{fr.work:,.0f}" in line
    assert f"phases={len(wf.phases)}" in line
    assert math.isfinite(fr.work)


def test_main_prints_table(capsys):
    assert main() == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 + len(NAMES)
    assert [line.split()[0] for line in out[1:]] == NAMES
    assert main(["no_such_workflow"]) == 2
