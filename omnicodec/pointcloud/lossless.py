"""Lossless geometry codec of one block: octree scales coded with the occupancy model.

:class:`LosslessGeometryCodec` is the codec (omnicodec.codec) of the lossless models; it
codes each block of the voxel grid (geometry_codec) with a :class:`LosslessBlockCoder`.
A block of depth d (side 2**d) is sent as two sections: its point count at every scale
with the occupancy map of its coarsest scale (an 8x8x8 grid, or the whole block if
smaller); then one entropy-coded payload holding, for every finer scale, the children of
each occupied voxel in 8 batches, one per child position (occupancy). The encoder
runs exactly the decoder's computation, so both see the same probabilities.

Models compute in float (occupancy-v1: the same probabilities only on the same arithmetic,
which runtime.configure pins down as far as it can) or in integers (occupancy-v2,
occupancy_integer: the same probabilities on every machine). A stream names its
model, so it records which arithmetic its decoder must run; both decode.
"""

import numpy as np
import torch

from omnicodec import varint
from omnicodec.entropy import binary_reader, binary_writer
from omnicodec.errors import BitstreamError
from omnicodec.grid import octree
from omnicodec.grid.octree import CODING_ORDER
from omnicodec.pointcloud.geometry_codec import GeometryCodec
from omnicodec.pointcloud.occupancy import OccupancyModel
from omnicodec.pointcloud.occupancy_integer import IntegerOccupancyModel

COARSEST_BITS = 3


def occupancy_network(arithmetic="float", **config):
    """The occupancy network a weight file's config describes: float or integer."""
    return IntegerOccupancyModel(**config) if arithmetic == "integer" else OccupancyModel(**config)


class LosslessGeometryCodec(GeometryCodec):
    """Lossless on the voxel grid: every block coded by the occupancy model."""

    network = staticmethod(occupancy_network)

    def block_coder(self):
        return LosslessBlockCoder(self.load_network(), self.coder)


class LosslessBlockCoder:
    """An occupancy model and a named entropy coder: one block's keys <-> its two sections."""

    sections_per_block = 2

    def __init__(self, model, coder):
        self.model = model.eval()
        self.coder = coder

    def code_stages(self, parent_keys, depth, stages, masks=None, writer=None, reader=None):
        """Encode (masks and writer given) or decode (reader given) the children of one scale
        for the first ``stages`` of the 8 coding stages; returns the (P, 8) int8 known-children
        map (+1 occupied, -1 empty, 0 for the children of the stages not coded) and the
        scale's context."""
        known = torch.zeros((len(parent_keys), 8), dtype=torch.int8)
        context = self.model.scale_context(parent_keys, depth)
        for stage, child in enumerate(CODING_ORDER[:stages]):
            freq = self.model.stage_frequencies(context, known, stage)
            if writer is not None:
                bits = torch.from_numpy(masks[:, child])
                writer.write(freq, bits)
            else:
                bits = reader.read(freq)
            known[:, child] = bits.to(torch.int8) * 2 - 1
        return known, context

    def predict_rest(self, context, known, stages):
        """The model's logits of the children of the stages after the first ``stages``
        (see its ``predict_rest``): what the lossy codecs rank their first level by."""
        return self.model.predict_rest(context, known, stages)

    def _code_scale(self, parent_keys, depth, masks=None, writer=None, reader=None):
        """All 8 stages of one scale; returns the (P, 8) child masks."""
        known, _ = self.code_stages(parent_keys, depth, len(CODING_ORDER), masks, writer, reader)
        return (known > 0).numpy()

    @torch.no_grad()
    def compress_block(self, keys, depth, progress=None):
        """Morton-sorted keys of a block of side 2**depth -> (list of sections, the keys
        the decoder will rebuild: all of them)."""
        coarsest = min(COARSEST_BITS, depth)
        levels = octree.scales(keys, depth, coarsest)
        bitmap = np.zeros(8**coarsest, dtype=bool)
        bitmap[levels[0]] = True
        writer = binary_writer(self.coder)
        for scale, (parents, children) in enumerate(zip(levels[:-1], levels[1:])):
            self._code_scale(parents, coarsest + scale, masks=octree.child_masks(parents, children),
                             writer=writer)
            if progress:
                progress(len(children))
        header = varint.encode([len(level) for level in levels]) + np.packbits(bitmap).tobytes()
        return [header, writer.finish()], keys

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
        reader = binary_reader(self.coder, sections[1])
        for scale in range(depth - coarsest + 1):
            if len(keys) != counts[scale]:
                raise BitstreamError(
                    f"decoded geometry disagrees with the bitstream at scale {coarsest + scale} "
                    f"({len(keys)} voxels instead of {counts[scale]}): corrupted stream, or "
                    "the model computed different probabilities on this machine")
            if scale == depth - coarsest:
                break
            keys = octree.expand(keys, self._code_scale(keys, coarsest + scale, reader=reader))
            if progress:
                progress(len(keys))
        reader.finish()
        return keys
