import os

import numpy as np
import pytest

import omnicodec  # noqa: F401  (first: it sets MKL_CBWR before torch loads MKL)

DATA = os.path.join(os.path.dirname(__file__), "data")
SAMPLE = os.path.join(DATA, "ricardo_vox8.ply")


@pytest.fixture(scope="session")
def sample_points():
    from omnicodec.io import read_ply

    return read_ply(SAMPLE).points


def sphere_shell(radius=20, center=32, count=4000, seed=0):
    """Integer voxels on a sphere surface: a small closed surface like real scans."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(count, 3))
    v = v / np.linalg.norm(v, axis=1, keepdims=True) * radius + center
    return np.unique(np.rint(v).astype(np.int64), axis=0)
