"""Every input bound of octogym, defined once (docs/limits.md lists them with their reasons).

Simulated time is an int64 cycle count. Each bound below is chosen so that the documented worst
case of the quantity it limits cannot overflow int64 (or the kernel's pools): a single step of
simulated time (one TB, one CB, one transfer, one reconfiguration) stays below ~2**53 cycles,
and a run stops with an error at its *horizon* (:func:`time_horizon`), far below 2**63, so the
running sums of arrival and completion times cannot wrap either.

Sizes of a loaded file are bounded before parsing, and nothing a file contains is echoed into
an error message beyond :data:`REPR_CHARS` characters (:func:`short`).

The module-level numbers are read when a check runs, so a caller may raise one deliberately
(``octogym.limits.MAX_BLOCKS = 50_000``); ``OCTOGYM_MAX_MEMORY_MB`` overrides the memory limit.
"""

from __future__ import annotations

import os
import reprlib
from typing import Any

# ---- simulated time ------------------------------------------------------------------------
# The kernel's "until" when none is given; a run that would pass it raises (TimeHorizonError).
CYCLE_HORIZON = 2**62
# One TB execution: the largest duration a law may produce in its worst case (~1.1e12 cycles,
# ~18 minutes at 1 GHz). Also a CB's cost.
MAX_DURATION_CYCLES = 2**40
# Hardware latencies: reconfig_cycles, hop_cycles, die_hop_cycles.
MAX_LATENCY_CYCLES = 2**40
# Bytes of one transfer (out_bytes, flow bytes): 1 TiB. Byte-hops stay below 2**52 per transfer.
MAX_BYTES = 2**40
# Bandwidths (bytes per cycle).
MAX_BANDWIDTH = 2**40
# Largest Box-Muller radius from a 53-bit uniform: sqrt(-2 ln 2**-53). A lognormal draw is at
# most exp(mu + sigma * LOGNORMAL_MAX_Z).
LOGNORMAL_MAX_Z = 8.5717
# A single exponential inter-arrival from a 53-bit uniform is at most 36.74 mean gaps.
EXPONENTIAL_MAX_GAPS = 36.74
# A map starts at most this many copies of its body (the kernel clamps the draw; validation
# rejects count laws the clamp would change, see workflows/distributions.py).
MAX_MAP_COUNT = 64
# Slowdown factor of a cluster's TBUs (Simulation(slowdown=...)).
MAX_SLOWDOWN = 1024.0

# ---- workflow files ------------------------------------------------------------------------
MAX_FILE_BYTES = 2**20  # a workflow file (YAML/JSON), checked before parsing
MAX_BLOCKS = 10_000  # blocks of one workflow
MAX_FLOWS = 40_000  # flows of one workflow
MAX_PHASES = 256  # drift phases of one workflow
MAX_EMPIRICAL_VALUES = 10_000  # values of one empirical law
MAX_LOOP_BLOCKS = 1_000  # blocks of one strongly connected component (one loop nest)
MAX_ID_CHARS = 256  # a block id, config name or workflow name
MAX_DESCRIPTION_CHARS = 100_000

# ---- hardware ------------------------------------------------------------------------------
MAX_MESH_SIDE = 1024  # rows, cols (and die_rows, die_cols)
MAX_TBUS_PER_CLUSTER = 1024
MAX_TBUS = 2**20
MAX_QUEUE_CAPACITY = 1024

# ---- simulation ----------------------------------------------------------------------------
MAX_REQUESTS = 2**31 - 1  # requests per run (the kernel's per-block counters are int32)
MAX_BATCH = 2**20
# Memory a Simulation may allocate for its model and state, estimated before allocating.
DEFAULT_MAX_MEMORY_MB = 4096

# ---- error messages ------------------------------------------------------------------------
REPR_CHARS = 80

_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6
_repr.maxstring = _repr.maxother = REPR_CHARS
_repr.maxlong = 40


class TimeHorizonError(RuntimeError):
    """A run reached its simulated-time horizon (int64 cycles would overflow beyond it)."""


def short(v: Any) -> str:
    """A bounded ``repr`` of an input value for an error message (never expands a big or
    deeply shared structure, e.g. a YAML alias bomb)."""
    s = _repr.repr(v)
    return s if len(s) <= 2 * REPR_CHARS else s[: 2 * REPR_CHARS] + "..."


def max_memory_bytes() -> int:
    """The memory limit of one Simulation: ``OCTOGYM_MAX_MEMORY_MB`` or the default."""
    raw = os.environ.get("OCTOGYM_MAX_MEMORY_MB")
    if raw is None:
        return DEFAULT_MAX_MEMORY_MB * 2**20
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(f"OCTOGYM_MAX_MEMORY_MB={short(raw)} is not a number") from None
    if not mb > 0:
        raise ValueError(f"OCTOGYM_MAX_MEMORY_MB={short(raw)} must be > 0")
    return int(mb * 2**20)


def time_horizon(n_requests: int) -> int:
    """The simulated-time horizon of a run of ``n_requests``: ``CYCLE_HORIZON``, lowered so
    that a sum of ``n_requests + 1`` times below it still fits in int64 (the kernel keeps
    running sums of arrival and completion times)."""
    return min(CYCLE_HORIZON, (2**63 - 1) // (int(n_requests) + 2))
