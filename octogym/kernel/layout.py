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

MODEL_FIELDS = (
    # compiled workflows (see octogym.workflows.compiled.CompiledMix for shapes)
    "wf_cdf", "wf_entry", "wf_phase_off", "blk_wf", "blk_type", "blk_cfg", "blk_cost",
    "blk_body", "blk_indeg", "blk_join_slot", "dur_code", "dur_p", "dur_emp_off",
    "dur_emp_len", "dur_mean", "succ_ptr", "succ_dst", "succ_bytes", "phase_after_req",
    "phase_after_cyc", "flow_prob", "cnt_code", "cnt_p", "cnt_emp_off", "cnt_emp_len", "emp",
    # hardware
    "C", "K", "T", "qcap", "reconf", "link_bw", "local_bw",
    "latency",  # (C, C) int64 fixed transfer latency
    "hops",  # (C, C) int64 mesh hops (byte-hop metric)
    "neigh",  # (C, 4) int64 mesh neighbours, -1 where absent
    "tbu_cluster",  # (T,) int64
    # run
    "n_requests", "arr_mode", "rate", "trace_t", "trace_w", "epoch", "maxmap", "trace_cap",
    "pol_f",  # (P,) float64 policy tunables (meaning per policy, see policies.py)
    "cfg_mean",  # (NCFG,) float64 mean TB duration per config over the mix (policies' estimates)
    "cfg_share",  # (NCFG,) float64 expected share of work per config (static profile)
    "margin",  # free pool slots one event may need at most (map fan-out, fork degree)
)
Model = namedtuple("Model", MODEL_FIELDS)

# (name, dtype, shape-in-terms-of-symbols). Leading B is implied.
STATE_SPEC: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # per member scalars
    ("now", "i8", ()), ("seq", "i8", ()), ("nd", "i8", ()), ("na", "i8", ()),
    ("arr_clock", "f8", ()), ("seed", "u8", ()), ("dec_kind", "i8", ()), ("dec_job", "i8", ()),
    ("n_tb_created", "i8", ()), ("n_tb_done", "i8", ()), ("n_cb_done", "i8", ()),
    ("n_reconf", "i8", ()), ("byte_hops", "f8", ()), ("n_events", "i8", ()),
    ("n_invalid", "i8", ()), ("n_migrations", "i8", ()), ("n_steals", "i8", ()),
    ("dq_head", "i8", ()), ("dq_tail", "i8", ()), ("dq_len", "i8", ()),
    ("hp_n", "i8", ()), ("rr_c", "i8", ()), ("fr_nfree", "i8", ()), ("jb_nfree", "i8", ()),
    ("rq_nfree", "i8", ()), ("tr_n", "i8", ()), ("t_end", "i8", ()), ("status", "i8", ()),
    ("n_policy_draws", "i8", ()),
    # event heap
    ("hp_t", "i8", ("H",)), ("hp_k", "i8", ("H",)), ("hp_d", "i8", ("H",)),
    # requests
    ("rq_uid", "i8", ("R",)), ("rq_wf", "i8", ("R",)), ("rq_home", "i8", ("R",)),
    ("rq_row", "i8", ("R",)), ("rq_free", "i8", ("R",)),
    # frames (scopes for join counting and map copies)
    ("fr_parent", "i8", ("F",)), ("fr_kind", "i8", ("F",)), ("fr_live", "i8", ("F",)),
    ("fr_req", "i8", ("F",)), ("fr_map", "i8", ("F",)), ("fr_org", "i8", ("F",)),
    ("fr_lin", "u8", ("F",)), ("fr_free", "i8", ("F",)),
    ("fr_jc", "i8", ("F", "JJ")), ("fr_jx", "u8", ("F", "JJ")),
    # jobs: TB instances, CB executions, and arrival (cluster) decisions
    ("jb_req", "i8", ("J",)), ("jb_frame", "i8", ("J",)), ("jb_block", "i8", ("J",)),
    ("jb_lin", "u8", ("J",)), ("jb_org", "i8", ("J",)), ("jb_bytes", "i8", ("J",)),
    ("jb_t", "i8", ("J",)), ("jb_dur", "i8", ("J",)), ("jb_data", "i8", ("J",)),
    ("jb_tbu", "i8", ("J",)), ("jb_next", "i8", ("J",)), ("jb_free", "i8", ("J",)),
    # TBUs
    ("tb_cfg", "i8", ("T",)), ("tb_state", "i8", ("T",)), ("tb_q", "i8", ("T", "Q")),
    ("tb_qh", "i8", ("T",)), ("tb_ql", "i8", ("T",)), ("tb_idle", "i8", ("T",)),
    ("tb_est", "f8", ("T",)), ("tb_end", "i8", ("T",)), ("tb_runs", "i8", ("T",)),
    ("acc_busy", "i8", ("T",)), ("acc_reconf", "i8", ("T",)), ("acc_wait", "i8", ("T",)),
    ("acc_starved", "i8", ("T",)), ("acc_blocked", "i8", ("T",)),
    # clusters
    ("cbu_free", "i8", ("C",)), ("acc_cbu", "i8", ("C",)), ("bl_head", "i8", ("C",)),
    ("bl_tail", "i8", ("C",)), ("bl_len", "i8", ("C",)), ("cl_q", "i8", ("C",)),
    ("rr_t", "i8", ("C",)),
    # per-cluster statistics (what proactive prediction reads)
    ("st_dem", "i4", ("C", "NCFG")),  # TB instances created per home cluster and config
    ("st_flow", "i4", ("C", "NF")),  # branch outcomes taken, per flow
    ("st_exec", "i4", ("C", "NB")),  # CB executions per block
    ("st_sum", "i4", ("C", "NB")),  # map: sum of drawn counts
    # policy scratch (meaning per policy)
    ("ps_f", "f8", ("C", "PS")),
    # results by request id
    ("res_arr", "i8", ("N",)), ("res_done", "i8", ("N",)), ("res_wf", "i8", ("N",)),
    ("res_home", "i8", ("N",)),
    # optional schedule trace (L rows; L = 1 when off)
    ("tr_uid", "i8", ("L",)), ("tr_blk", "i8", ("L",)), ("tr_tbu", "i8", ("L",)),
    ("tr_ready", "i8", ("L",)), ("tr_start", "i8", ("L",)), ("tr_end", "i8", ("L",)),
)
STATE_FIELDS = tuple(s[0] for s in STATE_SPEC)
State = namedtuple("State", STATE_FIELDS)
# Pools that grow on demand (the kernel returns ST_GROW before it would run out).
GROWABLE = ("R", "F", "J", "H")
