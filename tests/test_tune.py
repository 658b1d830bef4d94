"""Ray Tune over train.py (octogym.agents.tune): a 2-trial search of a few thousand steps
each on a local Ray instance of 2 CPUs keeps the best trial in train.py's run layout, and
make_agent loads it; bad search files fail naming the key."""

from __future__ import annotations

import csv
import json

import pytest

from octogym.agents.tune import load_tune_spec, run_tune

HP = ("octogym/TBUAssign-v0:\n  n_envs: 2\n  n_timesteps: 128\n  n_steps: 64\n"
      "  batch_size: 64\n  n_epochs: 1\n  policy_kwargs: \"dict(net_arch=[16])\"\n")
SEARCH = """\
name: tiny
env: octogym/TBUAssign-v0
algo: maskable_ppo
hyperparams: hp.yml
timesteps: 2000
env_kwargs: {requests_per_episode: 20}
eval_episodes: 1
num_samples: 2
search:
  learning_rate: {loguniform: [1.0e-4, 1.0e-3]}
  n_epochs: {choice: [1, 2]}
"""


@pytest.mark.slow
def test_two_trial_search_keeps_the_best_run_and_it_loads(tmp_path):
    ray = pytest.importorskip("ray")
    from octogym.agents import make_agent

    (tmp_path / "hp.yml").write_text(HP)
    (tmp_path / "tiny.yaml").write_text(SEARCH)
    spec = load_tune_spec(tmp_path / "tiny.yaml")
    try:
        res = run_tune(spec, tmp_path / "out", num_cpus=2, verbose=0)
    finally:
        ray.shutdown()
    assert res["trials"] == 2 and res["failed"] == 0
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    lat = [float(r["latency_mean_us"]) for r in rows]
    assert len(rows) == 2 and res["latency"] == min(lat)
    assert len({r["config/learning_rate"] for r in rows}) == 2  # two different samples
    best = res["best"]
    cfg = json.loads((best / "config.json").read_text())
    assert cfg["timesteps_done"] >= 2000 and cfg["env_id"] == "octogym/TBUAssign-v0"
    assert abs(cfg["hyperparams"]["learning_rate"] - res["config"]["learning_rate"]) < 1e-12
    agent = make_agent(best)
    assert agent.env_id == "octogym/TBUAssign-v0"


@pytest.mark.parametrize("edit,needle", [
    (("env: octogym/TBUAssign-v0", "env: octogym/Nope-v0"), "env must be one of"),
    (("timesteps: 2000", "timesteps: 0"), "timesteps must be a positive integer"),
    (("n_epochs: {choice", "n_epoch: {choice"), "search.n_epoch: unknown hyperparameter"),
    (("{choice: [1, 2]}", "{normal: [1, 2]}"), "search.n_epochs: unknown sampler 'normal'"),
    (("[1.0e-4, 1.0e-3]", "[0, 1.0e-3]"), "search.learning_rate.loguniform"),
    (("hyperparams: hp.yml", "hyperparams: missing.yml"), "hyperparams: file"),
    (("num_samples: 2", "num_sample: 2"), "unknown keys ['num_sample']"),
])
def test_bad_search_files_fail_naming_the_key(tmp_path, edit, needle):
    (tmp_path / "hp.yml").write_text(HP)
    f = tmp_path / "bad.yaml"
    f.write_text(SEARCH.replace(*edit))
    with pytest.raises(ValueError, match="bad.yaml") as e:
        load_tune_spec(f)
    assert needle in str(e.value)
