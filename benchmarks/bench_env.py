"""Environment throughput, side by side: env steps (= scheduling decisions) per second of

* one env via ``gym.make``;
* ``SyncVectorEnv`` of it (``gym.make_vec(..., vectorization_mode="sync")``, N = 64 and the
  largest native N, for the comparison at equal N);
* the native vector env (``vectorization_mode="vector_entry_point"``, N = 64, 256, 1024), on
  all of numba's threads (it steps its members in parallel from N = 64,
  ``octogym.envs.core.PARALLEL_MIN``) and, at the largest N, on one thread;
* the SB3 adapter (``make_sb3_vec_env``, N = the largest native N);
* the raw kernel's decision rate with the same heuristic compiled in (``Simulation.run()``
  with ``policy="least_loaded"``: TB instances placed per second for TBU assignment, requests
  placed per second for cluster assignment), at the same N: the limit. On one thread, as
  ``Simulation`` runs, and at the native sizes also on all threads (members in parallel), so
  each env figure is compared with the kernel on as many threads as it used itself;
* the *ceiling* of any environment that steps each member one decision at a time: the kernel
  paused at every decision as in the env (same controller), the least-loaded action computed
  in compiled code, members visited round-robin, with no Python, no observation and no reward
  (:func:`ext_rounds`). The raw kernel runs one member to its end while its state stays in the
  caches; here, as in any vector env, a member's state has left them by its next turn.

Every env variant plays the same heuristic from its observations (least-loaded TBU / cluster,
lowest id on ties; for dispatch the shortest expected duration, ``sed``), as the raw and ceiling
runs do in compiled code. The level the agent does not control runs the env's default
controller in the env and ceiling runs (``proactive`` / ``adaptive`` / ``static``) and
``least_loaded`` in the raw run. The raw kernel does not count the dispatch decisions it takes
itself, so for the Dispatch ids its rows are ``nan``.

``--side-by-side`` measures only the native vector env at the largest N for several ids (by
default every id in ``ENV_IDS``), every id in turn for ``--rounds`` rounds (a change in the
machine's load hits every id alike), and prints each one's median steps/s and median ratio to
``TBUAssign-v0``'s, beside its simulated work per second and per step (TB executions and
kernel events, :class:`WorkCount`): a level whose decisions are rarer simulates more per step;
and its *raw-kernel bound*: the raw kernel's events/s (members run to their ends in the caches,
:func:`raw_events_per_second`) over the id's events per step, the most steps/s any env stepping
that id could reach, also as a ratio to ``TBUAssign-v0``'s env.
An id whose registration sets ``requests_per_episode`` (``ENV_OPTIONS``: Dispatch-Wafer-v0)
keeps it unless ``--requests`` is given.

    python benchmarks/bench_env.py                       # TBUAssign-v0, ~2 minutes
    python benchmarks/bench_env.py --env octogym/ClusterAssign-v0 --seconds 2
    python benchmarks/bench_env.py --side-by-side --sizes 1024 --seconds 4 --rounds 5
    python benchmarks/bench_env.py --env octogym/Place-v0 --sizes 1024 --sync-sizes 64
    python benchmarks/bench_env.py --obs-modes --sizes 64,1024   # flat vs entities only

``--obs-modes`` compares the native vector env's observation modes side by side instead
(``obs_mode="flat"`` against ``"entities"``, without and with ``tbu_detail``, docs/envs.md):
all play the same least-loaded heuristic from the flat observation the fused step builds in
every mode, so they take the same decisions and the ratios are the cost of building the entity
observations.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import numba
import numpy as np
from numba import njit, prange

import octogym  # noqa: F401  (registers the ids)
from octogym.envs import ENV_IDS, make_sb3_vec_env
from octogym.envs.decisions import DECISIONS
from octogym.kernel import fields as L
from octogym.kernel.dispatch import D_SED, dispatch_rule
from octogym.kernel.layout import (
    EXT_DISPATCH,
    EXT_PLACE,
    EXT_PROVISION,
    EXT_TBU,
    ST_DECISION,
    ST_GROW,
)
from octogym.kernel.loop import run_member
from octogym.kernel.policies import least_loaded_cluster, least_loaded_tbu
from octogym.simulator import Simulation

DEFAULT_REQUESTS = 200  # requests per episode unless --requests (or the id's registration)


@njit(parallel=True, cache=True)
def run_parallel(M, S, pol, active):
    """``run_batch`` with the members spread over numba's threads (each to its end)."""
    SC = S.SC
    for b in prange(SC.shape[0]):
        if active[b]:
            SC[b, L.SC_STATUS] = run_member(M, S, b, pol, 0, 2**62, -1)


