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


def test_own_colours_are_drawn(tmp_path, capsys, shell):
    red8 = np.tile(np.array([230, 20, 20], np.uint8), (len(shell), 1))
    red16 = red8.astype(np.uint16) * 257  # the same colour in 16 bits: scaled by 65535
    for rgb in (red8, red16):
        layer = viewer.cloud_layer(PointCloud(shell, {"rgb": rgb}), "x")
        assert layer.normals is None  # a coloured cloud is drawn as it is, not lit
        assert np.allclose(layer.colors, [230 / 255, 20 / 255, 20 / 255])
    assert viewer.rgb_colors(PointCloud(shell)) is None
    # Through the command: the picture shows the cloud's own red, not a grey or a colour map.
    original = tmp_path / "red.ply"
    write_ply(original, PointCloud(shell, {"rgb": red16}))
    png = tmp_path / "red.png"
    code, _, err = run(["view", original, "--view", "front", "--screenshot", png, "--size", str(SIZE)],
                       capsys)
    assert code == 0 and png.exists(), err
    panel = viewer.view(original, screenshot=png, views=("front",), size=SIZE)[0][0].astype(int)
    pixels = panel[_foreground(panel)]
    reddish = (pixels[:, 0] > 200) & (pixels[:, 1] < 60) & (pixels[:, 2] < 60)
    assert reddish.mean() > 0.5, reddish.mean()  # the rest: edges blended with white


def test_cloud_without_colour_is_lit_by_its_normals(shell):
    # Lambert with a headlight: full albedo facing the light, either sign of the normal
    # (estimated normals have none); ambient only edge-on.
    normals = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 0.6, 0.8]])
    shaded = viewer.shade(np.full((4, 3), viewer.ALBEDO), normals, [0.0, 0.0, 5.0])
    assert np.allclose(shaded[:, 0], viewer.ALBEDO * np.array(
        [1.0, 1.0, viewer.AMBIENT, viewer.AMBIENT + (1 - viewer.AMBIENT) * 0.8]))
    assert np.allclose(shaded, shaded[:, :1])  # neutral grey

    layer = viewer.cloud_layer(PointCloud(shell), "x")
    assert layer.normals is not None and layer.normals.shape == shell.shape
    centre = shell.mean(axis=0)
    radial = (shell - centre) / np.linalg.norm(shell - centre, axis=1, keepdims=True)
    assert np.median(np.abs(np.sum(layer.normals * radial, axis=1))) > 0.95  # a sphere's normals
    # Seen from the front (+z), the sphere's points facing the eye are bright, its rim dark.
    brightness = layer.colors_from(centre + [0.0, 0.0, 500.0])[:, 0]
    facing, rim = np.abs(radial[:, 2]) > 0.95, np.abs(radial[:, 2]) < 0.2
    assert brightness[facing].min() > 0.7 and brightness[rim].mean() < 0.4
    # A cloud's own normals are used: all along x, the front view sees them edge-on.
    along_x = np.tile([2.0, 0.0, 0.0], (len(shell), 1))  # not unit length: normalised
    sideways = viewer.cloud_layer(PointCloud(shell, {"normals": along_x}), "x")
    seen = sideways.colors_from(centre + [0.0, 0.0, 1e6])
    assert np.allclose(seen, viewer.ALBEDO * viewer.AMBIENT, atol=1e-3)
    # Rendered: the middle of the picture is lighter than the rim, and all of it is grey.
    image = viewer.render_panels([layer], ("front",), size=SIZE)[0][0].astype(int)
    mask = _foreground(image)
    rows, cols = np.nonzero(mask)
    distance = np.hypot(rows - rows.mean(), cols - cols.mean())
    middle = image[rows[distance < 0.3 * distance.max()], cols[distance < 0.3 * distance.max()], 0]
    edge = image[rows[distance > 0.9 * distance.max()], cols[distance > 0.9 * distance.max()], 0]
    assert np.median(middle) > np.median(edge) + 40
    assert np.abs(image[mask] - image[mask][:, :1]).max() <= 2


