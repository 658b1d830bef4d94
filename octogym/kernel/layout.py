"""Array layout of the batched simulator: one source of truth for every field and its meaning.

``Model`` holds what does not change during a run (compiled workflows, hardware, run
parameters); ``State`` holds every batch member's dynamic state as arrays with a leading batch
axis ``B``. Both are namedtuples so the compiled kernel reads them by name. Shapes use
B batch, H heap, R request slots, F frame slots, J job slots, T TBUs, C clusters, K TBUs per
cluster, Q queue capacity, N requests per run, L trace rows, NB blocks, NF flows, NPH phase
rows, W workflows (worklist rows in ``WL``), NCFG configs, JJ joins per frame.

Most fields are rows of a *group* array (one array per group, one row per field; see
``MODEL_TABLE`` and ``STATE_TABLE``, which give every field's meaning once). The kernel reads a
field by its row constant, ``S.SC[b, L.SC_NOW]`` or ``M.MI[L.MI_C]``, where ``L`` is the module
:mod:`octogym.kernel.fields`: plain module-level ints (numba folds them into the compiled code),
generated from the tables here by ``python -m octogym.kernel.layout`` (tests/test_kernel.py
fails if it is stale). A constant is ``<GROUP>_<FIELD>`` upper-cased; a field whose name
already starts with the group name, or with the group's first two letters, is not prefixed
twice (``tb_cfg`` in ``TB``: ``TB_CFG``; ``tb_idle`` in ``TBR``: ``TBR_IDLE``). Python code
outside the kernel reads fields by name with :func:`field`.

Times are in cycles of the hardware clock; "slot" ids index a pool (requests, frames, jobs).
"""

from __future__ import annotations

import textwrap
from collections import namedtuple
from pathlib import Path

# Event kinds, in tie-breaking priority order at equal time (docs/model.md: time, kind, sequence).
EV_TB_DONE, EV_CB_DONE, EV_TBU_FREE, EV_ARRIVAL, EV_EPOCH = 0, 1, 2, 3, 4
# A request whose cluster decision took control-plane time starts when that decision completes
# (docs/model.md §3 "Control plane"); last at equal time, and never pushed while decisions are
# free, so free-decision runs keep their event order.
EV_REQUEST_START = 5
KIND_SHIFT = 56  # a heap entry's key is (kind << KIND_SHIFT) | push sequence number

# Member status returned by the kernel.
ST_DONE, ST_DECISION, ST_TIME, ST_GROW, ST_STALLED = 0, 1, 2, 3, 4
STATUS_NAMES = {0: "done", 1: "decision", 2: "time", 3: "grow", 4: "stalled"}

# Decision kinds.
DEC_NONE, DEC_CLUSTER, DEC_TBU = 0, 1, 2
# Which decision kinds pause the kernel for an external agent: a bitmask, the ``ext`` argument
# of run_member / run_batch / Simulation.advance (0 = the member's policy decides everything).
EXT_CLUSTER, EXT_TBU = 1 << DEC_CLUSTER, 1 << DEC_TBU
# Dispatch (octogym/kernel/dispatch.py): a freed TBU chooses which waiting TB it runs next
# among its queue and at most DISPATCH_BACKLOG jobs of its cluster's backlog (oldest first),
# so a dispatch decision has at most queue_capacity + DISPATCH_BACKLOG candidates.
DEC_DISPATCH = 3
EXT_DISPATCH = 1 << DEC_DISPATCH
DISPATCH_BACKLOG = 8
# Place (helper placeprov): a ready TB instance goes to any TBU of the machine, or waits in a
# cluster's backlog (docs/envs.md, Place); the kernel pauses at every TB instance.
DEC_PLACE = 4
EXT_PLACE = 1 << DEC_PLACE
# Provision (helper placeprov): at each epoch, cluster by cluster, which idle TBUs to
# reconfigure to which configuration (docs/envs.md, Provision).
DEC_PROVISION = 5
EXT_PROVISION = 1 << DEC_PROVISION

# TBU states.
TBU_IDLE, TBU_RUN, TBU_RECONF = 0, 1, 2