# Not cached: a test loads this file by path, and numba cannot load a cache entry written from
# such a module ('<dynamic>') when this file runs as a script.
@njit(parallel=True)
def ext_rounds(M, S, pol, ext, acts, state):
    """Round-robin over members, one decision each per round, until every member is done
    (``state`` 1) or some member needs bigger pools (``state`` 2: grow, then call again).
    The action is the least-loaded TBU / cluster, as ``heuristic`` picks it. Returns the
    number of decisions made."""
    n = 0
    live = 1
    while live > 0:
        live = 0
        grow = 0
        for b in prange(acts.shape[0]):
            if state[b] != 0:
                continue
            st = run_member(M, S, b, pol, ext, 2**62, acts[b])
            acts[b] = -1
            if st == ST_GROW:
                state[b] = 2
                grow += 1
            elif st != ST_DECISION:
                state[b] = 1
            else:
                j = S.SC[b, L.SC_DQ_HEAD]
                if ext & EXT_DISPATCH:
                    acts[b] = dispatch_rule(M, S, b, S.SC[b, L.SC_DEC_TBU], D_SED, pol)
                elif ext & EXT_PROVISION:  # keep (the controller places)
                    acts[b] = M.MI[L.MI_K] * M.CFG.shape[1]
                elif ext & EXT_PLACE:  # least-loaded TBU of the home cluster, else wait there
                    c = S.RQ[b, S.JB[b, j, L.JB_REQ], L.RQ_HOME]
                    u = least_loaded_tbu(M, S, b, c)
                    acts[b] = u if u >= 0 else M.MI[L.MI_T] + c
                elif ext & EXT_TBU:
                    c = S.RQ[b, S.JB[b, j, L.JB_REQ], L.RQ_HOME]
                    acts[b] = least_loaded_tbu(M, S, b, c)
                else:
                    acts[b] = least_loaded_cluster(M, S, b)
                n += 1
                live += 1
        if grow > 0:
            break
    return n


def bench_ceiling(env_id: str, n: int, kw: dict, seconds: float) -> float:
    """Decisions per second of :func:`ext_rounds` (construction and growth excluded)."""
    spec = gym.spec(env_id)
    decision = next(d for k, d in DECISIONS.items() if k in env_id)
    hw = kw.get("hardware", spec.kwargs["hardware"])
    done, busy, seed = 0, 0.0, 0
    while busy < seconds:
        sim = Simulation(kw.get("workflows"), hw, load=kw["load"],
                         n_requests=kw["requests_per_episode"], batch=n, seed=seed,
                         policy=decision.default_controller)
        seed += 1
        acts = np.full(n, -1, np.int64)
        state = np.zeros(n, np.int64)
        while (state != 1).any():
            t0 = time.perf_counter()
            done += ext_rounds(sim.model, sim.state, sim.policy, decision.ext, acts,
                               state)
            busy += time.perf_counter() - t0
            grow = state == 2
            if grow.any():
                sim.grow(grow)
                state[grow] = 0
    return done / busy