def test_error_colour_mode(tmp_path, capsys, shell):
    from PIL import Image

    rgb = np.clip((shell - 12) * 6, 0, 255).astype(np.uint8)
    changed = rgb.copy()
    upper = shell[:, 1] > 32
    changed[upper] = np.clip(changed[upper].astype(int) + 30, 0, 255).astype(np.uint8)
    rgb_a, rgb_b = rgb / 255.0, changed / 255.0
    # B's points sit in a shuffled order: each takes the colour of its nearest point of A.
    order = np.random.default_rng(0).permutation(len(shell))
    errors = viewer.colour_errors(shell, rgb_a, shell[order], rgb_b[order])
    expected = np.linalg.norm(changed.astype(float) - rgb.astype(float), axis=1)[order]
    assert np.allclose(errors, expected)
    assert np.all(errors[~upper[order]] == 0) and np.all(errors[upper[order]] > 0)

    original, degraded = tmp_path / "a.ply", tmp_path / "b.ply"
    write_ply(original, PointCloud(shell, {"rgb": rgb}))
    write_ply(degraded, PointCloud(shell[order], {"rgb": changed[order]}))
    for flag in ("colour", "color"):
        png = tmp_path / f"{flag}.png"
        code, _, err = run(["view", original, degraded, "--error", flag, "--view", "front",
                            "--screenshot", png, "--size", str(SIZE)], capsys)
        assert code == 0, err
        picture = np.asarray(Image.open(png).convert("RGB")).astype(int)
        assert picture.shape[1] > 2 * SIZE  # two panels and a colour bar
    # The reconstruction's panel: its unchanged half in the colour map's low end, the rest not.
    images = viewer.view(original, degraded, error="colour", screenshot=tmp_path / "x.png",
                         views=("front",), size=SIZE)
    panel = images[0][1]
    zero = np.round(viewer.error_colors(np.zeros(1), scale=1.0)[0][0] * 255).astype(int)
    rows, _ = np.nonzero(_foreground(panel))
    top, bottom = rows.min(), rows.max()  # image rows grow downwards: y > 32 is the top half

    def share_of_zero_colour(band):
        pixels = panel[band][_foreground(panel[band])].astype(int)
        return np.mean(np.abs(pixels - zero).max(axis=1) <= 2)

    quarter = (bottom - top) // 4
    assert share_of_zero_colour(slice(bottom - quarter, bottom)) > 0.5
    assert share_of_zero_colour(slice(top, top + quarter)) < 0.05


def test_error_colour_mode_needs_colours(tmp_path, capsys, shell):
    coloured, plain = tmp_path / "coloured.ply", tmp_path / "plain.ply"
    write_ply(coloured, PointCloud(shell, {"rgb": np.full((len(shell), 3), 90, np.uint8)}))
    write_ply(plain, PointCloud(shell))
    for first, second in ((coloured, plain), (plain, coloured)):
        png = tmp_path / "x.png"
        code, out, err = run(["view", first, second, "--error", "colour", "--screenshot", png], capsys)
        assert code == 2, err
        assert err.strip() == ("omnicodec: error: --error colour needs colours on both clouds; "
                               "plain.ply has none")
        assert "Traceback" not in err and not png.exists()
    code, _, err = run(["view", coloured, "--error", "colour", "--screenshot", tmp_path / "x.png"], capsys)
    assert code == 2 and "needs two clouds" in err
    with pytest.raises(SystemExit):  # an unknown mode is argparse's usage error
        run(["view", coloured, plain, "--error", "texture"], capsys)
    with pytest.raises(omnicodec.errors.InputError, match="unknown error mode"):
        viewer.view(coloured, plain, error="texture", screenshot=tmp_path / "x.png")
