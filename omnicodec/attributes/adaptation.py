"""The encoder's adaptation of the colour network to the cloud it codes.

The shipped network was trained on other content; before coding a cloud losslessly the
encoder fine-tunes the trunk's last layer and the three output heads (about 11,000
weights) on a sample of the cloud's own points, whose contexts it knows exactly, keeping
the weights that code a held-out part of the sample best, and sends the change: per
tensor a float32 step and int8 multiples of it, zlib-compressed. The decoder adds the same
integers times the same steps to the same shipped weights, so both run one network. It is
sent only where the bits it saves (estimated on the held-out points) exceed its own size.
"""

import copy
import struct
import zlib

import numpy as np
import torch

from omnicodec.attributes.colour_coding import head_predictions, lossless_bits
from omnicodec.attributes.colour_model import context_features
from omnicodec.attributes.levels import child_ranks, contexts_of

SAMPLE = 1 << 18  # points the adaptation sees
STEPS = 600
HELD_OUT = 5  # every 5th sampled point is held out
CHECK_EVERY = 50
BATCH = 8192
LEARNING_RATE = 3e-3
SEED = 0
_STEP = struct.Struct("<f")


def head_parameters(net):
    """The adapted weights, in the order the stream holds them: the trunk's last layer and
    the three heads."""
    return [*net.trunk.parameters(), *(parameter for head in net.heads for parameter in head.parameters())]


def fit(net, coords, levels, bits, ycocg, depth):
    """The adaptation block for this cloud (b"" when it would not pay for itself)."""
    rows = np.unique(np.linspace(0, len(coords) - 1, min(len(coords), SAMPLE)).round().astype(np.int64))
    neighbours = contexts_of(coords, levels, bits, rows).astype(np.int64)
    values = torch.from_numpy(np.asarray(ycocg, dtype=np.int64)).to(torch.float32)
    depth_scale = float(1 << (depth - 8)) if depth > 8 else 1.0
    with torch.no_grad():
        features, reference = context_features(values / depth_scale, (1, 1, 1), torch.from_numpy(neighbours))
        stages = torch.from_numpy(child_ranks(coords, levels)[rows])
        gathered = net.gathered(features, torch.from_numpy(levels[rows]), stages)
    targets = values[rows]
    held = torch.arange(len(rows)) % HELD_OUT == 0  # never trained on: picks the steps and the verdict
    train_rows, held_rows = torch.nonzero(~held).reshape(-1), torch.nonzero(held).reshape(-1)

    def sample_bits(model, chosen):
        return lossless_bits(head_predictions(model, model.trunk(gathered[chosen]), reference[chosen],
                                              depth_scale), targets[chosen], depth)

    tuned = copy.deepcopy(net)
    parameters = head_parameters(tuned)
    for parameter in tuned.parameters():
        parameter.requires_grad_(False)
    for parameter in parameters:
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(parameters, lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        best_bits, best = float(sample_bits(net, held_rows)), None
    for step in range(1, STEPS + 1):
        batch = train_rows[torch.randint(len(train_rows), (min(BATCH, len(train_rows)),), generator=generator)]
        loss = sample_bits(tuned, batch) / len(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % CHECK_EVERY == 0:
            with torch.no_grad():
                held_bits = float(sample_bits(tuned, held_rows))
            if held_bits < best_bits:
                best_bits, best = held_bits, [t.detach() - s.detach()
                                              for t, s in zip(parameters, head_parameters(net))]
    if best is None:
        return b""
    block = _packed(best)
    with torch.no_grad():
        saved = float(sample_bits(net, held_rows) - sample_bits(apply(net, block), held_rows))
    return block if saved * len(coords) / max(len(held_rows), 1) > 8 * (len(block) + 4) else b""


def _packed(deltas):
    parts = []
    for delta in deltas:
        step = float(delta.abs().max()) / 127 or 1.0
        step = struct.unpack("<f", _STEP.pack(step))[0]  # what the decoder will read
        parts.append(_STEP.pack(step) + torch.round(delta / step).clamp(-127, 127).to(torch.int8).numpy().tobytes())
    return zlib.compress(b"".join(parts), 9)


def apply(net, block):
    """A copy of ``net`` with the adaptation ``block`` added to its heads (``net`` itself when
    the block is empty). ValueError when the block does not fit the network."""
    if not block:
        return net
    try:
        raw = zlib.decompress(block)
    except zlib.error:
        raise ValueError("colour adaptation block is corrupted") from None
    adapted = copy.deepcopy(net)
    position = 0
    with torch.no_grad():
        for parameter in head_parameters(adapted):
            size = parameter.numel()
            if position + _STEP.size + size > len(raw):
                raise ValueError("colour adaptation block is truncated")
            (step,) = _STEP.unpack_from(raw, position)
            if not np.isfinite(step):
                raise ValueError("colour adaptation block is corrupted")
            integers = np.frombuffer(raw, dtype=np.int8, count=size, offset=position + _STEP.size)
            parameter += torch.from_numpy(integers.astype(np.float32)).reshape(parameter.shape) * step
            position += _STEP.size + size
    if position != len(raw):
        raise ValueError("colour adaptation block does not fit the network")
    return adapted
