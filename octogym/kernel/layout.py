"""Array layout of the batched simulator: one source of truth for every field.

``Model`` holds what does not change during a run (compiled workflows, hardware, run
parameters); ``State`` holds every batch member's dynamic state as arrays with a leading batch
axis ``B``. Both are namedtuples so the compiled kernel reads them by name. Shapes use
B batch, H heap, R request slots, F frame slots, J job slots, T TBUs, C clusters, Q queue
capacity, N requests per run, L trace rows, NB blocks, NF flows, NCFG configs, JJ joins.
"""

from __future__ import annotations

from collections import namedtuple

# Event kinds, in tie-breaking priority order at equal time (DESIGN §4: time, kind, sequence).
EV_TB_DONE, EV_CB_DONE, EV_TBU_FREE, EV_ARRIVAL, EV_EPOCH = 0, 1, 2, 3, 4
KIND_SHIFT = 56

# Member status returned by the kernel.
ST_DONE, ST_DECISION, ST_TIME, ST_GROW, ST_STALLED = 0, 1, 2, 3, 4
STATUS_NAMES = {0: "done", 1: "decision", 2: "time", 3: "grow", 4: "stalled"}

# Decision kinds.
DEC_NONE, DEC_CLUSTER, DEC_TBU = 0, 1, 2

# TBU states.
TBU_IDLE, TBU_RUN, TBU_RECONF = 0, 1, 2

# Frame kinds: a request's root scope, one copy of a map body, the group of a map's copies.
FR_ROOT, FR_COPY, FR_GROUP = 0, 1, 2

# Arrival modes.
ARR_POISSON, ARR_CLOSED, ARR_TRACE = 0, 1, 2
ARRIVAL_MODES = {"poisson": ARR_POISSON, "closed": ARR_CLOSED, "trace": ARR_TRACE}

# Our model limit: a map never starts more than this many copies (the draw is clamped).
MAX_MAP_COUNT = 64

# ---- Model: what does not change during a run ------------------------------------------------
# Arrays are grouped (a field = one row of a group) because the compiled kernel passes these
# tuples to every function, and numba's compile time grows with the number of tuple fields.
# Shapes: NB blocks, NF flows, NPH phase rows, W workflows, C clusters, T TBUs, N requests.
MODEL_GROUPS: dict[str, tuple[str, ...]] = {
    # int64 scalars: M.MI[L.MI_<NAME>]
    "MI": ("C", "K", "T", "qcap", "reconf", "link_bw", "local_bw", "n_requests", "arr_mode",
           "epoch", "maxmap", "trace_cap", "margin"),
    # int64 per block (.., NB)
    "MB": ("blk_wf", "blk_type", "blk_cfg", "blk_cost", "blk_body", "blk_indeg",
           "blk_join_slot", "dur_code", "dur_emp_off", "dur_emp_len"),
    # int64 per map block and phase row (.., NPH, NB)
    "MC": ("cnt_code", "cnt_emp_off", "cnt_emp_len"),
    # int64 per phase row (.., NPH)
    "PHASE": ("phase_after_req", "phase_after_cyc"),
    # int64 per flow (.., NF), CSR order
    "FL": ("succ_dst", "succ_bytes"),
    # int64 (.., C, C): fixed transfer latency and mesh hops
    "NOC": ("latency", "hops"),
    # int64 per request (.., N): trace arrival times and workflow indices
    "TRACE": ("trace_t", "trace_w"),
    # float64 per config (.., NCFG): mean TB duration, expected share of work (static profile)
    "CFG": ("cfg_mean", "cfg_share"),
    # float64 scalars: arrival rate (requests per cycle), then policy tunables
    "MF": ("rate",),
}
MODEL_SINGLE = (
    "wf_cdf",  # (W,) float64
    "wf_entry",  # (W,) int64
    "wf_phase_off",  # (W+1,) int64
    "succ_ptr",  # (NB+1,) int64
    "flow_prob",  # (NPH, NF) float64
    "cnt_p",  # (NPH, NB) float64
    "emp",  # (E,) float64
    "dur_p",  # (NB, 3) float64
    "dur_mean",  # (NB,) float64
    "neigh",  # (C, 4) int64
    "tbu_cluster",  # (T,) int64
    "tbu_slow",  # (T,) float64 run-time factor per TBU (1 = nominal; what-if slowdowns)
    "near",  # (C, C) int64 clusters in order of distance from each cluster (itself first)
)
MF_POLICY = 1  # policy tunables start at M.MF[MF_POLICY]
MODEL_FIELDS = tuple(MODEL_GROUPS) + MODEL_SINGLE
Model = namedtuple("Model", MODEL_FIELDS)

