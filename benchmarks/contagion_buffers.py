"""Contagious idleness with bounded output buffers, on a constructed case: `static` spreads it,
`octopus` contains it (docs/results.md §5; asserted with margins in tests/test_contention.py).

Two workflows share configuration ``fa`` for their first TB. After 100 requests the ``slow``
one sends each output to 3 ``kb`` consumers instead of 1, a drift ``static``'s compile-time
profile did not foresee (it is provisioned from the first phase: ``tbu_init="profile"``), so it
has too few ``kb`` TBUs, so ``kb`` consumers wait for them. With output buffers
on, the ``fa`` TBUs holding their outputs may not start more work, and the ``fast`` workflow,
which never needs ``kb``, waits for them too. Chip of 2 x 2 clusters of 4 TBUs, queues of 4,
load 0.45, 400 requests, seed 3, 3 members.

    python benchmarks/contagion_buffers.py     # a few seconds after compilation
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from octogym.kernel.layout import field  # noqa: E402
from octogym.simulator import Simulation  # noqa: E402
from octogym.workflows.io import loads_workflow  # noqa: E402

SLOW = """
name: slow
entry: front
blocks:
  - {id: front, type: task, config: fa, kind: ai, duration: {dist: fixed, value: 20000},
     out_bytes: 4096}
  - {id: fan, type: map, body: back, cost: 10, count: {dist: fixed, value: 1}}
  - {id: back, type: task, config: kb, kind: ai, duration: {dist: fixed, value: 20000},
     out_bytes: 1024}
flows:
  - {src: front, dst: fan, bytes: 4096}
phases:
  - {after_requests: 100, set: {fan: {count: {dist: fixed, value: 3}}}}
"""
FAST = """
name: fast
entry: front2
blocks:
  - {id: front2, type: task, config: fa, kind: ai, duration: {dist: fixed, value: 20000},
     out_bytes: 4096}
  - {id: tail, type: task, config: kc, kind: ai, duration: {dist: fixed, value: 20000},
     out_bytes: 1024}
flows:
  - {src: front2, dst: tail, bytes: 4096}
"""
# 2 x 2 clusters of 4 TBUs, queues of 4
SMALL = {"preset": "chip", "rows": 2, "cols": 2, "die_rows": 2, "die_cols": 2}
B = 3


def contagion_run(policy: str, output_buffer: int) -> dict:
    """Two workflows share configuration ``fa`` for their first TB. After 100 requests the
    ``slow`` one sends each output to 3 ``kb`` consumers instead of 1: ``static``'s profile
    (from the first phase) has too few ``kb`` TBUs, so ``kb`` consumers wait for them. Per
    member: mean latency (all, ``fast`` requests), fraction of TBU time output-blocked, and
    the configurations of the TBUs that were."""
    # the drift is unforeseen: static is provisioned from the first phase's profile (the
    # default "best" layout provisions from the whole trace, drift included)
    init = "profile" if policy == "static" else None
    sim = Simulation([loads_workflow(SLOW), loads_workflow(FAST)],
                     {**SMALL, "output_buffer": output_buffer}, load=0.45, n_requests=400,
                     seed=3, policy=policy, batch=B, tbu_init=init)
    res = sim.run()
    S = sim.state
    out = {"lat": [], "fast": [], "oblocked": [], "blocked_cfgs": []}
    for b, r in enumerate(res):
        wf = field(S, "res_wf")[b]
        lat = field(S, "res_done")[b] - field(S, "res_arr")[b]
        out["lat"].append(r.latency_mean)
        out["fast"].append(float(lat[wf == 1].mean()))
        out["oblocked"].append(sim.contention(b)["output_blocked"] / (r.makespan * 16))
        ob = field(S, "acc_oblocked")[b]
        out["blocked_cfgs"].append({sim.mix.configs[c] for c in field(S, "tb_cfg")[b][ob > 0]})
    return out



def main() -> None:
    print("scheduler  output_buffer  member  latency us  fast-workflow latency us  "
          "output-blocked share  blocked TBUs' configs")
    for pol in ("static", "octopus"):
        for ob in (0, 1):
            r = contagion_run(pol, ob)
            for b in range(B):
                print(f"{pol:9s}  {ob:13d}  {b:6d}  {r['lat'][b] / 1e3:10.1f}  "
                      f"{r['fast'][b] / 1e3:24.1f}  {r['oblocked'][b]:20.3f}  "
                      f"{sorted(r['blocked_cfgs'][b])}")


if __name__ == "__main__":
    main()
