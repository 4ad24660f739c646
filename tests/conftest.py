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
