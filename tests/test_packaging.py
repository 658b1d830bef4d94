"""Packaging and project-wide hygiene checks."""

from __future__ import annotations

from pathlib import Path

import tomllib
from conftest import ROOT


def test_every_subpackage_is_packaged():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    dirs = cfg["package-dir"]
    found = set()
    for pkg, d in dirs.items():
        base = ROOT / d
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    assert found == listed, f"pyproject packages {sorted(listed)} != tree {sorted(found)}"


def test_suite_files_are_package_data():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = cfg["package-data"]["octogym"]
    files = list((ROOT / "octogym" / "data" / "suite").glob("*.yaml"))
    assert files
    assert any(Path("data/suite/x.yaml").match(p) for p in patterns)
    agent_files = list((ROOT / "agents" / "hyperparams").glob("*.yml"))
    assert agent_files
    assert any(Path("hyperparams/x.yml").match(p) for p in cfg["package-data"]["octogym.agents"])


def test_docs_name_every_scheduler_and_parameter():
    from octogym.schedulers import PARAMS, SCHEDULERS

    text = (ROOT / "docs" / "model.md").read_text()
    for name in [*SCHEDULERS, *PARAMS]:
        assert f"`{name}`" in text, f"docs/model.md does not document {name!r}"


def test_lint_enforces_seeded_rng_and_safe_yaml():
    """`make lint` (run by CI) checks the two project rules with ruff: NPY002 (no legacy global
    numpy RNG: every draw comes from a seeded Generator) and S506 (YAML via safe loaders)."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert {"NPY002", "S506"} <= set(cfg["tool"]["ruff"]["lint"]["select"])
    assert "make lint" in (ROOT / ".ci" / "run").read_text()


def test_bundled_checkpoints_and_bench_files_are_package_data():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    agents = cfg["package-data"]["octogym.agents"]
    zoo = list((ROOT / "agents" / "zoo").glob("*/final.zip"))
    assert zoo
    for f in zoo:
        rel = f.relative_to(ROOT / "agents")
        assert any(rel.match(p) for p in agents), rel
        assert any(rel.with_name("config.json").match(p) for p in agents), rel
    bench = list((ROOT / "octogym" / "data" / "bench").glob("*.json"))
    assert bench and all(any(f.relative_to(ROOT / "octogym").match(p)
                             for p in cfg["package-data"]["octogym"]) for f in bench)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"octogym": "octogym.cli:main"}
