"""Looking at clouds: Open3D windows, and screenshots rendered off screen.

Screenshots go through Open3D's OffscreenRenderer (EGL; on a machine without a GPU,
Mesa's llvmpipe renders on the CPU). Every panel of a picture is rendered with the same
camera, so original and reconstruction line up; matplotlib lays the panels out with
titles, the D1/D2 PSNR and bits per point, and the colour bar of an error mode.

Colours: a cloud's own ``rgb`` (a PLY's red/green/blue, or the colour a decoded stream
carries). A cloud without colour is lit instead: a light-grey surface shaded by its normals
(its own, else estimated) under a headlight, so that the shape, and a reconstruction's
geometry errors, show. Error modes colour each reconstructed point by the distance to its
nearest original point (D1's per-point error, in the cloud's units: voxels for integer
clouds), or by the RGB distance of its colour to that point's colour.
"""

import dataclasses
import os

import numpy as np
from scipy.spatial import cKDTree

from omnicodec.errors import InputError, OmnicodecError
from omnicodec.io.atomic import atomic_output
from omnicodec.quiet import native_output_silenced

UP_AXES = {"x": 0, "y": 1, "z": 2}
# Viewing directions (from the centre towards the eye) in a frame whose up axis is +up
# and whose front is +front; "oblique" looks from the front-right, above.
VIEWS = {
    "front": (0.0, 0.0, 1.0), "back": (0.0, 0.0, -1.0), "left": (-1.0, 0.0, 0.0),
    "right": (1.0, 0.0, 0.0), "top": (0.0, 1.0, 0.0001), "oblique": (0.6, 0.45, 0.66),
}
DEFAULT_VIEWS = ("front", "oblique")
FIELD_OF_VIEW = 40.0
BACKGROUND = (1.0, 1.0, 1.0)
ERROR_MAP = "turbo"
DPI = 100
ERROR_MODES = ("geometry", "colour")
# Shading of a cloud without colour: a neutral light-grey albedo times ambient plus
# Lambert light from the camera (a headlight), so faces turned away from the eye darken.
ALBEDO = 0.85
AMBIENT = 0.15
# Normals estimated for shading: k = 10 neighbours (not the metrics' 20, which fit the
# reference normals of pc_error): plenty for a plane fit on a voxel surface, and 900k
# points take about 3 s instead of 5 on two cores. A cloud of more than SHADE_POINTS
# points is estimated on a random subsample of that many, each point taking the normal
# of its nearest sampled point (2.7M points: about 7 s instead of 10).
SHADE_NEIGHBOURS = 10
SHADE_POINTS = 1_000_000


@dataclasses.dataclass
class Layer:
    """A cloud to draw: points, their RGB colours in [0, 1], and a panel title. With
    ``normals``, the colours are an albedo that :func:`shade` lights from the eye."""

    points: np.ndarray
    colors: np.ndarray
    title: str
    normals: np.ndarray | None = None

    def colors_from(self, eye):
        """The colours seen from ``eye``: shaded by a headlight there when lit."""
        if self.normals is None:
            return self.colors
        return shade(self.colors, self.normals, np.asarray(eye, np.float64) - self.points)


def _colormap(name, values, low, high):
    from matplotlib import colormaps

    span = max(high - low, 1e-12)
    return colormaps[name](np.clip((values - low) / span, 0.0, 1.0))[:, :3]


def rgb_colors(cloud):
    """A cloud's ``rgb`` attribute as (N, 3) float64 in [0, 1] (uint8 over 255, uint16 over
    65535; floats taken as [0, 1] when they fit it), or None when it has no colour."""
    rgb = cloud.attributes.get("rgb")
    if rgb is None or np.ndim(rgb) != 2 or np.shape(rgb) != (len(cloud.positions), 3):
        return None
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        top = 255.0
    elif rgb.dtype == np.uint16:
        top = 65535.0
    else:  # other integer types, or floats: by their range
        largest = float(np.nanmax(rgb, initial=0))
        top = 1.0 if rgb.dtype.kind == "f" and largest <= 1.0 else 65535.0 if largest > 255 else 255.0
    return np.clip(np.nan_to_num(rgb.astype(np.float64) / top), 0.0, 1.0)


