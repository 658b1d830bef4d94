"""Entity observations (``obs_mode="entities"``): the one definition of their layout and builder.

The observation is a ``Dict`` of padded per-entity feature matrices, each with a validity mask,
plus one vector of global features, all ``float32`` in ``[0, 1]``:

* ``"global"`` ``(F_g,)``: the decision (its TB or request) and the system;
* ``"tbu"`` ``(max_tbus, F_tbu)``, ``"tbu_mask"``: TBUs, starting at the focus's first TBU
  row and wrapping round (``(start + i) mod T``): the first TBU of the decision's home cluster
  (``start = home * K``; home 0 without one), for Place TBU 0 (machine order);
* ``"cluster"`` ``(max_clusters, F_cluster)``, ``"cluster_mask"``: clusters, by id;
* ``"waiting"`` ``(max_waiting, F_waiting)``, ``"waiting_mask"``: TB instances that are ready
  but not running (queued at a TBU, parked in a backlog or waiting for a decision; not the
  decision's own TB): first the decision's candidates in slot order (Dispatch), then the
  others, the oldest first (ties: lower job slot);
* ``"blocks"`` ``(max_blocks, F_blocks)``, ``"blocks_mask"``: the blocks of the decision's
  request's workflow, in file order (none for a decision without a request: Dispatch,
  Provision);
* ``"option"`` ``(K * NCFG + 1, F_option)``, ``"option_mask"``: Provision only
  (:mod:`octogym.envs.entities_provision`): one row per action.

Masks are ``MultiBinary`` (1 = a real row; padded rows are all zeros). Rows beyond a maximum
are dropped (the TBU rows keep the first ones). Actions stay as in the flat mode: they are the
rows of the kinds the decision's ``action_entities`` names
(:class:`~octogym.envs.decisions.Decision`), concatenated in that order: TBUAssign's ``K``
actions are the home cluster's TBUs, rows ``0 .. K-1`` of ``"tbu"``; ClusterAssign's the
clusters; Place's the ``T`` TBU rows (machine order) then the ``C`` cluster rows; Dispatch's
the first ``n_candidates`` waiting rows; Provision's the option rows. So a policy that scores
rows with shared weights runs on any hardware (``octogym.agents.entity_policy``).

Scales as in the flat mode (:mod:`octogym.envs.layout`): ``squash(x, s) = x / (x + s)``,
``tau`` = expected cycles of one TB execution of the mix, ``work`` = expected TBU-cycles of one
request. *Remaining work* (ours, docs/model.md): the expected TBU-cycles still ahead of a token
at block ``b`` of its request, ``r[b]`` (:func:`octogym.workflows.frequencies.remaining_work`,
under the request's phase row), exact in expectation. A TB's *configuration* is compared with
the configuration a TBU will hold after its queue (*tail configuration*), as in the flat mode.

A :class:`~octogym.envs.decisions.Decision` plugs in by naming its ``action_entities`` and,
if its decision is not about the kernel's pending job, overriding ``entity_focus`` (an
:class:`EntityFocus`).
``python -m octogym.envs.entities`` prints the tables of docs/envs.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from gymnasium import spaces

from octogym.envs.place import transfer_cycles
from octogym.kernel import fields as L
from octogym.kernel.layout import TBU_IDLE, TBU_RECONF, TBU_RUN
from octogym.workflows.compiled import TASK
from octogym.workflows.frequencies import expected_frequencies, remaining_work

if TYPE_CHECKING:
    from octogym.envs.config import EnvConfig
    from octogym.envs.core import KernelBatch
    from octogym.envs.decisions import Decision
    from octogym.simulator import Simulation


@dataclass(frozen=True)
class EntityFeature:
    """One column of an entity matrix (or one global feature)."""

    name: str
    description: str


F = EntityFeature
ENTITY_FEATURES: dict[str, tuple[EntityFeature, ...]] = {
    "global": (
        F("decision_pending", "1 if a decision is pending (0 in a terminal observation)"),
        F("focus_is_tb", "1 if the decision is about a ready TB, 0 about an arriving request"),
        F("tb_expected_duration", "expected cycles `d` of the TB: squash(d, tau)"),
        F("tb_waiting", "cycles since the TB became ready: squash(t, tau)"),
        F("tb_remote_input", "1 if the TB's input data is in another cluster than its home"),
        F("request_age", "cycles since the request arrived: squash(t, work)"),
        F("request_remaining_work", "remaining work `r` of the TB's token (of the whole "
          "request for an arriving one): squash(r, work)"),
        F("home_backlog", "`n` TBs parked in the home cluster's backlog: n / (n + K)"),
        F("in_system", "`n` requests arrived and not finished: n / (n + C*K)"),
        F("progress", "requests finished / requests_per_episode"),
        F("system_queue", "TB instances queued at all TBUs / (T * queue_capacity)"),
    ),
    "tbu": (
        F("in_home_cluster", "1 if the TBU is in the decision's home cluster"),
        F("free_slot", "1 if its queue has space"),
        F("queue", "TB instances in its queue, running one included / queue_capacity"),
        F("queued_work", "expected cycles `w` of its queued TBs: squash(w, tau)"),
        F("remaining", "cycles until its running TB (or reconfiguration) ends: squash(t, tau)"),
        F("reconfiguring", "1 while it reconfigures"),
        F("config_match", "1 if its tail configuration is the decision's: the TB's "
          "(Dispatch: the freed TBU's; 0 without one)"),
        F("config_share", "expected share of the mix's TB work that needs its tail "
          "configuration (0: unconfigured)"),
        F("input_hops", "mesh hops `h` from the TB's input data: squash(h, 2) (0 without a "
          "TB)"),
        F("is_decision_tbu", "1 for the TBU the decision is about (Dispatch: the freed TBU)"),
    ),
    "cluster": (
        F("is_home", "1 if it is the decision's home cluster"),
        F("queue", "TB instances queued at its TBUs / (K * queue_capacity)"),
        F("backlog", "`n` TBs parked in its backlog: n / (n + K)"),
        F("queued_work", "expected cycles `w` queued at its TBUs: squash(w, K*tau)"),
        F("cbu_busy", "cycles until its CBU is free: squash(t, tau)"),
        F("free_tbus", "fraction of its TBUs whose queue has space"),
        F("config_fit", "TB: fraction of its TBUs whose tail configuration is the TB's; "
          "request: mean over its TBUs of the share of the request's expected work that "
          "needs the TBU's tail configuration"),
        F("input_hops", "mesh hops `h` from the TB's input data: squash(h, 2) (0 without a "
          "TB)"),
    ),
    "waiting": (
        F("expected_duration", "expected cycles `d`: squash(d, tau)"),
        F("waiting", "cycles since it became ready: squash(t, tau)"),
        F("remaining_work", "remaining work `r` of its token: squash(r, work)"),
        F("placed", "1 if queued at a TBU, 0 if parked in a backlog or awaiting a decision"),
        F("queue_position", "its position in its TBU's queue / queue_capacity (0 unplaced)"),
        F("same_home", "1 if its request's home cluster is the decision's home cluster"),
        F("config_match", "1 if its configuration is the decision's (the TB's; Dispatch: "
          "the freed TBU's)"),
        F("config_share", "expected share of the mix's TB work that needs its configuration"),
        F("same_request", "1 if it belongs to the decision's request"),
        F("candidate", "1 if it is a candidate of the decision (Dispatch: the rows "
          "0 .. n-1 are the n candidates in slot order)"),
        F("data_wait", "a candidate's cycles `t` until its input data is at the TBU (queued: "
          "the data's arrival; backlogged: the transfer it would need): squash(t, tau)"),
    ),
    "blocks": (
        F("is_task", "1 for a task block, 0 for a control block"),
        F("is_focus", "1 for the decision TB's block"),
        F("expected_duration", "expected cycles `d` (a control block's CBU cost): "
          "squash(d, tau)"),
        F("expected_executions", "expected executions `x` per request: x / (x + 1)"),
        F("remaining_work", "remaining work `r` of a token at the block: squash(r, work)"),
        F("config_match", "1 if the block is a task needing the decision TB's configuration"),
        F("config_ready", "fraction of the home cluster's TBUs (all TBUs without a home) "
          "whose tail configuration is the block's (0 for control blocks)"),
    ),
    # tbu_detail=True only: appended to the "tbu" rows (TBU_DETAIL)
    "tbu_detail": (
        F("queued_reconfig", "expected reconfiguration cycles `r` along its queue (one "
          "reconfiguration wherever a TB's configuration differs from the one before it, "
          "from the TBU's current configuration): squash(r, tau)"),
        F("transfer", "cycles `t` to move the TB's input data to the TBU's cluster (the "
          "fixed latency plus its bytes over the link bandwidth; within the cluster over the "
          "local bandwidth; no contention): squash(t, tau) (0 without a TB)"),
        F("request_queued", "TBs of the decision's request in its queue, running one "
          "included / queue_capacity"),
    ),
    # Provision only: row k * NCFG + g = "reconfigure TBU k of the asked cluster to g", the
    # last row "keep" (octogym.envs.entities_provision)
    "option": (
        F("is_keep", "1 for the last row: keep the rest, go to the next cluster"),
        F("tbu_reconfigurable", "1 if TBU `k` is idle with an empty queue"),
        F("tbu_queue", "TB instances in TBU `k`'s queue / queue_capacity"),
        F("tbu_idle_for", "cycles `t` an idle, empty TBU `k` has been idle: squash(t, tau)"),
        F("tbu_holds", "1 if TBU `k` holds configuration `g` now"),
        F("config_waiting", "`n` jobs waiting for `g` in the cluster (queued at the TBUs "
          "holding it, plus its backlogged TBs): n / (n + K)"),
        F("config_tbus", "TBUs of the cluster holding `g` / K"),
        F("config_machine_tbus", "TBUs of the machine holding `g` / T"),
        F("config_demand", "share of the cluster's TB instances so far that needed `g`"),
    ),
}
del F

TBU_DETAIL = "tbu_detail"
"""The feature group appended to the ``"tbu"`` columns by the env option ``tbu_detail=True``
(ours): what each TBU's queue holds beyond its expected work and tail configuration, and what
moving the TB's data there costs. Off by default, so the bundled entity checkpoints keep their
layout."""


def columns(kind: str, tbu_detail: bool = False) -> tuple[EntityFeature, ...]:
    """The columns of entity kind ``kind`` (the ``"tbu"`` ones with :data:`TBU_DETAIL`'s
    appended when ``tbu_detail``)."""
    extra = ENTITY_FEATURES[TBU_DETAIL] if tbu_detail and kind == "tbu" else ()
    return ENTITY_FEATURES[kind] + extra


ROW_KINDS: tuple[str, ...] = ("tbu", "cluster", "waiting", "blocks", "option")
"""Entity kinds with one row per entity (each has a ``<kind>_mask``); ``"option"`` only in
the Provision env's observations."""

