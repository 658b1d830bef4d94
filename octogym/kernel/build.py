"""Build the kernel's Model and State from workflows and hardware; grow pools on demand."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from octogym.hardware import HardwareConfig
from octogym.kernel import fields as L
from octogym.kernel.layout import (
    MAX_MAP_COUNT,
    MF_POLICY,
    MODEL_FIELDS,
    MODEL_GROUPS,
    MODEL_SINGLE,
    STATE_GROUPS,
    STATE_SINGLE,
    Model,
    State,
)
from octogym.kernel.loop import init_members
from octogym.rng import member_seed
from octogym.workflows.compiled import CompiledMix
from octogym.workflows.frequencies import expected_frequencies
from octogym.workflows.remaining import remaining_work

N_POLICY_PARAMS = 16
N_POLICY_SCRATCH = 8


def mix_work(mix: CompiledMix) -> tuple[float, np.ndarray]:
    """Expected TBU-cycles per request of the mix (initial phase) and the per-config share."""
    wfs, weights = mix.decompile()
    per_cfg = np.zeros(mix.n_configs)
    for wf, w in zip(wfs, weights, strict=True):
        for c, x in expected_frequencies(wf).work_per_config.items():
            per_cfg[mix.configs.index(c)] += w * x
    total = float(per_cfg.sum())
    return total, per_cfg / total if total > 0 else per_cfg


def profile_configs(hw: HardwareConfig, share: np.ndarray) -> np.ndarray:
    """Initial TBU configurations proportional to each config's expected share of work
    (largest remainder over all TBUs, at least one TBU per configuration with work), dealt
    across clusters so every config is spread out.
    Our design: the paper's traditional baseline profiles at compile time (docs/model.md §6)."""
    T, C = hw.n_tbus, hw.n_clusters
    raw = share * T
    cnt = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - cnt), kind="stable")
    for k in order[: T - int(cnt.sum())]:
        cnt[k] += 1
    # every configuration with work gets at least one TBU somewhere (else static could never
    # run it): take it from the configuration with the most TBUs
    for k in np.flatnonzero((share > 0) & (cnt == 0)):
        if cnt.max() > 1:
            cnt[int(np.argmax(cnt))] -= 1
            cnt[k] += 1
    seq = np.repeat(np.arange(len(share)), cnt)
    out = np.empty(T, dtype=np.int64)
    K = hw.tbus_per_cluster
    for i, cfg in enumerate(seq):
        out[(i % C) * K + i // C] = cfg
    return out


def initial_configs(hw: HardwareConfig, share: np.ndarray, tbu_init: str | np.ndarray
                    ) -> np.ndarray:
    """(T,) initial TBU configurations: ``"profile"`` (:func:`profile_configs`), ``"none"``
    (unconfigured: the first TB on each TBU pays a reconfiguration) or an explicit array.
    (``"best"``, strong ``static``'s layout, needs the run's length: ``Simulation`` resolves it
    with :mod:`octogym.layouts` before calling this.)"""
    if isinstance(tbu_init, str):
        if tbu_init == "profile":
            return profile_configs(hw, share)
        if tbu_init == "none":
            return np.full(hw.n_tbus, -1, dtype=np.int64)
        if tbu_init == "best":
            raise ValueError("tbu_init='best' needs the run's length and arrival rate: give it "
                             "to Simulation, which resolves it with octogym.layouts")
        raise ValueError(f"tbu_init must be 'profile', 'best', 'none' or an array, got "
                         f"{tbu_init!r}")
    cfg = np.asarray(tbu_init, dtype=np.int64)
    if cfg.shape != (hw.n_tbus,):
        raise ValueError(f"tbu_init must have shape ({hw.n_tbus},), got {cfg.shape}")
    if np.any(cfg < -1) or np.any(cfg >= len(share)):
        raise ValueError(f"tbu_init values must be config ids in [-1, {len(share)})")
    return cfg


def nearest_clusters(hw: HardwareConfig) -> np.ndarray:
    """(C, C): for each cluster, every cluster ordered by fixed transfer latency, then hops,
    then id (itself first). ``static`` routes a TB to the nearest cluster holding its config."""
    C = hw.n_clusters
    lat = hw.latency_matrix()
    hops = hw.hop_matrix()
    ids = np.arange(C)
    return np.stack([np.lexsort((ids, hops[c], lat[c])) for c in range(C)]).astype(np.int64)


def build_model(mix: CompiledMix, hw: HardwareConfig, *, n_requests: int, arrival: int,
                rate: float, trace_t: np.ndarray | None = None,
                trace_w: np.ndarray | None = None, epoch: int = 0, trace_cap: int = 0,
                pol_f: Sequence[float] = (), max_map_count: int = MAX_MAP_COUNT,
                tbu_slow: np.ndarray | None = None) -> Model:
    arrs = mix.arrays()
    _, share = mix_work(mix)
    cfg_mean = np.zeros(mix.n_configs)
    cnt = np.zeros(mix.n_configs)
    for b in range(mix.n_blocks):
        c = mix.blk_cfg[b]
        if c >= 0:
            cfg_mean[c] += mix.dur_mean[b]
            cnt[c] += 1
    cfg_mean = cfg_mean / np.maximum(cnt, 1)
    hwv = dict(
        C=hw.n_clusters, K=hw.tbus_per_cluster, T=hw.n_tbus, qcap=hw.queue_capacity,
        reconf=hw.reconfig_cycles, link_bw=hw.link_bytes_per_cycle,
        local_bw=hw.local_bytes_per_cycle, n_requests=int(n_requests), arr_mode=int(arrival),
        epoch=int(epoch), maxmap=int(max_map_count), trace_cap=int(trace_cap),
        margin=2 * (int(max_map_count) + mix.max_outdeg) + 16,
        dec_base=hw.decision_base_cycles, dec_per=hw.decision_cycles_per_entity,
        noc_cont=int(hw.noc_contention), mesh_cols=hw.cols, obuf=hw.output_buffer,
    )
    n = int(n_requests)
    tt = np.zeros(n, np.int64) if trace_t is None else np.asarray(trace_t, np.int64)
    tw = np.zeros(n, np.int64) if trace_w is None else np.asarray(trace_w, np.int64)
    src = {**arrs, "latency": hw.latency_matrix(), "hops": hw.hop_matrix(),
           "trace_t": tt, "trace_w": tw, "cfg_mean": cfg_mean, "cfg_share": share,
           "neigh": hw.neighbours(), "tbu_cluster": hw.tbu_cluster(),
           "near": nearest_clusters(hw), "rem_work": remaining_work(mix),
           "tbu_slow": np.ones(hw.n_tbus) if tbu_slow is None else np.asarray(tbu_slow, float)}
    vals: dict[str, np.ndarray] = {}
    for g, names in MODEL_GROUPS.items():
        if g == "MI":
            vals[g] = np.array([hwv[k] for k in names], dtype=np.int64)
        elif g == "MF":
            pf = np.zeros(len(names) + N_POLICY_PARAMS)
            pf[0] = float(rate)
            pf[MF_POLICY: MF_POLICY + len(pol_f)] = pol_f
            vals[g] = pf
        else:
            dt = np.float64 if g == "CFG" else np.int64
            vals[g] = np.ascontiguousarray(np.stack([np.asarray(src[k], dtype=dt)
                                                     for k in names]))
    for k in MODEL_SINGLE:
        vals[k] = np.ascontiguousarray(src[k])
    return Model(**{k: vals[k] for k in MODEL_FIELDS})


def model_int(M: Model, name: str) -> int:
    """A scalar of the model's MI group by name (e.g. 'T', 'margin')."""
    return int(M.MI[MODEL_GROUPS["MI"].index(name)])


def _sizes(M: Model, mix: CompiledMix, B: int, R: int, F: int, J: int, L_: int
           ) -> dict[str, int]:
    T = model_int(M, "T")
    return dict(B=B, H=J + T + model_int(M, "margin") + 8, R=R, F=F, J=J, T=T,
                C=model_int(M, "C"), Q=model_int(M, "qcap"), N=model_int(M, "n_requests"),
                L=max(L_, 1), NB=mix.n_blocks, NF=max(mix.n_flows, 1),
                NCFG=max(mix.n_configs, 1), JJ=max(mix.max_joins, 1), PS=N_POLICY_SCRATCH,
                W=4 * model_int(M, "margin") + 65, WT=L.WL_NFIELDS, WX=4,
                NL=4 * model_int(M, "C") if model_int(M, "noc_cont") else 1)


_NP = {"i8": np.int64, "f8": np.float64, "u8": np.uint64, "i4": np.int32}
LINE = 64


def cache_aligned_zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    """Zeros whose first element starts a 64-byte cache line (numpy's own allocations are
    only 16-byte aligned). A run of State fields that fits in a line then never straddles
    two: e.g. one field of a cluster's 4 TBUs (32 bytes)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    buf = np.zeros(n + LINE, np.uint8)
    off = -buf.ctypes.data % LINE
    return buf[off: off + n].view(dtype).reshape(shape)


def new_state(M: Model, mix: CompiledMix, B: int, seeds: Sequence[int],
              tbu_cfg: np.ndarray, R: int = 64, F: int = 256, J: int = 512) -> State:
    """A fresh State for ``B`` members, member ``b`` seeded with ``seeds[b]`` (already derived),
    TBUs holding ``tbu_cfg`` (global config ids, -1 = unconfigured)."""
    margin = model_int(M, "margin")
    F = max(F, 4 * margin)
    J = max(J, 4 * margin)
    sz = _sizes(M, mix, B, R, F, J, model_int(M, "trace_cap"))
    arrays = {}
    for g, dt, shape, names in STATE_GROUPS:
        sz["X"] = len(names)
        arrays[g] = cache_aligned_zeros((B, *[sz[d] for d in shape]), _NP[dt])
    for g, dt, shape in STATE_SINGLE:
        arrays[g] = cache_aligned_zeros((B, *[sz[d] for d in shape]), _NP[dt])
    S = State(**arrays)
    reset_members(M, S, np.arange(B), seeds, tbu_cfg)
    return S


def reset_members(M: Model, S: State, rows: Sequence[int], seeds: Sequence[int],
                  tbu_cfg: np.ndarray, rate_scale: Sequence[float] | None = None) -> None:
    """Lay members ``rows`` out anew (member ``rows[i]`` seeded with ``seeds[i]``; its
    arrival rate multiplied by ``rate_scale[i]`` if given, ``SF_RATE_SCALE``) and schedule
    their first arrivals."""
    rows = np.asarray(rows, np.int64)
    for arr in S:
        arr[rows] = 0
    R, F, J = S.RQ.shape[1], S.FR.shape[1], S.JB.shape[1]
    S.RQ[rows, :, L.RQ_FREE] = np.arange(R)[::-1]
    S.SC[rows, L.SC_RQ_NFREE] = R
    S.FR[rows, :, L.FR_FREE] = np.arange(F)[::-1]
    S.SC[rows, L.SC_FR_NFREE] = F
    S.JB[rows, :, L.JB_FREE] = np.arange(J)[::-1]
    S.SC[rows, L.SC_JB_NFREE] = J
    S.SEED[rows] = np.asarray([int(x) for x in seeds], np.uint64)
    S.SC[rows, L.SC_DQ_HEAD] = -1
    S.SC[rows, L.SC_DQ_TAIL] = -1
    S.CL[rows, L.CL_BL_HEAD] = -1
    S.CL[rows, L.CL_BL_TAIL] = -1
    S.RES[rows] = -1
    S.TB[rows, L.TB_CFG] = tbu_cfg
    S.SC[rows, L.SC_DEC_JOB] = -1
    S.SC[rows, L.SC_DEC_TBU] = -1
    if rate_scale is not None:
        S.SF[rows, L.SF_RATE_SCALE] = np.asarray(rate_scale, np.float64)
    init_members(M, S, rows)


_POOL = {"R": ("RQ", "RQ_FREE", "SC_RQ_NFREE"), "F": ("FR", "FR_FREE", "SC_FR_NFREE"),
         "J": ("JB", "JB_FREE", "SC_JB_NFREE")}
_POOL_EXTRA = {"R": (), "F": ("FRU", "FJC", "FJX"), "J": ("JBU", "HP")}


def grow_state(S: State, what: str) -> State:
    """Double pool ``what`` ('R', 'F' or 'J'; 'J' also grows the heap) for every member."""
    grp, free_row, nfree_col = _POOL[what]
    arrays = dict(S._asdict())
    old = arrays[grp].shape[1]
    new = 2 * old

    def pad(name: str, axis: int, n: int) -> None:
        a = arrays[name]
        shape = list(a.shape)
        shape[axis] += n
        arrays[name] = cache_aligned_zeros(tuple(shape), a.dtype)
        arrays[name][tuple(slice(0, k) for k in a.shape)] = a

    pad(grp, 1, new - old)
    for name in _POOL_EXTRA[what]:
        pad(name, 1, new - old)
    fa = arrays[grp][:, :, getattr(L, free_row)]
    nf = arrays["SC"][:, getattr(L, nfree_col)]
    for b in range(fa.shape[0]):
        n = nf[b]
        # new slots are pushed on the free stack (which ids are used never changes results)
        fa[b, n: n + (new - old)] = np.arange(old, new)[::-1]
        nf[b] = n + (new - old)
    return State(**arrays)


def seeds_for(seed: int, B: int) -> list[int]:
    return [member_seed(seed, b) for b in range(B)]


def state_nbytes(M: Model, mix: CompiledMix, B: int, R: int = 64, F: int = 256,
                 J: int = 512) -> int:
    """Bytes :func:`new_state` will allocate for ``B`` members (before any pool grows), so a
    caller can refuse a configuration before allocating it (docs/limits.md)."""
    margin = model_int(M, "margin")
    sz = _sizes(M, mix, B, R, max(F, 4 * margin), max(J, 4 * margin),
                model_int(M, "trace_cap"))
    total = 0
    for _, dt, shape, names in STATE_GROUPS:
        sz["X"] = len(names)
        total += B * int(np.prod([sz[d] for d in shape])) * np.dtype(_NP[dt]).itemsize
    for _, dt, shape in STATE_SINGLE:
        total += B * int(np.prod([sz[d] for d in shape])) * np.dtype(_NP[dt]).itemsize
    return total
