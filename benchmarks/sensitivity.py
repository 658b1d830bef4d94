"""Sensitivity of the schedulers' ordering to the machine's parameters (issue 14, ours).

For the suite mix on ``chip`` and ``wafer`` (the ``mix-<hw>`` evaluation scenario: load 0.7 of
the capacity in the heaviest drift phase, on the evaluation seeds), each row changes one
hardware parameter of the preset, keeping the offered load relative to the changed machine's
capacity:

* ``reconfig_cycles`` x0.1, x1, x2, x5, x10;
* ``hop_cycles`` x4 (and, on the wafer, ``die_hop_cycles`` x4): transfers cost more;
* ``tbus_per_cluster`` 2 and 8 (4 in the presets);
* ``queue_capacity`` 2 and 8 (4 in the presets).

Each cell is the mean request latency (us at 1 GHz) over the seeds; the last columns give
``static``'s latency over ``octopus``'s per seed (paired: the same arrivals, durations and
branch outcomes), as mean [min, max], and the mean reconfigurations per run of ``octopus``.

    nice -n 5 python benchmarks/sensitivity.py              # chip 10 seeds, wafer 5 (~5 min)
    python benchmarks/sensitivity.py --hardware chip --seeds 3 --requests 2000   # quick look

A second table (``--ablations``) switches each mechanism of ``octopus`` off in turn
(``steal``, ``provision``, ``diffusion`` -- our octopus's only migration between clusters --
and ``reconf_aware``) at reconfiguration cost x1 and x10.

Output: markdown tables on stdout (docs/results.md, "Sensitivity", quotes them).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from octogym.evaluation.scenarios import EVAL_SEED, SCENARIOS
from octogym.hardware import get_hardware
from octogym.simulator import Simulation

SCHEDULERS = ("static", "octopus", "eft", "adaptive")
ABLATIONS = ("steal", "provision", "diffusion", "reconf_aware")


def variants(hw: str) -> list[tuple[str, dict]]:
    """(label, hardware overrides) of the rows for preset ``hw``."""
    p = get_hardware(hw)
    rows = [(f"reconfig x{x:g}", {"reconfig_cycles": int(p.reconfig_cycles * x)})
            for x in (0.1, 1, 2, 5, 10)]
    rows.append(("hop x4", {"hop_cycles": 4 * p.hop_cycles}))
    if hw == "wafer":
        rows.append(("die crossing x4", {"die_hop_cycles": 4 * p.die_hop_cycles}))
    rows += [(f"TBUs/cluster {k}", {"tbus_per_cluster": k}) for k in (2, 8)]
    rows += [(f"queue {q}", {"queue_capacity": q}) for q in (2, 8)]
    return rows


def run_one(hw: str, overrides: dict, seeds: int, n: int | None, policy: str,
            params: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed (mean latency in us, reconfigurations) of ``policy`` on ``mix-<hw>``."""
    sc = SCENARIOS[f"mix-{hw}"]
    n = n or sc.n_requests
    res = Simulation(sc.workflows, {"preset": hw, **overrides}, load=sc.sim_load(n),
                     n_requests=n, batch=seeds, seed=EVAL_SEED, policy=policy,
                     policy_params=params).run()
    return (np.array([r.latency_mean / 1e3 for r in res]),
            np.array([r.reconfigurations for r in res]))


def run_row(hw: str, overrides: dict, seeds: int, n: int | None) -> dict:
    return {name: run_one(hw, overrides, seeds, n, name) for name in SCHEDULERS}


def ablations(hardware: list[str], seeds: list[int], n: int | None) -> None:
    """The ablation table: octopus with one mechanism off, x1 and x10 reconfiguration cost."""
    cols = [(hw, x, k) for hw, k in zip(hardware, seeds, strict=True) for x in (1, 10)]
    print("\n| `octopus` | " + " | ".join(f"{hw} x{x} us (reconf.)" for hw, x, _ in cols)
          + " |")
    print("|---|" + "---|" * len(cols))
    for off in (None, *ABLATIONS):
        cells = []
        for hw, x, k in cols:
            ov = {"reconfig_cycles": int(get_hardware(hw).reconfig_cycles * x)}
            lat, rc = run_one(hw, ov, k, n, "octopus", {off: 0} if off else None)
            cells.append(f"{lat.mean():,.0f} [{lat.min():,.0f}, {lat.max():,.0f}] "
                         f"({rc.mean():,.0f})")
        print(f"| {f'{off}=0' if off else 'all on'} | " + " | ".join(cells) + " |", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hardware", nargs="+", default=["chip", "wafer"])
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="seeds per hardware, in --hardware order (default: chip 10, wafer 5)")
    ap.add_argument("--requests", type=int, default=None,
                    help="requests per run (default: the scenario's, chip 4000 / wafer 12000)")
    ap.add_argument("--ablations", action="store_true", help="print only the ablation table")
    args = ap.parse_args(argv)
    seeds = args.seeds or [10 if h == "chip" else 5 for h in args.hardware]
    if args.ablations:
        ablations(args.hardware, seeds, args.requests)
        return
    print("| hardware | variant | seeds | " + " | ".join(f"`{s}` us" for s in SCHEDULERS)
          + " | static / octopus | octopus reconf. |")
    print("|---|---|---|" + "---|" * len(SCHEDULERS) + "---|---|")
    for hw, k in zip(args.hardware, seeds, strict=True):
        for label, ov in variants(hw):
            t = time.perf_counter()
            r = run_row(hw, ov, k, args.requests)
            ratio = r["static"][0] / r["octopus"][0]
            cells = " | ".join(f"{r[s][0].mean():,.0f}" for s in SCHEDULERS)
            flag = "" if ratio.min() > 1 else " ✗"
            print(f"| {hw} | {label} | {k} | {cells} | {ratio.mean():.2f} "
                  f"[{ratio.min():.2f}, {ratio.max():.2f}]{flag} | "
                  f"{r['octopus'][1].mean():,.0f} |", flush=True)
            print(f"<!-- {hw} {label}: {time.perf_counter() - t:.1f} s -->", flush=True)


if __name__ == "__main__":
    main()
