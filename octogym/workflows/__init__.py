"""Orchestrated Workflow Graphs: model, file format, validation, frequencies, suite, generator,
and the compiled (array) form the kernel reads."""

from octogym.workflows.distributions import Count, DistributionError, Duration
from octogym.workflows.frequencies import (
    Frequencies,
    expected_frequencies,
    mix_work_per_config,
)
from octogym.workflows.io import dumps_workflow, load_workflow, loads_workflow, save_workflow
from octogym.workflows.model import (
    ControlBlock,
    Phase,
    TaskBlock,
    TaskFlow,
    Workflow,
    WorkflowError,
)
from octogym.workflows.suite import load_all, load_suite, suite_names

__all__ = [
    "ControlBlock",
    "Count",
    "DistributionError",
    "Duration",
    "Frequencies",
    "Phase",
    "TaskBlock",
    "TaskFlow",
    "Workflow",
    "WorkflowError",
    "dumps_workflow",
    "expected_frequencies",
    "load_all",
    "load_suite",
    "load_workflow",
    "loads_workflow",
    "mix_work_per_config",
    "save_workflow",
    "suite_names",
]
