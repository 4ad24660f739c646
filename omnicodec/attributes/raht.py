"""The region-adaptive Haar transform (RAHT) of voxel attributes, in integers, with each
octree level predicted from the decoded level above: the structure of the transform colour
coder (:mod:`omnicodec.attributes.transform_coding`).

The voxels' Morton keys define a binary tree: at sub-level k the nodes are the distinct
keys >> k, and two nodes merge when their keys differ only in the lowest bit (sub-levels
0, 1, 2 of each octree level merge along z, y and x). A node's weight is the number of
voxels under it. A merge of values a and b with weights wa, wb keeps the lifting pair

    d = b - a,    m = a + floor(wb x d / (wa + wb))

(m is the weighted mean, up to the floor), which integers invert exactly:
a = m - floor(wb x d / (wa + wb)), b = a + d. So with values in integers the transform is
lossless, and with values in fixed point (FRACTION_BITS) it is RAHT up to the scale of
each coefficient: an orthonormal RAHT coefficient is sqrt(wa wb / (wa + wb)) x d, so d is
quantized with the step Delta x sqrt((wa + wb) / (wa wb)) (:func:`coefficient_steps`),
exactly, by an integer square root.

Prediction (as G-PCC's RAHT predicts from the upsampled parent level): when an octree
level is coded, the values of the level above are known; each node of the level is
predicted by interpolating the 2 x 2 x 2 known cells of the level above around its corner
(weights 27, 9, 3, 1: trilinear at the child's centre; missing cells left out), the
predictions go through the same three merges, and what is coded is each d minus its
prediction's d. The decoder computes the same predictions from the same integers.
"""

import functools

import numpy as np

from omnicodec import fixedpoint
from omnicodec.grid import morton
from omnicodec.sparse.integer import neighbour_table

FRACTION_BITS = 4  # fractional bits of the values
STEP_FRACTION = 4  # fractional bits of the coefficient steps beyond the values'
_CORNER_WEIGHTS = np.array([27, 9, 9, 3, 9, 3, 3, 1], dtype=np.int64)  # by which axes move
_PREDICTED_LIMIT = 1 << 23
_SECOND_PASS_SHRINK = 2  # what the second pass's correction is divided by beyond its count
_COLUMN_STEPS = (1, 3, 9)  # a neighbour table's column moves by these for x, y, z (centre: 13)
# For a node in octant (x, y, z bits) of its parent cell, the neighbour-table columns of the
# 2 x 2 x 2 cells around its corner, in _CORNER_WEIGHTS' order (which axes move towards it).
_CORNER_CELLS = np.array([[13 + sum((2 * ((octant >> (2 - axis)) & 1) - 1) * ((corner >> (2 - axis)) & 1)
                                    * _COLUMN_STEPS[axis] for axis in range(3)) for corner in range(8)]
                          for octant in range(8)], dtype=np.int64)


class Merges:
    """The merges of one sub-level: ``parent`` (each node's node one sub-level up),
    ``left`` and ``right`` (the nodes of each merged pair) and ``weights`` (of the nodes)."""

    def __init__(self, keys, weights):
        parents = keys >> 1
        first = np.ones(len(keys), dtype=bool)
        first[1:] = parents[1:] != parents[:-1]
        self.parent = np.cumsum(first) - 1
        self.left = np.flatnonzero(~first) - 1
        self.right = self.left + 1
        self.weights = weights
        self.up_keys = parents[first]
        self.up_weights = np.add.reduceat(weights, np.flatnonzero(first))

    def merge(self, values):
        """(nodes, C) values -> (the values one sub-level up, the (pairs, C) d of each pair)."""
        up = np.empty((len(self.up_keys),) + values.shape[1:], dtype=np.int64)
        up[self.parent] = values
        a, b = values[self.left], values[self.right]
        d = b - a
        wa, wb = self.weights[self.left, None], self.weights[self.right, None]
        up[self.parent[self.left]] = a + (wb * d) // (wa + wb)
        return up, d

    @functools.cached_property
    def step_scales(self):
        """sqrt((wa + wb) / (wa wb)) of each pair in units of 2^-30 (from the ratio with 28
        fractional bits): a coefficient's step over the orthonormal step."""
        wa, wb = self.weights[self.left], self.weights[self.right]
        ratio = ((wa + wb) << 28) // (wa * wb)  # at most 2
        return fixedpoint.isqrt(ratio << 32)

    def merge_maximum(self, values):
        """The largest of each node's values one sub-level up."""
        up = np.zeros((len(self.up_keys),) + values.shape[1:], dtype=np.int64)
        np.maximum.at(up, self.parent, values)
        return up

    def split(self, up, d):
        """The inverse of :meth:`merge`: the values one sub-level up and the pairs' d -> the values."""
        values = up[self.parent]
        wa, wb = self.weights[self.left, None], self.weights[self.right, None]
        a = up[self.parent[self.left]] - (wb * d) // (wa + wb)
        values[self.left], values[self.right] = a, a + d
        return values


