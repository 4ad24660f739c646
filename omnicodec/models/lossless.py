"""Lossless geometry codec of one block: octree scales coded with the occupancy model.

A block of depth d (side 2**d) is sent as: the occupancy map of its coarsest scale (an
8x8x8 grid, or the whole block if smaller) and its point count at every scale, then for
every finer scale 8 arithmetic-coded sections, one per child position (models.occupancy).
The encoder runs exactly the decoder's computation, so both see the same probabilities.
"""

import numpy as np
import torch

from omnicodec.entropy import binary_frequencies, decode_binary, encode_binary
from omnicodec import varint
from omnicodec.errors import BitstreamError
from omnicodec.geometry import morton, octree
from omnicodec.models.occupancy import CODING_ORDER

COARSEST_BITS = 3


def sections_per_block(depth):
    return 1 + len(CODING_ORDER) * (depth - min(COARSEST_BITS, depth))


class LosslessCodec:
    def __init__(self, model, coder):
        self.model = model.eval()
        self.coder = coder

    def _code_scale(self, parent_keys, depth, masks=None, streams=None):
        """Encode (masks given) or decode (streams given) the children of one scale."""
        coords = torch.from_numpy(morton.decode(parent_keys, depth))
        known = torch.zeros((len(coords), 8), dtype=torch.float32)
        out = []
        context = self.model.context(coords)
        for stage, child in enumerate(CODING_ORDER):
            freq = binary_frequencies(torch.sigmoid(self.model.stage_logits(context, known, stage)))
            if masks is not None:
                bits = torch.from_numpy(masks[:, child])
                out.append(encode_binary(freq, bits, self.coder))
            else:
                bits = decode_binary(freq, streams[stage], self.coder)
            known[:, child] = bits.to(torch.float32) * 2 - 1
        return out, (known > 0).numpy()

    @torch.no_grad()
    def compress_block(self, keys, depth, progress=None):
        """Morton-sorted keys of a block of side 2**depth -> list of sections."""
        coarsest = min(COARSEST_BITS, depth)
        levels = octree.scales(keys, depth, coarsest)
        bitmap = np.zeros(8**coarsest, dtype=bool)
        bitmap[levels[0]] = True
        sections = [varint.encode([len(level) for level in levels]) + np.packbits(bitmap).tobytes()]
        for scale, (parents, children) in enumerate(zip(levels[:-1], levels[1:])):
            streams, _ = self._code_scale(parents, coarsest + scale,
                                          masks=octree.child_masks(parents, children))
            sections += streams
            if progress:
                progress(len(children))
        return sections

    @torch.no_grad()
    def decompress_block(self, sections, depth, progress=None):
        """Inverse of :meth:`compress_block`: the block's Morton-sorted keys."""
        coarsest = min(COARSEST_BITS, depth)
        counts, pos = varint.decode(sections[0], depth - coarsest + 1)
        packed = sections[0][pos:]
        if len(packed) != (8**coarsest + 7) // 8:
            raise BitstreamError("block header is corrupted")
        bitmap = np.unpackbits(np.frombuffer(packed, dtype=np.uint8))[: 8**coarsest]
        keys = np.flatnonzero(bitmap).astype(np.int64)
        stages = len(CODING_ORDER)
        for scale in range(depth - coarsest + 1):
            if len(keys) != counts[scale]:
                raise BitstreamError(
                    f"decoded geometry disagrees with the bitstream at scale {coarsest + scale} "
                    f"({len(keys)} voxels instead of {counts[scale]}): corrupted stream, or "
                    "the model computed different probabilities on this machine")
            if scale == depth - coarsest:
                break
            streams = sections[1 + scale * stages: 1 + (scale + 1) * stages]
            _, masks = self._code_scale(keys, coarsest + scale, streams=streams)
            keys = octree.expand(keys, masks)
            if progress:
                progress(len(keys))
        return keys
