"""Probabilities -> integer frequency tables, in one deterministic function.

The encoder and the decoder both call these on the probabilities their (identical)
networks computed, so they agree bit for bit whenever the networks do. No symbol ever
gets a zero frequency.
"""

import torch

PRECISION = 16
TOTAL = 1 << PRECISION


def binary_frequencies(prob_one):
    """Float probabilities of a 1 -> int32 frequency of a 1, in [1, TOTAL - 1]."""
    prob_one = torch.as_tensor(prob_one, dtype=torch.float32)
    if prob_one.numel() and not bool(torch.isfinite(prob_one).all()):
        raise ValueError("probabilities contain NaN or infinity")
    if prob_one.numel() and (bool((prob_one < 0).any()) or bool((prob_one > 1).any())):
        raise ValueError("probabilities must lie in [0, 1]")
    freq = torch.round(prob_one * TOTAL).to(torch.int32)
    return freq.clamp_(1, TOTAL - 1)


def binary_cdf(freq_one):
    """int32 frequencies of a 1 -> (N, 3) int16 CDF rows [0, TOTAL - f1, TOTAL] as torchac wants.

    torchac reads the rows as uint16 and never looks at the last column (it uses TOTAL).
    """
    freq_one = torch.as_tensor(freq_one, dtype=torch.int32)
    cdf = torch.zeros((freq_one.numel(), 3), dtype=torch.int32)
    cdf[:, 1] = TOTAL - freq_one.reshape(-1)
    cdf[:, 2] = TOTAL - 1
    return _as_uint16_bits(cdf)


def _as_uint16_bits(values):
    """int32 values in [0, 65535] -> int16 tensor with the same 16 bits."""
    return (values - (values >= 32768).to(torch.int32) * 65536).to(torch.int16)


def ideal_bits(prob_one, symbols):
    """Ideal code length in bits (sum of -log2 p) of binary symbols under prob_one."""
    prob_one = torch.as_tensor(prob_one, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
    symbols = torch.as_tensor(symbols, dtype=torch.bool)
    return float(-torch.where(symbols, prob_one, 1 - prob_one).log2().sum())
