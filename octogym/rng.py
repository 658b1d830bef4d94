"""Counter-based random draws shared by the kernel and the reference simulator.

Every draw is a pure function of ``(seed, a, b, stream)`` (splitmix64 mixing, our choice), so

* one seed gives one trajectory on every path (kernel, reference, any batch size),
* a draw does not depend on the order events are processed in. Durations, branch outcomes and
  map counts are keyed by the request id and the token's *lineage* (a hash of the path the
  token took through the graph), so two schedulers see the same draws for the same request:
  comparisons use common random numbers.

Nothing here touches a global RNG.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, uint64

import octogym._numba_cache  # noqa: F401  (sets the cache folder before @njit runs)

MASK = (1 << 64) - 1

# Streams (one source of truth).
S_ARRIVAL, S_WORKFLOW, S_DURATION, S_DURATION2, S_BRANCH, S_COUNT, S_POLICY = 1, 2, 3, 4, 5, 6, 7

_G = uint64(0x9E3779B97F4A7C15)
_M1 = uint64(0xBF58476D1CE4E5B9)
_M2 = uint64(0x94D049BB133111EB)
_K1 = uint64(0xD6E8FEB86659FD93)
_K2 = uint64(0xCA5A826395121157)


@njit(cache=True, _nrt=False, inline="always")
def mix64(z):
    z = uint64(z)
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    return z ^ (z >> uint64(31))


@njit(cache=True, _nrt=False, inline="always")
def hash4(seed, a, b, stream):
    h = mix64(uint64(seed) ^ (uint64(stream) * _G))
    h = mix64(h ^ (uint64(a) * _K1))
    h = mix64(h ^ (uint64(b) * _K2))
    return h


@njit(cache=True, _nrt=False, inline="always")
def u01(seed, a, b, stream):
    """Uniform in [0, 1) with 53 random bits."""
    return float(hash4(seed, a, b, stream) >> uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, _nrt=False, inline="always")
def lin_next(lin, salt):
    """Lineage of a token that leaves along flow/copy ``salt`` (any int >= 0)."""
    return mix64(uint64(lin) ^ ((uint64(salt) + uint64(1)) * _K1))


def member_seed(seed: int, member: int) -> int:
    """Seed of batch member ``member`` derived from the user's ``seed`` (stable, documented)."""
    return int(hash4(np.uint64(seed & MASK), np.uint64(member), np.uint64(0), np.uint64(99)))


@njit(cache=True, _nrt=False, inline="always")
def sample_duration(code, p0, p1, p2, emp, off, n, u1, u2):
    """Integer cycles >= 1 of one TB execution, from two uniforms (codes: distributions.DUR_*)."""
    if code == 0:
        x = p0
    elif code == 1:
        x = p0 + u1 * (p1 - p0)
    elif code == 2:
        # Box-Muller; 1 - u1 is in (0, 1] so the log is finite.
        z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        x = math.exp(p0 + p1 * z)
    elif code == 3:
        x = p1 if u1 < p0 else p2
    else:
        x = emp[off + min(int(u1 * n), n - 1)]
    r = int(math.floor(x + 0.5))
    return r if r >= 1 else 1


@njit(cache=True, _nrt=False, inline="always")
def sample_count(code, p0, emp, off, n, u, cap):
    """Map fan-out >= 0 from one uniform by inversion, clamped to ``cap``
    (codes: distributions.CNT_*)."""
    if code == 0:
        k = int(p0)
    elif code == 1:
        pmf = math.exp(-p0)
        cdf = pmf
        k = 0
        while u >= cdf and k < cap:
            k += 1
            pmf *= p0 / k
            cdf += pmf
            if pmf < 1e-300 and cdf >= 1.0 - 1e-15:
                break
    elif code == 2:
        if p0 <= 0.0:
            k = 0
        else:
            q = p0 / (1.0 + p0)  # failure probability
            k = int(math.floor(math.log(1.0 - u) / math.log(q)))
    else:
        k = int(emp[off + min(int(u * n), n - 1)])
    if k > cap:
        k = cap
    return k
