"""Running the comparison: scenarios x schedulers x seeds into tidy rows.

* :func:`run_one`: the unit of work, one scenario under one scheduler for ``seeds``
  evaluation seeds (one batched simulation, one row per seed);
* :func:`run_tasks`: any such unit of work over a list of tasks, in this process, in worker
  processes or as Ray tasks (``octogym.distributed``), with a progress bar; results in task
  order whatever the order they finish in;
* :func:`compare`: every scenario under every scheduler.

A unit of work is a plain top-level function called with picklable arguments (frozen
:class:`~octogym.evaluation.scenarios.Scenario`, names, ints), so any process pool or task
scheduler can run it; its result depends on its arguments only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from octogym.distributed import Executor, make_executor
from octogym.evaluation.scenarios import BASELINE, Scenario
from octogym.hardware import PRESETS
from octogym.metrics import tbu_time_split
from octogym.simulator import Simulation

#: The states of the idle split; :func:`run_one` rows carry ``cl_<key>`` per cluster.
SPLIT_KEYS = ("busy", "starved", "waiting_data", "reconfiguring", "blocked")

Rows = list[dict[str, Any]]


def run_one(scenario: Scenario, scheduler: str, seeds: int,
            n_requests: int | None = None) -> list[dict[str, Any]]:
    """Run one scenario under one scheduler for ``seeds`` evaluation seeds: one row each.

    A row holds the scenario's description, the scheduler, the seed index, every scalar of
    :meth:`SimResult.to_dict` (whole run), ``wall_s`` (wall time per seed), and per-cluster
    arrays ``cl_<split>`` (C,) = fraction of the cluster's TBU-time in each state of the idle
    split, measured from 0 to the arrival horizon (:meth:`Scenario.arrival_horizon`)."""
    sim = scenario.simulation(scheduler, seeds, n_requests=n_requests)
    horizon = scenario.arrival_horizon(sim)
    K = sim.hw.tbus_per_cluster
    t0 = time.perf_counter()
    sim.advance(until=horizon)
    window = [tbu_time_split(sim.model, sim.state, b, horizon) for b in range(seeds)]
    results = sim.run()
    wall = time.perf_counter() - t0
    rows = []
    for b, (res, split) in enumerate(zip(results, window, strict=True)):
        row: dict[str, Any] = {
            "scenario": scenario.name, "workflows": scenario.workflows,
            "hardware": scenario.hardware, "load": scenario.load, "basis": scenario.basis,
            "layout": scenario.layout, "scheduler": scheduler,
            "seed": b, **res.to_dict(), "wall_s": wall / seeds, "horizon": horizon,
        }
        for k in SPLIT_KEYS:
            row[f"cl_{k}"] = split[k].reshape(-1, K).sum(axis=1) / (K * horizon)
        rows.append(row)
    return rows


def warm_up() -> None:
    """Compile (or load) the kernel once in this process before workers start, so that
    workers read the cache instead of compiling concurrently."""
    Simulation("recognition", "chip", n_requests=2, policy=BASELINE).run()


def run_tasks(fn: Callable[..., Rows], tasks: Sequence[tuple], *,
              cost: Callable[[tuple], float], label: Callable[[tuple], str], jobs: int = 1,
              progress: bool = True, desc: str = "runs", executor: Executor | None = None
              ) -> list[Rows]:
    """``[fn(*t) for t in tasks]``, started in decreasing ``cost`` (so that parallel workers
    finish together), returned in task order. ``jobs > 1`` runs them in that many spawned
    worker processes after compiling the kernel here once (``fn`` must then be a top-level
    function, or a ``functools.partial`` of one, and every task picklable); ``executor``
    (``octogym.distributed``, e.g. a ``RayExecutor``: one Ray task each) runs them there
    instead. The results are the same, only faster. ``label(t)`` names a task on the
    progress bar (the task that just finished)."""
    from tqdm.auto import tqdm

    order = sorted(range(len(tasks)), key=lambda i: -cost(tasks[i]))
    done: dict[int, Rows] = {}
    executor = executor or make_executor(jobs, warm_up=warm_up)
    bar = tqdm(total=len(tasks), disable=not progress, unit="run", desc=desc)
    try:
        for j, rows in executor.imap_unordered(fn, [tasks[i] for i in order]):
            done[order[j]] = rows
            bar.set_postfix_str(label(tasks[order[j]]))
            bar.update()
    finally:
        bar.close()
    return [done[i] for i in range(len(tasks))]


def compare(scenarios: Sequence[Scenario], schedulers: Sequence[str], seeds: int, *,
            n_requests: int | None = None, progress: bool = True, jobs: int = 1,
            executor: Executor | None = None) -> Rows:
    """Run every scenario under every scheduler for ``seeds`` evaluation seeds.

    Returns tidy rows (see :func:`run_one`), ordered by scenario, scheduler (as given) and
    seed. ``n_requests`` overrides every scenario's; ``jobs > 1`` runs (scenario, scheduler)
    pairs in that many worker processes, ``executor`` elsewhere (e.g. on Ray; see
    :func:`run_tasks`); results are identical, only faster."""
    tasks = [(s, p, seeds, n_requests) for s in scenarios for p in schedulers]

    def cost(t: tuple) -> float:
        # wafer, then eft, are slowest
        hw = PRESETS[t[0].hardware]
        return (hw.tbus_per_cluster * hw.rows * hw.cols * (n_requests or t[0].n_requests)
                * (3.0 if t[1] == "eft" else 1.0))

    done = run_tasks(run_one, tasks, cost=cost, label=lambda t: f"{t[0].name} / {t[1]}",
                     jobs=jobs, progress=progress, desc="compare", executor=executor)
    return [r for rows in done for r in rows]
