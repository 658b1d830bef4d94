"""The user-facing simulation API over the batched kernel.

>>> from octogym.simulator import Simulation
>>> sim = Simulation("recognition", "chip", load=0.6, n_requests=200, seed=1)
>>> res = sim.run()[0]
>>> res.n_requests
200
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from octogym import limits
from octogym.hardware import HardwareConfig, get_hardware
from octogym.kernel.build import (
    build_model,
    grow_state,
    initial_configs,
    mix_work,
    model_int,
    new_state,
    reset_members,
    seeds_for,
    state_nbytes,
)
from octogym.kernel.dispatch import DISPATCH_RULES, PARAM_DISPATCH
from octogym.kernel.fork import clone_rows, copy_state
from octogym.kernel.layout import (
    ARRIVAL_MODES,
    ST_DECISION,
    ST_DONE,
    ST_GROW,
    ST_STALLED,
    ST_TIME,
    State,
    field,
)
from octogym.kernel.loop import run_batch
from octogym.layouts import best_layout, trace_share
from octogym.metrics import SimResult, collect, contention_metrics
from octogym.schedulers import get_scheduler, is_planner, param_vector
from octogym.workflows import Workflow, load_workflow
from octogym.workflows.compiled import CompiledMix, compile_mix

WorkflowSpec = str | Path | Workflow


def resolve_workflows(spec: WorkflowSpec | Sequence[WorkflowSpec] | dict[Any, float] | None
                      ) -> tuple[list[Workflow], list[float]]:
    """Suite names, file paths, ``Workflow`` objects, a list of them, or a ``{spec: weight}``
    mix. ``None`` or ``"mix"`` means the whole built-in suite, equally weighted."""
    from octogym.workflows.suite import load_suite, suite_names

    def one(s: WorkflowSpec) -> Workflow:
        if isinstance(s, Workflow):
            return s
        s = str(s)
        if s in suite_names():
            return load_suite(s)
        if Path(s).suffix.lower() in (".yaml", ".yml", ".json"):
            return load_workflow(s)
        raise ValueError(f"workflow {s!r} is neither a suite name {suite_names()} nor a "
                         ".yaml/.yml/.json file")

    if spec is None or (isinstance(spec, str) and spec == "mix"):
        names = suite_names()
        return [load_suite(n) for n in names], [1.0] * len(names)
    if isinstance(spec, dict):
        items = list(spec.items())
        return [one(k) for k, _ in items], [float(v) for _, v in items]
    if isinstance(spec, (str, Path, Workflow)):
        return [one(spec)], [1.0]
    wfs = [one(s) for s in spec]
    return wfs, [1.0] * len(wfs)


class Simulation:
    """A batch of ``batch`` independent runs of one scenario under a compiled scheduler.

    ``policy`` is a name from :data:`octogym.schedulers.SCHEDULERS` or a planner spec
    (``rollout:<base>...``, :mod:`octogym.planner`: its base runs in the kernel, the planner
    answers the decisions it takes over in :meth:`run`); its epoch length,
    initial TBU configurations and tunables default to the registry's (override with
    ``epoch``, ``tbu_init`` and ``policy_params={name: value}``; ``tbu_init="best"``, the
    paper schedulers' default, is strong ``static``'s whole-trace layout, :mod:`octogym.layouts`,
    and ``self.layout`` names the layout used). ``slowdown={cluster:
    factor}`` makes the TBUs of those clusters run TBs ``factor`` times slower (a what-if for
    studying how idleness spreads). ``dispatch`` is the rule that picks which waiting TB a
    freed TBU runs next (``octogym.kernel.dispatch.DISPATCH_RULES``; ``"fifo"``: its queue's
    head, as always).

    Member ``b`` is seeded from ``(seed, b)``; it equals a ``batch=1`` run with
    ``member_offset=b``. ``load`` is offered load as a fraction of the capacity estimate
    (``HardwareConfig.capacity_requests_per_cycle``); ``arrival`` is ``poisson``, ``closed``
    (all requests at t=0: makespan) or ``trace`` (``trace=(times, workflow_indices)``).
    """

    def __init__(
        self,
        workflows: WorkflowSpec | Sequence[WorkflowSpec] | dict | None = None,
        hardware: str | HardwareConfig | dict = "chip",
        *,
        load: float = 0.7,
        n_requests: int = 1000,
        arrival: str = "poisson",
        trace: tuple[Sequence[int], Sequence[int]] | None = None,
        batch: int = 1,
        seed: int = 0,
        member_offset: int = 0,
        policy: str = "least_loaded",
        epoch: int | None = None,
        trace_cap: int = 0,
        tbu_init: str | np.ndarray | None = None,
        policy_params: dict[str, float] | None = None,
        slowdown: dict[int, float] | None = None,
        dispatch: str = "fifo",
    ) -> None:
        self.hw = get_hardware(hardware)
        wfs, weights = resolve_workflows(workflows)
        self.workflows = wfs
        self.mix: CompiledMix = compile_mix(wfs, weights)
        if arrival not in ARRIVAL_MODES:
            raise ValueError(f"arrival must be one of {sorted(ARRIVAL_MODES)}, got {arrival!r}")
        self.planner = None  # a Python-driven planner (``rollout:<base>...``) over its base
        if is_planner(policy):
            from octogym.planner import RolloutConfig

            self.planner = RolloutConfig.parse(policy)
            policy_spec, policy = policy, self.planner.base
        else:
            policy_spec = policy
        sched = get_scheduler(policy)
        if epoch is None:
            epoch = sched.epoch
        if tbu_init is None:
            tbu_init = sched.tbu_init
        _check_int(n_requests, "n_requests", 1, limits.MAX_REQUESTS)
        _check_int(batch, "batch", 1, limits.MAX_BATCH)
        _check_int(member_offset, "member_offset", 0, limits.MAX_BATCH)
        _check_int(trace_cap, "trace_cap", 0, limits.MAX_REQUESTS)
        if epoch is not None:
            _check_int(epoch, "epoch", 0, limits.CYCLE_HORIZON)
        # the run stops with an error at this simulated time: int64 sums of times stay exact
        self.horizon = limits.time_horizon(int(n_requests))
        self._check_memory(int(batch), int(n_requests), int(trace_cap))
        self.work_per_request, self.share = mix_work(self.mix)
        rate = self.hw.arrival_rate(load, self.work_per_request) if arrival == "poisson" else 1.0
        if arrival == "poisson":
            worst = limits.EXPONENTIAL_MAX_GAPS * int(n_requests) / rate
            if not worst <= self.horizon / 2:
                raise ValueError(
                    f"load={limits.short(load)} with n_requests={n_requests}: the last arrival "
                    f"could come at {worst:.3g} cycles, beyond half the simulated-time horizon "
                    f"{self.horizon} (docs/limits.md); raise load or lower n_requests")
        tt = tw = None
        if arrival == "trace":
            if trace is None:
                raise ValueError("arrival='trace' needs trace=(times, workflow_indices)")
            tt, tw = (np.asarray(x, dtype=np.int64) for x in trace)
            if tt.shape != tw.shape or tt.ndim != 1 or len(tt) != n_requests:
                raise ValueError(f"trace must hold n_requests={n_requests} times and workflow "
                                 "indices of equal length")
            if np.any(np.diff(tt) < 0) or np.any(tt < 0):
                raise ValueError("trace times must be non-negative and non-decreasing")
            if tt.size and tt[-1] > self.horizon // 2:
                raise ValueError(f"trace times must be <= {self.horizon // 2} (half the "
                                 "simulated-time horizon, docs/limits.md), got "
                                 f"{int(tt[-1])}")
            if np.any((tw < 0) | (tw >= len(wfs))):
                raise ValueError(f"trace workflow indices must be in [0, {len(wfs)})")
        self.layout = tbu_init if isinstance(tbu_init, str) else "array"
        if isinstance(tbu_init, str) and tbu_init == "best":
            # strong static (octogym/layouts.py): whole-trace profile, best of several layouts
            rate_ = rate if arrival == "poisson" else None
            self.layout, tbu_init = best_layout(
                self.hw, trace_share(self.mix, int(n_requests), rate_))
        self.tbu_cfg = initial_configs(self.hw, self.share, tbu_init)
        self.model = build_model(self.mix, self.hw, n_requests=int(n_requests),
                                 arrival=ARRIVAL_MODES[arrival], rate=rate, trace_t=tt,
                                 trace_w=tw, epoch=epoch, trace_cap=trace_cap,
                                 pol_f=self._policy_vector(policy, policy_params, dispatch),
                                 tbu_slow=self._slowdown(slowdown))
        self.policy = sched.code
        self.policy_name = policy_spec
        self.batch = batch
        self.seeds = seeds_for(seed, batch + member_offset)[member_offset:]
        need = state_nbytes(self.model, self.mix, batch)
        if need > limits.max_memory_bytes():
            raise MemoryError(_memory_message("its state", need))
        self.state: State = new_state(self.model, self.mix, batch, self.seeds, self.tbu_cfg)

    def _check_memory(self, batch: int, n_requests: int, trace_cap: int) -> None:
        """Refuse before allocating: the hardware's (C, C) matrices (and their temporaries)
        and the per-request rows must fit in ``limits.max_memory_bytes()``."""
        C = self.hw.n_clusters
        need = 64 * C * C + 8 * 8 * batch * (n_requests + trace_cap)
        if need > limits.max_memory_bytes():
            raise MemoryError(_memory_message(
                f"hardware {self.hw.name!r} ({C} clusters) with batch={batch}, "
                f"n_requests={n_requests}", need))

    @staticmethod
    def _policy_vector(policy: str, policy_params: dict[str, float] | None,
                       dispatch: str) -> np.ndarray:
        """The scheduler's tunables, plus the dispatch rule's code in its own slot."""
        if not isinstance(dispatch, str) or dispatch not in DISPATCH_RULES:
            raise ValueError(f"dispatch must be one of {list(DISPATCH_RULES)}, got "
                             f"{limits.short(dispatch)}")
        vec = param_vector(policy, policy_params)
        if DISPATCH_RULES[dispatch] == 0:
            return vec  # fifo: the vector as it always was
        out = np.zeros(PARAM_DISPATCH + 1)
        out[:len(vec)] = vec
        out[PARAM_DISPATCH] = DISPATCH_RULES[dispatch]
        return out

    def _slowdown(self, slowdown: dict[int, float] | None) -> np.ndarray:
        """Per-TBU run-time factors from ``{cluster: factor}`` (what-if: a slowed cluster)."""
        f = np.ones(self.hw.n_tbus)
        for c, x in (slowdown or {}).items():
            if not 0 <= int(c) < self.hw.n_clusters:
                raise ValueError(f"slowdown: cluster {limits.short(c)} is not in "
                                 f"[0, {self.hw.n_clusters})")
            if not 1.0 <= float(x) <= limits.MAX_SLOWDOWN:
                raise ValueError(f"slowdown: factor for cluster {c} must be in "
                                 f"[1, {limits.MAX_SLOWDOWN:g}], got {limits.short(x)}")
            K = self.hw.tbus_per_cluster
            f[int(c) * K:(int(c) + 1) * K] = float(x)
        return f

    def reset_members(self, rows: Sequence[int], seeds: Sequence[int],
                      rate_scale: Sequence[float] | None = None) -> None:
        """Start members ``rows`` afresh, member ``rows[i]`` seeded with ``seeds[i]`` (already
        derived, as ``self.seeds`` are); ``rate_scale[i]`` (> 0) multiplies its arrival rate
        for this run (a per-episode load; None: the model's rate)."""
        reset_members(self.model, self.state, rows, seeds, self.tbu_cfg, rate_scale)

    def clone(self, src: int, dst: int | Sequence[int]) -> None:
        """Copy member ``src``'s whole state into member(s) ``dst`` of this batch (one
        compiled call, :mod:`octogym.kernel.fork`): a clone given the same actions follows
        ``src`` event for event, and sees the same future draws whatever its actions."""
        dst = np.atleast_1d(np.asarray(dst, np.int64))
        clone_rows(self.state, np.full(dst.shape, int(src), np.int64), self.state, dst)

    def fork(self) -> Simulation:
        """An independent copy of this simulation at its current state (every member; the
        read-only model is shared)."""
        other = copy.copy(self)
        other.state = copy_state(self.state)
        other.seeds = list(self.seeds)
        return other

    def advance(self, until: int | None = None, actions: np.ndarray | None = None,
                active: np.ndarray | None = None, ext: int = 0) -> np.ndarray:
        """Advance active members to their next external decision, ``until``, or done.
        Grows pools as needed. Returns the members' statuses. ``ext``: the decision kinds
        that pause for an external action (``EXT_*`` bits of :mod:`octogym.kernel.layout`).

        ``until`` defaults to (and is capped at) ``self.horizon``; a member that would pass
        the horizon raises :class:`octogym.limits.TimeHorizonError` (int64 cycle counts and
        their sums would overflow beyond it, docs/limits.md)."""
        until = self.horizon if until is None else min(int(until), self.horizon)
        B = self.batch
        acts = np.full(B, -1, np.int64) if actions is None else np.asarray(actions, np.int64)
        act = np.ones(B, np.bool_) if active is None else np.asarray(active, np.bool_)
        while True:
            run_batch(self.model, self.state, self.policy, ext, int(until),
                      acts, act)
            grow = act & (field(self.state, "status") == ST_GROW)
            if not grow.any():
                break
            self.grow(grow)
            acts = np.where(grow, acts, -1)
            act = grow
        st = field(self.state, "status").copy()
        if until >= self.horizon and (st == ST_TIME).any():
            raise limits.TimeHorizonError(
                f"members {np.flatnonzero(st == ST_TIME).tolist()[:8]} reached the "
                f"simulated-time horizon of {self.horizon} cycles before finishing "
                "(docs/limits.md): durations, latencies or the request count are too large")
        return st

    def grow(self, members: np.ndarray) -> None:
        """Double the pools that members ``members`` (bool mask or indices; status ST_GROW)
        ran short of, for the whole batch (run them again afterwards)."""
        S = self.state
        margin = model_int(self.model, "margin")
        if (field(S, "fr_nfree")[members] < margin).any():
            S = grow_state(S, "F")
        if (field(S, "jb_nfree")[members] < margin).any() or \
                (field(S, "hp_len")[members] + margin > S.HP.shape[1]).any():
            S = grow_state(S, "J")
        if (field(S, "rq_nfree")[members] < 1).any():
            S = grow_state(S, "R")
        self.state = S

    def run(self, until: int | None = None) -> list[SimResult]:
        """Run every member to completion (or ``until``); returns one result per member."""
        if self.planner is not None:
            from octogym.planner import run_planned

            return run_planned(self, self.planner, until)
        st = self.advance(until)
        if (st == ST_STALLED).any():
            why = ("a policy deferred work that no TBU will ever take"
                   if self.hw.output_buffer == 0 else
                   "a policy deferred work that no TBU will ever take, or TBUs wait for output "
                   "buffer places that only work they keep from running would free: a deadlock "
                   "of bounded output buffers, docs/model.md §4")
            raise RuntimeError(f"simulation stalled in members {np.flatnonzero(st == ST_STALLED)}: "
                               f"work is waiting but no event is pending ({why})")
        if (st == ST_DECISION).any():
            raise RuntimeError("an external decision is pending; use advance() with actions")
        assert ((st == ST_DONE) | (st == ST_TIME)).all()
        return [self.result(b) for b in range(self.batch)]

    def result(self, b: int = 0) -> SimResult:
        return collect(self.model, self.state, b, self.hw.clock_ghz)

    def contention(self, b: int = 0) -> dict[str, int]:
        """Member ``b``'s link-wait and output-blocking counters
        (:func:`octogym.metrics.contention_metrics`) up to the end of its run (or now)."""
        S = self.state
        done = int(field(S, "n_done")[b]) >= model_int(self.model, "n_requests")
        end = int(field(S, "t_end")[b]) if done else int(field(S, "now")[b])
        return contention_metrics(self.model, S, b, end)


def _check_int(v: Any, what: str, lo: int, hi: int) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise ValueError(f"{what} must be an integer in [{lo}, {hi}], got {limits.short(v)}")


def _memory_message(what: str, need: int) -> str:
    return (f"{what} needs about {need / 2**20:.0f} MB, above the limit of "
            f"{limits.max_memory_bytes() / 2**20:.0f} MB; set OCTOGYM_MAX_MEMORY_MB to allow "
            "more (docs/limits.md)")