SIZE_OPTIONS: dict[str, str] = {"tbu": "max_tbus", "cluster": "max_clusters",
                                "waiting": "max_waiting", "blocks": "max_blocks"}
"""The env option (:class:`~octogym.envs.config.EnvConfig`) that sets each kind's rows (the
option rows are the Provision actions, ``K * NCFG + 1``)."""


class EntityFocus(NamedTuple):
    """What the entity observation of each member is about (arrays over the members built):
    ``pending`` a decision of the env's kind; ``job`` its job slot (-1: none, e.g. a dispatch or
    provisioning decision); ``home`` its home cluster (-1: none); ``start`` the first TBU row;
    ``cfg`` the configuration rows are compared with (-2: none); ``tbu`` the TBU it is about
    (-1: none); ``cands`` ``(n, A)`` its candidate job slots in slot order (-1: padding) and
    ``cand_wait`` their data-wait cycles (``A = 0`` but for Dispatch)."""

    pending: np.ndarray
    job: np.ndarray
    home: np.ndarray
    start: np.ndarray
    cfg: np.ndarray
    tbu: np.ndarray
    cands: np.ndarray
    cand_wait: np.ndarray


def job_focus(core: KernelBatch, rows: np.ndarray, kind: int, machine_order: bool = False
              ) -> EntityFocus:
    """The focus of a decision about the kernel's pending job (``SC_DEC_JOB``) of ``kind``:
    its TB (or arriving request), its request's home cluster, TBU rows from the home
    cluster's first (``machine_order``: from TBU 0)."""
    S, tab = core.sim.state, core.entity_tables
    SC = S.SC[rows]
    n = len(rows)
    has = SC[:, L.SC_DEC_KIND] == kind
    job = np.where(has, SC[:, L.SC_DEC_JOB], -1)
    js = np.maximum(job, 0)
    home = np.where(has, S.RQ[rows, S.JB[rows, js, L.JB_REQ], L.RQ_HOME], -1)
    blk = np.where(has, S.JB[rows, js, L.JB_BLOCK], -1)
    bsafe = np.maximum(blk, 0)
    cfg = np.where(has & (blk >= 0) & (tab.blk_type[bsafe] == TASK), tab.blk_cfg[bsafe], -2)
    start = np.zeros(n, np.int64) if machine_order else np.maximum(home, 0) * core.K
    none = np.full(n, -1, np.int64)
    empty = np.zeros((n, 0), np.int64)
    return EntityFocus(has, job, home, start, cfg, none, empty, empty)