# Frame kinds: a request's root scope, one copy of a map body, the group of a map's copies.
FR_ROOT, FR_COPY, FR_GROUP = 0, 1, 2

# Arrival modes.
ARR_POISSON, ARR_CLOSED, ARR_TRACE = 0, 1, 2
ARRIVAL_MODES = {"poisson": ARR_POISSON, "closed": ARR_CLOSED, "trace": ARR_TRACE}

# A TBU choice that places no job: park it in a backlog until a queue slot frees there.
# PARK_HOME parks it in its home cluster; PARK_CLUSTER0 - c (that is -(c + 2)) in cluster c
# (``mechanisms.park_code`` / ``mechanisms.parked_cluster`` convert).
PARK_HOME = -1
PARK_CLUSTER0 = -2

# Row 0 of the token worklist ``WL`` holds its counters in the first two columns.
WL_HEAD = 0  # tokens read so far (the last one read is row WL_HEAD)
WL_TAIL = 1  # tokens written so far (the last one written is row WL_TAIL)

# Our model limit: a map never starts more than this many copies (the draw is clamped).
from octogym.limits import MAX_MAP_COUNT  # noqa: E402, F401  (one source: octogym/limits.py)

# ---- Model: what does not change during a run ------------------------------------------------
# Arrays are grouped (a field = one row of a group) because the compiled kernel passes these
# tuples to every function, and numba's compile time grows with the number of tuple fields.
# (group, what the group holds, ((field, meaning), ...)); each field is M.<group>[L.<CONST>].
MODEL_TABLE: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("MI", "int64 scalars of the run", (
        ("C", "clusters"),
        ("K", "TBUs per cluster (TBU u is in cluster u // K)"),
        ("T", "TBUs (C * K)"),
        ("qcap", "queue capacity of a TBU, the running job included"),
        ("reconf", "cycles to reconfigure a TBU"),
        ("link_bw", "bytes per cycle of a link between clusters"),
        ("local_bw", "bytes per cycle within a cluster (<= 0: local transfers are free)"),
        ("n_requests", "requests in a run"),
        ("arr_mode", "arrival mode (ARR_POISSON, ARR_CLOSED, ARR_TRACE)"),
        ("epoch", "cycles between epoch events (0: no epochs)"),
        ("maxmap", "most copies a map starts (its count draw is clamped)"),
        ("trace_cap", "rows of the TB trace TR (0: no trace)"),
        ("margin", "free pool slots and heap entries a member needs before it handles an "
                   "event (else it stops with ST_GROW)"),
        ("dec_base", "control plane: fixed cycles of one scheduling decision (0: free)"),
        ("dec_per", "control plane: cycles per candidate entity a decision scans (0: free)"),
        ("noc_cont", "1: transfers reserve their XY route's links (NoC link contention); 0: off"),
        ("mesh_cols", "cluster columns of the mesh (cluster c is at row c // mesh_cols)"),
        ("obuf", "output buffer places per TBU (0: unbounded, no blocking)"),
    )),
    ("MB", "int64 per block (.., NB)", (
        ("blk_wf", "workflow of the block"),
        ("blk_type", "TASK, BRANCH, MAP, FORK or JOIN (octogym.workflows.compiled)"),
        ("blk_cfg", "configuration a task needs (-1 for control blocks)"),
        ("blk_cost", "CBU cycles of a control block (0 for tasks)"),
        ("blk_body", "entry block of a map's body (-1 otherwise)"),
        ("blk_indeg", "incoming flows (tokens a join waits for)"),
        ("blk_join_slot", "index of a join among its workflow's joins (-1 otherwise)"),
        ("dur_code", "duration law of a task (distributions.DUR_*; -1 for control blocks)"),
        ("dur_emp_off", "offset of an empirical duration law's values in M.emp"),
        ("dur_emp_len", "number of an empirical duration law's values"),
    )),
    ("MC", "int64 per phase row and block (.., NPH, NB)", (
        ("cnt_code", "map count law (distributions.CNT_*; -1 for other blocks)"),
        ("cnt_emp_off", "offset of an empirical count law's values in M.emp"),
        ("cnt_emp_len", "number of an empirical count law's values"),
    )),
    ("PHASE", "int64 per phase row (.., NPH): when a workflow's later phase starts", (
        ("phase_after_req", "the row applies to requests from this arrival index on (-1: no)"),
        ("phase_after_cyc", "the row applies to requests arriving from this cycle on (-1: no)"),
    )),
    ("FL", "int64 per flow (.., NF), CSR order: block x's flows are [succ_ptr[x], succ_ptr[x+1])", (
        ("succ_dst", "destination block of the flow"),
        ("succ_bytes", "bytes the flow carries"),
    )),
    ("NOC", "int64 per pair of clusters (.., C, C): the network on chip", (
        ("latency", "fixed transfer latency in cycles (0 within a cluster)"),
        ("hops", "mesh hops"),
    )),
    ("TRACE", "int64 per request (.., N): the given arrival trace (arrival mode ARR_TRACE)", (
        ("trace_t", "arrival cycle of request n"),
        ("trace_w", "workflow index of request n"),
    )),
    ("CFG", "float64 per configuration (.., NCFG): static profile of the mix", (
        ("cfg_mean", "mean TB duration in cycles of the configuration's tasks"),
        ("cfg_share", "expected share of all TB work that needs the configuration"),
    )),
    ("MF", "float64 scalars: the arrival rate, then policy tunables at MF_POLICY + PARAM_*", (
        ("rate", "Poisson arrival rate (requests per cycle)"),
    )),
)
MODEL_GROUPS: dict[str, tuple[str, ...]] = {g: tuple(n for n, _ in fs) for g, _, fs in MODEL_TABLE}
MODEL_SINGLE = (
    "wf_cdf",  # (W,) float64 cumulative workflow weights of the mix (last = 1)
    "wf_entry",  # (W,) int64 entry block of each workflow
    "wf_phase_off",  # (W+1,) int64 phase rows of workflow w are [off[w], off[w+1])
    "succ_ptr",  # (NB+1,) int64 flows of block x are [succ_ptr[x], succ_ptr[x+1]) (CSR)
    "flow_prob",  # (NPH, NF) float64 branch probability per flow (1 elsewhere)
    "cnt_p",  # (NPH, NB) float64 map count law parameter
    "emp",  # (E,) float64 pool of empirical law values
    "dur_p",  # (NB, 3) float64 duration law parameters
    "dur_mean",  # (NB,) float64 expected TB cycles of a task (0 for control blocks)
    "neigh",  # (C, 4) int64 mesh neighbours of each cluster (-1: none)
    "tbu_cluster",  # (T,) int64 cluster of each TBU
    "tbu_slow",  # (T,) float64 run-time factor per TBU (1 = nominal; what-if slowdowns)
    "near",  # (C, C) int64 clusters in order of distance from each cluster (itself first)
    "rem_work",  # (NPH, NB) float64 expected TBU-cycles of a request from a token at a block on
    #              (the block included; octogym/workflows/remaining.py): dispatch rule srw
)
MF_POLICY = 1  # policy tunables start at M.MF[MF_POLICY]
MODEL_FIELDS = tuple(MODEL_GROUPS) + MODEL_SINGLE
Model = namedtuple("Model", MODEL_FIELDS)

