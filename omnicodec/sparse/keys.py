"""One int64 key per row of integer coordinates, for sorting and lookups: every column in
a fixed number of bits, the first column most significant, so keys sort as the rows do
lexicographically. Values that do not fit are an error, never a silent collision."""

import numpy as np
import torch

KEY_BITS = 63  # int64 keys stay non-negative


def pack_keys(columns, widths, checked=True):
    """(N, K) integers (numpy or torch), column k in [0, 2**widths[k]) -> (N,) int64 keys
    of the same library. Raises ValueError if the widths exceed 63 bits or a value does
    not fit its width; ``checked=False`` skips the values' check, for callers that have
    just clamped them into range (a hot path)."""
    as_numpy = isinstance(columns, np.ndarray)
    values = torch.from_numpy(columns) if as_numpy else torch.as_tensor(columns)
    values = values.to(torch.int64).reshape(len(values), -1)
    widths = [int(w) for w in widths]
    if len(widths) != values.shape[1]:
        raise ValueError(f"{values.shape[1]} key columns need as many widths, not {len(widths)}")
    if sum(widths) > KEY_BITS or min(widths, default=1) < 0:
        raise ValueError(f"key columns of {widths} bits do not fit a {KEY_BITS}-bit key")
    keys = torch.zeros(len(values), dtype=torch.int64, device=values.device)
    for column, width in enumerate(widths):
        part = values[:, column]
        if checked and len(part) and (int(part.min()) < 0 or int(part.max()) >= 1 << width):
            raise ValueError(f"key column {column} holds values outside [0, 2^{width})")
        keys = (keys << width) | part
    return keys.numpy() if as_numpy else keys
