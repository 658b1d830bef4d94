"""Checkpoints of ``train.py``: written so that a kill at any moment leaves no half-written
file under a final name, read so that a damaged one is a one-line :class:`CheckpointError`
naming the file (``docs/agents.md``, "Checkpoint layout").

A checkpoint ``<stem>.zip`` (SB3's model archive: policy, optimiser, step count) has beside it
``config.json`` (the run's configuration, of the latest checkpoint of the folder) and, when
the run normalises (hyperparameter ``normalize``), ``<stem>_vecnormalize.pkl``.

Writing (:func:`save_checkpoint`): every file goes to ``<name>.tmp`` and is renamed over its
final name (``os.replace``, atomic on POSIX), in the order ``config.json``, the pickle, the
zip. The zip's rename commits the checkpoint: a zip under its final name always has its
``config.json`` and its pickle beside it. The zip also records the pickle's SHA-256 (entry
``octogym_vecnormalize.sha256``, which SB3 ignores), so a pickle that does not belong to the
zip (say a kill between the two renames while ``final`` is being overwritten) is refused,
never used. A kill leaves at most ``*.tmp`` files, which :func:`remove_temporaries` deletes
when a run (re)starts in the folder.

Reading: :func:`read_config`, :func:`load_model`, :func:`load_vecnormalize` raise
:class:`CheckpointError` for a missing, truncated or inconsistent file.

Checkpoints are trusted input: loading one unpickles the ``*_vecnormalize.pkl`` beside it
(and SB3 unpickles parts of the zip), which can run arbitrary code. Load only checkpoints
you made or trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from octogym.agents.config import ALGOS, normalises

CONFIG_NAME = "config.json"
TMP_SUFFIX = ".tmp"
#: The zip entry holding the SHA-256 of the checkpoint's VecNormalize pickle.
STATS_DIGEST = "octogym_vecnormalize.sha256"

#: The keys of ``config.json`` and their types: what every loader needs ...
AGENT_KEYS: dict[str, type] = {"env_id": str, "algo": str, "env_kwargs": dict}
#: ... and what ``train.py --resume`` needs besides.
RESUME_KEYS: dict[str, type] = {**AGENT_KEYS, "seed": int, "n_envs": int, "hyperparams": dict}


class CheckpointError(ValueError):
    """A checkpoint or its ``config.json`` / VecNormalize pickle is missing, damaged or
    inconsistent. The message is one line and starts with the offending file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        super().__init__(" ".join(f"{path}: {problem}".split()))