HOP_SCALE = 2.0  # squash scale of mesh hops (ours): 2 hops -> 0.5


def _col(kind: str) -> dict[str, int]:
    return {f.name: i for i, f in enumerate(ENTITY_FEATURES[kind])}


def squash(x: Any, s: float) -> Any:
    return x / (x + s)


def entity_sizes(config: EnvConfig, sim: Simulation, decision: Decision, n_actions: int
                 ) -> dict[str, int]:
    """Rows of each entity kind (``ROW_KINDS``; ``"option"`` only where it holds the actions)
    for ``config`` on ``sim``'s hardware and mix; a ``ValueError`` names an option that cannot
    hold the decision's actions."""
    hw = sim.hw
    n_blocks = np.diff(sim.mix.wf_block_off)
    sizes = {"tbu": config.max_tbus or hw.n_tbus, "cluster": config.max_clusters or hw.n_clusters,
             "waiting": config.max_waiting, "blocks": config.max_blocks or int(n_blocks.max())}
    kinds = decision.action_entities
    if "option" in kinds:
        sizes["option"] = n_actions
    if len(kinds) > 1:
        # concatenated kinds: each must hold exactly its entities, so that the rows line up
        # with the actions (Place: T TBUs, then C clusters)
        natural = {"tbu": hw.n_tbus, "cluster": hw.n_clusters}
        for k in kinds:
            if sizes[k] != natural[k]:
                raise ValueError(
                    f"env option {SIZE_OPTIONS[k]}={sizes[k]} does not fit the "
                    f"{decision.name} env: its actions are the {' rows, then the '.join(kinds)} "
                    f"rows concatenated, so {SIZE_OPTIONS[k]} must be {natural[k]} (or None)")
    total = sum(sizes[k] for k in kinds)
    if total < n_actions:
        k = kinds[-1]
        raise ValueError(f"env option {SIZE_OPTIONS.get(k, k)}={sizes[k]} is too small: the "
                         f"{decision.name} actions are {n_actions} {'+'.join(kinds)} rows")
    return sizes


