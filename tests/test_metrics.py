"""Metric helpers: the fast percentile read-out equals numpy's, the env's stacked infos equal
gymnasium's, the scalar dict leaves the arrays out."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from octogym.envs.vector import stack_infos
from octogym.metrics import SimResult, percentiles


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1e12, allow_nan=False), min_size=1, max_size=300),
       st.lists(st.floats(0, 100), min_size=1, max_size=4))
def test_percentiles_equal_numpy_bit_for_bit(xs, qs):
    x = np.asarray(xs, np.float64)
    assert percentiles(x, tuple(qs)) == [float(v) for v in np.percentile(x, qs)]


def test_stack_infos_equals_gymnasium_add_info():
    from gymnasium.vector import VectorEnv

    class V(VectorEnv):
        num_envs = 5

    infos = {1: {"a": 3, "m": {"x": 1.5, "n": np.int64(2)}, "mask": np.ones(3, bool)},
             4: {"a": 7, "m": {"x": 2.5, "n": np.int64(9)}, "mask": np.zeros(3, bool)}}
    ref: dict = {}
    for b, i in infos.items():
        ref = V()._add_info(ref, i, b)
    got = stack_infos(5, infos)

    def same(x, y):
        assert type(x) is type(y)
        if isinstance(x, dict):
            assert list(x) == list(y)
            for k in x:
                same(x[k], y[k])
        else:
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_array_equal(x, y)
    same(got, ref)


def test_to_dict_has_every_scalar_and_no_array():
    r = SimResult(*([1] * 20))
    d = r.to_dict()
    assert "latencies" not in d and "tbu_idle" not in d and "tbu_utilisation" not in d
    assert len(d) == 21 and d["clock_ghz"] == 1.0
