"""evaluate.py with learned agents: checkpoints run beside the heuristics on disjoint seeds,
the same-env heuristics reproduce the kernel runs, bad specs fail clearly, the bundled agents
load and act, and rl-zoo3 trains on our envs (when installed)."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import ROOT, run_script

import octogym  # noqa: F401
from octogym import evaluation as E
from octogym.agents import (
    EXACT,
    SAME_DECISION,
    SB3Agent,
    decision_groups,
    make_agent,
    zoo_checkpoints,
)
from octogym.agents import arena as A
from octogym.envs.core import root_seed

torch.set_num_threads(1)


def train(out: Path, env: str, algo: str) -> Path:
    """A tiny train.py run (seconds): enough for a checkpoint, not for a good policy."""
    hp = out / f"{algo}.yml"
    hp.write_text(f"{env}:\n  n_steps: 32\n  batch_size: 32\n  n_epochs: 1\n"
                  "  policy_kwargs: \"dict(net_arch=[16])\"\n")
    run = out / f"{env.split('/')[1]}-{algo}"
    subprocess.run([sys.executable, str(ROOT / "train.py"), "--env", env, "--algo", algo,
                    "--n-envs", "2", "--timesteps", "64", "--hyperparams", str(hp),
                    "--env-kwargs", "requests_per_episode=20", "--out", str(run),
                    "--no-progress", "--no-tensorboard"], check=True, cwd=ROOT,
                   capture_output=True)
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return {"tbu": train(out, "octogym/TBUAssign-v0", "maskable_ppo"),
            "cluster": train(out, "octogym/ClusterAssign-v0", "ppo")}


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return run_script("evaluate.py", *args, timeout=timeout)


# ---- the command -------------------------------------------------------------------------


def test_checkpoints_beside_heuristics(tmp_path, runs):
    out = tmp_path / "res"
    p = run_cli("--agents", str(runs["tbu"]), str(runs["cluster"] / "final.zip"), "static",
                "adaptive", "--scenarios", "mix-chip", "--agent-scenarios", "env-chip",
                "env-wafer", "--seeds", "2", "--requests", "40", "--no-progress", "--jobs", "1",
                "--out", str(out))
    assert p.returncode == 0, p.stderr
    for name in ("learned.md", "learned.csv", "learned_runs.csv", "learned.png"):
        assert (out / name).stat().st_size > 0, name
    with (out / "learned.csv").open() as fh:
        agg = {(r["scenario"], r["scheduler"]): r for r in csv.DictReader(fh)}
    tbu, cl = "rl:" + runs["tbu"].name, "rl:" + runs["cluster"].name
    expected = {
        ("env-chip", tbu), ("env-chip", cl), ("env-wafer", tbu),  # chip TBU policy on wafer
        *((s, h) for s in ("env-chip", "env-wafer") for h in ("static", "adaptive")),
        *((s, f"tbu:{h}") for s in ("env-chip", "env-wafer") for h in ("static", "adaptive")),
        ("env-chip", "cluster:static=adaptive"),  # the same hook: requests round-robin
    }
    assert set(agg) == expected  # the cluster policy (16 actions) cannot act on 256 clusters
    assert agg[("env-chip", tbu)]["kind"] == "learned"
    assert agg[("env-wafer", tbu)]["trained_on"] == "chip"
    assert agg[("env-chip", "tbu:adaptive")]["controller"] == "proactive"
    assert agg[("env-chip", "cluster:static=adaptive")]["controller"] == "adaptive"
    assert all(r["seeds"] == "2" and r["n_requests_mean"] == "40.0" for r in agg.values())
    assert float(agg[("env-chip", tbu)]["speedup"]) > 0
    report = (out / "table.md").read_text()
    assert "## Learned agents beside the heuristics" in report and report in p.stdout
    assert f"{cl} on env-wafer" in report  # the skip is reported with its reason


@pytest.mark.parametrize("spec,message", [
    ("no/such/run", "neither a scheduler"),
    ("octopuss", "neither a scheduler"),
])
def test_bad_agent_spec_fails_clearly(tmp_path, spec, message):
    p = run_cli("--agents", spec, "--out", str(tmp_path), timeout=120)
    assert p.returncode == 2
    assert message in p.stderr and spec in p.stderr and "octopus" in p.stderr
    assert "Traceback" not in p.stderr


def test_broken_checkpoints_fail_clearly(tmp_path, runs):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="without final.zip"):
        make_agent(str(empty))
    no_cfg = tmp_path / "no_cfg"
    no_cfg.mkdir()
    shutil.copy(runs["tbu"] / "final.zip", no_cfg / "final.zip")
    with pytest.raises(ValueError, match="no config.json next to checkpoint"):
        A.plan_agents([], ["static"], [str(no_cfg)])
    p = run_cli("--agents", str(no_cfg), "--out", str(tmp_path / "o"), timeout=120)
    assert p.returncode == 2 and "config.json" in p.stderr and "Traceback" not in p.stderr


# ---- seeds -------------------------------------------------------------------------------


def test_evaluation_seeds_are_disjoint_from_training_seeds(tmp_path, runs):
    # evaluation seed i: member i of base EVAL_SEED; training env j: a single env reset with
    # seed + j < EVAL_SEED (train.py and SB3's convention); their root seeds never coincide
    evaluation = {root_seed(E.EVAL_SEED, i) for i in range(64)}
    training = {root_seed(s) for s in range(E.EVAL_SEED)}
    assert len(evaluation) == 64 and not evaluation & training
    # the env run of a scenario and its kernel-only run share those seeds
    sim = E.SCENARIOS["env-chip"].simulation("static", 3)
    assert [int(x) for x in sim.seeds] == [root_seed(E.EVAL_SEED, i) for i in range(3)]
    # a checkpoint whose training seeds reach the evaluation seeds is refused
    bad = tmp_path / "bad"
    shutil.copytree(runs["tbu"], bad)
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "seed": E.EVAL_SEED - 1}))
    with pytest.raises(ValueError, match="reach the evaluation seeds"):
        A.plan_agents([], ["static"], [str(bad)])


# ---- fairness: the same-env heuristics ---------------------------------------------------


def test_same_env_heuristic_equals_kernel_run_when_it_is_the_controller(runs):
    """The env rows are what the kernel-only rows are when the heuristic is the env's own
    controller (an end-to-end check that env runs use the scenario and the seeds exactly)."""
    scen = [E.SCENARIOS["env-chip"]]
    rows, skipped = A.compare_agents(scen, ["proactive", "adaptive", "eft"],
                                     [str(runs["tbu"]), str(runs["cluster"])], 2,
                                     n_requests=60, progress=False)
    assert not skipped
    by = {(r["scheduler"], r["seed"]): r for r in rows}
    keys = ("latency_mean", "latency_p99", "makespan", "utilisation", "reconfigurations")
    for env_label, kernel in (("cluster:adaptive", "adaptive"),):
        for seed in (0, 1):
            assert {k: by[(env_label, seed)][k] for k in keys} == \
                   {k: by[(kernel, seed)][k] for k in keys}
    # the TBU env's own controller (proactive) places TBs on nearby clusters' matching TBUs
    # too (issue 14): not expressible as an action, so its row falls back (marked †)
    for name in ("eft", "proactive"):
        assert all(by[(f"tbu:{name}", s)]["fallbacks"] > 0 for s in (0, 1))
        assert name not in EXACT["TBUAssign"] and name in EXACT["ClusterAssign"]
    assert all(by[(f"rl:{runs['tbu'].name}", s)]["n_requests"] == 60 for s in (0, 1))


def test_same_decision_groups_act_identically():
    """SAME_DECISION's groups share a decision hook: through one env and controller they give
    identical runs (so evaluation runs one of each group)."""
    scen = E.SCENARIOS["env-chip"]
    for level, groups in SAME_DECISION.items():
        ctrl = "proactive" if level == "TBUAssign" else "adaptive"
        for group in groups:
            runs = [A.run_arm(scen, A.env_arm(n, level, ctrl), 2, 40) for n in group]
            for rows in runs[1:]:
                assert [r["latency_mean"] for r in rows] == \
                       [r["latency_mean"] for r in runs[0]], (level, group)
    assert decision_groups(["eft", "static", "octopus", "adaptive"], "TBUAssign") == \
        [("eft",), ("static",), ("octopus", "adaptive")]


def test_hardware_transfer_is_explicit(runs):
    tbu, cl = SB3Agent(runs["tbu"]), SB3Agent(runs["cluster"])
    kw = {"requests_per_episode": 20}
    tbu.check_env("octogym/TBUAssign-v0", {**kw, "hardware": "chip"})  # the id's own preset
    for env_id, extra in (("octogym/TBUAssign-Wafer-v0", {}),
                          ("octogym/TBUAssign-v0", {"hardware": "wafer"})):
        with pytest.raises(ValueError, match="allow_hardware_transfer"):
            tbu.check_env(env_id, {**kw, **extra})
        tbu.check_env(env_id, {**kw, **extra}, allow_hardware_transfer=True)
    with pytest.raises(ValueError, match="ClusterAssign"):
        tbu.check_env("octogym/ClusterAssign-v0", kw, allow_hardware_transfer=True)
    wafer = gym.make("octogym/ClusterAssign-Wafer-v0", requests_per_episode=5)
    with pytest.raises(ValueError, match="observation shape"):
        cl.check_spaces(wafer.observation_space, wafer.action_space)
    with pytest.raises(ValueError, match="allow_hardware_transfer"):
        A.run_arm(E.SCENARIOS["env-wafer"], A.learned_arm(tbu), 1, 10)
    _, skipped, _ = A.plan_agents([E.SCENARIOS["env-wafer"]], ["static"], [str(runs["tbu"])],
                                  allow_hardware_transfer=False)
    assert skipped and "hardware transfer disabled" in skipped[0]["reason"]


# ---- batched acting ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tbu", "cluster"])
def test_act_batch_equals_predict(runs, kind):
    agent = SB3Agent(runs[kind])
    D, A = agent.model.observation_space.shape[0], int(agent.model.action_space.n)
    rng = np.random.default_rng(0)
    obs = rng.random((500, D)).astype(np.float32)
    masks = rng.random((500, A)) < 0.5
    masks[np.arange(500), rng.integers(0, A, 500)] = True
    batched = agent.act_batch(obs, masks)
    single = [agent.act(o, m) for o, m in zip(obs, masks, strict=True)]
    assert batched.tolist() == single
    if agent.algo == "maskable_ppo":
        assert masks[np.arange(500), batched].all()


# ---- the bundled agents ------------------------------------------------------------------

ZOO = zoo_checkpoints()


@pytest.mark.skipif(not ZOO, reason="no bundled agents in agents/zoo/ (each <name>/final.zip "
                    "+ config.json); train.py writes them, see docs/agents.md")
@pytest.mark.parametrize("run", ZOO, ids=[p.name for p in ZOO])
def test_bundled_agents_load_and_act(run):
    agent = make_agent(str(run))
    A.check_training_seeds(agent)
    # TBUAssign's K actions are the same on both; an entity policy acts on any hardware
    both = agent.decision == "TBUAssign" or agent.entity is not None
    hardware = ["chip", "wafer"] if both else [agent.hardware]
    for hw in hardware:
        env = gym.make(agent.env_id, **{**agent.env_kwargs, "hardware": hw,
                                        "requests_per_episode": 10})
        agent.check_env(agent.env_id, {**agent.env_kwargs, "hardware": hw},
                        allow_hardware_transfer=True)
        agent.check_spaces(env.observation_space, env.action_space)
        obs, info = env.reset(seed=E.EVAL_SEED)
        done = False
        while not done:
            a = agent.act(obs, info["action_mask"], env)
            assert 0 <= a < env.action_space.n
            obs, _, term, trunc, info = env.step(a)
            done = term or trunc
        assert info["metrics"]["n_requests"] == 10


# ---- rl-zoo3 -----------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("rl_zoo3") is None,
                    reason="rl_zoo3 not installed (pip install -e '.[zoo]')")
def test_rl_zoo3_trains_on_our_env(tmp_path):
    hp = tmp_path / "ppo.yml"
    hp.write_text("octogym/TBUAssign-v0:\n  n_envs: 2\n  n_timesteps: 64\n  policy: MlpPolicy\n"
                  "  n_steps: 32\n  batch_size: 32\n  n_epochs: 1\n")
    p = subprocess.run([sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo", "--env",
                        "octogym/TBUAssign-v0", "--gym-packages", "octogym", "--conf-file",
                        str(hp), "--n-timesteps", "64", "-f", str(tmp_path / "logs"),
                        "--seed", "0", "--eval-freq", "-1", "--env-kwargs",
                        "requests_per_episode:20"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert list((tmp_path / "logs").rglob("*.zip"))
