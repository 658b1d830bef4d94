"""Metric helpers: the fast percentile read-out equals numpy's."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from octogym.metrics import percentiles


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1e12, allow_nan=False), min_size=1, max_size=300),
       st.lists(st.floats(0, 100), min_size=1, max_size=4))
def test_percentiles_equal_numpy_bit_for_bit(xs, qs):
    x = np.asarray(xs, np.float64)
    assert percentiles(x, tuple(qs)) == [float(v) for v in np.percentile(x, qs)]
