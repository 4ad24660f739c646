"""The one door to sparse convolution. Models import this package, never an engine."""

from omnicodec.sparse.layers import Conv, Pool, pointwise, prune, relu
from omnicodec.sparse.tensor import (
    SparseTensor, available_engines, engine, load_engine, set_engine, sparse_tensor, use_engine,
)

__all__ = ["Conv", "Pool", "SparseTensor", "available_engines", "engine", "load_engine", "pointwise",
           "prune", "relu", "set_engine", "sparse_tensor", "use_engine"]
