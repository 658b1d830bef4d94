"""Crash-safe checkpoints: a save interrupted at any point (or a SIGKILL of train.py at random
times, mostly mid-save) never leaves a half-written file under a final name, ``--resume``
continues from the newest complete checkpoint, and ``progress.csv`` keeps its earlier rows."""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.vec_env import VecNormalize

from octogym.agents import checkpoint as C
from octogym.agents.logs import keep_rows_until, make_logger
from octogym.envs.sb3 import make_sb3_vec_env

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"env_id": "octogym/TBUAssign-v0", "env_kwargs": {"requests_per_episode": 20},
          "algo": "maskable_ppo", "seed": 0, "n_envs": 1,
          "hyperparams": {"normalize": True}}


class Crash(Exception):
    pass


def tiny_model():
    venv = VecNormalize(make_sb3_vec_env("octogym/TBUAssign-v0", n_envs=1, seed=0,
                                         requests_per_episode=20))
    return MaskablePPO("MlpPolicy", venv, n_steps=16, batch_size=16, seed=0, device="cpu",
                       policy_kwargs={"net_arch": [8]}), venv


def loads(zip_path: Path) -> int:
    """Load a checkpoint as ``--resume`` does; its step count."""
    cfg = C.read_config(zip_path, C.RESUME_KEYS)
    assert C.load_vecnormalize(zip_path, cfg["hyperparams"]) is not None
    return C.load_model(zip_path, cfg["algo"]).num_timesteps


@pytest.mark.parametrize("crash_at", [0, 1, 2, "write"])
def test_an_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, crash_at):
    """Interrupt the save of step_2 before its k-th rename (config, pickle, zip), or while the
    zip is being written: step_2.zip never appears, step_1 still loads, only .tmp is left."""
    model, venv = tiny_model()
    C.save_checkpoint(model, venv, tmp_path / "step_1", CONFIG)
    model.num_timesteps = 2
    if crash_at == "write":
        def half_save(f):
            f.write(b"PK\x03\x04 half a zip")
            raise Crash
        monkeypatch.setattr(model, "save", half_save)
    else:
        real, calls = os.replace, []

        def replace(src, dst):
            calls.append(dst)
            if len(calls) > crash_at:
                raise Crash
            real(src, dst)
        monkeypatch.setattr(C.os, "replace", replace)
    with pytest.raises(Crash):
        C.save_checkpoint(model, venv, tmp_path / "step_2", CONFIG)
    monkeypatch.undo()
    assert not (tmp_path / "step_2.zip").exists()
    assert loads(tmp_path / "step_1.zip") == 0
    left = C.remove_temporaries(tmp_path)
    assert left and all(p.suffix == ".tmp" for p in left)
    assert not list(tmp_path.glob("*.tmp"))


def test_a_pickle_from_an_interrupted_overwrite_is_refused(tmp_path, monkeypatch):
    """Overwriting ``final`` and killed between the pickle's rename and the zip's: the old
    zip meets the new pickle, which it does not record, so loading refuses it."""
    model, venv = tiny_model()
    C.save_checkpoint(model, venv, tmp_path / "final", CONFIG)
    venv.obs_rms.count += 1  # statistics move on
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith(".zip"):
            raise Crash
        real(src, dst)
    monkeypatch.setattr(C.os, "replace", replace)
    with pytest.raises(Crash):
        C.save_checkpoint(model, venv, tmp_path / "final", CONFIG)
    monkeypatch.undo()
    with pytest.raises(C.CheckpointError, match="does not belong to final.zip"):
        C.load_vecnormalize(tmp_path / "final.zip", CONFIG["hyperparams"])


