"""Entropy coding: deterministic integer frequency tables and the arithmetic coder."""

from omnicodec.entropy.cdf import binary_frequencies, ideal_bits
from omnicodec.entropy.coder import BACKEND, decode_binary, encode_binary

__all__ = ["BACKEND", "binary_frequencies", "decode_binary", "encode_binary", "ideal_bits"]