class Tree:
    """The RAHT tree of ``bits``-bit voxels given by sorted unique Morton ``keys``: 3 x bits
    sub-levels of :class:`Merges`, finest first."""

    def __init__(self, keys, bits):
        self.bits = bits
        self._neighbours = {}
        self.merges, self.keys = [], [np.asarray(keys, dtype=np.int64)]
        weights = np.ones(len(keys), dtype=np.int64)
        for _ in range(3 * bits):
            merges = Merges(self.keys[-1], weights)
            self.merges.append(merges)
            self.keys.append(merges.up_keys)
            weights = merges.up_weights

    def neighbours(self, level):
        """The (nodes, 27) rows of the 3 x 3 x 3 neighbours (-1: absent) of each node of
        octree ``level`` (:func:`~omnicodec.sparse.integer.neighbour_table`; shared: read
        only). A walk down the levels asks for each level twice (predicting the level below,
        refining its own), so the tables of ``level`` and the level above are kept."""
        if level not in self._neighbours:
            self._neighbours = {known: table for known, table in self._neighbours.items() if known == level + 1}
            self._neighbours[level] = neighbour_table(self.keys[3 * level], self.bits - level).numpy()
        return self._neighbours[level]

    def forward(self, values):
        """(N, C) int64 voxel values -> (the root's (1, C) value, the d of every sub-level)."""
        ds = []
        for merges in self.merges:
            values, d = merges.merge(values)
            ds.append(d)
        return values, ds

    def parents_of(self, level):
        """For the nodes of each of octree ``level``'s three sub-levels (3 x level + 0, 1,
        2), the row of their cell one octree level up."""
        m0, m1, m2 = self.merges[3 * level:3 * level + 3]
        return [m2.parent[m1.parent[m0.parent]], m2.parent[m1.parent], m2.parent]

    def passes(self, level):
        """Which of two passes codes each node of the level's three sub-levels: the parity
        of its parent cell's x + y + z, so that every cell across a face of a second-pass
        parent belongs to a first-pass one."""
        parity = morton.decode(self.keys[3 * level + 3], self.bits - level - 1).sum(axis=1) & 1
        return [parity[rows] for rows in self.parents_of(level)]

    def lift(self, level, values, spread):
        """(nodes, C) values and spreads of octree ``level``'s nodes through its three
        merges -> (the d of each sub-level's pairs, each pair's spread: the larger one)."""
        ds, spreads = [], []
        for merges in self.merges[3 * level:3 * level + 3]:
            values, d = merges.merge(values)
            ds.append(d)
            spreads.append(np.maximum(spread[merges.left], spread[merges.right]))
            spread = merges.merge_maximum(spread)
        return ds, spreads

    def split_level(self, level, known, ds):
        """The values of octree ``level``'s nodes from those one level up and the d of its
        three sub-levels (the inverse of :meth:`lift`'s merges)."""
        for part in (2, 1, 0):
            known = self.merges[3 * level + part].split(known, ds[part])
        return known

    def refine(self, level, values, prediction, spread, second):
        """Predictions and spreads of the second pass's nodes (``second``: bool per node)
        that also see the decoded nodes across their parent cell's faces: the
        parent-level prediction plus those nodes' errors from their own parent-level
        predictions, summed and divided by their count + _SECOND_PASS_SHRINK (a neighbour
        the blur missed was likely missed here too); the spread averaged with the largest
        of those errors."""
        nodes = np.flatnonzero(second)
        cells = morton.decode(self.keys[3 * level][nodes], self.bits - level)
        table = self.neighbours(level)[nodes]
        errors = np.zeros((len(nodes), prediction.shape[1]), dtype=np.int64)
        count = np.full(len(nodes), _SECOND_PASS_SHRINK, dtype=np.int64)
        largest = np.zeros((len(nodes), spread.shape[1]), dtype=np.int64)
        for axis in range(3):
            outwards = 2 * (cells[:, axis] & 1) - 1  # the step out of the parent cell
            where = table[np.arange(len(nodes)), 13 + outwards * _COLUMN_STEPS[axis]]
            found = (where >= 0)[:, None]
            error = np.where(found, values[where] - prediction[where], 0)
            errors += error
            count += found[:, 0]
            largest = np.maximum(largest, np.abs(error))
        prediction, spread = prediction.copy(), spread.copy()
        prediction[nodes] += (2 * errors + count[:, None]) // (2 * count[:, None])
        spread[nodes] = (spread[nodes] + largest) >> 1
        return prediction, spread

    def predict(self, level, known):
        """Predictions of the nodes of octree ``level`` (scale ``level``, sub-level 3 x
        level) from the (nodes, C) ``known`` values one octree level up -> (nodes, C) int64
        predictions and (nodes, C) int64 spreads: the weighted mean absolute difference of
        the cells used from the prediction (a measure of how busy the neighbourhood is)."""
        children = morton.decode(self.keys[3 * level], self.bits - level)
        rows = self.neighbours(level + 1)  # the 27 around each parent
        parent = self.parents_of(level)[0]
        octant = (children[:, 0] & 1) * 4 + (children[:, 1] & 1) * 2 + (children[:, 2] & 1)
        row = rows[parent[:, None], _CORNER_CELLS[octant]]  # (nodes, 8): the 2x2x2 cells
        weight = np.where(row >= 0, _CORNER_WEIGHTS[None], 0).astype(np.int32)
        # int32 sums (weights total at most 64) of values held within +-2^23 (a rebuilt
        # 16-bit colour stays within +-2^22; only a crafted stream is clipped, on both sides)
        value = np.clip(known, -_PREDICTED_LIMIT, _PREDICTED_LIMIT).astype(np.int32)[np.maximum(row, 0)]
        total = np.einsum("nc,ncv->nv", weight, value)
        weights = weight.sum(axis=1, dtype=np.int32)[:, None]
        prediction = (2 * total + weights) // (2 * weights)
        spread = np.einsum("nc,ncv->nv", weight, np.abs(value - prediction[:, None]))
        return prediction.astype(np.int64), (spread // weights).astype(np.int64)


def coefficient_steps(merges, step):
    """The steps of the pairs' d of one sub-level, in 1 / 2^STEP_FRACTION units of the
    values, for the orthonormal step ``step`` (int, in units of the values): step x
    sqrt((wa + wb) / (wa wb)), at least one unit of the values."""
    return np.maximum((int(step) * merges.step_scales) >> (30 - STEP_FRACTION), 1 << STEP_FRACTION)
