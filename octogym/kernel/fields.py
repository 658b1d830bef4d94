"""Row constants of the kernel's group arrays: ``S.SC[b, SC_NOW]``, ``M.MI[MI_C]``.

GENERATED from the tables in ``octogym/kernel/layout.py`` (where each field's meaning
is written once) by ``python -m octogym.kernel.layout``; do not edit by hand
(tests/test_kernel.py fails when this file is stale). Plain module-level ints, so numba
folds them into the compiled code as constants. The kernel imports this module as ``L``.
Times are cycles. ``<GROUP>_NFIELDS`` is the number of rows of a group.
"""

# ---- Model MI: int64 scalars of the run
MI_C = 0  # C: clusters
MI_K = 1  # K: TBUs per cluster (TBU u is in cluster u // K)
MI_T = 2  # T: TBUs (C * K)
MI_QCAP = 3  # qcap: queue capacity of a TBU, the running job included
MI_RECONF = 4  # reconf: cycles to reconfigure a TBU
MI_LINK_BW = 5  # link_bw: bytes per cycle of a link between clusters
MI_LOCAL_BW = 6  # local_bw: bytes per cycle within a cluster (<= 0: local transfers are free)
MI_N_REQUESTS = 7  # n_requests: requests in a run
MI_ARR_MODE = 8  # arr_mode: arrival mode (ARR_POISSON, ARR_CLOSED, ARR_TRACE)
MI_EPOCH = 9  # epoch: cycles between epoch events (0: no epochs)
MI_MAXMAP = 10  # maxmap: most copies a map starts (its count draw is clamped)
MI_TRACE_CAP = 11  # trace_cap: rows of the TB trace TR (0: no trace)
MI_MARGIN = 12  # margin: free pool slots and heap entries a member needs before it handles an event
#   (else it stops with ST_GROW)
MI_DEC_BASE = 13  # dec_base: control plane: fixed cycles of one scheduling decision (0: free)
MI_DEC_PER = 14  # dec_per: control plane: cycles per candidate entity a decision scans (0: free)
MI_NOC_CONT = 15  # noc_cont: 1: transfers reserve their XY route's links (NoC link contention); 0:
#   off
MI_MESH_COLS = 16  # mesh_cols: cluster columns of the mesh (cluster c is at row c // mesh_cols)
MI_OBUF = 17  # obuf: output buffer places per TBU (0: unbounded, no blocking)
MI_NFIELDS = 18

# ---- Model MB: int64 per block (.., NB)
MB_BLK_WF = 0  # blk_wf: workflow of the block
MB_BLK_TYPE = 1  # blk_type: TASK, BRANCH, MAP, FORK or JOIN (octogym.workflows.compiled)
MB_BLK_CFG = 2  # blk_cfg: configuration a task needs (-1 for control blocks)
MB_BLK_COST = 3  # blk_cost: CBU cycles of a control block (0 for tasks)
MB_BLK_BODY = 4  # blk_body: entry block of a map's body (-1 otherwise)
MB_BLK_INDEG = 5  # blk_indeg: incoming flows (tokens a join waits for)
MB_BLK_JOIN_SLOT = 6  # blk_join_slot: index of a join among its workflow's joins (-1 otherwise)
MB_DUR_CODE = 7  # dur_code: duration law of a task (distributions.DUR_*; -1 for control blocks)
MB_DUR_EMP_OFF = 8  # dur_emp_off: offset of an empirical duration law's values in M.emp
MB_DUR_EMP_LEN = 9  # dur_emp_len: number of an empirical duration law's values
MB_NFIELDS = 10

# ---- Model MC: int64 per phase row and block (.., NPH, NB)
MC_CNT_CODE = 0  # cnt_code: map count law (distributions.CNT_*; -1 for other blocks)
MC_CNT_EMP_OFF = 1  # cnt_emp_off: offset of an empirical count law's values in M.emp
MC_CNT_EMP_LEN = 2  # cnt_emp_len: number of an empirical count law's values
MC_NFIELDS = 3

# ---- Model PHASE: int64 per phase row (.., NPH): when a workflow's later phase starts
PHASE_AFTER_REQ = 0  # phase_after_req: the row applies to requests from this arrival index on (-1:
#   no)
PHASE_AFTER_CYC = 1  # phase_after_cyc: the row applies to requests arriving from this cycle on (-1:
#   no)
PHASE_NFIELDS = 2

