"""Entropy coding: deterministic integer frequency tables and the arithmetic coder."""

from omnicodec.entropy.cdf import binary_frequencies, ideal_bits
from omnicodec.entropy.coder import CODERS, DEFAULT_CODER, check_coder, decode_binary, encode_binary

__all__ = ["CODERS", "DEFAULT_CODER", "check_coder", "binary_frequencies", "decode_binary", "encode_binary", "ideal_bits"]
