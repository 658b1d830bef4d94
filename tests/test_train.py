"""train.py smoke tests: the real script in a subprocess with a tiny budget."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT

torch.set_num_threads(1)
TINY = ("octogym/{env}:\n  n_envs: 2\n  n_timesteps: 128\n  n_steps: 32\n  batch_size: 32\n"
        "  n_epochs: 1\n  policy_kwargs: \"dict(net_arch=[16])\"\n")


def train(*argv: str, check: bool = True, tensorboard: bool = False
          ) -> subprocess.CompletedProcess:
    tb = "--tensorboard" if tensorboard else "--no-tensorboard"
    p = subprocess.run([sys.executable, str(ROOT / "train.py"), "--no-progress", tb, *argv],
                       cwd=ROOT, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(p.stderr)
    return p


def steps(zip_path: Path) -> int:
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO
    cfg = json.loads((zip_path.parent / "config.json").read_text())
    cls = MaskablePPO if cfg["algo"] == "maskable_ppo" else PPO
    return cls.load(zip_path, device="cpu").num_timesteps


@pytest.fixture
def hp(tmp_path):
    path = tmp_path / "hp.yml"
    path.write_text(TINY.format(env="TBUAssign-v0") + TINY.format(env="ClusterAssign-v0"))
    return str(path)


@pytest.mark.parametrize("env,algo", [("octogym/TBUAssign-v0", "maskable_ppo"),
                                      ("octogym/ClusterAssign-v0", "ppo")])
def test_smoke_writes_final_model_config_and_checkpoints(tmp_path, hp, env, algo):
    out = tmp_path / "run"
    p = train("--env", env, "--algo", algo, "--timesteps", "128", "--hyperparams", hp,
              "--env-kwargs", '{"requests_per_episode": 20}', "--out", str(out),
              "--checkpoint-every", "64", "--seed", "3", "--eval-every", "64",
              "--eval-episodes", "1", tensorboard=algo == "ppo")
    assert "steps/s" in p.stdout
    assert bool(list(out.glob("**/events.out.tfevents.*"))) == (algo == "ppo")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["env_id"] == env and cfg["algo"] == algo and cfg["seed"] == 3
    assert cfg["env_kwargs"] == {"requests_per_episode": 20}
    assert cfg["timesteps_done"] == 128 and steps(out / "final.zip") == 128
    assert (out / "checkpoints" / "step_00000064.zip").is_file()
    header = (out / "progress.csv").read_text().splitlines()[0]
    assert "time/steps_per_second" in header
    if env == "octogym/ClusterAssign-v0":  # 20-step episodes end within the run: VecMonitor
        assert "rollout/ep_rew_mean" in header and "rollout/ep_len_mean" in header
    assert (out / "eval.csv").read_text().count("\n") == 4  # header, steps 0, 64, 128
    assert (out / "curve.png").stat().st_size > 0


def test_pretrain_imitates_a_heuristic(tmp_path):
    path = tmp_path / "hp.yml"
    path.write_text(TINY.format(env="TBUAssign-v0") + "  normalize: \"dict(norm_obs=False)\"\n"
                    "  pretrain: \"dict(teacher='least_loaded', samples=64, epochs=1)\"\n")
    out = tmp_path / "run"
    p = train("--timesteps", "64", "--hyperparams", str(path), "--env-kwargs",
              "requests_per_episode=20", "--out", str(out), "--eval-every", "0")
    assert "imitated 'least_loaded': 64 samples" in p.stdout
    stats = json.loads((out / "config.json").read_text())["pretrain_stats"]
    assert stats["teacher"] == "least_loaded" and 0 <= stats["agreement"] <= 1
    assert (out / "final_vecnormalize.pkl").is_file() and not (out / "eval.csv").exists()


def test_resume_continues_the_step_count(tmp_path, hp):
    out = tmp_path / "run"
    train("--timesteps", "128", "--hyperparams", hp, "--env-kwargs",
          "requests_per_episode=20", "--out", str(out), "--checkpoint-every", "64")
    ckpt = out / "checkpoints" / "step_00000064.zip"
    before = steps(ckpt)
    train("--resume", str(ckpt), "--timesteps", "256", "--out", str(tmp_path / "resumed"))
    after = steps(tmp_path / "resumed" / "final.zip")
    assert before == 64 and after == 256
    cfg = json.loads((tmp_path / "resumed" / "config.json").read_text())
    assert cfg["env_kwargs"] == {"requests_per_episode": 20} and cfg["timesteps_done"] == 256


@pytest.mark.parametrize("argv,message", [
    (["--seed", "9999", "--n-envs", "2"], "must lie in \\[0, 10000\\)"),
    (["--seed", "-1"], "must lie in"),
    (["--env", "CartPole-v1"], "unknown env"),
    (["--algo", "dqn"], "invalid choice"),
    (["--env-kwargs", "telepathy=1"], "unknown keys \\['telepathy'\\]"),
    (["--env-kwargs", "{not json"], "invalid JSON"),
    (["--env-kwargs", "load"], "key=value"),
    (["--env-kwargs", "load=-1", "--timesteps", "1"], "env rejected"),
    (["--hyperparams", "/nonexistent.yml"], "not found"),
    (["--resume", "/nonexistent.zip"], "not a checkpoint"),
])
def test_bad_arguments_fail_clearly(argv, message):
    p = train(*argv, check=False)
    assert p.returncode == 2
    assert re.search(message, p.stderr), p.stderr


def test_resume_rejects_a_different_env(tmp_path, hp):
    out = tmp_path / "run"
    train("--timesteps", "64", "--hyperparams", hp, "--env-kwargs",
          "requests_per_episode=20", "--out", str(out))
    p = train("--resume", str(out / "final.zip"), "--env", "octogym/ClusterAssign-v0",
              check=False)
    assert p.returncode == 2 and "from the checkpoint's config.json" in p.stderr


def train_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while being defined
    spec.loader.exec_module(mod)
    return mod


def test_argument_types_come_from_the_annotations():
    t = train_module()
    args, given = t.parse_args(["--n-envs", "4", "--env-kwargs", "load=0.9", "hardware=wafer",
                                "--no-progress", "--algo", "ppo", "--tensorboard"])
    assert args.n_envs == 4 and args.algo == "ppo" and args.progress is False
    assert args.env_kwargs == ["load=0.9", "hardware=wafer"] and args.tensorboard is True
    assert args.seed == 0 and args.timesteps is None and args.eval_every == 50_000  # defaults
    assert given == {"n_envs", "env_kwargs", "progress", "algo", "tensorboard"}
    assert t.argument(t.typing.get_type_hints(t.Args)["algo"]) == {
        "choices": ("ppo", "maskable_ppo", "ppo_native")}
    for bad in (["--n-envs", "four"], ["--algo", "dqn"], ["--eval-every", "1.5"]):
        with pytest.raises(SystemExit) as e:
            t.parse_args(bad)
        assert e.value.code == 2


def test_env_kwargs_parsing():
    t = train_module()
    assert t.parse_env_kwargs(['{"load": 0.9}']) == {"load": 0.9}
    assert t.parse_env_kwargs(["load=0.9", "hardware=wafer"]) == {"load": 0.9,
                                                                  "hardware": "wafer"}
    with pytest.raises(ValueError, match="unknown keys"):
        t.parse_env_kwargs(["telepathy=1"])
