"""What a learned TBU entity policy does differently from ``tbu:eft`` (docs/results.md §8,
"What the TBU policy learned"). On ``--episodes`` held-out episodes of ``TBUAssign-v0``
(member ``j`` reset with seed ``EVAL_SEED + j``, as ``benchmarks/tbu_hardware_transfer.py``)
on ``--hardware``:

1. the policy plays; at each of its decisions ``tbu:eft``'s answer on the same state is also
   computed: their agreement, and over the decisions where they differ, the mean entity
   features (docs/envs.md, ``tbu`` columns) of the TBU each picked, and how often the policy
   queues behind a TBU that holds the TB's configuration where ``eft`` picks one that must
   reconfigure;
2. whole episodes of the policy, ``tbu:eft`` and ``tbu:adaptive``: mean latency,
   reconfigurations and the share of TBU time spent reconfiguring;
3. reconfiguration-averse earliest-finish rules at home (``eft`` whose estimate of a TBU that
   must reconfigure is charged ``x - 1`` more reconfigurations, ``x`` in ``--switch-costs``;
   ``x = 2`` is the cost-aware placement of ``adaptive``/``octopus``, ``policies.aware_tbu``,
   restricted to the home cluster; the registered ``switch_averse:<x>`` agent,
   agents/switch_averse.py): does such a rule explain the policy's gain? Paired
   differences with 95 % t-intervals and sign-flip p.

    python benchmarks/tbu_policy_anatomy.py agents/zoo/TBUAssign-v0-planner-entity
    python benchmarks/tbu_policy_anatomy.py agents/zoo/TBUAssign-v0-planner-entity --hardware wafer
    python benchmarks/tbu_policy_anatomy.py agents/zoo/TBUAssign-v0-planner-entity \
        --env-kwargs '{"workflow_pool": "generated", "workflow_split": "held_out"}'
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import octogym  # noqa: F401  (registers the ids)
from octogym.agents import HeuristicAgent, make_agent
from octogym.agents.switch_averse import SwitchAverseAgent
from octogym.envs.entities import ENTITY_FEATURES
from octogym.evaluation import EVAL_SEED
from octogym.evaluation.stats import mean_ci, sign_flip_p
from octogym.hardware import get_hardware

ENV = "octogym/TBUAssign-v0"
TBU_COLS = [f.name for f in ENTITY_FEATURES["tbu"]]
EPISODE_METRICS = ("latency_mean", "reconfigurations", "idle_reconfiguring")


def episodes(act: Callable, n: int, hw, **kw) -> dict[str, np.ndarray]:
    """EPISODE_METRICS of ``n`` held-out episodes played by ``act`` (latency in us)."""
    venv = gym.make_vec(ENV, num_envs=n, vectorization_mode="vector_entry_point", hardware=hw,
                        **kw)
    obs, info = venv.reset(seed=[EVAL_SEED + j for j in range(n)])
    out = {m: np.full(n, np.nan) for m in EPISODE_METRICS}
    while np.isnan(out["latency_mean"]).any():
        obs, _, term, trunc, info = venv.step(act(obs, info["action_mask"], venv))
        for j in np.flatnonzero((term | trunc) & np.isnan(out["latency_mean"])):
            for m in EPISODE_METRICS:
                out[m][j] = float(info["final_info"]["metrics"][m][j])
    venv.close()
    out["latency_mean"] /= 1000.0
    return out


def departures(policy, n: int, hw, K: int, **kw) -> None:
    """Part 1 of the module docstring, printed."""
    eft = HeuristicAgent("eft")
    venv = gym.make_vec(ENV, num_envs=n, vectorization_mode="vector_entry_point", hardware=hw,
                        obs_mode="entities", max_tbus=K, **kw)
    obs, info = venv.reset(seed=[EVAL_SEED + j for j in range(n)])
    done = np.zeros(n, bool)
    total, picked, by_eft = 0, [], []
    while not done.all():
        a = policy.act_batch(obs, info["action_mask"], venv)
        e = eft.act_batch(obs, info["action_mask"], venv)
        total += int((~done).sum())
        for b in np.flatnonzero(~done & (a != e)):
            picked.append(obs["tbu"][b, a[b]])
            by_eft.append(obs["tbu"][b, e[b]])
        obs, _, term, trunc, info = venv.step(a)
        done |= term | trunc
    venv.close()
    p, q = np.array(picked), np.array(by_eft)
    print(f"{total} decisions, the policy departs from tbu:eft at {len(p)} "
          f"({len(p) / total:.1%})")
    if not len(p):
        return
    print("| tbu feature | policy's TBU | eft's TBU |\n|---|---|---|")
    for i, c in enumerate(TBU_COLS):
        print(f"| {c} | {p[:, i].mean():.3f} | {q[:, i].mean():.3f} |")
    m = TBU_COLS.index("config_match")
    print(f"policy's TBU holds the TB's configuration, eft's does not: "
          f"{np.mean((p[:, m] > 0.5) & (q[:, m] < 0.5)):.1%} of departures; the reverse: "
          f"{np.mean((p[:, m] < 0.5) & (q[:, m] > 0.5)):.1%}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a ppo_native entity-policy run or checkpoint")
    p.add_argument("--hardware", default="chip")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--switch-costs", type=float, nargs="*", default=[2.0, 3.0])
    p.add_argument("--env-kwargs", type=json.loads, default={},
                   help="JSON dict of further env options for every arm, e.g. a workflow pool")
    a = p.parse_args()
    kw = a.env_kwargs
    K = get_hardware(a.hardware).tbus_per_cluster
    policy = make_agent(a.run)
    if getattr(policy, "entity", None) is None:
        raise SystemExit(f"{a.run}: not an entity policy")
    print(f"{a.run} on {a.hardware} {kw or ''}, {a.episodes} held-out episodes from seed "
          f"{EVAL_SEED}")
    departures(policy, a.episodes, a.hardware, K, **kw)
    res = {"policy": episodes(policy.act_batch, a.episodes, a.hardware, obs_mode="entities",
                              max_tbus=K, **kw)}
    for name in ("eft", "adaptive"):
        res[f"tbu:{name}"] = episodes(HeuristicAgent(name).act_batch, a.episodes, a.hardware,
                                      **kw)
    for x in a.switch_costs:
        agent = SwitchAverseAgent(f"switch_averse:{x:g}")
        res[f"eft at home, switch x{x:g}"] = episodes(agent.act_batch, a.episodes, a.hardware,
                                                      **kw)
    print("| arm | latency (us) | reconfigurations / episode | TBU time reconfiguring |")
    print("|---|---|---|---|")
    for name, r in res.items():
        print(f"| {name} | {r['latency_mean'].mean():.1f} | {r['reconfigurations'].mean():.1f}"
              f" | {r['idle_reconfiguring'].mean():.2%} |")
    for name, r in res.items():
        if name == "policy":
            continue
        d = res["policy"]["latency_mean"] - r["latency_mean"]
        m, h = mean_ci(d)
        print(f"policy - {name}: {m:+.1f} ± {h:.1f} us ({m / r['latency_mean'].mean():+.1%}), "
              f"lower on {int((d < 0).sum())}/{len(d)}, p {sign_flip_p(d):.2g}")


if __name__ == "__main__":
    main()
