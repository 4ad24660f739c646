"""Lossy geometry: a sparse-convolution autoencoder whose decoder regrows the octree.

For a model with L levels, a block of depth d is sent as
- its voxels at depth d - L (the "coarse scale"), coded losslessly by the lossless codec;
- a latent of a few channels on each coarse voxel, from the analysis transform (one
  stride-2 sparse convolution stage per level, starting at full resolution), quantized
  and coded with a Gaussian model whose mean and scale are predicted from the coarse
  geometry the decoder already has (entropy.gaussian);
- the number of voxels of every finer scale.
The decoder's synthesis starts from the coarse geometry's features and the latent; at
every level a generative transposed convolution makes the 8 candidate children of each
voxel, a classifier scores them, and the highest-scoring candidates are kept, as many as
the scale had voxels (PCGCv2's scheme). The encoder runs the same synthesis, so the
bitstream carries a checksum of the exact reconstruction.

:class:`LossyModel` computes in float (``lossy-r*``); lossy_integer runs the same
networks in integers (``lossy-v2-r*``, over the integer occupancy model), so that every
machine rebuilds the same voxels. :class:`LossyBlockCoder` drives either.
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from omnicodec import varint
from omnicodec.entropy import binary_reader, binary_writer, gaussian
from omnicodec.errors import BitstreamError
from omnicodec.grid import morton, octree
from omnicodec.pointcloud.geometry_codec import GeometryCodec
from omnicodec.pointcloud.lossless import LosslessBlockCoder, occupancy_network
from omnicodec.pointcloud.lossy_integer import IntegerLossyModel
from omnicodec.pointcloud.resblock import ResBlock
from omnicodec.sparse import Conv, prune, relu, sparse_tensor
from omnicodec.sparse.keys import KEY_BITS, pack_keys


def batched(batch, keys, bits):
    """Morton keys of a scale of ``bits`` with the batch index (one, or one per key) above
    them: shifting right by 3 gives the parents'."""
    batch = np.broadcast_to(np.asarray(batch, dtype=np.int64), np.shape(keys))
    return pack_keys(np.stack([batch, keys], axis=1), [KEY_BITS - 3 * bits, 3 * bits])


def batch_keys(coords, batch, bits):
    """:func:`batched` keys of coordinates."""
    return batched(batch, morton.encode(coords, bits), bits)


def tensor_at(keys, bits, stride):
    """A sparse tensor of ones on the voxels of batch keys at a scale of ``bits``, whose
    coordinates are in full-resolution units (voxel * stride), rows in key order."""
    local = keys & ((1 << (3 * bits)) - 1)
    coords = morton.decode(local, bits) * stride
    ones = torch.ones((len(keys), 1), dtype=torch.float32)
    return sparse_tensor(torch.from_numpy(coords), ones, torch.from_numpy(keys >> (3 * bits)), stride)


