"""Sparse layers. Parameters live here (engine-independent names and shapes); the engine
only runs the operator, so the same weights serve any engine."""

import math

import torch
from torch import nn

from omnicodec.sparse.tensor import SparseTensor


def _engine_op(layer, engine, make):
    """The layer's operator for this engine, made on first use (engines can be switched)."""
    if engine.NAME not in layer._ops:
        layer._ops[engine.NAME] = make(*layer.spec)
    return layer._ops[engine.NAME]


class Conv(nn.Module):
    """Sparse convolution; ``transpose``/``generative`` give the (generative) transposed kind.

    ``weight`` has shape (kernel_volume, in_channels, out_channels).
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, bias=True, dimension=3,
                 transpose=False, generative=False):
        super().__init__()
        volume = kernel_size**dimension
        self.weight = nn.Parameter(torch.empty(volume, in_channels, out_channels))
        bound = 1.0 / math.sqrt(in_channels * volume)
        nn.init.uniform_(self.weight, -bound * math.sqrt(3), bound * math.sqrt(3))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.spec = (in_channels, out_channels, kernel_size, stride, dimension, transpose, generative)
        # Engine operators hold no parameters: keep them out of the module tree and state_dict.
        self.__dict__["_ops"] = {}

    def forward(self, x, out=None):
        """``out``: a tensor whose coordinates the output must have (e.g. the input of a
        strided layer, for its transposed partner). Runs on the engine ``x`` was made with."""
        op = _engine_op(self, x.engine, x.engine.make_conv)
        native_out = out.native if out is not None else None
        return SparseTensor(x.engine.conv(op, x.native, self.weight, self.bias, native_out), x.engine)


class Pool(nn.Module):
    """Max, average or sum pooling over each output's kernel neighbourhood (no parameters)."""

    def __init__(self, mode, kernel_size=2, stride=2, dimension=3):
        super().__init__()
        if mode not in ("max", "avg", "sum"):
            raise ValueError(f"pooling mode must be max, avg or sum, not {mode!r}")
        self.spec = (mode, kernel_size, stride, dimension)
        self.__dict__["_ops"] = {}

    def forward(self, x):
        op = _engine_op(self, x.engine, x.engine.make_pool)
        return SparseTensor(x.engine.pool(op, x.native), x.engine)


def relu(x):
    return x.replace(torch.relu(x.features))


def pointwise(linear, x):
    """Apply a dense module (e.g. nn.Linear) to every feature row."""
    return x.replace(linear(x.features))


def prune(x, keep):
    """Keep the rows where the bool mask ``keep`` is True."""
    return SparseTensor(x.engine.prune(x.native, keep), x.engine)
