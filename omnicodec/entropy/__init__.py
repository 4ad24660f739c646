"""Entropy coding: deterministic integer frequency tables and the arithmetic coders."""

from omnicodec.entropy.cdf import binary_frequencies, ideal_bits
from omnicodec.entropy.coder import (
    available_coders, binary_reader, binary_writer, check_coder, default_coder,
)

__all__ = ["available_coders", "binary_reader", "binary_writer", "binary_frequencies",
           "check_coder", "default_coder", "ideal_bits"]
