"""Arithmetic coding of binary symbols with integer frequencies.

Coders are named; a bitstream records the name of the one that wrote it, and decoding
uses that same coder. ``torchac`` is a C++ range coder compiled at first import.
"""

import functools
import os
import sys

import torch

from omnicodec.entropy.cdf import binary_cdf
from omnicodec.errors import BitstreamError

DEFAULT_CODER = "torchac"


@functools.lru_cache(maxsize=None)
def _torchac():
    """Import torchac, which compiles its C++ at first import; its build chatter
    (printed by ninja straight to file descriptor 1) is kept out of our output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            import torchac
    except Exception as exc:  # compile failures surface here
        raise RuntimeError(f"the torchac entropy coder could not be loaded: {exc}") from exc
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return torchac


def _torchac_encode(freq_one, symbols):
    return _torchac().encode_int16_normalized_cdf(binary_cdf(freq_one), symbols)


def _torchac_decode(freq_one, data):
    return _torchac().decode_int16_normalized_cdf(binary_cdf(freq_one), data)


CODERS = {"torchac": (_torchac_encode, _torchac_decode)}


def check_coder(name):
    """Refuse, with a clear message, a coder this installation does not have."""
    if name not in CODERS:
        raise BitstreamError(f"bitstream needs entropy coder {name!r}, not available here "
                             f"(available: {', '.join(CODERS)})")


def encode_binary(freq_one, symbols, coder=DEFAULT_CODER):
    """Code binary symbols (bool/int tensor) given the int frequency of a 1 for each -> bytes."""
    freq_one = torch.as_tensor(freq_one).reshape(-1)
    symbols = torch.as_tensor(symbols).reshape(-1).to(torch.int16)
    if symbols.numel() != freq_one.numel():
        raise ValueError("one frequency per symbol is needed")
    if symbols.numel() == 0:
        return b""
    if bool(((symbols < 0) | (symbols > 1)).any()):
        raise ValueError("binary symbols must be 0 or 1")
    return CODERS[coder][0](freq_one, symbols)


def decode_binary(freq_one, data, coder=DEFAULT_CODER):
    """Inverse of :func:`encode_binary`: bool tensor of len(freq_one) symbols."""
    freq_one = torch.as_tensor(freq_one).reshape(-1)
    if freq_one.numel() == 0:
        return torch.zeros(0, dtype=torch.bool)
    if not data:
        raise BitstreamError("an entropy-coded section is empty")
    return CODERS[coder][1](freq_one, bytes(data)).to(torch.bool)
