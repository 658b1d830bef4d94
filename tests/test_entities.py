"""Entity observations (``obs_mode="entities"``) and the size-agnostic entity policy: the
checkers, determinism, pickling, forks, sync/async/native/SB3 agreement, agreement with the
flat features, the exact remaining work, and a chip-trained policy acting on other hardware."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import octogym  # noqa: F401  (registers the ids)
from octogym.envs import ENV_IDS, make_sb3_vec_env
from octogym.envs.entities import ENTITY_FEATURES, markdown_tables
from octogym.envs.layout import layout
from octogym.envs.registration import ENV_OPTIONS
from octogym.kernel import fields as L
from octogym.kernel.layout import TBU_RUN
from octogym.workflows.frequencies import expected_frequencies, remaining_work
from octogym.workflows.suite import load_all

ENT = {"obs_mode": "entities", "requests_per_episode": 20}


def small(env_id: str) -> dict:
    """Entity mode, short episodes (as tests/test_envs.py: a Dispatch episode needs more
    requests for its decisions, the wafer's its own ``ENV_OPTIONS`` length)."""
    base = {**ENT, "requests_per_episode": 100} if "Dispatch" in env_id else ENT
    return {**base, **{k: v for k, v in ENV_OPTIONS.get(env_id.split("/")[-1], {}).items()
                       if k == "requests_per_episode"}}


def make(env_id: str, **kw):
    return gym.make(env_id, **{**small(env_id), **kw})


def native(env_id: str, n: int, **kw):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point",
                        **{**small(env_id), **kw})


def assert_obs_equal(a, b) -> None:
    assert isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def policy(step: int, mask: np.ndarray) -> np.ndarray:
    """Deterministic, several actions: the k-th valid action per member."""
    return np.array([np.flatnonzero(m)[(step + 3 * i) % m.sum()] for i, m in enumerate(mask)])


# ---- checkers, determinism, pickling, forks ------------------------------------------------


