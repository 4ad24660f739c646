"""Sparse scans (points apart on their grid): cells by the dense model plus offsets, the
model chosen by content, exactness, and damaged streams."""

import numpy as np
import pytest

from conftest import sparse_surface, sphere_shell
from omnicodec import api
from omnicodec.errors import BitstreamError
from omnicodec.scans import sparse_scan as sparse


def as_set(points):
    return set(map(tuple, np.asarray(points)))


@pytest.fixture(scope="module")
def surface():
    return sparse_surface(pairs=400).astype(np.int32)


def test_sparse_clouds_are_coded_as_cells_and_offsets(surface):
    data = api.compress(surface)
    header, decoded = api.decode(data)
    assert header.model_id == "sparse-v2" and "sparse scan" in decoded.details["sensor"]
    assert as_set(decoded.data.positions) == as_set(surface)
    dense = api.compress(surface, model="occupancy-v1")
    assert len(data) < 0.8 * len(dense)


def test_dense_clouds_keep_the_dense_model_and_any_cloud_is_exact():
    shell = sphere_shell()
    assert api.decode(api.compress(shell))[0].model_id == "occupancy-v2"
    for points in (shell, shell[:1], shell[:2], np.array([[0, 0, 0], [1000, 3, 7]])):
        decoded = api.decompress(api.compress(points.astype(np.int32), model="sparse-v2"))
        assert as_set(decoded.positions) == as_set(points)


def test_cell_side_is_the_finest_with_enough_points():
    points = np.array([[0, 0, 0], [1, 0, 0], [40, 40, 40], [41, 40, 40]], dtype=np.int64)
    from omnicodec.grid import morton

    keys = np.sort(morton.encode(points, 8))
    assert sparse.cell_bits(keys, 8) == 2  # two cells of two points at 4 voxels a side
    lone = np.sort(morton.encode(points[[0, 2]], 8))
    assert sparse.cell_bits(lone, 8) == sparse.CELL_BITS[-1]  # never two points a cell
    assert sparse.cell_bits(lone, 3) == 2  # the grid bounds the cell


@pytest.mark.parametrize("damage", ["truncate", "flip", "header"])
def test_damaged_sparse_streams_are_refused(surface, damage):
    data = bytearray(api.compress(surface))
    if damage == "truncate":
        data = data[: len(data) * 2 // 3]
    elif damage == "flip":
        data[len(data) // 2] ^= 0x55
    else:
        data[len(data) - 40] ^= 0xFF
    with pytest.raises(BitstreamError):
        api.decompress(bytes(data))
