"""omnicodec: learned sparse-convolution compression of point clouds and 4D light fields.

    import omnicodec
    data = omnicodec.compress(points)          # (N, 3) array or PointCloud -> bytes, lossless
    data = omnicodec.compress(points, rate=3)  # lossy, rate 1 (fewest bits) .. 13
    cloud = omnicodec.decompress(data)         # bytes -> PointCloud (cloud.positions)

Importing omnicodec imports neither torch nor a sparse engine: they load when a codec
first runs (see omnicodec.runtime for what is set then).
"""

import importlib

__version__ = "0.2.0.dev0"

_API = ("Report", "compress", "compress_file", "decompress", "decompress_file", "describe", "info")
_ERRORS = ("BitstreamError", "InputError", "ModelError", "OmnicodecError")
_DATA = ("LightField", "PointCloud")
__all__ = [*_API, *_ERRORS, *_DATA]


def __getattr__(name):
    """The public names, imported on first use."""
    for module, names in (("omnicodec.api", _API), ("omnicodec.errors", _ERRORS),
                          ("omnicodec.data", _DATA)):
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'omnicodec' has no attribute {name!r}")
