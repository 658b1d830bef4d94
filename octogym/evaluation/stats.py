"""Paired statistics over common-random-number seeds (the study's, docs/results.md).

Every scheduler of a scenario runs on the same evaluation seeds, hence the same arrivals,
durations and branch outcomes, so per-seed results are *paired*. The rules (ours):

* **Speedup** of a scheduler over a baseline on one scenario: the per-seed ratios
  ``baseline_i / scheduler_i`` (latencies; for sustainable loads ``scheduler_i /
  baseline_i``), summarised by their geometric mean; the **95% interval** is a Student-t
  interval on the mean of the log-ratios, mapped back by ``exp`` (:func:`paired_speedup`).
  Log-ratios because a speedup is multiplicative (2x and 0.5x are symmetric) and their
  distribution over seeds is close to normal where a ratio's is skewed.
* **p-value**: an exact paired sign-flip permutation test of "mean log-ratio = 0" (every one
  of the ``2^n`` sign patterns for ``n <= 16`` seeds; otherwise ``n_mc`` patterns drawn from
  a seeded generator): :func:`sign_flip_p`. No normality assumed.
* **A statistic over several scenarios** (e.g. the average speedup over the six workflows):
  percentile bootstrap over seeds, resampling whole seeds so the pairing across schedulers
  and scenarios is kept, from a seeded generator (:func:`bootstrap_ci`).
* **Stable only**: a speedup over a baseline whose backlog grows through the run measures the
  run's length, not scheduling; :func:`is_stable` says whether a baseline kept up.
* **Largest sustainable load**: :func:`bisect_max` searches upwards, then bisects
  (geometrically) for the largest load at which a monotone test still passes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: Seed of every resampling generator here (bootstrap, Monte-Carlo sign flips): ours.
STATS_SEED = 20_240_527
#: A baseline counts as stable when its worst phase's exact expected utilisation (static rho)
#: is below 1 and, on every seed, its steady mean latency on a run twice as long over that on
#: the shorter run stays below this (ours: a stable queue's mean moves only with the mix of
#: drift phases in the window; an overloaded one's roughly doubles with the run's length).
GROWTH_MAX = 1.25

# two-sided 95% Student-t quantiles by degrees of freedom (1.96 beyond the table)
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
        17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042}


def t95(df: int) -> float:
    """The two-sided 95% Student-t quantile for ``df`` degrees of freedom (table above,
    the next smaller tabulated df between entries: conservative)."""
    if df < 1:
        return float("nan")
    keys = [k for k in _T95 if k <= df]
    return _T95[max(keys)] if df <= 30 else 1.96


def mean_ci(x: Sequence[float]) -> tuple[float, float]:
    """``(mean, half-width of its 95% t interval)``."""
    a = np.asarray(x, np.float64)
    if a.size < 2:
        return float(a.mean()), float("nan")
    return float(a.mean()), t95(a.size - 1) * float(a.std(ddof=1)) / math.sqrt(a.size)


def sign_flip_p(d: Sequence[float], n_mc: int = 20_000, seed: int = STATS_SEED) -> float:
    """Two-sided p-value of the paired sign-flip permutation test of ``mean(d) = 0``: the
    share of sign patterns whose ``|mean|`` reaches the observed one. Exact (every pattern)
    for ``len(d) <= 16``; otherwise ``n_mc`` patterns from ``default_rng(seed)``, plus the
    observed one. NaN with no data."""
    a = np.asarray(d, np.float64)
    if a.size == 0 or not np.all(np.isfinite(a)):
        return math.nan
    obs = abs(a.sum()) * (1 - 1e-12)  # ties with the observed count as extreme
    if a.size <= 16:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=a.size)))
        return float(np.mean(np.abs(signs @ a) >= obs))
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(n_mc, a.size))
    return float((np.sum(np.abs(signs @ a) >= obs) + 1) / (n_mc + 1))


def paired_speedup(base: Sequence[float], other: Sequence[float], *,
                   higher_is_better: bool = False) -> dict[str, float]:
    """The speedup of ``other`` over ``base``, paired by position (seed).

    Latencies (default): ratios ``base_i / other_i``; with ``higher_is_better`` (e.g. a
    sustainable load) ``other_i / base_i``. Returns ``n``, ``speedup`` (geometric mean of the
    ratios), ``lo`` / ``hi`` (its 95% t interval on log-ratios; NaN for one seed),
    ``p`` (:func:`sign_flip_p` on the log-ratios), ``min`` / ``max`` of the per-seed ratios.
    Pairs with a non-finite or non-positive value are dropped (``n`` says how many remain)."""
    b = np.asarray(base, np.float64)
    o = np.asarray(other, np.float64)
    if b.shape != o.shape or b.ndim != 1:
        raise ValueError(f"paired_speedup: base and other must be 1-D of equal length, got "
                         f"shapes {b.shape} and {o.shape}")
    ok = np.isfinite(b) & np.isfinite(o) & (b > 0) & (o > 0)
    r = (o[ok] / b[ok]) if higher_is_better else (b[ok] / o[ok])
    if r.size == 0:
        return {"n": 0, "speedup": math.nan, "lo": math.nan, "hi": math.nan, "p": math.nan,
                "min": math.nan, "max": math.nan}
    lr = np.log(r)
    m, h = mean_ci(lr)
    return {"n": int(r.size), "speedup": math.exp(m), "lo": math.exp(m - h),
            "hi": math.exp(m + h), "p": sign_flip_p(lr), "min": float(r.min()),
            "max": float(r.max())}


def bootstrap_ci(data: np.ndarray, stat: Callable[[np.ndarray], float], *,
                 n_boot: int = 4000, seed: int = STATS_SEED, level: float = 0.95
                 ) -> tuple[float, float, float]:
    """``(stat(data), lo, hi)``: percentile bootstrap interval of ``stat`` over the rows of
    ``data`` (one row per seed; rows are resampled whole, so pairing across its columns is
    kept), from ``default_rng(seed)``. Resamples whose statistic is not finite are dropped."""
    a = np.asarray(data, np.float64)
    if a.ndim < 1 or a.shape[0] < 2:
        return float(stat(a)), math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.shape[0], size=(n_boot, a.shape[0]))
    vals = np.array([stat(a[i]) for i in idx])
    vals = vals[np.isfinite(vals)]
    q = (1 - level) / 2
    lo, hi = np.quantile(vals, [q, 1 - q]) if vals.size else (math.nan, math.nan)
    return float(stat(a)), float(lo), float(hi)


def is_stable(rho: float, growth: Sequence[float], growth_max: float = GROWTH_MAX) -> bool:
    """A baseline kept up on a scenario: exact expected utilisation of its worst phase
    ``rho < 1`` (NaN: unknown, not required) and, on every seed, the growth of its steady
    mean latency from a run to one twice as long (longer / shorter) below ``growth_max``."""
    t = np.asarray(growth, np.float64)
    return bool((not rho >= 1.0) and t.size > 0 and np.all(np.isfinite(t))
                and np.all(t < growth_max))


def stable_only(rows: Sequence[dict[str, Any]], key: str = "stable") -> list[dict[str, Any]]:
    """The rows whose ``key`` is true: speedups are reported only where the baseline kept
    up (see :func:`is_stable`)."""
    return [r for r in rows if r.get(key)]


def bisect_max(meets: Callable[[float], bool], lo: float, hi: float, steps: int,
               growth: float = 2.0) -> tuple[float, float]:
    """The largest ``x`` in ``[lo, hi]`` with ``meets(x)``, for a ``meets`` that holds below a
    threshold and fails above it: ``(last passing, first failing)``.

    Searches upwards from ``lo`` by factors of ``growth`` (capped at ``hi``) to the first
    failure, then bisects that bracket geometrically ``steps`` times (its ratio shrinks to
    ``growth^(1/2^steps)``). Upwards, because a test far above the threshold (a badly
    overloaded run) is the most expensive one. ``(0, lo)`` when ``lo`` fails already;
    ``(hi, inf)`` when ``hi`` still passes."""
    if not 0 < lo < hi or not growth > 1:
        raise ValueError(f"bisect_max: need 0 < lo < hi and growth > 1, got lo={lo!r}, "
                         f"hi={hi!r}, growth={growth!r}")
    if not meets(lo):
        return 0.0, lo
    while True:
        x = min(lo * growth, hi)
        if not meets(x):
            break
        if x >= hi:
            return hi, math.inf
        lo = x
    hi = x
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        if meets(mid):
            lo = mid
        else:
            hi = mid
    return lo, hi
