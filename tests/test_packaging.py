"""Packaging and project-wide hygiene checks."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


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


_GLOBAL_RNG = re.compile(r"np\.random\.(?!default_rng\b|Generator\b)\w+")


def test_no_global_rng():
    """Every random draw comes from a seeded generator: no np.random.<fn> besides
    default_rng / Generator anywhere in the project's code."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        if ".venv" in path.parts or "build" in path.parts:
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if _GLOBAL_RNG.search(line) and "noqa: global-rng" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    # this file names the pattern itself
    offenders = [o for o in offenders if not o.startswith("tests/test_packaging.py")]
    assert not offenders, "global numpy RNG used:\n" + "\n".join(offenders)


def test_yaml_loaded_safely():
    bad = re.compile(r"yaml\.(load|unsafe_load|full_load)\(")
    for path in ROOT.rglob("*.py"):
        if ".venv" in path.parts or path.name == "test_packaging.py":
            continue
        assert not bad.search(path.read_text()), f"{path}: use yaml.safe_load"


def test_docs_name_every_scheduler_and_parameter():
    from octogym.schedulers import PARAMS, SCHEDULERS

    text = (ROOT / "docs" / "model.md").read_text()
    for name in [*SCHEDULERS, *PARAMS]:
        assert f"`{name}`" in text, f"docs/model.md does not document {name!r}"
