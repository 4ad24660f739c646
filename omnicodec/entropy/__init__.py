"""Entropy coding: deterministic integer frequency tables and the arithmetic coders."""

from omnicodec.entropy.cdf import binary_frequencies, ideal_bits
from omnicodec.entropy.coder import (
    CODERS, DEFAULT_CODER, binary_reader, binary_writer, check_coder,
)

__all__ = ["CODERS", "DEFAULT_CODER", "binary_reader", "binary_writer", "binary_frequencies",
           "check_coder", "ideal_bits"]