def shading_normals(cloud):
    """Unit normals to shade a cloud with: its own ``normals`` when it has finite ones, else
    estimated (k = SHADE_NEIGHBOURS, on at most SHADE_POINTS points; see there)."""
    from omnicodec.metrics.pointcloud import estimate_normals

    points = np.asarray(cloud.positions, dtype=np.float64)
    normals = cloud.normals
    if normals is None or normals.shape != points.shape or not np.all(np.isfinite(normals)):
        if len(points) < 3:  # nothing to fit a plane to: face the eye
            return None
        if len(points) > SHADE_POINTS:
            sample = np.random.default_rng(0).choice(len(points), SHADE_POINTS, replace=False)
            sampled = estimate_normals(points[sample], k=SHADE_NEIGHBOURS)
            _, nearest = cKDTree(points[sample]).query(points, k=1, workers=-1)
            normals = sampled[nearest]
        else:
            normals = estimate_normals(points, k=SHADE_NEIGHBOURS)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def shade(albedo, normals, to_light):
    """Lambert shading: albedo x (AMBIENT + (1 - AMBIENT) |n . l|), l the unit vector(s)
    towards the light ((3,) or (N, 3)). abs: estimated normals have no consistent sign."""
    to_light = np.asarray(to_light, dtype=np.float64)
    length = np.linalg.norm(to_light, axis=-1, keepdims=True)
    to_light = to_light / np.maximum(length, 1e-12)
    lambert = np.abs(np.sum(normals * to_light, axis=-1))
    return np.clip(albedo * (AMBIENT + (1.0 - AMBIENT) * lambert)[:, None], 0.0, 1.0)


def cloud_layer(cloud, title):
    """A cloud's Layer: its own colours, else a light-grey albedo lit by its normals."""
    colors = rgb_colors(cloud)
    if colors is not None:
        return Layer(cloud.positions, colors, title)
    albedo = np.full((len(cloud.positions), 3), ALBEDO)
    normals = shading_normals(cloud)
    return Layer(cloud.positions, albedo, title, normals)


def point_errors(reference, degraded):
    """Distance from each degraded point to its nearest reference point (D1's error)."""
    distances, _ = cKDTree(np.asarray(reference, dtype=np.float64)).query(
        np.asarray(degraded, dtype=np.float64), k=1)
    return distances


def colour_errors(reference, reference_rgb, degraded, degraded_rgb):
    """Euclidean RGB distance, in 8-bit levels (0 to 255 * sqrt 3), from each degraded
    point's colour to the colour of its nearest reference point; colours in [0, 1]."""
    _, nearest = cKDTree(np.asarray(reference, dtype=np.float64)).query(
        np.asarray(degraded, dtype=np.float64), k=1)
    return 255.0 * np.linalg.norm(degraded_rgb - reference_rgb[nearest], axis=1)


def error_colors(errors, scale=None):
    """ERROR_MAP colours of per-point errors over [0, scale] (default: the largest error,
    at least one voxel) -> (colours, scale)."""
    scale = float(scale if scale is not None else max(np.max(errors, initial=0.0), 1.0))
    return _colormap(ERROR_MAP, errors, 0.0, scale), scale


def _frame(up):
    """(up vector, front vector, right vector) of the up axis: y-up looks along -z as
    8i/MVUB captures do; z-up (LiDAR, indoor scans) looks along +y."""
    up_vector = np.zeros(3)
    up_vector[UP_AXES[up]] = 1.0
    front = np.array([0.0, 0.0, 1.0]) if up != "z" else np.array([0.0, -1.0, 0.0])
    if up == "x":
        front = np.array([0.0, 0.0, 1.0])
    right = np.cross(up_vector, front)
    return up_vector, front, right