# ---- Model FL: int64 per flow (.., NF), CSR order: block x's flows are [succ_ptr[x],
# succ_ptr[x+1])
FL_SUCC_DST = 0  # succ_dst: destination block of the flow
FL_SUCC_BYTES = 1  # succ_bytes: bytes the flow carries
FL_NFIELDS = 2

# ---- Model NOC: int64 per pair of clusters (.., C, C): the network on chip
NOC_LATENCY = 0  # latency: fixed transfer latency in cycles (0 within a cluster)
NOC_HOPS = 1  # hops: mesh hops
NOC_NFIELDS = 2

# ---- Model TRACE: int64 per request (.., N): the given arrival trace (arrival mode ARR_TRACE)
TRACE_T = 0  # trace_t: arrival cycle of request n
TRACE_W = 1  # trace_w: workflow index of request n
TRACE_NFIELDS = 2

# ---- Model CFG: float64 per configuration (.., NCFG): static profile of the mix
CFG_MEAN = 0  # cfg_mean: mean TB duration in cycles of the configuration's tasks
CFG_SHARE = 1  # cfg_share: expected share of all TB work that needs the configuration
CFG_NFIELDS = 2

# ---- Model MF: float64 scalars: the arrival rate, then policy tunables at MF_POLICY + PARAM_*
MF_RATE = 0  # rate: Poisson arrival rate (requests per cycle)
MF_NFIELDS = 1

# ---- State SC: scalars of a member (counters, list heads, pool sizes) [i8; B, field]
SC_NOW = 0  # now: current simulated cycle
SC_SEQ = 1  # seq: events pushed so far (the tie-break after time and kind)
SC_N_DONE = 2  # n_done: requests finished
SC_N_ARRIVED = 3  # n_arrived: requests arrived
SC_DEC_KIND = 4  # dec_kind: external decision pending (DEC_NONE, DEC_CLUSTER, DEC_TBU,
#   DEC_DISPATCH)
SC_DEC_JOB = 5  # dec_job: job the pending external decision is about (-1: none)
SC_N_TB_CREATED = 6  # n_tb_created: TB instances created
SC_N_TB_DONE = 7  # n_tb_done: TB executions finished
SC_N_CB_DONE = 8  # n_cb_done: CB executions finished
SC_N_RECONF = 9  # n_reconf: TBU reconfigurations started
SC_N_EVENTS = 10  # n_events: events handled
SC_N_INVALID = 11  # n_invalid: invalid actions replaced by the fallback choice
SC_N_MIGRATIONS = 12  # n_migrations: queued jobs moved to another TBU (steals not counted)
SC_N_STEALS = 13  # n_steals: jobs stolen by an idle TBU
SC_DQ_HEAD = 14  # dq_head: first job of the decision queue (-1: empty; linked through jb_next)
SC_DQ_TAIL = 15  # dq_tail: last job of the decision queue
SC_DQ_LEN = 16  # dq_len: jobs in the decision queue
SC_HP_LEN = 17  # hp_len: entries in the event heap HP
SC_RR_CLUSTER = 18  # rr_cluster: round-robin cluster choice: the next cluster in turn (taken mod C)
SC_FR_NFREE = 19  # fr_nfree: free frame slots (FR)
SC_JB_NFREE = 20  # jb_nfree: free job slots (JB)
SC_RQ_NFREE = 21  # rq_nfree: free request slots (RQ)
SC_N_TRACED = 22  # n_traced: rows written to the TB trace TR
SC_T_END = 23  # t_end: cycle the last finished request finished
SC_STATUS = 24  # status: what the member's last kernel call ended with (ST_*)
SC_N_POLICY_DRAWS = 25  # n_policy_draws: random draws of a randomised policy so far (its counter)
SC_IDLE_EPOCHS = 26  # idle_epochs: consecutive epochs with no event pending and no work queued
SC_SUM_ARR = 27  # sum_arr: sum of the arrival cycles of arrived requests
SC_SUM_DONE = 28  # sum_done: sum of the finish cycles of finished requests
SC_SUM_DONE_ARR = 29  # sum_done_arr: sum of the arrival cycles of finished requests
SC_CS_FREE = 30  # cs_free: cycle the member's central scheduler (a serial server) is next free
SC_DEC_N_CENTRAL = 31  # dec_n_central: decisions served by the central scheduler
SC_DEC_N_CBU = 32  # dec_n_cbu: decisions served by a CBU
SC_DEC_CYC_CENTRAL = 33  # dec_cyc_central: cycles the central scheduler spent deciding
SC_DEC_CYC_CBU = 34  # dec_cyc_cbu: cycles CBUs spent deciding
SC_DEC_WAIT_CENTRAL = 35  # dec_wait_central: cycles decisions queued for the central scheduler
SC_DEC_WAIT_CBU = 36  # dec_wait_cbu: cycles decisions queued for a CBU (behind CB jobs and
#   decisions)
SC_LINK_WAIT = 37  # link_wait: cycles transfers waited for busy NoC links (noc_cont only)
SC_N_LINK_WAITS = 38  # n_link_waits: transfers that waited for a busy NoC link (noc_cont only)
SC_DEC_TBU = 39  # dec_tbu: TBU the pending dispatch decision is about (DEC_DISPATCH; -1: none)
SC_PROV_CLUSTER = 40  # prov_cluster: 1 + the cluster whose provisioning decision is pending this
#   epoch (0: none)
SC_PROV_LAST = 41  # prov_last: 1 + the TBU this epoch's provisioning of that cluster last
#   reconfigured (0: none yet)
SC_NFIELDS = 42

