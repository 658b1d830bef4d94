"""The built-in workflow suite: six hand-written OWGs shipped as YAML package data.

The names (``recognition``, ``recommendation``, ``early_exit``, ``agent_loop``,
``sensor_fusion``, ``video_analytics``) are stable API (docs/model.md §2); their structure and every
number in them are ours — the paper publishes no workloads (see docs/model.md, "Built-in suite").

The files in :data:`SUITE_DIR` are the one source of truth: :func:`suite_names` lists whatever
``*.yaml`` files are there, so adding a workflow means adding a file. Each file's ``name`` must
equal its file stem.

:func:`main` prints the summary table of the whole suite (``python -m octogym.workflows.suite``
works too, with a harmless runpy RuntimeWarning because the package imports this module).
"""

from __future__ import annotations

import functools
import importlib.resources
import sys
from collections import Counter
from importlib.resources.abc import Traversable

from octogym.workflows.frequencies import expected_frequencies
from octogym.workflows.io import loads_workflow
from octogym.workflows.model import CONTROL_TYPES, Workflow, WorkflowError

__all__ = ["SUITE_DIR", "load_all", "load_suite", "main", "summarise", "suite_names"]

#: Folder of the suite's YAML files inside the installed package (a ``Traversable``; a plain
#: ``pathlib.Path`` for a normal or editable install).
SUITE_DIR: Traversable = importlib.resources.files("octogym") / "data" / "suite"

_SUFFIX = ".yaml"


def suite_names() -> list[str]:
    """Names of the built-in workflows (the stems of the ``*.yaml`` files present), sorted."""
    if not SUITE_DIR.is_dir():
        return []
    return sorted(
        e.name[: -len(_SUFFIX)]
        for e in SUITE_DIR.iterdir()
        if e.is_file() and e.name.endswith(_SUFFIX)
    )


@functools.cache
def _load(name: str) -> Workflow:
    res = SUITE_DIR / (name + _SUFFIX)
    source = f"suite:{name}{_SUFFIX}"
    wf = loads_workflow(res.read_text(encoding="utf-8"), "yaml", source=source)
    if wf.name != name:
        raise WorkflowError(source, None, "schema",
                            f"the file's name '{wf.name}' must equal its file stem '{name}'")
    return wf


def load_suite(name: str) -> Workflow:
    """The built-in workflow ``name``, loaded and validated (workflows are immutable, so the
    result is cached and shared). Unknown names raise :class:`KeyError` listing the valid ones."""
    names = suite_names()
    if name not in names:
        raise KeyError(f"unknown suite workflow {name!r}; valid names: {', '.join(names)}")
    return _load(name)


def load_all() -> dict[str, Workflow]:
    """Every built-in workflow by name, in :func:`suite_names` order."""
    return {n: load_suite(n) for n in suite_names()}


def _tb_executions(wf: Workflow, phase: int) -> tuple[float, float]:
    """(expected TB executions, expected TBU-cycles) per request after ``phase`` phases."""
    fr = expected_frequencies(wf, phase)
    tasks = {t.id for t in wf.tasks}
    execs = float(sum(x for bid, x in zip(fr.ids, fr.executions, strict=True) if bid in tasks))
    return execs, fr.work


def summarise(wf: Workflow) -> str:
    """One line: blocks, TBs, CBs by type, PEA configurations, expected TB executions and
    TBU-cycles per request (initial probabilities, and after the last phase when there are
    phases), and the number of drift phases."""
    cbs = Counter(b.type for b in wf.blocks if b.type != "task")
    cb_txt = " ".join(f"{t}={cbs[t]}" for t in CONTROL_TYPES)
    last = len(wf.phases)
    ex0, w0 = _tb_executions(wf, 0)
    ex_txt, w_txt = f"{ex0:.2f}", f"{w0:,.0f}"
    if last:
        exn, wn = _tb_executions(wf, last)
        ex_txt += f" -> {exn:.2f}"
        w_txt += f" -> {wn:,.0f}"
    return (
        f"{wf.name:<16} blocks={len(wf.blocks):<2} TBs={len(wf.tasks):<2} CBs[{cb_txt}] "
        f"configs={','.join(wf.configs)}  TB-execs/req={ex_txt}  TBU-cycles/req={w_txt}  "
        f"phases={last}"
    )


def main(names: list[str] | None = None) -> int:
    """Print the summary of every built-in workflow (or of ``names``), one line each; return an
    exit status (2 for an unknown name). It never reads ``sys.argv`` itself, so other commands
    (the project's demo) can call it."""
    names = list(names or suite_names())
    print("Built-in OWG suite (per request; 'a -> b' = initial probabilities -> after the last "
          "drift phase; cycles at 1 GHz on one TBU)")
    for n in names:
        try:
            print(summarise(load_suite(n)))
        except KeyError as e:
            print(e.args[0], file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
