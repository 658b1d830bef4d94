"""The registered environment ids, defined once, and their idempotent registration.

Registration only names entry points (strings), so ``import octogym`` stays cheap: the kernel
is imported when an environment is first made.
"""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "octogym"

# id (without namespace) -> (decision name, hardware preset)
ENV_SPECS: dict[str, tuple[str, str]] = {
    "TBUAssign-v0": ("TBUAssign", "chip"),
    "TBUAssign-Wafer-v0": ("TBUAssign", "wafer"),
    "ClusterAssign-v0": ("ClusterAssign", "chip"),
    "ClusterAssign-Wafer-v0": ("ClusterAssign", "wafer"),
    "Dispatch-v0": ("Dispatch", "chip"),
    "Dispatch-Wafer-v0": ("Dispatch", "wafer"),
    "Place-v0": ("Place", "chip"),
    "Place-Wafer-v0": ("Place", "wafer"),
    "Provision-v0": ("Provision", "chip"),
    "Provision-Wafer-v0": ("Provision", "wafer"),
}
# Options an id sets beyond its preset. The wafer's queues only hold two jobs once its
# pipeline has filled (about 1,000 requests at load 0.8): with the default 200 requests per
# episode a Dispatch-Wafer episode has no dispatch decision at all under any controller.
ENV_OPTIONS: dict[str, dict] = {
    "Dispatch-Wafer-v0": {"requests_per_episode": 2000},
}

ENV_IDS: tuple[str, ...] = tuple(f"{NAMESPACE}/{k}" for k in ENV_SPECS)


def register_envs() -> None:
    """Register every id in ``ENV_SPECS`` under the ``octogym`` namespace (no-op for ids that
    are already registered)."""
    for name, (decision, preset) in ENV_SPECS.items():
        env_id = f"{NAMESPACE}/{name}"
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=f"octogym.envs.env:{decision}Env",
            vector_entry_point=f"octogym.envs.vector:{decision}VectorEnv",
            kwargs={"hardware": preset, **ENV_OPTIONS.get(name, {})},
            # No TimeLimit wrapper: the envs truncate themselves (``max_steps``), so single,
            # sync, async and native vector envs end episodes identically.
            max_episode_steps=None,
        )
