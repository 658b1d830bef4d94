"""The compiled (array) form of a weighted mix of workflows, read by the simulator kernel.

Blocks of all workflows are numbered globally (workflow by workflow, in file order); PEA
configurations are numbered globally by first use. Drift phases become *phase rows*: row
``wf_phase_off[w] + k`` holds workflow ``w``'s branch probabilities and map counts after ``k``
phases. ``decompile()`` rebuilds the exact workflows, which the tests use as a round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from octogym.workflows.distributions import Count, Duration
from octogym.workflows.model import (
    ControlBlock,
    Phase,
    TaskBlock,
    TaskFlow,
    Workflow,
)

# Block type codes (one source of truth for the kernel).
TASK, BRANCH, MAP, FORK, JOIN = 0, 1, 2, 3, 4
TYPE_CODE = {"task": TASK, "branch": BRANCH, "map": MAP, "fork": FORK, "join": JOIN}
TYPE_NAME = {v: k for k, v in TYPE_CODE.items()}
KIND_CODE = {"ai": 0, "general": 1}
KIND_NAME = {v: k for k, v in KIND_CODE.items()}


@dataclass(frozen=True, eq=False)
class CompiledMix:
    """Arrays (NB blocks, NF flows, NPH phase rows, W workflows) plus the names to decode them."""

    # names
    wf_names: tuple[str, ...]
    wf_descriptions: tuple[str, ...]
    block_ids: tuple[str, ...]  # (NB,) block id within its workflow
    configs: tuple[str, ...]  # global PEA configuration names
    # workflows
    wf_weight: np.ndarray  # (W,) float64, sums to 1
    wf_cdf: np.ndarray  # (W,) float64 cumulative weights (last = 1)
    wf_entry: np.ndarray  # (W,) int64 global block index of the entry
    wf_block_off: np.ndarray  # (W+1,) int64 blocks of w are [off[w], off[w+1])
    wf_flow_off: np.ndarray  # (W+1,) int64 flows of w (CSR order) are [off[w], off[w+1])
    wf_phase_off: np.ndarray  # (W+1,) int64 phase rows of w are [off[w], off[w+1])
    wf_n_joins: np.ndarray  # (W,) int64
    # blocks
    blk_wf: np.ndarray  # (NB,) int64
    blk_type: np.ndarray  # (NB,) int64 TASK/BRANCH/MAP/FORK/JOIN
    blk_cfg: np.ndarray  # (NB,) int64 global config id (-1 for control blocks)
    blk_kind: np.ndarray  # (NB,) int64 0 ai, 1 general (-1 for control blocks)
    blk_cost: np.ndarray  # (NB,) int64 CBU cycles (0 for tasks)
    blk_body: np.ndarray  # (NB,) int64 map body block (-1 otherwise)
    blk_out_bytes: np.ndarray  # (NB,) int64
    blk_indeg: np.ndarray  # (NB,) int64 incoming flows
    blk_join_slot: np.ndarray  # (NB,) int64 index among its workflow's joins (-1 otherwise)
    dur_code: np.ndarray  # (NB,) int64 duration family (distributions.DUR_*), -1 for CBs
    dur_p: np.ndarray  # (NB, 3) float64 family parameters (lognormal: mu, sigma, cv)
    dur_emp_off: np.ndarray  # (NB,) int64 offset into emp for empirical laws
    dur_emp_len: np.ndarray  # (NB,) int64
    dur_mean: np.ndarray  # (NB,) float64 expected cycles (0 for CBs)
    # flows, CSR by source block
    succ_ptr: np.ndarray  # (NB+1,) int64 successors of b are succ_dst[ptr[b]:ptr[b+1]]
    succ_dst: np.ndarray  # (NF,) int64
    succ_bytes: np.ndarray  # (NF,) int64
    # phase rows
    phase_after_req: np.ndarray  # (NPH,) int64 -1 for row 0 of a workflow or cycle triggers
    phase_after_cyc: np.ndarray  # (NPH,) int64 -1 unless triggered by cycle
    flow_prob: np.ndarray  # (NPH, NF) float64 branch probability per flow (1 elsewhere)
    cnt_code: np.ndarray  # (NPH, NB) int64 map count family (distributions.CNT_*), -1
    cnt_p: np.ndarray  # (NPH, NB) float64
    cnt_emp_off: np.ndarray  # (NPH, NB) int64
    cnt_emp_len: np.ndarray  # (NPH, NB) int64
    cnt_mean: np.ndarray  # (NPH, NB) float64
    emp: np.ndarray  # (E,) float64 pool of empirical values

    @property
    def n_blocks(self) -> int:
        return len(self.block_ids)

    @property
    def n_flows(self) -> int:
        return int(self.succ_dst.shape[0])

    @property
    def n_configs(self) -> int:
        return len(self.configs)

    @property
    def max_outdeg(self) -> int:
        return int(np.max(np.diff(self.succ_ptr))) if self.n_blocks else 0

    @property
    def max_joins(self) -> int:
        return int(self.wf_n_joins.max(initial=0))

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)}

    # ---- round trip ---------------------------------------------------------------------
    def _dur(self, b: int) -> Duration:
        code = int(self.dur_code[b])
        p = self.dur_p[b]
        from octogym.workflows import distributions as D

        if code == D.DUR_EMPIRICAL:
            o, n = int(self.dur_emp_off[b]), int(self.dur_emp_len[b])
            return Duration.from_dict({"dist": "empirical",
                                       "values": [_num(v) for v in self.emp[o:o + n]]})
        if code == D.DUR_LOGNORMAL:
            mean, cv = float(self.dur_mean[b]), float(p[2])
            return Duration.from_dict({"dist": "lognormal", "mean": _num(mean), "cv": _num(cv)})
        name = {D.DUR_FIXED: "fixed", D.DUR_UNIFORM: "uniform", D.DUR_BIMODAL: "bimodal"}[code]
        keys = D.DURATION_PARAMS[name]
        return Duration.from_dict({"dist": name, **{k: _num(p[i]) for i, k in enumerate(keys)}})

    def _cnt(self, row: int, b: int) -> Count:
        from octogym.workflows import distributions as D

        code = int(self.cnt_code[row, b])
        if code == D.CNT_EMPIRICAL:
            o, n = int(self.cnt_emp_off[row, b]), int(self.cnt_emp_len[row, b])
            return Count.from_dict({"dist": "empirical", "values": [int(v) for v in
                                                                      self.emp[o:o + n]]})
        name = {D.CNT_FIXED: "fixed", D.CNT_POISSON: "poisson", D.CNT_GEOMETRIC: "geometric"}[code]
        v = self.cnt_p[row, b]
        return Count.from_dict({"dist": name, ("value" if name == "fixed" else "mean"):
                                (int(v) if name == "fixed" else _num(v))})

    def _probs(self, row: int, b: int) -> tuple[tuple[str, float], ...]:
        lo, hi = int(self.succ_ptr[b]), int(self.succ_ptr[b + 1])
        return tuple((self.block_ids[int(self.succ_dst[f])], float(self.flow_prob[row, f]))
                     for f in range(lo, hi))

    def decompile(self) -> tuple[list[Workflow], list[float]]:
        """Rebuild the workflows (and weights) this mix was compiled from."""
        out = []
        for w, name in enumerate(self.wf_names):
            lo, hi = int(self.wf_block_off[w]), int(self.wf_block_off[w + 1])
            row0 = int(self.wf_phase_off[w])
            blocks = []
            for b in range(lo, hi):
                t = TYPE_NAME[int(self.blk_type[b])]
                bid = self.block_ids[b]
                if t == "task":
                    blocks.append(TaskBlock(bid, self.configs[int(self.blk_cfg[b])],
                                            KIND_NAME[int(self.blk_kind[b])], self._dur(b),
                                            int(self.blk_out_bytes[b])))
                elif t == "branch":
                    blocks.append(ControlBlock(bid, t, int(self.blk_cost[b]),
                                               probs=self._probs(row0, b)))
                elif t == "map":
                    blocks.append(ControlBlock(bid, t, int(self.blk_cost[b]),
                                               body=self.block_ids[int(self.blk_body[b])],
                                               count=self._cnt(row0, b)))
                else:
                    blocks.append(ControlBlock(bid, t, int(self.blk_cost[b])))
            flows = []
            for b in range(lo, hi):
                for f in range(int(self.succ_ptr[b]), int(self.succ_ptr[b + 1])):
                    flows.append(TaskFlow(self.block_ids[b],
                                          self.block_ids[int(self.succ_dst[f])],
                                          int(self.succ_bytes[f])))
            phases = []
            for row in range(row0 + 1, int(self.wf_phase_off[w + 1])):
                prev = row - 1
                probs, counts = [], []
                for b in range(lo, hi):
                    if self.blk_type[b] == BRANCH and self._probs(row, b) != self._probs(prev, b):
                        probs.append((self.block_ids[b], self._probs(row, b)))
                    if self.blk_type[b] == MAP and self._cnt(row, b) != self._cnt(prev, b):
                        counts.append((self.block_ids[b], self._cnt(row, b)))
                ar, ac = int(self.phase_after_req[row]), int(self.phase_after_cyc[row])
                phases.append(Phase(ar if ar >= 0 else None, ac if ac >= 0 else None,
                                    tuple(probs), tuple(counts)))
            out.append(Workflow(name, self.block_ids[int(self.wf_entry[w])], tuple(blocks),
                                tuple(flows), tuple(phases), self.wf_descriptions[w]))
        return out, [float(x) for x in self.wf_weight]


def _num(v: float) -> int | float:
    """Keep integers integral so a round trip restores the file's own numbers."""
    f = float(v)
    return int(f) if f.is_integer() else f


