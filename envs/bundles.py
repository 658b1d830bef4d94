"""The named bundles the compiled env step (:mod:`octogym.envs.core`) and observation builders
(:mod:`octogym.envs.decisions`) take, so they read ``consts.tau`` or ``members.invalid``
instead of a long positional list. numba passes namedtuples of arrays and scalars as the
kernel's ``Model`` and ``State`` are passed. Both are built once per
:class:`~octogym.envs.core.KernelBatch`; the arrays in ``MemberBuffers`` are its own, written in
place.
"""

from __future__ import annotations

from collections import namedtuple

MemberBuffers = namedtuple("MemberBuffers", [
    "obs",         # (B, D) float32: each member's observation of its pending decision
    "mask",        # (B, A) bool: its valid actions (all ones with no decision pending)
    "home",        # (B,) int64: home cluster of its pending TBU decision (0 otherwise)
    "steps",       # (B,) int64: decisions taken this episode
    "invalid",     # (B,) int64: invalid actions replaced this episode
    "reward_acc",  # (B, N_ACCOUNT) int64: reward accounting (octogym.envs.reward)
])
"""The per-member arrays one env step reads and writes (B = members)."""

StepConstants = namedtuple("StepConstants", [
    "decision_kind",    # DEC_TBU / DEC_CLUSTER: where the kernel pauses for the agent
    "kernel_policy",    # code of the controller (the other level's heuristic)
    "max_steps",        # decisions before truncation; 0 = no limit
    "reward_kind",      # code of the reward (octogym.envs.reward.REWARD_CODES)
    "reward_scale",     # float: multiplies the latency / completion rewards
    "per_tbu",          # float: TBUs of the machine (the in_system reward divides by it)
    "K", "C", "Q", "T", "N",  # TBUs per cluster, clusters, queue slots, TBUs, requests
    "tau",              # float: expected cycles of one TB execution of the mix
    "work",             # float: expected TBU-cycles of one request of the mix
    "wf_work",          # (W,) float64: the same per workflow
    "feature_offsets",  # (F,) int64: start of each feature in the observation, table order
])
"""What stays fixed for a batch: the decision, the controller, the episode limit, the reward
and the observation's sizes and scales (``octogym.envs.layout``)."""
