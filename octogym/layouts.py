"""Strong ``static`` provisioning: the whole-trace profile and the best of several layouts.

The paper's traditional baseline provisions its TBUs once, at compile time, from a profile of
the expected work. A fair version of it (issue 14, ours) must

* profile the **whole expected trace**: every drift phase of every workflow, weighted by the
  requests it covers in a run of ``n_requests`` (:func:`trace_share`), not only the initial
  phase;
* lay each configuration's TBUs **evenly over the mesh**, so that every cluster has a holder
  of every configuration near it, not in bands of consecutive clusters;
* pick the best of several layouts (:func:`best_layout`) by an exact, deterministic score
  computed from the expected work and the mesh's transfer latencies (:func:`layout_score`),
  not by a pilot run: the score is cheap (no simulation inside a simulation's constructor),
  reproducible without a seed, and measures the two things a fixed layout decides (how far a
  TB's data travels to a holder, and how unevenly the holders are loaded).

The kernel's historical profile (``build.profile_configs``, consecutive clusters per
configuration, initial phase only) stays available as ``tbu_init="profile"`` and is the
``"banded"`` candidate here.
"""

from __future__ import annotations

import math

import numpy as np

from octogym.hardware import HardwareConfig
from octogym.kernel.build import profile_configs
from octogym.workflows.compiled import CompiledMix
from octogym.workflows.frequencies import expected_frequencies

#: The candidate layouts of :func:`best_layout`, in tie-break order.
LAYOUTS = ("banded", "stride", "interleaved", "serpentine")


def trace_share(mix: CompiledMix, n_requests: int, rate: float | None = None) -> np.ndarray:
    """(NCFG,) expected share of work per configuration over requests ``0 .. n_requests - 1``:
    each workflow's per-phase expected work, weighted by the mix weight and by the requests each
    phase covers. A phase triggered by cycles starts at request ``after_cycles * rate`` (Poisson
    arrivals at ``rate`` requests per cycle); without a rate it counts from the start."""
    wfs, weights = mix.decompile()
    n = max(int(n_requests), 1)
    per_cfg = np.zeros(mix.n_configs)
    for wf, w in zip(wfs, weights, strict=True):
        starts = []
        for p in wf.phases:
            if p.after_requests is not None:
                starts.append(p.after_requests)
            else:
                starts.append(int(p.after_cycles * rate) if rate else 0)
        # the kernel applies the highest-numbered phase whose trigger has passed
        edges = sorted({0, n, *(min(max(s, 0), n) for s in starts)})
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            k = max([i + 1 for i, s in enumerate(starts) if s <= lo], default=0)
            for c, x in expected_frequencies(wf, k).work_per_config.items():
                per_cfg[mix.configs.index(c)] += w * x * (hi - lo) / n
    total = float(per_cfg.sum())
    return per_cfg / total if total > 0 else per_cfg


def tbu_counts(hw: HardwareConfig, share: np.ndarray) -> np.ndarray:
    """(NCFG,) TBUs per configuration: largest remainder of ``share`` over all TBUs, at least
    one per configuration with work (the rule of ``build.profile_configs``)."""
    return np.bincount(profile_configs(hw, share), minlength=len(share))