# ---- State: every member's dynamic state, leading axis B -------------------------------------
# (group, dtype, shape after B with "X" = the field axis, fields). Entities that the kernel
# handles one at a time (heap entries, requests, frames, jobs, results, trace rows) keep their
# fields together (field axis last: one entity on a cache line or two); what the policies and
# observations scan across TBUs and clusters (every TBU's queue length, every cluster's load)
# keeps each field together (field axis first), and the TBU fields only a TBU's own events
# touch (its accounting) are a record per TBU again. In the environments each member's state
# has usually left the caches by the time its next decision comes, so the lines one decision
# touches set its cost (``benchmarks/lines_per_decision.py`` counts them).
STATE_GROUPS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("SC", "i8", ("X",), (
        "now", "seq", "n_done", "n_arrived", "dec_kind", "dec_job", "n_tb_created", "n_tb_done",
        "n_cb_done", "n_reconf", "n_events", "n_invalid", "n_migrations", "n_steals",
        "dq_head", "dq_tail", "dq_len", "hp_len", "rr_cluster", "fr_nfree", "jb_nfree", "rq_nfree",
        "n_traced", "t_end", "status", "n_policy_draws", "idle_epochs",
        # running sums of arrival times of arrived requests, and of completion and arrival
        # times of finished ones (exact: the env's rewards read them in O(1))
        "sum_arr", "sum_done", "sum_done_arr")),
    ("SF", "f8", ("X",), ("arr_clock", "byte_hops")),
    ("HP", "i8", ("H", "X"), ("hp_time", "hp_key", "hp_data")),  # event heap
    ("RQ", "i8", ("R", "X"), ("rq_uid", "rq_wf", "rq_home", "rq_row", "rq_free")),
    # frames: scopes for join counting and map copies
    ("FR", "i8", ("F", "X"), ("fr_parent", "fr_kind", "fr_live", "fr_req", "fr_map", "fr_org",
                              "fr_free")),
    # jobs: TB instances, CB executions, and arrival (cluster) decisions
    ("JB", "i8", ("J", "X"), ("jb_req", "jb_frame", "jb_block", "jb_org", "jb_bytes", "jb_created",
                              "jb_dur", "jb_data", "jb_tbu", "jb_next", "jb_free")),
    # TBUs: what the policies and observations scan across TBUs, field by field ...
    ("TB", "i8", ("X", "T"), ("tb_cfg", "tb_state", "tb_ql", "tb_qh", "tb_end")),
    # ... and what only one TBU's own events touch, TBU by TBU
    ("TBR", "i8", ("T", "X"), ("tb_idle", "tb_runs", "acc_busy", "acc_reconf", "acc_wait",
                               "acc_starved", "acc_blocked")),
    ("CL", "i8", ("X", "C"), ("cbu_free", "acc_cbu", "bl_head", "bl_tail", "bl_len", "cl_queued",
                              "rr_tbu")),
    ("RES", "i8", ("N", "X"), ("res_arr", "res_done", "res_wf", "res_home")),
    ("TR", "i8", ("L", "X"), ("tr_uid", "tr_blk", "tr_tbu", "tr_ready", "tr_start", "tr_end")),
)
# single arrays: (name, dtype, shape after B)
STATE_SINGLE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("SEED", "u8", ()),
    ("FRU", "u8", ("F",)),  # frame lineage (map groups)
    ("FJC", "i8", ("F", "JJ")),  # join token counts per frame
    ("FJX", "u8", ("F", "JJ")),  # join lineage xor per frame
    ("JBU", "u8", ("J",)),  # job lineage
    ("TBQ", "i8", ("T", "Q")),  # TBU queue ring buffers (job ids)
    ("TBF", "f8", ("T",)),  # TBU expected queued work (mean durations)
    ("ST_DEM", "i4", ("C", "NCFG")),  # TB instances created per home cluster and config
    ("ST_FLOW", "i4", ("C", "NF")),  # branch outcomes taken per flow
    ("ST_EXEC", "i4", ("C", "NB")),  # CB executions per block
    ("ST_SUM", "i4", ("C", "NB")),  # map: sum of drawn counts
    ("PS", "f8", ("C", "PS")),  # policy scratch
    # token worklist of the current event: row 0 = (head, tail), row 1 + i = token i
    # (frame, block, origin, bytes, lineage as int64); counters and first tokens share a line
    ("WL", "i8", ("W", "WT")),
    ("PW", "f8", ("WX", "NCFG")),  # policy scratch vectors per config
    ("DEMAND_EMA", "f8", ("C", "NCFG")),  # proactive: moving average of per-config TB demand
    ("DEMAND_PREV", "i8", ("C", "NCFG")),  # proactive: ST_DEM at the previous epoch
)
STATE_FIELDS = tuple(g[0] for g in STATE_GROUPS) + tuple(s[0] for s in STATE_SINGLE)
State = namedtuple("State", STATE_FIELDS)

# Compile-time row constants: L.SC_NOW, L.TBR_ACC_BUSY, L.MI_C, L.MB_BLK_TYPE, ...
FIELD_INDEX: dict[str, tuple[str, int]] = {}
for _g, _dt, _shape, _names in STATE_GROUPS:
    for _i, _n in enumerate(_names):
        FIELD_INDEX[_n] = (_g, _i)
for _g, _names in MODEL_GROUPS.items():
    for _i, _n in enumerate(_names):
        FIELD_INDEX[_n] = (_g, _i)


def _const(group: str, name: str) -> str:
    base = name.upper()
    if base.startswith(group + "_"):
        return base
    return f"{group}_{base.removeprefix(group[:2] + '_')}"  # tb_idle in TBR: TBR_IDLE


for _n, (_g, _i) in FIELD_INDEX.items():
    globals()[_const(_g, _n)] = _i


_FIELD_FIRST = {g: shape[0] == "X" for g, _, shape, _ in STATE_GROUPS}


def field(S, name: str):
    """The (B, ...) view of state field ``name`` (readable access for Python code/tests)."""
    if name in FIELD_INDEX:
        g, i = FIELD_INDEX[name]
        return getattr(S, g)[:, i] if _FIELD_FIRST[g] else getattr(S, g)[..., i]
    return getattr(S, name)
