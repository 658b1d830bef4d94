"""The threading octogym chooses, at import (docs/envs.md "Threads").

GNU OpenMP, numba's threading layer here and torch's, makes idle threads spin at barriers by
default. On a small machine numba's pool (which steps the native vector env from
``octogym.envs.core.PARALLEL_MIN`` members on), torch's pool and any other busy process then
take each other's cores: env steps 10-100x slower (``benchmarks/bench_threads.py``). So:

* importing octogym sets ``OMP_WAIT_POLICY=PASSIVE`` (threads sleep at barriers) unless the
  user set it; OpenMP reads it when its library loads, so this works when octogym is imported
  before torch (or anything else that loads OpenMP);
* if OpenMP was already loaded (e.g. ``import torch`` first) without the user choosing a wait
  policy, its threads spin: the env then steps its members on one thread (never the cliff,
  :data:`OMP_SPINS`), and a :class:`ThreadingWarning` says how to get the threaded steps back.

``NUMBA_NUM_THREADS=1`` steps serially in any case; a ``NUMBA_THREADING_LAYER`` other than
OpenMP (``workqueue``, ``tbb``) keeps threaded steps whatever OpenMP does.
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

WAIT_POLICY = "PASSIVE"


class ThreadingWarning(RuntimeWarning):
    """OpenMP was loaded before octogym could choose its wait policy."""


def openmp_loaded() -> bool:
    """Whether an OpenMP runtime is loaded in this process (Linux: its mapped libraries;
    elsewhere: whether torch is imported, the usual way one gets loaded)."""
    try:
        with open("/proc/self/maps") as f:
            return any("libgomp" in line or "libiomp" in line for line in f)
    except OSError:
        return "torch" in sys.modules


def choose_wait_policy() -> bool:
    """Set ``OMP_WAIT_POLICY`` unless the user did; return whether OpenMP threads spin (it was
    loaded before with no policy chosen)."""
    if "OMP_WAIT_POLICY" in os.environ:
        return os.environ["OMP_WAIT_POLICY"].strip().upper() != WAIT_POLICY
    spins = openmp_loaded()
    os.environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    if spins:
        warnings.warn("OpenMP (loaded by torch?) was loaded before octogym could set "
                      "OMP_WAIT_POLICY=PASSIVE: its threads spin, so the native vector env steps "
                      "its members on one thread. Import octogym first or set "
                      "OMP_WAIT_POLICY=PASSIVE in the environment for threaded steps, and call "
                      "torch.set_num_threads(1) in a torch loop (docs/envs.md, \"Threads\").",
                      ThreadingWarning, stacklevel=3)
    return spins


OMP_SPINS = choose_wait_policy()
"""Whether OpenMP's threads spin at barriers in this process (decided at import)."""


def threaded_steps() -> bool:
    """Whether batches of ``PARALLEL_MIN`` members or more step on numba's threads."""
    from numba import config

    if config.NUMBA_NUM_THREADS <= 1:
        return False
    return not OMP_SPINS or config.THREADING_LAYER in ("workqueue", "tbb")


def serial_and_parallel(fn: Callable[..., Any], name: str) -> tuple[Any, Any]:
    """``(serial, parallel)``: ``fn`` (a body whose loop over members is a ``prange``)
    compiled by numba as ``<name>_serial`` and as ``<name>_parallel`` (``parallel=True``), both
    cached on disk. numba's cache is keyed by the function's qualified name, so the two
    compilations of one body need two names (with one, whichever was compiled first would be
    loaded for both). Callers use the parallel one only when :func:`threaded_steps`."""
    from numba import njit

    def renamed(suffix: str) -> Any:
        f = types.FunctionType(fn.__code__, fn.__globals__, f"{name}_{suffix}",
                               fn.__defaults__, fn.__closure__)
        f.__qualname__ = f"{name}_{suffix}"
        f.__doc__ = fn.__doc__
        return f

    return njit(cache=True)(renamed("serial")), njit(cache=True, parallel=True)(renamed("parallel"))
