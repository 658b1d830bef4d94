"""How the kernel is compiled: the three decorators every kernel function uses.

All kernel functions are compiled by numba with ``cache=True`` and ``_nrt=False``: the kernel
never allocates (every buffer lives in the State), so numba's reference counting, which costs
an atomic increment and decrement per array argument of every call, is switched off.

* ``kernel_helper``: small, hot functions, inlined by numba into their callers;
* ``kernel_step``: the larger steps of the event loop (event handlers, token delivery, policy
  hooks). numba compiles each one once, as a function; how it is called depends on the
  compile mode, ``OCTOGYM_KERNEL_INLINE``:

  - ``llvm`` (default): the step is marked *always inline* for LLVM (numba's ``forceinline``),
    which inlines it into its callers: the event loop becomes one function. A call of a step
    would pass the Model and State field by field (each array as pointers, sizes, shapes and
    strides: about 465 scalars), and the callee could not be optimised for its call site;
  - ``calls``: the steps stay function calls (the previous default): a step is a symbol of
    its own in a profiler, and the kernel runs at 0.3-0.45x the speed of ``llvm``.

  numba's own inlining (``inline="always"``, as for the helpers) re-types and re-lowers a
  step at every call site: the kernel ran no faster than with ``llvm``, and its first
  compilation took about four times as long. ``benchmarks/bench_kernel.py --inline-modes``
  measures the modes side by side (first compilation and TB executions per CPU-second);
* ``kernel_entry``: the functions called from Python.

The compiled code is cached per source version and mode (see ``octogym._numba_cache``).
"""

from __future__ import annotations

import os

from numba import njit

import octogym._numba_cache  # noqa: F401  (sets the cache folder before @njit runs)

INLINE_MODES = ("llvm", "calls")
INLINE = os.environ.get("OCTOGYM_KERNEL_INLINE") or INLINE_MODES[0]
if INLINE not in INLINE_MODES:
    raise ValueError(f"OCTOGYM_KERNEL_INLINE must be one of {INLINE_MODES}, got {INLINE!r}")

kernel_helper = njit(cache=True, _nrt=False, inline="always")
# forceinline is set either way: numba would otherwise inherit the flag of whichever caller is
# being compiled when a step is first compiled
kernel_step = njit(cache=True, _nrt=False, forceinline=INLINE == "llvm")
kernel_entry = njit(cache=True, _nrt=False)
