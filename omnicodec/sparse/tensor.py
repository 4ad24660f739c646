"""The sparse tensor facade models use: integer coordinates, features and a tensor stride."""

import os

import torch

from omnicodec.sparse.engines import minkowski as _engine

ENGINE = _engine
ENGINE_OVERRIDE = os.environ.get("OMNICODEC_ENGINE", "").strip().lower()
if ENGINE_OVERRIDE not in ("", ENGINE.NAME):
    raise ImportError(f"OMNICODEC_ENGINE={ENGINE_OVERRIDE!r} is not available; engines: {ENGINE.NAME}")


class SparseTensor:
    """Features on a set of integer coordinates (row ``i`` of ``features`` sits at ``coordinates[i]``)."""

    __slots__ = ("native",)

    def __init__(self, native):
        self.native = native

    @property
    def features(self):
        return ENGINE.features(self.native)

    @property
    def coordinates(self):
        """(N, 1 + D) int tensor, batch index first."""
        return ENGINE.coordinates(self.native)

    @property
    def stride(self):
        return ENGINE.stride(self.native)

    def __len__(self):
        return self.features.shape[0]

    def replace(self, features):
        """Same coordinates (and cached neighbourhoods), new features."""
        return SparseTensor(ENGINE.with_features(self.native, features))


def sparse_tensor(coordinates, features, batch=None, stride=1):
    """Build a tensor from (N, D) integer coordinates, (N, C) features and optional batch ids."""
    coordinates = torch.as_tensor(coordinates, dtype=torch.int32)
    if batch is None:
        batch = torch.zeros(len(coordinates), dtype=torch.int32)
    full = torch.cat([torch.as_tensor(batch, dtype=torch.int32).reshape(-1, 1), coordinates], dim=1)
    return SparseTensor(ENGINE.make_tensor(full.contiguous(), features, stride))
