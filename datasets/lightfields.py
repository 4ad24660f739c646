"""Training patches for the light-field codec, from real light fields and rendered ones.

    python -m datasets.lightfields --data ../shared/data --out ~/.cache/omnicodec/lf_patches.h5 --seed 0

Real: the HCI training scenes in ``lightfields/`` (cotton, all 9x9 views; dino, whose
partial grid holds the full 3x3 views around the centre). hci_antinous and lytro_2067 are
evaluation data and never used. Rendered: ``--synthetic`` light fields of textured planes
at known disparities seen by a 9x9 grid of cameras (``render_planes``), some with
Lytro-like black vignetted corner views, so the codec learns that black costs nothing.
Every light field is cut into patches of all its views x ``--patch`` x ``--patch`` pixels
at random places, stored as uint8 in one HDF5 file: ``patches`` (N, U, V, P, P, 3) for
each angular grid size in its own dataset ``patches_UxV``.

Development light fields (``--derive FOLDER``), on which the codec's encoder choices are
tuned and measured (issue 30): 5x5 light fields made from the shared 9x9 scenes, as
cameras of other spacings and sensors of other sizes would see them: the centre 5x5 views;
every second view (twice the baseline); both area-averaged to about 128 pixels across (the
texture and noise of a low-resolution capture); and rendered scenes of textured planes with
sensor noise. Written as PNG folders, one per light field.
"""

import argparse
import os

import h5py
import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from omnicodec.io.lightfield import read_lightfield

TRAINING_SCENES = ("hci_cotton", "hci_dino_partial")