def _deal(hw: HardwareConfig, seq: np.ndarray, order: np.ndarray) -> np.ndarray:
    """TBU configurations with ``seq[i]`` in cluster ``order[i % C]``, slot ``i // C``."""
    C, K = hw.n_clusters, hw.tbus_per_cluster
    out = np.empty(hw.n_tbus, dtype=np.int64)
    i = np.arange(len(seq))
    out[order[i % C] * K + i // C] = seq
    return out


def _interleave(counts: np.ndarray) -> np.ndarray:
    """A sequence holding ``counts[k]`` of each ``k`` with each value spread evenly along it:
    position ``i`` takes the value furthest behind its proportional quota (lowest id on ties)."""
    total = int(counts.sum())
    placed = np.zeros(len(counts))
    seq = np.empty(total, dtype=np.int64)
    for i in range(total):
        lag = counts * (i + 1) / total - placed
        k = int(np.argmax(np.where(counts > placed, lag, -np.inf)))
        seq[i] = k
        placed[k] += 1
    return seq


def make_layout(hw: HardwareConfig, share: np.ndarray, name: str) -> np.ndarray:
    """(T,) TBU configurations of layout ``name`` (one of :data:`LAYOUTS`), all with the counts
    of :func:`tbu_counts`:

    * ``banded``: configurations sorted, dealt to clusters in id order (the historical profile:
      a configuration with fewer TBUs than clusters sits in a band of consecutive clusters);
    * ``stride``: the sorted sequence dealt to clusters ``(i * s) mod C`` with ``s`` odd,
      coprime with ``C`` and near ``C`` over the golden ratio (scattered over the mesh);
    * ``interleaved``: configurations interleaved in proportion, dealt in id order (each
      configuration every ``T / n_k`` positions);
    * ``serpentine``: interleaved, dealt along a boustrophedon walk of the mesh (row by row,
      alternate rows reversed), so consecutive positions stay mesh neighbours."""
    C = hw.n_clusters
    counts = tbu_counts(hw, share)
    ids = np.arange(C)
    if name == "banded":
        return _deal(hw, np.repeat(np.arange(len(share)), counts), ids)
    if name == "stride":
        step = int(round(C * 0.618)) | 1
        while math.gcd(step, C) != 1:
            step += 2
        return _deal(hw, np.repeat(np.arange(len(share)), counts), (ids * step) % C)
    if name == "interleaved":
        return _deal(hw, _interleave(counts), ids)
    if name == "serpentine":
        grid = ids.reshape(hw.rows, hw.cols).copy()
        grid[1::2] = grid[1::2, ::-1]
        return _deal(hw, _interleave(counts), grid.ravel())
    raise ValueError(f"layout must be one of {LAYOUTS}, got {name!r}")


def layout_score(hw: HardwareConfig, share: np.ndarray, cfg: np.ndarray
                 ) -> tuple[float, float]:
    """``(imbalance, transfer)`` of a layout, lower is better, both exact for the expected work:

    * ``imbalance``: every cluster originates an equal part of each configuration's work and
      sends it to its nearest holding clusters (equal split on ties); the utilisation of the
      busiest TBU over the machine's mean utilisation (1 = perfectly even);
    * ``transfer``: the expected fixed transfer latency (cycles) from a TB's cluster to the
      nearest cluster holding its configuration."""
    C, K = hw.n_clusters, hw.tbus_per_cluster
    lat = hw.latency_matrix().astype(float)
    held = np.zeros((len(share), C))
    np.add.at(held, (cfg[cfg >= 0], np.flatnonzero(cfg >= 0) // K), 1.0)
    imbalance = 0.0
    transfer = 0.0
    for k in np.flatnonzero(share > 0):
        holders = held[k] > 0
        if not holders.any():
            return math.inf, math.inf
        d = np.where(holders[None, :], lat, np.inf)
        near = d == d.min(axis=1, keepdims=True)  # (C, C): nearest holders of each cluster
        load = (near / near.sum(axis=1, keepdims=True)).sum(axis=0)  # clusters' work routed
        per_tbu = load[holders] / held[k, holders]  # clusters' worth of k's work per TBU
        imbalance = max(imbalance, share[k] * per_tbu.max() / C * hw.n_tbus)
        transfer += share[k] * d.min(axis=1).mean()
    return round(imbalance, 6), round(transfer, 6)


def best_layout(hw: HardwareConfig, share: np.ndarray) -> tuple[str, np.ndarray]:
    """The layout of :data:`LAYOUTS` with the lowest :func:`layout_score` (imbalance first,
    then transfer; the earlier name on ties): deterministic, no random draw."""
    scored = [(layout_score(hw, share, make_layout(hw, share, n)), i, n)
              for i, n in enumerate(LAYOUTS)]
    _, _, name = min(scored)
    return name, make_layout(hw, share, name)
