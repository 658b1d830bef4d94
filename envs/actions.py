"""Actions at the boundary: what every environment (single, native vector, SB3 adapter) accepts
before anything reaches the kernel (docs/envs.md, "Actions, masks, invalid actions").

* Shape: ``(B,)`` for ``B`` members, or a scalar when ``B = 1``; a numeric dtype (signed or
  unsigned integers, floats; or an object array of Python numbers, which is how numpy holds
  ints beyond int64). Anything else (bools, strings, other objects, other shapes) is a
  ``ValueError`` saying what was expected.
* Integers go to the fused step as int64 (Python ints beyond int64 clipped to ``[-1, A]``
  first, which keeps their nearest valid action); its ``fix_action``
  (:mod:`octogym.envs.core`) replaces an invalid one by the nearest valid action and counts it.
* Floats equal to an integer are that integer. Any other float (fractional, NaN, +-inf) is an
  invalid action: it is replaced here by the valid action nearest to it (``|a - x|``, the lower
  on a tie; NaN counts as below the range, i.e. the lowest valid action) and counted. So a
  masked-out or out-of-range action never reaches the kernel.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np


def _expected(batch: int) -> str:
    shape = "one action (a scalar or shape (1,))" if batch == 1 else f"shape ({batch},)"
    return f"actions must be {shape} of integers (or floats)"


def nearest_valid(x: float, mask_row: np.ndarray) -> int:
    """The valid action (``mask_row[k]`` True) nearest to ``x``; the lower on a tie; NaN as
    below the range."""
    A = mask_row.shape[0]
    x = -1.0 if np.isnan(x) else min(max(x, -1.0), float(A))
    dist = np.abs(np.arange(A) - x)
    dist[~mask_row] = np.inf
    return int(np.argmin(dist))


def kernel_actions(actions: Any, mask: np.ndarray, invalid: np.ndarray, rows: np.ndarray
                   ) -> np.ndarray:
    """``actions`` for the ``B = mask.shape[0]`` members as a fresh int64 ``(B,)`` array (the
    fused step writes its fixes into it). Validates shape and dtype (``ValueError``); fixes
    and counts in ``invalid`` the non-integer floats of members ``rows`` (module docstring)."""
    B, A = mask.shape
    try:
        a = np.asarray(actions)
    except (TypeError, ValueError) as e:  # ragged nested sequences
        raise ValueError(f"{_expected(B)}; got {type(actions).__name__} {actions!r:.80} that "
                         f"is not an array ({e})") from None
    if a.shape != (B,) and not (B == 1 and a.ndim == 0):
        raise ValueError(f"{_expected(B)}; got shape {a.shape}")
    if a.dtype.kind == "O" and all(isinstance(v, Real) and not isinstance(v, (bool, np.bool_))
                                   for v in a.flat):
        # Python numbers, some beyond int64 (numpy keeps those as objects)
        a = np.array([min(max(int(v), -1), A) if isinstance(v, Integral) else float(v)
                      for v in a.flat]).reshape(a.shape)
    kind = a.dtype.kind
    if kind == "i":
        return a.astype(np.int64).reshape(B)
    if kind == "u":
        return np.minimum(a, A).astype(np.int64).reshape(B)
    if kind != "f":
        raise ValueError(f"{_expected(B)}; got dtype {a.dtype} ({a.flat[0]!r:.40} ...)"
                         if a.size else f"{_expected(B)}; got dtype {a.dtype}")
    x = a.astype(np.float64).reshape(B)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(x) & (x == np.rint(x)) & (np.abs(x) <= 2.0**62)
    out = np.where(whole, x, 0).astype(np.int64)
    for b in rows[~whole[rows]]:  # only the members whose float is not a whole number
        out[b] = nearest_valid(float(x[b]), mask[b])
        invalid[b] += 1
    return out