def heuristic(env_id: str, slices: dict[str, slice], K: int, Q: int
              ) -> Callable[[np.ndarray], np.ndarray]:
    """Least-loaded choice (dispatch: shortest expected duration; provision: keep) from a
    batch of observations (B, D) -> actions (B,)."""
    if "Dispatch" in env_id:
        valid, dur = slices["cand_valid"], slices["cand_expected_duration"]

        def act(obs: np.ndarray) -> np.ndarray:
            return np.argmin(np.where(obs[:, valid] > 0.5, obs[:, dur], np.inf), axis=1)
        return act
    if "Provision" in env_id:  # keep: the last action, K * NCFG
        tc = slices["tbu_config"]

        def act(obs: np.ndarray) -> np.ndarray:
            return np.full(len(obs), tc.stop - tc.start, np.int64)
        return act
    if "Place" in env_id:  # least-loaded TBU of the home cluster, else wait at home
        ch, queue = slices["cluster_home"], slices["tbu_queue"]
        C = ch.stop - ch.start

        def act(obs: np.ndarray) -> np.ndarray:
            home = np.argmax(obs[:, ch], axis=1)
            q = obs[:, queue].reshape(len(obs), C, K)[np.arange(len(obs)), home]
            k = np.argmin(np.where(q < 1, q, np.inf), axis=1)
            return np.where((q < 1).any(axis=1), home * K + k, C * K + home)
    elif "TBUAssign" in env_id:
        free, queue = slices["tbu_free_slot"], slices["tbu_queue"]

        def act(obs: np.ndarray) -> np.ndarray:
            return np.argmin(np.where(obs[:, free] > 0.5, obs[:, queue], np.inf), axis=1)
    else:
        cq, cb = slices["cluster_queue"], slices["cluster_backlog"]

        def act(obs: np.ndarray) -> np.ndarray:
            s = obs[:, cb].astype(np.float64)
            return np.argmin(np.rint(obs[:, cq] * (K * Q)) + np.rint(K * s / (1 - s)), axis=1)
    return act


def timed(step: Callable[[], int], seconds: float, warmup: int = 20) -> float:
    """Steps per second of ``step`` (which returns the env steps it took)."""
    for _ in range(warmup):
        step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += step()
    return n / (time.perf_counter() - t0)


class WorkCount:
    """Simulated work of a native vector env while it runs: TB executions, kernel events and
    episodes, counted from the kernel's counters (``SC_N_TB_DONE``, ``SC_N_EVENTS``). A member
    reset zeroes them, so :meth:`attach` wraps ``Simulation.reset_members`` to bank a
    member's counts first (episodes a dispatch env skips for want of a decision included)."""

    def __init__(self, venv: gym.vector.VectorEnv) -> None:
        self.sim = venv.unwrapped.core.sim
        self.tb = self.events = self.episodes = self.decisions = 0
        self.steps = venv.unwrapped.core.steps
        self._reset = self.sim.reset_members

    def attach(self) -> None:
        SC = self.sim.state.SC
        self.tb = -int(SC[:, L.SC_N_TB_DONE].sum())
        self.events = -int(SC[:, L.SC_N_EVENTS].sum())
        self.episodes = self.decisions = 0

        def reset_members(rows, seeds):
            SC = self.sim.state.SC
            rows = np.asarray(rows, np.int64)
            self.tb += int(SC[rows, L.SC_N_TB_DONE].sum())
            self.events += int(SC[rows, L.SC_N_EVENTS].sum())
            self.episodes += len(rows)  # (an episode skipped for want of a decision has 0)
            self.decisions += int(self.steps[rows].sum())
            self._reset(rows, seeds)
        self.sim.reset_members = reset_members

    def detach(self) -> tuple[int, int, float]:
        """``(TB executions, events, decisions per ended episode)`` since :meth:`attach`."""
        self.sim.reset_members = self._reset
        SC = self.sim.state.SC
        return (self.tb + int(SC[:, L.SC_N_TB_DONE].sum()),
                self.events + int(SC[:, L.SC_N_EVENTS].sum()),
                self.decisions / max(self.episodes, 1))


def bench_single(env_id: str, kw: dict, seconds: float) -> float:
    env = gym.make(env_id, **kw)
    core = env.unwrapped.core
    act = heuristic(env_id, core.slices, core.K, core.Q)
    state = {"obs": env.reset(seed=0)[0]}

    def step() -> int:
        obs, _, term, trunc, _ = env.step(int(act(state["obs"][None])[0]))
        state["obs"] = env.reset()[0] if term or trunc else obs
        return 1
    return timed(step, seconds)