def camera(points, view, up="y", fov=FIELD_OF_VIEW):
    """(centre, eye, up) that fit the bounding box of ``points`` in the field of view."""
    if view not in VIEWS:
        raise InputError(f"unknown view {view!r}; views: {', '.join(VIEWS)}")
    low, high = points.min(axis=0).astype(np.float64), points.max(axis=0).astype(np.float64)
    centre = (low + high) / 2.0
    up_vector, front, right = _frame(up)
    a, b, c = VIEWS[view]
    direction = a * right + b * up_vector + c * front
    direction /= np.linalg.norm(direction)
    # The bounding box's corners seen from that direction: the distance at which their
    # spread across the image fits the field of view, in front of the nearest corner.
    corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                        for z in (low[2], high[2])]) - centre
    across = np.cross(direction, up_vector)
    across = across / np.linalg.norm(across) if np.linalg.norm(across) > 1e-9 else right
    upward = np.cross(across, direction)
    spread = max(np.abs(corners @ across).max(), np.abs(corners @ upward).max(), 1e-6)
    distance = spread / np.tan(np.radians(fov) / 2.0) * 1.08 + (corners @ direction).max()
    return centre, centre + direction * distance, up_vector


class Renderer:
    """One OffscreenRenderer reused for every panel (Open3D sets up its engine once)."""

    def __init__(self, width=800, height=800, point_size=2.0):
        try:
            import open3d as o3d
            from open3d.visualization import rendering
        except ImportError as exc:
            raise OmnicodecError(f"Open3D is needed to render ({exc}); see DEVELOPERS.md") from None
        self.o3d, self.rendering = o3d, rendering
        try:
            with native_output_silenced():
                o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
                self.renderer = rendering.OffscreenRenderer(width, height)
        except Exception as exc:  # no EGL / display libraries
            raise OmnicodecError(f"Open3D cannot render off screen here: {exc}") from None
        self.material = rendering.MaterialRecord()
        self.material.shader = "defaultUnlit"
        self.material.point_size = float(point_size)
        self.renderer.scene.set_background([*BACKGROUND, 1.0])
        # No tone mapping or ambient occlusion: show the colours as they are.
        self.renderer.scene.view.set_post_processing(False)

    def render(self, layer, centre, eye, up, fov=FIELD_OF_VIEW):
        """An (H, W, 3) uint8 image of one layer seen from ``eye``."""
        o3d = self.o3d
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(layer.points.astype(np.float64)))
        cloud.colors = o3d.utility.Vector3dVector(layer.colors_from(eye).astype(np.float64))
        scene = self.renderer.scene
        scene.clear_geometry()
        scene.add_geometry("cloud", cloud, self.material)
        self.renderer.setup_camera(float(fov), centre.astype(np.float32), eye.astype(np.float32),
                                   up.astype(np.float32))
        return np.asarray(self.renderer.render_to_image())[..., :3].copy()


def render_panels(layers, views=DEFAULT_VIEWS, up="y", size=800, point_size=2.0):
    """Images [view][layer], every layer of a view seen by the same camera, fitted to the
    bounding box of all layers."""
    renderer = Renderer(size, size, point_size)
    everything = np.concatenate([layer.points for layer in layers])
    images = []
    for view in views:
        centre, eye, up_vector = camera(everything, view, up)
        images.append([renderer.render(layer, centre, eye, up_vector) for layer in layers])
    return images


