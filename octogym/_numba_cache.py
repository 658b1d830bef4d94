"""Where numba caches the compiled kernel.

numba's ``cache=True`` checks only the timestamp of the file that defines a function, not of
the modules it calls, so after an upgrade (or an edit of a helper) a stale cached kernel could
be loaded. We therefore key the cache directory by a hash of every file whose functions are
compiled (``octogym/rng.py``, ``octogym/kernel/*.py`` and the environment modules that compile
code, ``octogym.envs``' files containing ``@njit``) and by the inlining mode
(``OCTOGYM_KERNEL_INLINE``, see ``octogym/kernel/jit.py``). Imported before any ``@njit``
decorator runs (numba reads the directory when a function is decorated).

Set ``OCTOGYM_CACHE_DIR`` to choose the parent folder (default ``~/.cache/octogym``; a private
temporary folder if that is not writable; see :func:`_cache_dir` and docs/limits.md).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
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
    h.update(os.environ.get("OCTOGYM_KERNEL_INLINE", "steps").encode())
    for p in sorted([_ROOT / "rng.py", *(_ROOT / "kernel").glob("*.py"), *_env_sources()]):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _usable(d: Path, private: bool) -> bool:
    """Whether ``d`` can hold the cache: created if need be, writable, and (``private``) owned
    by us and closed to others, since numba loads compiled code from it."""
    try:
        if private:
            d.parent.mkdir(exist_ok=True, mode=0o700)
            st = d.parent.stat()
            if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
                return False
        d.mkdir(parents=True, exist_ok=True)
        probe = d / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
        return True
    except OSError:
        return False


def _cache_dir() -> Path:
    """``$OCTOGYM_CACHE_DIR/numba/<hash>`` (default ``~/.cache/octogym``), else a private
    ``$TMPDIR/octogym-numba-<uid>/<hash>``, else a fresh temporary folder (compiling anew each
    run, with a warning). Raises ImportError naming ``OCTOGYM_CACHE_DIR`` if none works."""
    h = _source_hash()
    tried = []
    base = os.environ.get("OCTOGYM_CACHE_DIR")
    if base is None:
        try:
            base = str(Path.home() / ".cache" / "octogym")
        except RuntimeError:  # no home directory at all
            base = None
    if base is not None:
        tried.append(Path(base) / "numba" / h)
        if _usable(tried[-1], private=False):
            return tried[-1]
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    tried.append(Path(tempfile.gettempdir()) / f"octogym-numba-{uid}" / h)
    if _usable(tried[-1], private=True):
        return tried[-1]
    try:
        d = Path(tempfile.mkdtemp(prefix="octogym-numba-"))
    except OSError as e:
        raise ImportError(
            "octogym: no writable folder for the compiled-kernel cache (tried "
            f"{', '.join(map(str, tried))} and a new temporary folder: {e.strerror}); set "
            "OCTOGYM_CACHE_DIR to a writable folder") from None
    warnings.warn(f"octogym: cache folders {', '.join(map(str, tried))} are not usable; "
                  f"compiling into {d} for this run only (set OCTOGYM_CACHE_DIR to a writable "
                  "folder to keep the compiled kernel)", RuntimeWarning, stacklevel=2)
    return d


CACHE_DIR = _cache_dir()
numba.config.CACHE_DIR = str(CACHE_DIR)
