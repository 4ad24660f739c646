"""Octree scales of a voxel set: downscale by 2, child occupancy masks, and regrowth."""

import numpy as np

from omnicodec.grid.morton import CHILD_OFFSETS

# The order in which the codecs visit the 8 children of a voxel. Child c sits at offset
# ((c >> 2) & 1, (c >> 1) & 1, c & 1). Each child is far from the ones visited before it,
# so each has decoded neighbours on several sides.
CODING_ORDER = (0, 7, 3, 4, 1, 6, 2, 5)


def parents_of(keys):
    """Unique parent keys (Morton order) of Morton-sorted keys, and each key's parent index."""
    parent_keys = keys >> 3
    starts = np.flatnonzero(np.r_[True, parent_keys[1:] != parent_keys[:-1]])
    index = np.cumsum(np.r_[True, parent_keys[1:] != parent_keys[:-1]]) - 1
    return parent_keys[starts], index


def scales(keys, depth, coarsest):
    """Morton-sorted keys at every scale from ``coarsest`` to ``depth`` (a list, coarse first)."""
    levels = [keys]
    for _ in range(depth - coarsest):
        levels.append(parents_of(levels[-1])[0])
    return levels[::-1]


def child_masks(parent_keys, child_keys):
    """(P, 8) bool: which of each parent's 8 children are occupied."""
    _, index = parents_of(child_keys)
    masks = np.zeros((len(parent_keys), 8), dtype=bool)
    masks[index, child_keys & 7] = True
    return masks


def expand(parent_keys, masks):
    """Keys (Morton order) of the occupied children described by (P, 8) masks."""
    parent_index, child = np.nonzero(masks)
    return parent_keys[parent_index] * 8 + child


def child_coords(parent_coords, masks):
    """Integer coordinates of occupied children, in the same order as :func:`expand`."""
    parent_index, child = np.nonzero(masks)
    return parent_coords[parent_index] * 2 + CHILD_OFFSETS[child]
