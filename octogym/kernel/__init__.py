"""The batched compiled simulator kernel (see layout.py for the state, loop.py for the
semantics)."""

import octogym._numba_cache  # noqa: F401  (sets the cache folder before @njit runs)
