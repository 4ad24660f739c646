"""Arithmetic coding of binary symbols with integer frequencies.

A codec writes all the symbols of one payload through a :func:`binary_writer`, in the
order its decoder will need them, in batches (one per coding stage); a
:func:`binary_reader` gives them back batch by batch, so each batch's frequencies may
depend on the batches decoded before it.

Coders are named; a bitstream records the name of the one that wrote it, and decoding
uses that same coder:
- ``rans``: our chunked rANS coder (cuda_ext/), the default when the extension is built.
  The whole payload is one stream, decoded piece by piece, so it costs one small header.
- ``torchac``: a C++ range coder compiled at first import, always there, so the codec works
  without our extension. It decodes whole streams only: one stream per batch, each
  preceded by its length.
"""

import functools

import torch

from omnicodec import varint
from omnicodec.entropy import rans
from omnicodec.entropy.cdf import binary_cdf
from omnicodec.errors import BitstreamError, OmnicodecError
from omnicodec.quiet import native_output_silenced

# The chunks of a payload's single stream: large, since a codec decodes its batches one
# after another and extra chunks would only add bytes (16 per chunk).
RANS_CHUNK_SIZE = 1 << 24


@functools.lru_cache(maxsize=None)
def _torchac():
    """Import torchac, which compiles its C++ at first import; its build chatter
    (printed by ninja straight to file descriptor 1) is kept out of our output."""
    try:
        with native_output_silenced(1):
            import torchac
    except Exception as exc:  # compile failures surface here
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OmnicodecError(f"the torchac entropy coder cannot be built here: {reason}") from exc
    return torchac


def _checked(freq_one, symbols):
    freq_one = torch.as_tensor(freq_one).reshape(-1)
    symbols = torch.as_tensor(symbols).reshape(-1)
    if symbols.numel() != freq_one.numel():
        raise ValueError("one frequency per symbol is needed")
    if symbols.dtype != torch.bool and symbols.numel() and bool(((symbols < 0) | (symbols > 1)).any()):
        raise ValueError("binary symbols must be 0 or 1")
    return freq_one, symbols.to(torch.bool)


class _RansWriter:
    """All batches -> one rANS stream, in batch order."""

    def __init__(self):
        self.batches = [(torch.zeros(0, dtype=torch.int32), torch.zeros(0, dtype=torch.bool))]

    def write(self, freq_one, symbols):
        self.batches.append(_checked(freq_one, symbols))

    def finish(self):
        freq = torch.cat([f.to(torch.int32) for f, _ in self.batches])
        bits = torch.cat([b for _, b in self.batches])
        return rans.encode_binary(freq, bits, chunk_size=RANS_CHUNK_SIZE)


class _RansReader:
    """Decodes the single stream piece by piece."""

    def __init__(self, data):
        self.decoder = rans.BinaryDecoder(bytes(data))

    def read(self, freq_one):
        return self.decoder.decode(torch.as_tensor(freq_one).reshape(-1))

    def finish(self):
        self.decoder.finish()


class _TorchacWriter:
    """One torchac stream per batch, behind a varint table of their lengths."""

    def __init__(self):
        self.streams = []

    def write(self, freq_one, symbols):
        freq_one, symbols = _checked(freq_one, symbols)
        self.streams.append(_torchac().encode_int16_normalized_cdf(
            binary_cdf(freq_one), symbols.to(torch.int16)) if len(freq_one) else b"")

    def finish(self):
        return varint.encode([len(self.streams), *map(len, self.streams)]) + b"".join(self.streams)


class _TorchacReader:
    def __init__(self, data):
        (count,), pos = varint.decode(data, 1)
        if count > len(data):
            raise BitstreamError("entropy-coded payload is corrupted")
        lengths, pos = varint.decode(data, count, pos)
        if pos + sum(lengths) != len(data):
            raise BitstreamError("entropy-coded payload is truncated or corrupted")
        self.streams = []
        for length in lengths:
            self.streams.append(bytes(data[pos:pos + length]))
            pos += length
        self.streams.reverse()  # popped from the end, in writing order

    def read(self, freq_one):
        freq_one = torch.as_tensor(freq_one).reshape(-1)
        if not self.streams:
            raise BitstreamError("entropy-coded payload holds fewer batches than the decoder reads")
        stream = self.streams.pop()
        if freq_one.numel() == 0:
            return torch.zeros(0, dtype=torch.bool)
        if not stream:
            raise BitstreamError("an entropy-coded batch is empty")
        return _torchac().decode_int16_normalized_cdf(binary_cdf(freq_one), stream).to(torch.bool)

    def finish(self):
        if self.streams:
            raise BitstreamError("entropy-coded payload holds more batches than the decoder read")


_IMPLEMENTATIONS = {"rans": (_RansWriter, _RansReader), "torchac": (_TorchacWriter, _TorchacReader)}


def binary_writer(coder):
    """Collects batches of binary symbols with their frequencies of a one: ``write(freq,
    symbols)`` per batch, then ``finish()`` -> the payload bytes."""
    check_coder(coder)
    return _IMPLEMENTATIONS[coder][0]()


def binary_reader(coder, data):
    """Gives back a :func:`binary_writer` payload's symbols: ``read(freq)`` per batch (a bool
    tensor), then ``finish()`` checks that every symbol was read."""
    check_coder(coder)
    return _IMPLEMENTATIONS[coder][1](data)


def available_coders():
    """The coders this installation can run, preferred first: ``rans`` where
    omnicodec._coder is built, and ``torchac``, compiled at its first use."""
    return ("rans", "torchac") if rans.available() else ("torchac",)


def default_coder():
    return available_coders()[0]


def check_coder(name, error=BitstreamError):
    """Refuse, with a clear message, a coder this installation does not have: a
    BitstreamError for a stream that needs it, or the ``error`` the caller names."""
    if name not in available_coders():
        needs = "bitstream needs entropy coder" if error is BitstreamError else "entropy coder"
        raise error(f"{needs} {name!r} is not available here "
                    f"(available: {', '.join(available_coders())})")
