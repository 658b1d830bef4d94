"""Load and save workflows as YAML or JSON (safe loaders only). Round trips are exact.

Input is bounded (docs/limits.md): file size before parsing, then counts and values while
parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from octogym import limits
from octogym.workflows.model import Workflow, WorkflowError

# libyaml's safe loader when available: the same safe subset of YAML, ~3x faster to parse.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TOO_DEEP = "nested too deeply to parse (a workflow needs only a few levels)"


def _fmt(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    suf = path.suffix.lower()
    if suf in (".yaml", ".yml"):
        return "yaml"
    if suf == ".json":
        return "json"
    raise WorkflowError(str(path), None, "schema",
                        f"unknown file type '{suf}'; use .yaml, .yml or .json")


def _safe_yaml(text: str) -> Any:
    """``yaml.safe_load`` with libyaml's safe loader when available (same safe subset)."""
    loader = _SAFE_LOADER(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def loads_workflow(text: str, fmt: str = "yaml", source: str | None = None) -> Workflow:
    """Parse a workflow from YAML or JSON text and validate it.

    The text is at most ``limits.MAX_FILE_BYTES`` long (checked before parsing); nesting too
    deep for the parser is a :class:`WorkflowError` (rule ``limit``), not a RecursionError."""
    if len(text) > limits.MAX_FILE_BYTES:
        raise WorkflowError(source, None, "limit",
                            f"a workflow is at most {limits.MAX_FILE_BYTES} characters "
                            f"(docs/limits.md), got {len(text)}")
    try:
        data: Any = json.loads(text) if fmt == "json" else _safe_yaml(text)
        return Workflow.from_dict(data, source=source)
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        if "maximum nesting depth" in str(e):  # libyaml's own depth limit
            raise WorkflowError(source, None, "limit", _TOO_DEEP) from None
        raise WorkflowError(source, None, "syntax",
                            f"not valid {fmt.upper()}: {limits.short(str(e))}") from None
    except RecursionError:
        raise WorkflowError(source, None, "limit", _TOO_DEEP) from None


def load_workflow(path: str | Path, fmt: str | None = None) -> Workflow:
    """Load and validate a workflow file (``.yaml``/``.yml``/``.json``)."""
    path = Path(path)
    kind = _fmt(path, fmt)
    try:
        size = path.stat().st_size
        if size > limits.MAX_FILE_BYTES:
            raise WorkflowError(str(path), None, "limit",
                                f"a workflow file is at most {limits.MAX_FILE_BYTES} bytes "
                                f"(docs/limits.md), got {size}")
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise WorkflowError(str(path), None, "file", f"cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise WorkflowError(str(path), None, "file",
                            f"not UTF-8 text (byte {e.start}): {e.reason}") from None
    return loads_workflow(text, kind, source=str(path))


def dumps_workflow(wf: Workflow, fmt: str = "yaml") -> str:
    d = wf.to_dict()
    if fmt == "json":
        return json.dumps(d, indent=2) + "\n"
    return yaml.safe_dump(d, sort_keys=False, default_flow_style=None, width=100)


def save_workflow(wf: Workflow, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``wf`` as YAML or JSON (by suffix unless ``fmt``); returns the path."""
    path = Path(path)
    path.write_text(dumps_workflow(wf, _fmt(path, fmt)), encoding="utf-8")
    return path
