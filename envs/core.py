"""The dynamics every environment shares: a batch of kernel members, each paused at a decision
of one kind, stepped together.

The single env (B = 1), the native vector env and the SB3 adapter all drive one
:class:`KernelBatch`; they differ only in how they present its arrays.

Episodes and seeds (ours): member ``b`` plays episodes ``k = 0, 1, ...`` from a *root* seed.
Episode 0 runs with the root itself, episode ``k > 0`` with ``member_seed(root, k)``. A single
env reset with ``seed=s`` (and member ``i`` of a vector env reset with the list
``seed=[s_0, s_1, ...]``) has root ``member_seed(s, 0)`` (resp. ``member_seed(s_i, 0)``), which
is exactly the seed of ``Simulation(..., seed=s)``; a vector env reset with the int ``seed=s``
gives member ``i`` root ``member_seed(s, i)``, as ``Simulation(..., seed=s, batch=N)`` does. A
reset without a seed continues each member's chain with its next episode.

Invalid actions (ours): an action outside the action space or masked out is replaced by the
nearest valid action (smallest ``|a - a'|``, the lower on a tie; :func:`fix_action`, after
:func:`octogym.envs.actions.kernel_actions` checked the shape and dtype and fixed fractional and
non-finite floats) and counted per episode in ``info["invalid_actions"]``. The kernel never sees
it, so it cannot corrupt the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from numba import njit, prange

from octogym.envs.actions import kernel_actions
from octogym.envs.bundles import MemberBuffers, StepConstants
from octogym.envs.config import MAX_REWARD_SCALE, EnvConfig, _is_int
from octogym.envs.decisions import Decision, observe_member
from octogym.envs.distribution import episode_loads
from octogym.envs.layout import layout, n_candidates, obs_size
from octogym.envs.reward import RewardAccount, account_member
from octogym.kernel import fields as L
from octogym.kernel.layout import (
    DEC_TBU,
    ST_DECISION,
    ST_DONE,
    ST_GROW,
    ST_TIME,
    STATUS_NAMES,
)
from octogym.kernel.loop import NO_ACTION, run_member
from octogym.limits import TimeHorizonError
from octogym.rng import member_seed
from octogym.simulator import Simulation
from octogym.threads import serial_and_parallel, threaded_steps
from octogym.workflows import expected_frequencies
from octogym.workflows.model import TaskBlock
from octogym.workflows.splits import pool_workflows

MASK64 = (1 << 64) - 1
NO_LIMIT = 2**62  # no time limit: run each member to its next decision or its end


def mix_scales(sim: Simulation) -> tuple[float, float, np.ndarray]:
    """``(tau, work, wf_work)``: expected cycles of one TB execution of the mix, expected
    TBU-cycles of one request of the mix, and of one request of each workflow (initial phase)."""
    weights = np.asarray(sim.mix.wf_weight, np.float64)
    works, tbs = [], []
    for wf in sim.workflows:
        fr = expected_frequencies(wf)
        works.append(fr.work)
        tbs.append(sum(fr.of(b.id) for b in wf.blocks if isinstance(b, TaskBlock)))
    wf_work = np.asarray(works, np.float64)
    work = float(weights @ wf_work)
    tau = work / max(float(weights @ np.asarray(tbs)), 1e-12)
    return tau, work, wf_work


def root_seed(seed: int, member: int = 0) -> int:
    """Root seed of member ``member`` reset with ``seed`` (module docstring)."""
    return member_seed(int(seed) & MASK64, member)


MAX_SKIPPED_EPISODES = 100
"""Episodes without any decision a member may skip in a row before ``start`` gives up."""

PARALLEL_MIN = 64
"""Batches of at least this many members step their members on all of numba's threads
(``NUMBA_NUM_THREADS``; set it to 1 to step serially; :func:`octogym.threads.threaded_steps`
also steps serially when OpenMP's threads spin). Smaller ones step on one thread, so a
one-member env (as inside ``AsyncVectorEnv``'s worker processes) or a small training batch
never starts a thread pool (numba's OpenMP layer is not fork-safe, docs/envs.md). The value is
our choice, not tuned."""


@njit(cache=True, inline="always")
def fix_action(actions, mask, b, invalid):
    """Replace an invalid ``actions[b]`` (outside ``[0, A)`` or masked out) by the nearest
    valid action (smallest ``|a - a'|``, the lower on a tie) and count it in ``invalid[b]``."""
    A = mask.shape[1]
    x = actions[b]
    if 0 <= x < A and mask[b, x]:
        return x
    # only the side of a far-away action matters; clipping keeps |k - x| from overflowing
    x = min(max(x, -1), A)
    best, dist = 0, A + 2
    for k in range(A):
        if mask[b, k] and abs(k - x) < dist:
            best, dist = k, abs(k - x)
    actions[b] = best
    invalid[b] += 1
    return best


def _step_members(M, S, c, m, rows, resume, actions, reward, term, trunc):
    """One env step of members ``rows``, each on its own: fix its action, turn it into a kernel
    action, run the member to its next decision (or its end), count the step, account its
    reward and build its next observation, while its state is still in the cache. ``c``: the
    batch's :class:`~octogym.envs.bundles.StepConstants`, ``m``: its
    :class:`~octogym.envs.bundles.MemberBuffers`; ``reward``, ``term``, ``trunc`` receive the
    step's results. Members that return ST_GROW are left there (the caller grows the pools and
    calls again with ``resume``: their action is already applied)."""
    ext = 1 << c.decision_kind
    ext_tbu = c.decision_kind == DEC_TBU
    SC = S.SC
    # Unpacked here: numba's parallel loop drops writes made through a namedtuple's array
    # fields in inlined code (fix_action, account_member and observe_member are inlined).
    obs, mask, home, steps, invalid, acc = m.obs, m.mask, m.home, m.steps, m.invalid, m.reward_acc
    for i in prange(rows.shape[0]):
        b = rows[i]
        kernel_action = NO_ACTION
        if not resume:
            a = fix_action(actions, mask, b, invalid)
            kernel_action = home[b] * c.K + a if ext_tbu else a
        st = run_member(M, S, b, c.kernel_policy, ext, NO_LIMIT, kernel_action)
        SC[b, L.SC_STATUS] = st
        if st == ST_GROW:
            continue
        steps[b] += 1
        term[b] = st == ST_DONE
        trunc[b] = st != ST_DONE and c.max_steps > 0 and steps[b] >= c.max_steps
        account_member(SC, b, acc, c.reward_kind, c.reward_scale, c.per_tbu, reward)
        observe_member(b, M, S, c, obs, mask, home)


step_serial, step_parallel = serial_and_parallel(_step_members, "step")


def _run_members(M, S, pol, ext, until, rows):
    """Run members ``rows`` (no pending action) to their next decision, ``until`` or their
    end, each on its own; its status goes to ``SC_STATUS`` (``loop.run_batch`` for a list of
    rows, so an episode start runs on the batch's threads as its steps do)."""
    SC = S.SC
    for i in prange(rows.shape[0]):
        b = rows[i]
        SC[b, L.SC_STATUS] = run_member(M, S, b, pol, ext, until, NO_ACTION)


run_serial, run_parallel = serial_and_parallel(_run_members, "run")


class KernelBatch:
    """``batch`` members of one scenario under the kernel, each waiting at a ``decision``."""

    def __init__(self, decision: Decision, batch: int, config: EnvConfig) -> None:
        controller = decision.default_controller if config.controller is None \
            else config.controller
        self.decision = decision
        self.controller = controller
        self.config = config
        workflows = pool_workflows(config.workflows, config.workflow_pool,
                                   config.generated_workflows, config.workflow_split)
        # a load range builds the model at its lowest load (the horizon check covers the
        # range); each episode scales its members' arrival rates (envs/distribution.py)
        self.load_range = config.load_range
        load = config.load if config.load_range is None else config.load_range[0]
        self.warmup = int(config.warmup_requests)
        self.sim = Simulation(workflows, config.hardware, load=load,
                              n_requests=config.requests_per_episode + self.warmup,
                              arrival=config.arrival, batch=batch, seed=0, policy=controller,
                              **decision.sim_options(controller, config.sim_options))
        hw = self.sim.hw
        self.hw = hw
        self.B = batch
        self.K, self.C, self.T = hw.tbus_per_cluster, hw.n_clusters, hw.n_tbus
        self.Q = hw.queue_capacity
        self.N = int(config.requests_per_episode) + self.warmup  # the model's requests
        self.max_steps = None if config.max_steps is None else int(config.max_steps)
        self.tau, self.work, self.wf_work = mix_scales(self.sim)
        self.n_actions = decision.batch_actions(self.sim)
        n_configs = int(self.sim.model.CFG.shape[1])  # for per-configuration features
        self.slices = layout(decision.features, self.K, self.C, n_configs, n_candidates(hw))
        self.obs_dim = obs_size(decision.features, self.K, self.C, n_configs, n_candidates(hw))
        # start of each feature, in table order (what the compiled builders index)
        self.offsets = np.array([self.slices[f.name].start for f in decision.features],
                                np.int64)
        if config.reward_scale is None:
            scale = 1.0 / self.tau if self.tau > 0 else float("inf")
            if not scale <= MAX_REWARD_SCALE:
                raise ValueError(f"the workflow mix's mean TB duration tau is {self.tau}, so "
                                 "the default reward_scale 1 / tau is too large: pass "
                                 "reward_scale")
        else:
            scale = float(config.reward_scale)
        self.rewards = RewardAccount(batch, config.reward, scale, self.C * self.K)
        self.rows = np.arange(batch)
        self.steps = np.zeros(batch, np.int64)
        self.invalid = np.zeros(batch, np.int64)
        self.root = [0] * batch
        self.episode = np.zeros(batch, np.int64)
        self.skipped_episodes = np.zeros(batch, np.int64)  # episodes with no decision, skipped
        self.episode_load = np.full(batch, float(config.load))  # each member's episode load
        self.obs = np.zeros((batch, self.obs_dim), np.float32)
        self.mask = np.ones((batch, self.n_actions), np.bool_)
        self.home = np.zeros(batch, np.int64)
        rw = self.rewards
        self.consts = StepConstants(
            decision_kind=decision.kind, kernel_policy=self.sim.policy,
            max_steps=self.max_steps or 0, reward_kind=rw.code, reward_scale=rw.scale,
            per_tbu=rw.per_tbu, K=self.K, C=self.C, Q=self.Q, T=self.T, N=self.N, tau=self.tau,
            work=self.work, wf_work=self.wf_work, feature_offsets=self.offsets)
        self.members = self.member_buffers()
        self.entities: dict[str, np.ndarray] | None = None
        if config.obs_mode == "entities":
            from octogym.envs import entities as E

            self.entity_sizes = E.entity_sizes(config, self.sim, decision, self.n_actions)
            self.entity_tables = E.EntityTables(self.sim, self.entity_sizes["blocks"])
            self.entity_space = E.entity_space(self.entity_sizes, config.tbu_detail)
            self.entities = E.entity_buffers(batch, self.entity_space)
        self.parallel = batch >= PARALLEL_MIN and threaded_steps()
        self._step = step_parallel if self.parallel else step_serial
        self._run = run_parallel if self.parallel else run_serial

    def member_buffers(self) -> MemberBuffers:
        """The per-member arrays the compiled step writes, bundled by name. They alias this
        batch's arrays: whoever replaces one of those arrays (a fork) rebuilds the bundle."""
        return MemberBuffers(obs=self.obs, mask=self.mask, home=self.home, steps=self.steps,
                             invalid=self.invalid, reward_acc=self.rewards.acc)

    # ---- episodes -------------------------------------------------------------------------
    def seed(self, rows: Sequence[int], roots: Sequence[int]) -> None:
        """Give members ``rows`` new root seeds; their next start plays episode 0."""
        for b, r in zip(rows, roots, strict=True):
            self.root[int(b)] = int(r) & MASK64
            self.episode[int(b)] = 0

    def episode_seed(self, b: int) -> int:
        k = int(self.episode[b])
        return self.root[b] if k == 0 else member_seed(self.root[b], k)

    def start(self, rows: np.ndarray) -> None:
        """Lay members ``rows`` out for their current episode and run them to their first
        decision (the caller advances ``episode`` between episodes). A member whose episode
        ends without any decision (a dispatch env's episode in which no work ever waited for
        a freed TBU) plays its next episode of the seed chain instead, counted in
        ``skipped_episodes``; after ``MAX_SKIPPED_EPISODES`` in a row it is an error."""
        rows = np.asarray(rows, np.int64)
        todo, skipped = rows, 0
        while True:
            seeds = [self.episode_seed(int(b)) for b in todo]
            if self.load_range is None:
                self.sim.reset_members(todo, seeds)
            else:
                self.episode_load[todo] = episode_loads(seeds, self.load_range)
                self.sim.reset_members(todo, seeds, self.episode_load[todo] / self.load_range[0])
            self.rewards.clear(todo)
            self.steps[todo] = 0
            self.invalid[todo] = 0
            if self.warmup:
                self.warm_up(todo)
            st = self.advance(todo)
            empty = todo[st[todo] == ST_DONE]
            bad = todo[(st[todo] != ST_DECISION) & (st[todo] != ST_DONE)]
            if empty.size and not bad.size and skipped < MAX_SKIPPED_EPISODES:
                self.skipped_episodes[empty] += 1
                self.episode[empty] += 1
                todo, skipped = empty, skipped + 1
                continue
            bad = np.concatenate([bad, empty])
            if bad.size:
                b = int(bad[0])
                raise RuntimeError(
                    f"member {b} (seed {self.episode_seed(b)}) reached status "
                    f"{STATUS_NAMES[int(st[b])]!r} before its first {self.decision.name} "
                    f"decision{f' in {skipped + 1} episodes in a row' if skipped else ''}: "
                    "the scenario must need at least one such decision per episode")
            break
        self.observe(rows)

    def warm_up(self, rows: np.ndarray) -> None:
        """The kernel's controller alone runs members ``rows`` (just reset) for
        ``warmup_requests / rate`` cycles (their rates); their reward accounts start there
        (envs/distribution.py)."""
        sim = self.sim
        rate = float(sim.model.MF[L.MF_RATE])
        for b in rows:
            scale = sim.state.SF[b, L.SF_RATE_SCALE]
            until = int(self.warmup / (rate * (scale if scale > 0 else 1.0)))
            todo = np.array([b], np.int64)
            while True:
                self._run(sim.model, sim.state, sim.policy, 0, until, todo)
                if sim.state.SC[b, L.SC_STATUS] != ST_GROW:
                    break
                sim.grow(todo)
        self.rewards.mark(sim.state.SC, rows)

    def advance(self, rows: np.ndarray) -> np.ndarray:
        """``Simulation.advance`` of members ``rows`` (no pending action) to their next
        decision of this batch's kind, on the batch's threads. Returns every member's status
        (``SC_STATUS``; those of ``rows`` are new)."""
        sim = self.sim
        todo = rows
        while True:
            self._run(sim.model, sim.state, sim.policy, self.decision.ext, sim.horizon, todo)
            grow = sim.state.SC[todo, L.SC_STATUS] == ST_GROW
            if not grow.any():
                break
            todo = todo[grow]
            sim.grow(todo)
        st = sim.state.SC[:, L.SC_STATUS].copy()
        if (st[rows] == ST_TIME).any():
            raise TimeHorizonError(
                f"members {rows[st[rows] == ST_TIME].tolist()[:8]} reached the simulated-time "
                f"horizon of {sim.horizon} cycles before finishing (docs/limits.md): "
                "durations, latencies or the request count are too large")
        return st

    def next_episode(self, rows: np.ndarray) -> None:
        self.episode[rows] += 1
        self.start(rows)

    def set_requests_per_episode(self, n: int) -> None:
        """Episodes end after ``n`` requests from now on (an episode-length curriculum;
        ``1 <= n <`` the ``requests_per_episode`` the batch was built with, which sized its
        state and stays the largest). Takes effect at once: an episode under way ends once it
        has finished ``n`` (its next step, if it already has). Forks share the setting. The
        episodes equal those of a batch built with ``n``, except under a controller whose
        initial layout looks at the run's length (``static``'s ``tbu_init="best"``)."""
        top = int(self.config.requests_per_episode)
        if not _is_int(n) or not 1 <= n <= top:
            raise ValueError(f"requests_per_episode must be an integer in [1, {top}] (the "
                             f"env's requests_per_episode option), got {n!r}")
        self.N = int(n) + self.warmup
        self.sim.model.MI[L.MI_N_REQUESTS] = self.N
        self.consts = self.consts._replace(N=self.N)

    # ---- stepping -------------------------------------------------------------------------
    def observe(self, rows: np.ndarray) -> None:
        """Refresh ``obs``, ``mask`` and ``home`` of members ``rows`` (and ``entities``)."""
        self.decision.observe(self, rows)
        self._observe_entities(rows)

    def _observe_entities(self, rows: np.ndarray) -> None:
        if self.entities is not None:
            from octogym.envs.entities import observe_entities

            observe_entities(self, rows)

    def observation_space(self) -> spaces.Space:
        """One member's observation space: a ``Box`` (``obs_mode="flat"``) or the entity
        ``Dict`` (:mod:`octogym.envs.entities`)."""
        if self.entities is not None:
            return self.entity_space
        return spaces.Box(0.0, 1.0, (self.obs_dim,), np.float32)

    def observation(self, b: int | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """A copy of member ``b``'s observation (``None``: every member's, batched) in the
        batch's ``obs_mode``."""
        if self.entities is None:
            return self.obs.copy() if b is None else self.obs[b].copy()
        if b is None:
            return {k: v.copy() for k, v in self.entities.items()}
        return {k: v[b].copy() for k, v in self.entities.items()}

    def step(self, actions: Any, active: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply one action per member (``active`` members only) and run each to its next
        decision or the end of its episode. Returns ``(reward, terminated, truncated)`` for all
        members (zeros / False for inactive ones); ``obs``/``mask`` are refreshed."""
        stepped = rows = self.rows if active is None else self.rows[active]
        a = kernel_actions(actions, self.mask, self.invalid, rows)
        reward = np.zeros(self.B)
        term = np.zeros(self.B, np.bool_)
        trunc = np.zeros(self.B, np.bool_)
        resume = False
        while True:
            sim = self.sim
            self._step(sim.model, sim.state, self.consts, self.members, rows, resume, a,
                       reward, term, trunc)
            st = sim.state.SC[rows, L.SC_STATUS]
            grow = st == ST_GROW
            if not grow.any():
                break
            rows, resume = rows[grow], True
            sim.grow(rows)
        self._observe_entities(stepped)
        st = self.sim.state.SC[stepped, L.SC_STATUS]
        bad = stepped[(st != ST_DONE) & (st != ST_DECISION)]
        if bad.size:
            b = int(bad[0])
            raise RuntimeError(f"member {b} reached status "
                               f"{STATUS_NAMES[int(self.sim.state.SC[b, L.SC_STATUS])]!r} "
                               "(the kernel stalled or was asked to stop early)")
        if (self.sim.state.SC[stepped, L.SC_NOW] > self.sim.horizon).any():
            raise TimeHorizonError(f"a member passed the simulated-time horizon of "
                                   f"{self.sim.horizon} cycles (docs/limits.md)")
        return reward, term, trunc

    # ---- read-outs ------------------------------------------------------------------------
    def now(self) -> np.ndarray:
        return self.sim.state.SC[:, L.SC_NOW].copy()

    def info(self, b: int) -> dict[str, Any]:
        """The per-step info of member ``b`` (the single env's ``info``)."""
        return {"action_mask": self.mask[b].copy(), "invalid_actions": int(self.invalid[b]),
                "time": int(self.sim.state.SC[b, L.SC_NOW])}

    def infos(self) -> dict[str, Any]:
        """The batched per-step info, laid out as gymnasium's vector envs lay out ``info``."""
        one = np.ones(self.B, np.bool_)
        return {"action_mask": self.mask.copy(), "_action_mask": one,
                "invalid_actions": self.invalid.copy(), "_invalid_actions": one.copy(),
                "time": self.now(), "_time": one.copy()}

    def metrics(self, b: int) -> dict[str, Any]:
        """Episode metrics of member ``b`` (``SimResult.to_dict()`` plus env counters)."""
        d = self.sim.result(b).to_dict()
        d["episode_steps"] = int(self.steps[b])
        d["env_invalid_actions"] = int(self.invalid[b])
        if self.load_range is not None:
            d["episode_load"] = float(self.episode_load[b])
        return d

    def final_info(self, b: int) -> dict[str, Any]:
        """Info of member ``b``'s last step: the step info plus ``metrics``."""
        return {**self.info(b), "metrics": self.metrics(b)}