CHIP_IDS = [e for e in ENV_IDS if "Wafer" not in e]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_gymnasium_and_sb3(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(make(env_id).unwrapped, skip_render_check=True)
        # SB3 recommends flat vectors "or a custom policy": the entity policy is that policy
        warnings.filterwarnings("ignore", message="Your observation .* unconventional shape")
        sb3_check_env(make(env_id), warn=True)


def run_episode(env, seed: int, steps: int = 60) -> list:
    obs, info = env.reset(seed=seed)
    out = [obs]
    for t in range(steps):
        obs, r, term, trunc, info = env.step(policy(t, info["action_mask"][None])[0])
        out.append((obs, r))
        if term or trunc:
            break
    return out


@pytest.mark.parametrize("env_id", CHIP_IDS)
def test_deterministic_and_pickles(env_id):
    a, b = run_episode(make(env_id), 3), run_episode(make(env_id), 3)
    assert len(a) == len(b) > 10
    assert_obs_equal(a[0], b[0])
    for (oa, ra), (ob, rb) in zip(a[1:], b[1:], strict=True):
        assert_obs_equal(oa, ob)
        assert ra == rb
    # pickle mid-episode: the copy goes on exactly as the original
    env = make(env_id)
    obs, info = env.reset(seed=4)
    for t in range(5):
        obs, *_, info = env.step(policy(t, info["action_mask"][None])[0])
    twin = pickle.loads(pickle.dumps(env.unwrapped))
    fork = env.unwrapped.fork()
    for t in range(5, 15):
        act = policy(t, info["action_mask"][None])[0]
        o1, r1, te, tr, info = env.step(act)
        o2, r2, *_ = twin.step(act)
        o3, r3, *_ = fork.step(act)
        assert_obs_equal(o1, o2)
        assert_obs_equal(o1, o3)
        assert r1 == r2 == r3
        if te or tr:  # a short Dispatch episode
            break


def test_flat_mode_is_the_default_and_unchanged():
    flat = gym.make("octogym/TBUAssign-v0", requests_per_episode=20)
    explicit = gym.make("octogym/TBUAssign-v0", requests_per_episode=20, obs_mode="flat")
    assert flat.observation_space == explicit.observation_space
    assert isinstance(flat.observation_space, gym.spaces.Box)
    for (x, *_), (y, *_) in zip(run_episode(flat, 1)[1:], run_episode(explicit, 1)[1:],
                                strict=True):
        np.testing.assert_array_equal(x, y)


# ---- vector envs ---------------------------------------------------------------------------


def compare_vec(a, b, seeds: list[int], steps: int) -> int:
    oa, ia = a.reset(seed=seeds)
    ob, ib = b.reset(seed=seeds)
    assert_obs_equal(oa, ob)
    ended = 0
    for t in range(steps):
        act = policy(t, ia["action_mask"])
        oa, ra, ta, ua, ia = a.step(act)
        ob, rb, tb, ub, ib = b.step(act)
        assert_obs_equal(oa, ob)
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(ta | ua, tb | ub)
        np.testing.assert_array_equal(ia["action_mask"], ib["action_mask"])
        if "final_obs" in ia or "final_obs" in ib:
            np.testing.assert_array_equal(ia["_final_obs"], ib["_final_obs"])
            for i in np.flatnonzero(ia["_final_obs"]):
                assert_obs_equal(ia["final_obs"][i], ib["final_obs"][i])
        ended += int((ta | ua).sum())
    return ended


@pytest.mark.parametrize("env_id,steps", [("octogym/TBUAssign-v0", 140),
                                          ("octogym/ClusterAssign-v0", 45),
                                          ("octogym/Place-v0", 140),
                                          ("octogym/Dispatch-v0", 60),
                                          ("octogym/Provision-v0", 300)])
def test_native_sync_async_sb3_agree(env_id, steps):
    n, seeds = 3, [5, 17, 2]
    nat = native(env_id, n)
    assert nat.single_observation_space == make(env_id).observation_space
    for mode in ("sync", "async"):
        other = gym.make_vec(env_id, num_envs=n, vectorization_mode=mode,
                             vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
                             **small(env_id))
        assert compare_vec(nat, other, seeds, steps) >= n
        other.close()
    # the SB3 adapter: same observations as the native env, terminal ones in the infos
    sb3 = make_sb3_vec_env(env_id, n_envs=n, seed=7, **small(env_id))
    ref = native(env_id, n)
    obs = sb3.reset()
    o, info = ref.reset(seed=[7, 8, 9])
    assert_obs_equal(obs, o)
    for t in range(steps):
        act = policy(t, info["action_mask"])
        obs, _, dones, infos = sb3.step(act)
        o, _, term, trunc, info = ref.step(act)
        assert_obs_equal(obs, o)
        for i in np.flatnonzero(dones):
            assert_obs_equal(infos[i]["terminal_observation"], info["final_obs"][i])


# ---- meaning: agreement with the flat features, waiting TBs, remaining work ---------------


def test_action_rows_match_the_flat_features():
    """TBU rows 0..K-1 (the home cluster) and every cluster row carry the flat mode's
    per-entity features, step by step."""
    for env_id, pairs in (
            ("octogym/TBUAssign-v0", {"free_slot": "tbu_free_slot", "queue": "tbu_queue",
                                      "queued_work": "tbu_queued_work",
                                      "remaining": "tbu_remaining",
                                      "config_match": "tbu_config_match"}),
            ("octogym/ClusterAssign-v0", {"queue": "cluster_queue", "backlog": "cluster_backlog",
                                          "queued_work": "cluster_queued_work",
                                          "cbu_busy": "cluster_cbu_busy"})):
        ent, flat = make(env_id), gym.make(env_id, requests_per_episode=20)
        core = flat.unwrapped.core
        (kind,) = core.decision.action_entities
        cols = {f.name: i for i, f in enumerate(ENTITY_FEATURES[kind])}
        sl = layout(core.decision.features, core.K, core.C)
        A = core.n_actions
        (eo, ei), (fo, _) = ent.reset(seed=2), flat.reset(seed=2)
        for t in range(40):
            for e_name, f_name in pairs.items():
                np.testing.assert_allclose(eo[kind][:A, cols[e_name]], fo[sl[f_name]],
                                           rtol=1e-6, atol=1e-7, err_msg=f"{env_id} {e_name}")
            assert eo[f"{kind}_mask"][:A].all()
            act = policy(t, ei["action_mask"][None])[0]
            (eo, _, te, tr, ei), (fo, *_) = ent.step(act), flat.step(act)
            if te or tr:
                break


def test_new_levels_action_rows_match_the_flat_features():
    """Place: TBU rows in machine order, then the clusters; Dispatch: the first waiting rows
    are the flat candidate slots; Provision: option row k * NCFG + g carries TBU k's and
    configuration g's flat features, the last row is keep."""
    def steps(env_id, n):
        ent, flat = make(env_id), gym.make(env_id, **{**small(env_id), "obs_mode": "flat"})
        core = flat.unwrapped.core
        sl = layout(core.decision.features, core.K, core.C, core.sim.model.CFG.shape[1],
                    core.n_actions if "Dispatch" in env_id else 0)
        (eo, ei), (fo, _) = ent.reset(seed=2), flat.reset(seed=2)
        for t in range(n):
            yield core, eo, {k: fo[v] for k, v in sl.items()}
            act = policy(t, ei["action_mask"][None])[0]
            (eo, _, te, tr, ei), (fo, *_) = ent.step(act), flat.step(act)
            if te or tr:
                return

    def col(kind):
        return {f.name: i for i, f in enumerate(ENTITY_FEATURES[kind])}

    close = {"rtol": 1e-6, "atol": 1e-7}
    u, c = col("tbu"), col("cluster")
    for _, eo, f in steps("octogym/Place-v0", 40):
        np.testing.assert_allclose(eo["tbu"][:, u["queue"]], f["tbu_queue"], **close)
        np.testing.assert_allclose(eo["cluster"][:, c["backlog"]], f["cluster_backlog"],
                                   **close)
        np.testing.assert_allclose(eo["cluster"][:, c["queued_work"]],
                                   f["cluster_queued_work"], **close)
    w, seen = col("waiting"), 0
    pairs = {"candidate": "cand_valid", "expected_duration": "cand_expected_duration",
             "waiting": "cand_waiting", "config_match": "cand_config_match",
             "data_wait": "cand_data_wait"}
    for core, eo, f in steps("octogym/Dispatch-v0", 40):
        v = f["cand_valid"] > 0
        A = len(v)
        assert eo["waiting_mask"][:A][v].all() and eo["global"][0] == 1
        assert not eo["waiting"][A:, w["candidate"]].any()
        for e_name, f_name in pairs.items():
            np.testing.assert_allclose(eo["waiting"][:A, w[e_name]][v], f[f_name][v],
                                       err_msg=e_name, **close)
        assert eo["tbu"][:, u["is_decision_tbu"]].sum() == 1
        assert eo["tbu"][:core.K, u["is_decision_tbu"]].any()  # its cluster's rows come first
        seen += int(v.sum())
    assert seen > 10
    o = col("option")
    for core, eo, f in steps("octogym/Provision-v0", 40):
        K, G = core.K, core.sim.model.CFG.shape[1]
        x = eo["option"]
        assert x.shape[0] == K * G + 1 and eo["option_mask"].all()
        assert x[-1, o["is_keep"]] == 1 and not x[:-1, o["is_keep"]].any()
        opts = x[:-1].reshape(K, G, -1)
        np.testing.assert_array_equal(opts[:, :, o["tbu_holds"]].ravel(), f["tbu_config"])
        np.testing.assert_array_equal(opts[:, 0, o["tbu_queue"]], f["tbu_queue"])
        np.testing.assert_array_equal(opts[0, :, o["config_demand"]], f["config_demand"])


@pytest.mark.parametrize("env_id,kw", [
    ("octogym/Place-v0", {"load": 1.2}),
    ("octogym/Place-v0", {"load": 1.5, "tbu_detail": True}),
    ("octogym/Place-v0", {"hardware": {"preset": "chip", "tbus_per_cluster": 2}}),
    ("octogym/Place-Wafer-v0", {"load": 1.2, "tbu_detail": True}),
    ("octogym/TBUAssign-v0", {"load": 1.2, "tbu_detail": True}),
    ("octogym/Dispatch-v0", {}),
    ("octogym/Dispatch-v0", {"controller": "adaptive", "max_waiting": 12}),
    ("octogym/Provision-v0", {"load": 1.2}),
    ("octogym/TBUAssign-v0", {"load": 1.2}),
    ("octogym/TBUAssign-v0", {"hardware": {"preset": "chip", "tbus_per_cluster": 2},
                              "max_tbus": 20, "max_waiting": 3, "max_blocks": 5}),
    # least_loaded keeps a request's TBs in its home cluster (the fair adaptive would spread
    # them over nearby clusters' matching TBUs, and nothing would wait)
    ("octogym/ClusterAssign-v0", {"workflows": ["agent_loop", "recognition"],
                                  "controller": "least_loaded"})])
def test_compiled_builder_equals_the_numpy_reference(env_id, kw):
    from octogym.envs.entities import observe_entities_reference

    venv = native(env_id, 4, **kw)
    core = venv.unwrapped.core
    rows = np.arange(4)
    _, info = venv.reset(seed=3)
    waited = 0
    for t in range(120):
        ref = {k: np.full_like(v, 7) for k, v in core.entities.items()}
        observe_entities_reference(core, rows, ref)
        assert_obs_equal(core.entities, ref)
        waited += int(core.entities["waiting_mask"].sum())
        # the cluster env sends every request to cluster 0, so that TBs queue up
        act = np.zeros(4, np.int64) if "Cluster" in env_id else policy(t, info["action_mask"])
        _, _, _, _, info = venv.step(act)
    assert waited > 0


@pytest.mark.parametrize("env_id", ["octogym/TBUAssign-v0", "octogym/Place-v0",
                                    "octogym/Dispatch-v0", "octogym/Provision-v0"])
def test_threaded_builder_equals_the_reference(env_id):
    """From PARALLEL_MIN members on, the builder runs members on numba's threads."""
    from octogym.envs.core import PARALLEL_MIN
    from octogym.envs.entities import observe_entities_reference

    venv = native(env_id, PARALLEL_MIN, load=1.2)
    core = venv.unwrapped.core
    _, info = venv.reset(seed=0)
    for t in range(15):
        _, _, _, _, info = venv.step(policy(t, info["action_mask"]))
    ref = {k: np.full_like(v, 7) for k, v in core.entities.items()}
    observe_entities_reference(core, np.arange(PARALLEL_MIN), ref)
    assert_obs_equal(core.entities, ref)


def test_waiting_rows_count_every_ready_tb_not_running():
    env = make("octogym/TBUAssign-v0", requests_per_episode=60, load=1.2, max_waiting=500)
    obs, info = env.reset(seed=0)
    core = env.unwrapped.core
    seen = 0
    for t in range(150):
        S = core.sim.state
        TB, SC = S.TB[0], S.SC[0]
        queued = int(TB[L.TB_QL].sum())
        running = int(((TB[L.TB_STATE] == TBU_RUN) & (TB[L.TB_QL] > 0)).sum())
        parked = int(S.CL[0, L.CL_BL_LEN].sum())
        # ready TBs awaiting a decision, but not the one being decided
        expect = queued - running + parked + int(SC[L.SC_DQ_LEN])
        got = int(obs["waiting_mask"].sum())
        assert got in (expect, expect - 1), (t, got, expect)
        seen = max(seen, got)
        obs, _, te, tr, info = env.step(policy(t, info["action_mask"][None])[0])
        if te or tr:
            break
    assert seen > 3  # the check saw a real queue


def test_tbu_detail_columns_count_the_queues_and_leave_the_rest_unchanged(one_torch_thread):
    """``tbu_detail=True`` appends the TBU_DETAIL columns, computed here from the kernel's
    queues by hand; the other columns are those of the plain layout, and a policy built for
    the plain layout gives the same logits on either (it reads its own columns)."""
    import torch

    from octogym.agents.entity_policy import EntityPolicy, feature_dims
    from octogym.envs.entities import TBU_DETAIL

    kw = {"load": 1.5, "requests_per_episode": 60}
    plain, rich = make("octogym/Place-v0", **kw), make("octogym/Place-v0", tbu_detail=True, **kw)
    n0 = len(ENTITY_FEATURES["tbu"])
    d = {f.name: n0 + i for i, f in enumerate(ENTITY_FEATURES[TBU_DETAIL])}
    assert rich.observation_space["tbu"].shape[1] == n0 + len(d)
    torch.manual_seed(0)
    net = EntityPolicy(feature_dims(plain.observation_space), ("tbu", "cluster"), hidden=8)
    (o1, i1), (o2, _) = plain.reset(seed=2), rich.reset(seed=2)
    core = rich.unwrapped.core
    tau, Q, K = core.tau, core.Q, core.K
    seen = np.zeros(len(d))
    rng = np.random.default_rng(0)
    for _ in range(300):
        np.testing.assert_array_equal(o2["tbu"][:, :n0], o1["tbu"])
        with torch.no_grad():
            l1 = net({k: torch.as_tensor(v[None]) for k, v in o1.items()})[0]
            l2 = net({k: torch.as_tensor(v[None]) for k, v in o2.items()})[0]
        np.testing.assert_array_equal(l1.numpy(), l2.numpy())
        S, M = core.sim.state, core.sim.model
        j = S.SC[0, L.SC_DEC_JOB]
        req = S.JB[0, j, L.JB_REQ]
        for u in range(core.T):
            prev, switches, mine = S.TB[0, L.TB_CFG, u], 0, 0
            for q in range(S.TB[0, L.TB_QL, u]):
                jq = S.TBQ[0, u, (S.TB[0, L.TB_QH, u] + q) % Q]
                c = M.MB[L.MB_BLK_CFG, S.JB[0, jq, L.JB_BLOCK]]
                switches, prev = switches + (c != prev), c
                mine += S.JB[0, jq, L.JB_REQ] == req
            r = switches * M.MI[L.MI_RECONF]
            assert o2["tbu"][u, d["queued_reconfig"]] == np.float32(r / (r + tau))
            assert o2["tbu"][u, d["request_queued"]] == np.float32(mine / Q)
            org, nb = S.JB[0, j, L.JB_ORG], S.JB[0, j, L.JB_BYTES]
            t = (M.NOC[L.NOC_LATENCY, org, u // K]
                 + -(-nb // M.MI[L.MI_LINK_BW]) if org != u // K else
                 (-(-nb // M.MI[L.MI_LOCAL_BW]) if M.MI[L.MI_LOCAL_BW] > 0 else 0))
            assert o2["tbu"][u, d["transfer"]] == np.float32(t / (t + tau))
        seen += (o2["tbu"][:, n0:] > 0).any(axis=0)
        act = int(rng.choice(np.flatnonzero(i1["action_mask"])))
        (o1, _, te, tr, i1), (o2, *_) = plain.step(act), rich.step(act)
        if te or tr:
            break
    assert (seen > 0).all(), seen  # every column was seen non-zero


def test_remaining_work_is_exact_at_the_entry():
    for name, wf in load_all().items():
        for k in range(len(wf.phases) + 1):
            r = remaining_work(wf, k)
            assert r[wf.block_ids.index(wf.entry)] == pytest.approx(
                expected_frequencies(wf, k).work, rel=1e-9), (name, k)
            assert (r >= 0).all()


def test_sizes_are_options_with_clear_errors():
    env = make("octogym/TBUAssign-v0", max_tbus=6, max_clusters=3, max_waiting=5, max_blocks=4)
    obs, _ = env.reset(seed=0)
    assert obs["tbu"].shape[0] == 6 and obs["cluster"].shape[0] == 3
    assert obs["waiting"].shape[0] == 5 and obs["blocks"].shape[0] == 4
    assert obs["tbu"][:4, 0].all()  # the home cluster's TBUs come first
    with pytest.raises(ValueError, match="max_tbus=2 is too small"):
        make("octogym/TBUAssign-v0", max_tbus=2)
    with pytest.raises(ValueError, match="max_clusters=8 is too small"):
        make("octogym/ClusterAssign-v0", max_clusters=8)
    with pytest.raises(ValueError, match="obs_mode"):
        make("octogym/TBUAssign-v0", obs_mode="graph")
    with pytest.raises(ValueError, match="max_waiting"):
        make("octogym/TBUAssign-v0", max_waiting=0)
    with pytest.raises(ValueError, match="tbu_detail must be True or False, got 'yes'"):
        make("octogym/TBUAssign-v0", tbu_detail="yes")
    with pytest.raises(ValueError, match="tbu_detail .*needs obs_mode='entities', not 'flat'"):
        gym.make("octogym/TBUAssign-v0", tbu_detail=True)
    # Place: the T TBU rows, then the C cluster rows; exactly those
    with pytest.raises(ValueError, match="max_tbus=80 does not fit the Place env.* must be 64"):
        make("octogym/Place-v0", max_tbus=80)
    with pytest.raises(ValueError, match="max_clusters=8 does not fit the Place env"):
        make("octogym/Place-v0", max_clusters=8)
    # Dispatch: the waiting rows must hold the candidate slots
    with pytest.raises(ValueError, match="max_waiting=3 is too small: the Dispatch actions"):
        make("octogym/Dispatch-v0", max_waiting=3)
    # padded rows: mask 0 and all-zero features
    big = make("octogym/TBUAssign-v0", max_tbus=80)
    obs, _ = big.reset(seed=0)
    assert obs["tbu_mask"][:64].all() and not obs["tbu_mask"][64:].any()
    assert not obs["tbu"][64:].any()


def test_docs_carry_the_entity_tables():
    from conftest import ROOT

    assert markdown_tables() in (ROOT / "docs" / "envs.md").read_text()


# ---- the size-agnostic policy --------------------------------------------------------------


@pytest.fixture
def one_torch_thread():
    """Tiny networks on a shared 2-core machine: one torch thread."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def play(agent_act, env, seed: int, max_steps: int | None = None) -> int:
    obs, info = env.reset(seed=seed)
    n = 0
    while True:
        a = agent_act(obs, info["action_mask"])
        assert info["action_mask"][a]
        obs, _, term, trunc, info = env.step(a)
        n += 1
        if term or trunc or n == max_steps:
            return n


K2 = {"preset": "chip", "tbus_per_cluster": 2}


@pytest.mark.parametrize("env_id,elsewhere", [
    ("octogym/TBUAssign-v0", ["wafer", K2]),
    ("octogym/ClusterAssign-v0", ["wafer"]),
    ("octogym/Place-v0", ["wafer"]),
    ("octogym/Place-v0", [K2]),
    ("octogym/Dispatch-v0", ["wafer", K2]),
    ("octogym/Provision-v0", ["wafer", K2])])
def test_chip_trained_entity_policy_acts_on_other_hardware(env_id, elsewhere, tmp_path,
                                                           one_torch_thread):
    from sb3_contrib import MaskablePPO

    from octogym.agents.entity_policy import EntityMaskablePolicy, resolve_policy

    venv = make_sb3_vec_env(env_id, n_envs=2, seed=0, **small(env_id))
    pol, kw = resolve_policy("entity", env_id, {"hidden": 16})
    model = MaskablePPO(pol, venv, n_steps=16, batch_size=32, n_epochs=1, seed=0,
                        device="cpu", policy_kwargs=kw)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(32)
    assert any(not np.array_equal(a, b.detach()) for a, b in
               zip(before, model.policy.parameters(), strict=True))  # it did train
    model.save(tmp_path / "m")
    loaded = MaskablePPO.load(tmp_path / "m", device="cpu")
    assert isinstance(loaded.policy, EntityMaskablePolicy)
    net = loaded.policy.entity

    def act(obs, mask):
        return int(net.act({k: v[None] for k, v in obs.items()}, mask[None])[0])

    for hw in elsewhere:
        # the wafer's dispatch decisions only come once its pipeline has filled
        n_req = small(env_id.replace("-v0", "-Wafer-v0"))["requests_per_episode"] \
            if hw == "wafer" and "Dispatch" in env_id else 8
        env = gym.make(env_id, hardware=hw, obs_mode="entities", requests_per_episode=n_req)
        # other hardware: other row counts (and, but for Dispatch and Provision on the wafer,
        # another action count), the same weights
        assert env.observation_space["tbu"].shape != venv.observation_space["tbu"].shape
        assert play(act, env, seed=1, max_steps=200) > 0


def test_train_py_entity_policy_loads_as_an_agent_anywhere(tmp_path):
    from conftest import run_script

    from octogym.agents import make_agent

    hp = tmp_path / "hp.yml"
    hp.write_text("octogym/TBUAssign-v0:\n  n_steps: 16\n  batch_size: 32\n  n_epochs: 1\n"
                  "  normalize: \"dict(norm_obs=False, norm_reward=True)\"\n"
                  "  policy_kwargs: \"dict(hidden=16)\"\n")
    res = run_script("train.py", "--policy", "entity", "--n-envs", "2", "--timesteps", "32",
                     "--hyperparams", str(hp), "--env-kwargs", "obs_mode=entities",
                     "requests_per_episode=20", "--out", str(tmp_path / "r"), "--no-progress",
                     "--no-tensorboard", "--eval-every", "0", "--eval-references", "")
    assert res.returncode == 0, res.stderr
    agent = make_agent(tmp_path / "r")
    assert agent.entity is not None
    flat = gym.make("octogym/TBUAssign-v0")
    with pytest.raises(ValueError, match="entity observation space"):
        agent.check_spaces(flat.observation_space, flat.action_space)
    for hw in ("wafer", {"preset": "chip", "tbus_per_cluster": 2}):
        kw = {"obs_mode": "entities", "requests_per_episode": 8, "hardware": hw}
        agent.check_env("octogym/TBUAssign-v0", kw, vary=["requests_per_episode"],
                        allow_hardware_transfer=True)
        env = gym.make("octogym/TBUAssign-v0", **kw)
        agent.check_spaces(env.observation_space, env.action_space)
        assert play(lambda o, m: agent.act(o, m), env, seed=2) > 0
        venv = native("octogym/TBUAssign-v0", 3, **kw)
        obs, info = venv.reset(seed=0)
        batch = agent.act_batch(obs, info["action_mask"], venv)
        one = [agent.act({k: v[i] for k, v in obs.items()}, info["action_mask"][i])
               for i in range(3)]
        np.testing.assert_array_equal(batch, one)


@pytest.mark.parametrize("argv,msg", [
    (["--policy", "entity"], "obs_mode=entities"),
    (["--policy", "entity", "--algo", "ppo", "--env-kwargs", "obs_mode=entities"],
     "maskable_ppo"),
    (["--policy", "entity", "--env-kwargs", "obs_mode=entities"], "pretrain")])
def test_train_py_refuses_entity_runs_that_cannot_work(argv, msg):
    from octogym.commands.train import parse_args, resolve

    args, given = parse_args(argv)
    with pytest.raises(ValueError, match=msg):
        resolve(args, given)


def test_entity_policy_is_invariant_to_padding_and_row_order(one_torch_thread):
    """The plain-torch EntityPolicy: one logit per action row, masked rows at MASKED_LOGIT,
    outputs unchanged by padding rows or by reordering the rows that are not actions."""
    import torch

    from octogym.agents.entity_policy import MASKED_LOGIT, EntityPolicy, feature_dims

    small = make("octogym/TBUAssign-v0", load=2.0)
    big = make("octogym/TBUAssign-v0", load=2.0, max_tbus=80, max_waiting=50, max_blocks=12)
    torch.manual_seed(0)
    net = EntityPolicy(feature_dims(small.observation_space), "tbu", hidden=16)
    (o1, i1), (o2, _) = small.reset(seed=5), big.reset(seed=5)
    for _ in range(40):  # the first valid TBU each time: TBs queue up, so rows differ
        act = int(np.flatnonzero(i1["action_mask"])[0])
        (o1, *_, i1), (o2, *_) = small.step(act), big.step(act)
    mask = torch.as_tensor(i1["action_mask"][None])
    mask[0, 0] = False
    with torch.no_grad():
        l1, v1 = net({k: torch.as_tensor(v[None]) for k, v in o1.items()}, mask)
        l2, v2 = net({k: torch.as_tensor(v[None]) for k, v in o2.items()}, mask)
        perm = dict(o1)
        order = np.r_[np.arange(4), 4 + np.random.default_rng(0).permutation(60)]
        perm["tbu"], perm["tbu_mask"] = o1["tbu"][order], o1["tbu_mask"][order]
        w = np.random.default_rng(1).permutation(len(o1["waiting_mask"]))
        perm["waiting"], perm["waiting_mask"] = o1["waiting"][w], o1["waiting_mask"][w]
        l3, v3 = net({k: torch.as_tensor(v[None]) for k, v in perm.items()}, mask)
    assert l1.shape == (1, 4) and v1.shape == (1,)
    assert l1[0, 0] == MASKED_LOGIT and (l1[0, 1:] > MASKED_LOGIT).all()
    assert o1["waiting_mask"].sum() > 1
    for a, b in ((l1, l2), (v1, v2), (l1, l3), (v1, v3)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_entity_policy_concatenates_the_action_kinds(one_torch_thread):
    """Place: logits = the T TBU rows' scores, then the C cluster rows' (a head per kind);
    a row the observation marks invalid masks exactly its action."""
    import torch

    from octogym.agents.entity_policy import MASKED_LOGIT, EntityPolicy, feature_dims

    env = make("octogym/Place-v0")
    obs, info = env.reset(seed=0)
    core = env.unwrapped.core
    T, C = core.T, core.C
    torch.manual_seed(0)
    net = EntityPolicy(feature_dims(env.observation_space), ("tbu", "cluster"), hidden=8)
    assert set(net.score) == {"tbu", "cluster"}
    obs = {k: v.copy() for k, v in obs.items()}
    obs["tbu_mask"][5] = 0
    obs["cluster_mask"][3] = 0
    mask = np.ones((1, T + C), bool)
    with torch.no_grad():
        logits, _ = net({k: torch.as_tensor(v[None]) for k, v in obs.items()},
                        torch.as_tensor(mask))
    assert logits.shape == (1, T + C)
    assert set(np.flatnonzero(logits[0].numpy() == MASKED_LOGIT)) == {5, T + 3}
    with pytest.raises(ValueError, match="action_entities"):
        EntityPolicy(feature_dims(env.observation_space), ("option",))
