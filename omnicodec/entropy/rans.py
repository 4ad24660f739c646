"""Our chunked rANS entropy coder (the ``omnicodec._coder`` extension built from cuda_ext/).

Binary symbols each with its own frequency of a one (as ``cdf.binary_frequencies`` makes
them), or small-alphabet symbols each with its own integer CDF row. Streams are split into
chunks coded independently, in parallel on the CPU's threads or one GPU thread each;
CUDA tensors are coded on their GPU when the extension was built with CUDA, and a stream
made on either device decodes on the other. ``cuda_ext/rans.h`` documents the format.

Bad arguments raise ValueError, streams that do not decode raise BitstreamError.
"""

import torch

from omnicodec.errors import BitstreamError

_IMPORT_ERROR = None
try:
    from omnicodec import _coder
except ImportError as exc:  # not built (or built against another torch)
    _coder = None
    _IMPORT_ERROR = str(exc)


def available():
    """True when the compiled extension can be used."""
    return _coder is not None


def _extension():
    if _coder is None:
        raise RuntimeError(f"omnicodec._coder is not built ({_IMPORT_ERROR}); "
                           "build it with: pip install --no-build-isolation -e .")
    return _coder


def _stream(data):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"an entropy-coded stream must be bytes, not {type(data).__name__}")
    return bytes(data)


def _encode(encoder, table, symbols, chunk_size):
    size = _extension().DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size
    return encoder(torch.as_tensor(table), torch.as_tensor(symbols), size)


def _guarded(function, *args):
    """Call into the extension, turning its StreamError into our BitstreamError."""
    try:
        return function(*args)
    except _extension().StreamError as exc:
        raise BitstreamError(str(exc)) from exc


def _decode(decoder, table, data):
    return _guarded(decoder, torch.as_tensor(table), _stream(data))


def binary_frequencies(prob_one):
    """Probabilities of a one -> int32 frequencies, the same integers as
    ``cdf.binary_frequencies`` on any device."""
    return _extension().binary_frequencies(torch.as_tensor(prob_one, dtype=torch.float32))


def cdf_from_pmf(pmf):
    """(..., K) pmfs -> (..., K + 1) int32 CDF rows from 0 to 65536 in which every symbol
    has a frequency of at least 1; deterministic on any device."""
    return _extension().cdf_from_pmf(torch.as_tensor(pmf, dtype=torch.float32))


def encode_binary(freq_one, symbols, chunk_size=None):
    """Binary symbols (bool or 0/1 integers) with the frequency of a one of each -> bytes.

    ``chunk_size`` symbols go into each independently coded chunk; None takes the
    extension's DEFAULT_CHUNK_SIZE (2^16), whose 12 bytes of state and table entry per
    chunk cost under 0.4% down to 0.4 bits per symbol.
    """
    return _encode(_extension().encode_binary, freq_one, symbols, chunk_size)


def decode_binary(freq_one, data):
    """Inverse of :func:`encode_binary`: a bool tensor with one symbol per frequency."""
    return _decode(_extension().decode_binary, freq_one, data)


def encode_cdf(cdf, symbols, chunk_size=None):
    """Symbols in [0, K) with one (K + 1)-entry CDF row each (as :func:`cdf_from_pmf`
    makes them) -> bytes; ``chunk_size`` as for :func:`encode_binary`."""
    return _encode(_extension().encode_cdf, cdf, symbols, chunk_size)


def decode_cdf(cdf, data):
    """Inverse of :func:`encode_cdf`: an int32 tensor with one symbol per CDF row."""
    return _decode(_extension().decode_cdf, cdf, data)


class BinaryDecoder:
    """Decodes the symbols of one :func:`encode_binary` stream in successive calls, for
    coders whose later frequencies depend on the symbols decoded before them."""

    def __init__(self, data):
        self._decoder = _guarded(_extension().BinaryDecoder, _stream(data))

    def decode(self, freq_one):
        """The next ``len(freq_one)`` symbols, as a bool tensor."""
        return _guarded(self._decoder.decode, torch.as_tensor(freq_one))

    def finish(self):
        """Check that the stream held exactly the symbols decoded, and nothing else."""
        _guarded(self._decoder.finish)
