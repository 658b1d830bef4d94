"""Helpers shared by the compiled-kernel tests (test_kernel.py, test_mechanisms.py): state
field views, tiny hardware and workflows, and the invariant checks a paused or finished run
must pass (imported as ``from kernel_checks import ...``)."""

from __future__ import annotations

import numpy as np

from octogym.hardware import get_hardware
from octogym.kernel import fields as L
from octogym.kernel.build import model_int
from octogym.kernel.layout import (
    EV_CB_DONE,
    EV_EPOCH,
    EV_TBU_FREE,
    KIND_SHIFT,
    ST_DONE,
    TBU_IDLE,
    TBU_RECONF,
    TBU_RUN,
    field,
)
from octogym.simulator import Simulation
from octogym.workflows import Workflow


def f(sim: Simulation, name: str, b: int = 0) -> np.ndarray:
    """Member ``b``'s view of state field ``name`` (a copy, so later steps don't alias it)."""
    return np.array(field(sim.state, name)[b])


def hw1(**kw):
    """A 1x1 cluster, 1 TBU system with free transfers (override any field)."""
    spec = dict(preset="chip", rows=1, cols=1, tbus_per_cluster=1, die_rows=1, die_cols=1,
                queue_capacity=2, reconfig_cycles=500, hop_cycles=0, die_hop_cycles=0,
                link_bytes_per_cycle=32, local_bytes_per_cycle=0)
    spec.update(kw)
    return get_hardware(spec)


def chain_dict(n: int, d: int, flow_bytes: int, config: str = "toy", name: str = "chain"):
    ids = [f"t{i}" for i in range(n)]
    return Workflow.from_dict({
        "name": name, "entry": ids[0],
        "blocks": [{"id": i, "type": "task", "config": config, "kind": "ai",
                    "duration": {"dist": "fixed", "value": d}} for i in ids],
        "flows": [{"src": a, "dst": b, "bytes": flow_bytes}
                  for a, b in zip(ids, ids[1:], strict=False)],
    })


def trace_rows(sim: Simulation, b: int = 0) -> dict[str, np.ndarray]:
    n = int(f(sim, "n_traced", b))
    return {k: f(sim, k, b)[:n] for k in ("tr_uid", "tr_blk", "tr_tbu", "tr_ready", "tr_start",
                                          "tr_end")}


def heap_events(sim: Simulation, b: int = 0):
    n = int(f(sim, "hp_len", b))
    return (f(sim, "hp_time", b)[:n], f(sim, "hp_key", b)[:n] >> KIND_SHIFT,
            f(sim, "hp_data", b)[:n])


def check_free_stacks(sim: Simulation, b: int = 0) -> None:
    """The free stacks hold distinct valid slot ids."""
    for free, nfree, size in (("rq_free", "rq_nfree", sim.state.RQ.shape[1]),
                              ("fr_free", "fr_nfree", sim.state.FR.shape[1]),
                              ("jb_free", "jb_nfree", sim.state.JB.shape[1])):
        n = int(f(sim, nfree, b))
        ids = f(sim, free, b)[:n]
        assert 0 <= n <= size
        assert len(np.unique(ids)) == n and (n == 0 or (ids.min() >= 0 and ids.max() < size))


def check_paused(sim: Simulation, until: int, b: int = 0, strict_backlog: bool = True) -> None:
    """Invariants of a member paused by ``advance(until=...)`` (status ST_TIME). With
    ``strict_backlog`` a cluster's backlog must be empty unless all its TBUs are full (true for
    policies that never defer work nor migrate it)."""
    M = sim.model
    qcap, K = model_int(M, "qcap"), model_int(M, "K")
    now = int(f(sim, "now", b))
    assert now <= until
    assert int(f(sim, "dq_len", b)) == 0
    ql, state = f(sim, "tb_ql", b), f(sim, "tb_state", b)
    # a full queue is never over-filled
    assert (ql >= 0).all() and (ql <= qcap).all(), ql
    # cluster queue counters agree with the TBU queues
    np.testing.assert_array_equal(f(sim, "cl_queued", b), ql.reshape(-1, K).sum(axis=1))
    # no event in the past
    ht, hk, hd = heap_events(sim, b)
    assert (ht >= now).all() and (ht > until).all()
    # an idle TBU has nothing queued; a running one runs its head job
    assert (ql[state == TBU_IDLE] == 0).all()
    assert (ql[state == TBU_RUN] >= 1).all()
    tbq, qh, jb_tbu = f(sim, "TBQ", b), f(sim, "tb_qh", b), f(sim, "jb_tbu", b)
    queued = []
    for u in range(len(ql)):
        js = [int(tbq[u, (qh[u] + k) % qcap]) for k in range(ql[u])]
        assert all(jb_tbu[j] == u for j in js)
        queued += js
    assert len(set(queued)) == len(queued)
    # at most one TB runs on a TBU at any instant: trace rows still running at `until`
    tr = trace_rows(sim, b)
    assert int(f(sim, "n_traced", b)) < model_int(M, "trace_cap")
    running = np.bincount(tr["tr_tbu"][tr["tr_end"] > until], minlength=len(ql))
    np.testing.assert_array_equal(running, (state == TBU_RUN).astype(int))
    # accounting: the whole span of a started job is accounted at its start, so the committed
    # time of a busy TBU reaches its end; an idle one's closed time + open segment reaches now
    acc = sum(f(sim, k, b) for k in ("acc_busy", "acc_reconf", "acc_wait", "acc_starved",
                                     "acc_blocked"))
    tb_end, tb_idle = f(sim, "tb_end", b), f(sim, "tb_idle", b)
    idle = state == TBU_IDLE
    np.testing.assert_array_equal(acc[idle] + (now - tb_idle[idle]), np.full(idle.sum(), now))
    np.testing.assert_array_equal(acc[~idle], tb_end[~idle])
    assert (tb_end[~idle] > until).all()
    # job pool: every used job slot is a queued TB, a backlogged TB or a pending CB
    n_cb = int((hk == EV_CB_DONE).sum())
    used = sim.state.JB.shape[1] - int(f(sim, "jb_nfree", b))
    assert used == int(ql.sum()) + int(f(sim, "bl_len", b).sum()) + n_cb
    # request pool: in-flight requests
    in_flight = int(f(sim, "n_arrived", b) - f(sim, "n_done", b))
    assert sim.state.RQ.shape[1] - int(f(sim, "rq_nfree", b)) == in_flight
    # a backlog exists only while every TBU of its cluster is full
    if strict_backlog:
        full = (ql == qcap).reshape(-1, K).all(axis=1)
        assert (full | (f(sim, "bl_len", b) == 0)).all()
    check_free_stacks(sim, b)


