"""What the control plane cost a run (docs/model.md §3 "Control plane"), and the study that
compares schedulers with free and with costly decisions (docs/results.md §10).

A scheduling decision costs ``decision_base_cycles + decision_cycles_per_entity * n`` cycles
(``HardwareConfig`` fields, ours; 0 = free, the default) where ``n`` is what the decision's
scope scans (``octogym.kernel.policies.DECISION_SCOPES``); it runs on a serial server: the
home cluster's CBU (a TBU choice within that cluster, queueing with its CB jobs) or the
member's central scheduler (a machine-wide TBU choice, every cluster assignment). The kernel
counts only decisions that cost cycles; :func:`control_plane_stats` reads the counters.

Study (prints a markdown table; ~1 min on the chip)::

    python -m octogym.control_plane --hardware chip --loads 0.6 0.8 --seeds 5 --requests 1000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from octogym.hardware import CONTROL_PLANE_REALISTIC, get_hardware
from octogym.kernel.layout import field

__all__ = ["ControlPlaneStats", "control_plane_stats", "study"]


@dataclass(frozen=True)
class ControlPlaneStats:
    """Decisions that cost cycles in one run, by server: how many, the cycles their servers
    spent on them, and the cycles they queued for a busy server (behind earlier decisions
    and, on a CBU, behind CB jobs)."""

    decisions_central: int
    decisions_cbu: int
    cycles_central: int
    cycles_cbu: int
    wait_central: int
    wait_cbu: int

    @property
    def decisions(self) -> int:
        return self.decisions_central + self.decisions_cbu

    @property
    def cycles(self) -> int:
        return self.cycles_central + self.cycles_cbu

    @property
    def wait(self) -> int:
        return self.wait_central + self.wait_cbu


_FIELDS = {"decisions_central": "dec_n_central", "decisions_cbu": "dec_n_cbu",
           "cycles_central": "dec_cyc_central", "cycles_cbu": "dec_cyc_cbu",
           "wait_central": "dec_wait_central", "wait_cbu": "dec_wait_cbu"}


def control_plane_stats(S, b: int = 0) -> ControlPlaneStats:
    """The control-plane counters of member ``b`` of kernel State ``S`` (``sim.state``)."""
    return ControlPlaneStats(**{k: int(field(S, f)[b]) for k, f in _FIELDS.items()})


# ---- the study ----------------------------------------------------------------------------

STUDY_SCHEDULERS = ("eft", "adaptive", "octopus", "static")


def _run(policy: str, hardware, load: float, seeds: int, n_requests: int, seed: int):
    from octogym.simulator import Simulation

    sim = Simulation(None, hardware, load=load, n_requests=n_requests, seed=seed, batch=seeds,
                     policy=policy)
    res = sim.run()
    last_arrival = field(sim.state, "res_arr").max(axis=1)
    return res, [control_plane_stats(sim.state, b) for b in range(seeds)], last_arrival


def study(hardware: str = "chip", loads: Sequence[float] = (0.6, 0.8), seeds: int = 5,
          n_requests: int = 1000, seed: int = 0,
          schedulers: Sequence[str] = STUDY_SCHEDULERS,
          costs: dict[str, int] | None = None) -> list[dict]:
    """One row per (load, scheduler): mean latency (k-cycles) with free decisions and with
    ``costs`` (default ``CONTROL_PLANE_REALISTIC``), each with its 95% t interval over the
    ``seeds`` members; the paired per-seed change; the central scheduler's utilisation and
    the mean queueing per costly decision at the central scheduler and at the CBUs; the
    central scheduler's offered load (its decision cycles per cycle of the arrival window:
    above 1 it cannot keep up while requests arrive)."""
    from octogym.headroom import mean_ci

    costs = dict(CONTROL_PLANE_REALISTIC if costs is None else costs)
    hw_on = get_hardware(hardware, **costs)
    rows = []
    for load in loads:
        for name in schedulers:
            off, _, _ = _run(name, hardware, load, seeds, n_requests, seed)
            on, cp, last = _run(name, hw_on, load, seeds, n_requests, seed)
            lat_off = np.array([r.latency_mean for r in off])
            lat_on = np.array([r.latency_mean for r in on])
            rows.append(dict(
                load=load, scheduler=name,
                off=mean_ci(lat_off / 1e3), on=mean_ci(lat_on / 1e3),
                change=mean_ci(100 * (lat_on / lat_off - 1)),
                p99_change=mean_ci(100 * np.array([b.latency_p99 / a.latency_p99 - 1
                                                   for a, b in zip(off, on, strict=True)])),
                central_load=mean_ci([s.cycles_central / max(int(t), 1)
                                      for s, t in zip(cp, last, strict=True)]),
                wait_central=mean_ci([s.wait_central / max(s.decisions_central, 1)
                                      for s in cp]),
                wait_cbu=mean_ci([s.wait_cbu / max(s.decisions_cbu, 1) for s in cp]),
            ))
    return rows


def _fmt(mc: tuple[float, float], digits: int = 1, unit: str = "") -> str:
    m, h = mc
    return f"{m:.{digits}f}{unit} ± {h:.{digits}f}{unit}"


def table(rows: list[dict]) -> str:
    """The study's rows as a markdown table."""
    out = ["| load | scheduler | latency, free (k-cycles) | latency, costly (k-cycles) | "
           "change | p99 change | central load | wait / central decision (cycles) | "
           "wait / CBU decision (cycles) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['load']} | `{r['scheduler']}` | {_fmt(r['off'])} | {_fmt(r['on'])} | "
                   f"{_fmt(r['change'], 2, '%')} | {_fmt(r['p99_change'], 2, '%')} | "
                   f"{_fmt(r['central_load'], 2)} | {_fmt(r['wait_central'], 0)} | "
                   f"{_fmt(r['wait_cbu'], 0)} |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hardware", default="chip")
    ap.add_argument("--loads", type=float, nargs="+", default=[0.6, 0.8])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--schedulers", nargs="+", default=list(STUDY_SCHEDULERS))
    ap.add_argument("--base", type=int, default=CONTROL_PLANE_REALISTIC["decision_base_cycles"],
                    help="decision_base_cycles of the costly runs")
    ap.add_argument("--per-entity", type=int,
                    default=CONTROL_PLANE_REALISTIC["decision_cycles_per_entity"],
                    help="decision_cycles_per_entity of the costly runs")
    a = ap.parse_args(argv)
    costs = {"decision_base_cycles": a.base, "decision_cycles_per_entity": a.per_entity}
    t0 = time.perf_counter()
    rows = study(a.hardware, a.loads, a.seeds, a.requests, a.seed, a.schedulers, costs)
    print(f"hardware {a.hardware}, suite mix, {a.requests} requests, {a.seeds} seeds "
          f"(members of seed {a.seed}), costly = {costs}; ± = 95% t interval over seeds; "
          f"change = paired per-seed latency ratio - 1; central load = central decision cycles "
          f"per cycle of the arrival window\n")
    print(table(rows))
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
