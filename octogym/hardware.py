"""The Octopus hardware model: a 2D mesh of clusters of TBUs, grouped into dies.

The *concepts* come from the paper (arXiv 2405.17221): Task Block Units (TBUs, one processing-
element array each), one Control Block Unit (CBU) per cluster on a decoupled control plane,
clusters on a mesh network-on-chip, and chiplet / wafer-scale systems made of several dies.
The paper publishes **no** hardware numbers, so every size, latency and bandwidth below is
**our choice**; each field and preset says why (see also docs/model.md, "Hardware").

Geometry and numbering (ours):

* cluster ``(row, col)`` has id ``row * cols + col``; row 0 is the north edge, col 0 the west;
* TBU ``k`` of cluster ``c`` has id ``c * tbus_per_cluster + k``;
* a die is a block of ``die_rows x die_cols`` clusters; die ``(dr, dc)`` with
  ``dr = row // die_rows``, ``dc = col // die_cols`` has id ``dr * (cols // die_cols) + dc``;
* routing is XY (dimension-ordered), so a route's hop count is the Manhattan distance and the
  number of die boundaries it crosses is the Manhattan distance between the two dies.

A task flow of ``nbytes`` from cluster ``a`` to cluster ``b`` costs (in cycles)::

    a != b:  hops(a, b) * hop_cycles + crossings(a, b) * die_hop_cycles
             + ceil(nbytes / link_bytes_per_cycle)
    a == b:  ceil(nbytes / local_bytes_per_cycle), or 0 if local_bytes_per_cycle == 0

The derived arrays (``hop_matrix()`` etc.) are computed once per config, cached, and returned
**read-only**; copy them if you need to write.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from octogym import limits
from octogym.limits import short

__all__ = [
    "CONTROL_PLANE_REALISTIC",
    "HardwareError",
    "HardwareConfig",
    "PRESETS",
    "get_hardware",
]


class HardwareError(ValueError):
    """An invalid hardware configuration or specification.

    The message names the offending field, the config (preset) it belongs to when known, and
    the rule that was broken, e.g. ``hardware 'wafer': die_cols=5 must divide cols=16``.
    """


# Integer fields and the smallest value each may take.
_INT_MIN: dict[str, int] = {
    "rows": 1,
    "cols": 1,
    "tbus_per_cluster": 1,
    "die_rows": 1,
    "die_cols": 1,
    "queue_capacity": 1,
    "reconfig_cycles": 0,
    "hop_cycles": 0,
    "die_hop_cycles": 0,
    "link_bytes_per_cycle": 1,
    "local_bytes_per_cycle": 0,
    "decision_base_cycles": 0,
    "decision_cycles_per_entity": 0,
    "output_buffer": 0,
}
# ... and the largest (docs/limits.md): sizes keep the kernel's pools and the (C, C) matrices
# allocatable, cycle counts keep one transfer or reconfiguration far below int64.
_INT_MAX: dict[str, int] = {
    "rows": limits.MAX_MESH_SIDE,
    "cols": limits.MAX_MESH_SIDE,
    "tbus_per_cluster": limits.MAX_TBUS_PER_CLUSTER,
    "die_rows": limits.MAX_MESH_SIDE,
    "die_cols": limits.MAX_MESH_SIDE,
    "queue_capacity": limits.MAX_QUEUE_CAPACITY,
    "reconfig_cycles": limits.MAX_LATENCY_CYCLES,
    "hop_cycles": limits.MAX_LATENCY_CYCLES,
    "die_hop_cycles": limits.MAX_LATENCY_CYCLES,
    "link_bytes_per_cycle": limits.MAX_BANDWIDTH,
    "local_bytes_per_cycle": limits.MAX_BANDWIDTH,
    "decision_base_cycles": limits.MAX_LATENCY_CYCLES,
    # times MAX_TBUS entities scanned, a decision stays within MAX_LATENCY_CYCLES
    "decision_cycles_per_entity": limits.MAX_LATENCY_CYCLES // limits.MAX_TBUS,
    "output_buffer": limits.MAX_QUEUE_CAPACITY,
}


@dataclass(frozen=True)
class HardwareConfig:
    """One Octopus system: sizes, queueing and NoC costs. All numbers are ours, not the paper's.

    Build one with :func:`get_hardware` (preset name, dict or config plus overrides) or
    directly; ``__post_init__`` validates every field and raises :class:`HardwareError`.
    """

    # Config name, used in error messages and reports (ours: the preset's name).
    name: str
    # Cluster rows of the mesh. Ours: chip 4 (a small 16-cluster chip), wafer 16 (256 clusters).
    rows: int
    # Cluster columns of the mesh. Ours: chip 4, wafer 16 (square meshes, as rows).
    cols: int
    # TBUs (PEAs) per cluster, each beside one CBU. Ours: 4, so a cluster has real choices.
    tbus_per_cluster: int
    # Cluster rows per die. Ours: 4 (chip: the whole chip is one die; wafer: 4x4-cluster dies).
    die_rows: int
    # Cluster columns per die. Ours: 4 (see die_rows); must divide cols.
    die_cols: int
    # Max TB instances queued at one TBU, the running one included. Ours: 4 (back-pressure).
    queue_capacity: int
    # Cycles to load another configuration into a TBU. Ours: 20_000 (~20 us: config + weights).
    reconfig_cycles: int
    # Router + link latency per mesh hop, in cycles. Ours: 4 (a typical few-stage NoC router).
    hop_cycles: int
    # Extra cycles per die boundary crossed. Ours: 200 (D2D PHY + bridge, ~200 ns at 1 GHz).
    die_hop_cycles: int
    # Inter-cluster NoC link bandwidth, bytes/cycle. Ours: 32 (256-bit links).
    link_bytes_per_cycle: int
    # Bandwidth of a transfer inside one cluster, bytes/cycle; 0 = free. Ours: 128 (1024-bit).
    local_bytes_per_cycle: int
    # Clock used to convert cycles to seconds in reports. Ours: 1.0 GHz (round number).
    clock_ghz: float = 1.0
    # ---- control plane (ours; docs/model.md §3 "Control plane"). Both 0 (the default): a
    # scheduling decision takes no time, as before. A decision costs
    # decision_base_cycles + decision_cycles_per_entity * (entities its scope scans) on its
    # server: the home cluster's CBU for a choice among that cluster's TBUs, the member's
    # central scheduler for a machine-wide TBU choice and for every cluster assignment.
    # Fixed cycles of one decision (take the job, write the choice). Ours: 0 (free).
    decision_base_cycles: int = 0
    # Cycles per candidate scanned (one TBU's or cluster's state word). Ours: 0 (free).
    decision_cycles_per_entity: int = 0
    # NoC link contention (ours, docs/model.md §3 "Link contention"): False = every transfer
    # is charged independently of other traffic (the default); True = concurrent transfers
    # reserve their XY route's directed links and serialise on a shared one.
    noc_contention: bool = False
    # Output buffer places per TBU (ours, docs/model.md §4 "Output buffers"): 0 = unbounded
    # (the default); n > 0 = a TBU whose buffer holds n outputs not yet received by their
    # consumers cannot start its next TB (it is blocked).
    output_buffer: int = 0

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        where = f"hardware {short(self.name)}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise HardwareError(f"{where}: name must be a non-empty string")
        for field, lo in _INT_MIN.items():
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise HardwareError(f"{where}: {field}={short(value)} must be an integer "
                                    f"(got {type(value).__name__})")
            value = int(value)
            if value < lo:
                rule = "positive" if lo == 1 else "non-negative"
                raise HardwareError(f"{where}: {field}={value} must be {rule} (>= {lo})")
            if value > _INT_MAX[field]:
                raise HardwareError(f"{where}: {field}={short(value)} must be <= "
                                    f"{_INT_MAX[field]} (docs/limits.md)")
            object.__setattr__(self, field, value)
        if self.n_tbus > limits.MAX_TBUS:
            raise HardwareError(f"{where}: rows*cols*tbus_per_cluster={self.n_tbus} TBUs must "
                                f"be <= {limits.MAX_TBUS} (docs/limits.md)")
        if self.rows % self.die_rows:
            raise HardwareError(f"{where}: die_rows={self.die_rows} must divide rows={self.rows}")
        if self.cols % self.die_cols:
            raise HardwareError(f"{where}: die_cols={self.die_cols} must divide cols={self.cols}")
        clock = self.clock_ghz
        if isinstance(clock, bool) or not isinstance(clock, numbers.Real):
            raise HardwareError(
                f"{where}: clock_ghz={short(clock)} must be a number (got {type(clock).__name__})"
            )
        clock = float(clock)
        if not math.isfinite(clock) or clock <= 0.0:
            raise HardwareError(f"{where}: clock_ghz={clock} must be finite and > 0")
        object.__setattr__(self, "clock_ghz", clock)
        if not isinstance(self.noc_contention, (bool, np.bool_)):
            raise HardwareError(f"{where}: noc_contention={short(self.noc_contention)} must be "
                                f"a bool (got {type(self.noc_contention).__name__})")
        object.__setattr__(self, "noc_contention", bool(self.noc_contention))
        object.__setattr__(self, "_cache", {})

    # Keep pickles small and independent of the cache.
    def __getstate__(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_cache", {})

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """All fields as plain Python values; ``from_dict(to_dict())`` gives an equal config."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HardwareConfig:
        """Build a config from a complete field mapping (no ``preset:``; see get_hardware)."""
        if not isinstance(data, Mapping):
            raise HardwareError(
                f"hardware spec must be a mapping of fields, got {type(data).__name__}"
            )
        where = f"hardware {short(data.get('name', '<unnamed>'))}"
        _check_known_fields(data, where)
        missing = [
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in data and f.default is dataclasses.MISSING
        ]
        if missing:
            raise HardwareError(
                f"{where}: missing field(s) {', '.join(missing)} "
                f"(give them all, or start from a preset with 'preset:')"
            )
        return cls(**dict(data))

    # ------------------------------------------------------------------ sizes
    @property
    def n_clusters(self) -> int:
        """Number of clusters, ``rows * cols``."""
        return self.rows * self.cols

    @property
    def n_tbus(self) -> int:
        """Number of TBUs, ``n_clusters * tbus_per_cluster``."""
        return self.n_clusters * self.tbus_per_cluster

    @property
    def die_grid(self) -> tuple[int, int]:
        """Dies per column and per row of the system: ``(rows // die_rows, cols // die_cols)``."""
        return self.rows // self.die_rows, self.cols // self.die_cols

    @property
    def n_dies(self) -> int:
        """Number of dies."""
        dr, dc = self.die_grid
        return dr * dc

    # ------------------------------------------------------------------ derived arrays
    def _cached(self, key: str, build: Any) -> np.ndarray:
        cache: dict[str, np.ndarray] = self._cache  # type: ignore[attr-defined]
        arr = cache.get(key)
        if arr is None:
            arr = np.ascontiguousarray(build(), dtype=np.int64)
            arr.setflags(write=False)
            cache[key] = arr
        return arr

    def cluster_coords(self) -> np.ndarray:
        """int64 ``(C, 2)``: ``(row, col)`` of each cluster id (read-only)."""

        def build() -> np.ndarray:
            ids = np.arange(self.n_clusters, dtype=np.int64)
            return np.stack([ids // self.cols, ids % self.cols], axis=1)

        return self._cached("coords", build)

    def cluster_die(self) -> np.ndarray:
        """int64 ``(C,)``: die id of each cluster (read-only)."""

        def build() -> np.ndarray:
            dc = self._die_coords()
            return dc[:, 0] * self.die_grid[1] + dc[:, 1]

        return self._cached("die", build)

    def _die_coords(self) -> np.ndarray:
        def build() -> np.ndarray:
            xy = self.cluster_coords()
            return np.stack([xy[:, 0] // self.die_rows, xy[:, 1] // self.die_cols], axis=1)

        return self._cached("die_coords", build)

    def tbu_cluster(self) -> np.ndarray:
        """int64 ``(T,)``: cluster id of each TBU id (read-only)."""
        return self._cached(
            "tbu_cluster",
            lambda: np.repeat(np.arange(self.n_clusters, dtype=np.int64), self.tbus_per_cluster),
        )

    def hop_matrix(self) -> np.ndarray:
        """int64 ``(C, C)``: XY-routing (Manhattan) hop count between clusters (read-only)."""

        def build() -> np.ndarray:
            xy = self.cluster_coords()
            return np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2)

        return self._cached("hops", build)

    def die_crossing_matrix(self) -> np.ndarray:
        """int64 ``(C, C)``: die boundaries crossed on the XY route (read-only).

        ``|die_row(a) - die_row(b)| + |die_col(a) - die_col(b)|``; 0 inside one die.
        """

        def build() -> np.ndarray:
            d = self._die_coords()
            return np.abs(d[:, None, :] - d[None, :, :]).sum(axis=2)

        return self._cached("crossings", build)

    def latency_matrix(self) -> np.ndarray:
        """int64 ``(C, C)``: the fixed (byte-independent) part of a transfer (read-only).

        ``hops * hop_cycles + crossings * die_hop_cycles``; 0 on the diagonal. A compiled kernel
        computes a transfer as ``latency[a, b] + ceil(nbytes / link_bytes_per_cycle)`` for
        ``a != b`` and ``ceil(nbytes / local_bytes_per_cycle)`` (0 if that is 0) for ``a == b``,
        exactly as :meth:`transfer_cycles` does.
        """
        return self._cached(
            "latency",
            lambda: (
                self.hop_matrix() * self.hop_cycles
                + self.die_crossing_matrix() * self.die_hop_cycles
            ),
        )

    def neighbours(self) -> np.ndarray:
        """int64 ``(C, 4)``: mesh neighbours North, South, West, East of each cluster; -1 if none.

        North is row - 1, South row + 1, West col - 1, East col + 1 (read-only).
        """

        def build() -> np.ndarray:
            xy = self.cluster_coords()
            r, c = xy[:, 0], xy[:, 1]
            ids = np.arange(self.n_clusters, dtype=np.int64)
            out = np.full((self.n_clusters, 4), -1, dtype=np.int64)
            out[:, 0] = np.where(r > 0, ids - self.cols, -1)
            out[:, 1] = np.where(r < self.rows - 1, ids + self.cols, -1)
            out[:, 2] = np.where(c > 0, ids - 1, -1)
            out[:, 3] = np.where(c < self.cols - 1, ids + 1, -1)
            return out

        return self._cached("neighbours", build)

    # ------------------------------------------------------------------ transfer costs
    def route_links(self, src: int, dst: int) -> list[int]:
        """Directed mesh links of the XY route from cluster ``src`` to ``dst``, in order: link
        ``4 * c + d`` leaves cluster ``c`` towards its neighbour ``d`` (0 North, 1 South,
        2 West, 3 East, as :meth:`neighbours`). Columns first, then rows; empty if
        ``src == dst``. The links a transfer reserves under ``noc_contention``."""
        s = int(self._clusters(src, "src"))
        d = int(self._clusters(dst, "dst"))
        cols = self.cols
        out = []
        while s % cols != d % cols:
            east = d % cols > s % cols
            out.append(4 * s + (3 if east else 2))
            s += 1 if east else -1
        while s != d:
            south = d > s
            out.append(4 * s + (1 if south else 0))
            s += cols if south else -cols
        return out

    def _clusters(self, x: Any, what: str) -> np.ndarray:
        a = np.asarray(x)
        if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{what} must be integer cluster ids, got dtype {a.dtype}")
        a = a.astype(np.int64, copy=False)
        if a.size and (a.min() < 0 or a.max() >= self.n_clusters):
            raise ValueError(
                f"{what} cluster ids must be in [0, {self.n_clusters}) for hardware "
                f"{self.name!r}, got range [{a.min()}, {a.max()}]"
            )
        return a

    @staticmethod
    def _bytes(x: Any) -> np.ndarray:
        """Byte counts as int64; non-integer counts are rounded up to whole bytes."""
        a = np.asarray(x)
        if a.dtype == bool or not (
            np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
        ):
            raise ValueError(f"nbytes must be numeric, got dtype {a.dtype}")
        if np.issubdtype(a.dtype, np.floating):
            if a.size and not np.all(np.isfinite(a)):
                raise ValueError("nbytes must be finite")
            a = np.ceil(a)
        a = a.astype(np.int64)
        if a.size and a.min() < 0:
            raise ValueError(f"nbytes must be >= 0, got {a.min()}")
        return a

    def transfer_cycles(self, src: Any, dst: Any, nbytes: Any) -> np.ndarray:
        """Cycles to move ``nbytes`` from cluster ``src`` to cluster ``dst`` (broadcasting).

        Different clusters: ``hops*hop_cycles + crossings*die_hop_cycles
        + ceil(nbytes/link_bytes_per_cycle)``. Same cluster: ``ceil(nbytes/local_bytes_per_cycle)``,
        or 0 when ``local_bytes_per_cycle == 0``. Returns int64 (a numpy scalar for scalar input).
        """
        s = self._clusters(src, "src")
        d = self._clusters(dst, "dst")
        b = self._bytes(nbytes)
        s, d, b = np.broadcast_arrays(s, d, b)
        remote = self.latency_matrix()[s, d] + _ceil_div(b, self.link_bytes_per_cycle)
        if self.local_bytes_per_cycle == 0:
            local = np.zeros_like(b)
        else:
            local = _ceil_div(b, self.local_bytes_per_cycle)
        out = np.where(s == d, local, remote).astype(np.int64, copy=False)
        return out[()]

    def byte_hops(self, src: Any, dst: Any, nbytes: Any) -> np.ndarray:
        """NoC byte-hops of a transfer: ``nbytes * hops(src, dst)`` (int64, broadcasting)."""
        s = self._clusters(src, "src")
        d = self._clusters(dst, "dst")
        b = self._bytes(nbytes)
        s, d, b = np.broadcast_arrays(s, d, b)
        return (b * self.hop_matrix()[s, d]).astype(np.int64, copy=False)[()]

    # ------------------------------------------------------------------ capacity and time
    def capacity_requests_per_cycle(self, work_cycles_per_request: float) -> float:
        """Estimated capacity: ``n_tbus / work_cycles_per_request`` requests per cycle.

        Each TBU serves one TB at a time, so ``n_tbus`` TBUs finish at most that many requests
        of ``work_cycles_per_request`` TBU-cycles per cycle. This ignores transfers,
        reconfiguration, queue limits and CB latency, so it is an optimistic **upper bound**;
        using it to define ``load`` is our choice (the paper gives no capacity model).
        """
        w = _positive(work_cycles_per_request, "work_cycles_per_request")
        return self.n_tbus / w

    def arrival_rate(self, load: float, work_cycles_per_request: float) -> float:
        """Poisson arrival rate (requests per cycle) for an offered ``load`` (fraction > 0).

        ``load * capacity_requests_per_cycle(work_cycles_per_request)``. Because the capacity
        is an upper bound, ``load = 1`` may already saturate the real system.
        """
        lam = _positive(load, "load")
        return lam * self.capacity_requests_per_cycle(work_cycles_per_request)

    def cycles_to_seconds(self, cycles: Any) -> Any:
        """Convert cycles to seconds at ``clock_ghz`` (float, or float array for arrays)."""
        out = np.asarray(cycles, dtype=np.float64) / (self.clock_ghz * 1e9)
        return float(out) if out.ndim == 0 else out


def _ceil_div(a: np.ndarray, k: int) -> np.ndarray:
    """Exact integer ``ceil(a / k)`` for non-negative int64 ``a`` and positive ``k``."""
    return -(-a // k)


def _positive(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise ValueError(f"{what} must be a number, got {type(x).__name__}")
    v = float(x)
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(f"{what}={short(x)} must be finite and > 0")
    return v


def _check_known_fields(keys: Any, where: str) -> None:
    """Raise :class:`HardwareError` naming any of ``keys`` that is no HardwareConfig field."""
    names = [f.name for f in dataclasses.fields(HardwareConfig)]
    unknown = [k for k in keys if k not in names]
    if unknown:
        raise HardwareError(
            f"{where}: unknown field(s) {short(unknown)}; "
            f"valid fields: {', '.join(names)}"
        )


# The presets, defined once. All numbers are ours (the paper publishes none); reasons are in the
# field comments above and in docs/model.md.
_CHIP = HardwareConfig(
    # One chip: 4x4 clusters x 4 TBUs = 16 clusters, 64 TBUs, a single die.
    name="chip",
    rows=4,
    cols=4,
    tbus_per_cluster=4,
    die_rows=4,
    die_cols=4,
    queue_capacity=4,
    reconfig_cycles=20_000,
    hop_cycles=4,
    # Die-to-die crossings ~50x a mesh hop: placement across dies matters on the wafer (unused
    # while the chip is one die; kept for die-splitting overrides).
    die_hop_cycles=200,
    link_bytes_per_cycle=32,
    local_bytes_per_cycle=128,
    clock_ghz=1.0,
)
# A control plane that costs time (ours; docs/model.md §3 "Control plane"): apply as overrides,
# ``get_hardware("chip", **CONTROL_PLANE_REALISTIC)``. A CBU is a small control core: taking a
# decision job and writing its answer ~50 cycles; per candidate it loads one state word,
# computes an estimate and compares (~4 instructions at 1 per cycle).
CONTROL_PLANE_REALISTIC: dict[str, int] = {"decision_base_cycles": 50,
                                           "decision_cycles_per_entity": 4}
PRESETS: dict[str, HardwareConfig] = {
    "chip": _CHIP,
    # Wafer scale: the chip's clusters and links on a 16x16 mesh = 256 clusters, 1024 TBUs,
    # 16 dies of 4x4 clusters.
    "wafer": dataclasses.replace(_CHIP, name="wafer", rows=16, cols=16),
}


def get_hardware(
    spec: str | HardwareConfig | Mapping[str, Any],
    *,
    source: str | None = None,
    **overrides: Any,
) -> HardwareConfig:
    """Resolve a hardware spec to a validated :class:`HardwareConfig`.

    ``spec`` is a preset name (see ``PRESETS``), a ``HardwareConfig``, or a mapping as read from
    YAML/JSON: either ``{"preset": "wafer", <field>: <value>, ...}`` (preset plus overrides) or a
    complete set of fields. Keyword ``overrides`` are applied last. The config keeps the
    preset's name unless ``name`` is overridden. ``source`` (e.g. a file name) prefixes error
    messages. Raises :class:`HardwareError` for an unknown preset (listing the valid ones), an
    unknown field (naming it) or any invalid value.
    """
    try:
        return _resolve(spec, overrides)
    except HardwareError as exc:
        if source is None:
            raise
        raise HardwareError(f"{source}: {exc}") from exc


def _preset(name: Any) -> HardwareConfig:
    if not isinstance(name, str) or name not in PRESETS:
        raise HardwareError(
            f"unknown hardware preset {short(name)}; valid presets: {', '.join(sorted(PRESETS))}"
        )
    return PRESETS[name]


def _resolve(spec: Any, overrides: dict[str, Any]) -> HardwareConfig:
    if isinstance(spec, HardwareConfig):
        base: HardwareConfig | None = spec
        fields: dict[str, Any] = {}
    elif isinstance(spec, str):
        base, fields = _preset(spec), {}
    elif isinstance(spec, Mapping):
        fields = dict(spec)
        if "preset" in fields:
            base = _preset(fields.pop("preset"))
        else:
            base = None
    else:
        raise HardwareError(
            "hardware spec must be a preset name, a HardwareConfig or a mapping, "
            f"got {type(spec).__name__}"
        )
    fields.update(overrides)
    if base is None:
        return HardwareConfig.from_dict(fields)
    _check_known_fields(fields, f"hardware {base.name!r}")
    return dataclasses.replace(base, **fields) if fields else base
