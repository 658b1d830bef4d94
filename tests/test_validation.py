"""One malformed workflow file per validation rule: each must fail with a WorkflowError that
names the file, the offending block (where there is one) and the rule."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml

import octogym.workflows.validate as validate_mod
from octogym.workflows import Workflow, WorkflowError, load_workflow, loads_workflow

ROOT = Path(__file__).resolve().parents[1]

# A task block in flow style; the cases below are built from these small pieces.
T = "{{id: {0}, type: task, config: c, kind: ai, duration: {{dist: fixed, value: 10}}}}"


def task(bid: str) -> str:
    return T.format(bid)


def doc(blocks: list[str], flows: list[tuple[str, str]] = (), entry: str = "a",
        extra: str = "") -> str:
    lines = ["name: w", f"entry: {entry}", "blocks:"]
    lines += [f"  - {b}" for b in blocks]
    if flows:
        lines.append("flows:")
        lines += [f"  - {{src: {s}, dst: {d}}}" for s, d in flows]
    return "\n".join(lines) + "\n" + textwrap.dedent(extra)


LOOP = doc(  # a -> br -> (a | b): a geometric loop, valid
    [task("a"), "{id: br, type: branch, probs: {a: 0.5, b: 0.5}}", task("b")],
    [("a", "br"), ("br", "a"), ("br", "b")],
)
MAP = doc(  # a -> m(body c) -> b, valid
    [task("a"), "{id: m, type: map, body: c, count: {dist: poisson, mean: 3}}", task("c"),
     task("b")],
    [("a", "m"), ("m", "b")],
)

# (case id, file text, rule, offending block)
CASES: list[tuple[str, str, str, str | None]] = [
    # ---- schema (parse time)
    ("schema-missing-entry", "name: w\nblocks:\n  - " + task("a") + "\n", "schema", None),
    ("schema-top-level-list", "- a\n- b\n", "schema", None),
    ("schema-empty-blocks", "name: w\nentry: a\nblocks: []\n", "schema", None),
    ("schema-bad-type", doc(["{id: a, type: teleport}"]), "schema", "a"),
    ("schema-task-missing-duration", doc(["{id: a, type: task, config: c, kind: ai}"]),
     "schema", "a"),
    ("schema-unknown-key",
     doc(["{id: a, type: task, config: c, kind: ai, colour: red, "
          "duration: {dist: fixed, value: 10}}"]), "schema", "a"),
    ("schema-bad-kind",
     doc(["{id: a, type: task, config: c, kind: quantum, duration: {dist: fixed, value: 1}}"]),
     "schema", "a"),
    ("schema-negative-bytes",
     doc([task("a"), task("b")], extra="flows:\n  - {src: a, dst: b, bytes: -1}\n"),
     "schema", "a"),
    # ---- syntax (not YAML at all)
    ("syntax-unclosed", "name: [w\nentry: a\n", "syntax", None),
    ("syntax-tabs", "name: w\n\tentry: a\n", "syntax", None),
    # ---- duplicate-id
    ("duplicate-id", doc([task("a"), task("a")]), "duplicate-id", "a"),
    # ---- unknown-id
    ("unknown-id-flow-dst", doc([task("a")], [("a", "ghost")]), "unknown-id", "ghost"),
    ("unknown-id-flow-src", doc([task("a")], [("ghost", "a")]), "unknown-id", "ghost"),
    ("unknown-id-entry", doc([task("a")], entry="ghost"), "unknown-id", None),
    ("unknown-id-map-body",
     doc([task("a"), "{id: m, type: map, body: ghost, count: {dist: fixed, value: 1}}"],
         [("a", "m")]), "unknown-id", "m"),
    ("unknown-id-probs-key",
     doc([task("a"), "{id: br, type: branch, probs: {b: 0.5, ghost: 0.5}}", task("b")],
         [("a", "br"), ("br", "b")]), "unknown-id", "br"),
    ("unknown-id-phase-target",
     LOOP + "phases:\n  - {after_requests: 10, set: {ghost: {probs: {a: 1.0}}}}\n",
     "unknown-id", "ghost"),
    # ---- duplicate-flow
    ("duplicate-flow", doc([task("a"), task("b")], [("a", "b"), ("a", "b")]),
     "duplicate-flow", "a"),
    # ---- probabilities
    ("probabilities-sum",
     doc([task("a"), "{id: br, type: branch, probs: {a: 0.5, b: 0.4}}", task("b")],
         [("a", "br"), ("br", "a"), ("br", "b")]), "probabilities", "br"),
    ("probabilities-negative",
     doc([task("a"), "{id: br, type: branch, probs: {a: -0.5, b: 1.5}}", task("b")],
         [("a", "br"), ("br", "a"), ("br", "b")]), "probabilities", "br"),
    ("probabilities-not-a-number",
     doc([task("a"), "{id: br, type: branch, probs: {a: half, b: 0.5}}", task("b")],
         [("a", "br"), ("br", "a"), ("br", "b")]), "probabilities", "br"),
    ("probabilities-nan",
     doc([task("a"), "{id: br, type: branch, probs: {a: .nan, b: 1.0}}", task("b")],
         [("a", "br"), ("br", "a"), ("br", "b")]), "probabilities", "br"),
    ("probabilities-in-phase",
     LOOP + "phases:\n  - {after_requests: 10, set: {br: {probs: {a: 0.7, b: 0.7}}}}\n",
     "probabilities", "br"),
    # ---- branch-flows
    ("branch-flows-missing-flow",
     doc([task("a"), "{id: br, type: branch, probs: {a: 0.5, b: 0.5}}", task("b")],
         [("a", "br"), ("br", "a")]), "branch-flows", "br"),
    ("branch-flows-extra-flow",
     doc([task("a"), "{id: br, type: branch, probs: {a: 0.5, b: 0.5}}", task("b"), task("c")],
         [("a", "br"), ("br", "a"), ("br", "b"), ("br", "c")]), "branch-flows", "br"),
    ("branch-flows-in-phase",
     doc([task("a"), "{id: br, type: branch, probs: {a: 0.5, b: 0.5}}", task("b"), task("c")],
         [("a", "br"), ("br", "a"), ("br", "b"), ("b", "c")],
         extra="phases:\n  - {after_requests: 10, set: {br: {probs: {a: 0.5, c: 0.5}}}}\n"),
     "branch-flows", "br"),
    # ---- task-flows
    ("task-flows", doc([task("a"), task("b"), task("c")], [("a", "b"), ("a", "c")]),
     "task-flows", "a"),
    # ---- map-flows
    ("map-flows",
     doc([task("a"), "{id: m, type: map, body: c, count: {dist: fixed, value: 1}}", task("c"),
          task("b"), task("d")], [("a", "m"), ("m", "b"), ("m", "d")]), "map-flows", "m"),
    # ---- fork-flows
    ("fork-flows", doc([task("a"), "{id: f, type: fork}"], [("a", "f")]), "fork-flows", "f"),
    # ---- join-flows
    ("join-flows-two-out",
     doc(["{id: f, type: fork}", task("x"), task("y"), "{id: j, type: join}", task("b"),
          task("c")],
         [("f", "x"), ("f", "y"), ("x", "j"), ("y", "j"), ("j", "b"), ("j", "c")], entry="f"),
     "join-flows", "j"),
    ("join-flows-no-in", doc(["{id: j, type: join}", task("b")], [("j", "b")], entry="j"),
     "join-flows", "j"),
    # ---- map-body
    ("map-body-missing",
     doc([task("a"), "{id: m, type: map, count: {dist: fixed, value: 1}}"], [("a", "m")]),
     "map-body", "m"),
    ("map-body-itself",
     doc([task("a"), "{id: m, type: map, body: m, count: {dist: fixed, value: 1}}"],
         [("a", "m")]), "map-body", "m"),
    ("map-body-reaches-map",
     doc([task("a"), "{id: m, type: map, body: c, count: {dist: fixed, value: 1}}", task("c")],
         [("a", "m"), ("c", "m")]), "map-body", "m"),
    ("map-body-reaches-map-via-branch",
     doc([task("a"), "{id: m, type: map, body: c, count: {dist: fixed, value: 1}}", task("c"),
          "{id: br, type: branch, probs: {m: 0.1, d: 0.9}}", task("d")],
         [("a", "m"), ("c", "br"), ("br", "m"), ("br", "d")]), "map-body", "m"),
    # ---- unreachable
    ("unreachable", doc([task("a"), task("b"), task("c")], [("a", "b")]), "unreachable", "c"),
    ("unreachable-only-flows-out",
     doc([task("a"), task("b"), task("c")], [("a", "b"), ("c", "b")]), "unreachable", "c"),
    # ---- cycle-without-branch (block checked separately: any block on the cycle)
    ("cycle-without-branch", doc([task("a"), task("b")], [("a", "b"), ("b", "a")]),
     "cycle-without-branch", "*ab"),
    ("cycle-without-branch-through-fork",
     doc([task("a"), "{id: f, type: fork}", task("b"), task("c")],
         [("a", "f"), ("f", "b"), ("f", "c"), ("b", "a")]), "cycle-without-branch", "*afb"),
    # ---- loop-cannot-exit (the block named is checked in test_loop_cannot_exit_names_a_block)
    ("loop-cannot-exit-certain-loop",
     doc([task("a"), "{id: br, type: branch, probs: {a: 1.0, b: 0.0}}", task("b")],
         [("a", "br"), ("br", "a"), ("br", "b")]), "loop-cannot-exit", "*"),
    ("loop-cannot-exit-fan-out",
     doc(["{id: f, type: fork}", task("x"), task("y"),
          "{id: bx, type: branch, probs: {f: 0.6, ex: 0.4}}",
          "{id: by, type: branch, probs: {f: 0.6, ey: 0.4}}", task("ex"), task("ey")],
         [("f", "x"), ("f", "y"), ("x", "bx"), ("y", "by"), ("bx", "f"), ("bx", "ex"),
          ("by", "f"), ("by", "ey")], entry="f"), "loop-cannot-exit", "*"),
    ("loop-cannot-exit-after-phase",
     LOOP + "phases:\n  - {after_requests: 10, set: {br: {probs: {a: 1.0, b: 0.0}}}}\n",
     "loop-cannot-exit", "*"),
    # ---- join-deadlock
    ("join-deadlock-after-branch",
     doc(["{id: br, type: branch, probs: {a: 0.5, b: 0.5}}", task("a"), task("b"),
          "{id: j, type: join}"], [("br", "a"), ("br", "b"), ("a", "j"), ("b", "j")],
         entry="br"), "join-deadlock", "j"),
    ("join-deadlock-early-exit-in-arm",
     doc(["{id: f, type: fork}", task("x"), "{id: br, type: branch, probs: {y: 0.5, z: 0.5}}",
          task("y"), task("z"), "{id: j, type: join}"],
         [("f", "x"), ("f", "br"), ("br", "y"), ("br", "z"), ("x", "j"), ("y", "j")],
         entry="f"), "join-deadlock", "j"),
    ("join-deadlock-in-map-body",
     doc([task("a"), "{id: m, type: map, body: br, count: {dist: fixed, value: 2}}",
          "{id: br, type: branch, probs: {x: 0.5, y: 0.5}}", task("x"), task("y"),
          "{id: j, type: join}"],
         [("a", "m"), ("br", "x"), ("br", "y"), ("x", "j"), ("y", "j")]),
     "join-deadlock", "j"),
    ("join-deadlock-after-phase",
     doc(["{id: f, type: fork}", task("x"), "{id: br, type: branch, probs: {y: 1.0, z: 0.0}}",
          task("y"), task("z"), "{id: j, type: join}"],
         [("f", "x"), ("f", "br"), ("br", "y"), ("br", "z"), ("x", "j"), ("y", "j")],
         entry="f",
         extra="phases:\n  - {after_requests: 5, set: {br: {probs: {y: 0.5, z: 0.5}}}}\n"),
     "join-deadlock", "j"),
    # ---- duration (parse time)
    ("duration-zero", doc([T.format("a").replace("value: 10", "value: 0")]), "duration", "a"),
    ("duration-negative", doc([T.format("a").replace("value: 10", "value: -5")]),
     "duration", "a"),
    ("duration-lognormal-zero-mean",
     doc(["{id: a, type: task, config: c, kind: ai, duration: {dist: lognormal, mean: 0, "
          "cv: 0.1}}"]), "duration", "a"),
    ("duration-uniform-zero-low",
     doc(["{id: a, type: task, config: c, kind: ai, duration: {dist: uniform, low: 0, "
          "high: 5}}"]), "duration", "a"),
    ("duration-empirical-negative",
     doc(["{id: a, type: task, config: c, kind: ai, duration: {dist: empirical, "
          "values: [3, -1]}}"]), "duration", "a"),
    ("duration-unknown-dist",
     doc(["{id: a, type: task, config: c, kind: ai, duration: {dist: cauchy, mean: 3}}"]),
     "duration", "a"),
    # ---- count (parse time)
    ("count-negative-mean", MAP.replace("mean: 3", "mean: -1"), "count", "m"),
    ("count-fractional-fixed", MAP.replace("{dist: poisson, mean: 3}", "{dist: fixed, value: 1.5}"),
     "count", "m"),
    ("count-in-phase",
     MAP + "phases:\n  - {after_requests: 10, set: {m: {count: {dist: poisson, mean: -2}}}}\n",
     "count", "m"),
    ("count-above-clamp", MAP.replace("{dist: poisson, mean: 3}", "{dist: fixed, value: 65}"),
     "count", "m"),
    ("count-poisson-mean-clamped", MAP.replace("mean: 3", "mean: 1000000"), "count", "m"),
    ("duration-beyond-int64", doc([T.format("a").replace("value: 10", "value: 1.0e+30")]),
     "duration", "a"),
    # ---- limit (parse time, and loop nests while validating)
    ("limit-out-bytes",
     doc(["{id: a, type: task, config: c, kind: ai, out_bytes: 10000000000000000000, "
          "duration: {dist: fixed, value: 1}}"]), "limit", "a"),
    ("limit-cost", doc(["{id: a, type: fork, cost: 1099511627777}", task("b")], [("a", "b")]),
     "limit", "a"),
    ("limit-id-length", doc([task("a" * 300)], entry="a" * 300), "limit", None),
    # ---- phase (parse time)
    ("phase-both-triggers",
     LOOP + "phases:\n  - {after_requests: 10, after_cycles: 99, set: {br: {probs: "
            "{a: 0.2, b: 0.8}}}}\n", "phase", None),
    ("phase-no-trigger", LOOP + "phases:\n  - {set: {br: {probs: {a: 0.2, b: 0.8}}}}\n",
     "phase", None),
    ("phase-empty-set", LOOP + "phases:\n  - {after_requests: 10, set: {}}\n", "phase", None),
    ("phase-not-a-mapping", LOOP + "phases:\n  - 10\n", "phase", None),
    ("phase-sets-a-task",
     LOOP + "phases:\n  - {after_requests: 10, set: {a: {probs: {b: 1.0}}}}\n", "phase", "a"),
    ("phase-count-on-branch",
     LOOP + "phases:\n  - {after_requests: 10, set: {br: {count: {dist: fixed, value: 1}}}}\n",
     "phase", "br"),
]


def _write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _check(err: WorkflowError, path: Path, rule: str, block: str | None) -> None:
    assert err.rule == rule, str(err)
    if block is not None and block.startswith("*"):
        if len(block) > 1:  # any block of the named set (e.g. one on the cycle)
            assert err.block in set(block[1:]), str(err)
    else:
        assert err.block == block, str(err)
    assert str(path) in str(err)
    assert f"[{rule}]" in str(err)
    assert err.source == str(path)


@pytest.mark.parametrize("text,rule,block", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_yaml(tmp_path, text, rule, block):
    path = _write(tmp_path, text)
    with pytest.raises(WorkflowError) as ei:
        load_workflow(path)
    _check(ei.value, path, rule, block)


@pytest.mark.parametrize("text,rule,block",
                         [c[1:] for c in CASES if c[2] != "syntax"],
                         ids=[c[0] for c in CASES if c[2] != "syntax"])
def test_malformed_json(tmp_path, text, rule, block):
    """The same tree as JSON fails the same way (JSON is the same format)."""
    path = _write(tmp_path, json.dumps(yaml.safe_load(text)), "wf.json")
    with pytest.raises(WorkflowError) as ei:
        load_workflow(path)
    _check(ei.value, path, rule, block)


def test_every_documented_rule_has_a_case():
    """The rules listed in validate.py's docstring (one source of truth) all have a case."""
    text = validate_mod.__doc__ or ""
    documented = set(re.findall(r"^``([a-z-]+)``", text, re.M))  # one rule per line ...
    parsed = re.search(r"\(([^()]*)are raised while parsing", text)  # ... and parse-time ones
    assert parsed is not None
    documented |= set(re.findall(r"``([a-z-]+)``", parsed.group(1)))
    assert {"unknown-id", "join-deadlock", "schema", "phase"} <= documented
    covered = {c[2] for c in CASES} | {"syntax"}
    assert documented <= covered, documented - covered