# ---- State SF: float scalars of a member [f8; B, field]
SF_ARR_CLOCK = 0  # arr_clock: Poisson arrival clock: the last arrival time, unrounded
SF_BYTE_HOPS = 1  # byte_hops: bytes moved times mesh hops (network load)
SF_RATE_SCALE = 2  # rate_scale: multiplier of the model's arrival rate for this member's episode
#   (0: none, the model's rate; the envs' load_range)
SF_NFIELDS = 3

# ---- State HP: event heap, ordered by (time, key); SC_HP_LEN entries [i8; B, H, field]
HP_TIME = 0  # hp_time: cycle of the event
HP_KEY = 1  # hp_key: (kind << KIND_SHIFT) | push sequence number: the tie-break at equal time
HP_DATA = 2  # hp_data: the event's argument (job, TBU or arrival index)
HP_NFIELDS = 3

# ---- State RQ: request slots: the requests in the system [i8; B, R, field]
RQ_UID = 0  # rq_uid: arrival index n of the request (its row in RES)
RQ_WF = 1  # rq_wf: workflow of the request
RQ_HOME = 2  # rq_home: home cluster (-1 until the cluster decision)
RQ_ROW = 3  # rq_row: phase row of its workflow, fixed at arrival
RQ_FREE = 4  # rq_free: free stack of request slots
RQ_NFIELDS = 5

# ---- State FR: frame slots: scopes for join counting and map copies [i8; B, F, field]
FR_PARENT = 0  # fr_parent: enclosing frame (the group of a copy, the frame of a map's group; -1 for
#   a root)
FR_KIND = 1  # fr_kind: FR_ROOT, FR_COPY or FR_GROUP
FR_LIVE = 2  # fr_live: tokens and child frames not yet finished (0: the frame finishes)
FR_REQ = 3  # fr_req: request slot of the frame
FR_MAP = 4  # fr_map: map block of a group frame (-1 otherwise)
FR_ORG = 5  # fr_org: cluster holding the data of the frame's last finished token
FR_FREE = 6  # fr_free: free stack of frame slots
FR_NFIELDS = 7

# ---- State JB: job slots: TB instances, CB executions, arrival decisions [i8; B, J, field]
JB_REQ = 0  # jb_req: request slot of the job
JB_FRAME = 1  # jb_frame: frame of the job's token
JB_BLOCK = 2  # jb_block: block of the job (-1: the arrival job that waits for a home cluster)
JB_ORG = 3  # jb_org: cluster where the job's input data is
JB_BYTES = 4  # jb_bytes: bytes of the job's input data
JB_CREATED = 5  # jb_created: cycle the job was created (the TB became ready)
JB_DUR = 6  # jb_dur: drawn run cycles of a TB (before any TBU slowdown)
JB_DATA = 7  # jb_data: cycle its input data reaches its TBU
JB_TBU = 8  # jb_tbu: TBU the job is queued on (-1: none yet)
JB_NEXT = 9  # jb_next: next job in the decision queue or a backlog (-1: last)
JB_FREE = 10  # jb_free: free stack of job slots
JB_SRC = 11  # jb_src: TBU whose output buffer holds the job's input (-1: none; obuf only)
JB_NFIELDS = 12

