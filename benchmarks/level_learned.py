"""Learned ``ppo_native`` policies at one decision level against every scheduler expressible
at that level, on the same held-out episodes (docs/results.md §8, "Place and Provision"):
20 members of the native vector env of the runs' env id reset with seeds ``EVAL_SEED + j``
(the held-out episodes of ``train.py --eval-every``; ``--seed 30000``: validation episodes,
to choose on before playing the held-out ones), played by every registered scheduler
through ``HeuristicAgent`` (at Place and Provision its hook's answer is the action exactly)
and by each checkpoint with its own env options; the heuristics play with the runs' scenario
options only (``hardware``, ``load``, ...: the observation options do not change what they
do). Heuristics with identical latencies on every episode share a row. Paired differences
learned - heuristic with 95 % t-intervals, seeds lower and sign-flip p. ``--stochastic``
also plays each checkpoint sampling its actions (its seeded torch generator) instead of the
argmax: at Place a near-uniform policy's argmax can be one park row everywhere, which is no
fair picture of what it learned.

Without runs, ``--env`` and ``--env-kwargs`` (as ``train.py``'s) name the level and scenario;
``--agents`` adds any ``make_agent`` specs (a planner such as
``rollout:reactive:level=tbu,k=4,R=4,H=8,z=2``, a checkpoint) played with those options: the
room at that level under that controller, measured through the env.

    python benchmarks/level_learned.py runs/place-vr-s1 runs/place-entity-s1
    python benchmarks/level_learned.py --env octogym/TBUAssign-v0 --episodes 10 --env-kwargs \
        load=1.5 requests_per_episode=400 controller=reactive \
        --agents rollout:reactive:level=tbu,k=4,R=4,H=8,z=2
"""

from __future__ import annotations

import argparse

import numpy as np

import octogym  # noqa: F401  (registers the ids)
from octogym.agents import HeuristicAgent, make_agent
from octogym.agents.heldout import play_held_out
from octogym.envs.config import ROLES
from octogym.evaluation import EVAL_SEED
from octogym.evaluation.stats import mean_ci, sign_flip_p
from octogym.schedulers import SCHEDULERS


def scenario_of(agent: object) -> tuple[str, dict]:
    """``(env id, scenario options)`` of a checkpoint agent (what the heuristics play)."""
    kw = {k: v for k, v in agent.env_kwargs.items() if k in ROLES["scenario"]}
    if "controller" in agent.env_kwargs:
        kw["controller"] = agent.env_kwargs["controller"]
    return agent.env_id, kw


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="*", help="ppo_native run folders or checkpoints (one env)")
    p.add_argument("--env", default=None, help="env id when no runs are given")
    p.add_argument("--env-kwargs", nargs="*", default=[],
                   help="env options (as train.py's) when no runs are given")
    p.add_argument("--agents", nargs="*", default=[],
                   help="more make_agent specs (planners, ...) played with the scenario's options")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=EVAL_SEED,
                   help=f"seed of the first episode (default {EVAL_SEED}, the held-out ones; "
                        "another base, e.g. 30000, gives validation episodes to choose on)")
    p.add_argument("--stochastic", action="store_true",
                   help="also play each checkpoint with sampled actions (row '<run> sampled')")
    p.add_argument("--heuristics", nargs="+", default=list(SCHEDULERS))
    a = p.parse_args()
    agents = {run: make_agent(run) for run in a.runs}
    scen = {repr(scenario_of(ag)) for ag in agents.values()}
    if len(scen) > 1:
        raise SystemExit(f"the runs differ in env id or scenario options: {sorted(scen)}")
    if agents:
        if a.env or a.env_kwargs:
            raise SystemExit("--env / --env-kwargs are for runs-less calls (the runs carry theirs)")
        env_id, kw = scenario_of(next(iter(agents.values())))
    elif a.env:
        from octogym.commands.train import parse_env_kwargs
        env_id, kw = a.env, parse_env_kwargs(a.env_kwargs)
    else:
        raise SystemExit("give run folders, or --env (and --env-kwargs) for the scenario")
    heur: dict[str, np.ndarray] = {}
    for name in a.heuristics:
        lat = play_held_out(env_id, HeuristicAgent(name).act_batch, a.episodes, a.seed, **kw)
        same = next((k for k, v in heur.items() if np.array_equal(v, lat)), None)
        if same is None:
            heur[name] = lat
        else:  # the same decisions on every episode: one row, both names
            heur[f"{same}={name}"] = heur.pop(same)
    learned = {run: play_held_out(env_id, ag.act_batch, a.episodes, a.seed, **ag.env_kwargs)
               for run, ag in agents.items()}
    for spec in a.agents:
        learned[spec] = play_held_out(env_id, make_agent(spec).act_batch, a.episodes, a.seed,
                                      **kw)
    if a.stochastic:
        for run in a.runs:
            ag = make_agent(run, deterministic=False)
            learned[f"{run} sampled"] = play_held_out(env_id, ag.act_batch, a.episodes,
                                                      a.seed, **ag.env_kwargs)
    kind = "held-out" if a.seed >= EVAL_SEED else "NOT held-out (training seeds)"
    print(f"{env_id} {kw}: {a.episodes} {kind} episodes from seed {a.seed}")
    for name, lat in sorted({**heur, **learned}.items(), key=lambda x: x[1].mean()):
        print(f"{name}: {lat.mean():.1f} us")
    print("| run | heuristic | learned - heuristic (us) | change | lower on | p |")
    print("|---|---|---:|---:|---:|---:|")
    for run, x in learned.items():
        for name, y in sorted(heur.items(), key=lambda h: h[1].mean()):
            d = x - y
            m, h = mean_ci(d)
            print(f"| {run} | {name} | {m:+.1f} ± {h:.1f} | {m / y.mean():+.1%} | "
                  f"{int((d < 0).sum())}/{len(d)} | {sign_flip_p(d):.2g} |")


if __name__ == "__main__":
    main()
