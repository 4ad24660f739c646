"""Integer sparse convolution on Morton-sorted voxels: exact on every machine by construction.

Features are int16 fixed-point numbers; a layer's weights are int16 and its bias int32,
both scaled by 2**shift more than the features; every output is the int32 sum

    (bias + 2**(shift - 1) + sum over kernel offsets k and input channels c of
     clamp(x[neighbour k, c], -bound, bound) * w[k, c, o]) >> shift

(an arithmetic shift, so rounding half up), plus an optional int16 residual, an optional
ReLU, saturated to int16. Integer sums do not depend on their order, so threads, SIMD
width, engine or device cannot change a single bit; a layer's ``bound`` and weights are
chosen (pointcloud.occupancy_integer) so that no sum leaves int32.

Two implementations compute the same integers: ``omnicodec._coder.integer_conv`` (C++,
cuda_ext/sparse_integer.cpp, where the extension is built) and :func:`reference_conv`
(plain torch int64, always there; slow). Neighbourhoods are tables of rows, (N, K) int32
with -1 where a neighbour is absent, numbered as MinkowskiEngine numbers kernel offsets
(first axis fastest), so float weights of either engine map onto them.
"""

import contextlib

import numpy as np
import torch

from omnicodec import fixedpoint
from omnicodec.entropy import rans
from omnicodec.grid import octree


def _extension():
    return rans._coder if rans.available() else None


_native = fixedpoint.native  # the C++ extension, unless it is not built or "reference" is chosen


def implementations():
    """The ways this installation computes :func:`conv`, fastest first: the C++ paths this
    CPU runs (``avx512vnni``, ``avx2``, ``plain``), then ``reference``."""
    native = _extension()
    return (list(native.integer_conv_paths()) if native else []) + ["reference"]


@contextlib.contextmanager
def use_implementation(name):
    """Run the enclosed code's integer operations with one of :func:`implementations`
    (tests compare them; the default is the fastest): ``reference`` runs all of them,
    neighbour tables, dot products, dense layers and the integer logistic's masses too,
    in plain torch."""
    if name not in implementations():
        raise ValueError(f"integer convolution {name!r} is not available here: {', '.join(implementations())}")
    with fixedpoint.implementation(name):
        yield


def neighbour_table(keys, bits):
    """Sorted unique Morton keys of voxels on a grid of ``bits`` bits per axis -> (N, 27)
    int32 rows of each voxel's 3x3x3 neighbours (-1 where absent)."""
    keys = torch.as_tensor(np.ascontiguousarray(keys, dtype=np.int64))
    native = _native()
    if native is not None:
        return native.neighbour_table(keys, bits)
    return _reference_neighbour_table(keys, bits)