def test_json_syntax_error(tmp_path):
    path = _write(tmp_path, '{"name": "w", "entry": ', "wf.json")
    with pytest.raises(WorkflowError) as ei:
        load_workflow(path)
    _check(ei.value, path, "syntax", None)


def test_python_tag_is_rejected_not_executed(tmp_path):
    """Loading uses yaml.safe_load: a python/object tag is a syntax error and never runs."""
    victim = tmp_path / "pwned"
    path = _write(tmp_path, f'!!python/object/apply:os.mkdir ["{victim}"]\n')
    with pytest.raises(WorkflowError) as ei:
        load_workflow(path)
    _check(ei.value, path, "syntax", None)
    assert not victim.exists()
    # The same inside an otherwise fine document.
    text = LOOP.replace("name: w", f'name: !!python/object/apply:os.mkdir ["{victim}"]')
    path = _write(tmp_path, text)
    with pytest.raises(WorkflowError) as ei:
        load_workflow(path)
    _check(ei.value, path, "syntax", None)
    assert not victim.exists()


def _docs_example() -> str:
    """The file-format example of docs/model.md (the docs' example must load)."""
    text = (ROOT / "docs" / "model.md").read_text()
    return text.split("### File format", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]


FORMAT_EXAMPLE = _docs_example()


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_valid_file_loads(tmp_path, suffix):
    text = FORMAT_EXAMPLE if suffix != ".json" else json.dumps(yaml.safe_load(FORMAT_EXAMPLE))
    path = _write(tmp_path, text, "recognition" + suffix)
    wf = load_workflow(path)
    assert isinstance(wf, Workflow)
    assert wf.name == "recognition" and wf.entry == "detect"
    assert wf.block_ids == ["detect", "objects", "classify", "alarm", "notify", "post"]
    assert len(wf.flows) == 5 and len(wf.phases) == 1
    assert wf.source == str(path)
    assert wf == loads_workflow(FORMAT_EXAMPLE)


