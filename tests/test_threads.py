"""The threading octogym chooses at import (octogym/threads.py), each case in a fresh
interpreter: OpenMP reads its wait policy when it loads, once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPORT = """
import json, os, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    {first}
    import octogym.threads as t
print(json.dumps({{"policy": os.environ.get("OMP_WAIT_POLICY"), "spins": t.OMP_SPINS,
                  "threaded": t.threaded_steps(),
                  "warned": [type(w.message).__name__ for w in caught]}}))
"""


def report(first: str = "", **env: str) -> dict:
    """What ``import octogym`` chose in a fresh interpreter that ran ``first`` before it, with
    no wait policy in its environment but ``env``'s."""
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", REPORT.format(first=first or "pass")],
                          env={**base, "NUMBA_NUM_THREADS": "2", **env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_sets_passive_wait_policy_and_keeps_threaded_steps():
    r = report()
    assert r == {"policy": "PASSIVE", "spins": False, "threaded": True, "warned": []}


def test_user_wait_policy_wins_and_spinning_steps_serially():
    r = report(OMP_WAIT_POLICY="ACTIVE")
    assert r == {"policy": "ACTIVE", "spins": True, "threaded": False, "warned": []}
    assert report(OMP_WAIT_POLICY="passive")["threaded"]
    assert not report(NUMBA_NUM_THREADS="1")["threaded"]


def test_openmp_loaded_first_steps_serially_and_warns():
    pytest.importorskip("torch")
    r = report("import torch")
    assert r == {"policy": "PASSIVE", "spins": True, "threaded": False,
                 "warned": ["ThreadingWarning"]}
    # a non-OpenMP threading layer keeps threaded steps
    assert report("import torch", NUMBA_THREADING_LAYER="workqueue")["threaded"]


def test_vector_env_step_follows_the_choice(monkeypatch):
    import gymnasium as gym

    import octogym.envs.core as core

    def step_of(n: int):
        env = gym.make_vec("octogym/TBUAssign-v0", num_envs=n,
                           vectorization_mode="vector_entry_point", requests_per_episode=5)
        return env.unwrapped.core._step

    threads = core.threaded_steps()
    assert step_of(core.PARALLEL_MIN) is (core.step_parallel if threads else core.step_serial)
    assert step_of(core.PARALLEL_MIN - 1) is core.step_serial
    monkeypatch.setattr(core, "threaded_steps", lambda: False)
    assert step_of(core.PARALLEL_MIN) is core.step_serial
