"""Grid sweeps: every combination of workflows, hardware (fields), load, scheduler or agent
and seeds, run on a process pool or Ray, into one tidy CSV; an interrupted sweep resumes.

    python -m octogym.sweep sweep.yaml [--out DIR] [--jobs N] [--ray [ADDRESS]]
    python evaluate.py --sweep sweep.yaml ...          (the same)

The sweep file (YAML, read with ``yaml.safe_load``)::

    name: load-vs-tbus        # optional; default output folder results/sweep-<name>
    requests: 200             # requests per run (default 500)
    seeds: 3                  # evaluation seeds 0..2, batched in one run per point (default 3)
    basis: peak               # what `load` is a fraction of (evaluation.Scenario): peak,
                              # static or sim (default peak)
    grid:                     # every combination of these lists is one point
      workflows: [recognition, mix]   # suite workflow names or "mix" (required)
      hardware: [chip]                # presets (default [chip])
      hardware_fields:                # optional: HardwareConfig fields, each a list, crossed
        tbus_per_cluster: [2, 4]
      load: [0.5, 0.7, 0.9]           # required
      schedulers: [static, octopus]   # scheduler names and/or checkpoints (default: all)
      seeds: [0, 1, 2]                # optional: one run per seed instead of one batch

Each point is one independent run (a task on the executor: see ``octogym.distributed``) of
``requests`` requests under one scheduler, for its seeds; evaluation seed ``i`` is batch
member ``i`` of ``EVAL_SEED``, exactly as in ``evaluate.py`` (a seed run alone via
``member_offset`` gives the same numbers). A checkpoint (a train.py run directory or .zip)
plays the point through its env (``octogym.agents.arena.run_arm``); it needs a preset hardware (no
``hardware_fields``) and batched seeds.

Output in the folder: ``sweep.csv``, one row per (point, seed): the point's parameters, every
scalar metric of the run and ``wall_s``; ``runs.jsonl``, the journal: one line per finished
point, appended as it finishes. Run the same command again after an interruption and the
points in the journal are not run again; the CSV is rewritten from the journal (points of the
current grid, in grid order) at the end and on interruption.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SweepPoint", "SweepSpec", "load_sweep", "main", "run_point", "run_sweep"]

BASES = ("peak", "static", "sim")
_GRID_KEYS = ("workflows", "hardware", "hardware_fields", "load", "schedulers", "seeds")
_TOP_KEYS = ("name", "requests", "seeds", "basis", "grid")


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: one scheduler or agent on one workload, hardware and load."""

    workflows: str
    hardware: str
    load: float
    scheduler: str
    requests: int
    basis: str = "peak"
    hardware_fields: tuple[tuple[str, Any], ...] = ()
    seed_start: int = 0  # evaluation seeds seed_start .. seed_start + n_seeds - 1
    n_seeds: int = 1

    def key(self) -> str:
        """Identifies the point in the journal (canonical JSON of every parameter)."""
        return json.dumps(asdict(self), sort_keys=True)

    def columns(self) -> dict[str, Any]:
        """The point's parameters as CSV columns (hardware fields by their own names)."""
        return {"workflows": self.workflows, "hardware": self.hardware,
                **dict(self.hardware_fields), "load": self.load, "basis": self.basis,
                "scheduler": self.scheduler, "requests": self.requests}


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file."""

    name: str
    points: tuple[SweepPoint, ...] = field(repr=False)


def _fail(where: str, msg: str) -> None:
    raise ValueError(f"{where}: {msg}")


def _list(grid: dict, key: str, where: str, default: list | None = None) -> list:
    if key not in grid:
        if default is None:
            _fail(where, f"grid.{key} is required")
        return default
    v = grid[key]
    if not isinstance(v, list) or not v:
        _fail(where, f"grid.{key} must be a non-empty list, got {v!r}")
    return v


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file; ``ValueError`` naming the file and key on bad input."""
    from octogym.hardware import PRESETS, HardwareError, get_hardware
    from octogym.schedulers import SCHEDULERS
    from octogym.simulator import resolve_workflows

    path = Path(path)
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{where}: cannot read the sweep file: {e}") from e
    if not isinstance(data, dict):
        _fail(where, f"expected a mapping with a 'grid' key, got {type(data).__name__}")
    unknown = set(data) - set(_TOP_KEYS)
    if unknown:
        _fail(where, f"unknown keys {sorted(unknown)}; allowed: {list(_TOP_KEYS)}")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name or "/" in name:
        _fail(where, f"name must be a non-empty string without '/', got {name!r}")
    requests, seeds = data.get("requests", 500), data.get("seeds", 3)
    for key, v in (("requests", requests), ("seeds", seeds)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            _fail(where, f"{key} must be a positive integer, got {v!r}")
    basis = data.get("basis", "peak")
    if basis not in BASES:
        _fail(where, f"basis must be one of {list(BASES)}, got {basis!r}")
    grid = data.get("grid")
    if not isinstance(grid, dict):
        _fail(where, f"grid must be a mapping of lists, got {grid!r}")
    unknown = set(grid) - set(_GRID_KEYS)
    if unknown:
        _fail(where, f"unknown grid keys {sorted(unknown)}; allowed: {list(_GRID_KEYS)}")

    workflows = _list(grid, "workflows", where)
    for w in workflows:
        try:
            resolve_workflows(w)
        except (KeyError, ValueError, TypeError) as e:
            _fail(where, f"grid.workflows: {w!r}: {e}")
    hardware = _list(grid, "hardware", where, ["chip"])
    for h in hardware:
        if h not in PRESETS:
            _fail(where, f"grid.hardware: unknown preset {h!r}; presets: {list(PRESETS)}")
    fields = grid.get("hardware_fields", {}) or {}
    if not isinstance(fields, dict):
        _fail(where, f"grid.hardware_fields must map field names to lists, got {fields!r}")
    for k in fields:
        _list(fields, k, f"{where}: grid.hardware_fields")
    combos = [tuple(zip(fields, vals, strict=True))
              for vals in itertools.product(*fields.values())]
    for h in hardware:  # every hardware variant must be valid before anything runs
        for c in combos:
            try:
                get_hardware(h, **dict(c))
            except (HardwareError, TypeError, ValueError) as e:
                _fail(where, f"grid.hardware_fields {dict(c)} on {h!r}: {e}")
    loads = _list(grid, "load", where)
    for x in loads:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 < x:
            _fail(where, f"grid.load: {x!r} is not a positive number")
    schedulers = _list(grid, "schedulers", where, list(SCHEDULERS))
    agents = []
    for s in schedulers:
        if not isinstance(s, str):
            _fail(where, f"grid.schedulers: {s!r} is not a string")
        if s not in SCHEDULERS:
            if not (Path(s).exists() or Path(s).with_suffix(".zip").is_file()):
                _fail(where, f"grid.schedulers: {s!r} is neither a scheduler "
                             f"({', '.join(SCHEDULERS)}) nor an existing checkpoint")
            agents.append(s)
    if "seeds" in grid:
        if "seeds" in data:
            _fail(where, "seeds is given twice (top level: batched; grid.seeds: one run per "
                         "seed); keep one")
        grid_seeds = _list(grid, "seeds", where)
        for s in grid_seeds:
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                _fail(where, f"grid.seeds: {s!r} is not a seed index (an integer >= 0)")
        seed_runs = [(s, 1) for s in dict.fromkeys(grid_seeds)]
    else:
        seed_runs = [(0, seeds)]
    if agents and (fields or "seeds" in grid):
        _fail(where, f"grid.schedulers: checkpoints {agents} play preset hardware with batched "
                     "seeds: drop grid.hardware_fields and grid.seeds, or the checkpoints")
    points = tuple(
        SweepPoint(w, h, float(x), s, requests, basis, c, s0, n)
        for w, h, c, x, s, (s0, n) in itertools.product(
            workflows, hardware, combos, loads, schedulers, seed_runs))
    return SweepSpec(name, points)


# ---- one run -------------------------------------------------------------------------------


def run_point(point: SweepPoint) -> list[dict[str, Any]]:
    """Run one point: one row per seed (parameters, ``seed``, scalar metrics, ``wall_s``)."""
    from octogym.evaluation import EVAL_SEED, Scenario
    from octogym.hardware import get_hardware
    from octogym.schedulers import SCHEDULERS
    from octogym.simulator import Simulation

    hw = get_hardware(point.hardware, **dict(point.hardware_fields))
    scen = Scenario(f"{point.workflows}-{point.hardware}", point.workflows, point.hardware,
                    point.load, point.requests, basis=point.basis)
    cols = point.columns()
    if point.scheduler not in SCHEDULERS:  # a checkpoint: through its env, like evaluate.py
        from octogym.agents import SB3Agent
        from octogym.agents.arena import learned_arm, run_arm

        arm = learned_arm(SB3Agent(point.scheduler))
        rows = run_arm(scen, arm, point.n_seeds, point.requests,
                       allow_hardware_transfer=True)
        return [{**cols, "seed": r["seed"], "sim_load": scen.sim_load(point.requests),
                 **{k: v for k, v in r.items() if k not in cols and k != "seed"}}
                for r in rows]
    prof = scen.profile(point.requests)
    if point.basis == "static":
        sim_load = point.load / prof.static_rho(hw, 1.0)
    else:
        sim_load = scen.sim_load(point.requests)  # peak or sim: hardware-independent
    t0 = time.perf_counter()
    sim = Simulation(point.workflows, hw, load=sim_load, n_requests=point.requests,
                     batch=point.n_seeds, seed=EVAL_SEED, member_offset=point.seed_start,
                     policy=point.scheduler)
    results = sim.run()
    wall = (time.perf_counter() - t0) / point.n_seeds
    return [{**cols, "seed": point.seed_start + b, "sim_load": sim_load, **r.to_dict(),
             "wall_s": wall} for b, r in enumerate(results)]


# ---- the sweep -----------------------------------------------------------------------------


def read_journal(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Finished points of ``runs.jsonl`` by key; a torn last line (a kill mid-write) is
    ignored, so that point runs again."""
    done: dict[str, list[dict[str, Any]]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[entry["key"]] = entry["rows"]
    return done


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """Rows as CSV, columns in first-seen order (a column missing in a row is left empty)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)  # never a half-written CSV
    return path


def run_sweep(spec: SweepSpec, out: str | Path, executor: Any = None, *,
              progress: bool = True, on_run: Callable[[SweepPoint], None] | None = None
              ) -> dict[str, Any]:
    """Run the points of ``spec`` not yet in ``out/runs.jsonl`` on ``executor`` (default:
    serial; see ``octogym.distributed``), appending each to the journal as it finishes, then
    write ``out/sweep.csv``. ``on_run(point)`` is called after each journal append.
    Returns ``{"points", "skipped", "ran", "csv"}`` (skipped: already in the journal)."""
    from tqdm.auto import tqdm

    from octogym.distributed import SerialExecutor

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    journal = out / "runs.jsonl"
    done = read_journal(journal)
    todo = [p for p in spec.points if p.key() not in done]
    skipped = len(spec.points) - len(todo)
    bar = tqdm(total=len(spec.points), initial=skipped, disable=not progress, unit="run",
               desc=f"sweep {spec.name}")
    ran = 0
    try:
        if todo:
            ex = executor or SerialExecutor()
            with journal.open("a") as fh:
                if journal.stat().st_size and not journal.read_bytes().endswith(b"\n"):
                    fh.write("\n")  # end a torn line (a kill mid-write) before appending
                for i, rows in ex.imap_unordered(run_point, [(p,) for p in todo]):
                    key = todo[i].key()
                    done[key] = rows
                    fh.write(json.dumps({"key": key, "rows": rows}, default=_jsonable) + "\n")
                    fh.flush()
                    ran += 1
                    bar.set_postfix_str(_label(todo[i]))
                    bar.update()
                    if on_run is not None:
                        on_run(todo[i])
    finally:
        bar.close()
        rows = [r for p in spec.points if p.key() in done for r in done[p.key()]]
        csv_path = write_csv(rows, out / "sweep.csv") if rows else None
    return {"points": len(spec.points), "skipped": skipped, "ran": ran, "csv": csv_path}


def _jsonable(x: Any) -> Any:
    """numpy scalars and arrays as plain numbers and lists (for the journal)."""
    if hasattr(x, "tolist"):
        return x.tolist()
    raise TypeError(f"cannot write {type(x).__name__} to the sweep journal")


def _label(p: SweepPoint) -> str:
    hwf = ",".join(f"{k}={v}" for k, v in p.hardware_fields)
    return f"{p.workflows}/{p.hardware}{'[' + hwf + ']' if hwf else ''}/{p.load}/{p.scheduler}"


# ---- command line --------------------------------------------------------------------------


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m octogym.sweep",
                                 description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", type=Path, help="the sweep file (YAML)")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default results/sweep-<name>)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="worker processes, or a local Ray instance's CPUs (default: all)")
    ap.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                    help="run every point as a Ray task: no ADDRESS starts a local instance; "
                         "'auto' or ray://HOST:10001 joins a cluster (docs/scaling.md)")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = ap.parse_args(list(argv) if argv is not None else None)
    from octogym.distributed import executor_for
    from octogym.evaluation.runner import warm_up

    try:
        spec = load_sweep(args.file)
        executor = executor_for(args.jobs, args.ray, warm_up=warm_up)
    except (ValueError, RuntimeError) as e:
        print(f"sweep: error: {e}", file=sys.stderr)
        return 2
    out = args.out or Path("results") / f"sweep-{spec.name}"
    print(f"sweep {spec.name}: {len(spec.points)} runs on {executor!r} -> {out}", flush=True)
    t0 = time.perf_counter()
    try:
        res = run_sweep(spec, out, executor, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"sweep: interrupted; finished runs are in {out / 'runs.jsonl'}: run the same "
              "command again to resume", file=sys.stderr)
        return 130
    print(f"sweep {spec.name}: {res['ran']} run(s), {res['skipped']} already done; wrote "
          f"{res['csv']} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