def compose(path, images, layers, views, title, colorbar=None):
    """Lay the panels out (rows = views, columns = layers) with titles and an optional
    colour bar (label, scale), and write the PNG atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    rows, cols = len(images), len(layers)
    side = images[0][0].shape[0] / DPI  # panels keep their rendered resolution
    figure, axes = plt.subplots(rows, cols, squeeze=False,
                                figsize=(side * cols + (1.4 if colorbar else 0.2), (side + 0.35) * rows + 0.5))
    for r, view in enumerate(views):
        for c, layer in enumerate(layers):
            axis = axes[r][c]
            axis.imshow(images[r][c])
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"{layer.title} ({view})", fontsize=9)
    if colorbar:
        label, scale = colorbar
        mappable = ScalarMappable(norm=Normalize(0.0, scale), cmap=ERROR_MAP)
        figure.colorbar(mappable, ax=axes.ravel().tolist(), label=label, fraction=0.03)
    figure.suptitle(title, fontsize=10)
    try:
        with atomic_output(path) as handle:
            figure.savefig(handle, format="png", dpi=DPI)
    finally:
        plt.close(figure)


def show(layers, title, up="y"):
    """Open an Open3D window with the layers side by side (one scene, so one camera moves
    them all), offset along the right axis by their width plus a margin. Lit layers are
    shaded once, by a light along the front view (the window cannot relight them as its
    camera turns)."""
    import open3d as o3d

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise InputError("no display to open a window on: use --screenshot out.png")
    _, front, right = _frame(up)
    shift, geometries = 0.0, []
    for layer in layers:
        along = layer.points @ right
        moved = layer.points + right * (shift - along.min())
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(moved.astype(np.float64)))
        colors = layer.colors if layer.normals is None else shade(layer.colors, layer.normals, front)
        cloud.colors = o3d.utility.Vector3dVector(colors.astype(np.float64))
        geometries.append(cloud)
        shift += float(np.ptp(along)) * 1.1
    o3d.visualization.draw_geometries(geometries, window_name=title)


def load(path):
    """(PointCloud, bits per point or None) of a point-cloud file (PLY, PCD, KITTI .bin), or
    of an .ocz decoded on the fly."""
    from omnicodec import api
    from omnicodec.io import read_point_cloud
    from omnicodec.zoo import codec_class, codec_id

    if os.fspath(path).lower().endswith(".ocz"):
        data = api.read_bitstream(path)
        header, decoded = api.decode(data, kind="pointcloud")
        points = codec_class(codec_id(header.codec)).input_units(header.codec_header)
        return decoded.data, 8 * len(data) / max(points, 1)
    return read_point_cloud(path), None


def default_peak(points):
    """2**bits - 1 for a cloud on a non-negative integer grid (1023 for vox10), else None."""
    if not len(points) or points.min() < 0 or not np.array_equal(points, np.round(points)):
        return None
    return float(2 ** max(1, int(np.ceil(np.log2(points.max() + 1)))) - 1)


def _error_mode(error):
    """None, "geometry" or "colour" from ``view``'s ``error`` (True: geometry, as before)."""
    if error is None or error is False:
        return None
    mode = "geometry" if error is True else {"color": "colour"}.get(str(error), str(error))
    if mode not in ERROR_MODES:
        raise InputError(f"unknown error mode {error!r}; modes: {', '.join(ERROR_MODES)}")
    return mode


def view(first, second=None, error=False, screenshot=None, views=DEFAULT_VIEWS, up="y",
         size=800, point_size=2.0, peak=None):
    """``omnicodec view``: one cloud, or an original and a reconstruction, each in its own
    colours (lit grey without); ``error`` "geometry" (or True) colours the reconstruction
    by D1 error, "colour" by the RGB distance to its nearest original point's colour; a
    window, or a PNG ``screenshot``."""
    from omnicodec.metrics import point_metrics

    if up not in UP_AXES:
        raise InputError(f"up axis must be x, y or z, not {up!r}")
    for name in views:
        if name not in VIEWS:
            raise InputError(f"unknown view {name!r}; views: {', '.join(VIEWS)}")
    mode = _error_mode(error)
    if mode and second is None:
        raise InputError("the error mode needs two clouds: an original and a reconstruction")
    cloud_a, _ = load(first)
    title, colorbar = os.path.basename(first), None
    if second is None:
        layers = [cloud_layer(cloud_a, os.path.basename(first))]
    else:
        cloud_b, bpp = load(second)
        if mode == "colour":  # checked before any normals are estimated
            rgb_a, rgb_b = rgb_colors(cloud_a), rgb_colors(cloud_b)
            for path, rgb in ((first, rgb_a), (second, rgb_b)):
                if rgb is None:
                    raise InputError(f"--error colour needs colours on both clouds; "
                                     f"{os.path.basename(path)} has none")
        layers = [cloud_layer(cloud_a, os.path.basename(first))]
        peak = peak if peak is not None else default_peak(cloud_a.positions)
        facts = []
        if bpp is not None:
            facts.append(f"{bpp:.4f} bpp")
        if peak is not None:
            quality = point_metrics(cloud_a.positions, cloud_b.positions, peak, cloud_a.normals)
            facts.append(f"D1 {quality.symmetric.d1_psnr:.2f} dB, D2 {quality.symmetric.d2_psnr:.2f} dB "
                         f"(peak {peak:g})")
        label = os.path.basename(second)
        if mode == "geometry":
            colors, scale = error_colors(point_errors(cloud_a.positions, cloud_b.positions))
            colorbar = ("distance to the nearest original point (D1 error)", scale)
            layers.append(Layer(cloud_b.positions, colors, label + ": D1 error"))
        elif mode == "colour":
            errors = colour_errors(cloud_a.positions, rgb_a, cloud_b.positions, rgb_b)
            colors, scale = error_colors(errors)
            colorbar = ("RGB distance to the nearest original point's colour (8-bit levels)", scale)
            layers.append(Layer(cloud_b.positions, colors, label + ": colour error"))
            facts.append(f"mean RGB error {errors.mean():.2f}")
        else:
            layers.append(cloud_layer(cloud_b, label))
        title = f"{os.path.basename(first)} vs {os.path.basename(second)}" + \
            (f": {', '.join(facts)}" if facts else "")
    if screenshot is None:
        if colorbar:  # a window has no colour bar: its scale goes into the title
            what = "D1 error" if mode == "geometry" else "RGB error"
            title += f"; {what} colours ({ERROR_MAP}): 0 to {colorbar[1]:.2f}"
        show(layers, title, up)
        return None
    images = render_panels(layers, views, up, size, point_size)
    compose(screenshot, images, layers, views, title, colorbar)
    return images