def entity_space(sizes: dict[str, int], tbu_detail: bool = False) -> spaces.Dict:
    """The single-env observation space of the entity mode (the row kinds in ``sizes``; the
    TBU rows with the :data:`TBU_DETAIL` columns when ``tbu_detail``)."""
    d: dict[str, spaces.Space] = {
        "global": spaces.Box(0.0, 1.0, (len(ENTITY_FEATURES["global"]),), np.float32)}
    for kind in (k for k in ROW_KINDS if k in sizes):
        d[kind] = spaces.Box(0.0, 1.0, (sizes[kind], len(columns(kind, tbu_detail))),
                             np.float32)
        d[f"{kind}_mask"] = spaces.MultiBinary(sizes[kind])
    return spaces.Dict(d)


def entity_buffers(batch: int, space: spaces.Dict) -> dict[str, np.ndarray]:
    """Zeroed per-member arrays ``(batch, *shape)`` for every key of ``space``."""
    return {k: np.zeros((batch, *s.shape), s.dtype) for k, s in space.spaces.items()}


class EntityTables:
    """What the builder reads that is fixed for a batch: per phase row and block the remaining
    work and expected executions, each workflow's block ids padded to ``max_blocks``, each
    phase row's work share per configuration, the configurations' shares, the mesh hops."""

    def __init__(self, sim: Simulation, max_blocks: int) -> None:
        mix, M = sim.mix, sim.model
        NPH, NB, NCFG = len(mix.phase_after_req), len(mix.block_ids), len(mix.configs)
        cfg_id = {c: i for i, c in enumerate(mix.configs)}
        self.rem = np.zeros((NPH, NB))
        self.execs = np.zeros((NPH, NB))
        # share of a phase row's expected work per configuration; the last column (index -1:
        # an unconfigured TBU) stays 0
        self.wf_cfg_share = np.zeros((NPH, NCFG + 1))
        W = len(sim.workflows)
        self.wf_blocks = np.full((W, max_blocks), -1, np.int64)
        for w, wf in enumerate(sim.workflows):
            b0, b1 = int(mix.wf_block_off[w]), int(mix.wf_block_off[w + 1])
            n = min(b1 - b0, max_blocks)
            self.wf_blocks[w, :n] = np.arange(b0, b0 + n)
            for k, row in enumerate(range(int(mix.wf_phase_off[w]), int(mix.wf_phase_off[w + 1]))):
                self.rem[row, b0:b1] = remaining_work(wf, k)
                fr = expected_frequencies(wf, k)
                self.execs[row, b0:b1] = fr.executions
                for c, x in fr.work_per_config.items():
                    self.wf_cfg_share[row, cfg_id[c]] = x / max(fr.work, 1e-300)
        self.cfg_share = np.append(M.CFG[L.CFG_SHARE], 0.0)  # index -1: unconfigured
        self.hops = M.NOC[L.NOC_HOPS]
        self.blk_type = M.MB[L.MB_BLK_TYPE]
        self.blk_cfg = M.MB[L.MB_BLK_CFG]
        self.blk_cost = M.MB[L.MB_BLK_COST].astype(np.float64)
        self.dur_mean = M.dur_mean