# ---- State: every member's dynamic state, leading axis B -------------------------------------
# (group, dtype, shape after B with "X" = the field axis, what the group holds,
#  ((field, meaning), ...)). Entities that the kernel handles one at a time (heap entries,
# requests, frames, jobs, results, trace rows) keep their fields together (field axis last:
# one entity on a cache line or two); what the policies and observations scan across TBUs and
# clusters (every TBU's queue length, every cluster's load) keeps each field together (field
# axis first), and the TBU fields only a TBU's own events touch (its accounting) are a record
# per TBU again. In the environments each member's state has usually left the caches by the
# time its next decision comes, so the lines one decision touches set its cost
# (``benchmarks/lines_per_decision.py`` counts them). A pool (RQ, FR, JB) keeps its free slot
# ids as a stack in its ``*_free`` column: entries [0, SC_<POOL>_NFREE) are free.
STATE_TABLE: tuple[tuple[str, str, tuple[str, ...], str, tuple[tuple[str, str], ...]], ...] = (
    ("SC", "i8", ("X",), "scalars of a member (counters, list heads, pool sizes)", (
        ("now", "current simulated cycle"),
        ("seq", "events pushed so far (the tie-break after time and kind)"),
        ("n_done", "requests finished"),
        ("n_arrived", "requests arrived"),
        ("dec_kind", "external decision pending (DEC_NONE, DEC_CLUSTER, DEC_TBU, DEC_DISPATCH)"),
        ("dec_job", "job the pending external decision is about (-1: none)"),
        ("n_tb_created", "TB instances created"),
        ("n_tb_done", "TB executions finished"),
        ("n_cb_done", "CB executions finished"),
        ("n_reconf", "TBU reconfigurations started"),
        ("n_events", "events handled"),
        ("n_invalid", "invalid actions replaced by the fallback choice"),
        ("n_migrations", "queued jobs moved to another TBU (steals not counted)"),
        ("n_steals", "jobs stolen by an idle TBU"),
        ("dq_head", "first job of the decision queue (-1: empty; linked through jb_next)"),
        ("dq_tail", "last job of the decision queue"),
        ("dq_len", "jobs in the decision queue"),
        ("hp_len", "entries in the event heap HP"),
        ("rr_cluster", "round-robin cluster choice: the next cluster in turn (taken mod C)"),
        ("fr_nfree", "free frame slots (FR)"),
        ("jb_nfree", "free job slots (JB)"),
        ("rq_nfree", "free request slots (RQ)"),
        ("n_traced", "rows written to the TB trace TR"),
        ("t_end", "cycle the last finished request finished"),
        ("status", "what the member's last kernel call ended with (ST_*)"),
        ("n_policy_draws", "random draws of a randomised policy so far (its counter)"),
        ("idle_epochs", "consecutive epochs with no event pending and no work queued"),
        # running sums (exact: the env's rewards read them in O(1))
        ("sum_arr", "sum of the arrival cycles of arrived requests"),
        ("sum_done", "sum of the finish cycles of finished requests"),
        ("sum_done_arr", "sum of the arrival cycles of finished requests"),
        # the control plane (docs/model.md §3): only decisions that cost cycles are counted
        ("cs_free", "cycle the member's central scheduler (a serial server) is next free"),
        ("dec_n_central", "decisions served by the central scheduler"),
        ("dec_n_cbu", "decisions served by a CBU"),
        ("dec_cyc_central", "cycles the central scheduler spent deciding"),
        ("dec_cyc_cbu", "cycles CBUs spent deciding"),
        ("dec_wait_central", "cycles decisions queued for the central scheduler"),
        ("dec_wait_cbu", "cycles decisions queued for a CBU (behind CB jobs and decisions)"),
        ("link_wait", "cycles transfers waited for busy NoC links (noc_cont only)"),
        ("n_link_waits", "transfers that waited for a busy NoC link (noc_cont only)"),
        ("dec_tbu", "TBU the pending dispatch decision is about (DEC_DISPATCH; -1: none)"),
        # Provision decisions (EXT_PROVISION): an epoch's provisioning, cluster by cluster
        ("prov_cluster", "1 + the cluster whose provisioning decision is pending this epoch "
                         "(0: none)"),
        ("prov_last", "1 + the TBU this epoch's provisioning of that cluster last "
                      "reconfigured (0: none yet)"),
    )),
    ("SF", "f8", ("X",), "float scalars of a member", (
        ("arr_clock", "Poisson arrival clock: the last arrival time, unrounded"),
        ("byte_hops", "bytes moved times mesh hops (network load)"),
        ("rate_scale", "multiplier of the model's arrival rate for this member's episode "
                       "(0: none, the model's rate; the envs' load_range)"),
    )),
    ("HP", "i8", ("H", "X"), "event heap, ordered by (time, key); SC_HP_LEN entries", (
        ("hp_time", "cycle of the event"),
        ("hp_key", "(kind << KIND_SHIFT) | push sequence number: the tie-break at equal time"),
        ("hp_data", "the event's argument (job, TBU or arrival index)"),
    )),
    ("RQ", "i8", ("R", "X"), "request slots: the requests in the system", (
        ("rq_uid", "arrival index n of the request (its row in RES)"),
        ("rq_wf", "workflow of the request"),
        ("rq_home", "home cluster (-1 until the cluster decision)"),
        ("rq_row", "phase row of its workflow, fixed at arrival"),
        ("rq_free", "free stack of request slots"),
    )),
    ("FR", "i8", ("F", "X"), "frame slots: scopes for join counting and map copies", (
        ("fr_parent", "enclosing frame (the group of a copy, the frame of a map's group; -1 "
                      "for a root)"),
        ("fr_kind", "FR_ROOT, FR_COPY or FR_GROUP"),
        ("fr_live", "tokens and child frames not yet finished (0: the frame finishes)"),
        ("fr_req", "request slot of the frame"),
        ("fr_map", "map block of a group frame (-1 otherwise)"),
        ("fr_org", "cluster holding the data of the frame's last finished token"),
        ("fr_free", "free stack of frame slots"),
    )),
    ("JB", "i8", ("J", "X"), "job slots: TB instances, CB executions, arrival decisions", (
        ("jb_req", "request slot of the job"),
        ("jb_frame", "frame of the job's token"),
        ("jb_block", "block of the job (-1: the arrival job that waits for a home cluster)"),
        ("jb_org", "cluster where the job's input data is"),
        ("jb_bytes", "bytes of the job's input data"),
        ("jb_created", "cycle the job was created (the TB became ready)"),
        ("jb_dur", "drawn run cycles of a TB (before any TBU slowdown)"),
        ("jb_data", "cycle its input data reaches its TBU"),
        ("jb_tbu", "TBU the job is queued on (-1: none yet)"),
        ("jb_next", "next job in the decision queue or a backlog (-1: last)"),
        ("jb_free", "free stack of job slots"),
        ("jb_src", "TBU whose output buffer holds the job's input (-1: none; obuf only)"),
    )),
    ("TB", "i8", ("X", "T"), "per TBU, what policies and observations scan across TBUs", (
        ("tb_cfg", "configuration the TBU holds (-1: unconfigured)"),
        ("tb_state", "TBU_IDLE, TBU_RUN or TBU_RECONF"),
        ("tb_ql", "queue length: jobs in its queue TBQ, the running one included"),
        ("tb_qh", "queue head: position in its TBQ ring of the first job"),
        ("tb_end", "cycle its current run or reconfiguration ends"),
    )),
    ("TBR", "i8", ("T", "X"), "TBU records: per TBU, what only its own events touch", (
        ("tb_idle", "cycle its open idle segment started"),
        ("tb_runs", "TB executions finished"),
        ("acc_busy", "cycles running TBs"),
        ("acc_reconf", "cycles reconfiguring"),
        ("acc_wait", "cycles waiting for a queued job's input data"),
        ("acc_starved", "idle cycles while its cluster had no backlog (closed segments)"),
        ("acc_blocked", "idle cycles while its cluster had a backlog, or while it held "
                        "queued work it could not start: output buffer full (closed segments)"),
        ("ob_len", "outputs in its output buffer not yet received by their consumers (obuf "
                   "only; a token sent on to k consumers counts k)"),
        ("acc_oblocked", "idle cycles blocked by a full output buffer (closed segments; "
                         "included in acc_blocked)"),
    )),
    ("CL", "i8", ("X", "C"), "per cluster", (
        ("cbu_free", "cycle the cluster's CBU (a serial server) is next free"),
        ("acc_cbu", "cycles the CBU was busy"),
        ("bl_head", "first job of the backlog (-1: empty; linked through jb_next)"),
        ("bl_tail", "last job of the backlog"),
        ("bl_len", "jobs in the backlog"),
        ("cl_queued", "jobs queued on the cluster's TBUs (sum of their tb_ql)"),
        ("rr_tbu", "round-robin TBU choice: offset in the cluster of the next TBU to try"),
        ("cl_pending", "requests assigned to the cluster that wait for their costly cluster "
                       "decision to complete (docs/model.md §3 \"Control plane\")"),
    )),
    ("RES", "i8", ("N", "X"), "per request of the run, by arrival index (-1: not yet)", (
        ("res_arr", "arrival cycle"),
        ("res_done", "finish cycle"),
        ("res_wf", "workflow"),
        ("res_home", "home cluster"),
    )),
    ("TR", "i8", ("L", "X"), "TB trace: one row per started TB (at most trace_cap)", (
        ("tr_uid", "arrival index of the TB's request"),
        ("tr_blk", "block"),
        ("tr_tbu", "TBU"),
        ("tr_ready", "cycle the TB became ready (jb_created)"),
        ("tr_start", "cycle it started running"),
        ("tr_end", "cycle it finished"),
    )),
)
# single arrays: (name, dtype, shape after B)
STATE_SINGLE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("SEED", "u8", ()),  # the member's seed: every random draw is a hash of it
    ("FRU", "u8", ("F",)),  # lineage of each frame (a map's group: the map's token)
    ("FJC", "i8", ("F", "JJ")),  # join token counts per frame and join slot
    ("FJX", "u8", ("F", "JJ")),  # xor of the lineages of a join's tokens per frame
    ("JBU", "u8", ("J",)),  # lineage of each job's token
    ("TBQ", "i8", ("T", "Q")),  # TBU queue ring buffers (job ids; head at tb_qh)
    ("TBF", "f8", ("T",)),  # TBU expected queued work (sum of mean durations)
    ("ST_DEM", "i4", ("C", "NCFG")),  # TB instances created per home cluster and config
    ("ST_FLOW", "i4", ("C", "NF")),  # branch outcomes taken per flow
    ("ST_EXEC", "i4", ("C", "NB")),  # CB executions per block
    ("ST_SUM", "i4", ("C", "NB")),  # map: sum of drawn counts
    ("PS", "f8", ("C", "PS")),  # policy scratch
    ("WL", "i8", ("W", "WT")),  # token worklist of the current event (columns: WL_TABLE)
    ("PW", "f8", ("WX", "NCFG")),  # policy scratch vectors per config
    ("DEMAND_EMA", "f8", ("C", "NCFG")),  # proactive: moving average of per-config TB demand
    ("DEMAND_PREV", "i8", ("C", "NCFG")),  # proactive: ST_DEM at the previous epoch
    ("LINK", "i8", ("NL",)),  # noc_cont: cycle each directed mesh link (4 c + d) is next free
    ("HOME_WAIT", "f8", ("C", "NCFG")),  # reactive: waiting TBs per request home and config
)
# The columns of single arrays whose columns are named (the constants are generated like the
# group rows'). The token worklist is a single array, not a group, only to keep the State's
# field order (and so the compiled code) as it was before its columns were named.
WL_TABLE: tuple[str, str, tuple[tuple[str, str], ...]] = (
    "WL", "token worklist of the current event: row 0 holds the counters (WL_HEAD, WL_TAIL), "
    "row 1 + i token i (counters and first tokens share a line) [i8; B, W, column]", (
        ("wl_frame", "frame of the token"),
        ("wl_block", "block the token enters"),
        ("wl_org", "cluster where the token's data is"),
        ("wl_bytes", "bytes the token carries"),
        ("wl_lin", "lineage of the token (uint64 bits stored as int64)"),
        ("wl_src", "TBU whose output buffer holds the token's data (-1: none; obuf only)"),
    ))
