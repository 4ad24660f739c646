"""omnicodec: learned sparse-convolution compression of point-cloud geometry.

    import omnicodec
    data = omnicodec.compress(points)          # (N, 3) array -> bytes, lossless
    data = omnicodec.compress(points, rate=3)  # lossy, rate 1 (fewest bits) .. 13
    points = omnicodec.decompress(data)        # bytes -> (M, 3) array
"""

__version__ = "0.1.0"

import os  # noqa: E402

# Intel MKL (torch's CPU BLAS) may round differently for the same inputs depending on
# memory alignment; an encoder and a decoder that round differently disagree on a
# probability and the stream does not decode. STRICT makes MKL's results reproducible.
# It must be set before MKL starts, hence here, before torch is imported by anything of ours.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

from omnicodec.api import (  # noqa: E402
    Report, compress, compress_file, decompress, decompress_file, info, rate_model,
)
from omnicodec.errors import BitstreamError, InputError, ModelError, OmnicodecError  # noqa: E402

__all__ = [
    "BitstreamError", "InputError", "ModelError", "OmnicodecError", "Report", "compress",
    "compress_file", "decompress", "decompress_file", "info", "rate_model",
]
