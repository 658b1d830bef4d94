"""Expected execution frequencies of a workflow's blocks, solved exactly.

Let ``v[b]`` be the expected number of tokens that reach block ``b`` during one request. Each
token reaching ``b`` sends, in expectation, ``M[b, s]`` tokens to ``s``:

* task, fork: 1 to each successor;   branch: ``p(s)`` to successor ``s``;
* map: ``E[count]`` to its body and 1 to its own successor (the join after all copies);
* join: ``1 / indegree`` to its successor (it fires once per ``indegree`` tokens).

By linearity of expectation (Wald's identity for the independent map counts),
``v = e_entry + M^T v``, so ``v = (I - M^T)^{-1} e_entry``. The solution is finite exactly when
the spectral radius of ``M`` is below 1 (a subcritical multi-type branching process); otherwise
some loop never exits in expectation and validation rejects the workflow.

Executions: every block but a join runs once per token; a join runs ``v / indegree`` times.
This derivation is ours (DESIGN.md §2 leaves it to us).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from octogym.workflows.model import ControlBlock, TaskBlock, Workflow


def mean_matrix(wf: Workflow) -> tuple[list[str], np.ndarray]:
    """``(ids, M)``: expected tokens sent from block i to block j per token reaching i."""
    ids = wf.block_ids
    idx = {b: i for i, b in enumerate(ids)}
    n = len(ids)
    M = np.zeros((n, n))
    indeg = {b: 0 for b in ids}
    for f in wf.flows:
        indeg[f.dst] += 1
    for b in wf.blocks:
        i = idx[b.id]
        succ = [f.dst for f in wf.flows if f.src == b.id]
        if isinstance(b, TaskBlock) or b.type == "fork":
            for s in succ:
                M[i, idx[s]] += 1.0
        elif b.type == "branch":
            for s, p in b.probs or ():
                M[i, idx[s]] += p
        elif b.type == "map":
            M[i, idx[b.body]] += b.count.mean()  # type: ignore[union-attr,index]
            for s in succ:
                M[i, idx[s]] += 1.0
        elif b.type == "join":
            for s in succ:
                M[i, idx[s]] += 1.0 / max(indeg[b.id], 1)
    return ids, M


def spectral_radius(wf: Workflow) -> float:
    _, M = mean_matrix(wf)
    if M.size == 0:
        return 0.0
    return float(np.max(np.abs(np.linalg.eigvals(M))))


@dataclass(frozen=True)
class Frequencies:
    """Expected per-request figures of one workflow (one set of probabilities)."""

    ids: tuple[str, ...]
    tokens: np.ndarray  # (n_blocks,) float64: expected tokens reaching each block
    executions: np.ndarray  # (n_blocks,) float64: expected executions of each block
    work_per_config: dict[str, float]  # expected TBU-cycles per request, per PEA configuration
    cbu_cycles: float  # expected CBU cycles per request

    @property
    def work(self) -> float:
        """Expected TBU-cycles of one request (all configurations)."""
        return float(sum(self.work_per_config.values()))

    def of(self, bid: str) -> float:
        return float(self.executions[self.ids.index(bid)])


def expected_frequencies(wf: Workflow, phase: int = 0) -> Frequencies:
    """Exact expected executions per request under the probabilities in force after ``phase``
    drift phases have applied (0: the initial ones)."""
    if phase:
        wf = wf.with_phase(phase)
    ids, M = mean_matrix(wf)
    n = len(ids)
    e = np.zeros(n)
    e[ids.index(wf.entry)] = 1.0
    rho = float(np.max(np.abs(np.linalg.eigvals(M)))) if n else 0.0
    if rho >= 1.0 - 1e-12:
        raise ValueError(
            f"workflow '{wf.name}': expected executions are infinite (spectral radius {rho:.4f})"
        )
    v = np.linalg.solve(np.eye(n) - M.T, e)
    v = np.maximum(v, 0.0)  # clear -0.0 and round-off
    indeg = {b: 0 for b in ids}
    for f in wf.flows:
        indeg[f.dst] += 1
    ex = v.copy()
    work: dict[str, float] = {}
    cbu = 0.0
    for i, b in enumerate(wf.blocks):
        if isinstance(b, ControlBlock):
            if b.type == "join":
                ex[i] = v[i] / max(indeg[b.id], 1)
            cbu += ex[i] * b.cost
        else:
            work[b.config] = work.get(b.config, 0.0) + ex[i] * b.duration.mean()
    return Frequencies(tuple(ids), v, ex, work, cbu)


def mix_work_per_config(
    workflows: list[Workflow], weights: list[float] | None = None, phase: int = 0
) -> dict[str, float]:
    """Expected TBU-cycles per request per configuration for a weighted mix of workflows."""
    if weights is None:
        weights = [1.0] * len(workflows)
    tot = float(sum(weights))
    out: dict[str, float] = {}
    for wf, w in zip(workflows, weights, strict=True):
        for c, x in expected_frequencies(wf, min(phase, len(wf.phases))).work_per_config.items():
            out[c] = out.get(c, 0.0) + w / tot * x
    return out
