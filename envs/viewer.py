"""Rendering of one batch member: ``ansi`` (a text grid of clusters) and ``rgb_array`` (a
cluster-grid utilisation heatmap). Pure numpy; passed into the environments, not built there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from octogym.kernel import fields as L
from octogym.kernel.layout import (
    DEC_CLUSTER,
    DEC_DISPATCH,
    DEC_PLACE,
    DEC_PROVISION,
    DEC_TBU,
    TBU_IDLE,
    TBU_RUN,
)

if TYPE_CHECKING:
    from octogym.envs.core import KernelBatch

# Colour ramp for utilisation 0 -> 1 (viridis anchors, ours: no matplotlib at render time).
_RAMP = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                 np.float64)


def colormap(x: np.ndarray) -> np.ndarray:
    """uint8 RGB of values in [0, 1] on the ramp."""
    x = np.clip(np.asarray(x, np.float64), 0.0, 1.0) * (len(_RAMP) - 1)
    i = np.minimum(np.floor(x).astype(np.int64), len(_RAMP) - 2)
    f = (x - i)[..., None]
    return (_RAMP[i] * (1 - f) + _RAMP[i + 1] * f).round().astype(np.uint8)


def tbu_utilisation(core: KernelBatch, b: int) -> np.ndarray:
    """Busy fraction of each TBU so far, (T,). The kernel accounts a run when it starts, so
    the part still ahead of ``now`` is taken back out."""
    S = core.sim.state
    now = int(S.SC[b, L.SC_NOW])
    end = S.TB[b, L.TB_END]
    ahead = np.where(S.TB[b, L.TB_STATE] == TBU_RUN, np.maximum(end - now, 0), 0)
    busy = np.maximum(S.TBR[b, :, L.TBR_ACC_BUSY] - ahead, 0)
    return np.clip(busy / max(now, 1), 0.0, 1.0)


def decision_cluster(core: KernelBatch, b: int) -> int:
    """The cluster the pending decision is about (-1: none)."""
    S = core.sim.state
    kind = int(S.SC[b, L.SC_DEC_KIND])
    if kind in (DEC_TBU, DEC_DISPATCH, DEC_PLACE, DEC_PROVISION):
        return int(core.home[b])
    return -1


class GridViewer:
    """Draws a member's clusters on their mesh positions. ``cell_px`` is the side of a cluster
    cell in the rgb image (default: about 256 pixels for the whole grid)."""

    def __init__(self, cell_px: int | None = None) -> None:
        self.cell_px = cell_px

    def ansi(self, core: KernelBatch, b: int) -> str:
        S = core.sim.state
        hw = core.hw
        K, Q = core.K, core.Q
        sc = S.SC[b]
        ql = S.TB[b, L.TB_QL]
        state = S.TB[b, L.TB_STATE]
        bl = S.CL[b, L.CL_BL_LEN]
        dc = decision_cluster(core, b)
        util = tbu_utilisation(core, b).reshape(core.C, K).mean(axis=1)
        kind = int(sc[L.SC_DEC_KIND])
        what = {DEC_TBU: f"TB ready in cluster {dc}: choose a TBU 0-{K - 1}",
                DEC_CLUSTER: f"request arrived: choose a cluster 0-{core.C - 1}",
                DEC_DISPATCH: f"TBU {int(sc[L.SC_DEC_TBU])} freed in cluster {dc}: choose its "
                              f"next TB, candidate 0-{int(core.mask[b].sum()) - 1}",
                DEC_PLACE: f"TB ready, home cluster {dc}: choose a TBU 0-{core.T - 1} or "
                f"wait in cluster c ({core.T} + c)",
                DEC_PROVISION: f"epoch, cluster {dc}: reconfigure an idle TBU or keep "
                f"({core.n_actions - 1})"}.get(
                    kind, "no decision pending (episode over)")
        in_system = int(sc[L.SC_N_ARRIVED] - sc[L.SC_N_DONE])
        lines = [f"{core.decision.name} t={int(sc[L.SC_NOW])} cycles  requests done "
                 f"{int(sc[L.SC_N_DONE])}/{core.N}  in system {in_system}  "
                 f"step {int(core.steps[b])}",
                 f"decision: {what}",
                 f"cell: per TBU its queue length 0-{Q} (a letter when idle: a = 0, b = 1, "
                 "...), then bN = backlog, utilisation so far; * = decision cluster"]
        for r in range(hw.rows):
            cells = []
            for col in range(hw.cols):
                c = r * hw.cols + col
                q = "".join(str(int(ql[c * K + k])) if state[c * K + k] != TBU_IDLE
                            else "abcdefghij"[min(int(ql[c * K + k]), 9)]
                            for k in range(K))
                mark = "*" if c == dc else " "
                cells.append(f"{mark}{q} b{min(int(bl[c]), 99):<2d}{int(util[c] * 100):3d}%")
            lines.append(" ".join(cells))
        return "\n".join(lines) + "\n"

    def rgb(self, core: KernelBatch, b: int) -> np.ndarray:
        hw = core.hw
        K, Q = core.K, core.Q
        px = self.cell_px or max(8, 256 // max(hw.rows, hw.cols))
        util = tbu_utilisation(core, b).reshape(core.C, K)
        ql = core.sim.state.TB[b, L.TB_QL].reshape(core.C, K)
        img = np.zeros((hw.rows * px, hw.cols * px, 3), np.uint8)
        strip = max(2, px // 4)  # bottom strip: one bar per TBU, brightness = queue fill
        col = colormap(util.mean(axis=1))
        dc = decision_cluster(core, b)
        for c in range(core.C):
            y0, x0 = (c // hw.cols) * px, (c % hw.cols) * px
            cell = img[y0:y0 + px, x0:x0 + px]
            cell[:] = col[c]
            w = max(1, px // K)
            for k in range(K):
                v = np.uint8(min(255, 40 + 215 * ql[c, k] // Q))
                cell[px - strip:, k * w:(k + 1) * w] = v
            cell[0, :] = cell[:, 0] = 0  # grid lines
            if c == dc:
                cell[1, 1:] = cell[-1, 1:] = cell[1:, 1] = cell[1:, -1] = 255
        return img
