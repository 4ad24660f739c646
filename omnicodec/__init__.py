"""omnicodec: learned sparse-convolution compression of point-cloud geometry.

    import omnicodec
    data = omnicodec.compress(points)          # (N, 3) array -> bytes, lossless
    data = omnicodec.compress(points, rate=3)  # lossy, rate 1 (fewest bits) .. 6
    points = omnicodec.decompress(data)        # bytes -> (M, 3) array
"""

__version__ = "0.1.0"

from omnicodec.api import (  # noqa: E402
    Report, compress, compress_file, decompress, decompress_file, info, rate_model,
)
from omnicodec.errors import BitstreamError, InputError, ModelError, OmnicodecError  # noqa: E402

__all__ = [
    "BitstreamError", "InputError", "ModelError", "OmnicodecError", "Report", "compress",
    "compress_file", "decompress", "decompress_file", "info", "rate_model",
]
