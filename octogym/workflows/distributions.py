"""Duration and count distributions of the Orchestrated Workflow Graph.

Durations are cycles of one TB execution on one TBU (the paper's fine-grained dynamicity); counts
are the fan-out of a ``map`` control block (coarse-grained dynamicity). The set of families is
our design (docs/model.md §1). Every distribution is a small immutable value object that

* parses from / serialises to the file format's mapping (``{dist: lognormal, mean: .., cv: ..}``),
* knows its exact mean (used by expected frequencies and the load calibration),
* samples with a caller-supplied ``numpy.random.Generator`` (never a global RNG),
* encodes itself as ``(code, p0, p1, p2, values)`` for the compiled kernel.

Sampled durations are integer cycles, at least 1.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from octogym import limits
from octogym.limits import short

# Kernel codes (one source of truth; the compiled kernel switches on these).
DUR_FIXED, DUR_UNIFORM, DUR_LOGNORMAL, DUR_BIMODAL, DUR_EMPIRICAL = 0, 1, 2, 3, 4
CNT_FIXED, CNT_POISSON, CNT_GEOMETRIC, CNT_EMPIRICAL = 0, 1, 2, 3

DURATION_PARAMS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "lognormal": ("mean", "cv"),
    "bimodal": ("p", "a", "b"),
    "empirical": ("values",),
}
COUNT_PARAMS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "poisson": ("mean",),
    "geometric": ("mean",),
    "empirical": ("values",),
}
_DUR_CODE = {
    "fixed": DUR_FIXED,
    "uniform": DUR_UNIFORM,
    "lognormal": DUR_LOGNORMAL,
    "bimodal": DUR_BIMODAL,
    "empirical": DUR_EMPIRICAL,
}
_CNT_CODE = {
    "fixed": CNT_FIXED,
    "poisson": CNT_POISSON,
    "geometric": CNT_GEOMETRIC,
    "empirical": CNT_EMPIRICAL,
}


class DistributionError(ValueError):
    """A distribution mapping is malformed; the message says which parameter and why."""


def _num(d: dict[str, Any], key: str, what: str) -> float:
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise DistributionError(f"{what}: parameter '{key}' must be a number, got {short(v)}")
    if not math.isfinite(v):
        raise DistributionError(f"{what}: parameter '{key}' must be finite, got {short(v)}")
    return v


def _parse(d: Any, table: dict[str, tuple[str, ...]], what: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(d, dict):
        raise DistributionError(
            f"{what} must be a mapping like {{dist: ..., ...}}, got {short(d)}")
    kind = d.get("dist")
    if not isinstance(kind, str) or kind not in table:
        raise DistributionError(
            f"{what}: unknown dist {short(kind)}; expected one of {sorted(table)}")
    want = set(table[kind])
    got = set(d) - {"dist"}
    if got != want:
        missing, extra = sorted(want - got), sorted(map(str, got - want))
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {short(extra)}")
        raise DistributionError(f"{what} '{kind}': " + ", ".join(parts))
    return kind, d


def _values(d: dict[str, Any], what: str, integer: bool) -> tuple:
    """The ``values`` of an empirical law: a non-empty, bounded list of positive numbers
    (durations) or of integers >= 0 (counts)."""
    vals = d["values"]
    if not isinstance(vals, list) or not vals:
        raise DistributionError(f"{what} 'empirical': 'values' must be a non-empty list")
    if len(vals) > limits.MAX_EMPIRICAL_VALUES:
        raise DistributionError(f"{what} 'empirical': at most {limits.MAX_EMPIRICAL_VALUES} "
                                f"values, got {len(vals)}")
    for v in vals:
        if integer:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise DistributionError(
                    f"{what} 'empirical': every value must be an integer >= 0, got {short(v)}")
        elif (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0
              or not math.isfinite(v)):
            raise DistributionError(
                f"{what} 'empirical': every value must be a positive number, got {short(v)}")
    return tuple(vals)


# A map draws at most limits_map_count() copies; a poisson/geometric law is accepted only if
# the clamp changes fewer than this fraction of its draws (so the load calibration, which uses
# the law's mean, stays right).
COUNT_TAIL = 1e-4


def limits_map_count() -> int:
    """The kernel's clamp on a map's fan-out (``octogym.limits.MAX_MAP_COUNT``)."""
    return limits.MAX_MAP_COUNT


def count_tail(kind: str, mean: float, cap: int | None = None) -> float:
    """P(count > ``cap``, default the clamp) for a poisson or geometric law of this mean."""
    cap = limits_map_count() if cap is None else cap
    if mean <= 0:
        return 0.0
    if kind == "geometric":
        return (mean / (1.0 + mean)) ** (cap + 1)
    if mean > 10 * cap:
        return 1.0
    cdf = sum(math.exp(k * math.log(mean) - mean - math.lgamma(k + 1)) for k in range(cap + 1))
    return max(0.0, 1.0 - cdf)


def max_count_mean(kind: str) -> float:
    """The largest mean of a ``poisson``/``geometric`` count accepted (see COUNT_TAIL)."""
    return _max_count_mean(kind, limits_map_count(), COUNT_TAIL)


@functools.lru_cache(maxsize=16)
def _max_count_mean(kind: str, cap: int, tail: float) -> float:
    lo, hi = 0.0, 10.0 * cap  # bisection: ~4,000 exp/lgamma calls, hence the cache
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if count_tail(kind, mid, cap) <= tail else (lo, mid)
    return lo


@dataclass(frozen=True)
class _Law:
    """What a duration and a count law share: the family name and exactly its parameters."""

    dist: str
    params: tuple[tuple[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dist": self.dist}
        for k, v in self.params:
            out[k] = list(v) if isinstance(v, tuple) else v
        return out

    def __getitem__(self, key: str) -> Any:
        return dict(self.params)[key]


@dataclass(frozen=True)
class Duration(_Law):
    """Cycles of one TB execution. ``params`` holds exactly the family's parameters."""

    @staticmethod
    def fixed(value: int) -> Duration:
        return Duration.from_dict({"dist": "fixed", "value": value})

    @staticmethod
    def from_dict(d: Any, what: str = "duration") -> Duration:
        kind, d = _parse(d, DURATION_PARAMS, what)
        p: dict[str, Any] = {}
        if kind == "empirical":
            p["values"] = _values(d, what, integer=False)
        else:
            for k in DURATION_PARAMS[kind]:
                p[k] = _num(d, k, f"{what} '{kind}'")
        if kind == "fixed" and not p["value"] > 0:
            raise DistributionError(f"{what} 'fixed': value must be > 0, got {p['value']}")
        if kind == "uniform" and not (0 < p["low"] <= p["high"]):
            raise DistributionError(
                f"{what} 'uniform': need 0 < low <= high, got low={p['low']} high={p['high']}"
            )
        if kind == "lognormal":
            if not p["mean"] > 0:
                raise DistributionError(f"{what} 'lognormal': mean must be > 0, got {p['mean']}")
            if not p["cv"] >= 0:
                raise DistributionError(f"{what} 'lognormal': cv must be >= 0, got {p['cv']}")
        if kind == "bimodal":
            if not 0 <= p["p"] <= 1:
                raise DistributionError(f"{what} 'bimodal': p must be in [0, 1], got {p['p']}")
            if not (p["a"] > 0 and p["b"] > 0):
                raise DistributionError(
                    f"{what} 'bimodal': a and b must be > 0, got a={p['a']} b={p['b']}"
                )
        out = Duration(kind, tuple(p.items()))
        worst = out.worst_case()
        if not worst <= limits.MAX_DURATION_CYCLES:
            raise DistributionError(
                f"{what} '{kind}': its largest draw ({worst:.4g} cycles) exceeds the limit "
                f"of {limits.MAX_DURATION_CYCLES} cycles per TB execution (docs/limits.md)")
        return out

    def worst_case(self) -> float:
        """The largest cycle count a draw can take (lognormal: at the largest Box-Muller
        radius of a 53-bit uniform, ``limits.LOGNORMAL_MAX_Z``)."""
        p = dict(self.params)
        if self.dist == "fixed":
            return float(p["value"])
        if self.dist == "uniform":
            return float(p["high"])
        if self.dist == "lognormal":
            s2 = math.log1p(p["cv"] ** 2)
            return math.exp(min(math.log(p["mean"]) - s2 / 2
                                + math.sqrt(s2) * limits.LOGNORMAL_MAX_Z, 1000.0))
        if self.dist == "bimodal":
            return float(max(p["a"], p["b"]))
        return float(max(p["values"]))

    def mean(self) -> float:
        """Expected cycles (of the continuous law; sampling rounds to whole cycles >= 1)."""
        p = dict(self.params)
        if self.dist == "fixed":
            return float(p["value"])
        if self.dist == "uniform":
            return (p["low"] + p["high"]) / 2.0
        if self.dist == "lognormal":
            return float(p["mean"])
        if self.dist == "bimodal":
            return p["p"] * p["a"] + (1 - p["p"]) * p["b"]
        return float(np.mean(p["values"]))

    def sample(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
        """Draw integer cycles (>= 1) with ``rng``."""
        p = dict(self.params)
        n = 1 if size is None else size
        if self.dist == "fixed":
            x = np.full(n, float(p["value"]))
        elif self.dist == "uniform":
            x = rng.uniform(p["low"], p["high"], n)
        elif self.dist == "lognormal":
            s2 = math.log1p(p["cv"] ** 2)
            x = rng.lognormal(math.log(p["mean"]) - s2 / 2, math.sqrt(s2), n)
        elif self.dist == "bimodal":
            x = np.where(rng.random(n) < p["p"], float(p["a"]), float(p["b"]))
        else:
            x = rng.choice(np.asarray(p["values"], dtype=float), n)
        out = np.maximum(1, np.rint(x)).astype(np.int64)
        return out[0] if size is None else out

    def encode(self) -> tuple[int, float, float, float, tuple[float, ...]]:
        """``(code, p0, p1, p2, values)`` for the compiled kernel.

        lognormal is encoded as (mu, sigma, cv): the underlying normal, and cv kept exact.
        """
        p = dict(self.params)
        code = _DUR_CODE[self.dist]
        if self.dist == "fixed":
            return code, float(p["value"]), 0.0, 0.0, ()
        if self.dist == "uniform":
            return code, float(p["low"]), float(p["high"]), 0.0, ()
        if self.dist == "lognormal":
            s2 = math.log1p(p["cv"] ** 2)
            return code, math.log(p["mean"]) - s2 / 2, math.sqrt(s2), float(p["cv"]), ()
        if self.dist == "bimodal":
            return code, float(p["p"]), float(p["a"]), float(p["b"]), ()
        return code, 0.0, 0.0, 0.0, tuple(float(v) for v in p["values"])


@dataclass(frozen=True)
class Count(_Law):
    """Fan-out of a ``map``: how many parallel body copies one execution starts (>= 0)."""

    @staticmethod
    def fixed(value: int) -> Count:
        return Count.from_dict({"dist": "fixed", "value": value})

    @staticmethod
    def from_dict(d: Any, what: str = "count") -> Count:
        kind, d = _parse(d, COUNT_PARAMS, what)
        cap = limits_map_count()
        p: dict[str, Any] = {}
        if kind == "empirical":
            p["values"] = _values(d, what, integer=True)
            if max(p["values"]) > cap:
                raise DistributionError(
                    f"{what} 'empirical': values must be <= {cap} (the largest map fan-out), "
                    f"got {max(p['values'])}")
        elif kind == "fixed":
            v = d["value"]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise DistributionError(
                    f"{what} 'fixed': value must be an integer >= 0, got {short(v)}")
            if v > cap:
                raise DistributionError(
                    f"{what} 'fixed': value must be <= {cap} (the largest map fan-out), got {v}")
            p["value"] = v
        else:
            p["mean"] = _num(d, "mean", f"{what} '{kind}'")
            if not p["mean"] >= 0:
                raise DistributionError(f"{what} '{kind}': mean must be >= 0, got {p['mean']}")
            top = max_count_mean(kind)
            if p["mean"] > top:
                raise DistributionError(
                    f"{what} '{kind}': mean must be <= {top:.4g}, got {p['mean']:.4g}: a map "
                    f"starts at most {cap} copies, and above that mean more than "
                    f"{COUNT_TAIL:g} of draws would be clamped (docs/limits.md)")
        return Count(kind, tuple(p.items()))

    def mean(self) -> float:
        p = dict(self.params)
        if self.dist == "fixed":
            return float(p["value"])
        if self.dist in ("poisson", "geometric"):
            return float(p["mean"])
        return float(np.mean(p["values"]))

    def sample(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
        """Draw counts with ``rng``. ``geometric`` counts failures before the first success
        (support 0, 1, 2, ...) with success probability 1 / (1 + mean)."""
        p = dict(self.params)
        n = 1 if size is None else size
        if self.dist == "fixed":
            x = np.full(n, p["value"], dtype=np.int64)
        elif self.dist == "poisson":
            x = rng.poisson(p["mean"], n).astype(np.int64)
        elif self.dist == "geometric":
            x = rng.geometric(1.0 / (1.0 + p["mean"]), n).astype(np.int64) - 1
        else:
            x = rng.choice(np.asarray(p["values"], dtype=np.int64), n)
        return x[0] if size is None else x

    def encode(self) -> tuple[int, float, float, float, tuple[float, ...]]:
        p = dict(self.params)
        code = _CNT_CODE[self.dist]
        if self.dist == "fixed":
            return code, float(p["value"]), 0.0, 0.0, ()
        if self.dist in ("poisson", "geometric"):
            return code, float(p["mean"]), 0.0, 0.0, ()
        return code, 0.0, 0.0, 0.0, tuple(float(v) for v in p["values"])
