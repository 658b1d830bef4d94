"""Rewards: exact time integrals of the requests in the system.

Let ``N(t)`` be the number of requests arrived and not finished at cycle ``t``. Its integral

    I(t) = sum over finished requests of (done - arr) + sum over open requests of (t - arr)
         = D + (n_arrived - n_done) * t - A

where ``A`` sums the arrival times of all arrived requests and ``D`` the completion times of
all finished ones. Over a whole episode ``I(end)`` is the total latency. The kernel keeps ``A``,
``D`` and the arrival times of the finished requests as running sums in its state
(``sum_arr``, ``sum_done``, ``sum_done_arr``), so a reward costs O(1) per step and touches no
per-request row (which, at N = 1024 members, would not be in the cache).

Reward kinds (``reward=`` on every environment), per step from decision t0 to decision t1:

* ``latency`` (default): ``-(I(t1) - I(t0)) * scale``; its episode sum is minus the total
  latency of the episode's requests (times ``scale``). The first step also covers the cycles
  before the first decision, so nothing is lost.
* ``completion``: ``-(latencies of the requests that finished in (t0, t1]) * scale``; the same
  episode sum, paid when requests finish (sparser, but no credit for time not yet spent).
* ``in_system``: ``-N(t1) / (C * K)``: the requests in the system at the new decision, per TBU
  (a snapshot, not time-weighted; dimensionless, ``scale`` unused).

``scale`` defaults to ``1 / tau`` (tau: expected cycles of one TB execution of the mix, see
:mod:`octogym.envs.layout`), so one unit of reward is one request waiting one mean TB duration.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from octogym.kernel import fields as L

REWARDS: dict[str, str] = {
    "latency": "minus the time-integral of requests in the system between decisions (default)",
    "completion": "minus the latencies of the requests that finished since the last decision",
    "in_system": "minus the requests in the system at the new decision, per TBU",
}

# Columns of the accounting array (one row per batch member): I and the summed latency of the
# finished requests at the member's previous step.
AC_I, AC_LAT = range(2)
N_ACCOUNT = 2


# The kind of reward as the compiled code sees it.
REWARD_LATENCY, REWARD_COMPLETION, REWARD_IN_SYSTEM = 0, 1, 2
REWARD_CODES = {"latency": REWARD_LATENCY, "completion": REWARD_COMPLETION,
                "in_system": REWARD_IN_SYSTEM}
assert list(REWARD_CODES) == list(REWARDS), "REWARD_CODES must name every reward of REWARDS"


@njit(cache=True, inline="always")
def account_member(SC, b, acc, kind, scale, per_tbu, out):
    """Write member ``b``'s reward since its previous call to ``out[b]``; afterwards
    ``acc[b, AC_I]`` is I(now) and ``acc[b, AC_LAT]`` the summed latency of the finished
    requests."""
    n_arrived = SC[b, L.SC_N_ARRIVED]
    n_done = SC[b, L.SC_N_DONE]
    a = acc[b]
    prev_i = a[AC_I]
    prev_lat = a[AC_LAT]
    a[AC_I] = SC[b, L.SC_SUM_DONE] + (n_arrived - n_done) * SC[b, L.SC_NOW] - SC[b, L.SC_SUM_ARR]
    a[AC_LAT] = SC[b, L.SC_SUM_DONE] - SC[b, L.SC_SUM_DONE_ARR]
    if kind == REWARD_LATENCY:
        out[b] = -(a[AC_I] - prev_i) * scale
    elif kind == REWARD_COMPLETION:
        out[b] = -(a[AC_LAT] - prev_lat) * scale
    else:  # in_system
        out[b] = -(n_arrived - n_done) / per_tbu


class RewardAccount:
    """Per-member accounting (int64, exact) and the reward of the selected kind."""

    def __init__(self, batch: int, kind: str, scale: float, per_tbu: float) -> None:
        if kind not in REWARDS:
            raise ValueError(f"reward must be one of {sorted(REWARDS)}, got {kind!r}")
        self.kind = kind
        self.code = REWARD_CODES[kind]
        self.scale = float(scale)
        self.per_tbu = float(per_tbu)
        self.acc = np.zeros((batch, N_ACCOUNT), np.int64)

    def clear(self, rows: np.ndarray) -> None:
        """Members ``rows`` start a new episode (the integral restarts at cycle 0)."""
        self.acc[rows] = 0

    def mark(self, SC: np.ndarray, rows: np.ndarray) -> None:
        """Members ``rows``' next rewards count from now on (the end of a warm-up): their
        accounts take the integrals' current values, whose reward is dropped."""
        out = np.zeros(SC.shape[0])
        for b in rows:
            account_member(SC, int(b), self.acc, self.code, self.scale, self.per_tbu, out)
