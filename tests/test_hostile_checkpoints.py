"""Damaged checkpoints: every loader raises ``CheckpointError`` naming the offending file (and
field), and the CLIs (``train.py --resume``, ``evaluate.py --agents``) print that as one line
and exit with status 2, never a traceback. Every case goes through each CLI's ``main`` in this
process (fast); a few also through the real scripts in a subprocess.

Each case copies a tiny trained run (MaskablePPO, normalised observations, so the run has
``final.zip``, ``final_vecnormalize.pkl``, ``config.json`` and a checkpoint at step 32) and
damages one thing."""

import importlib.util
import json
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from octogym.agents import SB3Agent, make_agent
from octogym.agents.checkpoint import STATS_DIGEST, CheckpointError

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    hp = out / "hp.yml"
    hp.write_text("octogym/TBUAssign-v0:\n  n_steps: 32\n  batch_size: 32\n  n_epochs: 1\n"
                  "  normalize: true\n  policy_kwargs: \"dict(net_arch=[16])\"\n")
    subprocess.run([sys.executable, str(ROOT / "train.py"), "--n-envs", "2", "--timesteps", "64",
                    "--hyperparams", str(hp), "--env-kwargs", "requests_per_episode=20",
                    "--out", str(out / "r"), "--no-progress", "--no-tensorboard",
                    "--eval-every", "0", "--checkpoint-every", "32"], check=True, cwd=ROOT,
                   capture_output=True)
    return out / "r"


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def edit_config(**changes):
    def damage(d: Path) -> None:
        cfg = json.loads((d / "config.json").read_text())
        for k, v in changes.items():
            if v is None:
                del cfg[k]
            else:
                cfg[k] = v
        (d / "config.json").write_text(json.dumps(cfg))
    return damage


def other_stats(d: Path) -> None:
    """A whole VecNormalize pickle, but that of another checkpoint of the run."""
    shutil.copy(d / "checkpoints" / "step_00000032_vecnormalize.pkl",
                d / "final_vecnormalize.pkl")


def plain_sb3_zip(d: Path) -> None:
    """final.zip as SB3 itself saves it: without the digest of its statistics."""
    z = d / "final.zip"
    with zipfile.ZipFile(z) as archive:
        entries = [(i, archive.read(i)) for i in archive.infolist() if i.filename != STATS_DIGEST]
    with zipfile.ZipFile(z, "w") as archive:
        for info, data in entries:
            archive.writestr(info, data)


# (id, damage(run_dir), the file the error must name, a word it must contain)
CASES = [
    ("truncated-zip", lambda d: truncate(d / "final.zip"), "final.zip", "cannot load"),
    ("empty-zip", lambda d: (d / "final.zip").write_bytes(b""), "final.zip", "cannot load"),
    ("garbage-zip", lambda d: (d / "final.zip").write_bytes(b"not a zip" * 50), "final.zip",
     "cannot load"),
    ("truncated-pkl", lambda d: truncate(d / "final_vecnormalize.pkl"),
     "final_vecnormalize.pkl", "does not belong"),
    ("truncated-pkl-sb3-zip", lambda d: (plain_sb3_zip(d), truncate(
        d / "final_vecnormalize.pkl")), "final_vecnormalize.pkl", "unpickle"),
    ("missing-pkl", lambda d: (d / "final_vecnormalize.pkl").unlink(),
     "final_vecnormalize.pkl", "missing"),
    ("pkl-not-vecnormalize", lambda d: (plain_sb3_zip(d), (d / "final_vecnormalize.pkl")
     .write_bytes(pickle.dumps({"obs_rms": None}))), "final_vecnormalize.pkl",
     "not VecNormalize"),
    ("pkl-of-another-save", other_stats, "final_vecnormalize.pkl", "does not belong"),
    ("config-a-list", lambda d: (d / "config.json").write_text("[1, 2]"), "config.json",
     "JSON object"),
    ("config-not-json", lambda d: (d / "config.json").write_text("{env_id: "), "config.json",
     "JSON"),
    ("config-missing", lambda d: (d / "config.json").unlink(), "config.json", "missing"),
    ("config-wrong-algo", edit_config(algo="ppo"), "final.zip", "algo"),
    ("config-unknown-algo", edit_config(algo="dqn"), "config.json", "algo"),
    ("config-missing-key", edit_config(env_id=None), "config.json", "env_id"),
    ("config-unknown-env", edit_config(env_id="CartPole-v1"), "config.json", "env_id"),
    ("config-kwargs-not-dict", edit_config(env_kwargs=["load", 0.9]), "config.json",
     "env_kwargs"),
    ("missing-final-zip", lambda d: (d / "final.zip").unlink(), "final.zip", ""),
]


