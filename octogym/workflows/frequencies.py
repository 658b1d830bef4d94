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
This derivation is ours (the paper leaves it open).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from octogym.workflows.graph import strongly_connected

if TYPE_CHECKING:  # model.py imports validate.py, which imports this module
    from octogym.workflows.model import Workflow

# Up to this many blocks the linear system is solved densely (as it always was: bit-identical
# figures for every workflow of normal size); above it, component by component in linear time.
DENSE_MAX_BLOCKS = 256


def _entries(wf: Workflow) -> tuple[list[str], list[list[tuple[int, float]]]]:
    """``(ids, out)``: ``out[i]`` lists ``(j, tokens)`` sent from block i to block j per token
    reaching i, in the order the dense matrix accumulates them."""
    ids = wf.block_ids
    idx = {b: i for i, b in enumerate(ids)}
    indeg = dict.fromkeys(ids, 0)
    succ: dict[str, list[str]] = {b: [] for b in ids}
    for f in wf.flows:
        indeg[f.dst] += 1
        succ[f.src].append(f.dst)
    out: list[list[tuple[int, float]]] = []
    for b in wf.blocks:
        row: list[tuple[int, float]] = []
        if b.type in ("task", "fork"):
            row = [(idx[s], 1.0) for s in succ[b.id]]
        elif b.type == "branch":
            row = [(idx[s], p) for s, p in b.probs or ()]
        elif b.type == "map":
            row = [(idx[b.body], b.count.mean())]  # type: ignore[union-attr,index]
            row += [(idx[s], 1.0) for s in succ[b.id]]
        elif b.type == "join":
            row = [(idx[s], 1.0 / max(indeg[b.id], 1)) for s in succ[b.id]]
        out.append(row)
    return ids, out


def mean_matrix(wf: Workflow) -> tuple[list[str], np.ndarray]:
    """``(ids, M)``: expected tokens sent from block i to block j per token reaching i."""
    ids, out = _entries(wf)
    M = np.zeros((len(ids), len(ids)))
    for i, row in enumerate(out):
        for j, x in row:
            M[i, j] += x
    return ids, M


def _components(out: list[list[tuple[int, float]]]) -> list[list[int]]:
    edges = {i: [j for j, _ in row] for i, row in enumerate(out)}
    return strongly_connected(edges)


def _sub(out: list[list[tuple[int, float]]], comp: list[int]) -> np.ndarray:
    """The dense mean matrix restricted to the blocks of one component."""
    pos = {b: k for k, b in enumerate(comp)}
    A = np.zeros((len(comp), len(comp)))
    for b in comp:
        for j, x in out[b]:
            if j in pos:
                A[pos[b], pos[j]] += x
    return A


def _radius(out: list[list[tuple[int, float]]], comps: list[list[int]]) -> float:
    """Spectral radius of the mean matrix: the largest over its strongly connected components
    (the matrix is block-triangular in topological order), so only loops cost eigenvalues."""
    rho = 0.0
    for comp in comps:
        if len(comp) > 1 or any(j == comp[0] for j, _ in out[comp[0]]):
            A = _sub(out, comp)
            rho = max(rho, float(np.max(np.abs(np.linalg.eigvals(A)))))
    return rho


def spectral_radius(wf: Workflow) -> float:
    _, out = _entries(wf)
    return _radius(out, _components(out))


def _tokens(out: list[list[tuple[int, float]]], comps: list[list[int]], entry: int
            ) -> np.ndarray:
    """Solve ``v = e_entry + M^T v`` component by component, in topological order."""
    v = np.zeros(len(out))
    acc = np.zeros(len(out))
    acc[entry] = 1.0
    for comp in comps:
        if len(comp) == 1 and not any(j == comp[0] for j, _ in out[comp[0]]):
            v[comp[0]] = acc[comp[0]]
        else:
            A = _sub(out, comp)
            v[comp] = np.linalg.solve(np.eye(len(comp)) - A.T, acc[comp])
        inside = set(comp)
        for b in comp:
            for j, x in out[b]:
                if j not in inside:
                    acc[j] += x * v[b]
    return v


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
    ids, out = _entries(wf)
    n = len(ids)
    entry = ids.index(wf.entry)
    comps = _components(out)
    if n <= DENSE_MAX_BLOCKS:
        _, M = mean_matrix(wf)
        rho = float(np.max(np.abs(np.linalg.eigvals(M)))) if n else 0.0
    else:
        rho = _radius(out, comps)
    if rho >= 1.0 - 1e-12:
        raise ValueError(
            f"workflow '{wf.name}': expected executions are infinite (spectral radius {rho:.4f})"
        )
    if n <= DENSE_MAX_BLOCKS:
        e = np.zeros(n)
        e[entry] = 1.0
        v = np.linalg.solve(np.eye(n) - M.T, e)
    else:
        v = _tokens(out, comps, entry)
    v = np.maximum(v, 0.0)  # clear -0.0 and round-off
    indeg = dict.fromkeys(ids, 0)
    for f in wf.flows:
        indeg[f.dst] += 1
    ex = v.copy()
    work: dict[str, float] = {}
    cbu = 0.0
    for i, b in enumerate(wf.blocks):
        if b.type != "task":
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


def remaining_work(wf: Workflow, phase: int = 0) -> np.ndarray:
    """Expected TBU-cycles still ahead of a token at each block (in ``wf.blocks`` order),
    exactly: ``r[b]`` counts block ``b``'s own run (a task's mean duration; 0 for control
    blocks) and everything the token leads to. With the mean matrix ``M`` of the module
    docstring, ``r = w + M r``, so ``r = (I - M)^{-1} w`` with ``w[b]`` = the mean duration
    of task ``b``. A join counts ``1 / indegree`` of its continuation per token (it fires once
    for ``indegree`` tokens), so the figures of a request's live tokens add up (linearity).
    ``r[entry]`` is :attr:`Frequencies.work` (a test checks it). Ours."""
    if phase:
        wf = wf.with_phase(phase)
    expected_frequencies(wf)  # raises if some loop never exits in expectation
    _, M = mean_matrix(wf)
    w = np.array([b.duration.mean() if b.type == "task" else 0.0 for b in wf.blocks])
    return np.maximum(np.linalg.solve(np.eye(len(w)) - M, w), 0.0)
