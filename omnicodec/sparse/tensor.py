"""The sparse tensor facade models use: integer coordinates, features and a tensor stride.

Engines: ``minkowski`` (MinkowskiEngine, where it imports) and ``torch`` (plain PyTorch,
always there). The default, chosen when a tensor is first made (never at import), is MinkowskiEngine
where it imports; OMNICODEC_ENGINE=torch (or =minkowski) overrides it, :func:`set_engine`
switches from then on and :func:`use_engine` within a block of code.
"""

import contextlib
import importlib
import os

import torch

from omnicodec.errors import InputError

_ENGINE_MODULES = {"minkowski": "omnicodec.sparse.engines.minkowski",
                   "torch": "omnicodec.sparse.engines.torch_native"}
_loaded = {}


def load_engine(name):
    """The engine module of that name; ImportError with the reason when it cannot load."""
    if name not in _ENGINE_MODULES:
        raise ImportError(f"unknown sparse engine {name!r}; engines: {', '.join(_ENGINE_MODULES)}")
    if name not in _loaded:
        _loaded[name] = importlib.import_module(_ENGINE_MODULES[name])
    return _loaded[name]


def available_engines():
    names = []
    for name in _ENGINE_MODULES:
        try:
            load_engine(name)
            names.append(name)
        except ImportError:
            pass
    return names


def _default_engine():
    override = os.environ.get("OMNICODEC_ENGINE", "").strip().lower()
    if override:
        try:
            return load_engine(override)
        except ImportError as exc:
            raise InputError(f"OMNICODEC_ENGINE={override}: {exc}") from None
    try:
        return load_engine("minkowski")
    except ImportError:
        return load_engine("torch")


_current = [None]  # the engine in use, once chosen


def engine():
    """The engine in use (the default is chosen at the first call)."""
    if _current[0] is None:
        _current[0] = _default_engine()
    return _current[0]


def set_engine(name):
    """Use the named engine from now on (the CLI's --engine)."""
    _current[0] = load_engine(name)


@contextlib.contextmanager
def use_engine(name):
    """Run the enclosed code with the named engine."""
    previous = engine()
    _current[0] = load_engine(name)
    try:
        yield _current[0]
    finally:
        _current[0] = previous


class SparseTensor:
    """Features on a set of integer coordinates (row ``i`` of ``features`` sits at ``coordinates[i]``)."""

    __slots__ = ("native", "engine")

    def __init__(self, native, engine_module):
        self.native = native
        self.engine = engine_module

    @property
    def features(self):
        return self.engine.features(self.native)

    @property
    def coordinates(self):
        """(N, 1 + D) int tensor, batch index first."""
        return self.engine.coordinates(self.native)

    @property
    def stride(self):
        return self.engine.stride(self.native)

    def __len__(self):
        return self.features.shape[0]

    def replace(self, features):
        """Same coordinates (and cached neighbourhoods), new features."""
        return SparseTensor(self.engine.with_features(self.native, features), self.engine)


def sparse_tensor(coordinates, features, batch=None, stride=1):
    """Build a tensor from (N, D) integer coordinates, (N, C) features and optional batch ids."""
    coordinates = torch.as_tensor(coordinates, dtype=torch.int32)
    if batch is None:
        batch = torch.zeros(len(coordinates), dtype=torch.int32, device=coordinates.device)
    full = torch.cat([torch.as_tensor(batch, dtype=torch.int32).reshape(-1, 1), coordinates], dim=1)
    current = engine()
    return SparseTensor(current.make_tensor(full.contiguous(), features, stride), current)
