"""The one door to sparse convolution. Models import this package, never an engine."""

from omnicodec.sparse.layers import Conv, pointwise, prune, relu
from omnicodec.sparse.tensor import ENGINE, SparseTensor, sparse_tensor

__all__ = ["ENGINE", "Conv", "SparseTensor", "pointwise", "prune", "relu", "sparse_tensor"]
