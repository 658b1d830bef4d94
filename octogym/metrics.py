"""Run metrics (docs/model.md §5), read out of a finished (or paused) batch member of the kernel."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from octogym.kernel import fields as L
from octogym.kernel.build import model_int
from octogym.kernel.layout import TBU_IDLE, TBU_RECONF, TBU_RUN
from octogym.kernel.layout import field as sfield


@dataclass
class SimResult:
    """Metrics of one simulated run. Times are cycles; ``*_us`` at the hardware clock."""

    n_requests: int  # requests that completed
    latency_mean: float
    latency_p50: float
    latency_p95: float
    latency_p99: float
    makespan: int  # cycle of the last completion
    throughput_per_mcycle: float  # completed requests per million cycles
    utilisation: float  # mean over TBUs of busy / elapsed
    idle_starved: float  # fractions of all TBU-time, summing with utilisation to 1
    idle_waiting_data: float
    idle_reconfiguring: float
    idle_blocked: float
    reconfigurations: int
    noc_byte_hops: float
    tb_executions: int
    cb_executions: int
    events: int
    invalid_actions: int
    migrations: int
    steals: int
    clock_ghz: float = 1.0
    latencies: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    tbu_utilisation: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    tbu_idle: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def latency_mean_us(self) -> float:
        return self.latency_mean / (self.clock_ghz * 1e3)

    # Steady-state statistics: properties, not dataclass fields, so that ``to_dict()`` (env
    # infos) and every golden hash stay as they were; ``steady_dict()`` collects them.
    @property
    def latency_steady(self) -> np.ndarray:
        """Latencies of the requests inside the steady window (:func:`steady_slice`)."""
        return self.latencies[steady_slice(self.latencies.size)]

    @property
    def latency_mean_steady(self) -> float:
        """Mean latency over the steady window (warm-up and drain excluded); NaN if empty."""
        x = self.latency_steady
        return float(x.mean()) if x.size else math.nan

    @property
    def latency_p99_steady(self) -> float:
        """99th-percentile latency over the steady window; NaN if empty."""
        x = self.latency_steady
        return percentiles(x, (99,))[0] if x.size else math.nan

    @property
    def latency_trend(self) -> float:
        """Mean latency of the last quarter of the steady window over that of its first
        quarter: near 1 when the system keeps up, above 1 when its backlog grows through the
        run (or a later drift phase is heavier: a diagnostic, not a stability test). NaN with
        fewer than 8 requests in the window."""
        x = self.latency_steady
        q = x.size // 4
        if q < 2:
            return math.nan
        return float(x[-q:].mean() / max(x[:q].mean(), 1.0))

    def steady_dict(self) -> dict[str, float]:
        """The steady-state statistics above, by name (kept out of :meth:`to_dict`)."""
        return {k: getattr(self, k) for k in STEADY_KEYS}

    def to_dict(self) -> dict[str, Any]:
        """Scalar metrics only (arrays left out), JSON-friendly."""
        d = {f.name: getattr(self, f.name) for f in _SCALAR_FIELDS}
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in d.items()}


#: Steady-state statistics of :class:`SimResult` (properties; see :meth:`SimResult.steady_dict`).
STEADY_KEYS = ("latency_mean_steady", "latency_p99_steady", "latency_trend")
#: The steady window (ours): requests are numbered in arrival order (request ids; Poisson
#: and trace arrivals are non-decreasing in id, closed ones all arrive at 0), and the first
#: WARMUP_FRACTION (the system filling from empty) and the last DRAIN_FRACTION (arrivals stop
#: behind them, so they meet a system that only empties) are left out of the steady statistics.
WARMUP_FRACTION = 0.1
DRAIN_FRACTION = 0.1


def steady_slice(n: int, warmup: float = WARMUP_FRACTION, drain: float = DRAIN_FRACTION
                 ) -> slice:
    """Positions ``floor(warmup n) .. n - floor(drain n) - 1`` of ``n`` requests in arrival
    order: the steady window. Meant for a finished run (every request completed, so that
    position = request id); on a paused run it is the window of the completed ones."""
    if not (0.0 <= warmup and 0.0 <= drain and warmup + drain < 1.0):
        raise ValueError(f"steady window: warmup={warmup!r} and drain={drain!r} must be "
                         "non-negative fractions summing below 1")
    return slice(int(math.floor(warmup * n)), n - int(math.floor(drain * n)))


_SCALAR_FIELDS = tuple(f for f in fields(SimResult)
                       if f.name not in ("latencies", "tbu_utilisation", "tbu_idle"))
_LATENCY_FIELDS = ("latency_mean", "latency_p50", "latency_p95", "latency_p99")


def tbu_time_split(M, S, b: int, end: int | None = None) -> dict[str, np.ndarray]:
    """Per-TBU busy / starved / waiting-for-data / reconfiguring / blocked cycles up to ``end``
    (default: the member's current time). Open idle segments are closed at ``end``."""
    def f(name: str) -> np.ndarray:
        return sfield(S, name)[b]

    end = int(f("now")) if end is None else int(end)
    starved = f("acc_starved").copy()
    blocked = f("acc_blocked").copy()
    idle = f("tb_state") == TBU_IDLE
    open_seg = np.where(idle, end - f("tb_idle"), 0)
    backlog = f("bl_len")[M.tbu_cluster] > 0
    if model_int(M, "obuf") > 0:  # idle with queued work: blocked by its full output buffer
        backlog = backlog | (f("tb_ql") > 0)
    blocked += np.where(backlog, open_seg, 0)
    starved += np.where(backlog, 0, open_seg)
    busy = f("acc_busy").copy()
    wait = f("acc_wait").copy()
    reconf = f("acc_reconf").copy()
    # The kernel accounts a TBU's activity when it starts it (a reconfiguration command; or
    # reconfigure, wait for data, run, in that order); remove what lies after ``end``.
    state = f("tb_state")
    over = np.maximum(f("tb_end") - end, 0)
    rc = state == TBU_RECONF
    reconf -= np.where(rc, over, 0)
    for u in np.flatnonzero((state == TBU_RUN) & (over > 0)):
        j = S.TBQ[b, u, S.TB[b, L.TB_QH, u]]
        run = int(np.ceil(S.JB[b, j, L.JB_DUR] * M.tbu_slow[u]))
        left = int(over[u])
        for acc, cap in ((busy, run), (wait, None), (reconf, None)):
            cut = min(left, cap if cap is not None else left, int(acc[u]))
            acc[u] -= cut
            left -= cut
    return {
        "busy": busy,
        "starved": starved,
        "waiting_data": wait,
        "reconfiguring": reconf,
        "blocked": blocked,
    }


def percentiles(x: np.ndarray, qs: tuple[float, ...] = (50, 95, 99)) -> list[float]:
    """``np.percentile(x, qs)`` (numpy's default, linear method) for a 1-D array without NaNs,
    computed step by step as numpy computes it (bit-identical; a test checks it), without
    numpy's per-call overhead, which dominated an episode's metrics at ~0.25 ms."""
    s = np.sort(x)
    n = s.size
    out = []
    for q in qs:
        qq = q / 100
        v = (n - 1) * qq  # numpy's virtual index (linear method)
        if v >= n - 1:
            out.append(float(s[-1]))
        elif v < 0:
            out.append(float(s[0]))
        else:
            lo = math.floor(v)
            g = v - lo
            a, b = float(s[lo]), float(s[lo + 1])
            d = b - a
            out.append(b - d * (1 - g) if g >= 0.5 else a + d * g)
    return out


def make_result(lat: np.ndarray, end: int, split: dict[str, np.ndarray], counters: dict,
                clock_ghz: float = 1.0) -> SimResult:
    """A :class:`SimResult` from completed-request latencies, the end cycle, the per-TBU time
    split and the event counters (``reconfigurations``, ``noc_byte_hops``, ``tb_executions``,
    ``cb_executions``, ``events``, ``invalid_actions``, ``migrations``, ``steals``). The one
    definition of every metric, shared by the kernel and the reference simulator."""
    elapsed = max(int(end), 1)
    util = split["busy"] / elapsed
    tot = float(elapsed) * len(util)

    def frac(k: str) -> float:
        return float(split[k].sum()) / tot

    # No completed request (a truncated episode, or advance(until=...) before the first
    # completion): the latency metrics are undefined, NaN, and n_requests == 0 says so.
    p50, p95, p99 = percentiles(lat) if lat.size else [math.nan] * 3
    res = SimResult(
        n_requests=int(lat.size),
        latency_mean=float(lat.mean()) if lat.size else math.nan,
        latency_p50=p50,
        latency_p95=p95,
        latency_p99=p99,
        makespan=int(end),
        throughput_per_mcycle=float(lat.size) / elapsed * 1e6,
        utilisation=float(util.mean()),
        idle_starved=frac("starved"),
        idle_waiting_data=frac("waiting_data"),
        idle_reconfiguring=frac("reconfiguring"),
        idle_blocked=frac("blocked"),
        clock_ghz=clock_ghz,
        latencies=lat,
        tbu_utilisation=util,
        tbu_idle=split,
        **counters,
    )
    undefined = () if lat.size else _LATENCY_FIELDS
    bad = [f.name for f in _SCALAR_FIELDS
           if isinstance(getattr(res, f.name), float) and f.name not in undefined
           and not math.isfinite(getattr(res, f.name))]
    if bad:
        raise ValueError(f"metrics {bad} are not finite (makespan {int(end)} cycles): a bound "
                         "of docs/limits.md was not enforced; please report this input")
    return res


def collect(M, S, b: int, clock_ghz: float = 1.0) -> SimResult:
    """Metrics of member ``b`` (normally after it reached ST_DONE)."""
    def f(name: str):
        return sfield(S, name)[b]

    done = f("res_done") >= 0
    lat = (f("res_done")[done] - f("res_arr")[done]).astype(np.float64)
    end = int(f("t_end")) if int(f("n_done")) >= model_int(M, "n_requests") else int(f("now"))
    counters = dict(
        reconfigurations=int(f("n_reconf")),
        noc_byte_hops=float(f("byte_hops")),
        tb_executions=int(f("n_tb_done")),
        cb_executions=int(f("n_cb_done")),
        events=int(f("n_events")),
        invalid_actions=int(f("n_invalid")),
        migrations=int(f("n_migrations")),
        steals=int(f("n_steals")),
    )
    return make_result(lat, end, tbu_time_split(M, S, b, end), counters, clock_ghz)


def contention_metrics(M, S, b: int, end: int | None = None) -> dict[str, int]:
    """The counters of the contention mechanisms (docs/model.md §3 "Link contention", §4
    "Output buffers"; all 0 while they are off) of member ``b``: ``link_wait`` (cycles
    transfers waited for busy NoC links), ``link_waits`` (transfers that waited),
    ``output_blocked`` (TBU-cycles idle behind a full output buffer, up to ``end``, default
    now; part of the ``blocked`` idle time) and ``output_blocked_tbus`` (TBUs that were)."""
    def f(name: str):
        return sfield(S, name)[b]

    end = int(f("now")) if end is None else int(end)
    ob = f("acc_oblocked").copy()
    if model_int(M, "obuf") > 0:
        open_ = (f("tb_state") == TBU_IDLE) & (f("tb_ql") > 0)
        ob += np.where(open_, end - f("tb_idle"), 0)
    return dict(link_wait=int(f("link_wait")), link_waits=int(f("n_link_waits")),
                output_blocked=int(ob.sum()), output_blocked_tbus=int((ob > 0).sum()))
