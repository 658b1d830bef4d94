"""Run metrics (DESIGN §4), read out of a finished (or paused) batch member of the kernel."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from octogym.kernel.layout import TBU_IDLE


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

    def to_dict(self) -> dict[str, Any]:
        """Scalar metrics only (arrays left out), JSON-friendly."""
        d = asdict(self)
        for k in ("latencies", "tbu_utilisation", "tbu_idle"):
            d.pop(k)
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in d.items()}


def tbu_time_split(M, S, b: int, end: int | None = None) -> dict[str, np.ndarray]:
    """Per-TBU busy / starved / waiting-for-data / reconfiguring / blocked cycles up to ``end``
    (default: the member's current time). Open idle segments are closed at ``end``."""
    end = int(S.now[b]) if end is None else int(end)
    starved = S.acc_starved[b].astype(np.int64).copy()
    blocked = S.acc_blocked[b].astype(np.int64).copy()
    idle = (S.tb_state[b] == TBU_IDLE) & (S.tb_ql[b] == 0)
    open_seg = np.where(idle, end - S.tb_idle[b], 0)
    backlog = S.bl_len[b][M.tbu_cluster] > 0
    blocked += np.where(backlog, open_seg, 0)
    starved += np.where(backlog, 0, open_seg)
    return {
        "busy": S.acc_busy[b].copy(),
        "starved": starved,
        "waiting_data": S.acc_wait[b].copy(),
        "reconfiguring": S.acc_reconf[b].copy(),
        "blocked": blocked,
    }


def collect(M, S, b: int, clock_ghz: float = 1.0) -> SimResult:
    """Metrics of member ``b`` (normally after it reached ST_DONE)."""
    done = S.res_done[b] >= 0
    lat = (S.res_done[b][done] - S.res_arr[b][done]).astype(np.float64)
    end = int(S.t_end[b]) if int(S.nd[b]) >= M.n_requests else int(S.now[b])
    split = tbu_time_split(M, S, b, end)
    elapsed = max(end, 1)
    util = split["busy"] / elapsed
    tot = float(elapsed) * M.T

    def frac(k: str) -> float:
        return float(split[k].sum()) / tot

    def pct(q: float) -> float:
        return float(np.percentile(lat, q)) if lat.size else float("nan")

    return SimResult(
        n_requests=int(done.sum()),
        latency_mean=float(lat.mean()) if lat.size else float("nan"),
        latency_p50=pct(50),
        latency_p95=pct(95),
        latency_p99=pct(99),
        makespan=end,
        throughput_per_mcycle=float(done.sum()) / elapsed * 1e6,
        utilisation=float(util.mean()),
        idle_starved=frac("starved"),
        idle_waiting_data=frac("waiting_data"),
        idle_reconfiguring=frac("reconfiguring"),
        idle_blocked=frac("blocked"),
        reconfigurations=int(S.n_reconf[b]),
        noc_byte_hops=float(S.byte_hops[b]),
        tb_executions=int(S.n_tb_done[b]),
        cb_executions=int(S.n_cb_done[b]),
        events=int(S.n_events[b]),
        invalid_actions=int(S.n_invalid[b]),
        migrations=int(S.n_migrations[b]),
        steals=int(S.n_steals[b]),
        clock_ghz=clock_ghz,
        latencies=lat,
        tbu_utilisation=util,
        tbu_idle=split,
    )
