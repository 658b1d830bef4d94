"""Tests for octogym.hardware: presets, validation, specs, geometry, transfer costs, capacity."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle

import numpy as np
import pytest

from octogym.hardware import PRESETS, HardwareConfig, HardwareError, get_hardware


@pytest.fixture
def chip() -> HardwareConfig:
    return get_hardware("chip")


@pytest.fixture
def wafer() -> HardwareConfig:
    return get_hardware("wafer")


def _fields(**changes):
    d = PRESETS["chip"].to_dict()
    d.update(changes)
    return d


# ---------------------------------------------------------------------------- presets


def test_preset_sizes(chip, wafer):
    assert (chip.n_clusters, chip.n_tbus, chip.n_dies) == (16, 64, 1)
    assert (wafer.n_clusters, wafer.n_tbus, wafer.n_dies) == (256, 1024, 16)
    assert wafer.die_grid == (4, 4)
    assert chip.die_grid == (1, 1)


def test_preset_names_and_values():
    assert set(PRESETS) == {"chip", "wafer"}
    for name, cfg in PRESETS.items():
        assert cfg.name == name
        assert cfg.queue_capacity == 4
        assert cfg.reconfig_cycles == 20_000
        assert cfg.hop_cycles == 4
        assert cfg.link_bytes_per_cycle == 32
        assert cfg.local_bytes_per_cycle == 128
        assert cfg.clock_ghz == 1.0
    assert PRESETS["wafer"].die_hop_cycles == 200
    assert PRESETS["wafer"].die_hop_cycles > 10 * PRESETS["wafer"].hop_cycles


def test_config_is_frozen_and_hashable(chip):
    with pytest.raises(dataclasses.FrozenInstanceError):
        chip.rows = 8  # type: ignore[misc]
    assert hash(chip) == hash(get_hardware(chip.to_dict()))
    assert chip != PRESETS["wafer"]


# ---------------------------------------------------------------------------- validation

BAD_VALUES = [
    ("rows", 0, "positive"),
    ("cols", -4, "positive"),
    ("tbus_per_cluster", 0, "positive"),
    ("die_rows", 0, "positive"),
    ("die_cols", 0, "positive"),
    ("queue_capacity", 0, "positive"),
    ("reconfig_cycles", -1, "non-negative"),
    ("hop_cycles", -1, "non-negative"),
    ("die_hop_cycles", -5, "non-negative"),
    ("link_bytes_per_cycle", 0, "positive"),
    ("local_bytes_per_cycle", -1, "non-negative"),
    ("rows", 2.5, "integer"),
    ("rows", 4.0, "integer"),
    ("hop_cycles", "4", "integer"),
    ("queue_capacity", True, "integer"),
    ("clock_ghz", 0.0, "> 0"),
    ("clock_ghz", -1.0, "> 0"),
    ("clock_ghz", float("nan"), "finite"),
    ("clock_ghz", float("inf"), "finite"),
    ("clock_ghz", "fast", "number"),
]


@pytest.mark.parametrize(("field", "value", "rule"), BAD_VALUES)
def test_each_rule_names_field_and_preset(field, value, rule):
    with pytest.raises(HardwareError) as exc:
        get_hardware("chip", **{field: value})
    msg = str(exc.value)
    assert field in msg
    assert "'chip'" in msg
    assert rule in msg


def test_die_must_divide_mesh():
    with pytest.raises(HardwareError, match=r"hardware 'wafer': die_cols=5 must divide cols=16"):
        get_hardware("wafer", die_cols=5)
    with pytest.raises(HardwareError, match=r"die_rows=3 must divide rows=16"):
        get_hardware("wafer", die_rows=3)
    with pytest.raises(HardwareError, match=r"die_rows=8 must divide rows=4"):
        get_hardware("chip", die_rows=8)


def test_name_must_be_nonempty_string():
    with pytest.raises(HardwareError, match="name"):
        HardwareConfig(**_fields(name=""))
    with pytest.raises(HardwareError, match="name"):
        HardwareConfig(**_fields(name=3))


def test_hardware_error_is_value_error():
    assert issubclass(HardwareError, ValueError)


def test_boundary_values_accepted():
    cfg = get_hardware(
        "chip",
        reconfig_cycles=0,
        hop_cycles=0,
        die_hop_cycles=0,
        local_bytes_per_cycle=0,
        queue_capacity=1,
        link_bytes_per_cycle=1,
        rows=1,
        cols=1,
        die_rows=1,
        die_cols=1,
        tbus_per_cluster=1,
    )
    assert (cfg.n_clusters, cfg.n_tbus, cfg.n_dies) == (1, 1, 1)


def test_numpy_and_int_values_are_normalised():
    cfg = get_hardware("chip", rows=np.int64(8), die_rows=np.int32(2), clock_ghz=2)
    assert type(cfg.rows) is int and cfg.rows == 8
    assert type(cfg.die_rows) is int
    assert type(cfg.clock_ghz) is float and cfg.clock_ghz == 2.0
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()


# ---------------------------------------------------------------------------- get_hardware


def test_get_hardware_by_name_and_config(chip):
    assert chip == PRESETS["chip"]
    assert get_hardware(chip) is chip
    bigger = get_hardware(chip, rows=8)
    assert bigger.rows == 8 and bigger.name == "chip" and bigger.n_clusters == 32
    assert PRESETS["chip"].rows == 4  # presets untouched


def test_get_hardware_dict_with_preset_and_overrides():
    cfg = get_hardware({"preset": "wafer", "hop_cycles": 6, "queue_capacity": 2})
    assert cfg.name == "wafer" and cfg.rows == 16
    assert cfg.hop_cycles == 6 and cfg.queue_capacity == 2
    # keyword overrides win over the mapping
    cfg2 = get_hardware({"preset": "wafer", "hop_cycles": 6}, hop_cycles=9, name="w9")
    assert cfg2.hop_cycles == 9 and cfg2.name == "w9"
    # the caller's dict is not modified
    spec = {"preset": "chip", "rows": 8}
    get_hardware(spec)
    assert spec == {"preset": "chip", "rows": 8}


def test_get_hardware_full_dict():
    d = _fields(name="mine", rows=2, cols=6, die_rows=2, die_cols=3)
    cfg = get_hardware(d)
    assert cfg.name == "mine" and cfg.n_clusters == 12 and cfg.n_dies == 2
    del d["clock_ghz"]  # has a default
    assert get_hardware(d).clock_ghz == 1.0


def test_get_hardware_unknown_preset_lists_valid():
    for spec in ("chiplet", {"preset": "big"}):
        with pytest.raises(HardwareError) as exc:
            get_hardware(spec)
        msg = str(exc.value)
        assert "unknown hardware preset" in msg
        assert "chip" in msg and "wafer" in msg


def test_get_hardware_unknown_field_named():
    with pytest.raises(HardwareError, match="'rowz'"):
        get_hardware("chip", rowz=3)
    with pytest.raises(HardwareError, match="'hops'"):
        get_hardware({"preset": "wafer", "hops": 3})
    with pytest.raises(HardwareError, match="'extra'"):
        get_hardware(_fields(extra=1))
    with pytest.raises(HardwareError, match="'preset'"):
        HardwareConfig.from_dict({"preset": "chip"})


def test_get_hardware_missing_fields_and_bad_type():
    with pytest.raises(HardwareError, match="missing field.*cols"):
        get_hardware({"name": "x", "rows": 4})
    with pytest.raises(HardwareError, match="preset name"):
        get_hardware(42)  # type: ignore[arg-type]


def test_get_hardware_source_prefix():
    with pytest.raises(HardwareError, match=r"^envs/cfg\.yaml: hardware 'wafer': hop_cycles"):
        get_hardware({"preset": "wafer", "hop_cycles": -1}, source="envs/cfg.yaml")


def test_to_dict_from_dict_round_trip(chip, wafer):
    custom = get_hardware(
        "wafer", name="odd", rows=8, cols=12, die_rows=2, die_cols=3, clock_ghz=1.5
    )
    for cfg in (chip, wafer, custom):
        d = cfg.to_dict()
        assert list(d) == [f.name for f in dataclasses.fields(HardwareConfig)]
        back = HardwareConfig.from_dict(d)
        assert back == cfg
        assert back.to_dict() == d
        assert HardwareConfig.from_dict(json.loads(json.dumps(d))) == cfg


def test_pickle_round_trip(wafer):
    wafer.hop_matrix()  # fill the cache
    back = pickle.loads(pickle.dumps(wafer))
    assert back == wafer
    np.testing.assert_array_equal(back.hop_matrix(), wafer.hop_matrix())


# ---------------------------------------------------------------------------- geometry


def test_cluster_coords_and_ids_non_square():
    cfg = get_hardware("chip", rows=2, cols=6, die_rows=2, die_cols=3)
    xy = cfg.cluster_coords()
    assert xy.shape == (12, 2) and xy.dtype == np.int64
    assert tuple(xy[7]) == (1, 1)
    assert tuple(xy[5]) == (0, 5)
    np.testing.assert_array_equal(xy[:, 0] * cfg.cols + xy[:, 1], np.arange(12))
    np.testing.assert_array_equal(cfg.cluster_die(), [0, 0, 0, 1, 1, 1] * 2)
    assert tuple(cfg.neighbours()[5]) == (-1, 11, 4, -1)


def test_tbu_cluster(chip):
    tc = chip.tbu_cluster()
    assert tc.shape == (64,) and tc.dtype == np.int64
    assert list(tc[:5]) == [0, 0, 0, 0, 1]
    assert tc[63] == 15
    np.testing.assert_array_equal(np.bincount(tc), np.full(16, 4))
    tbu = np.arange(64)
    np.testing.assert_array_equal(tc, tbu // chip.tbus_per_cluster)


def test_cluster_die(chip, wafer):
    np.testing.assert_array_equal(chip.cluster_die(), np.zeros(16))
    die = wafer.cluster_die()
    assert die.shape == (256,) and die.dtype == np.int64
    assert die[5 * 16 + 9] == 6  # (5, 9) -> die (1, 2)
    assert die[14 * 16 + 2] == 12  # (14, 2) -> die (3, 0)
    assert die[255] == 15
    np.testing.assert_array_equal(np.bincount(die), np.full(16, 16))
    odd = get_hardware("wafer", die_rows=8, die_cols=2)  # 2 x 8 dies
    assert odd.n_dies == 16 and odd.die_grid == (2, 8)
    assert odd.cluster_die()[9 * 16 + 3] == 1 * 8 + 1


def test_hop_matrix_properties(chip, wafer):
    for cfg in (chip, wafer):
        h = cfg.hop_matrix()
        c = cfg.n_clusters
        assert h.shape == (c, c) and h.dtype == np.int64
        np.testing.assert_array_equal(h, h.T)
        np.testing.assert_array_equal(np.diag(h), 0)
        assert (h[~np.eye(c, dtype=bool)] >= 1).all()
        for k in range(c):  # triangle inequality through every intermediate cluster
            assert (h <= h[:, k, None] + h[None, k, :]).all()
    assert chip.hop_matrix()[0, 15] == 6
    assert chip.hop_matrix()[5, 6] == 1
    assert wafer.hop_matrix()[0, 255] == 30
    assert wafer.hop_matrix()[5 * 16 + 9, 14 * 16 + 2] == 16


def test_die_crossings(chip, wafer):
    np.testing.assert_array_equal(chip.die_crossing_matrix(), 0)
    x = wafer.die_crossing_matrix()
    die = wafer.cluster_die()
    same_die = die[:, None] == die[None, :]
    assert (x[same_die] == 0).all()
    assert (x[~same_die] >= 1).all()
    np.testing.assert_array_equal(x, x.T)
    assert (x <= wafer.hop_matrix()).all()
    assert x[5 * 16 + 9, 14 * 16 + 2] == 4  # die (1,2) -> (3,0): 2 + 2
    assert x[0, 255] == 6
    assert x[3, 4] == 1  # neighbours across a vertical die edge
    assert x[3 * 16, 4 * 16] == 1  # neighbours across a horizontal die edge
    assert x[0, 3 * 16 + 3] == 0  # opposite corners of die 0


def test_neighbours_corners_and_interior(chip, wafer):
    nb = chip.neighbours()
    assert nb.shape == (16, 4) and nb.dtype == np.int64
    assert tuple(nb[0]) == (-1, 4, -1, 1)
    assert tuple(nb[3]) == (-1, 7, 2, -1)
    assert tuple(nb[12]) == (8, -1, -1, 13)
    assert tuple(nb[15]) == (11, -1, 14, -1)
    assert tuple(nb[5]) == (1, 9, 4, 6)
    # every neighbour is exactly one hop away, and every one-hop cluster is listed
    for cfg in (chip, wafer):
        nb, h = cfg.neighbours(), cfg.hop_matrix()
        for c in range(cfg.n_clusters):
            listed = sorted(int(n) for n in nb[c] if n >= 0)
            assert listed == sorted(np.flatnonzero(h[c] == 1).tolist())
    assert (wafer.neighbours() >= 0).sum() == 4 * 256 - 4 * 16


def test_cached_arrays_are_read_only(chip):
    for arr in (
        chip.cluster_coords(),
        chip.cluster_die(),
        chip.tbu_cluster(),
        chip.hop_matrix(),
        chip.die_crossing_matrix(),
        chip.latency_matrix(),
        chip.neighbours(),
    ):
        with pytest.raises(ValueError):
            arr[0] = 1
    assert chip.hop_matrix() is chip.hop_matrix()


# ---------------------------------------------------------------------------- transfers


def test_transfer_chip_examples(chip):
    assert chip.transfer_cycles(0, 15, 100) == 6 * 4 + 4  # ceil(100/32) = 4
    assert chip.transfer_cycles(5, 6, 32) == 4 + 1
    assert chip.transfer_cycles(5, 6, 33) == 4 + 2
    assert chip.transfer_cycles(6, 5, 0) == 4
    # same cluster: 128 B/cycle
    assert chip.transfer_cycles(3, 3, 256) == 2
    assert chip.transfer_cycles(3, 3, 257) == 3
    assert chip.transfer_cycles(3, 3, 0) == 0


def test_transfer_wafer_examples(wafer):
    a, b = 5 * 16 + 9, 14 * 16 + 2
    assert wafer.transfer_cycles(a, b, 1000) == 16 * 4 + 4 * 200 + 32  # ceil(1000/32)
    assert wafer.transfer_cycles(b, a, 1000) == 896
    assert wafer.transfer_cycles(0, 255, 100) == 30 * 4 + 6 * 200 + 4
    assert wafer.transfer_cycles(3, 4, 1) == 4 + 200 + 1
    assert wafer.transfer_cycles(0, 3 * 16 + 3, 64) == 6 * 4 + 2


def test_transfer_free_local():
    cfg = get_hardware("chip", local_bytes_per_cycle=0)
    assert cfg.transfer_cycles(2, 2, 10**9) == 0
    assert cfg.transfer_cycles(2, 3, 64) == 4 + 2
    np.testing.assert_array_equal(cfg.transfer_cycles(np.arange(16), np.arange(16), 500), 0)


def test_transfer_vectorised_matches_formula(wafer):
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, 500)
    dst = rng.integers(0, 256, 500)
    dst[:50] = src[:50]
    nb = rng.integers(0, 10_000, 500)
    out = wafer.transfer_cycles(src, dst, nb)
    assert out.shape == (500,) and out.dtype == np.int64
    lat = wafer.latency_matrix()
    for s, d, n, o in zip(src, dst, nb, out, strict=True):
        if s == d:
            want = math.ceil(n / 128)
        else:
            hops = abs(s // 16 - d // 16) + abs(s % 16 - d % 16)
            cross = abs(s // 64 - d // 64) + abs((s % 16) // 4 - (d % 16) // 4)
            want = hops * 4 + cross * 200 + math.ceil(n / 32)
            assert lat[s, d] == hops * 4 + cross * 200
        assert o == want
    np.testing.assert_array_equal(np.diag(lat), 0)


def test_transfer_broadcasting_and_rounding(chip):
    out = chip.transfer_cycles(0, np.array([[0], [1]]), np.array([1, 32, 33]))
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out, [[1, 1, 1], [5, 5, 6]])
    assert chip.transfer_cycles(0, 1, 32.5) == 4 + 2  # fractional bytes rounded up
    assert isinstance(chip.transfer_cycles(0, 1, 1), np.int64)


def test_transfer_rejects_bad_inputs(chip):
    with pytest.raises(ValueError, match="dst"):
        chip.transfer_cycles(0, 16, 10)
    with pytest.raises(ValueError, match="src"):
        chip.transfer_cycles(-1, 0, 10)
    with pytest.raises(ValueError, match="nbytes"):
        chip.transfer_cycles(0, 1, -1)
    with pytest.raises(ValueError, match="integer"):
        chip.transfer_cycles(0.5, 1, 1)


def test_byte_hops(chip, wafer):
    assert wafer.byte_hops(0, 17, 10) == 20
    assert wafer.byte_hops(4, 4, 10**6) == 0
    np.testing.assert_array_equal(chip.byte_hops([0, 0, 5], [15, 1, 5], 100), [600, 100, 0])


# ---------------------------------------------------------------------------- capacity and time


def test_capacity_and_arrival_rate(chip, wafer):
    assert chip.capacity_requests_per_cycle(1000) == pytest.approx(0.064)
    assert chip.arrival_rate(0.5, 1000) == pytest.approx(0.032)
    assert wafer.capacity_requests_per_cycle(2048.0) == pytest.approx(0.5)
    assert wafer.arrival_rate(1.5, 2048) == pytest.approx(0.75)
    assert get_hardware("chip", tbus_per_cluster=8).capacity_requests_per_cycle(1000) == (
        pytest.approx(0.128)
    )


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "1", True])
def test_capacity_and_arrival_errors(chip, bad):
    with pytest.raises(ValueError, match="work_cycles_per_request"):
        chip.capacity_requests_per_cycle(bad)
    with pytest.raises(ValueError, match="load"):
        chip.arrival_rate(bad, 1000)
    with pytest.raises(ValueError, match="work_cycles_per_request"):
        chip.arrival_rate(0.5, bad)


def test_cycles_to_seconds(chip):
    assert chip.cycles_to_seconds(1_000_000_000) == pytest.approx(1.0)
    assert isinstance(chip.cycles_to_seconds(5), float)
    fast = get_hardware("chip", clock_ghz=2.0)
    assert fast.cycles_to_seconds(20_000) == pytest.approx(1e-5)
    np.testing.assert_allclose(chip.cycles_to_seconds(np.array([0, 1000])), [0.0, 1e-6])
