"""Coarse-to-fine order of a voxel cloud's points along the octree, and each point's known
neighbourhood when it is coded: the structure the colour codec walks.

Voxels are in Morton order, so the points of any octree cell at scale s (coordinates >> s)
are contiguous and the first of them represents the cell. A point's level is the coarsest
scale at which it represents its cell; coding goes from the top level down to level 0, so
when the points of level s are coded, every cell of scale s + 1 already has its
representative known, and so do some cells of scale s (those whose representative is also
their parent's). A point's context is the 3x3x3 neighbourhood of its cell at scale s
(known cells only) and at scale s + 1 (whose centre is its parent's representative): a
3x3x3 sparse convolution's gather at two octree scales (a third, s + 2, measured no better
on the validation frame).
"""

import numpy as np

from omnicodec.fixedpoint import floor_log2
from omnicodec.grid import morton
from omnicodec.grid.octree import CODING_ORDER
from omnicodec.sparse.integer import neighbour_table

NEIGHBOUR_OFFSETS = np.array([(x, y, z) for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)],
                             dtype=np.int64)
CENTRE = 13  # index of (0, 0, 0) in NEIGHBOUR_OFFSETS
CONTEXT_SCALES = 2  # the 3x3x3 neighbourhoods at a point's scale and this many - 1 coarser


def point_levels(keys, bits):
    """(N,) sorted Morton keys -> (N,) int level of each point (``bits`` for the first one,
    which represents the root)."""
    levels = np.zeros(len(keys), dtype=np.int64)
    for scale in range(1, bits + 1):
        cell = keys >> (3 * scale)
        first = np.ones(len(keys), dtype=bool)
        first[1:] = cell[1:] != cell[:-1]
        levels[first] = scale
    return levels


# NEIGHBOUR_OFFSETS' order (x slowest) -> the columns of sparse.integer.neighbour_table (x fastest)
_TABLE_COLUMNS = np.array([(x + 1) + 3 * (y + 1) + 9 * (z + 1) for x, y, z in NEIGHBOUR_OFFSETS], dtype=np.int64)


class CellIndex:
    """The cells of one scale and their representatives (the first point of each, in Morton
    order): lookup of a point's cell -> the representatives of the 3x3x3 cells around it,
    from the cells' neighbour table (:func:`~omnicodec.sparse.integer.neighbour_table`, a
    native kernel), so a lookup is one search per point rather than 27."""

    def __init__(self, keys, scale, bits):
        self.shift = 3 * scale
        cells = keys >> self.shift
        first = np.ones(len(keys), dtype=bool)
        first[1:] = cells[1:] != cells[:-1]
        if scale > bits:  # above the root: no cell has a representative
            first[:] = False
        self.rows, self.cells = np.flatnonzero(first).astype(np.int32), cells[first]
        self.table = neighbour_table(self.cells, max(bits - scale, 1)).numpy()

    def neighbours(self, keys):
        """(M,) Morton keys of voxels -> (M, 27) point index of the representative of each
        cell around theirs at this scale, -1 where the cell is empty."""
        if not len(self.rows):
            return np.full((len(keys), 27), -1, dtype=np.int32)
        cells = self.table[np.searchsorted(self.cells, keys >> self.shift)][:, _TABLE_COLUMNS]
        return np.where(cells >= 0, self.rows[cells], -1)


def child_ranks(coords, levels):
    """Each point's stage within its level: the rank in CODING_ORDER of its position in
    its parent cell."""
    rank = np.empty(8, dtype=np.int64)
    rank[list(CODING_ORDER)] = np.arange(8)
    bit = (coords >> levels[:, None]) & 1
    return rank[(bit[:, 0] << 2) | (bit[:, 1] << 1) | bit[:, 2]]


