"""A chip-trained TBU entity policy, unchanged, on other hardware against the TBU heuristics
through the same env (docs/results.md §8): 20 members of the native ``TBUAssign-v0`` vector
env on ``--hardware`` (a preset name or a JSON ``HardwareConfig`` dict) reset with seeds
``EVAL_SEED + j`` (the held-out episodes of ``train.py --eval-every``, held out like
``evaluate.py``'s but not the same: those are members ``j`` of base seed ``EVAL_SEED``); each
heuristic plays them through ``HeuristicAgent`` (the
env's controller, ``proactive``, picks the clusters), each checkpoint through its entity
policy on the entity observations with ``max_tbus`` = the TBUs per cluster (the home
cluster's, as in training); paired differences with 95 % t-intervals and sign-flip p.

    python benchmarks/tbu_hardware_transfer.py runs/main-entity16-s1 \\
        --hardware '{"preset": "chip", "tbus_per_cluster": 2}'
    python benchmarks/tbu_hardware_transfer.py runs/main-entity16-s1 --hardware chip \\
        --workflows octogym/data/bench/gen0.json octogym/data/bench/gen1.json \\
        octogym/data/bench/gen2.json     # held-out generated workflows

``--heuristics`` takes any ``make_agent`` spec that acts at the TBU level (a scheduler name,
``switch_averse:<x>``); ``--env-kwargs`` (a JSON dict) goes to every arm's env, e.g. the
``max_blocks`` a run was trained with, or ``{"workflow_pool": "generated", "workflow_split":
"held_out"}``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import octogym  # noqa: F401  (registers the ids)
from octogym.agents import make_agent
from octogym.agents.heldout import play_held_out
from octogym.evaluation import EVAL_SEED
from octogym.evaluation.stats import mean_ci, sign_flip_p
from octogym.hardware import get_hardware

ENV = "octogym/TBUAssign-v0"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="ppo_native entity-policy runs or checkpoints")
    p.add_argument("--hardware", default='{"preset": "chip", "tbus_per_cluster": 2}')
    p.add_argument("--heuristics", nargs="+", default=["adaptive", "eft", "least_loaded"])
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--workflows", nargs="+", default=None,
                   help="workflow files or suite names (default: the env's whole suite), e.g. "
                        "the benchmark's generated octogym/data/bench/gen*.json")
    p.add_argument("--env-kwargs", type=json.loads, default={},
                   help="JSON dict of further env options for every arm")
    a = p.parse_args()
    wf = {**a.env_kwargs, **({} if a.workflows is None else {"workflows": a.workflows})}
    hw = json.loads(a.hardware) if a.hardware.lstrip().startswith("{") else a.hardware
    k = get_hardware(hw).tbus_per_cluster
    res: dict[str, np.ndarray] = {}
    for name in a.heuristics:
        agent = make_agent(name)
        res[f"tbu:{name}"] = play_held_out(ENV, agent.act_batch, a.episodes, hardware=hw, **wf)
    for run in a.runs:
        agent = make_agent(run)
        if getattr(agent, "entity", None) is None:
            raise SystemExit(f"{run}: not an entity policy (it cannot act on other hardware)")
        res[run] = play_held_out(ENV, agent.act_batch, a.episodes, hardware=hw,
                                 obs_mode="entities", max_tbus=k, **wf)
    print(f"hardware {hw}, workflows {a.workflows or 'suite'}: {a.episodes} held-out episodes "
          f"from seed {EVAL_SEED}")
    for name, lat in res.items():
        print(f"{name}: {lat.mean():.1f} us")
    for run in a.runs:
        for name in a.heuristics:
            d = res[run] - res[f"tbu:{name}"]
            m, h = mean_ci(d)
            print(f"{run} - tbu:{name}: {m:+.1f} ± {h:.1f} us "
                  f"({m / res[f'tbu:{name}'].mean():+.1%}), lower on {int((d < 0).sum())}/"
                  f"{len(d)}, p {sign_flip_p(d):.2g}")


if __name__ == "__main__":
    main()
