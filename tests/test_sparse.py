"""The sparse layer facade: models see only omnicodec.sparse, never the engine."""

import torch

import omnicodec
from omnicodec.pointcloud.occupancy import OccupancyModel
from omnicodec.sparse import Conv, engine, prune, relu, sparse_tensor, use_engine


def cube_corners():
    coords = torch.tensor([[x, y, z] for x in (0, 1, 4) for y in (0, 1) for z in (0, 5)])
    return coords, torch.randn(len(coords), 4)


def test_conv_keeps_coordinates_and_matches_a_dense_check():
    coords, feats = cube_corners()
    x = sparse_tensor(coords, feats)
    conv = Conv(4, 3, kernel_size=1)
    y = conv(x)
    assert torch.equal(y.coordinates, x.coordinates)
    expected = x.features @ conv.weight[0] + conv.bias
    assert torch.allclose(y.features, expected, atol=1e-6)


def test_strided_down_and_transposed_up_return_to_the_input_coordinates():
    coords, feats = cube_corners()
    x = sparse_tensor(coords, feats)
    down = Conv(4, 4, kernel_size=2, stride=2)(x)
    assert down.stride == 2 and len(down) < len(x)
    up = Conv(4, 4, kernel_size=2, stride=2, transpose=True)(down, out=x)
    assert torch.equal(up.coordinates, x.coordinates)


def test_relu_and_prune():
    coords, feats = cube_corners()
    x = relu(sparse_tensor(coords, feats))
    assert (x.features >= 0).all()
    keep = torch.arange(len(x)) % 2 == 0
    kept = prune(x, keep)
    assert len(kept) == int(keep.sum())


def test_parameters_are_engine_independent():
    names = list(OccupancyModel().state_dict())
    assert names and not any("_op" in name or "kernel" in name for name in names)
    assert engine().NAME in ("minkowski", "torch")


def test_torch_engine_is_deterministic_across_runs_and_threads(sample_points):
    threads = torch.get_num_threads()
    try:
        with use_engine("torch"):
            torch.set_num_threads(1)
            one = omnicodec.compress(sample_points[:20000])
            torch.set_num_threads(2)
            assert omnicodec.compress(sample_points[:20000]) == one
            assert omnicodec.compress(sample_points[:20000]) == one
    finally:
        torch.set_num_threads(threads)
