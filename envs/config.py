"""Every environment option, defined once: :class:`EnvConfig`.

The single envs (``gym.make(id, **kw)``), the native vector envs
(``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point", **kw)``; they add only
``num_envs`` and ``autoreset_mode``), the SB3 adapter, :class:`~octogym.envs.core.KernelBatch`,
``train.py --env-kwargs`` and ``SB3Agent.check_env`` all read their keywords from here:
:meth:`EnvConfig.from_kwargs` names an unknown keyword and lists the valid ones, and
``__post_init__`` checks every value, naming the field and what is wrong with it (a
``ValueError`` in both cases). Deeper checks (the hardware preset, the workflow specs, the
``sim_options`` keywords) are left to :class:`~octogym.simulator.Simulation`.

Roles (``ROLES``): the *scenario* fields say what is simulated (an evaluation scenario sets
them); the *display* fields only change rendering; the others define the task an agent learns
(what it observes, its reward, the other level's controller, the episode length).

``python -m octogym.envs.config`` prints the option table of docs/envs.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from numbers import Integral, Real
from typing import Any

from octogym.envs.distribution import check_load_range
from octogym.envs.reward import REWARDS
from octogym.hardware import HardwareConfig
from octogym.kernel.layout import ARRIVAL_MODES
from octogym.kernel.policies import KERNEL_POLICIES
from octogym.workflows.splits import SPLIT_SEEDS, SPLIT_SIZE, WORKFLOW_POOLS

RENDER_MODES = ["ansi", "rgb_array"]
OBS_MODES = ("flat", "entities")

MAX_REWARD_SCALE = 1e200
"""Largest ``reward_scale``: a step's time integral is an int64 (below ``2**63 < 1e19``), so
every reward stays below ``1e219`` in magnitude, a finite float64. With the scale finite and
positive (checked) no reward can be NaN or infinite."""

# Simulation keywords the env sets itself: not allowed in ``sim_options``.
SIM_KEYS_SET_BY_ENV = ("workflows", "hardware", "load", "n_requests", "arrival", "batch", "seed",
                       "member_offset", "policy")


def _opt(default: Any, shown: str, doc: str, role: str = "task") -> Any:
    """A field with its documentation: ``shown`` is the default as the docs state it."""
    return field(default=default, metadata={"shown": shown, "doc": doc, "role": role})


def _is_int(x: Any) -> bool:
    return isinstance(x, Integral) and not isinstance(x, bool)


def _is_real(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


@dataclass(frozen=True)
class EnvConfig:
    """The options of every octogym environment (module docstring; table in docs/envs.md)."""

    hardware: Any = _opt(
        "chip", '`"chip"` (`"wafer"` for `-Wafer-v0`)',
        "preset name, `HardwareConfig` or dict", "scenario")
    workflows: Any = _opt(
        None, "`None` = whole built-in suite, equally weighted",
        "suite names, file paths, `Workflow` objects, a list, or a `{spec: weight}` mix",
        "scenario")
    load: float = _opt(
        0.8, "`0.8`", "offered load, fraction of the hardware's estimated capacity (> 0)",
        "scenario")
    requests_per_episode: int = _opt(
        200, "`200` (`2000` for `Dispatch-Wafer-v0`)",
        "an episode ends when this many requests have finished (>= 1)",
        "scenario")
    reward: str = _opt("latency", '`"latency"`', "see [Rewards](#rewards)")
    reward_scale: float | None = _opt(
        None, "`1 / tau`",
        "multiplies the `latency` and `completion` rewards (> 0, finite, <= 1e200)")
    controller: str | None = _opt(
        None, '`"proactive"` (TBU env), `"adaptive"` (cluster env), `"static"` (dispatch env)',
        "kernel heuristic for the level the agent does not control; any name in "
        "`octogym.kernel.policies.KERNEL_POLICIES`")
    render_mode: str | None = _opt(None, "`None`", '`"ansi"` or `"rgb_array"`', "display")
    max_steps: int | None = _opt(
        None, "`None` (no limit)", "decisions before the episode is truncated (>= 1)")
    obs_mode: str = _opt(
        "flat", '`"flat"`', "`flat` (one `Box` vector) or `entities` (a `Dict` of padded "
        "per-entity matrices with masks; see [Observation modes](#observation-modes))")
    max_tbus: int | None = _opt(
        None, "`None` = all TBUs", "`entities`: TBU rows (the decision's home cluster first; "
        ">= tbus_per_cluster for TBUAssign; all TBUs for Place)")
    max_clusters: int | None = _opt(
        None, "`None` = all clusters", "`entities`: cluster rows (>= clusters for "
        "ClusterAssign; all clusters for Place)")
    max_waiting: int = _opt(
        32, "`32`", "`entities`: rows of waiting TB instances (Dispatch's candidates first, "
        "then the oldest first; >= the candidate slots for Dispatch)")
    max_blocks: int | None = _opt(
        None, "`None` = largest workflow", "`entities`: rows of the request's workflow blocks")
    tbu_detail: bool = _opt(
        False, "`False`", "`entities`: three more TBU columns on what each queue holds and "
        "what reaching the TBU costs (`queued_reconfig`, `transfer`, `request_queued`; see "
        "[Observation modes](#observation-modes))")
    arrival: str = _opt(
        "poisson", '`"poisson"`', "`poisson`, `closed` (all requests at t = 0) or `trace`")
    sim_options: dict[str, Any] | None = _opt(
        None, "`None`",
        "more `Simulation` keywords (`epoch`, `tbu_init`, `policy_params`, `trace`, ...)",
        "scenario")
    viewer: Any = _opt(None, "`GridViewer()`", "the renderer", "display")
    # The training distribution (octogym/envs/distribution.py; docs/envs.md "Training
    # distribution"); the defaults leave every id as it was.
    load_range: tuple[float, float] | None = _opt(
        None, "`None` (every episode at `load`)",
        "`(lo, hi)`: each episode draws its load uniformly in `[lo, hi]` from its seed "
        "(`0 < lo <= hi`; replaces `load`)", "scenario")
    workflow_pool: str = _opt(
        "suite", '`"suite"`', "`suite` (the `workflows` mix), `generated` (`generated_workflows` "
        "workflows of the seeded generator, with drift phases, instead) or `mixed` (both, "
        "half the requests each)", "scenario")
    generated_workflows: int = _opt(
        8, "`8`", "`generated`/`mixed` pools: how many generated workflows (1 .. 10,000)",
        "scenario")
    workflow_split: str = _opt(
        "train", '`"train"`', "`generated`/`mixed` pools: `train` (generator seeds 0 ..) or "
        "`held_out` (seeds 10,000 .., never seen in training)", "scenario")
    warmup_requests: int = _opt(
        0, "`0`", "the kernel controller alone runs each episode's first `W / rate` cycles "
        "(about `W` arrivals; `W` more requests are run) before the agent takes over; "
        "the reward starts there (>= 0)", "scenario")

    def __post_init__(self) -> None:
        def bad(name: str, problem: str) -> ValueError:
            return ValueError(f"env option {name} {problem}, got {getattr(self, name)!r}")

        if not isinstance(self.hardware, (str, dict, HardwareConfig)):
            raise bad("hardware", "must be a preset name, a HardwareConfig or a dict")
        if not _is_real(self.load) or not math.isfinite(self.load) or self.load <= 0:
            raise bad("load", "must be a finite number > 0")
        if not _is_int(self.requests_per_episode) or self.requests_per_episode < 1:
            raise bad("requests_per_episode", "must be an integer >= 1")
        if not isinstance(self.reward, str) or self.reward not in REWARDS:
            raise bad("reward", f"must be one of {sorted(REWARDS)}")
        if self.reward_scale is not None and not (
                _is_real(self.reward_scale) and 0 < self.reward_scale <= MAX_REWARD_SCALE):
            raise bad("reward_scale", f"must be a number in (0, {MAX_REWARD_SCALE:g}] or None "
                      "(a NaN, infinite or non-positive scale makes rewards meaningless)")
        if self.controller is not None and (not isinstance(self.controller, str)
                                            or self.controller not in KERNEL_POLICIES):
            raise bad("controller", f"must be one of {sorted(KERNEL_POLICIES)} or None")
        if self.render_mode is not None and self.render_mode not in RENDER_MODES:
            raise bad("render_mode", f"must be one of {RENDER_MODES} or None")
        if self.max_steps is not None and (not _is_int(self.max_steps) or self.max_steps < 1):
            raise bad("max_steps", "must be a positive integer or None")
        if not isinstance(self.obs_mode, str) or self.obs_mode not in OBS_MODES:
            raise bad("obs_mode", f"must be one of {list(OBS_MODES)}")
        for name in ("max_tbus", "max_clusters", "max_waiting", "max_blocks"):
            v = getattr(self, name)
            if not (v is None and name != "max_waiting") and (not _is_int(v) or v < 1):
                raise bad(name, "must be a positive integer" + (
                    "" if name == "max_waiting" else " or None"))
        if not isinstance(self.tbu_detail, bool):
            raise bad("tbu_detail", "must be True or False")
        if self.tbu_detail and self.obs_mode != "entities":
            raise bad("tbu_detail", f"adds entity columns: it needs obs_mode='entities', not "
                      f"{self.obs_mode!r}")
        if not isinstance(self.arrival, str) or self.arrival not in ARRIVAL_MODES:
            raise bad("arrival", f"must be one of {sorted(ARRIVAL_MODES)}")
        if self.sim_options is not None:
            if not isinstance(self.sim_options, Mapping) or \
                    not all(isinstance(k, str) for k in self.sim_options):
                raise bad("sim_options", "must be None or a dict of Simulation keywords")
            clash = sorted(set(self.sim_options) & set(SIM_KEYS_SET_BY_ENV))
            if clash:
                raise bad("sim_options", f"may not set {clash} (the env sets them; use the env "
                          "options instead)")
            object.__setattr__(self, "sim_options", dict(self.sim_options))
        object.__setattr__(self, "load_range", check_load_range(self.load_range))
        if not isinstance(self.workflow_pool, str) or self.workflow_pool not in WORKFLOW_POOLS:
            raise bad("workflow_pool", f"must be one of {list(WORKFLOW_POOLS)}")
        if not _is_int(self.generated_workflows) or \
                not 1 <= self.generated_workflows <= SPLIT_SIZE:
            raise bad("generated_workflows", f"must be an integer in [1, {SPLIT_SIZE}]")
        if not isinstance(self.workflow_split, str) or self.workflow_split not in SPLIT_SEEDS:
            raise bad("workflow_split", f"must be one of {list(SPLIT_SEEDS)}")
        if not _is_int(self.warmup_requests) or self.warmup_requests < 0:
            raise bad("warmup_requests", "must be an integer >= 0")
        if self.warmup_requests and self.arrival != "poisson":
            raise bad("warmup_requests", "needs arrival='poisson' (the warm-up lasts W / rate "
                      "cycles)")
        if self.viewer is not None and not (hasattr(self.viewer, "ansi")
                                            and hasattr(self.viewer, "rgb")):
            raise bad("viewer", "must be None or a renderer with ansi() and rgb() (GridViewer)")

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> EnvConfig:
        """The config of ``kwargs``; a ``ValueError`` names unknown keywords and lists the
        valid ones."""
        check_env_keys(kwargs)
        return cls(**kwargs)


ENV_OPTIONS: tuple[str, ...] = tuple(f.name for f in fields(EnvConfig))
ROLES: dict[str, tuple[str, ...]] = {
    role: tuple(f.name for f in fields(EnvConfig) if f.metadata["role"] == role)
    for role in ("scenario", "task", "display")}


def check_env_keys(kwargs: Iterable[str], allowed: Iterable[str] = ENV_OPTIONS,
                   where: str = "env") -> None:
    """Raise ``ValueError`` naming the keywords of ``kwargs`` outside ``allowed`` (default:
    every env option) and listing the allowed ones; ``where`` says whose keywords they are."""
    allowed = tuple(allowed)
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {unknown}; valid: {sorted(allowed)}")


def validate_env_kwargs(kwargs: Mapping[str, Any], allowed: Iterable[str] = ENV_OPTIONS,
                        where: str = "env") -> dict[str, Any]:
    """Check env keywords as the envs do (names, then values; ``ValueError``); keywords
    outside ``allowed`` are refused. Returns a copy of ``kwargs``."""
    check_env_keys(kwargs, allowed, where)
    try:
        EnvConfig(**kwargs)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    return dict(kwargs)


def split_env_kwargs(kwargs: Mapping[str, Any], names: Iterable[str]
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(those of names, the others)``, e.g. ``split_env_kwargs(kw, ROLES["scenario"])``."""
    names = set(names)
    return ({k: v for k, v in kwargs.items() if k in names},
            {k: v for k, v in kwargs.items() if k not in names})


def markdown_table() -> str:
    """The option table of docs/envs.md (a test checks the docs carry it)."""
    rows = ["| keyword | default | meaning |", "|---|---|---|"]
    rows += [f"| `{f.name}` | {f.metadata['shown']} | {f.metadata['doc']} |"
             for f in fields(EnvConfig)]
    return "\n".join(rows)


def rst_list() -> str:
    """The options as an rst bullet list (the env classes' docstrings)."""
    return "\n".join(f"* ``{f.name}`` (default {f.metadata['shown'].replace('`', '``')}): "
                     f"{f.metadata['doc'].replace('`', '``')}." for f in fields(EnvConfig))


EnvConfig.__doc__ = f"{EnvConfig.__doc__}\n\nOptions:\n\n{rst_list()}\n"

if __name__ == "__main__":
    print(markdown_table())