@pytest.mark.parametrize("text", [LOOP, MAP], ids=["loop", "map"])
def test_small_valid_cases_load(tmp_path, text):
    """The bases the malformed cases are built from are themselves valid."""
    load_workflow(_write(tmp_path, text))


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(WorkflowError) as ei:
        load_workflow(path)
    assert ei.value.rule == "file"
    assert str(path) in str(ei.value)


def test_directory_is_unreadable(tmp_path):
    path = tmp_path / "dir.yaml"
    path.mkdir()
    with pytest.raises(WorkflowError) as ei:
        load_workflow(path)
    assert ei.value.rule == "file"
    assert str(path) in str(ei.value)


@pytest.mark.parametrize("name", ["wf.txt", "wf", "wf.toml"])
def test_unknown_suffix(tmp_path, name):
    path = _write(tmp_path, LOOP, name)
    with pytest.raises(WorkflowError) as ei:
        load_workflow(path)
    assert ei.value.rule == "schema"
    assert str(path) in str(ei.value)
    assert load_workflow(path, fmt="yaml").name == "w"  # an explicit format still works


def test_not_utf8(tmp_path):
    path = tmp_path / "wf.yaml"
    path.write_bytes(b"name: \xff\xfe\x00w\n")
    with pytest.raises(WorkflowError) as ei:
        load_workflow(path)
    assert str(path) in str(ei.value)