STATE_GROUPS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = tuple(
    (g, dt, shape, tuple(n for n, _ in fs)) for g, dt, shape, _, fs in STATE_TABLE)
STATE_FIELDS = tuple(g[0] for g in STATE_GROUPS) + tuple(s[0] for s in STATE_SINGLE)
State = namedtuple("State", STATE_FIELDS)

# Where each field lives: name -> (group, row).
FIELD_INDEX: dict[str, tuple[str, int]] = {}
for _g, _dt, _shape, _names in STATE_GROUPS:
    for _i, _n in enumerate(_names):
        FIELD_INDEX[_n] = (_g, _i)
for _g, _names in MODEL_GROUPS.items():
    for _i, _n in enumerate(_names):
        FIELD_INDEX[_n] = (_g, _i)


def constant_name(group: str, name: str) -> str:
    """The row constant of field ``name`` of ``group`` (rule in the module docstring)."""
    base = name.upper()
    if base.startswith(group + "_"):
        return base
    return f"{group}_{base.removeprefix(group[:2] + '_')}"  # tb_idle in TBR: TBR_IDLE


_FIELD_FIRST = {g: shape[0] == "X" for g, _, shape, _ in STATE_GROUPS}


def field(S, name: str):
    """The (B, ...) view of state field ``name`` (readable access for Python code/tests)."""
    if name in FIELD_INDEX:
        g, i = FIELD_INDEX[name]
        return getattr(S, g)[:, i] if _FIELD_FIRST[g] else getattr(S, g)[..., i]
    return getattr(S, name)