def bench_vector(venv: gym.vector.VectorEnv, env_id: str, core, seconds: float) -> float:
    act = heuristic(env_id, core.slices, core.K, core.Q)
    state = {"obs": venv.reset(seed=0)[0]}
    n = venv.num_envs

    def step() -> int:
        state["obs"] = venv.step(act(state["obs"]))[0]
        return n
    return timed(step, seconds, warmup=5)


def kernel_share(venv: gym.vector.VectorEnv, env_id: str, seconds: float) -> tuple[float, float]:
    """Where a native step's time goes: ``(fraction in the fused compiled step, the env steps
    per second of that step alone)``."""
    core = venv.unwrapped.core
    inner, spent = core._step, [0.0]

    def timed_step(*args):
        t0 = time.perf_counter()
        inner(*args)
        spent[0] += time.perf_counter() - t0
    core._step = timed_step
    t0 = time.perf_counter()
    sps = bench_vector(venv, env_id, core, seconds)
    total = time.perf_counter() - t0
    core._step = inner
    steps = sps * total  # approximately (warm-up included in both)
    return spent[0] / total, steps / spent[0]


def bench_sb3(env_id: str, n: int, kw: dict, seconds: float) -> float:
    venv = make_sb3_vec_env(env_id, n_envs=n, seed=0, **kw)
    core = venv.venv.core
    act = heuristic(env_id, core.slices, core.K, core.Q)
    state = {"obs": venv.reset()}

    def step() -> int:
        state["obs"] = venv.step(act(state["obs"]))[0]
        return n
    return timed(step, seconds, warmup=5)


def bench_kernel(env_id: str, n: int, kw: dict, seconds: float, threads: bool = False
                 ) -> float:
    """Decisions per second of whole kernel runs (construction and reset excluded), on one
    thread (``Simulation.run``) or with the members spread over all threads."""
    if "Dispatch" in env_id:
        return float("nan")  # the kernel does not count the dispatch decisions it takes itself
    spec = gym.spec(env_id)
    hw = kw.get("hardware", spec.kwargs["hardware"])
    tbu = "Cluster" not in env_id  # TBUAssign and Place decide per TB instance
    done, busy = 0, 0.0
    while busy < seconds:
        sim = Simulation(kw.get("workflows"), hw, load=kw["load"],
                         n_requests=kw["requests_per_episode"], batch=n, seed=done,
                         policy="least_loaded")
        t0 = time.perf_counter()
        if threads:
            active = np.ones(n, np.bool_)
            while active.any():
                run_parallel(sim.model, sim.state, sim.policy, active)
                active = sim.state.SC[:, L.SC_STATUS] == ST_GROW
                if active.any():
                    sim.grow(active)
            res = [sim.result(b) for b in range(n)]
        else:
            res = sim.run()
        busy += time.perf_counter() - t0
        done += sum(r.tb_executions if tbu else r.n_requests for r in res)
    return done / busy


def bench_work(venv: gym.vector.VectorEnv, env_id: str, seconds: float
               ) -> tuple[float, float, float]:
    """``(steps/s, TB executions/s, events/s)`` of a native vector env playing ``heuristic``
    (after a warm-up; the simulated work counted by :class:`WorkCount`)."""
    core = venv.unwrapped.core
    act = heuristic(env_id, core.slices, core.K, core.Q)
    obs = venv.reset(seed=0)[0]
    for _ in range(5):
        obs = venv.step(act(obs))[0]
    count = WorkCount(venv)
    count.attach()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        obs = venv.step(act(obs))[0]
        steps += venv.num_envs
    dt = time.perf_counter() - t0
    tb, events, _ = count.detach()
    return steps / dt, tb / dt, events / dt


