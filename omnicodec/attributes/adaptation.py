"""The encoder's adaptation of the colour network to the cloud it codes.

The shipped network was trained on other content; before coding a cloud losslessly the
encoder fine-tunes the trunk's last layer and the three output heads (about 11,000
weights) on a sample of the cloud's own points, whose contexts it knows exactly, keeping
the weights that code a held-out part of the sample best, and sends the change: per
tensor a step and int8 multiples of it, zlib-compressed (clouds of fewer than MIN_POINTS
points are not adapted: the block could not pay there). The decoder adds the same
integers times the same steps to the same shipped weights, so both run one network. It is
sent only where the bits it saves (estimated on the held-out points) exceed its own size.

A float network (colour-v1) gets float32 steps. An integer network (colour-v2) is tuned
through its float equivalent (``dequantized``), and its change is sent in its own fixed
point: per tensor a uint32 step in units of the tensor's last bit, which the decoder adds
in integers.
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
_INTEGER_STEP = struct.Struct("<I")
_MAX_INTEGER_STEP = 1 << 20  # keeps every adapted weight's products within int64
# Smaller clouds are not adapted: the block (about 7 kB for the ~11,000 weights) would have
# to save over 1.7 bits a point, and the training steps cost seconds whatever the size.
# Measured on pieces of the 8i soldier: 20,000 points, no block paid; 60,000 points, a
# 6.8 kB block paid (so it saved more than 0.9 bits a point).
MIN_POINTS = 1 << 15


def head_parameters(net):
    """The adapted weights, in the order the stream holds them: the trunk's last layer and
    the three heads."""
    return [*net.trunk.parameters(), *(parameter for head in net.heads for parameter in head.parameters())]


def tried(count, min_points=MIN_POINTS):
    """Whether a cloud of ``count`` points is worth adapting to."""
    return count >= min_points


def fit(shipped, coords, levels, bits, ycocg, depth, min_points=MIN_POINTS, steps=STEPS, batch=BATCH,
        contexts=None):
    """The adaptation block for this cloud (b"" when it would not pay for itself, or the
    cloud has fewer than ``min_points`` points): ``steps`` Adam steps of ``batch`` sampled
    points each (a model card's ``adaptation`` setting may choose them). ``contexts``: every
    point's neighbours (:func:`~omnicodec.attributes.levels.contexts_of`) if the caller has
    them."""
    if not tried(len(coords), min_points):
        return b""
    net = _float_network(shipped)
    rows = np.unique(np.linspace(0, len(coords) - 1, min(len(coords), SAMPLE)).round().astype(np.int64))
    neighbours = (contexts_of(coords, levels, bits, rows) if contexts is None else contexts[rows]).astype(np.int64)
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
    for step in range(1, steps + 1):
        chosen = train_rows[torch.randint(len(train_rows), (min(batch, len(train_rows)),), generator=generator)]
        loss = sample_bits(tuned, chosen) / len(chosen)
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
    block = _packed(best, shipped)
    with torch.no_grad():
        saved = float(sample_bits(net, held_rows) - sample_bits(_float_network(apply(shipped, block)), held_rows))
    return block if saved * len(coords) / max(len(held_rows), 1) > 8 * (len(block) + 4) else b""


def _float_network(net):
    return net.dequantized() if net.integer else net


def _packed(deltas, shipped):
    """Per tensor its step and int8 multiples: float32 steps of float weights, or uint32
    steps in the last bit of an integer network's weights."""
    parts = []
    if shipped.integer:
        for delta, (_, bits) in zip(deltas, shipped.adapted_buffers()):
            delta = torch.round(delta.double() * (1 << bits))
            step = min(max(int(-(-int(delta.abs().max()) // 127)), 1), _MAX_INTEGER_STEP)
            parts.append(_INTEGER_STEP.pack(step) + _int8(delta / step))
        return zlib.compress(b"".join(parts), 9)
    for delta in deltas:
        step = float(delta.abs().max()) / 127 or 1.0
        step = struct.unpack("<f", _STEP.pack(step))[0]  # what the decoder will read
        parts.append(_STEP.pack(step) + _int8(delta / step))
    return zlib.compress(b"".join(parts), 9)


def _int8(multiples):
    return torch.round(multiples).clamp(-127, 127).to(torch.int8).numpy().tobytes()


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
    integer = net.integer
    step_format = _INTEGER_STEP if integer else _STEP
    targets = [tensor for tensor, _ in adapted.adapted_buffers()] if integer else head_parameters(adapted)
    position = 0
    with torch.no_grad():
        for target in targets:
            size = target.numel()
            if position + step_format.size + size > len(raw):
                raise ValueError("colour adaptation block is truncated")
            (step,) = step_format.unpack_from(raw, position)
            if not (1 <= step <= _MAX_INTEGER_STEP if integer else np.isfinite(step)):
                raise ValueError("colour adaptation block is corrupted")
            integers = torch.from_numpy(np.frombuffer(raw, dtype=np.int8, count=size,
                                                      offset=position + step_format.size).copy())
            target += (integers.to(torch.int64) * step if integer else integers.to(torch.float32) * step
                       ).reshape(target.shape)
            position += step_format.size + size
    if position != len(raw):
        raise ValueError("colour adaptation block does not fit the network")
    return adapted
