"""Build the kernel's Model and State from workflows and hardware; grow pools on demand."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from octogym.hardware import HardwareConfig
from octogym.kernel.layout import (
    MAX_MAP_COUNT,
    MODEL_FIELDS,
    STATE_SPEC,
    Model,
    State,
)
from octogym.kernel.loop import init_member
from octogym.rng import member_seed
from octogym.workflows.compiled import CompiledMix
from octogym.workflows.frequencies import expected_frequencies

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
    (largest remainder over all TBUs), dealt across clusters so every config is spread out.
    Our design: the paper's traditional baseline profiles at compile time (DESIGN §6)."""
    T, C = hw.n_tbus, hw.n_clusters
    raw = share * T
    cnt = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - cnt), kind="stable")
    for k in order[: T - int(cnt.sum())]:
        cnt[k] += 1
    seq = np.repeat(np.arange(len(share)), cnt)
    out = np.empty(T, dtype=np.int64)
    K = hw.tbus_per_cluster
    for i, cfg in enumerate(seq):
        out[(i % C) * K + i // C] = cfg
    return out


def build_model(mix: CompiledMix, hw: HardwareConfig, *, n_requests: int, arrival: int,
                rate: float, trace_t: np.ndarray | None = None,
                trace_w: np.ndarray | None = None, epoch: int = 0, trace_cap: int = 0,
                pol_f: Sequence[float] = (), max_map_count: int = MAX_MAP_COUNT) -> Model:
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
    pf = np.zeros(N_POLICY_PARAMS)
    pf[: len(pol_f)] = pol_f
    vals = dict(
        C=hw.n_clusters, K=hw.tbus_per_cluster, T=hw.n_tbus, qcap=hw.queue_capacity,
        reconf=hw.reconfig_cycles, link_bw=hw.link_bytes_per_cycle,
        local_bw=hw.local_bytes_per_cycle,
        latency=np.ascontiguousarray(hw.latency_matrix(), dtype=np.int64),
        hops=np.ascontiguousarray(hw.hop_matrix(), dtype=np.int64),
        neigh=np.ascontiguousarray(hw.neighbours(), dtype=np.int64),
        tbu_cluster=np.ascontiguousarray(hw.tbu_cluster(), dtype=np.int64),
        n_requests=int(n_requests), arr_mode=int(arrival), rate=float(rate),
        trace_t=np.zeros(1, np.int64) if trace_t is None else np.asarray(trace_t, np.int64),
        trace_w=np.zeros(1, np.int64) if trace_w is None else np.asarray(trace_w, np.int64),
        epoch=int(epoch), maxmap=int(max_map_count), trace_cap=int(trace_cap),
        pol_f=pf, cfg_mean=cfg_mean, cfg_share=share,
        margin=2 * (int(max_map_count) + mix.max_outdeg) + 16,
    )
    for k in MODEL_FIELDS:
        if k not in vals:
            vals[k] = np.ascontiguousarray(arrs[k])
    return Model(**{k: vals[k] for k in MODEL_FIELDS})


def _sizes(M: Model, mix: CompiledMix, B: int, R: int, F: int, J: int, L: int) -> dict[str, int]:
    return dict(B=B, H=J + M.T + M.margin + 8, R=R, F=F, J=J, T=M.T, C=M.C, Q=M.qcap,
                N=M.n_requests, L=max(L, 1), NB=mix.n_blocks, NF=max(mix.n_flows, 1),
                NCFG=max(mix.n_configs, 1), JJ=max(mix.max_joins, 1), PS=N_POLICY_SCRATCH)


_NP = {"i8": np.int64, "f8": np.float64, "u8": np.uint64, "i4": np.int32}


def new_state(M: Model, mix: CompiledMix, B: int, seeds: Sequence[int],
              tbu_cfg: np.ndarray, R: int = 64, F: int = 256, J: int = 512) -> State:
    """A fresh State for ``B`` members, member ``b`` seeded with ``seeds[b]`` (already derived),
    TBUs holding ``tbu_cfg`` (global config ids, -1 = unconfigured)."""
    margin = M.margin
    F = max(F, 4 * margin)
    J = max(J, 4 * margin)
    sz = _sizes(M, mix, B, R, F, J, M.trace_cap)
    arrays = {}
    for name, dt, shape in STATE_SPEC:
        arrays[name] = np.zeros((B, *[sz[s] for s in shape]), dtype=_NP[dt])
    S = State(**arrays)
    for b in range(B):
        reset_member(M, S, b, seeds[b], tbu_cfg)
    return S


def reset_member(M: Model, S: State, b: int, seed: int, tbu_cfg: np.ndarray) -> None:
    """Lay member ``b`` out anew and schedule its first arrival."""
    for name, _, _ in STATE_SPEC:
        getattr(S, name)[b] = 0
    R, F, J = S.rq_uid.shape[1], S.fr_live.shape[1], S.jb_req.shape[1]
    S.rq_free[b] = np.arange(R)[::-1]
    S.rq_nfree[b] = R
    S.fr_free[b] = np.arange(F)[::-1]
    S.fr_nfree[b] = F
    S.jb_free[b] = np.arange(J)[::-1]
    S.jb_nfree[b] = J
    S.seed[b] = np.uint64(seed)
    S.dq_head[b] = S.dq_tail[b] = -1
    S.bl_head[b] = -1
    S.bl_tail[b] = -1
    S.res_done[b] = -1
    S.res_arr[b] = -1
    S.res_home[b] = -1
    S.res_wf[b] = -1
    S.tb_cfg[b] = tbu_cfg
    S.dec_job[b] = -1
    init_member(M, S, b)


def grow_state(S: State, what: str) -> State:
    """Double pool ``what`` ('R', 'F' or 'J'; 'J' also grows the heap) for every member."""
    arrays = {name: getattr(S, name) for name in S._fields}
    B = S.now.shape[0]
    axis_of = {"R": ("rq_",), "F": ("fr_",), "J": ("jb_",)}[what]
    old = {"R": S.rq_uid.shape[1], "F": S.fr_live.shape[1], "J": S.jb_req.shape[1]}[what]
    new = 2 * old
    for name, arr in arrays.items():
        if name.startswith(axis_of) and arr.ndim >= 2 and arr.shape[1] == old:
            pad = [(0, 0)] * arr.ndim
            pad[1] = (0, new - old)
            arrays[name] = np.pad(arr, pad)
    # new slots go under the free stacks' current contents (popped after the old ones)
    free = {"R": ("rq_free", "rq_nfree"), "F": ("fr_free", "fr_nfree"),
            "J": ("jb_free", "jb_nfree")}[what]
    fa, nf = arrays[free[0]], arrays[free[1]]
    for b in range(B):
        n = nf[b]
        fa[b, n: n + (new - old)] = np.arange(old, new)[::-1]
        nf[b] = n + (new - old)
    if what == "J":
        H = S.hp_t.shape[1]
        for name in ("hp_t", "hp_k", "hp_d"):
            arrays[name] = np.pad(arrays[name], [(0, 0), (0, new - old)])
        assert arrays["hp_t"].shape[1] == H + new - old
    return State(**arrays)


def seeds_for(seed: int, B: int) -> list[int]:
    return [member_seed(seed, b) for b in range(B)]
