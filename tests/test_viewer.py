"""Screenshots rendered off screen by Open3D: real pictures of a small cloud, checked by content."""

import numpy as np
import pytest

import omnicodec
from omnicodec import viewer
from omnicodec.data import PointCloud
from omnicodec.io import write_ply
from omnicodec.io.lightfield import LightField, Naming
from tests.conftest import sphere_shell, textured_views
from tests.test_cli import run

SIZE = 160


def _foreground(image):
    """Pixels that are not the white background."""
    return np.any(image < 245, axis=2)


@pytest.fixture(scope="module")
def shell():
    return sphere_shell(radius=20, center=32, count=20000).astype(np.int32)


def _render(points, colors=None, views=("front",)):
    colors = np.full((len(points), 3), 0.2) if colors is None else colors
    return viewer.render_panels([viewer.Layer(points, colors, "x")], views, size=SIZE)


def test_screenshot_shows_the_cloud_where_the_camera_points(shell):
    image = _render(shell)[0][0]
    assert image.shape == (SIZE, SIZE, 3)
    mask = _foreground(image)
    assert 0.1 < mask.mean() < 0.9  # neither blank nor all cloud
    rows, cols = np.nonzero(mask)
    assert abs(rows.mean() - SIZE / 2) < SIZE * 0.1 and abs(cols.mean() - SIZE / 2) < SIZE * 0.1
    # A cloud moved far away is still framed: the camera fits the bounding box.
    moved = _foreground(_render(shell + 5000)[0][0])
    assert abs(moved.mean() - mask.mean()) < 0.05


def test_views_differ_and_colours_come_through(shell):
    red = np.tile([1.0, 0.0, 0.0], (len(shell), 1))
    squashed = shell * np.array([3, 1, 1])  # wide along x: front and left views differ
    front, left = (_render(squashed, red, views=(v,))[0][0] for v in ("front", "left"))
    assert abs(_foreground(front).mean() - _foreground(left).mean()) > 0.05
    cloud_pixels = front[_foreground(front)].astype(int)
    assert np.median(cloud_pixels[:, 0]) > 200 and np.median(cloud_pixels[:, 1]) < 60


def test_error_colouring_follows_the_error(shell):
    exact_colors, _ = viewer.error_colors(viewer.point_errors(shell, shell), scale=4.0)
    noisy = shell + np.random.default_rng(0).integers(-3, 4, size=shell.shape)
    noisy_colors, _ = viewer.error_colors(viewer.point_errors(shell, noisy), scale=4.0)
    zero = np.round(exact_colors[0] * 255).astype(int)  # the colour map's low end

    def share_of_zero_colour(image):
        pixels = image[_foreground(image)].astype(int)
        return np.mean(np.abs(pixels - zero).max(axis=1) <= 2)

    exact, noise = _render(shell, exact_colors)[0][0], _render(noisy, noisy_colors)[0][0]
    assert share_of_zero_colour(exact) > 0.5  # the rest: edges blended with the background
    assert share_of_zero_colour(noise) < 0.5 * share_of_zero_colour(exact)


def test_cli_screenshots(tmp_path, capsys, shell):
    from PIL import Image

    original = tmp_path / "a.ply"
    write_ply(original, PointCloud(shell, {"rgb": np.full((len(shell), 3), 200, np.uint8)}))
    code, out, err = run(["compress", original, "-o", tmp_path / "a.ocz", "--rate", "1", "-q"], capsys)
    assert code == 0, err
    png = tmp_path / "cmp.png"
    code, out, err = run(["view", original, tmp_path / "a.ocz", "--error", "--screenshot", png,
                          "--size", str(SIZE)], capsys)
    assert code == 0, err
    picture = np.asarray(Image.open(png).convert("RGB"))
    assert picture.shape[1] > 2 * SIZE and picture.shape[0] > 2 * SIZE  # 2 views x 2 clouds
    assert _foreground(picture).mean() > 0.05
    code, _, err = run(["view", original, "--screenshot", tmp_path / "one.png", "--view", "top",
                        "--size", str(SIZE)], capsys)
    assert code == 0 and (tmp_path / "one.png").exists()


def test_cli_view_bad_input(tmp_path, capsys, shell):
    cloud = tmp_path / "a.ply"
    write_ply(cloud, shell)
    lightfield = tmp_path / "lf.ocz"
    lightfield.write_bytes(omnicodec.compress(LightField(textured_views(), Naming("npy"))))
    cases = [
        (["view", tmp_path / "missing.ply", "--screenshot", tmp_path / "x.png"], "no such file"),
        (["view", cloud, "--view", "sideways", "--screenshot", tmp_path / "x.png"], "unknown view"),
        (["view", cloud, "--error", "--screenshot", tmp_path / "x.png"], "needs two clouds"),
        # a light-field stream decodes, but is no cloud to look at
        (["view", cloud, lightfield, "--screenshot", tmp_path / "x.png"], "light field"),
        (["view", lightfield, "--screenshot", tmp_path / "x.png"], "light field"),
    ]
    for args, message in cases:
        code, _, err = run(args, capsys)
        assert code == 2 and message in err, (args, err)
    assert not (tmp_path / "x.png").exists()
