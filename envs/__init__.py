"""Gymnasium environments over the batched Octopus kernel.

Ids (registered on ``import octogym``): ``octogym/TBUAssign-v0``, ``octogym/ClusterAssign-v0``,
``octogym/Dispatch-v0``, ``octogym/Place-v0``, ``octogym/Provision-v0`` and their
``-Wafer-v0`` variants (``ENV_IDS``). Single envs: :class:`TBUAssignEnv`,
:class:`ClusterAssignEnv`, :class:`DispatchEnv`, :class:`PlaceEnv`, :class:`ProvisionEnv`;
native vector envs: :class:`TBUAssignVectorEnv`, :class:`ClusterAssignVectorEnv`,
:class:`DispatchVectorEnv`, :class:`PlaceVectorEnv`, :class:`ProvisionVectorEnv`;
SB3: :class:`SB3VecEnv`, :func:`make_sb3_vec_env`; every option: :class:`EnvConfig`
(``octogym.envs.config``).
Documentation: ``docs/envs.md``.

Heavy modules (the kernel, SB3) load on first attribute access, so registration is cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from octogym.envs.registration import ENV_IDS, ENV_SPECS, register_envs

_LAZY = {
    "OctoEnv": "env", "TBUAssignEnv": "env", "ClusterAssignEnv": "env", "DispatchEnv": "env",
    "PlaceEnv": "env", "ProvisionEnv": "env",
    "OctoVectorEnv": "vector", "TBUAssignVectorEnv": "vector",
    "ClusterAssignVectorEnv": "vector", "DispatchVectorEnv": "vector",
    "PlaceVectorEnv": "vector", "ProvisionVectorEnv": "vector",
    "SB3VecEnv": "sb3", "make_sb3_vec_env": "sb3",
    "KernelBatch": "core", "GridViewer": "viewer", "REWARDS": "reward", "EnvConfig": "config",
    "TBU_FEATURES": "layout", "CLUSTER_FEATURES": "layout", "DISPATCH_FEATURES": "layout",
    "PLACE_FEATURES": "layout", "PROVISION_FEATURES": "layout",
}

__all__ = ["ENV_IDS", "ENV_SPECS", "register_envs", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"octogym.envs.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'octogym.envs' has no attribute {name!r}")
