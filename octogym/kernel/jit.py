"""How the kernel is compiled: the three decorators every kernel function uses.

All kernel functions are compiled by numba with ``cache=True`` and ``_nrt=False``: the kernel
never allocates (every buffer lives in the State), so numba's reference counting, which costs
an atomic increment and decrement per array argument of every call, is switched off.

* ``kernel_helper``: small, hot functions, always inlined into their callers;
* ``kernel_step``: the larger steps of the event loop (event handlers, token delivery, policy
  hooks). Called as functions by default, which keeps the first compilation to about a
  minute. With ``OCTOGYM_KERNEL_INLINE=all`` they are inlined as well: the event loop becomes
  one function, about twice as fast, but the first compilation takes several minutes
  (``benchmarks/bench_kernel.py --inline-modes`` measures both side by side);
* ``kernel_entry``: the functions called from Python.

The compiled code is cached per source version and mode (see ``octogym._numba_cache``).
"""

from __future__ import annotations

import os

from numba import njit

import octogym._numba_cache  # noqa: F401  (sets the cache folder before @njit runs)

INLINE_MODES = ("steps", "all")
INLINE = os.environ.get("OCTOGYM_KERNEL_INLINE", "steps")
if INLINE not in INLINE_MODES:
    raise ValueError(f"OCTOGYM_KERNEL_INLINE must be one of {INLINE_MODES}, got {INLINE!r}")

kernel_helper = njit(cache=True, _nrt=False, inline="always")
kernel_step = njit(cache=True, _nrt=False, inline="always" if INLINE == "all" else "never")
kernel_entry = njit(cache=True, _nrt=False)
