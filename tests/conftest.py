import os

import numpy as np
import pytest

from omnicodec import runtime

# What a codec sets where it runs, set before any test module loads torch, so that a test
# file run alone does its float maths in the same (reproducible) MKL mode as in the suite.
runtime.configure()

DATA = os.path.join(os.path.dirname(__file__), "data")
SAMPLE = os.path.join(DATA, "ricardo_vox8.ply")


@pytest.fixture(scope="session")
def sample_points():
    from omnicodec.io import read_ply

    return read_ply(SAMPLE).positions


def sphere_shell(radius=20, center=32, count=4000, seed=0):
    """Integer voxels on a sphere surface: a small closed surface like real scans."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(count, 3))
    v = v / np.linalg.norm(v, axis=1, keepdims=True) * radius + center
    return np.unique(np.rint(v).astype(np.int64), axis=0)


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    """A lossless/lossy training file (datasets.prepare's layout) of three sphere shells."""
    import h5py

    path = tmp_path_factory.mktemp("data") / "blocks.h5"
    clouds = [sphere_shell(radius=r, center=32, count=3000, seed=r) for r in (12, 18, 24)]
    with h5py.File(path, "w") as f:
        f.create_dataset("points", data=np.concatenate(clouds).astype(np.uint16))
        f.create_dataset("offsets", data=np.cumsum([0] + [len(c) for c in clouds]))
        f.attrs["block_bits"] = 6
    return path


def textured_views(rows=3, cols=3, height=40, width=56, seed=0):
    """A small textured light field (uint8 views): a smooth texture seen with a disparity
    of one pixel per view, so neighbouring views are shifted copies (as in a real capture)."""
    rng = np.random.default_rng(seed)
    texture = rng.random((height + 2 * rows, width + 2 * cols, 3))
    for _ in range(3):  # smooth a little, like a natural image
        texture = (texture + np.roll(texture, 1, 0) + np.roll(texture, 1, 1)) / 3
    views = np.stack([np.stack([texture[r:r + height, c:c + width] for c in range(cols)])
                      for r in range(rows)])
    return np.round(views * 255).astype(np.uint8)


def synthetic_sweep(lasers=32, columns=512, seed=0, noise=0.01, dropout=0.05, travel=0.0, sensor_seed=None):
    """A spinning-LiDAR sweep (float32 metres on KITTI's 1 mm precision, and float32
    intensities in hundredths) ray-cast in a small street: a ground plane 1.7 m below the
    sensor, a few vertical pillars and a round wall 40 m away. Each laser has its own
    elevation and height in the head, returns have range noise and some are lost. The
    sensor stands ``travel`` metres along x from the street's origin (the sweeps of a
    drive: the same street seen from further on), and the points are in its frame; the
    lasers' heights come from ``sensor_seed`` where given (one sensor for a whole drive)."""
    rng = np.random.default_rng(seed)
    elevation = np.linspace(np.radians(-24.9), np.radians(2.0), lasers)
    head = rng.uniform(0.1, 0.2, lasers)  # each laser's height in the head (m)
    if sensor_seed is not None:
        head = np.random.default_rng(sensor_seed).uniform(0.1, 0.2, lasers)
    azimuth = (np.arange(columns) + 0.5) * 2 * np.pi / columns - np.pi
    el, az = np.meshgrid(elevation, azimuth, indexing="ij")
    z0 = np.repeat(head[:, None], columns, axis=1)
    d = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)
    flat = np.hypot(d[..., 0], d[..., 1])
    best = np.full(el.shape, np.inf)
    down = d[..., 2] < 0
    best[down] = ((-1.7 - z0) / d[..., 2])[down]
    for cx, cy, radius in ((6.0, 3.0, 0.8), (-9.0, -4.0, 1.5), (2.0, -12.0, 2.5), (0.0, 0.0, 40.0)):
        cx -= travel
        # |(t d_xy) - c| = radius, t > 0: t^2 |d_xy|^2 - 2 t (d_xy . c) + |c|^2 - r^2 = 0
        b = d[..., 0] * cx + d[..., 1] * cy
        disc = b**2 - flat**2 * (cx**2 + cy**2 - radius**2)
        root = np.sqrt(np.maximum(disc, 0))
        for t in ((b - root) / flat**2, (b + root) / flat**2):
            hit = (disc >= 0) & (t > 0.5) & (t < best)
            best[hit] = t[hit]
    ok = np.isfinite(best) & (rng.random(el.shape) > dropout)
    rng_noise = best + rng.normal(0, noise, el.shape)
    points = d * rng_noise[..., None] + np.stack([np.zeros_like(z0), np.zeros_like(z0), z0], axis=-1)
    positions = (np.rint(points[ok] * 1000) / 1000).astype(np.float32)
    intensity = (np.clip(np.rint(60 - rng_noise[ok] + rng.normal(0, 3, ok.sum())), 0, 99) / 100).astype(np.float32)
    return positions, intensity


def synthetic_depth_frame(width=160, height=120, focal=131.25, seed=0, dropout=0.03):
    """One organized RGB-D frame as PCL and ROS store it (float32 metres in the camera's
    optical frame, looking along +z, invalid pixels left out) of a small room: a back wall
    2.4 m away, a floor, a tilted table top and a box on it. Depths are quantized as a
    Kinect's disparity (z = K / d for integer d, then whole millimetres), x and y are the
    back-projection z (u - cx) / f of each pixel; some pixels are lost at random, and the
    box's shadow (where the projector does not reach) has none."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    cx, cy = (width - 1) / 2, (height - 1) / 2
    ray = np.stack([(u - cx) / focal, (v - cy) / focal, np.ones(u.shape)], axis=-1)
    depth = np.full(u.shape, 2.4)  # the wall
    floor = 1.2 / np.maximum(ray[..., 1], 1e-9)  # y points down: the floor is 1.2 m below
    depth = np.where((ray[..., 1] > 0) & (floor < depth), floor, depth)
    table = (0.4 + 0.25 * ray[..., 0]) / np.maximum(ray[..., 1] + 0.35, 1e-9)  # a tilted plane
    on_table = (ray[..., 1] > -0.3) & (table > 0.8) & (table < 1.7) & (np.abs(ray[..., 0] * table) < 0.6)
    depth = np.where(on_table & (table < depth), table, depth)
    box = (np.abs(ray[..., 0] + 0.15) < 0.08) & (ray[..., 1] > -0.05) & (ray[..., 1] < 0.12)
    depth = np.where(box, np.minimum(depth, 1.05), depth)
    disparity = np.rint(350.0 / depth)
    z = np.rint(350.0 / disparity * 1000) / 1000
    shadow = (np.abs(ray[..., 0] + 0.05) < 0.02) & (ray[..., 1] > -0.05) & (ray[..., 1] < 0.12)
    ok = ~shadow & (rng.random(u.shape) > dropout)
    points = (ray * z[..., None])[ok]
    return points.astype(np.float32)


def sparse_surface(count=6000, radius=700, seed=0, pairs=0):
    """Integer voxels sampled at random on a large sphere: points tens of voxels apart, as
    a decimated room mesh is on a 1 mm grid; ``pairs`` of them get a neighbour 1-3 voxels
    away (cells of several points)."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(count, 3))
    v = v / np.linalg.norm(v, axis=1, keepdims=True) * radius + radius + 8
    points = np.rint(v).astype(np.int64)
    near = points[:pairs] + rng.integers(1, 4, (pairs, 3))
    return np.unique(np.vstack([points, near]), axis=0)
