"""The Provision decision's entity focus and ``"option"`` rows (``obs_mode="entities"``,
:mod:`octogym.envs.entities`).

A provisioning decision is about a cluster (the one the kernel asks at an epoch), not a job:
no focus TB or request; the home cluster is the asked one and the TBU rows start at its first
TBU. Its actions are ``"option"`` rows, one per action: row ``k * NCFG + g`` = reconfigure TBU
``k`` of the cluster to configuration ``g``, the last row (``K * NCFG``) = keep
(``ENTITY_FEATURES["option"]``). Each row carries TBU ``k``'s and configuration ``g``'s
features of the flat Provision observation (:mod:`octogym.envs.provision`), so the two modes
say the same thing; the keep row has only ``is_keep``. All rows are real (mask 1), also in a
terminal observation (zeros, as the flat features).

Two versions that must agree exactly (the builder test): :func:`option_rows_reference` (from
the numpy ``provision_reference``) and :func:`option_rows` (a relayout of the flat observation
the compiled step already wrote, ``core.obs``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from octogym.envs.entities import ENTITY_FEATURES, EntityFocus
from octogym.kernel import fields as L
from octogym.kernel.layout import DEC_PROVISION

if TYPE_CHECKING:
    from octogym.envs.core import KernelBatch

# option column <- flat Provision feature, and whether it is per TBU or per configuration
_PER_TBU = {"tbu_reconfigurable": "tbu_reconfigurable", "tbu_queue": "tbu_queue",
            "tbu_idle_for": "tbu_idle_for"}
_PER_CFG = {"config_waiting": "config_waiting", "config_tbus": "config_tbus",
            "config_machine_tbus": "config_machine_tbus", "config_demand": "config_demand"}
_COL = {f.name: i for i, f in enumerate(ENTITY_FEATURES["option"])}


def provision_focus(core: KernelBatch, rows: np.ndarray) -> EntityFocus:
    """The focus of members ``rows``: the asked cluster as home (numpy; cheap, no loops)."""
    SC = core.sim.state.SC[rows]
    n = len(rows)
    pending = SC[:, L.SC_DEC_KIND] == DEC_PROVISION
    home = np.where(pending, SC[:, L.SC_PROV_CLUSTER] - 1, -1)
    none = np.full(n, -1, np.int64)
    empty = np.zeros((n, 0), np.int64)
    return EntityFocus(pending, none, home, np.maximum(home, 0) * core.K,
                       np.full(n, -2, np.int64), none, empty, empty)


def _write(core: KernelBatch, rows: np.ndarray, out: dict[str, np.ndarray],
           values: dict[str, np.ndarray]) -> None:
    """Option rows of members ``rows`` from the flat Provision features ``values`` (by name,
    ``(n, K)`` per TBU, ``(n, NCFG)`` per configuration, ``(n, K * NCFG)`` ``tbu_config``)."""
    n, K = len(rows), core.K
    G = values["config_waiting"].shape[1]
    x = np.zeros((n, K * G + 1, len(_COL)))
    opts = x[:, :K * G].reshape(n, K, G, len(_COL))
    for col, name in _PER_TBU.items():
        opts[:, :, :, _COL[col]] = values[name][:, :, None]
    for col, name in _PER_CFG.items():
        opts[:, :, :, _COL[col]] = values[name][:, None, :]
    opts[:, :, :, _COL["tbu_holds"]] = values["tbu_config"].reshape(n, K, G)
    x[:, -1, _COL["is_keep"]] = 1.0
    out["option"][rows] = x
    out["option_mask"][rows] = 1


def option_rows_reference(core: KernelBatch, rows: np.ndarray, out: dict[str, np.ndarray]
                          ) -> None:
    """The option rows of members ``rows`` from the numpy flat reference."""
    from octogym.envs.provision import provision_reference

    values, _, _ = provision_reference(core, rows)
    _write(core, rows, out, {k: np.asarray(v, np.float32) for k, v in values.items()})


def option_rows(core: KernelBatch, rows: np.ndarray, out: dict[str, np.ndarray]) -> None:
    """The option rows of members ``rows`` from the flat observation in ``core.obs`` (written
    by the compiled builder, ``provision_observe_member``)."""
    obs = core.obs[rows]
    _write(core, rows, out, {k: obs[:, sl] for k, sl in core.slices.items()})
