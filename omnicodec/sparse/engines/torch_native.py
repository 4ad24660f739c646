"""A sparse engine in plain PyTorch: the same layers and weights as MinkowskiEngine's,
with no compiled engine, on any device torch runs on.

Kernel maps come from coordinate hashing: every coordinate (batch index first) is packed
into one int64 key (each axis in as many bits as the tensor's own range needs), keys are
sorted once per coordinate set, and neighbours are found with searchsorted.
Convolutions gather the input rows of each kernel offset, multiply by that offset's
weight matrix and scatter-add into the output rows. Kernel offsets are numbered as
MinkowskiEngine numbers them (first axis fastest; odd kernels centred, even kernels from
0), so weights trained with either engine serve both.
"""

import itertools

import torch

from omnicodec.sparse.keys import pack_keys

NAME = "torch"
VERSION = torch.__version__



class NativeTensor:
    """Features F on coordinates C (N, 1 + D) int32 at tensor stride s. ``maps`` caches
    kernel maps and is shared by tensors on the same coordinates."""

    __slots__ = ("F", "C", "tensor_stride", "maps")

    def __init__(self, features, coordinates, stride, maps=None):
        self.F = features
        self.C = coordinates
        self.tensor_stride = stride
        self.maps = {} if maps is None else maps

    def index(self):
        """(sorted keys, row of each sorted key, lowest coordinate, bits per column),
        computed once per coordinate set."""
        if "index" not in self.maps:
            coords = self.C.to(torch.int64)
            low = (coords.min(dim=0).values if len(coords)
                   else torch.zeros(coords.shape[1], dtype=torch.int64, device=coords.device))
            span = (coords.max(dim=0).values - low) if len(coords) else torch.zeros_like(low)
            widths = [max(1, int(v).bit_length()) for v in span]
            keys = _pack(coords, low, widths)
            order = torch.argsort(keys)
            self.maps["index"] = (keys[order], order, low, widths)
        return self.maps["index"]


def _pack(coords, low, widths, checked=True):
    try:
        return pack_keys(coords - low, widths, checked)
    except ValueError:
        raise ValueError("coordinates span too large a range for the torch engine's keys") from None


def lookup(tensor, queries):
    """Rows of ``tensor`` at the query coordinates, and a mask of which queries exist."""
    keys, order, low, widths = tensor.index()
    queries = queries.to(torch.int64)
    limit = torch.tensor([1 << w for w in widths], dtype=torch.int64, device=queries.device)
    inside = ((queries >= low) & (queries - low < limit)).all(dim=1)
    # queries outside the index's range were replaced by its lowest corner: all fit
    wanted = _pack(torch.where(inside.unsqueeze(1), queries, low), low, widths, checked=False)
    if not len(keys):
        return torch.zeros_like(wanted), torch.zeros_like(inside)
    position = torch.searchsorted(keys, wanted).clamp_(max=len(keys) - 1)
    return order[position], inside & (keys[position] == wanted)


