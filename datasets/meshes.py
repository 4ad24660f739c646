"""Meshes and point sets -> voxelized surfaces, for training data.

Meshes are sampled uniformly on their surface (area-weighted triangles), densely enough
(``density`` points per voxel face area) that the voxelized surface has no holes: 8 per
voxel^2 matches 8i's density. Point sets without faces are voxelized as they are.
"""

import numpy as np

from omnicodec.io import read_ply


def read_mesh(path):
    """(vertices (V, 3) float64, triangles (F, 3) int64 or None) from a .ply or .obj file."""
    path = str(path)
    if path.endswith(".obj"):
        return _read_obj(path)
    cloud = read_ply(path, with_faces=True)
    faces = cloud.faces if cloud.faces is not None and len(cloud.faces) else None
    return cloud.positions.astype(np.float64), faces


def _read_obj(path):
    vertices, faces = [], []
    with open(path) as handle:
        for line in handle:
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "v":
                vertices.append([float(v) for v in parts[1:4]])
            elif parts[0] == "f":
                index = [int(p.split("/")[0]) for p in parts[1:]]
                index = [i - 1 if i > 0 else len(vertices) + i for i in index]
                faces.extend((index[0], index[i], index[i + 1]) for i in range(1, len(index) - 1))
    return np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64).reshape(-1, 3)


def random_rotation(rng):
    """A uniformly random 3D rotation matrix (QR of a Gaussian matrix, sign-fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def fit_to_grid(vertices, bits, rotation, rng):
    """Rotate, then scale and shift (with a random sub-voxel shift) into [0, 2**bits - 1]."""
    v = vertices @ rotation.T
    v -= v.min(axis=0)
    v *= (2**bits - 1.5) / v.max()
    return v + rng.uniform(0, 0.5, size=3)


def sample_surface(vertices, faces, density, rng, chunk=2_000_000, vertex_values=None):
    """Area-weighted uniform samples on the triangles: about density * area points; with
    ``vertex_values`` (V, C), also the samples' values interpolated from the vertices'
    (returns (points, values))."""
    corners = faces[:, 0], faces[:, 1], faces[:, 2]
    a, b, c = (vertices[i] for i in corners)
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    counts = rng.poisson(area * density)
    tri = np.repeat(np.arange(len(faces)), counts)
    out, values = [], []
    for start in range(0, len(tri), chunk):
        t = tri[start:start + chunk]
        u, w = rng.random((2, len(t)))
        flip = u + w > 1
        u[flip], w[flip] = 1 - u[flip], 1 - w[flip]
        for source, target in ((vertices, out), (vertex_values, values)):
            if source is not None:
                sa, sb, sc = (source[i[t]] for i in corners)
                target.append(sa + u[:, None] * (sb - sa) + w[:, None] * (sc - sa))
    # Vertices too, so that tiny or degenerate triangles still leave their mark.
    out.append(vertices)
    if vertex_values is None:
        return np.concatenate(out)
    values.append(vertex_values)
    return np.concatenate(out), np.concatenate(values)


def voxelize_unique(points, bits):
    coords = np.rint(points).astype(np.int64)
    coords = coords[((coords >= 0) & (coords < 2**bits)).all(axis=1)]
    keys = np.unique((coords[:, 0] << 42) | (coords[:, 1] << 21) | coords[:, 2])
    return np.stack([keys >> 42, (keys >> 21) & (2**21 - 1), keys & (2**21 - 1)], axis=1)