def observe_entities(core: KernelBatch, rows: np.ndarray) -> None:
    """Write the entity observation of members ``rows`` into ``core.entities`` (compiled:
    ``octogym.envs.entity_builder``, which must match
    :func:`observe_entities_reference`)."""
    from octogym.envs import entity_builder as eb

    rows = np.asarray(rows, np.int64)
    if len(rows) == 0:
        return
    # threads as for the fused step (octogym.envs.core.PARALLEL_MIN, threaded_steps)
    build_rows = eb.build_rows_parallel if core.parallel else eb.build_rows_serial
    S, M, tab, out = core.sim.state, core.sim.model, core.entity_tables, core.entities
    f = core.decision.entity_focus(core, rows)
    build_rows(rows, f.pending, f.job, f.home, f.start, f.cfg, f.tbu, f.cands, f.cand_wait,
               S.SC, S.JB, S.RQ, S.RES, S.TB, S.TBQ, S.TBF, S.CL, tab.blk_type, tab.blk_cfg,
               tab.blk_cost, tab.dur_mean, tab.rem, tab.execs, tab.wf_cfg_share, tab.cfg_share,
               tab.hops, M, tab.wf_blocks, M.wf_entry, core.K, core.C,
               core.T, core.Q, core.N, core.tau, core.work, out["global"], out["tbu"],
               out["tbu_mask"], out["cluster"], out["cluster_mask"], out["waiting"],
               out["waiting_mask"], out["blocks"], out["blocks_mask"])
    if "option" in out:
        from octogym.envs.entities_provision import option_rows
        option_rows(core, rows, out)