# ---- State TB: per TBU, what policies and observations scan across TBUs [i8; B, field, T]
TB_CFG = 0  # tb_cfg: configuration the TBU holds (-1: unconfigured)
TB_STATE = 1  # tb_state: TBU_IDLE, TBU_RUN or TBU_RECONF
TB_QL = 2  # tb_ql: queue length: jobs in its queue TBQ, the running one included
TB_QH = 3  # tb_qh: queue head: position in its TBQ ring of the first job
TB_END = 4  # tb_end: cycle its current run or reconfiguration ends
TB_NFIELDS = 5

# ---- State TBR: TBU records: per TBU, what only its own events touch [i8; B, T, field]
TBR_IDLE = 0  # tb_idle: cycle its open idle segment started
TBR_RUNS = 1  # tb_runs: TB executions finished
TBR_ACC_BUSY = 2  # acc_busy: cycles running TBs
TBR_ACC_RECONF = 3  # acc_reconf: cycles reconfiguring
TBR_ACC_WAIT = 4  # acc_wait: cycles waiting for a queued job's input data
TBR_ACC_STARVED = 5  # acc_starved: idle cycles while its cluster had no backlog (closed segments)
TBR_ACC_BLOCKED = 6  # acc_blocked: idle cycles while its cluster had a backlog, or while it held
#   queued work it could not start: output buffer full (closed segments)
TBR_OB_LEN = 7  # ob_len: outputs in its output buffer not yet received by their consumers (obuf
#   only; a token sent on to k consumers counts k)
TBR_ACC_OBLOCKED = 8  # acc_oblocked: idle cycles blocked by a full output buffer (closed segments;
#   included in acc_blocked)
TBR_NFIELDS = 9

# ---- State CL: per cluster [i8; B, field, C]
CL_CBU_FREE = 0  # cbu_free: cycle the cluster's CBU (a serial server) is next free
CL_ACC_CBU = 1  # acc_cbu: cycles the CBU was busy
CL_BL_HEAD = 2  # bl_head: first job of the backlog (-1: empty; linked through jb_next)
CL_BL_TAIL = 3  # bl_tail: last job of the backlog
CL_BL_LEN = 4  # bl_len: jobs in the backlog
CL_QUEUED = 5  # cl_queued: jobs queued on the cluster's TBUs (sum of their tb_ql)
CL_RR_TBU = 6  # rr_tbu: round-robin TBU choice: offset in the cluster of the next TBU to try
CL_PENDING = 7  # cl_pending: requests assigned to the cluster that wait for their costly cluster
#   decision to complete (docs/model.md §3 "Control plane")
CL_NFIELDS = 8

# ---- State RES: per request of the run, by arrival index (-1: not yet) [i8; B, N, field]
RES_ARR = 0  # res_arr: arrival cycle
RES_DONE = 1  # res_done: finish cycle
RES_WF = 2  # res_wf: workflow
RES_HOME = 3  # res_home: home cluster
RES_NFIELDS = 4

# ---- State TR: TB trace: one row per started TB (at most trace_cap) [i8; B, L, field]
TR_UID = 0  # tr_uid: arrival index of the TB's request
TR_BLK = 1  # tr_blk: block
TR_TBU = 2  # tr_tbu: TBU
TR_READY = 3  # tr_ready: cycle the TB became ready (jb_created)
TR_START = 4  # tr_start: cycle it started running
TR_END = 5  # tr_end: cycle it finished
TR_NFIELDS = 6

# ---- State WL: token worklist of the current event: row 0 holds the counters (WL_HEAD, WL_TAIL),
# row 1 + i token i (counters and first tokens share a line) [i8; B, W, column]
WL_FRAME = 0  # wl_frame: frame of the token
WL_BLOCK = 1  # wl_block: block the token enters
WL_ORG = 2  # wl_org: cluster where the token's data is
WL_BYTES = 3  # wl_bytes: bytes the token carries
WL_LIN = 4  # wl_lin: lineage of the token (uint64 bits stored as int64)
WL_SRC = 5  # wl_src: TBU whose output buffer holds the token's data (-1: none; obuf only)
WL_NFIELDS = 6
