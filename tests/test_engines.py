"""The torch-native engine against MinkowskiEngine: same layers, same weights, same outputs."""

import os

import numpy as np
import pytest
import torch

import omnicodec
from omnicodec import zoo
from omnicodec.errors import BitstreamError
from omnicodec.grid.octree import CODING_ORDER
from omnicodec.sparse import Conv, available_engines, sparse_tensor, use_engine
from tests.conftest import sphere_shell

pytestmark = pytest.mark.skipif("minkowski" not in available_engines(),
                                reason="equivalence needs MinkowskiEngine to compare with")


def close(a, b, tolerance=1e-5):
    a, b = a.detach(), b.detach()
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-6)
    return float((a - b).abs().max()) <= tolerance * scale


def by_coordinates(tensor):
    """Features in lexicographic order of coordinates (engines may order rows differently)."""
    coords = tensor.coordinates.to(torch.int64)
    keys = torch.zeros(len(coords), dtype=torch.int64)
    for column in coords.T:
        keys = keys * 4096 + (column + 2048)
    order = torch.argsort(keys)
    return coords[order], tensor.features[order]


def both(run):
    outputs = {}
    for name in ("minkowski", "torch"):
        with use_engine(name):
            outputs[name] = run()
    return outputs["minkowski"], outputs["torch"]


