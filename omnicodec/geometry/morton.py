"""Morton (z-order) keys: the canonical order of voxels everywhere in omnicodec.

A child's key is its parent's key * 8 + child index, so the children of parents in
Morton order come out in Morton order: the octree never has to sort while decoding.
Child index c = (dx << 2) | (dy << 1) | dz.
"""

import numpy as np

MAX_BITS = 21  # 3 * 21 = 63 bits fit an int64 key


def encode(coords, bits):
    """(N, 3) non-negative integer coordinates < 2**bits -> (N,) int64 Morton keys."""
    coords = np.asarray(coords, dtype=np.int64)
    keys = np.zeros(len(coords), dtype=np.int64)
    for level in range(bits - 1, -1, -1):
        digits = ((coords >> level) & 1) * np.array([4, 2, 1], dtype=np.int64)
        keys = (keys << 3) | digits.sum(axis=1)
    return keys


def decode(keys, bits):
    """(N,) int64 Morton keys -> (N, 3) int64 coordinates."""
    keys = np.asarray(keys, dtype=np.int64)
    coords = np.zeros((len(keys), 3), dtype=np.int64)
    for level in range(bits):
        digit = keys >> (3 * level)
        coords[:, 0] |= ((digit >> 2) & 1) << level
        coords[:, 1] |= ((digit >> 1) & 1) << level
        coords[:, 2] |= (digit & 1) << level
    return coords


CHILD_OFFSETS = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], dtype=np.int64)
