"""Seeded evaluation scenarios and the scheduler comparison behind ``evaluate.py``.

``evaluate.py`` stays a thin command line over this package:

* :mod:`~octogym.evaluation.scenarios`: the named, fixed test scenarios (:data:`SCENARIOS`,
  :data:`GROUPS`), the evaluation seeds (:data:`EVAL_SEED`) and what a scenario's load means;
* :mod:`~octogym.evaluation.runner`: :func:`run_one` (one scenario under one scheduler for
  some seeds, the unit of work) and :func:`compare` (scenarios x schedulers x seeds, optional
  worker processes) into tidy rows, one per (scenario, scheduler, seed);
* :mod:`~octogym.evaluation.report`: :func:`aggregate` (mean / std / min / max over seeds and
  the speedup over ``static``), the CSV and Markdown tables;
* :mod:`~octogym.evaluation.plots`: the plots (matplotlib, Agg canvas);
* the statistical study behind docs/results.md (``evaluate.py --scenarios study``):
  :mod:`~octogym.evaluation.stats` (paired speedups with intervals, sign-flip test,
  bootstrap, stability filter, bisection), :mod:`~octogym.evaluation.study` (what runs: arms
  from the registry, ablations, steady mean latency, throughput at a p99 SLO),
  :mod:`~octogym.evaluation.study_report` (its tables) and :mod:`~octogym.evaluation.claims`
  (each paper claim with its verdict).

Learned agents beside the heuristics build on this package from the agents' side:
``octogym.agents.arena`` (docs/agents.md, "Evaluation"). This package imports neither the
envs nor the agents.
"""

from octogym.evaluation.plots import (
    plot_contagion,
    plot_heatmap,
    plot_latency_vs_load,
    plot_speedup,
    plot_timeline,
)
from octogym.evaluation.report import (
    METRICS,
    aggregate,
    contagion_rings,
    csv_table,
    markdown_report,
    speedup_summary,
)
from octogym.evaluation.runner import SPLIT_KEYS, compare, run_one, run_tasks
from octogym.evaluation.scenarios import (
    BASELINE,
    EVAL_SEED,
    GROUPS,
    SCENARIOS,
    Scenario,
    WorkloadProfile,
    resolve_scenarios,
    resolve_schedulers,
    spread_configs,
    workload_profile,
)

__all__ = [
    "BASELINE", "EVAL_SEED", "GROUPS", "METRICS", "SCENARIOS", "SPLIT_KEYS", "Scenario",
    "WorkloadProfile", "aggregate", "compare", "contagion_rings", "csv_table",
    "markdown_report", "plot_contagion", "plot_heatmap", "plot_latency_vs_load",
    "plot_speedup", "plot_timeline", "resolve_scenarios", "resolve_schedulers", "run_one",
    "run_tasks", "speedup_summary", "spread_configs", "workload_profile",
]