def compile_mix(workflows: Workflow | Sequence[Workflow],
                weights: Sequence[float] | None = None) -> CompiledMix:
    """Flatten one workflow or a weighted mix into a :class:`CompiledMix`.

    A phase row holds the full state after that phase, so a phase that only changes one
    block keeps the others' current values. Phase ``set`` entries apply in file order.
    """
    if isinstance(workflows, Workflow):
        workflows = [workflows]
    workflows = list(workflows)
    if not workflows:
        raise ValueError("compile_mix needs at least one workflow")
    if weights is None:
        weights = [1.0] * len(workflows)
    weights = [float(x) for x in weights]
    if len(weights) != len(workflows) or any(not (x > 0) for x in weights):
        raise ValueError(f"weights must be {len(workflows)} positive numbers, got {weights}")
    wsum = sum(weights)
    W = len(workflows)
    configs: dict[str, int] = {}
    for wf in workflows:
        for c in wf.configs:
            configs.setdefault(c, len(configs))

    block_ids: list[str] = []
    gidx: list[dict[str, int]] = []
    for wf in workflows:
        m = {}
        for b in wf.blocks:
            m[b.id] = len(block_ids)
            block_ids.append(b.id)
        gidx.append(m)
    NB = len(block_ids)
    emp: list[float] = []

    def push_emp(vals) -> tuple[int, int]:
        off = len(emp)
        emp.extend(float(v) for v in vals)
        return off, len(vals)

    blk = {k: np.full(NB, -1, dtype=np.int64) for k in
           ("wf", "type", "cfg", "kind", "cost", "body", "out", "indeg", "join", "dcode",
            "doff", "dlen")}
    dur_p = np.zeros((NB, 3))
    dur_mean = np.zeros(NB)
    succ_ptr = np.zeros(NB + 1, dtype=np.int64)
    succ_dst: list[int] = []
    succ_bytes: list[int] = []
    flow_index: dict[tuple[int, int], int] = {}
    wf_entry = np.zeros(W, dtype=np.int64)
    wf_block_off = np.zeros(W + 1, dtype=np.int64)
    wf_flow_off = np.zeros(W + 1, dtype=np.int64)
    wf_phase_off = np.zeros(W + 1, dtype=np.int64)
    wf_n_joins = np.zeros(W, dtype=np.int64)
    for w, wf in enumerate(workflows):
        g = gidx[w]
        out_flows: dict[str, list[TaskFlow]] = {b.id: [] for b in wf.blocks}
        indeg = dict.fromkeys(out_flows, 0)
        for f in wf.flows:
            out_flows[f.src].append(f)
            indeg[f.dst] += 1
        wf_entry[w] = g[wf.entry]
        wf_block_off[w] = g[wf.blocks[0].id]
        wf_flow_off[w] = len(succ_dst)
        nj = 0
        for b in wf.blocks:
            i = g[b.id]
            blk["wf"][i] = w
            blk["type"][i] = TYPE_CODE[b.type]
            blk["indeg"][i] = indeg[b.id]
            blk["cost"][i] = 0
            blk["out"][i] = 0
            if isinstance(b, TaskBlock):
                blk["cfg"][i] = configs[b.config]
                blk["kind"][i] = KIND_CODE[b.kind]
                blk["out"][i] = b.out_bytes
                code, p0, p1, p2, vals = b.duration.encode()
                blk["dcode"][i] = code
                dur_p[i] = (p0, p1, p2)
                dur_mean[i] = b.duration.mean()
                if vals:
                    blk["doff"][i], blk["dlen"][i] = push_emp(vals)
                else:
                    blk["doff"][i], blk["dlen"][i] = 0, 0
            else:
                blk["cost"][i] = b.cost
                if b.type == "map":
                    blk["body"][i] = g[b.body]  # type: ignore[index]
                if b.type == "join":
                    blk["join"][i] = nj
                    nj += 1
            succ_ptr[i] = len(succ_dst)
            for f in out_flows[b.id]:
                flow_index[(i, g[f.dst])] = len(succ_dst)
                succ_dst.append(g[f.dst])
                succ_bytes.append(f.bytes)
            succ_ptr[i + 1] = len(succ_dst)
        wf_n_joins[w] = nj
    wf_block_off[W] = NB
    wf_flow_off[W] = len(succ_dst)
    NF = len(succ_dst)

    # Phase rows: row 0 of each workflow = initial values; row k = after phases[0..k-1].
    rows_req: list[int] = []
    rows_cyc: list[int] = []
    prob_rows: list[np.ndarray] = []
    cnt_rows: list[tuple[np.ndarray, ...]] = []
    for w, wf in enumerate(workflows):
        g = gidx[w]
        wf_phase_off[w] = len(rows_req)
        for k in range(len(wf.phases) + 1):
            state = wf.with_phase(k) if k else wf
            pr = np.ones(NF)
            cc = np.full(NB, -1, dtype=np.int64)
            cp = np.zeros(NB)
            co = np.zeros(NB, dtype=np.int64)
            cl = np.zeros(NB, dtype=np.int64)
            cm = np.zeros(NB)
            for b in state.blocks:
                i = g[b.id]
                if b.type == "branch":
                    for dst, p in b.probs or ():
                        pr[flow_index[(i, g[dst])]] = p
                elif b.type == "map":
                    code, p0, _, _, vals = b.count.encode()  # type: ignore[union-attr]
                    cc[i], cp[i], cm[i] = code, p0, b.count.mean()  # type: ignore[union-attr]
                    if vals:
                        co[i], cl[i] = push_emp(vals)
            prob_rows.append(pr)
            cnt_rows.append((cc, cp, co, cl, cm))
            if k == 0:
                rows_req.append(-1)
                rows_cyc.append(-1)
            else:
                ph = wf.phases[k - 1]
                rows_req.append(-1 if ph.after_requests is None else ph.after_requests)
                rows_cyc.append(-1 if ph.after_cycles is None else ph.after_cycles)
    wf_phase_off[W] = len(rows_req)
    weight = np.asarray(weights) / wsum
    cdf = np.cumsum(weight)
    cdf[-1] = 1.0
    return CompiledMix(
        wf_names=tuple(wf.name for wf in workflows),
        wf_descriptions=tuple(wf.description for wf in workflows),
        block_ids=tuple(block_ids),
        configs=tuple(configs),
        wf_weight=weight,
        wf_cdf=cdf,
        wf_entry=wf_entry,
        wf_block_off=wf_block_off,
        wf_flow_off=wf_flow_off,
        wf_phase_off=wf_phase_off,
        wf_n_joins=wf_n_joins,
        blk_wf=blk["wf"],
        blk_type=blk["type"],
        blk_cfg=blk["cfg"],
        blk_kind=blk["kind"],
        blk_cost=blk["cost"],
        blk_body=blk["body"],
        blk_out_bytes=blk["out"],
        blk_indeg=blk["indeg"],
        blk_join_slot=blk["join"],
        dur_code=blk["dcode"],
        dur_p=dur_p,
        dur_emp_off=blk["doff"],
        dur_emp_len=blk["dlen"],
        dur_mean=dur_mean,
        succ_ptr=succ_ptr,
        succ_dst=np.asarray(succ_dst, dtype=np.int64),
        succ_bytes=np.asarray(succ_bytes, dtype=np.int64),
        phase_after_req=np.asarray(rows_req, dtype=np.int64),
        phase_after_cyc=np.asarray(rows_cyc, dtype=np.int64),
        flow_prob=np.stack(prob_rows),
        cnt_code=np.stack([r[0] for r in cnt_rows]),
        cnt_p=np.stack([r[1] for r in cnt_rows]),
        cnt_emp_off=np.stack([r[2] for r in cnt_rows]),
        cnt_emp_len=np.stack([r[3] for r in cnt_rows]),
        cnt_mean=np.stack([r[4] for r in cnt_rows]),
        emp=np.asarray(emp if emp else [0.0], dtype=np.float64),
    )