def _reference_neighbour_table(keys, bits):
    from omnicodec.grid import morton

    coords = morton.decode(keys.numpy(), bits)
    table = torch.full((len(keys), 27), -1, dtype=torch.int32)
    side = 1 << bits
    for k in range(27):
        moved = coords + np.array([k % 3 - 1, k // 3 % 3 - 1, k // 9 - 1])
        inside = ((moved >= 0) & (moved < side)).all(axis=1)
        wanted = morton.encode(np.where(inside[:, None], moved, 0), bits)
        position = np.minimum(np.searchsorted(keys.numpy(), wanted), max(len(keys) - 1, 0))
        found = inside & (keys.numpy()[position] == wanted) if len(keys) else inside
        table[torch.from_numpy(np.flatnonzero(found)), k] = torch.from_numpy(position[found].astype(np.int32))
    return table


def parent_tables(keys):
    """Sorted unique Morton keys of a scale -> (the parent scale's keys, (P, 8) table of each
    parent's children rows, (N, 8) table of each child's parent row): the neighbourhoods of
    a stride-2 kernel-2 convolution and of its transpose. Column k is the child at offset
    (k & 1, (k >> 1) & 1, k >> 2), as MinkowskiEngine numbers a kernel of 2."""
    keys = np.asarray(keys, dtype=np.int64)
    parents, group = octree.parents_of(keys)
    child = keys & 7  # Morton child (x << 2) | (y << 1) | z
    column = ((child >> 2) & 1) | (((child >> 1) & 1) << 1) | ((child & 1) << 2)
    rows = np.arange(len(keys), dtype=np.int32)
    down = np.full((len(parents), 8), -1, dtype=np.int32)
    down[group, column] = rows
    up = np.full((len(keys), 8), -1, dtype=np.int32)
    up[rows, column] = group.astype(np.int32)
    return parents, torch.from_numpy(down), torch.from_numpy(up)


def conv(features, table, weight, bias, shift, bound, residual=None, relu=False, implementation=None):
    """The integer convolution above. ``weight`` is packed (K, Cin / 2, Cout, 2) int16
    (:func:`pack_weight`), ``bias`` (Cout,) int32; ``implementation``: one of
    :func:`implementations` (default: :func:`use_implementation`'s, else the fastest)."""
    implementation = implementation or fixedpoint.chosen_implementation() or "auto"
    native = _extension()
    if implementation == "reference" or native is None:
        return reference_conv(features, table, weight, bias, shift, bound, residual, relu)
    return native.integer_conv(features, table, weight, bias, int(shift), int(bound), residual, relu,
                               implementation)


def reference_conv(features, table, weight, bias, shift, bound, residual=None, relu=False):
    """:func:`conv` in plain torch int64 arithmetic."""
    kernel, pairs, cout, _ = weight.shape
    matrices = weight.permute(0, 1, 3, 2).reshape(kernel, 2 * pairs, cout).to(torch.int64)
    x = features.to(torch.int64).clamp(-bound, bound)
    total = (bias.to(torch.int64) + ((1 << shift) >> 1)).expand(len(table), cout).clone()
    for k in range(kernel):
        present = table[:, k] >= 0
        total[present] += x[table[present, k].long()] @ matrices[k]
    total = total >> shift
    if residual is not None:
        total += residual.to(torch.int64)
    if relu:
        total.clamp_(min=0)
    return total.clamp_(-32768, 32767).to(torch.int16)


def dot(features, weight):
    """(N, C) int16 features . (C,) int64 weights -> (N,) int64, exact."""
    native = _native()
    if native is not None:
        return native.integer_dot(features, weight)
    return features.to(torch.int64) @ weight


def linear(features, weight, bias, shift, relu=False):
    """A dense layer in integers: ((N, in) int64 or int32 features . (out, in) int64
    weights + bias + 2^(shift - 1)) >> shift, int64, then ReLU if asked; exact, so every
    path agrees (:func:`use_implementation` picks one, as for :func:`conv`)."""
    native = _native()
    if native is not None:
        return native.integer_linear(features.contiguous(), weight, bias, shift, relu,
                                     fixedpoint.chosen_implementation() or "auto")
    out = (features.to(torch.int64) @ weight.T + bias + (1 << (shift - 1))) >> shift
    return out.clamp(min=0) if relu else out


def pack_weight(matrices):
    """(K, Cin, Cout) int16 weights -> (K, ceil(Cin / 2), Cout, 2), odd Cin padded with a
    zero channel (its features then need a zero column, :func:`pad_channels`)."""
    kernel, cin, cout = matrices.shape
    if cin % 2:
        matrices = torch.cat([matrices, torch.zeros((kernel, 1, cout), dtype=matrices.dtype)], dim=1)
    return matrices.reshape(kernel, -1, 2, cout).permute(0, 1, 3, 2).contiguous()


def pad_channels(features):
    """Features with an odd number of channels get a zero column (see :func:`pack_weight`)."""
    if features.shape[1] % 2 == 0:
        return features
    return torch.cat([features, torch.zeros((len(features), 1), dtype=features.dtype)], dim=1)