def side_by_side(ids: list[str], n: int, load: float, requests: int | None, seconds: float,
                 rounds: int) -> None:
    """Native vector env steps/s at ``n`` members for each id, and the ratio to
    ``octogym/TBUAssign-v0``: ``rounds`` rounds that measure every id in turn (so a change in
    the machine's load hits every id alike), the median per id and of the per-round ratios.
    Beside them the simulated work per second (TB executions, kernel events) and per step:
    an id whose decisions are rarer (Dispatch) simulates more per step, so its steps/s alone
    understates its throughput."""
    base_id = "octogym/TBUAssign-v0"
    ids = [base_id] + [i for i in ids if i != base_id]
    per_id = {i: requests or gym.spec(i).kwargs.get("requests_per_episode", DEFAULT_REQUESTS)
              for i in ids}
    print(f"native vector env, N={n}, load={load}, requests/episode={requests or 'default'}, "
          f"{seconds:.0f}s each, {rounds} rounds, numba threads={numba.get_num_threads()}")
    envs = {i: gym.make_vec(i, num_envs=n, vectorization_mode="vector_entry_point", load=load,
                            requests_per_episode=per_id[i]) for i in ids}
    runs: dict[str, list[tuple[float, float, float]]] = {i: [] for i in ids}
    raw: dict[str, list[float]] = {i: [] for i in ids}
    for r in range(rounds):
        for i, venv in envs.items():
            runs[i].append(bench_work(venv, i, seconds))
            raw[i].append(raw_events_per_second(i, n, load, per_id[i], seconds))
        print(f"round {r}: " + ", ".join(f"{i.split('/')[1]} {runs[i][-1][0]:,.0f}"
                                         for i in ids), flush=True)
    base = np.array([x[0] for x in runs[base_id]])
    print("| id | steps/s | ratio to TBUAssign-v0 | TB executions/s | events/s "
          "| TB executions/step | events/step | raw-kernel bound (steps/s) "
          "| bound / TBUAssign-v0 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i in ids:
        sps, tb, ev = (np.array(x) for x in zip(*runs[i], strict=True))
        bound = np.array(raw[i]) / (ev / sps)
        print(f"| `{i}` ({per_id[i]} requests) | {np.median(sps):,.0f} | "
              f"{np.median(sps / base):.2f} | "
              f"{np.median(tb):,.0f} | {np.median(ev):,.0f} | {np.median(tb / sps):.2f} | "
              f"{np.median(ev / sps):.2f} | {np.median(bound):,.0f} | "
              f"{np.median(bound / base):.2f} |")
    print("(medians over the rounds; the ratios are medians of the per-round ratios. The "
          "bound is the raw kernel's events/s (raw_events_per_second: members run to their "
          "ends in the caches, no pauses, no observations) over the id's events per step: no "
          "env stepping the id can exceed it)")


def raw_sim(env_id: str, n: int, load: float, requests: int, seed: int) -> Simulation:
    """``n`` members of the id's hardware and controller, with the dispatch rule its benchmark
    heuristic plays compiled in (``sed`` for the Dispatch ids, else FIFO). Run to their ends by
    :func:`run_to_end`, for Dispatch ids they simulate exactly the env's episodes
    (tests/test_envs_vector.py); for the others the controller also makes the agent's
    choices, so the work is alike, not equal."""
    decision = next(d for k, d in DECISIONS.items() if k in env_id)
    return Simulation(None, gym.spec(env_id).kwargs["hardware"], load=load,
                      n_requests=requests, batch=n, seed=seed,
                      policy=decision.default_controller,
                      dispatch="sed" if "Dispatch" in env_id else "fifo")


def run_to_end(sim: Simulation) -> float:
    """Run every member of ``sim`` to its end with :func:`run_parallel` (its state in the
    caches, no pause, no observation, no Python); the seconds it took, pool growth excluded."""
    busy = 0.0
    active = np.ones(sim.state.SC.shape[0], np.bool_)
    while active.any():
        t0 = time.perf_counter()
        run_parallel(sim.model, sim.state, sim.policy, active)
        busy += time.perf_counter() - t0
        active = sim.state.SC[:, L.SC_STATUS] == ST_GROW
        if active.any():
            sim.grow(active)
    return busy


def raw_events_per_second(env_id: str, n: int, load: float, requests: int,
                          seconds: float) -> float:
    """Kernel events per second of :func:`raw_sim` runs (:func:`run_to_end`). Divided by the
    id's events per env step it is the most steps/s any env stepping that id could reach
    (``--side-by-side``'s bound)."""
    events, busy, seed = 0, 0.0, 0
    while busy < seconds:
        sim = raw_sim(env_id, n, load, requests, seed)
        busy += run_to_end(sim)
        events += int(sim.state.SC[:, L.SC_N_EVENTS].sum())
        seed += 1
    return events / busy


OBS_VARIANTS = {"flat": {"obs_mode": "flat"}, "entities": {"obs_mode": "entities"},
                "+tbu_detail": {"obs_mode": "entities", "tbu_detail": True}}
"""The ``--obs-modes`` columns: the env options of each observation variant."""


def bench_obs_modes(env_id: str, sizes: list[int], kw: dict, seconds: float) -> None:
    """Native vector env steps/s with flat observations, entity ones and entity ones with the
    ``tbu_detail`` columns, side by side (ratios to flat)."""
    print(f"{'N':>6} {'flat steps/s':>14} {'entities steps/s':>18} {'entities / flat':>16} "
          f"{'+tbu_detail / flat':>19}")
    for n in sizes:
        sps = {}
        for mode, opts in OBS_VARIANTS.items():
            venv = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point",
                                **opts, **kw)
            core = venv.unwrapped.core
            act = heuristic(env_id, core.slices, core.K, core.Q)
            venv.reset(seed=0)

            def step(venv=venv, core=core, act=act) -> int:
                venv.step(act(core.obs))
                return venv.num_envs
            sps[mode] = timed(step, seconds, warmup=5)
            venv.close()
        print(f"{n:>6} {sps['flat']:>14,.0f} {sps['entities']:>18,.0f} "
              f"{sps['entities'] / sps['flat']:>16.3f} "
              f"{sps['+tbu_detail'] / sps['flat']:>19.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="octogym/TBUAssign-v0")
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per variant")
    ap.add_argument("--sizes", default="64,256,1024", help="native vector env sizes")
    ap.add_argument("--sync-sizes", default="64,1024", help="SyncVectorEnv sizes")
    ap.add_argument("--load", type=float, default=0.8)
    ap.add_argument("--requests", type=int, default=None,
                    help=f"requests per episode (default {DEFAULT_REQUESTS}; --side-by-side: "
                    "an id's registered value if it sets one)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of --side-by-side")
    ap.add_argument("--side-by-side", nargs="?", const=",".join(ENV_IDS), default=None,
                    metavar="IDS", help="only the native vector env at the largest N, for "
                    "these comma-separated ids (default: all), with ratios to TBUAssign-v0")
    ap.add_argument("--obs-modes", action="store_true",
                    help="only compare obs_mode flat and entities (native env, --sizes)")
    a = ap.parse_args()
    kw = {"load": a.load, "requests_per_episode": a.requests or DEFAULT_REQUESTS}
    sizes = [int(s) for s in a.sizes.split(",")]
    if a.side_by_side is not None:
        side_by_side(a.side_by_side.split(","), sizes[-1], a.load, a.requests, a.seconds,
                     a.rounds)
        return
    if a.obs_modes:
        print(f"{a.env}  load={a.load}  requests/episode={kw['requests_per_episode']}  "
              f"{a.seconds:.0f}s per variant  numba threads={numba.get_num_threads()}")
        bench_obs_modes(a.env, sizes, kw, a.seconds)
        return
    sync_sizes = [int(s) for s in a.sync_sizes.split(",")]
    sec = a.seconds

    Simulation(None, "chip", n_requests=2).run()  # compile / load the kernel first
    warm = Simulation(None, "chip", n_requests=2)
    run_parallel(warm.model, warm.state, warm.policy, np.ones(1, np.bool_))
    ext_rounds(warm.model, warm.state, warm.policy, EXT_TBU, np.full(1, -1),
               np.zeros(1, np.int64))
    rows: list[tuple[str, int, float, float | None]] = []

    def add(name: str, n: int, sps: float, kernel: float | None = None) -> None:
        rows.append((name, n, sps, kernel))
        ratio = f"{sps / kernel:6.2f}" if kernel and kernel == kernel else "     -"
        print(f"{name:<34} N={n:<5d} {sps:>12,.0f} steps/s   kernel ratio {ratio}", flush=True)

    threads = numba.get_num_threads()
    print(f"{a.env}  load={a.load}  requests/episode={kw['requests_per_episode']}  "
          f"{sec:.0f}s per variant  numba threads={threads}")
    big = sizes[-1]
    kernel = {n: bench_kernel(a.env, n, kw, sec) for n in sorted({1, *sync_sizes, *sizes})}
    kernel_all = {n: bench_kernel(a.env, n, kw, sec, threads=True) for n in sizes}
    kernel_mt = kernel_all[big]
    ceiling = {n: bench_ceiling(a.env, n, kw, sec) for n in sizes}
    numba.set_num_threads(1)
    ceiling_1 = bench_ceiling(a.env, big, kw, sec)
    numba.set_num_threads(threads)
    add("gym.make (single env)", 1, bench_single(a.env, kw, sec), kernel[1])
    sync_sps = {}
    for n in sync_sizes:
        sync = gym.make_vec(a.env, num_envs=n, vectorization_mode="sync", **kw)
        sync_sps[n] = bench_vector(sync, a.env, sync.envs[0].unwrapped.core, sec)
        add("SyncVectorEnv", n, sync_sps[n], kernel[n])
        sync.close()
    native = {}
    for n in sizes:
        venv = gym.make_vec(a.env, num_envs=n, vectorization_mode="vector_entry_point", **kw)
        native[n] = bench_vector(venv, a.env, venv.unwrapped.core, sec)
        add(f"native vector env, {threads} threads", n, native[n], kernel_all[n])
    numba.set_num_threads(1)
    venv = gym.make_vec(a.env, num_envs=big, vectorization_mode="vector_entry_point", **kw)
    native_1 = bench_vector(venv, a.env, venv.unwrapped.core, sec)
    add("native vector env, 1 thread", big, native_1, kernel[big])
    numba.set_num_threads(threads)
    add("SB3 adapter", big, bench_sb3(a.env, big, kw, sec), kernel_mt)
    venv = gym.make_vec(a.env, num_envs=big, vectorization_mode="vector_entry_point", **kw)
    share, ext_rate = kernel_share(venv, a.env, sec)
    for n in sorted(kernel):
        add("raw kernel (Simulation.run), 1 thread", n, kernel[n])
    for n in sizes:
        add(f"raw kernel, {threads} threads", n, kernel_all[n])
    for n in sizes:
        add(f"env ceiling (compiled), {threads} threads", n, ceiling[n], kernel_all[n])
    add("env ceiling (compiled), 1 thread", big, ceiling_1, kernel[big])

    sync_big = sync_sps.get(big, sync_sps[max(sync_sps)])
    print(f"\nnative N={big}: {native[big]:,.0f} steps/s = {native[big] / sync_big:.1f}x "
          f"SyncVectorEnv (N={big if big in sync_sps else max(sync_sps)}); "
          f"{native[big] / kernel_mt:.2f}x the raw kernel on {threads} threads "
          f"({kernel_mt:,.0f} decisions/s); on 1 thread {native_1:,.0f} steps/s = "
          f"{native_1 / kernel[big]:.2f}x the raw kernel on 1 thread ({kernel[big]:,.0f})")
    print(f"native N={big}: {share:.0%} of the step is the fused kernel step (advancing, "
          f"rewards, observations: {ext_rate:,.0f} steps/s), {1 - share:.0%} the rest "
          "(Python, episode ends, infos)")
    print(f"env ceiling N={big}: {ceiling[big]:,.0f} decisions/s on {threads} threads = "
          f"{ceiling[big] / kernel_mt:.2f}x the raw kernel; the native env reaches "
          f"{native[big] / ceiling[big]:.2f}x of it ({native_1 / ceiling_1:.2f}x on 1 thread)")
    print(f"targets (issue 5): >= 500,000 steps/s: {native[big] >= 5e5}; >= 20x sync: "
          f"{native[big] >= 20 * sync_big}; >= 0.5x raw kernel (same threads): "
          f"{native[big] >= 0.5 * kernel_mt} / (1 thread): {native_1 >= 0.5 * kernel[big]}")


if __name__ == "__main__":
    main()