def _texture(rng, size):
    """A random RGB texture in [0, 1]: filtered noise at a random scale, stripes or blocks."""
    kind = rng.integers(3)
    if kind == 0:
        base = gaussian_filter(rng.random((size, size, 3)), sigma=(rng.uniform(1, 12),) * 2 + (0,))
    elif kind == 1:
        y, x = np.mgrid[:size, :size]
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, 40)
        wave = 0.5 + 0.5 * np.sin((x * np.cos(angle) + y * np.sin(angle)) * 2 * np.pi / period)
        base = wave[..., None] * rng.random(3) + (1 - wave[..., None]) * rng.random(3)
    else:
        cells = rng.random((size // 16 + 1, size // 16 + 1, 3))
        base = np.kron(cells, np.ones((16, 16, 1)))[:size, :size]
    base = (base - base.min()) / max(np.ptp(base), 1e-6)
    return np.clip(base * rng.uniform(0.3, 1.0) + rng.uniform(0, 0.4), 0, 1)


def _shape_mask(rng, size):
    """A random disk or rectangle covering part of a plane (1 inside)."""
    y, x = np.mgrid[:size, :size]
    cy, cx = rng.uniform(0.2, 0.8, 2) * size
    if rng.random() < 0.5:
        radius = rng.uniform(0.15, 0.4) * size
        return ((y - cy) ** 2 + (x - cx) ** 2 < radius**2).astype(np.float64)
    hy, hx = rng.uniform(0.1, 0.35, 2) * size
    return ((np.abs(y - cy) < hy) & (np.abs(x - cx) < hx)).astype(np.float64)


def render_planes(rng, grid=9, size=128, planes=4, max_disparity=2.0):
    """(grid, grid, size, size, 3) uint8 views of textured planes, back to front; the plane
    at disparity d moves d pixels per camera step (bilinear sampling, clamped edges)."""
    margin = int(np.ceil(max_disparity * grid)) + 2
    canvas = size + 2 * margin
    layers = []
    for index in range(planes):
        texture = _texture(rng, canvas)
        alpha = np.ones((canvas, canvas)) if index == 0 else _shape_mask(rng, canvas)
        layers.append((texture, alpha, rng.uniform(-max_disparity, max_disparity)))
    layers.sort(key=lambda layer: layer[2])  # far (small disparity) first
    centre = (grid - 1) / 2
    y, x = np.mgrid[:size, :size].astype(np.float64)
    views = np.zeros((grid, grid, size, size, 3))
    for u in range(grid):
        for v in range(grid):
            image = np.zeros((size, size, 3))
            for texture, alpha, disparity in layers:
                coords = [y + margin + (u - centre) * disparity, x + margin + (v - centre) * disparity]
                a = map_coordinates(alpha, coords, order=1, mode="nearest")[..., None]
                colour = np.stack([map_coordinates(texture[..., c], coords, order=1, mode="nearest")
                                   for c in range(3)], axis=-1)
                image = image * (1 - a) + colour * a
            views[u, v] = image
    return np.round(views * 255).astype(np.uint8)


def vignette(views, rng):
    """Black out the corner views' outer pixels, as a Lytro capture does."""
    grid, size = views.shape[0], views.shape[2]
    centre = (grid - 1) / 2
    y, x = np.mgrid[:size, :size]
    out = views.copy()
    for u in range(grid):
        for v in range(grid):
            reach = np.hypot(u - centre, v - centre) / np.hypot(centre, centre)
            if reach > 0.7:
                radius = size * rng.uniform(0.4, 0.7) * (1.5 - reach)
                dark = np.hypot(y - size / 2, x - size / 2) > radius
                out[u, v][dark] = 0
    return out


DERIVED_SCENES = ("hci_antinous", "hci_cotton", "lytro_2067")
DERIVED_SIDE = 128  # low-resolution variants are area-averaged to about this many pixels across


def area_downscale(views, factor):
    """(U, V, H, W, 3) uint8 views averaged over ``factor`` x ``factor`` pixels (edges cropped)."""
    rows, cols, height, width, _ = views.shape
    h, w = height // factor, width // factor
    cropped = views[:, :, :h * factor, :w * factor].astype(np.float64)
    means = cropped.reshape(rows, cols, h, factor, w, factor, 3).mean(axis=(3, 5))
    return np.round(means).astype(np.uint8)


def derived_light_fields(data, rng, rendered=2):
    """{name: (5, 5, H, W, 3) uint8 views}: the development light fields (module docstring)."""
    out = {}
    for scene in DERIVED_SCENES:
        views = read_lightfield(os.path.join(data, "lightfields", scene)).views
        centre = views.shape[0] // 2
        factor = max(1, round(min(views.shape[2:4]) / DERIVED_SIDE))
        grids = {"c5": views[centre - 2:centre + 3, centre - 2:centre + 3],
                 "w5": views[centre - 4:centre + 5:2, centre - 4:centre + 5:2]}
        out[f"{scene}_c5"] = np.ascontiguousarray(grids["c5"])
        for kind, grid in grids.items():
            out[f"{scene}_{kind}_lowres"] = area_downscale(grid, factor)
    for index in range(rendered):
        views = render_planes(rng, grid=5, size=DERIVED_SIDE, max_disparity=1.5).astype(np.float64)
        noisy = views + rng.normal(0.0, rng.uniform(1.0, 3.0), views.shape)
        out[f"rendered_noisy_{index}"] = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    return out


def write_derived(data, folder, seed):
    from omnicodec.io.lightfield import LightField, Naming, write_lightfield

    os.makedirs(folder, exist_ok=True)
    for name, views in derived_light_fields(data, np.random.default_rng(seed)).items():
        path = os.path.join(folder, name)
        write_lightfield(path + os.sep, LightField(views, Naming("rowcol", prefix="view", digits=2)))
        print(f"{path}: {views.shape}", flush=True)


def patches(views, count, size, rng):
    """``count`` random crops of all views x size x size pixels."""
    height, width = views.shape[2:4]
    out = np.empty((count, *views.shape[:2], size, size, 3), dtype=np.uint8)
    for i in range(count):
        y, x = rng.integers(0, height - size + 1), rng.integers(0, width - size + 1)
        out[i] = views[:, :, y:y + size, x:x + size]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default=os.path.expanduser("~/.cache/omnicodec/lf_patches.h5"))
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--per-scene", type=int, default=400, help="patches per real light field")
    parser.add_argument("--synthetic", type=int, default=60, help="rendered light fields")
    parser.add_argument("--per-synthetic", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--derive", metavar="FOLDER",
                        help="write the development light fields to FOLDER instead of patches")
    args = parser.parse_args(argv)
    if args.derive:
        write_derived(args.data, args.derive, args.seed)
        return
    rng = np.random.default_rng(args.seed)
    groups = {}
    for scene in TRAINING_SCENES:
        path = os.path.join(args.data, "lightfields", scene)
        if scene == "hci_dino_partial":  # only its centre 3x3 views are all there
            names = [f"input_Cam{r * 9 + c:03d}.png" for r in range(3, 6) for c in range(3, 6)]
            views = _read_named(path, names, 3)
        else:
            views = read_lightfield(path).views
        groups.setdefault(views.shape[:2], []).append(patches(views, args.per_scene, args.patch, rng))
        print(f"{scene}: {views.shape}", flush=True)
    for i in range(args.synthetic):
        views = render_planes(rng, size=2 * args.patch)
        if i % 3 == 0:
            views = vignette(views, rng)
        groups.setdefault(views.shape[:2], []).append(patches(views, args.per_synthetic, args.patch, rng))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with h5py.File(tmp, "w") as f:
        for (rows, cols), parts in groups.items():
            data = np.concatenate(parts)
            f.create_dataset(f"patches_{rows}x{cols}", data=data, chunks=(1, *data.shape[1:]),
                             compression="lzf")
            print(f"patches_{rows}x{cols}: {data.shape}", flush=True)
        f.attrs["seed"] = args.seed
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


def training_light_fields(data):
    """{scene: (9, 9, H, W, 3) uint8 views} of the training scenes, absent views black."""
    scenes = {}
    for scene in TRAINING_SCENES:
        path = os.path.join(data, "lightfields", scene)
        if scene == "hci_dino_partial":
            names = sorted(n for n in os.listdir(path) if n.startswith("input_Cam") and n.endswith(".png"))
            found = _read_named(path, names, None)
            views = np.zeros((9, 9, *found.shape[1:]), dtype=np.uint8)
            for name, view in zip(names, found):
                index = int(name[len("input_Cam"):-4])
                views[index // 9, index % 9] = view
        else:
            views = read_lightfield(path).views
        scenes[scene] = views
    return scenes


def _read_named(folder, names, side):
    """The named views, as (side, side, H, W, 3), or (N, H, W, 3) for side None."""
    from PIL import Image

    views = [np.asarray(Image.open(os.path.join(folder, name)).convert("RGB")) for name in names]
    views = np.stack(views)
    return views if side is None else views.reshape(side, side, *views[0].shape)


if __name__ == "__main__":
    main()
