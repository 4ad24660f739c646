"""Looking at clouds: Open3D windows, and screenshots rendered off screen.

Screenshots go through Open3D's OffscreenRenderer (EGL; on a machine without a GPU,
Mesa's llvmpipe renders on the CPU). Every panel of a picture is rendered with the same
camera, so original and reconstruction line up; matplotlib lays the panels out with
titles, the D1/D2 PSNR and bits per point, and the colour bar of the error mode.

Colours: the PLY's red/green/blue when it has them, else a colour map of the height
along the up axis. Error mode: each reconstructed point coloured by the distance to its
nearest original point (D1's per-point error, in the cloud's units: voxels for integer clouds).
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
HEIGHT_MAP = "viridis"
ERROR_MAP = "turbo"
DPI = 100


@dataclasses.dataclass
class Layer:
    """A cloud to draw: points, their RGB colours in [0, 1], and a panel title."""

    points: np.ndarray
    colors: np.ndarray
    title: str


def _colormap(name, values, low, high):
    from matplotlib import colormaps

    span = max(high - low, 1e-12)
    return colormaps[name](np.clip((values - low) / span, 0.0, 1.0))[:, :3]


def cloud_colors(cloud, up="y"):
    """RGB in [0, 1] per point: the PLY's colours, else its height coloured by HEIGHT_MAP."""
    if np.ndim(cloud.attributes.get("rgb")) == 2:
        rgb = np.asarray(cloud.attributes["rgb"], dtype=np.float64)
        top = 65535.0 if rgb.max(initial=0) > 255 else 255.0
        return np.clip(rgb / top, 0.0, 1.0)
    height = cloud.positions[:, UP_AXES[up]].astype(np.float64)
    return _colormap(HEIGHT_MAP, height, height.min(initial=0), height.max(initial=1))


def point_errors(reference, degraded):
    """Distance from each degraded point to its nearest reference point (D1's error)."""
    distances, _ = cKDTree(np.asarray(reference, dtype=np.float64)).query(
        np.asarray(degraded, dtype=np.float64), k=1)
    return distances


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
        cloud.colors = o3d.utility.Vector3dVector(layer.colors.astype(np.float64))
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
    them all), offset along the right axis by their width plus a margin."""
    import open3d as o3d

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise InputError("no display to open a window on: use --screenshot out.png")
    _, _, right = _frame(up)
    shift, geometries = 0.0, []
    for layer in layers:
        along = layer.points @ right
        moved = layer.points + right * (shift - along.min())
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(moved.astype(np.float64)))
        cloud.colors = o3d.utility.Vector3dVector(layer.colors.astype(np.float64))
        geometries.append(cloud)
        shift += float(np.ptp(along)) * 1.1
    o3d.visualization.draw_geometries(geometries, window_name=title)


def load(path):
    """(PointCloud, bits per point or None) of a .ply, or of an .ocz decoded on the fly."""
    from omnicodec import api
    from omnicodec.codec import codec_class, codec_id
    from omnicodec.io import read_ply

    if os.fspath(path).lower().endswith(".ocz"):
        data = api.read_bitstream(path)
        header, decoded = api.decode(data, kind="pointcloud")
        points = codec_class(codec_id(header.codec)).input_units(header.codec_header)
        return decoded.data, 8 * len(data) / max(points, 1)
    return read_ply(path), None


def default_peak(points):
    """2**bits - 1 for a cloud on a non-negative integer grid (1023 for vox10), else None."""
    if not len(points) or points.min() < 0 or not np.array_equal(points, np.round(points)):
        return None
    return float(2 ** max(1, int(np.ceil(np.log2(points.max() + 1)))) - 1)


def view(first, second=None, error=False, screenshot=None, views=DEFAULT_VIEWS, up="y",
         size=800, point_size=2.0, peak=None):
    """``omnicodec view``: one cloud, or an original and a reconstruction (coloured by
    their own colours, or by D1 error with ``error``); a window, or a PNG ``screenshot``."""
    from omnicodec.metrics import point_metrics

    if up not in UP_AXES:
        raise InputError(f"up axis must be x, y or z, not {up!r}")
    for name in views:
        if name not in VIEWS:
            raise InputError(f"unknown view {name!r}; views: {', '.join(VIEWS)}")
    if error and second is None:
        raise InputError("the error mode needs two clouds: an original and a reconstruction")
    cloud_a, _ = load(first)
    layers = [Layer(cloud_a.positions, cloud_colors(cloud_a, up), os.path.basename(first))]
    title, colorbar = os.path.basename(first), None
    if second is not None:
        cloud_b, bpp = load(second)
        peak = peak if peak is not None else default_peak(cloud_a.positions)
        facts = []
        if bpp is not None:
            facts.append(f"{bpp:.4f} bpp")
        if peak is not None:
            quality = point_metrics(cloud_a.positions, cloud_b.positions, peak, cloud_a.normals)
            facts.append(f"D1 {quality.symmetric.d1_psnr:.2f} dB, D2 {quality.symmetric.d2_psnr:.2f} dB "
                         f"(peak {peak:g})")
        label = os.path.basename(second)
        if error:
            colors, scale = error_colors(point_errors(cloud_a.positions, cloud_b.positions))
            colorbar = ("distance to the nearest original point (D1 error)", scale)
            label += ": D1 error"
        else:
            colors = cloud_colors(cloud_b, up)
        layers.append(Layer(cloud_b.positions, colors, label))
        title = f"{os.path.basename(first)} vs {os.path.basename(second)}" + \
            (f": {', '.join(facts)}" if facts else "")
    if screenshot is None:
        if colorbar:  # a window has no colour bar: its scale goes into the title
            title += f"; D1 error colours ({ERROR_MAP}): 0 to {colorbar[1]:.2f}"
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