# ---- the generated module of row constants ---------------------------------------------------

FIELDS_PATH = Path(__file__).with_name("fields.py")


def fields_source() -> str:
    """The text of ``octogym/kernel/fields.py``: one constant per field, with its meaning."""
    out = [
        '"""Row constants of the kernel\'s group arrays: ``S.SC[b, SC_NOW]``, ``M.MI[MI_C]``.',
        "",
        "GENERATED from the tables in ``octogym/kernel/layout.py`` (where each field's meaning",
        "is written once) by ``python -m octogym.kernel.layout``; do not edit by hand",
        "(tests/test_kernel.py fails when this file is stale). Plain module-level ints, so numba",
        "folds them into the compiled code as constants. The kernel imports this module as ``L``.",
        "Times are cycles. ``<GROUP>_NFIELDS`` is the number of rows of a group.",
        '"""',
    ]
    seen: set[str] = set()

    def group(kind: str, g: str, what: str, fs: tuple[tuple[str, str], ...]) -> None:
        out.append("")
        out.extend(textwrap.wrap(f"# ---- {kind} {g}: {what}", 100, subsequent_indent="# "))
        for i, (n, meaning) in enumerate(fs):
            c = constant_name(g, n)
            if c in seen:
                raise ValueError(f"layout: row constant {c} ({g}.{n}) is defined twice")
            seen.add(c)
            first, *rest = textwrap.wrap(f"{c} = {i}  # {n}: {meaning}", 100,
                                         subsequent_indent="#   ", break_on_hyphens=False)
            out.extend([first, *rest])
        out.append(f"{g}_NFIELDS = {len(fs)}")

    for g, what, fs in MODEL_TABLE:
        group("Model", g, what, fs)
    for g, dt, shape, what, fs in STATE_TABLE:
        axes = ", ".join(("field" if d == "X" else d) for d in ("B", *shape))
        group("State", g, f"{what} [{dt}; {axes}]", fs)
    group("State", *WL_TABLE)
    return "\n".join(out) + "\n"


def groups_markdown() -> str:
    """The table of groups in docs/model.md (tests/test_kernel.py checks it is current)."""
    rows = ["| array | holds | fields (rows) |", "| --- | --- | --- |"]
    for g, what, fs in MODEL_TABLE:
        rows.append(f"| `M.{g}` | {what} | {', '.join(f'`{n}`' for n, _ in fs)} |")
    for g, dt, shape, what, fs in STATE_TABLE:
        axes = ", ".join(("field" if d == "X" else d) for d in ("B", *shape))
        rows.append(f"| `S.{g}` | {what} [{dt}; {axes}] | {', '.join(f'`{n}`' for n, _ in fs)} |")
    g, what, fs = WL_TABLE
    rows.append(f"| `S.{g}` | {what} | {', '.join(f'`{n}`' for n, _ in fs)} (columns) |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    FIELDS_PATH.write_text(fields_source())
    print(f"wrote {FIELDS_PATH}; the table of groups for docs/model.md:\n")
    print(groups_markdown())
