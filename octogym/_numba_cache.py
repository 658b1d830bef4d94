"""Where numba caches the compiled kernel.

numba's ``cache=True`` checks only the timestamp of the file that defines a function, not of
the modules it calls, so after an upgrade (or an edit of a helper) a stale cached kernel could
be loaded. We therefore key the cache directory by a hash of every file whose functions are
compiled (``octogym/rng.py``, ``octogym/kernel/*.py`` and the environment modules that compile
code, ``octogym.envs``' files containing ``@njit``) and by the inlining mode
(``OCTOGYM_KERNEL_INLINE``, see ``octogym/kernel/jit.py``). Imported before any ``@njit``
decorator runs (numba reads the directory when a function is decorated).

Set ``OCTOGYM_CACHE_DIR`` to choose the parent folder (default ``~/.cache/octogym``; a
temporary folder if that is not writable).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numba

_ROOT = Path(__file__).resolve().parent


def _env_sources() -> list[Path]:
    """The compiled environment modules: ``envs/`` is installed as ``octogym/envs`` and
    sits beside ``octogym/`` in a source checkout."""
    for d in (_ROOT / "envs", _ROOT.parent / "envs"):
        if (d / "core.py").is_file():
            return [p for p in d.glob("*.py") if b"@njit" in p.read_bytes()]
    return []


def _source_hash() -> str:
    h = hashlib.sha1(numba.__version__.encode())
    h.update(os.environ.get("OCTOGYM_KERNEL_INLINE", "").encode())  # unset: the default mode
    for p in sorted([_ROOT / "rng.py", *(_ROOT / "kernel").glob("*.py"), *_env_sources()]):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _cache_dir() -> Path:
    base = Path(os.environ.get("OCTOGYM_CACHE_DIR", Path.home() / ".cache" / "octogym"))
    d = base / "numba" / _source_hash()
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError:
        d = Path(tempfile.gettempdir()) / "octogym-numba" / _source_hash()
        d.mkdir(parents=True, exist_ok=True)
    return d


CACHE_DIR = _cache_dir()
numba.config.CACHE_DIR = str(CACHE_DIR)