def lightfield_picture(path, reference, degraded=None, title=""):
    """``omnicodec lf view``: a PNG with the central view (of both light fields when a
    reconstruction is given), the horizontal epipolar-plane image through the centre
    (row y = H/2 of every view of the central row, stretched for visibility) and, with a
    reconstruction, its per-view PSNR-Y as a heat map over the U x V grid."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from omnicodec.metrics.lightfield import lightfield_quality

    def as_8bit(image):
        return (image / 257).astype(np.uint8) if image.dtype == np.uint16 else image

    views = reference.views
    if degraded is not None and degraded.views.shape != views.shape:
        raise InputError(f"the light fields differ in shape: {views.shape} and {degraded.views.shape}")
    rows, cols, height, width, _ = views.shape
    centre = (rows // 2, cols // 2)
    panels = [("central view" + (" (original)" if degraded is not None else ""), as_8bit(views[centre]))]
    if degraded is not None:
        panels.append(("central view (reconstruction)", as_8bit(degraded.views[centre])))
    epi = as_8bit(views[centre[0], :, height // 2])  # (V, W, 3)
    stretch = max(1, height // (4 * cols))
    panels.append((f"horizontal EPI, row y={height // 2} of view row {centre[0]}",
                   np.repeat(epi, stretch, axis=0)))
    quality = lightfield_quality(views, degraded.views) if degraded is not None else None
    count = len(panels) + (quality is not None)
    figure, axes = plt.subplots(1, count, figsize=(4.6 * count, 4.8), squeeze=False)
    for axis, (label, image) in zip(axes[0], panels):
        axis.imshow(image, aspect="auto" if "EPI" in label else "equal")
        axis.set_title(label, fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    if quality is not None:
        axis = axes[0][-1]
        finite = np.where(np.isfinite(quality.view_psnr_y), quality.view_psnr_y, np.nan)
        shown = axis.imshow(finite, cmap="viridis")
        for r in range(rows):
            for c in range(cols):
                value = quality.view_psnr_y[r, c]
                axis.text(c, r, "inf" if not np.isfinite(value) else f"{value:.1f}", ha="center",
                          va="center", fontsize=6, color="white")
        axis.set_title(f"PSNR-Y per view (dB); all views {quality.psnr_y:.2f} dB, "
                       f"PSNR-YUV {quality.psnr_yuv:.2f}, SSIM-Y {quality.ssim_y:.4f}", fontsize=8)
        axis.set_xlabel("view column v")
        axis.set_ylabel("view row u")
        figure.colorbar(shown, ax=axis, fraction=0.046)
    figure.suptitle(title or f"{rows}x{cols} views of {width}x{height}", fontsize=10)
    figure.tight_layout()
    try:
        with atomic_output(path) as handle:
            figure.savefig(handle, format="png", dpi=DPI)
    finally:
        plt.close(figure)
    return quality
