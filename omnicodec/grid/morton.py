"""Morton (z-order) keys: the canonical order of voxels everywhere in omnicodec.

A child's key is its parent's key * 8 + child index, so the children of parents in
Morton order come out in Morton order: the octree never has to sort while decoding.
Child index c = (dx << 2) | (dy << 1) | dz.
"""

import numpy as np

MAX_BITS = 21  # 3 * 21 = 63 bits fit an int64 key


# Spreading 21 bits to every third bit of 63, and back, in five mask-and-shift steps.
_SPREAD = ((32, 0x1F00000000FFFF), (16, 0x1F0000FF0000FF), (8, 0x100F00F00F00F00F),
           (4, 0x10C30C30C30C30C3), (2, 0x1249249249249249))
_COMPACT = ((2, 0x10C30C30C30C30C3), (4, 0x100F00F00F00F00F), (8, 0x1F0000FF0000FF),
            (16, 0x1F00000000FFFF), (32, 0x1FFFFF))


def _spread(values):
    values = values & 0x1FFFFF
    for shift, mask in _SPREAD:
        values = (values | (values << shift)) & mask
    return values


def _compact(values):
    values = values & 0x1249249249249249
    for shift, mask in _COMPACT:
        values = (values ^ (values >> shift)) & mask
    return values


def encode(coords, bits):
    """(N, 3) non-negative integer coordinates < 2**bits -> (N,) int64 Morton keys."""
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 3)
    if bits < MAX_BITS:
        coords = coords & ((1 << bits) - 1)
    return (_spread(coords[:, 0]) << 2) | (_spread(coords[:, 1]) << 1) | _spread(coords[:, 2])


def decode(keys, bits):
    """(N,) int64 Morton keys -> (N, 3) int64 coordinates."""
    keys = np.asarray(keys, dtype=np.int64)
    if bits < MAX_BITS:
        keys = keys & ((1 << (3 * bits)) - 1)
    return np.stack([_compact(keys >> 2), _compact(keys >> 1), _compact(keys)], axis=1)


def unique_keys(keys):
    """Sorted unique keys (np.unique's hash path is many times slower on these)."""
    keys = np.sort(np.asarray(keys, dtype=np.int64))
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


CHILD_OFFSETS = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], dtype=np.int64)
