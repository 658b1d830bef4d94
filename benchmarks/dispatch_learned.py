"""A learned ``Dispatch-v0`` policy against every dispatch rule on the same held-out episodes
(docs/results.md §8): 20 members of the native vector env reset with seeds ``EVAL_SEED + j``
(the held-out episodes of ``train.py --eval-every``; ``evaluate.py`` plays members ``j`` of
base seed ``EVAL_SEED`` instead, also held out), played by each rule (``DispatchAgent``) and
by each checkpoint; paired differences with 95 % t-intervals and sign-flip p-values.
(``evaluate.py --agents`` compares the TBU and cluster levels; this covers the Dispatch
level.)

    python benchmarks/dispatch_learned.py runs/dispatch-native-s1
"""

from __future__ import annotations

import argparse

import octogym  # noqa: F401  (registers the ids)
from octogym.agents import make_agent
from octogym.agents.base import DispatchAgent
from octogym.agents.heldout import play_held_out
from octogym.evaluation.stats import mean_ci, sign_flip_p
from octogym.kernel.dispatch import DISPATCH_RULES


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="ppo_native run folders or checkpoints")
    p.add_argument("--env", default="octogym/Dispatch-v0")
    p.add_argument("--episodes", type=int, default=20)
    a = p.parse_args()
    res = {name: play_held_out(a.env, DispatchAgent(name).act_batch, a.episodes)
           for name in DISPATCH_RULES}
    for run in a.runs:
        res[run] = play_held_out(a.env, make_agent(run).act_batch, a.episodes)
    for name, lat in res.items():
        print(f"{name}: {lat.mean():.1f} us")
    for run in a.runs:
        for rule in DISPATCH_RULES:
            d = res[run] - res[rule]
            m, h = mean_ci(d)
            print(f"{run} - {rule}: {m:+.1f} ± {h:.1f} us ({m / res[rule].mean():+.1%}), "
                  f"lower on {int((d < 0).sum())}/{len(d)}, p {sign_flip_p(d):.2g}")


if __name__ == "__main__":
    main()