def observe_entities_reference(core: KernelBatch, rows: np.ndarray,
                               out: dict[str, np.ndarray] | None = None) -> None:
    """The entity observation of members ``rows`` with numpy, vectorised over the members:
    the readable definition of every feature, written into ``out`` (default
    ``core.entities``)."""
    rows = np.asarray(rows, np.int64)
    n = len(rows)
    if n == 0:
        return
    S, tab = core.sim.state, core.entity_tables
    out = core.entities if out is None else out
    K, C, T, Q, tau, work = core.K, core.C, core.T, core.Q, core.tau, core.work
    r2, i2 = rows[:, None], np.arange(n)[:, None]
    SC = S.SC[rows]
    now = SC[:, L.SC_NOW]
    JB = S.JB[rows]
    f = core.decision.entity_focus(core, rows, reference=True)
    pending, job, home, cfg = f.pending, f.job, f.home, f.cfg  # cfg -2 matches no TBU
    has = job >= 0  # a job (and so a request) in focus
    fj = JB[np.arange(n), np.maximum(job, 0)]  # (n, X) the focus job
    blk = np.where(has, fj[:, L.JB_BLOCK], -1)
    bsafe = np.maximum(blk, 0)
    is_tb = has & (blk >= 0) & (tab.blk_type[bsafe] == TASK)
    tbf = is_tb.astype(np.float64)
    req = fj[:, L.JB_REQ]
    rq = S.RQ[rows, np.where(has, req, 0)]
    wf, prow = np.where(has, rq[:, L.RQ_WF], 0), np.where(has, rq[:, L.RQ_ROW], 0)
    org = np.where(is_tb, fj[:, L.JB_ORG], 0)
    hsafe = np.maximum(home, 0)
    homed = home >= 0

    # ---- TBU state, all TBUs ----------------------------------------------------------------
    TB = S.TB[rows]
    ql, qh, state = TB[:, L.TB_QL], TB[:, L.TB_QH], TB[:, L.TB_STATE]
    aT = np.arange(T)
    TBQ = S.TBQ[rows]
    last = TBQ[i2, aT, (qh + ql - 1) % Q]
    tail = np.where(ql > 0, tab.blk_cfg[np.maximum(JB[i2, last, L.JB_BLOCK], 0)],
                    TB[:, L.TB_CFG])
    tbu_cl = aT // K
    remain = np.where(state != TBU_IDLE, np.maximum(TB[:, L.TB_END] - now[:, None], 0), 0)
    free = ql < Q
    match = tail == cfg[:, None]
    hops_u = np.where(is_tb[:, None], squash(tab.hops[org][:, tbu_cl], HOP_SCALE), 0.0)
    TBF = S.TBF[rows]

    # ---- global -----------------------------------------------------------------------------
    g = np.zeros((n, len(ENTITY_FEATURES["global"])))
    c = _col("global")
    in_sys = SC[:, L.SC_N_ARRIVED] - SC[:, L.SC_N_DONE]
    entry_rem = tab.rem[prow, core.sim.model.wf_entry[wf]]
    g[:, c["decision_pending"]] = pending
    g[:, c["focus_is_tb"]] = is_tb
    g[:, c["tb_expected_duration"]] = squash(tab.dur_mean[bsafe], tau) * tbf
    g[:, c["tb_waiting"]] = squash(now - fj[:, L.JB_CREATED], tau) * tbf
    g[:, c["tb_remote_input"]] = is_tb & (fj[:, L.JB_ORG] != home)
    age = now - S.RES[rows, np.where(has, rq[:, L.RQ_UID], 0), L.RES_ARR]
    g[:, c["request_age"]] = squash(np.maximum(age, 0), work) * has
    g[:, c["request_remaining_work"]] = squash(
        np.where(is_tb, tab.rem[prow, bsafe], entry_rem), work) * has
    bl = S.CL[rows, L.CL_BL_LEN, hsafe]
    g[:, c["home_backlog"]] = squash(bl, K) * homed
    g[:, c["in_system"]] = squash(in_sys, C * K)
    g[:, c["progress"]] = SC[:, L.SC_N_DONE] / core.N
    g[:, c["system_queue"]] = ql.sum(axis=1) / (T * Q)
    out["global"][rows] = g

    # ---- TBUs: from the focus's start -------------------------------------------------------
    nt = min(out["tbu"].shape[1], T)
    order = (f.start[:, None] + np.arange(nt)) % T
    x = np.zeros((n, out["tbu"].shape[1], out["tbu"].shape[2]))
    c = _col("tbu")
    x[:, :nt, c["in_home_cluster"]] = (order // K == home[:, None]) & homed[:, None]
    x[:, :nt, c["free_slot"]] = free[i2, order]
    x[:, :nt, c["queue"]] = ql[i2, order] / Q
    x[:, :nt, c["queued_work"]] = squash(TBF[i2, order], tau)
    x[:, :nt, c["remaining"]] = squash(remain[i2, order], tau)
    x[:, :nt, c["reconfiguring"]] = state[i2, order] == TBU_RECONF
    x[:, :nt, c["config_match"]] = match[i2, order]
    x[:, :nt, c["config_share"]] = tab.cfg_share[tail[i2, order]]
    x[:, :nt, c["input_hops"]] = hops_u[i2, order]
    x[:, :nt, c["is_decision_tbu"]] = order == f.tbu[:, None]
    if x.shape[2] > len(c):  # tbu_detail
        d = {k: len(c) + i for i, k in enumerate(_col(TBU_DETAIL))}
        prev = TB[:, L.TB_CFG]
        switches = np.zeros((n, T))
        mine = np.zeros((n, T))
        for q in range(Q):
            inq = q < ql
            jq = TBQ[i2, aT, (qh + q) % Q]
            qc = tab.blk_cfg[np.maximum(JB[i2, jq, L.JB_BLOCK], 0)]
            switches += inq & (qc != prev)
            mine += inq & has[:, None] & (JB[i2, jq, L.JB_REQ] == req[:, None])
            prev = np.where(inq, qc, prev)
        tr = transfer_cycles(core.sim.model, org[:, None], tbu_cl[None, :],
                             fj[:, L.JB_BYTES][:, None])
        reconf = core.sim.model.MI[L.MI_RECONF]
        x[:, :nt, d["queued_reconfig"]] = squash(switches * reconf, tau)[i2, order]
        x[:, :nt, d["transfer"]] = np.where(is_tb[:, None], squash(tr, tau), 0.0)[i2, order]
        x[:, :nt, d["request_queued"]] = mine[i2, order] / Q
    out["tbu"][rows] = x
    out["tbu_mask"][rows] = np.arange(out["tbu"].shape[1]) < nt

    # ---- clusters ---------------------------------------------------------------------------
    nc = min(out["cluster"].shape[1], C)
    CL = S.CL[rows]
    x = np.zeros((n, out["cluster"].shape[1], len(ENTITY_FEATURES["cluster"])))
    c = _col("cluster")
    fit_u = np.where(is_tb[:, None], match, tab.wf_cfg_share[prow][i2, tail] * has[:, None])
    x[:, :nc, c["is_home"]] = (np.arange(nc) == home[:, None])
    x[:, :nc, c["queue"]] = CL[:, L.CL_QUEUED, :nc] / (K * Q)
    x[:, :nc, c["backlog"]] = squash(CL[:, L.CL_BL_LEN, :nc], K)
    x[:, :nc, c["queued_work"]] = squash(TBF.reshape(n, C, K).sum(axis=2)[:, :nc], K * tau)
    x[:, :nc, c["cbu_busy"]] = squash(np.maximum(CL[:, L.CL_CBU_FREE, :nc] - now[:, None], 0),
                                      tau)
    x[:, :nc, c["free_tbus"]] = free.reshape(n, C, K).mean(axis=2)[:, :nc]
    x[:, :nc, c["config_fit"]] = fit_u.reshape(n, C, K).mean(axis=2)[:, :nc]
    x[:, :nc, c["input_hops"]] = np.where(
        is_tb[:, None], squash(tab.hops[org][:, :nc], HOP_SCALE), 0.0)
    out["cluster"][rows] = x
    out["cluster_mask"][rows] = np.arange(out["cluster"].shape[1]) < nc

    # ---- waiting TB instances: the oldest first ---------------------------------------------
    J = JB.shape[1]
    aJ = np.arange(J)
    live = np.ones((n, J), np.bool_)
    fi, fp = np.nonzero(aJ < SC[:, L.SC_JB_NFREE][:, None])
    live[fi, JB[fi, fp, L.JB_FREE]] = False
    jblk = JB[:, :, L.JB_BLOCK]
    jb_safe = np.maximum(jblk, 0)
    running = np.zeros((n, J), np.bool_)
    ri, ru = np.nonzero((state == TBU_RUN) & (ql > 0))
    running[ri, TBQ[ri, ru, qh[ri, ru]]] = True
    pos = np.full((n, J), -1, np.int64)
    for q in range(Q):
        qi, qu = np.nonzero(q < ql)
        pos[qi, TBQ[qi, qu, (qh[qi, qu] + q) % Q]] = q
    waiting = live & (jblk >= 0) & (tab.blk_type[jb_safe] == TASK) & ~running
    waiting &= ~((aJ == job[:, None]) & has[:, None])
    # the decision's candidates first, in slot order (keys below any creation cycle)
    A = f.cands.shape[1]
    is_cand = np.zeros((n, J), np.bool_)
    rank = np.zeros((n, J), np.int64)
    wait_c = np.zeros((n, J), np.int64)
    ci, cs = np.nonzero(f.cands >= 0)
    is_cand[ci, f.cands[ci, cs]] = True
    rank[ci, f.cands[ci, cs]] = cs - A
    wait_c[ci, f.cands[ci, cs]] = f.cand_wait[ci, cs]
    waiting |= is_cand
    nw = out["waiting"].shape[1]
    key = np.where(is_cand, rank, np.where(waiting, JB[:, :, L.JB_CREATED],
                                          np.iinfo(np.int64).max))
    sel = np.argsort(key, axis=1, kind="stable")[:, :nw]
    ok = waiting[i2, sel]
    okf = ok.astype(np.float64)
    wb = jb_safe[i2, sel]
    wreq = JB[i2, sel, L.JB_REQ]
    wrq = S.RQ[r2, np.where(ok, wreq, 0)]
    wcfg = tab.blk_cfg[wb]
    wpos = pos[i2, sel]
    x = np.zeros((n, nw, len(ENTITY_FEATURES["waiting"])))
    c = _col("waiting")
    m = sel.shape[1]
    x[:, :m, c["expected_duration"]] = squash(tab.dur_mean[wb], tau) * okf
    x[:, :m, c["waiting"]] = squash(np.maximum(now[:, None] - JB[i2, sel, L.JB_CREATED], 0),
                                    tau) * okf
    x[:, :m, c["remaining_work"]] = squash(tab.rem[wrq[:, :, L.RQ_ROW], wb], work) * okf
    x[:, :m, c["placed"]] = ok & (wpos >= 0)
    x[:, :m, c["queue_position"]] = np.maximum(wpos, 0) / Q * okf
    x[:, :m, c["same_home"]] = ok & homed[:, None] & (wrq[:, :, L.RQ_HOME] == home[:, None])
    x[:, :m, c["config_match"]] = ok & (wcfg == cfg[:, None])
    x[:, :m, c["config_share"]] = tab.cfg_share[wcfg] * okf
    x[:, :m, c["same_request"]] = ok & has[:, None] & (wreq == req[:, None])
    x[:, :m, c["candidate"]] = ok & is_cand[i2, sel]
    x[:, :m, c["data_wait"]] = squash(wait_c[i2, sel], tau) * okf
    out["waiting"][rows] = x
    wmask = np.zeros((n, nw), np.int8)
    wmask[:, :m] = ok
    out["waiting_mask"][rows] = wmask

    # ---- the request's blocks ---------------------------------------------------------------
    gb = tab.wf_blocks[wf]  # (n, max_blocks)
    ok = (gb >= 0) & has[:, None]
    okf = ok.astype(np.float64)
    gs = np.maximum(gb, 0)
    task = tab.blk_type[gs] == TASK
    bcfg = tab.blk_cfg[gs]
    # per member, TBUs holding each configuration (index -1: unconfigured) at home (or all)
    counted = np.where(homed[:, None], tbu_cl == home[:, None], True)
    cnt = np.zeros((n, tab.cfg_share.shape[0]))
    np.add.at(cnt, (np.broadcast_to(i2, tail.shape)[counted], tail[counted]), 1.0)
    denom = np.where(homed, K, T)[:, None]
    prow2 = prow[:, None]
    x = np.zeros((n, gb.shape[1], len(ENTITY_FEATURES["blocks"])))
    c = _col("blocks")
    x[:, :, c["is_task"]] = ok & task
    x[:, :, c["is_focus"]] = ok & is_tb[:, None] & (gs == blk[:, None])
    x[:, :, c["expected_duration"]] = squash(np.where(task, tab.dur_mean[gs], tab.blk_cost[gs]),
                                             tau) * okf
    ex = tab.execs[prow2, gs]
    x[:, :, c["expected_executions"]] = squash(ex, 1.0) * okf
    x[:, :, c["remaining_work"]] = squash(tab.rem[prow2, gs], work) * okf
    x[:, :, c["config_match"]] = ok & task & (bcfg == cfg[:, None])
    x[:, :, c["config_ready"]] = np.where(ok & task, cnt[i2, bcfg] / denom, 0.0)
    out["blocks"][rows] = x
    out["blocks_mask"][rows] = ok
    if "option" in out:
        from octogym.envs.entities_provision import option_rows_reference
        option_rows_reference(core, rows, out)


def markdown_tables() -> str:
    """The entity feature tables of docs/envs.md (a test checks the docs carry them)."""
    parts = []
    for kind, feats in ENTITY_FEATURES.items():
        first = len(ENTITY_FEATURES["tbu"]) if kind == TBU_DETAIL else 0
        rows = "\n".join(f"| {first + i} | `{f.name}` | {f.description} |"
                         for i, f in enumerate(feats))
        size = ("" if kind == "global" else f" (rows: `{SIZE_OPTIONS[kind]}`)"
                if kind in SIZE_OPTIONS else " (more `tbu` columns, with `tbu_detail=True` only)"
                if kind == TBU_DETAIL else " (rows: `K * NCFG + 1`, Provision only)")
        parts.append(f"`{kind}`{size}:\n\n| column | feature | meaning |\n|---|---|---|\n{rows}")
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(markdown_tables())