def test_resume_continues_progress_csv(tmp_path):
    """Rows up to the resumed step stay (later ones, and a torn last row, go); new rows and
    new columns are appended as SB3 writes them."""
    path = tmp_path / "progress.csv"
    path.write_text("time/total_timesteps,rollout/ep_rew_mean\n32,-1.5\n64,-1.2\n96,-1.0\n12")
    assert keep_rows_until(path, 64) == 2
    logger = make_logger(tmp_path, tensorboard=False, resume_step=64)
    logger.record("time/total_timesteps", 96)
    logger.record("time/steps_per_second", 10.0)
    logger.dump(96)
    logger.close()
    rows = list(csv.DictReader(path.open()))
    assert [r["time/total_timesteps"] for r in rows] == ["32", "64", "96"]
    assert rows[0]["rollout/ep_rew_mean"] == "-1.5" and rows[2]["time/steps_per_second"] == "10.0"


def logged_steps(path: Path) -> list[int]:
    """``time/total_timesteps`` of each whole row of progress.csv."""
    return [int(float(r["time/total_timesteps"])) for r in csv.DictReader(path.open())
            if r.get("time/total_timesteps") and None not in r]


def steps_in(ckpts: Path) -> list[int]:
    return sorted(int(p.stem.split("_")[1]) for p in ckpts.glob("step_*.zip"))


def assert_every_checkpoint_loads(ckpts: Path) -> None:
    """No file under a final name is half-written: each zip is a whole archive whose model,
    statistics and config load; only *.tmp names may hold a torn write."""
    json.loads((ckpts / "config.json").read_text())
    for z in ckpts.glob("step_*.zip"):
        with zipfile.ZipFile(z) as archive:
            assert archive.testzip() is None, z
        assert C.stats_path(z).is_file(), z
        assert loads(z) == int(z.stem.split("_")[1]), z


def test_sigkill_during_saves_then_resume(tmp_path):
    """Five SIGKILLs of train.py at seeded random times while it checkpoints every 16 steps
    (saving is most of its time, so most kills land mid-save); after each, every checkpoint
    loads and --resume continues from the newest; at the end progress.csv holds the rows of
    every segment up to its checkpoint, in step order."""
    rng = random.Random(0)
    hp = tmp_path / "hp.yml"
    hp.write_text("octogym/TBUAssign-v0:\n  n_steps: 16\n  batch_size: 32\n  n_epochs: 1\n"
                  "  normalize: true\n  policy_kwargs: \"dict(net_arch=[8])\"\n")
    out, ckpts = tmp_path / "run", tmp_path / "run" / "checkpoints"
    common = ["--no-progress", "--no-tensorboard", "--eval-every", "0", "--checkpoint-every",
              "16", "--timesteps", "1000000"]
    argv = ["--n-envs", "2", "--hyperparams", str(hp), "--env-kwargs",
            "requests_per_episode=20", "--out", str(out)]
    newest, torn = 0, 0
    for _ in range(5):
        p = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *argv, *common],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while not steps_in(ckpts) or steps_in(ckpts)[-1] <= newest:  # wait for progress
            assert p.poll() is None, p.stderr.read().decode()
            assert time.monotonic() < deadline, "no new checkpoint in 300 s"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stderr.close()
        torn += bool(list(ckpts.glob("*.tmp")))
        assert_every_checkpoint_loads(ckpts)
        newest = steps_in(ckpts)[-1]
        argv = ["--resume", str(ckpts / f"step_{newest:08d}.zip")]
    before = [n for n in logged_steps(out / "progress.csv") if n <= newest]
    assert before, "the killed runs logged no rollout"
    final = subprocess.run([sys.executable, str(ROOT / "train.py"), *argv, *common[:-2],
                            "--timesteps", str(newest + 32)], cwd=ROOT, capture_output=True,
                           text=True)
    assert final.returncode == 0, final.stderr
    assert loads(out / "final.zip") == newest + 32
    assert not list(ckpts.glob("*.tmp"))  # the resumed run swept what the kills left
    logged = logged_steps(out / "progress.csv")
    assert logged[:len(before)] == before and logged[-1] == newest + 32
    assert logged == sorted(set(logged))  # every segment's rows, none past its checkpoint
    print(f"{torn} of 5 kills left a .tmp file (killed mid-save)")
