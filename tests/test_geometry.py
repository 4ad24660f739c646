import numpy as np
import pytest

from omnicodec.errors import InputError
from omnicodec.grid import blocks, morton, octree, voxelize


def test_morton_round_trip_and_child_order():
    rng = np.random.default_rng(1)
    coords = rng.integers(0, 2**10, size=(5000, 3))
    keys = morton.encode(coords, 10)
    np.testing.assert_array_equal(morton.decode(keys, 10), coords)
    parents = np.unique(keys >> 3)
    masks = octree.child_masks(parents, np.unique(keys))
    children = octree.expand(parents, masks)
    assert np.all(np.diff(children) > 0)  # children of sorted parents come out sorted
    np.testing.assert_array_equal(children, np.unique(keys))
    np.testing.assert_array_equal(octree.child_coords(morton.decode(parents, 9), masks),
                                  morton.decode(children, 10))


def test_scales_downscale_by_two():
    coords = np.array([[0, 0, 0], [1, 1, 1], [2, 0, 0], [7, 7, 7]])
    keys = np.sort(morton.encode(coords, 3))
    levels = octree.scales(keys, 3, 0)
    assert [len(level) for level in levels] == [1, 2, 3, 4]
    np.testing.assert_array_equal(morton.decode(levels[2], 2), [[0, 0, 0], [1, 0, 0], [3, 3, 3]])


def test_integer_input_kept_on_its_grid_and_duplicates_counted():
    points = np.array([[3, 4, 5], [3, 4, 5], [1000, 2, 2]], dtype=np.float32)
    grid = voxelize(points)
    assert grid.integer_input and grid.bits == 10 and grid.scale == 1.0
    np.testing.assert_array_equal(grid.offset, 0)
    assert grid.duplicates_merged == 1
    np.testing.assert_array_equal(np.unique(grid.to_points(), axis=0), np.unique(points, axis=0))


def test_negative_and_very_large_integer_coordinates_shift_to_zero():
    points = np.array([[-5, 0, 3], [-1, 2, 9]], dtype=np.int32)
    grid = voxelize(points)
    np.testing.assert_array_equal(grid.offset, [-5, 0, 3])
    np.testing.assert_array_equal(np.unique(grid.to_points(np.int32), axis=0), points)
    big = np.array([[10**12, 10**12, 10**12], [10**12 + 100, 10**12, 10**12]], dtype=np.int64)
    grid = voxelize(big)
    np.testing.assert_array_equal(np.unique(grid.to_points(np.int64), axis=0), big)
    with pytest.raises(InputError, match="exceeds"):
        voxelize(np.array([[0, 0, 0], [2**22, 0, 0]]))


def test_float_input_fits_box_into_bits_or_voxel_size():
    rng = np.random.default_rng(0)
    points = rng.uniform(-3.0, 5.0, size=(1000, 3))
    grid = voxelize(points, bits=8)
    assert not grid.integer_input and grid.bits == 8
    assert np.abs(grid.to_points()[np.argsort(grid.keys)].min(axis=0) - points.min(axis=0)).max() < grid.scale
    error = np.abs(voxelize(points, voxel_size=0.01).to_points().min(axis=0) - points.min(axis=0))
    assert error.max() < 0.01
    default = voxelize(points)
    assert default.bits == 10


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 3)), "empty"),
    (np.array([[0.0, np.nan, 1.0], [1, 2, 3]]), "NaN"),
    (np.array([[0.0, np.inf, 1.0]]), "NaN or infinite"),
    (np.zeros((4, 2)), "shape"),
])
def test_bad_points(bad, message):
    with pytest.raises(InputError, match=message):
        voxelize(bad)


def test_one_point():
    grid = voxelize(np.array([[7.0, 7.0, 7.0]]))
    assert len(grid.keys) == 1 and grid.bits >= 1


def test_partition_bounds_block_size_and_restores_order():
    rng = np.random.default_rng(3)
    keys = np.unique(morton.encode(rng.integers(0, 256, size=(20000, 3)), 8))
    block_bits, block_keys, slices = blocks.partition(keys, 8, 3000)
    assert block_bits < 8
    assert max(s.stop - s.start for s in slices) <= 3000
    rebuilt = np.concatenate([(int(b) << (3 * block_bits)) | (keys[s] & (8**block_bits - 1))
                              for b, s in zip(block_keys, slices)])
    np.testing.assert_array_equal(rebuilt, keys)


def test_default_grid_of_float_input_keeps_its_points():
    from omnicodec.grid.voxelize import detected_voxel_size, voxelize

    rng = np.random.default_rng(0)
    millimetres = rng.integers(-40000, 40000, (5000, 3))
    metres = (millimetres / 1000.0).astype(np.float32)  # as KITTI stores its sweeps
    assert detected_voxel_size(metres) == pytest.approx(0.001)
    grid = voxelize(metres)
    assert grid.scale == pytest.approx(0.001) and "own precision" in grid.grid_choice
    back = np.unique(np.rint(grid.to_points() * 1000).astype(np.int64), axis=0)
    assert np.array_equal(back, np.unique(millimetres, axis=0))  # every millimetre point kept
    assert detected_voxel_size(rng.normal(size=(100, 3))) is None
    spread = rng.normal(size=(20000, 3)) * 10
    grid = voxelize(spread)
    assert grid.duplicates_merged <= 20 and "merges almost nothing" in grid.grid_choice
    # An explicit coarse grid may merge; the report says so.
    from omnicodec import api

    _, encoded = api.encode(*api.prepare(spread, bits=5))
    assert "warning" in encoded.details and "merged" in encoded.details["warning"]
    _, encoded = api.encode(*api.prepare(spread[:3000]))
    assert "warning" not in encoded.details and "voxel size" in encoded.details