def row_keys(x, bits):
    """Batch keys of a tensor's rows, for a scale of ``bits``."""
    coords = x.coordinates.numpy().astype(np.int64)
    return batch_keys(coords[:, 1:] // int(x.stride), coords[:, 0], bits)


class LossyModel(nn.Module):
    def __init__(self, levels=3, channels=32, latent_channels=8):
        super().__init__()
        c, k = channels, latent_channels
        self.config = {"levels": levels, "channels": channels, "latent_channels": latent_channels}
        self.levels = levels
        self.analysis_embed = Conv(1, c, 3)
        self.analysis_down = nn.ModuleList(Conv(c, c, 2, stride=2) for _ in range(levels))
        self.analysis_blocks = nn.ModuleList(ResBlock(c) for _ in range(levels))
        self.analysis_out = Conv(c, k, 3)
        self.context_embed = Conv(1, c, 3)
        self.context_blocks = nn.ModuleList(ResBlock(c) for _ in range(2))
        self.prior_head = nn.Linear(c, 2 * k)
        self.synthesis_in = nn.Linear(c + k, c)
        self.synthesis_blocks = nn.ModuleList(ResBlock(c) for _ in range(levels))
        self.upsample = nn.ModuleList(Conv(c, c, 2, stride=2, generative=True) for _ in range(levels))
        self.classify = nn.ModuleList(
            nn.Sequential(nn.ReLU(), nn.Linear(c, c), nn.ReLU(), nn.Linear(c, 1)) for _ in range(levels))

    def analysis(self, fine):
        """Full-resolution tensor -> latent tensor at the coarse scale (rows in engine order)."""
        x = relu(self.analysis_embed(fine))
        for down, block in zip(self.analysis_down, self.analysis_blocks):
            x = block(relu(down(x)))
        return self.analysis_out(x)

    def context(self, coarse):
        """Features of the coarse geometry, known to both sides before any latent."""
        x = relu(self.context_embed(coarse))
        for block in self.context_blocks:
            x = block(x)
        return x

    def prior(self, context):
        """Mean and scale of every latent value, (N, k) each."""
        mean, log_scale = self.prior_head(context.features).chunk(2, dim=1)
        return mean, torch.exp(log_scale.clamp(-4.0, 6.0))

    def start(self, context, latent):
        return relu(context.replace(self.synthesis_in(torch.cat([context.features, latent], dim=1))))

    def grow(self, x, level):
        """One synthesis level: (candidate children with features, their occupancy logits)."""
        candidates = self.upsample[level](self.synthesis_blocks[level](x))
        return candidates, self.classify[level](candidates.features).squeeze(1)

    def aligned_latent(self, fine, coarse_keys, coarse_bits):
        """The analysis latent with its rows in the order of ``coarse_keys``."""
        latent = self.analysis(fine)
        keys = row_keys(latent, coarse_bits)
        order = np.argsort(keys, kind="stable")
        if not np.array_equal(keys[order], coarse_keys):
            raise AssertionError("analysis output does not cover the coarse scale")
        return latent.features[torch.from_numpy(order)]

    # The block coder's interface, shared with lossy_integer.IntegerLossyModel.
    def coarse_context(self, coarse_keys, coarse_bits):
        return self.context(tensor_at(coarse_keys, coarse_bits, 2**self.levels))

    def latent(self, keys, bits, coarse_keys, coarse_bits):
        return self.aligned_latent(tensor_at(keys, bits, 1), coarse_keys, coarse_bits)

    @staticmethod
    def quantize(latent, mean):
        return gaussian.quantize(latent - mean)

    @staticmethod
    def rebuilt(q, mean):
        return q + mean

    def regrow(self, context, latent, coarse_keys, coarse_bits, counts, progress=None, first_logits=None):
        return self.synthesize(context, latent, counts, coarse_bits + len(counts), progress, first_logits,
                               coarse_keys)

    def synthesize(self, context, latent, counts, top_bits, progress=None, first_logits=None,
                   coarse_keys=None):
        """Regrow ``len(counts)`` levels keeping ``counts[i]`` voxels at level i; returns the
        Morton-sorted batch keys of the finest level (scale ``top_bits``). ``first_logits``
        (P, 8), per child of the ``coarse_keys`` voxels, replaces the classifier's scores at
        the first level (refinement, see LossyCodec)."""
        x = self.start(context, latent)
        bits = top_bits - self.levels
        for level, count in enumerate(counts):
            candidates, logits = self.grow(x, level)
            bits += 1
            keys = row_keys(candidates, bits)
            if level == 0 and first_logits is not None:
                logits = first_logits[torch.from_numpy(np.searchsorted(coarse_keys, keys >> 3)),
                                      torch.from_numpy(keys & 7)]
            keep = top_k_mask(logits, keys, count)
            x = prune(relu(candidates), torch.from_numpy(keep))
            if progress:
                progress(count)
        return np.sort(keys[keep])

    def training_bits(self, keys, bits):
        """Teacher-forced training pass over batch keys at scale ``bits``: (bits of the
        latent under uniform quantization noise, [bits of each level's occupancy]). The
        synthesis keeps the true voxels at every level; the latent it sees is rounded
        (straight-through gradient)."""
        levels = [keys]
        for _ in range(self.levels):
            levels.append(morton.unique_keys(levels[-1] >> 3))
        levels.reverse()
        level_bits = bits - self.levels
        latent = self.aligned_latent(tensor_at(keys, bits, 1), levels[0], level_bits)
        context = self.context(tensor_at(levels[0], level_bits, 2**self.levels))
        mean, scale = self.prior(context)
        centred = latent - mean
        noise = torch.empty_like(centred).uniform_(-0.5, 0.5)
        rate = gaussian.likelihood_bits(centred + noise, scale).sum()
        x = self.start(context, mean + centred + (torch.round(centred) - centred).detach())
        occupancy = []
        for level in range(self.levels):
            candidates, logits = self.grow(x, level)
            level_bits += 1
            truth = np.isin(row_keys(candidates, level_bits), levels[level + 1])
            target = torch.from_numpy(truth).to(torch.float32)
            nats = F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
            occupancy.append(nats / math.log(2))
            x = prune(relu(candidates), torch.from_numpy(truth))
        return rate, occupancy


def top_k_mask(logits, keys, count):
    """Bool mask of the ``count`` highest logits; ties go to the lower key, so the choice
    does not depend on the engine's row order."""
    if count > len(keys):
        raise BitstreamError("a scale's voxel count exceeds its candidates: corrupted stream")
    by_key = np.argsort(keys, kind="stable")
    ranked = torch.argsort(-logits.detach()[torch.from_numpy(by_key)], stable=True)[:count]
    keep = np.zeros(len(keys), dtype=bool)
    keep[by_key[ranked.numpy()]] = True
    return keep


def lossy_network(arithmetic="float", **config):
    """The lossy network a weight file's config describes: float or integer."""
    return IntegerLossyModel(**config) if arithmetic == "integer" else LossyModel(**config)


class LossyGeometryCodec(GeometryCodec):
    """Lossy geometry: every block coded by a :class:`LossyBlockCoder` over the lossless
    model of the card's ``base``, sending ``settings["refine_stages"]`` refinement stages."""

    network = staticmethod(lossy_network)
    lossless = False

    def block_coder(self):
        base = LosslessBlockCoder(self.load_network(self.card.base, occupancy_network), self.coder)
        return LossyBlockCoder(self.load_network(), base, self.coder,
                               self.card.settings["refine_stages"])


class LossyBlockCoder:
    """A lossy model, the lossless block coder for its coarse scale, and a coder: one
    block's keys <-> its sections (the base coder's, then the lossy section).

    ``refine_stages`` > 0 also sends, exactly, the children of the coarse voxels for that
    many of the lossless codec's 8 coding stages (with its probabilities); at its first level
    the synthesis then keeps the children sent and ranks the others by the lossless model's
    logits given them (on the soldier, 1.9 dB better than the upsampler's own scores, which
    cannot see the children sent). This places rates between two depths.
    """

    sections_per_block = 3

    def __init__(self, model, base, coder, refine_stages=0):
        self.model = model.eval()
        self.base = base
        self.coder = coder
        self.refine_stages = refine_stages

    def _coarse_bits(self, depth):
        if depth < self.model.levels:
            raise ValueError(f"the cloud spans 2^{depth} voxels per axis, and this rate regrows "
                             f"{self.model.levels} octree levels (use a higher rate, or lossless)")
        return depth - self.model.levels

    @torch.no_grad()
    def compress_block(self, keys, depth, progress=None):
        """Morton-sorted keys of a block of side 2**depth -> (sections, reconstructed keys)."""
        coarse_bits = self._coarse_bits(depth)
        levels = octree.scales(keys, depth, coarse_bits)
        counts = [len(level) for level in levels[1:]]
        sections, _ = self.base.compress_block(levels[0], coarse_bits, progress)
        latent = self.model.latent(keys, depth, levels[0], coarse_bits)
        context = self.model.coarse_context(levels[0], coarse_bits)
        mean, scale = self.model.prior(context)
        q = self.model.quantize(latent, mean)
        writer = binary_writer(self.coder)
        first_logits = self._refinement(levels[0], coarse_bits, writer=writer,
                                        masks=octree.child_masks(levels[0], levels[1]))
        gaussian.write(writer, q, scale)
        sections.append(varint.encode(counts) + writer.finish())
        recon = self.model.regrow(context, self.model.rebuilt(q, mean), levels[0], coarse_bits, counts,
                                  progress, first_logits)
        return sections, recon

    @torch.no_grad()
    def decompress_block(self, sections, depth, progress=None):
        """Inverse of :meth:`compress_block`: the reconstruction's Morton-sorted keys."""
        coarse_bits = self._coarse_bits(depth)
        coarse_keys = self.base.decompress_block(sections[:2], coarse_bits, progress)
        counts, pos = varint.decode(sections[2], self.model.levels)
        if any(b < a or b > 8 * a for a, b in zip([len(coarse_keys), *counts], counts)):
            raise BitstreamError("lossy section's voxel counts are corrupted")
        context = self.model.coarse_context(coarse_keys, coarse_bits)
        mean, scale = self.model.prior(context)
        reader = binary_reader(self.coder, sections[2][pos:])
        first_logits = self._refinement(coarse_keys, coarse_bits, reader=reader)
        q = gaussian.read(reader, scale, shape=mean.shape)
        reader.finish()
        return self.model.regrow(context, self.model.rebuilt(q, mean), coarse_keys, coarse_bits, counts,
                                 progress, first_logits)

    def _refinement(self, coarse_keys, coarse_bits, masks=None, writer=None, reader=None):
        """Code the refinement stages; the first level's logits they imply (None without)."""
        if not self.refine_stages:
            return None
        known, context = self.base.code_stages(coarse_keys, coarse_bits, self.refine_stages,
                                               masks, writer, reader)
        return self.base.predict_rest(context, known, self.refine_stages)