@pytest.fixture(params=CASES, ids=[c[0] for c in CASES])
def damaged(request, trained, tmp_path):
    name, damage, bad_file, word = request.param
    d = tmp_path / "run"
    shutil.copytree(trained, d)
    damage(d)
    return d, d / bad_file, word


def script(name: str):
    """``train.py`` / ``evaluate.py`` imported as a module (their ``main(argv)``)."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", ROOT / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while being defined
    spec.loader.exec_module(mod)
    return mod


class Result:
    """What a CLI run gave: exit status and stderr (like ``subprocess.CompletedProcess``)."""

    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode, self.stderr = returncode, stderr


def run_main(name: str, argv: list[str], capsys) -> Result:
    capsys.readouterr()
    try:
        code = script(name).main(argv)
    except SystemExit as e:
        code = e.code
    return Result(code, capsys.readouterr().err)


def run_script(name: str, argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / f"{name}.py"), *argv], cwd=ROOT,
                          capture_output=True, text=True)


def one_line_error(p, prog: str, path: Path, word: str) -> str:
    err = p.stderr.strip()
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in err and "\n" not in err, err
    assert err.startswith(f"{prog}: error: ") and str(path) in err and word in err, err
    return err


def test_make_agent_names_the_damaged_file(damaged):
    d, bad, word = damaged
    with pytest.raises(CheckpointError) as e:
        make_agent(str(d))
    assert e.value.path == bad and word in str(e.value) and "\n" not in str(e.value)
    if bad.name != "final.zip" or bad.exists():  # SB3Agent given the zip itself
        with pytest.raises(CheckpointError, match=word):
            SB3Agent(d / "final.zip")


def resume_argv(d: Path, out: Path) -> list[str]:
    return ["--resume", str(d / "final.zip"), "--timesteps", "128", "--out", str(out),
            "--no-progress", "--no-tensorboard", "--eval-every", "0"]


def evaluate_argv(d: Path, out: Path) -> list[str]:
    return ["--agents", str(d), "--quick", "--no-progress", "--out", str(out)]


def test_train_resume_refuses_in_one_line(damaged, tmp_path, capsys):
    d, bad, word = damaged
    p = run_main("train", resume_argv(d, tmp_path / "resumed"), capsys)
    one_line_error(p, "train.py", bad, word)
    assert not (tmp_path / "resumed" / "final.zip").exists()


def test_evaluate_agents_refuses_in_one_line(damaged, tmp_path, capsys):
    d, bad, word = damaged
    p = run_main("evaluate", evaluate_argv(d, tmp_path / "results"), capsys)
    one_line_error(p, "evaluate.py", bad, word)


@pytest.mark.parametrize("case", ["truncated-zip", "truncated-pkl-sb3-zip", "config-a-list"])
def test_the_scripts_refuse_in_one_line(case, trained, tmp_path):
    """The same through the real scripts: status 2, one line, no traceback."""
    _, damage, bad_file, word = next(c for c in CASES if c[0] == case)
    d = tmp_path / "run"
    shutil.copytree(trained, d)
    damage(d)
    one_line_error(run_script("train", resume_argv(d, tmp_path / "resumed")), "train.py",
                   d / bad_file, word)
    one_line_error(run_script("evaluate", evaluate_argv(d, tmp_path / "results")),
                   "evaluate.py", d / bad_file, word)


@pytest.mark.parametrize("spec", ["no/such/run", "no/such/run/step_00000064.zip"])
def test_a_path_that_does_not_exist(spec, tmp_path, capsys):
    with pytest.raises(CheckpointError, match="no such file or directory") as e:
        make_agent(str(tmp_path / spec))
    assert e.value.path == tmp_path / spec
    p = run_main("evaluate", ["--agents", str(tmp_path / spec), "--no-progress"], capsys)
    one_line_error(p, "evaluate.py", tmp_path / spec, "neither a scheduler")
    p = run_main("train", ["--resume", str(tmp_path / spec)], capsys)
    one_line_error(p, "train.py", tmp_path / spec, "not a checkpoint")


def test_resume_needs_the_run_keys(trained, tmp_path, capsys):
    """What only --resume reads: seed, n_envs, hyperparameters, target_timesteps."""
    for change, word in [({"seed": "0"}, "'seed' must be of type int"), ({"n_envs": 0}, "'n_envs'"),
                         ({"hyperparams": None}, "'hyperparams'"),
                         ({"target_timesteps": -5}, "'target_timesteps'")]:
        d = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        shutil.copytree(trained, d)
        edit_config(**change)(d)
        p = run_main("train", ["--resume", str(d / "final.zip"), "--no-progress",
                               "--no-tensorboard"], capsys)
        one_line_error(p, "train.py", d / "config.json", word)
