"""Partition of a large voxel set into independent cubic blocks, to bound memory."""

import numpy as np

MIN_BLOCK_BITS = 6


def partition(keys, bits, max_points):
    """Split Morton-sorted keys into aligned cubes of side 2**block_bits holding <= max_points.

    Returns (block_bits, block_keys, slices): block_keys are the Morton keys of the occupied
    cubes (at the coarse grid), slices index ``keys``. Each block's local keys are
    ``keys[s] & (8**block_bits - 1)``; concatenating blocks in order restores ``keys``.
    """
    block_bits = bits
    while True:
        block_of = keys >> (3 * block_bits)
        bounds = np.flatnonzero(np.r_[True, block_of[1:] != block_of[:-1], True])
        largest = int(np.diff(bounds).max())
        if largest <= max_points or block_bits <= MIN_BLOCK_BITS:
            break
        block_bits -= 1
    slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    return block_bits, block_of[bounds[:-1]], slices