def _cause(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def stats_path(zip_path: str | Path) -> Path:
    """The VecNormalize statistics of checkpoint ``zip_path``: ``<stem>_vecnormalize.pkl``."""
    zip_path = Path(zip_path)
    return zip_path.with_name(zip_path.stem + "_vecnormalize.pkl")


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(f)`` on ``<path>.tmp``, flush it to disk, rename it to ``path``."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with tmp.open("w+b") as f:  # readable too: the zip is appended to after SB3 writes it
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(model: Any, norm: Any, stem: Path, config: dict[str, Any]) -> Path:
    """Save ``model`` as ``<stem>.zip`` with ``config.json`` (``config`` plus
    ``timesteps_done`` and ``checkpoint``) and, if ``norm`` (a ``VecNormalize``) is given,
    its statistics; in the commit order of the module docstring. Returns the zip's path."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    cfg = {**config, "timesteps_done": int(model.num_timesteps), "checkpoint": stem.name}
    text = (json.dumps(cfg, indent=2) + "\n").encode()
    atomic_write(stem.parent / CONFIG_NAME, lambda f: f.write(text))
    zip_path = stem.with_name(stem.name + ".zip")
    digest = None
    if norm is not None:
        blob = pickle.dumps(norm)
        digest = hashlib.sha256(blob).hexdigest()
        atomic_write(stats_path(zip_path), lambda f: f.write(blob))

    def write_zip(f: IO[bytes]) -> None:
        model.save(f)
        if digest is not None:
            with zipfile.ZipFile(f, "a") as archive:
                archive.writestr(STATS_DIGEST, digest)
    atomic_write(zip_path, write_zip)
    return zip_path


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the ``*.tmp`` files an interrupted :func:`save_checkpoint` left in ``folder``
    (never loaded: nothing reads a ``.tmp`` name). Returns what was deleted."""
    gone = sorted(folder.glob("*" + TMP_SUFFIX)) if folder.is_dir() else []
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def checkpoint_zip(path: str | Path) -> Path:
    """The checkpoint ``path`` names: a run directory (its ``final.zip``), a ``.zip``, or a
    stem without the suffix. Raises :class:`CheckpointError` if it is not a file."""
    path = Path(path)
    if path.is_dir():
        path = path / "final.zip"
    elif path.suffix != ".zip":
        path = path.with_name(path.name + ".zip")
    if not path.is_file():
        raise CheckpointError(path, "checkpoint not found (a train.py run directory with "
                              "final.zip, or a checkpoint .zip)")
    return path


def read_config(zip_path: Path, keys: dict[str, type] = AGENT_KEYS) -> dict[str, Any]:
    """The ``config.json`` beside checkpoint ``zip_path``, checked: a JSON object with
    ``keys`` of the given types, a known ``algo`` and a registered ``env_id``."""
    path = Path(zip_path).parent / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(path, f"missing: no {CONFIG_NAME} next to checkpoint {zip_path} "
                              "(train.py writes one beside every checkpoint)")
    try:
        cfg = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(path, f"not readable JSON ({_cause(e)})") from e
    if not isinstance(cfg, dict):
        raise CheckpointError(path, f"expected a JSON object, got {type(cfg).__name__}")
    for key, typ in keys.items():
        if key not in cfg:
            raise CheckpointError(path, f"missing key {key!r} (needs {sorted(keys)})")
        # bool is an int in Python; a seed of `true` is still wrong
        if not isinstance(cfg[key], typ) or (typ is int and isinstance(cfg[key], bool)):
            raise CheckpointError(path, f"{key!r} must be of type {typ.__name__}, got "
                                  f"{type(cfg[key]).__name__} {cfg[key]!r}")
    if cfg["algo"] not in ALGOS:
        raise CheckpointError(path, f"'algo' {cfg['algo']!r} is not one of {list(ALGOS)}")
    from octogym.envs.registration import ENV_IDS
    if cfg["env_id"] not in ENV_IDS:
        raise CheckpointError(path, f"'env_id' {cfg['env_id']!r} is not an octogym env id; "
                              f"one of {list(ENV_IDS)}")
    if "n_envs" in keys and cfg["n_envs"] < 1:
        raise CheckpointError(path, f"'n_envs' must be >= 1, got {cfg['n_envs']}")
    return cfg


def algo_class(algo: str) -> type:
    """The SB3 class of ``algo`` (one of :data:`~octogym.agents.config.ALGOS` but
    ``ppo_native``, which is ours: ``octogym.agents.ppo_policy.load_native``)."""
    if algo not in ("ppo", "maskable_ppo"):
        raise ValueError(f"{algo!r} is not a stable-baselines3 algorithm")
    if algo == "maskable_ppo":
        from sb3_contrib import MaskablePPO
        return MaskablePPO
    from stable_baselines3 import PPO
    return PPO


def load_model(zip_path: Path, algo: str, env: Any = None) -> Any:
    """``algo``'s model from ``zip_path`` on the CPU (attached to ``env`` if given). A
    truncated or foreign archive, or one holding another algorithm's policy, is a
    :class:`CheckpointError`."""
    try:
        model = algo_class(algo).load(zip_path, env=env, device="cpu")
    except Exception as e:  # SB3 raises whatever zipfile / json / torch / pickle raise
        raise CheckpointError(zip_path, f"cannot load it as a {algo} model ({CONFIG_NAME} "
                              f"says algo {algo!r}; {_cause(e)})") from e
    masked = "Maskable" in type(model.policy).__name__
    if masked != (algo == "maskable_ppo"):
        raise CheckpointError(zip_path, f"holds a {type(model.policy).__name__}, but "
                              f"{CONFIG_NAME} says algo {algo!r}")
    return model


def stats_digest(zip_path: Path) -> str | None:
    """The SHA-256 of its statistics pickle that checkpoint ``zip_path`` records (``None``
    for a zip saved without one, e.g. by SB3 itself)."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            if STATS_DIGEST not in archive.namelist():
                return None
            return archive.read(STATS_DIGEST).decode().strip()
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise CheckpointError(zip_path, f"cannot load it: not a whole zip archive "
                              f"({_cause(e)})") from e


def load_vecnormalize(zip_path: Path, hyperparams: dict[str, Any], venv: Any = None,
                      what: str = "any") -> Any:
    """The ``VecNormalize`` saved beside ``zip_path`` (attached to ``venv`` if given), or
    ``None`` when ``hyperparams`` do not normalise (``what`` as in
    :func:`~octogym.agents.config.normalises`: ``"obs"`` when only observation statistics
    matter) and no statistics were saved. Unpickles the file: checkpoints are trusted input."""
    from stable_baselines3.common.vec_env import VecNormalize

    path = stats_path(zip_path)
    if not path.is_file():
        if normalises(hyperparams, what):
            raise CheckpointError(path, f"missing: the run normalises (hyperparameter "
                                  f"'normalize' in {CONFIG_NAME}), so {Path(zip_path).name} "
                                  "needs its statistics")
        return None
    blob = path.read_bytes()
    expected = stats_digest(zip_path)
    if expected is not None and hashlib.sha256(blob).hexdigest() != expected:
        raise CheckpointError(path, f"does not belong to {Path(zip_path).name} (its SHA-256 "
                              "differs from the one the zip records; an interrupted save?)")
    try:
        norm = pickle.loads(blob)
    except Exception as e:  # a truncated pickle raises EOFError, UnpicklingError, ...
        raise CheckpointError(path, f"cannot unpickle it ({_cause(e)})") from e
    if not isinstance(norm, VecNormalize):
        raise CheckpointError(path, f"holds a {type(norm).__name__}, not VecNormalize "
                              "statistics")
    if venv is not None:
        try:
            norm.set_venv(venv)
        except Exception as e:
            raise CheckpointError(path, f"does not fit the env ({_cause(e)})") from e
    return norm