COORDS = torch.from_numpy(sphere_shell(radius=9, center=12, count=1500, seed=2))
FEATURES = torch.randn(len(COORDS), 5, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("kernel_size, stride", [(3, 1), (1, 1), (2, 2), (3, 2)])
def test_convolutions_match(kernel_size, stride):
    torch.manual_seed(1)
    conv = Conv(5, 4, kernel_size=kernel_size, stride=stride)
    ours, theirs = both(lambda: by_coordinates(conv(sparse_tensor(COORDS, FEATURES))))
    assert torch.equal(ours[0], theirs[0])
    assert close(ours[1], theirs[1])


def test_transposed_back_to_the_input_and_generative_match():
    torch.manual_seed(2)
    down = Conv(5, 4, kernel_size=2, stride=2)
    up = Conv(4, 3, kernel_size=2, stride=2, transpose=True)
    grow = Conv(4, 3, kernel_size=2, stride=2, generative=True)

    def run():
        x = sparse_tensor(COORDS, FEATURES)
        y = down(x)
        return up(y, out=x).features, by_coordinates(grow(y))

    (up_me, grown_me), (up_torch, grown_torch) = both(run)
    assert close(up_me, up_torch)
    assert torch.equal(grown_me[0], grown_torch[0]) and close(grown_me[1], grown_torch[1])


def test_shipped_model_matches_on_every_stage(sample_points):
    model = zoo.load("occupancy-v1")
    coords = torch.from_numpy(np.unique(sample_points.astype(np.int64) >> 1, axis=0))
    known = torch.zeros((len(coords), 8))
    known[:, list(CODING_ORDER[:3])] = torch.randint(0, 2, (len(coords), 3)).float() * 2 - 1

    def run():
        with torch.no_grad():
            context = model.context(coords)
            return torch.stack([model.stage_logits(context, known, s) for s in range(8)])

    ours, theirs = both(run)
    assert close(ours, theirs)


def _decodes_exactly_or_refuses(data, expected):
    """The guarantee across engines: the points exactly, or a BitstreamError."""
    try:
        back = omnicodec.decompress(data).positions
    except BitstreamError:
        return False
    assert np.array_equal(np.unique(back, axis=0), expected)
    return True


def test_streams_cross_engines_exactly_or_fail_loudly(sample_points):
    """Each engine decodes its own streams. Across engines the floats agree to rounding,
    not bit for bit (on an AMD EPYC, MKL and OpenBLAS round some sums otherwise), so a
    stream of one engine decodes with the other exactly or is refused, never to other
    points; bit-exact agreement is the integer model's job (issue 18)."""
    expected = np.unique(sample_points[:6000], axis=0)
    streams = {}
    for name in ("minkowski", "torch"):
        with use_engine(name):
            streams[name] = omnicodec.compress(sample_points[:6000])
            assert _decodes_exactly_or_refuses(streams[name], expected)
    for maker, reader in (("minkowski", "torch"), ("torch", "minkowski")):
        with use_engine(reader):
            _decodes_exactly_or_refuses(streams[maker], expected)


def test_cli_engine_flag(tmp_path, capsys):
    from omnicodec.cli.main import main
    from omnicodec.io import read_ply
    from omnicodec.sparse import engine, set_engine
    from tests.conftest import SAMPLE

    before = engine().NAME
    stream, back = str(tmp_path / "a.ocz"), str(tmp_path / "b.ply")
    try:
        assert main(["--engine", "torch", "compress", SAMPLE, "-o", stream, "-q"]) == 0
        with pytest.raises(SystemExit):
            main(["--engine", "torch", "--version"])
        assert "sparse engine torch" in capsys.readouterr().out
        expected = np.unique(read_ply(SAMPLE).positions, axis=0)
        assert main(["--engine", "torch", "decompress", stream, "-o", back, "-q"]) == 0
        assert np.array_equal(np.unique(read_ply(back).positions, axis=0), expected)
        # across engines: the points exactly, or a one-line error (exit 3) and no output
        os.remove(back)
        code = main(["--engine", "minkowski", "decompress", stream, "-o", back, "-q"])
        if code == 0:
            assert np.array_equal(np.unique(read_ply(back).positions, axis=0), expected)
        else:
            assert code == 3 and capsys.readouterr().err.count("\n") == 1
            assert not os.path.exists(back)
    finally:
        set_engine(before)


def test_four_dimensional_convolutions_match():
    generator = torch.Generator().manual_seed(3)
    coords = torch.unique(torch.randint(0, 6, (400, 4), generator=generator), dim=0)
    feats = torch.randn(len(coords), 3, generator=generator)
    torch.manual_seed(4)
    conv = Conv(3, 2, kernel_size=3, dimension=4)
    down = Conv(3, 2, kernel_size=2, stride=2, dimension=4)
    up = Conv(2, 2, kernel_size=2, stride=2, dimension=4, transpose=True)
    # Overlapping kernels (3, stride 2): a fine point gets from every coarse point within
    # one fine step, as in MinkowskiEngine (the light-field codec's upsampler).
    down3 = Conv(3, 2, kernel_size=3, stride=2, dimension=4)
    up3 = Conv(2, 2, kernel_size=3, stride=2, dimension=4, transpose=True)

    def run():
        x = sparse_tensor(coords, feats)
        return conv(x).features, up(down(x), out=x).features, up3(down3(x), out=x).features

    (same_me, up_me, up3_me), (same_torch, up_torch, up3_torch) = both(run)
    assert close(same_me, same_torch) and close(up_me, up_torch) and close(up3_me, up3_torch)


def test_light_field_model_matches():
    from omnicodec.lightfield.learned_transform import LightFieldModel, to_blocks

    torch.manual_seed(5)
    model = LightFieldModel(channels=16, hyper_channels=4)
    views = torch.rand(1, 9, 9, 32, 40, 3, generator=torch.Generator().manual_seed(6))
    blocks = to_blocks(views * 255)[0][0, 0, 0].reshape(-1, 9, 9, 8, 8, 3)
    cells = torch.from_numpy(np.argwhere(np.ones((1, 1, 4, 5), dtype=bool)))
    scaled = model.coefficients(blocks) / model.steps(1)

    def run():
        grid = sparse_tensor(cells, torch.zeros(len(cells), 1))
        order = torch.argsort(by_coordinates_keys(grid))
        z = model.hyper_analysis(grid, scaled[by_coordinates_keys(grid)])
        scale, mean = model.hyper_synthesis(z.replace(torch.round(z.features)), grid)
        return by_coordinates(z), scale[order], mean[order]

    (z_me, scale_me, mean_me), (z_torch, scale_torch, mean_torch) = both(run)
    assert torch.equal(z_me[0], z_torch[0]) and close(z_me[1], z_torch[1], 1e-4)
    assert close(scale_me, scale_torch, 1e-4) and close(mean_me, mean_torch, 1e-4)


def by_coordinates_keys(grid):
    """Row i of a (1, 1, 4, 5) block grid -> its cell's index in row-major order."""
    c = grid.coordinates.to(torch.int64)
    return c[:, 3] * 5 + c[:, 4]


@pytest.mark.parametrize("mode", ["max", "avg", "sum"])
@pytest.mark.parametrize("kernel_size, stride", [(2, 2), (3, 1)])
def test_pooling_matches(mode, kernel_size, stride):
    from omnicodec.sparse import Pool

    pool = Pool(mode, kernel_size=kernel_size, stride=stride)
    ours, theirs = both(lambda: by_coordinates(pool(sparse_tensor(COORDS, FEATURES))))
    assert torch.equal(ours[0], theirs[0])
    assert close(ours[1], theirs[1])


def test_pruning_matches():
    from omnicodec.sparse import prune

    keep = FEATURES[:, 0] > 0
    ours, theirs = both(lambda: by_coordinates(prune(sparse_tensor(COORDS, FEATURES), keep)))
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
