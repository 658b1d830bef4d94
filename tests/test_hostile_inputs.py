"""Hostile inputs (docs/limits.md): every one fails fast with the usual error type and a message
that names the offending field; nothing overflows, hangs, or echoes a huge value. Cases that
could blow up (alias bombs, deep nesting, huge files and graphs) run in a subprocess whose
wall time and peak RSS are asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from octogym import _numba_cache, limits
from octogym.hardware import HardwareError, get_hardware
from octogym.workflows import Workflow, WorkflowError, load_workflow, loads_workflow

MAX_MESSAGE = 1000  # no error message echoes an input beyond this


def task(bid: str = "a", duration: str = "{dist: fixed, value: 10}", extra: str = "") -> str:
    return (f"{{id: {bid}, type: task, config: c, kind: ai, duration: {duration}"
            f"{', ' + extra if extra else ''}}}")


def doc(blocks: list[str], flows: tuple[tuple[str, str], ...] = (), tail: str = "") -> str:
    lines = ["name: w", "entry: a", "blocks:"] + [f"  - {b}" for b in blocks]
    if flows:
        lines += ["flows:"] + [f"  - {{src: {s}, dst: {d}}}" for s, d in flows]
    return "\n".join(lines) + "\n" + tail


def mapped(count: str) -> str:
    return doc([task("a"), f"{{id: m, type: map, body: c, count: {count}}}", task("c")],
               (("a", "m"),))


def wf_error(text: str, rule: str, *words: str) -> WorkflowError:
    with pytest.raises(WorkflowError) as ei:
        loads_workflow(text, source="hostile.yaml")
    msg = str(ei.value)
    assert ei.value.rule == rule, msg
    for w in words:
        assert w in msg, (w, msg)
    assert len(msg) < MAX_MESSAGE, len(msg)
    return ei.value


PHASE = "phases:\n  - {{{0}, set: {{m: {{count: {{dist: fixed, value: 1}}}}}}}}\n"


# ---- workflow values: (case id, text, rule, words the message must contain) -----------------
VALUE_CASES = [
    ("duration-fixed-1e30", doc([task(duration="{dist: fixed, value: 1.0e+30}")]),
     "duration", ["duration 'fixed'", "1099511627776"]),
    ("duration-fixed-near-int64", doc([task(duration="{dist: fixed, value: 9.3e+18}")]),
     "duration", ["duration 'fixed'"]),
    ("duration-uniform-high", doc([task(duration="{dist: uniform, low: 1, high: 3.0e+12}")]),
     "duration", ["'uniform'"]),
    ("duration-lognormal-tail", doc([task(duration="{dist: lognormal, mean: 1.0e+9, cv: 100}")]),
     "duration", ["'lognormal'", "largest draw"]),
    ("duration-bimodal-b", doc([task(duration="{dist: bimodal, p: 0.5, a: 1, b: 1.0e+13}")]),
     "duration", ["'bimodal'"]),
    ("duration-empirical-huge", doc([task(duration="{dist: empirical, values: [1, 1.0e+20]}")]),
     "duration", ["'empirical'"]),
    ("duration-empirical-inf", doc([task(duration="{dist: empirical, values: [1, .inf]}")]),
     "duration", ["'empirical'", "positive number"]),
    ("duration-empirical-too-many",
     doc([task(duration="{dist: empirical, values: [" + ", ".join(["5"] * 10_001) + "]}")]),
     "duration", ["10000 values"]),
    ("count-fixed-2**70", mapped(f"{{dist: fixed, value: {2**70}}}"), "count",
     ["count 'fixed'", "<= 64"]),
    ("count-fixed-65", mapped("{dist: fixed, value: 65}"), "count", ["<= 64"]),
    ("count-poisson-1e6", mapped("{dist: poisson, mean: 1000000}"), "count",
     ["count 'poisson'", "mean must be <="]),
    ("count-poisson-1e300", mapped("{dist: poisson, mean: 1.0e+300}"), "count", ["'poisson'"]),
    ("count-geometric-50", mapped("{dist: geometric, mean: 50}"), "count", ["'geometric'"]),
    ("count-empirical-65", mapped("{dist: empirical, values: [1, 65]}"), "count",
     ["'empirical'", "<= 64"]),
    ("out-bytes-1e19", doc([task(extra="out_bytes: 10000000000000000000")]), "limit",
     ["out_bytes", str(limits.MAX_BYTES)]),
    ("flow-bytes-2**50",
     doc([task("a"), task("b")]) + f"flows:\n  - {{src: a, dst: b, bytes: {2**50}}}\n",
     "limit", ["flows[0].bytes"]),
    ("cb-cost-2**41", doc(["{id: a, type: fork, cost: 2199023255552}", task("b")],
                          (("a", "b"),)), "limit", ["cost"]),
    ("phase-after-cycles-2**63",
     mapped("{dist: fixed, value: 2}")
     + PHASE.format(f"after_cycles: {2**63}"),
     "limit", ["phases[0].after_cycles"]),
    ("phase-after-requests-2**40",
     mapped("{dist: fixed, value: 2}")
     + PHASE.format(f"after_requests: {2**40}"),
     "limit", ["phases[0].after_requests"]),
    ("id-10k-chars", doc([task("x" * 10_000)]), "limit", ["blocks[0].id", "256 characters"]),
    ("description-too-long", doc([task()]) + "description: " + "x" * 100_001 + "\n", "limit",
     ["description"]),
    ("unknown-keys-echo-bounded",
     doc(["{id: a, type: fork, " + ", ".join(f"k{i}: {i}" for i in range(3000)) + "}"]),
     "schema", ["unknown keys"]),
    ("name-huge-list", "name: [" + ", ".join(["lol"] * 50_000) + "]\nentry: a\nblocks: []\n",
     "schema", ["name must be a non-empty string"]),
]


@pytest.mark.parametrize("text,rule,words", [c[1:] for c in VALUE_CASES],
                         ids=[c[0] for c in VALUE_CASES])
def test_workflow_value_bounds(text, rule, words):
    wf_error(text, rule, *words)


def test_map_count_at_the_clamp_is_accepted():
    """The boundary itself is fine: 64 copies, and the largest accepted poisson mean."""
    from octogym.workflows.distributions import max_count_mean

    loads_workflow(mapped("{dist: fixed, value: 64}"))
    loads_workflow(mapped(f"{{dist: poisson, mean: {max_count_mean('poisson'):.6f}}}"))


def test_duration_at_the_limit_is_accepted():
    loads_workflow(doc([task(duration=f"{{dist: fixed, value: {limits.MAX_DURATION_CYCLES}}}")]))


# ---- bounded work: run in a subprocess, assert time and peak RSS -----------------------------
def run_bounded(code: str, seconds: float = 60, max_mb: float = 500) -> str:
    """Run ``code`` in a fresh interpreter; it must print one line; return that line."""
    prog = textwrap.dedent(code) + textwrap.dedent("""
        import resource
        print("RSS_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    """)
    out = subprocess.run([sys.executable, "-"], input=prog, capture_output=True, text=True,
                         timeout=seconds, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    rss = float(lines[-1].split()[1])
    assert rss < max_mb, f"peak RSS {rss:.0f} MB"
    return lines[-2]


EXPECT = """
from octogym.workflows import WorkflowError, load_workflow, loads_workflow
def expect(fn, rule, word):
    try:
        fn()
    except WorkflowError as e:
        assert e.rule == rule and word in str(e) and len(str(e)) < 1000, str(e)[:2000]
        print("OK", e.rule)
    else:
        raise AssertionError("no error")
"""


def test_yaml_alias_bomb_in_a_field(tmp_path):
    """The issue's ~450-byte alias bomb (10**8 leaves) fails at once, without expanding."""
    L = 8
    a = ['&a0 [' + ','.join(['"lol"'] * 10) + ']']
    a += [f"&a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, L)]
    p = tmp_path / "b.yaml"
    p.write_text("name: [" + ", ".join(a) + "]\nentry: a\nblocks: []\nflows: []\n")
    line = run_bounded(EXPECT + f"expect(lambda: load_workflow({str(p)!r}), 'schema', 'name')",
                       seconds=30)
    assert line == "OK schema"


def test_yaml_alias_bomb_in_distribution_values(tmp_path):
    L = 8
    a = ['&a0 [' + ','.join(['1'] * 10) + ']']
    a += [f"&a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, L)]
    p = tmp_path / "b.yaml"
    p.write_text("bomb: [" + ", ".join(a) + "]\n" + doc([task(
        duration=f"{{dist: empirical, values: *a{L - 1}}}")]))
    line = run_bounded(EXPECT + f"expect(lambda: load_workflow({str(p)!r}), 'schema', 'bomb')",
                       seconds=30)
    assert line == "OK schema"  # the unknown top-level key is reported first


def test_alias_bomb_in_values_of_a_valid_document(tmp_path):
    L = 8
    a = ['&a0 [' + ','.join(['1'] * 10) + ']']
    a += [f"&a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, L)]
    text = ("description: x\nname: w\nentry: a\nblocks:\n  - {id: a, type: task, config: c, "
            "kind: ai, duration: {dist: empirical, values: [" + ", ".join(a) + "]}}\n")
    p = tmp_path / "b.yaml"
    p.write_text(text)
    line = run_bounded(EXPECT + f"expect(lambda: load_workflow({str(p)!r}), 'duration', "
                                "'every value must be a positive number')", seconds=30)
    assert line == "OK duration"


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_a_workflow_error(fmt, depth):
    """Nesting beyond the parser's depth: a WorkflowError, never a raw RecursionError."""
    code = EXPECT + f"""
deep = "[" * {depth} + "]" * {depth}
text = ("name: w\\nentry: a\\nblocks: " + deep if {fmt!r} == "yaml"
        else '{{"name": "w", "entry": "a", "blocks": ' + deep + "}}")
expect(lambda: loads_workflow(text, {fmt!r}), 'limit', 'nested too deeply')
"""
    assert run_bounded(code, seconds=30) == "OK limit"


def test_file_size_checked_before_parsing(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_text("# " + "x" * limits.MAX_FILE_BYTES + "\n")
    with pytest.raises(WorkflowError) as ei:
        load_workflow(p)
    assert ei.value.rule == "limit" and "file is at most" in str(ei.value)
    with pytest.raises(WorkflowError, match="at most"):
        loads_workflow("x" * (limits.MAX_FILE_BYTES + 1))


def _chain(n: int) -> dict:
    return {"name": "c", "entry": "t0",
            "blocks": [{"id": f"t{i}", "type": "task", "config": "c", "kind": "ai",
                        "duration": {"dist": "fixed", "value": 10}} for i in range(n)],
            "flows": [{"src": f"t{i}", "dst": f"t{i + 1}"} for i in range(n - 1)]}


def test_block_count_limit():
    with pytest.raises(WorkflowError) as ei:
        Workflow.from_dict(_chain(limits.MAX_BLOCKS + 1))
    assert ei.value.rule == "limit" and "blocks: at most" in str(ei.value)


def test_phase_count_limit():
    d = json.loads(json.dumps(Workflow.from_dict(_chain(2)).to_dict()))
    d["blocks"].append({"id": "m", "type": "map", "body": "t1",
                        "count": {"dist": "fixed", "value": 1}})
    d["phases"] = [{"after_requests": i + 1, "set": {"m": {"count": {"dist": "fixed",
                                                                      "value": 1}}}}
                   for i in range(limits.MAX_PHASES + 1)]
    with pytest.raises(WorkflowError, match=r"phases: at most"):
        Workflow.from_dict(d)


def test_largest_chain_validates_and_compiles_in_linear_time():
    """MAX_BLOCKS tasks in a chain (was quadratic: 16,000 took 33 s and 4 GB)."""
    line = run_bounded("""
        from octogym import limits
        from octogym.workflows import Workflow
        from octogym.workflows.compiled import compile_mix
        from octogym.kernel.build import mix_work
        n = limits.MAX_BLOCKS
        d = {"name": "c", "entry": "t0",
             "blocks": [{"id": f"t{i}", "type": "task", "config": "c", "kind": "ai",
                         "duration": {"dist": "fixed", "value": 10}} for i in range(n)],
             "flows": [{"src": f"t{i}", "dst": f"t{i+1}"} for i in range(n - 1)]}
        work, _ = mix_work(compile_mix(Workflow.from_dict(d)))
        print("WORK", work)
    """, seconds=60)
    assert line == f"WORK {10.0 * limits.MAX_BLOCKS}"


def test_loop_nest_limit():
    n = limits.MAX_LOOP_BLOCKS + 1
    d = _chain(n)
    d["blocks"].append({"id": "br", "type": "branch",
                        "probs": {"t0": 0.5, "out": 0.5}})
    d["blocks"].append({"id": "out", "type": "task", "config": "c", "kind": "ai",
                        "duration": {"dist": "fixed", "value": 1}})
    d["flows"] += [{"src": f"t{n - 1}", "dst": "br"}, {"src": "br", "dst": "t0"},
                   {"src": "br", "dst": "out"}]
    with pytest.raises(WorkflowError) as ei:
        Workflow.from_dict(d)
    assert ei.value.rule == "limit" and "loop nest" in str(ei.value)


def test_wide_fanout_is_not_quadratic():
    """A fork with thousands of arms and a join: validated, frequencies exact."""
    from octogym.workflows import expected_frequencies

    n = 3000
    blocks = [{"id": "a", "type": "fork"}, {"id": "j", "type": "join"}]
    flows = []
    for i in range(n):
        blocks.append({"id": f"t{i}", "type": "task", "config": "c", "kind": "ai",
                       "duration": {"dist": "fixed", "value": 2}})
        flows += [{"src": "a", "dst": f"t{i}"}, {"src": f"t{i}", "dst": "j"}]
    wf = Workflow.from_dict({"name": "f", "entry": "a", "blocks": blocks, "flows": flows})
    fr = expected_frequencies(wf)
    assert fr.work == pytest.approx(2.0 * n)
    assert fr.of("j") == pytest.approx(1.0)


# ---- hardware --------------------------------------------------------------------------------
HW_CASES = [
    ("reconfig_cycles", 2**63), ("reconfig_cycles", 2**62), ("hop_cycles", 10**30),
    ("die_hop_cycles", 2**41), ("link_bytes_per_cycle", 2**41),
    ("local_bytes_per_cycle", 2**41), ("rows", 2000), ("cols", 10**9),
    ("tbus_per_cluster", 5000), ("queue_capacity", 10**6),
]


@pytest.mark.parametrize("field,value", HW_CASES, ids=[f"{f}={v}" for f, v in HW_CASES])
def test_hardware_field_bounds(field, value):
    with pytest.raises(HardwareError) as ei:
        get_hardware("chip", **{field: value})
    msg = str(ei.value)
    assert field in msg and "must be <=" in msg and "docs/limits.md" in msg, msg


def test_hardware_total_tbus_bound():
    with pytest.raises(HardwareError, match="TBUs must be <="):
        get_hardware("chip", rows=1024, cols=1024, die_rows=1, die_cols=1, tbus_per_cluster=2)


def test_hardware_latency_at_the_limit_is_accepted():
    hw = get_hardware("chip", reconfig_cycles=limits.MAX_LATENCY_CYCLES)
    assert hw.reconfig_cycles == 2**40


# ---- simulation arguments --------------------------------------------------------------------
def _sim(**kw):
    from octogym.simulator import Simulation

    args = dict(workflows="recognition", hardware="chip", n_requests=5, seed=1)
    args.update(kw)
    return Simulation(**args)


@pytest.mark.parametrize("kw,word", [
    ({"n_requests": 0}, "n_requests"),
    ({"n_requests": 2**40}, "n_requests"),
    ({"n_requests": 2.5}, "n_requests"),
    ({"batch": 0}, "batch"),
    ({"batch": 1.5}, "batch"),
    ({"epoch": -1}, "epoch"),
    ({"trace_cap": -3}, "trace_cap"),
    ({"load": float("nan")}, "load"),
    ({"load": 1e-300}, "load"),
    ({"slowdown": {0: 1e9}}, "slowdown"),
    ({"slowdown": {0: float("inf")}}, "slowdown"),
    ({"arrival": "trace", "n_requests": 2, "trace": ([0, 2**62], [0, 0])}, "trace times"),
], ids=lambda x: str(x)[:40])
def test_simulation_argument_bounds(kw, word):
    with pytest.raises(ValueError) as ei:
        _sim(**kw)
    assert word in str(ei.value), str(ei.value)


def test_huge_mesh_refused_before_allocating():
    """100 x 100 clusters took 4.8 GB for 50 requests; now a MemoryError naming the knob,
    raised before any (C, C) matrix exists."""
    line = run_bounded("""
        from octogym.hardware import get_hardware
        from octogym.simulator import Simulation
        try:
            Simulation("recognition", get_hardware("chip", rows=100, cols=100), n_requests=50)
        except MemoryError as e:
            assert "OCTOGYM_MAX_MEMORY_MB" in str(e) and "10000 clusters" in str(e), str(e)
            print("OK")
    """, seconds=60)
    assert line == "OK"


def test_memory_limit_is_overridable(monkeypatch):
    monkeypatch.setenv("OCTOGYM_MAX_MEMORY_MB", "0.5")
    with pytest.raises(MemoryError, match="OCTOGYM_MAX_MEMORY_MB"):
        _sim(batch=64)
    monkeypatch.setenv("OCTOGYM_MAX_MEMORY_MB", "lots")
    with pytest.raises(ValueError, match="OCTOGYM_MAX_MEMORY_MB"):
        _sim()


def test_time_horizon_raises_instead_of_wrapping():
    """Closed arrivals of 2**16 requests of 2**40 cycles need ~1000 * 2**40 cycles; the horizon
    of such a run is 2**63 / (n + 2) (so its sums of times fit in int64): an error, not a
    negative makespan."""
    from octogym.simulator import Simulation

    wf = loads_workflow(doc([task(duration=f"{{dist: fixed, value: {2**40}}}")]))
    sim = Simulation(wf, "chip", arrival="closed", n_requests=2**16, seed=1)
    with pytest.raises(limits.TimeHorizonError, match="horizon"):
        sim.run()


def test_metrics_before_any_completion_are_nan_only_for_latency():
    """Before the first completion the latency metrics are undefined (NaN, with n_requests 0:
    a truncated episode has them too); every other metric is finite."""
    sim = _sim()
    sim.advance(until=1)
    res = sim.result(0)
    assert res.n_requests == 0
    for k, v in res.to_dict().items():
        if isinstance(v, float):
            assert np.isnan(v) if k.startswith("latency_") else np.isfinite(v), k


def test_non_finite_metric_raises():
    from octogym.metrics import make_result

    split = {k: np.zeros(2, np.int64) for k in ("busy", "starved", "waiting_data",
                                                "reconfiguring", "blocked")}
    counters = dict(reconfigurations=0, noc_byte_hops=float("inf"), tb_executions=0,
                    cb_executions=0, events=0, invalid_actions=0, migrations=0, steals=0)
    with pytest.raises(ValueError, match="noc_byte_hops"):
        make_result(np.array([5.0]), 10, split, counters)


def test_normal_run_metrics_are_finite():
    res = _sim(n_requests=20).run()[0]
    for k, v in res.to_dict().items():
        if isinstance(v, float):
            assert np.isfinite(v), k
    assert res.n_requests == 20 and res.makespan > 0


# ---- the numba cache directory ---------------------------------------------------------------
def test_cache_dir_falls_back_to_a_private_temp_folder(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("OCTOGYM_CACHE_DIR", str(blocker))  # mkdir under a file fails
    monkeypatch.setattr(_numba_cache.tempfile, "gettempdir", lambda: str(tmp_path))
    d = _numba_cache._cache_dir()
    assert d.parent == tmp_path / f"octogym-numba-{os.getuid()}"
    assert not d.parent.stat().st_mode & 0o077


def test_cache_dir_shared_fallback_is_not_used(tmp_path, monkeypatch):
    """A group/world-writable (or foreign) fallback folder could hold someone else's code:
    never load from it; compile into a fresh private folder, with a warning naming the knob."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    shared = tmp_path / f"octogym-numba-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("OCTOGYM_CACHE_DIR", str(blocker))
    monkeypatch.setattr(_numba_cache.tempfile, "gettempdir", lambda: str(tmp_path))
    with pytest.warns(RuntimeWarning, match="OCTOGYM_CACHE_DIR"):
        d = _numba_cache._cache_dir()
    assert shared not in d.parents


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                    reason="needs root to give the folder to another user")
def test_cache_dir_fallback_owned_by_another_user(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    foreign = tmp_path / f"octogym-numba-{os.getuid()}"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 12345, 12345)
    monkeypatch.setenv("OCTOGYM_CACHE_DIR", str(blocker))
    monkeypatch.setattr(_numba_cache.tempfile, "gettempdir", lambda: str(tmp_path))
    with pytest.warns(RuntimeWarning):
        d = _numba_cache._cache_dir()
    assert foreign not in d.parents


def test_cache_dir_nothing_writable_names_the_knob(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("OCTOGYM_CACHE_DIR", str(blocker))
    monkeypatch.setattr(_numba_cache.tempfile, "gettempdir", lambda: str(blocker))

    def no_temp(**_kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_numba_cache.tempfile, "mkdtemp", no_temp)
    with pytest.raises(ImportError, match="OCTOGYM_CACHE_DIR"):
        _numba_cache._cache_dir()


def test_import_with_unwritable_cache_and_home(tmp_path):
    """The issue's case: OCTOGYM_CACHE_DIR and HOME unusable: import still works."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = dict(os.environ, OCTOGYM_CACHE_DIR=str(blocker / "x"), HOME=str(blocker / "home"),
               TMPDIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", "import octogym.simulator, octogym._numba_cache "
                          "as c; print(c.CACHE_DIR)"], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    assert Path(out.stdout.strip()).parent == tmp_path / f"octogym-numba-{os.getuid()}"


@pytest.mark.parametrize("params", [{"ema": float("nan")}, {"ema": 2.0},
                                    {"structural_idle": float("inf")},
                                    {"structural_idle": -1}, {"ema": "0.5"}])
def test_scheduler_parameter_bounds(params):
    from octogym.schedulers import param_vector

    with pytest.raises(ValueError) as ei:
        param_vector("octopus", params)
    assert next(iter(params)) in str(ei.value)


def test_env_step_past_the_horizon_raises():
    """The env runs members in compiled code up to 2**62; a member whose clock passes its
    run's horizon (where sums of times could wrap) raises instead of returning rewards."""
    import gymnasium as gym

    import octogym  # noqa: F401  (registers the ids)

    env = gym.make("octogym/TBUAssign-v0", requests_per_episode=5)
    _, info = env.reset(seed=1)
    env.unwrapped.core.sim.horizon = 1  # as if the run were huge
    with pytest.raises(limits.TimeHorizonError, match="horizon"):
        env.step(int(np.argmax(info["action_mask"])))