def kernel_offsets(kernel_size, dimension):
    """(K**D, D) offsets in MinkowskiEngine's numbering: first axis varies fastest."""
    start = -(kernel_size // 2) if kernel_size % 2 else 0
    axis = range(start, start + kernel_size)
    grid = [tuple(reversed(p)) for p in itertools.product(axis, repeat=dimension)]
    return torch.tensor(grid, dtype=torch.int32).reshape(-1, dimension)


def make_tensor(coordinates, features, stride=1):
    return NativeTensor(features, coordinates.to(torch.int32), stride)


def with_features(native, features):
    return NativeTensor(features, native.C, native.tensor_stride, native.maps)


def features(native):
    return native.F


def coordinates(native):
    return native.C


def stride(native):
    return native.tensor_stride


class ConvOp:
    def __init__(self, kernel_size, stride, dimension, transpose, generative):
        self.kernel_size, self.stride, self.dimension = kernel_size, stride, dimension
        self.transpose, self.generative = transpose, generative
        self.offsets = kernel_offsets(kernel_size, dimension)


def make_conv(in_channels, out_channels, kernel_size, stride, dimension, transpose, generative):
    return ConvOp(kernel_size, stride, dimension, transpose or generative, generative)


class PoolOp(ConvOp):
    def __init__(self, mode, kernel_size, stride, dimension):
        super().__init__(kernel_size, stride, dimension, transpose=False, generative=False)
        self.mode = mode


def make_pool(mode, kernel_size, stride, dimension):
    return PoolOp(mode, kernel_size, stride, dimension)


def pool(op, native):
    """Max, average (over the inputs present) or sum of each output's kernel neighbourhood."""
    target = _output_tensor(op, native, None)
    pairs = _kernel_map(op, native, target)
    rows = torch.cat([r for r, _ in pairs])
    out_rows = torch.cat([o for _, o in pairs])
    shape = (len(target.C), native.F.shape[1])
    index = out_rows.unsqueeze(1).expand(-1, shape[1])
    if op.mode == "max":
        result = torch.full(shape, float("-inf"), dtype=native.F.dtype, device=native.F.device)
        result = result.scatter_reduce(0, index, native.F[rows], reduce="amax")
    else:
        result = torch.zeros(shape, dtype=native.F.dtype, device=native.F.device)
        result = result.index_add(0, out_rows, native.F[rows])
        if op.mode == "avg":
            count = torch.bincount(out_rows, minlength=shape[0]).clamp_(min=1)
            result = result / count.unsqueeze(1).to(result.dtype)
    return NativeTensor(result, target.C, target.tensor_stride, target.maps)


def _downsampled(native, stride):
    """Coordinates of a strided layer's output: floor(c / (s * stride)) * (s * stride)."""
    step = native.tensor_stride * stride
    coords = native.C.clone()
    coords[:, 1:] = torch.div(coords[:, 1:], step, rounding_mode="floor") * step
    return torch.unique(coords, dim=0)


def _output_tensor(op, native, out):
    if out is not None:
        return out
    if op.generative:
        step = native.tensor_stride // op.stride
        grown = native.C.unsqueeze(1).repeat(1, len(op.offsets), 1)
        grown[:, :, 1:] += op.offsets.to(grown.device).unsqueeze(0) * step
        coords = torch.unique(grown.reshape(-1, native.C.shape[1]), dim=0)
        return NativeTensor(None, coords, step)
    if op.transpose:
        raise ValueError("a transposed convolution needs the output coordinates (out=...)")
    if op.stride == 1:
        return native
    return NativeTensor(None, _downsampled(native, op.stride), native.tensor_stride * op.stride)


def _kernel_map(op, source, target):
    """Per kernel offset k, the (source rows, target rows) it connects, cached on target."""
    key = ("map", op.kernel_size, op.stride, op.transpose, id(source.maps), source.tensor_stride)
    if key in target.maps:
        return target.maps[key]
    pairs = []
    for offset in op.offsets.to(target.C.device):
        queries = target.C.clone()
        if op.transpose:  # target is the finer tensor: it sits at source + offset (its stride)
            queries[:, 1:] -= offset * target.tensor_stride
        else:
            queries[:, 1:] += offset * source.tensor_stride
        rows, found = lookup(source, queries)
        pairs.append((rows[found], torch.nonzero(found).reshape(-1)))
    target.maps[key] = pairs
    return pairs


def conv(op, native, weight, bias, out=None):
    target = _output_tensor(op, native, out)
    result = torch.zeros((len(target.C), weight.shape[2]), dtype=native.F.dtype, device=native.F.device)
    for (rows, out_rows), matrix in zip(_kernel_map(op, native, target), weight):
        if len(rows):
            result.index_add_(0, out_rows, native.F[rows] @ matrix)
    if bias is not None:
        result = result + bias
    return NativeTensor(result, target.C, target.tensor_stride, target.maps)


def prune(native, keep):
    return NativeTensor(native.F[keep], native.C[keep], native.tensor_stride)