def level_contexts(coords, levels, bits, scales=CONTEXT_SCALES):
    """Yield, from the top level down and stage by stage within a level, (level, stage,
    rows of its points, (M, 27 * scales) neighbours): point indices, -1 for none. The first
    27 are the 3x3x3 cells at the level's scale known before these points, the next 27 those
    one scale up (centre: the parent's representative), and so on. A level's points are
    coded in 8 stages, one position in the parent cell per stage (CODING_ORDER), so later
    stages see the earlier ones: known at scale s means of a level above s or of an earlier
    stage."""
    ranks = child_ranks(coords, levels)
    keys = morton.encode(coords, bits)
    indexes = {}

    def index(scale):
        if scale not in indexes:
            indexes[scale] = CellIndex(keys, scale, bits)
        return indexes[scale]

    for level, stage, rows in coding_groups(levels, ranks, bits):
        for stale in [scale for scale in indexes if scale > level + scales]:
            del indexes[stale]
        same = index(level).neighbours(keys[rows])
        seen = np.maximum(same, 0)
        known = (same >= 0) & ((levels[seen] > level) | ((levels[seen] == level) & (ranks[seen] < stage)))
        coarser = [index(level + up).neighbours(keys[rows]) for up in range(1, scales)]
        yield level, stage, rows, np.concatenate([np.where(known, same, -1), *coarser], axis=1).astype(np.int64)


def coding_groups(levels, ranks, bits):
    """Yield (level, stage, rows) of each group of points coded together, in coding order:
    levels from the top down, stages in order within a level (empty groups left out)."""
    for level in range(bits, -1, -1):
        this_level = levels == level
        for stage in range(8):
            rows = np.nonzero(this_level & (ranks == stage))[0]
            if len(rows):
                yield level, stage, rows


def stored_contexts(coords, levels, bits, neighbours):
    """The items of :func:`level_contexts` from every point's ``neighbours`` as
    :func:`contexts_of` gathered them (an encoder that needs them twice looks them up once)."""
    for level, stage, rows in coding_groups(levels, child_ranks(coords, levels), bits):
        yield level, stage, rows, neighbours[rows].astype(np.int64)


def contexts_of(coords, levels, bits, rows=None):
    """(len(rows), 27 * CONTEXT_SCALES) int32 neighbours of :func:`level_contexts` for the
    points ``rows`` (sorted point indices; all points when None), gathered in one walk."""
    count = len(coords) if rows is None else len(rows)
    position = np.arange(len(coords)) if rows is None else np.full(len(coords), -1, dtype=np.int64)
    if rows is not None:
        position[rows] = np.arange(count)
    neighbours = np.full((count, 27 * CONTEXT_SCALES), -1, dtype=np.int32)
    for _, _, level_rows, context in level_contexts(coords, levels, bits):
        chosen = position[level_rows] >= 0
        neighbours[position[level_rows[chosen]]] = context[chosen]
    return neighbours


def run_starts(counts):
    """Index of the first item of each run of a sequence of runs of ``counts`` items (the
    run's length past the end for an empty run)."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)


def first_of_runs(counts):
    """Whether each item is the first of its run."""
    counts = np.asarray(counts, dtype=np.int64)
    first = np.zeros(int(counts.sum()), dtype=bool)
    first[run_starts(counts)[counts > 0]] = True
    return first


def position_in_run(counts):
    """Each item's index within its run."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.arange(int(counts.sum())) - np.repeat(run_starts(counts), counts)


def sequence_levels(counts, levels):
    """Coarse-to-fine levels of runs of a sequence (``counts[r]`` items in run r, one after
    another): per item its level, and the indices of its left and right neighbours known
    before it (-1 where there is none). Level 0 is every 2**levels-th item of a run (each
    known after the one that many before it); level k the items halfway between those of
    levels below k, down to every other item at level ``levels``."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.repeat(run_starts(counts), counts)
    lengths = np.repeat(counts, counts)
    j = position_in_run(counts)
    period = 1 << levels
    low_bit = j & -j  # 2^(trailing zeros); 0 for j == 0
    top = (j % period) == 0
    level = np.where(top, 0, levels - floor_log2(np.maximum(low_bit, 1)))
    left = np.where(top, np.where(j > 0, j - period, -1), j - low_bit)
    right = np.where(top | (j + low_bit >= lengths), -1, j + low_bit)
    return level, np.where(left >= 0, left + starts, -1), np.where(right >= 0, right + starts, -1)
