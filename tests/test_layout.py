"""The kernel's field layout (octogym.kernel.layout): the generated fields module and docs
table are in step with the layout tables, every field has a meaning and a row constant, every
row constant the code uses is defined, and the park codes cover every cluster."""

from __future__ import annotations

import re
from pathlib import Path

from octogym.kernel import fields as L
from octogym.kernel import layout
from octogym.kernel.layout import PARK_HOME
from octogym.kernel.mechanisms import park_code, parked_cluster


def test_fields_module_and_docs_table_are_generated_from_the_layout_tables():
    assert layout.FIELDS_PATH.read_text() == layout.fields_source(), \
        "octogym/kernel/fields.py is stale: regenerate it (python -m octogym.kernel.layout)"
    doc = (Path(__file__).resolve().parents[1] / "docs" / "model.md").read_text()
    assert layout.groups_markdown() in doc, \
        "docs/model.md 'Kernel state' is stale: paste the table that " \
        "python -m octogym.kernel.layout prints"


def test_every_field_has_a_meaning_and_its_row_constant():
    tables = [(g, fs) for g, _, fs in layout.MODEL_TABLE]
    tables += [(g, fs) for g, _, _, _, fs in layout.STATE_TABLE]
    tables.append((layout.WL_TABLE[0], layout.WL_TABLE[2]))
    for g, fs in tables:
        assert getattr(L, f"{g}_NFIELDS") == len(fs)
        for i, (name, meaning) in enumerate(fs):
            assert meaning.strip(), f"{g}.{name} has no meaning written"
            assert getattr(L, layout.constant_name(g, name)) == i
            assert g == "WL" or layout.FIELD_INDEX[name] == (g, i), f"{name!r} is not unique"


def test_every_row_constant_used_in_code_is_defined_in_fields():
    """``L.<NAME>`` anywhere in the project is a constant defined (greppable) in fields.py."""
    root = Path(__file__).resolve().parents[1]
    defined = set(re.findall(r"^([A-Z][A-Z0-9_]*) = \d+", layout.FIELDS_PATH.read_text(), re.M))
    used: dict[str, str] = {}
    for folder in ("octogym", "envs", "agents", "benchmarks", "tests"):
        for p in (root / folder).rglob("*.py"):
            for name in re.findall(r"\bL\.([A-Za-z_]\w*)", p.read_text()):
                used.setdefault(name, str(p.relative_to(root)))
    assert len(used) > 100
    missing = {n: p for n, p in used.items() if n not in defined}
    assert not missing, f"row constants used but not defined in fields.py: {missing}"


def test_park_codes_name_every_cluster_below_park_home():
    codes = [park_code(c) for c in range(300)]
    assert all(code < PARK_HOME for code in codes) and len(set(codes)) == 300
    assert [parked_cluster(code) for code in codes] == list(range(300))
