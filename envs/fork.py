"""Forking environments: an independent copy of a :class:`~octogym.envs.core.KernelBatch` at
its current state, or one member cloned into others.

The kernel state is copied by :mod:`octogym.kernel.fork` (compiled, every State array); the
env's own per-member bookkeeping (reward accounts, step and invalid-action counters, episode
seeds, the pending observation and mask) is copied with it, so a fork stepped with the same
actions returns the same observations, rewards and infos as its source.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from octogym.envs.core import KernelBatch

# The per-member arrays of a KernelBatch (leading axis = member), besides the kernel state.
MEMBER_ARRAYS = ("steps", "invalid", "episode", "skipped_episodes", "episode_load", "obs", "mask",
                 "home")


def fork_batch(core: KernelBatch) -> KernelBatch:
    """An independent copy of ``core`` (every member) at its current state."""
    other = copy.copy(core)
    other.sim = core.sim.fork()
    for name, value in vars(core).items():
        if isinstance(value, np.ndarray):
            setattr(other, name, value.copy())
    other.root = list(core.root)
    other.rewards = copy.copy(core.rewards)
    other.rewards.acc = core.rewards.acc.copy()
    if core.entities is not None:
        other.entities = {k: v.copy() for k, v in core.entities.items()}
    other.members = other.member_buffers()  # the compiled step must write the copies
    return other


def clone_members(core: KernelBatch, src: int, dst: int | Sequence[int]) -> None:
    """Member ``src`` of ``core`` cloned into member(s) ``dst``: kernel state and env
    bookkeeping (a clone plays on in ``src``'s episode, with ``src``'s seed chain)."""
    dst = np.atleast_1d(np.asarray(dst, np.int64))
    B = core.B
    if not 0 <= int(src) < B or dst.min() < 0 or dst.max() >= B:
        raise ValueError(f"clone_members: members must be in [0, {B}), got src={src}, "
                         f"dst={dst.tolist()}")
    core.sim.clone(int(src), dst)
    for name in MEMBER_ARRAYS:
        a = getattr(core, name)
        a[dst] = a[src]
    core.rewards.acc[dst] = core.rewards.acc[src]
    for a in (core.entities or {}).values():
        a[dst] = a[src]
    for b in dst.tolist():
        core.root[b] = core.root[int(src)]