def check_final(sim: Simulation, res, b: int = 0, tasks_per_request: int | None = None,
                commanded_reconf: bool = False) -> None:
    """Invariants of a member that ran to completion. Unless reconfigurations were also
    commanded (``core.reconfigure``), they follow exactly from the trace's config changes."""
    M = sim.model
    N, T = model_int(M, "n_requests"), model_int(M, "T")
    reconf = model_int(M, "reconf")
    assert int(f(sim, "status", b)) == ST_DONE
    # every request completes exactly once, after it arrived
    arr, done = f(sim, "res_arr", b), f(sim, "res_done", b)
    assert res.n_requests == N
    assert int(f(sim, "n_done", b)) == N and int(f(sim, "n_arrived", b)) == N
    assert (arr >= 0).all() and (done >= arr).all()
    np.testing.assert_array_equal(res.latencies, (done - arr).astype(float))
    assert res.makespan == done.max() == int(f(sim, "t_end", b))
    # every TB instance runs exactly once, and every execution is in the trace
    n_tb = int(f(sim, "n_tb_done", b))
    assert int(f(sim, "n_tb_created", b)) == n_tb == res.tb_executions
    assert int(f(sim, "n_traced", b)) == n_tb < model_int(M, "trace_cap")
    assert int(f(sim, "ST_DEM", b).sum()) == n_tb
    tr = trace_rows(sim, b)
    uid, tbu, ready, start, end = (tr[k] for k in ("tr_uid", "tr_tbu", "tr_ready", "tr_start",
                                                   "tr_end"))
    per_req = np.bincount(uid, minlength=N)
    assert per_req.sum() == n_tb and len(per_req) == N
    if tasks_per_request is not None:
        assert (per_req == tasks_per_request).all(), per_req
    # no event in the past: a TB is ready after its request arrived, starts after it was ready,
    # ends before its request completes
    assert (ready >= arr[uid]).all() and (start >= ready).all() and (end >= start).all()
    assert (end <= done[uid]).all()
    # per TBU: intervals in start order never overlap; runs, busy time and reconfigurations
    # agree with the trace
    cfg_of = M.MB[L.MB_BLK_CFG]
    runs = f(sim, "tb_runs", b)
    split = res.tbu_idle
    n_changes = 0
    for u in range(T):
        m = tbu == u
        s, e = start[m], end[m]
        assert (np.diff(s) >= 0).all()
        assert (e[:-1] <= s[1:]).all(), f"overlap on TBU {u}"
        assert runs[u] == m.sum()
        assert split["busy"][u] == int((e - s).sum())
        cfgs = np.concatenate([[sim.tbu_cfg[u]], cfg_of[tr["tr_blk"][m]]])
        ch = int((cfgs[1:] != cfgs[:-1]).sum())
        n_changes += ch
        if not commanded_reconf:
            assert split["reconfiguring"][u] == reconf * ch
    if commanded_reconf:  # a reconfiguration running past the end is clipped there
        assert res.reconfigurations >= n_changes
        assert int(split["reconfiguring"].sum()) <= reconf * res.reconfigurations
    else:
        assert res.reconfigurations == n_changes
        assert int(split["reconfiguring"].sum()) == reconf * res.reconfigurations
    # exact time split of every TBU
    tot = sum(split[k] for k in ("busy", "starved", "waiting_data", "reconfiguring", "blocked"))
    np.testing.assert_array_equal(tot, np.full(T, res.makespan))
    for k in split:
        assert (split[k] >= 0).all(), k
    # everything drained (only a periodic epoch event, or the end of a commanded
    # reconfiguration still running past the makespan, may be left), all pools free again
    ht, hk, hd = heap_events(sim, b)
    pending = hk == EV_TBU_FREE
    assert ((hk == EV_EPOCH) | pending).all() and int(f(sim, "dq_len", b)) == 0
    state = f(sim, "tb_state", b)
    assert (state[hd[pending]] == TBU_RECONF).all() and (ht[pending] > res.makespan).all()
    assert ((state == TBU_IDLE) | (state == TBU_RECONF)).all()
    assert int(pending.sum()) == int((state == TBU_RECONF).sum())
    assert (f(sim, "bl_len", b) == 0).all() and (f(sim, "tb_ql", b) == 0).all()
    assert int(f(sim, "rq_nfree", b)) == sim.state.RQ.shape[1]
    assert int(f(sim, "fr_nfree", b)) == sim.state.FR.shape[1]
    assert int(f(sim, "jb_nfree", b)) == sim.state.JB.shape[1]
    check_free_stacks(sim, b)
