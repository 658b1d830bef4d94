"""The Dispatch decision's entity focus (``obs_mode="entities"``, :mod:`octogym.envs.entities`).

A dispatch decision is about a freed TBU, not a job: no focus TB or request; the home cluster
is the TBU's; the TBU rows start at its cluster's first TBU and ``is_decision_tbu`` marks it;
rows are compared with its configuration (``config_match``; none while unconfigured). Its
candidates (``octogym/kernel/dispatch.py``: the TBU's queue from the head, then its cluster's
backlog, at most ``n_candidates``) are the first ``"waiting"`` rows in slot order, so action
``i`` is waiting row ``i`` (``candidate``, ``data_wait`` columns).

Two versions that must agree (the builder test compares the observations they lead to):
:func:`dispatch_focus_reference` (numpy, from the flat reference's candidate enumeration,
``DispatchDecision.candidates_reference``) and :func:`dispatch_focus` (compiled, the kernel's
own ``dispatch_count`` / ``next_backlog_candidate``, as the flat compiled builder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from octogym.envs.entities import EntityFocus
from octogym.kernel import fields as L
from octogym.kernel.dispatch import dispatch_count, next_backlog_candidate
from octogym.kernel.layout import DEC_DISPATCH
from octogym.kernel.mechanisms import transfer

if TYPE_CHECKING:
    from octogym.envs.core import KernelBatch


def _focus(core: KernelBatch, rows: np.ndarray, cands: np.ndarray, wait: np.ndarray
           ) -> EntityFocus:
    S, M = core.sim.state, core.sim.model
    SC = S.SC[rows]
    pending = SC[:, L.SC_DEC_KIND] == DEC_DISPATCH
    u = np.where(pending, SC[:, L.SC_DEC_TBU], 0)
    home = np.where(pending, M.tbu_cluster[u], -1)
    tcfg = S.TB[rows, L.TB_CFG, u]
    cfg = np.where(pending & (tcfg >= 0), tcfg, -2)
    return EntityFocus(pending, np.full(len(rows), -1, np.int64), home,
                       np.maximum(home, 0) * core.K, cfg, np.where(pending, u, -1), cands, wait)


def dispatch_focus_reference(core: KernelBatch, rows: np.ndarray) -> EntityFocus:
    """The focus of members ``rows``, numpy."""
    cd = core.decision.candidates_reference(core, rows)
    return _focus(core, rows, np.where(cd["valid"], cd["job"], -1),
                  np.where(cd["valid"], cd["data"], 0))


@njit(cache=True)
def _candidates(rows, M, S, pol, Q, cands, wait):
    for i in range(rows.shape[0]):
        b = rows[i]
        cands[i, :] = -1
        wait[i, :] = 0
        if S.SC[b, L.SC_DEC_KIND] != DEC_DISPATCH:
            continue
        now = S.SC[b, L.SC_NOW]
        u = S.SC[b, L.SC_DEC_TBU]
        c = M.tbu_cluster[u]
        ql = S.TB[b, L.TB_QL, u]
        cnt = min(dispatch_count(M, S, b, u, pol), cands.shape[1])
        j = -1
        for s in range(cnt):
            if s < ql:
                j = S.TBQ[b, u, (S.TB[b, L.TB_QH, u] + s) % Q]
                wait[i, s] = max(S.JB[b, j, L.JB_DATA] - now, 0)
            else:
                j = next_backlog_candidate(M, S, b, u, j if s > ql else -1, pol)
                wait[i, s] = transfer(M, S.JB[b, j, L.JB_ORG], c, S.JB[b, j, L.JB_BYTES])
            cands[i, s] = j


def dispatch_focus(core: KernelBatch, rows: np.ndarray) -> EntityFocus:
    """The focus of members ``rows``, its candidates compiled."""
    n, A = len(rows), core.n_actions
    cands = np.empty((n, A), np.int64)
    wait = np.empty((n, A), np.int64)
    _candidates(rows, core.sim.model, core.sim.state, core.sim.policy, core.Q, cands, wait)
    return _focus(core, rows, cands, wait)
