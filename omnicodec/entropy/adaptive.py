"""Adaptive binary coding: decisions under frequencies learned from the decisions before
them in the same context, which the decoder learns the same way (integers only).

A coder is anything with a ``writer`` (encoding) or a ``reader`` (decoding) of the binary
coders of :mod:`omnicodec.entropy.coder`. Decisions are coded in chunks of CHUNK that share
one state of the counts, so a chunk is one vectorized call.
"""

import numpy as np
import torch

from omnicodec.errors import BitstreamError

CHUNK = 2048  # decisions that share one adaptation of the frequencies
ADAPTATION_WINDOW = 4096  # counts are halved past this many
ESCAPE_BITS = 23  # exp-Golomb prefixes, at most (the sensor codecs' values stay under 2^22)


def frequencies(hits, seen):
    """The int32 frequencies (of 2^16) of a 1 after ``hits`` ones in ``seen`` decisions
    (Krichevsky-Trofimov), never 0 or 2^16."""
    return torch.from_numpy(np.clip(((2 * hits + 1) << 16) // (2 * seen + 2), 1, 65535).astype(np.int32))


def adaptive_bits(io, truth, context, hits, seen, halve_each_context=False):
    """Code (``truth``) or read binary decisions in chunks of CHUNK, each under the adaptive
    frequency of its context (``hits`` of ``seen`` so far: updated in place). Past
    ADAPTATION_WINDOW, ``halve_each_context`` halves the counts of that context alone; without it
    every context's counts are halved together (how the sensor codecs' streams adapt, kept
    for them: with many contexts it forgets the rare ones' counts)."""
    bits = np.zeros(len(context), dtype=bool)
    for start in range(0, len(context), CHUNK):
        part = slice(start, start + CHUNK)
        here = context[part]
        frequency = frequencies(hits[here], seen[here])
        if io.writer is not None:
            io.writer.write(frequency, torch.from_numpy(truth[part]))
            bits[part] = truth[part]
        else:
            bits[part] = np.asarray(io.reader.read(frequency), dtype=bool)
        np.add.at(hits, here, bits[part].astype(np.int64))
        np.add.at(seen, here, 1)
        if halve_each_context:
            over = seen > ADAPTATION_WINDOW
            hits[over] >>= 1
            seen[over] >>= 1
        elif seen.max() > ADAPTATION_WINDOW:
            hits[:], seen[:] = hits >> 1, seen >> 1
    return bits


def even_bits(io, truth, count):
    """Code (``truth``: bool array) or read ``count`` bits at even odds."""
    half = torch.full((count,), 1 << 15, dtype=torch.int32)
    if io.writer is not None:
        io.writer.write(half, torch.from_numpy(truth))
        return truth
    return np.asarray(io.reader.read(half), dtype=bool)


def exp_golomb(io, truth, count):
    """Code (``truth``) or read ``count`` integers >= 0 as exp-Golomb codes at even odds
    (rare values: escapes)."""
    if truth is not None:
        length = np.frexp(truth + 1)[1].astype(np.int64) - 1  # the bits after the leading one
    prefix, active = np.zeros(count, dtype=np.int64), np.arange(count)
    while len(active):
        more = even_bits(io, None if truth is None else length[active] > prefix[active], len(active))
        active = active[more]
        prefix[active] += 1
        if len(active) and prefix.max() > ESCAPE_BITS:
            raise BitstreamError("escape code is longer than any encoder writes: corrupted stream")
    value = np.ones(count, dtype=np.int64)
    for position in range(int(prefix.max()) if count else 0):
        rows = np.flatnonzero(prefix > position)
        bit = even_bits(io, None if truth is None else ((truth[rows] + 1) >> (prefix[rows] - 1 - position)) & 1 == 1,
                        len(rows))
        value[rows] = 2 * value[rows] + bit
    return value - 1
