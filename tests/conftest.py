"""Helpers shared by the test modules (imported as ``from conftest import ...``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Test modules import torch before octogym (too late for octogym to choose OpenMP's wait
# policy, octogym/threads.py): choose it here, before either loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
"""The repository's root (the source checkout the tests run against)."""


def run_script(script: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run one of the repository's scripts (``evaluate.py``, ``train.py``, ...) as a user would:
    a fresh interpreter in the repository's root, output captured as text."""
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def train_tiny(out: Path, *args: str) -> Path:
    """A tiny MaskablePPO run of ``train.py`` (normalised observations, so the run has the
    stats file too; 64 steps on 2 envs of 20 requests) into ``out / "r"``, plus ``args``;
    returns that run folder. Fails the test with train.py's stderr if the run fails."""
    hp = out / "hp.yml"
    hp.write_text("octogym/TBUAssign-v0:\n  n_steps: 32\n  batch_size: 32\n  n_epochs: 1\n"
                  "  normalize: true\n  policy_kwargs: \"dict(net_arch=[16])\"\n")
    res = run_script("train.py", "--n-envs", "2", "--timesteps", "64", "--hyperparams", str(hp),
                     "--env-kwargs", "requests_per_episode=20", "--out", str(out / "r"),
                     "--no-progress", "--no-tensorboard", *args)
    assert res.returncode == 0, res.stderr
    return out / "r"