def test_error_is_a_value_error_with_fields():
    with pytest.raises(ValueError) as ei:
        loads_workflow(doc([task("a"), task("a")]), source="inline")
    e = ei.value
    assert isinstance(e, WorkflowError)
    assert (e.source, e.block, e.rule) == ("inline", "a", "duplicate-id")
    assert str(e).startswith("inline: block 'a': [duplicate-id]")


# ---- rules the code does not (fully) enforce: kept strict so a fix shows up ------------------

def test_loop_cannot_exit_names_a_block(tmp_path):
    path = _write(tmp_path, CASES[[c[0] for c in CASES].index("loop-cannot-exit-certain-loop")][1])
    with pytest.raises(WorkflowError) as ei:
        load_workflow(path)
    assert ei.value.rule == "loop-cannot-exit"
    assert ei.value.block in {"a", "br"}


def test_phases_out_of_order(tmp_path):
    text = LOOP + ("phases:\n"
                   "  - {after_requests: 500, set: {br: {probs: {a: 0.2, b: 0.8}}}}\n"
                   "  - {after_requests: 100, set: {br: {probs: {a: 0.4, b: 0.6}}}}\n")
    path = _write(tmp_path, text)
    with pytest.raises(WorkflowError) as ei:
        load_workflow(path)
    _check(ei.value, path, "phase", None)
