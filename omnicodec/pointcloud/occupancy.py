"""Lossless multiscale occupancy model: predicts the 8 child occupancies of every occupied
voxel of a scale from that scale, child by child.

Children are coded in 8 stages (one child position per stage, order CODING_ORDER). A stage
sees a backbone context computed once per scale plus the occupancy already decoded for
earlier children, of this voxel and of its neighbours (a 3x3x3 sparse convolution over
the known-children map), as SparsePCGC's multi-stage scheme does. All stages run on the
same coordinates, so the engine's neighbour maps are built once per scale.
"""

import math

import torch
from torch import nn

from omnicodec.entropy import binary_frequencies
from omnicodec.grid import morton
from omnicodec.grid.octree import CODING_ORDER
from omnicodec.pointcloud.resblock import ResBlock
from omnicodec.sparse import Conv, relu, sparse_tensor


class OccupancyModel(nn.Module):
    def __init__(self, channels=32, blocks=2, head_kernel=3):
        super().__init__()
        c = channels
        self.config = {"channels": channels, "blocks": blocks, "head_kernel": head_kernel}
        self.embed = Conv(1, c, 3)
        self.fine = nn.ModuleList(ResBlock(c) for _ in range(blocks))
        self.down = Conv(c, c, 2, stride=2)
        self.coarse = nn.ModuleList(ResBlock(c) for _ in range(blocks))
        self.up = Conv(c, c, 2, stride=2, transpose=True)
        self.merge = ResBlock(c)
        self.context_conv = Conv(c, c, 3)
        # Known children as +1 (occupied), -1 (empty), 0 (not yet decoded).
        self.known_conv = Conv(8, c, 3, bias=False)
        self.stage_bias = nn.Parameter(torch.zeros(len(CODING_ORDER), c))
        self.head = Conv(c, c, head_kernel)
        self.out_weight = nn.Parameter(torch.randn(len(CODING_ORDER), c) * c**-0.5)
        self.out_bias = nn.Parameter(torch.zeros(len(CODING_ORDER)))

    def context(self, parent_coords, batch=None):
        """Backbone features of the occupied voxels of one scale, (P, 3) int coordinates."""
        ones = torch.ones((len(parent_coords), 1), dtype=torch.float32, device=self.out_bias.device)
        x = self.embed(sparse_tensor(parent_coords, ones, batch=batch))
        for block in self.fine:
            x = block(relu(x))
        skip = x
        y = relu(self.down(x))
        for block in self.coarse:
            y = block(y)
        x = self.merge(skip.replace(skip.features + self.up(y, out=skip).features))
        return self.context_conv(x)

    def scale_context(self, parent_keys, bits):
        """:meth:`context` of Morton-sorted keys on a grid of ``bits`` bits per axis."""
        return self.context(torch.from_numpy(morton.decode(parent_keys, bits)))

    def stage_frequencies(self, context, known, stage):
        """int32 frequencies (in 65536) of the child CODING_ORDER[stage] being occupied;
        ``known``: (P, 8) children known so far (+1, -1, 0 unknown)."""
        return binary_frequencies(torch.sigmoid(self.stage_logits(context, known.to(torch.float32), stage)))

    def stage_logits(self, context, known, stage):
        """Logit of the child CODING_ORDER[stage] being occupied, for every voxel, (P,)."""
        h = self.known_conv(context.replace(known))
        h = relu(h.replace(h.features + context.features + self.stage_bias[stage]))
        h = torch.relu(self.head(h).features)
        return h @ self.out_weight[stage] + self.out_bias[stage]

    def predict_rest(self, context, known, stages):
        """(P, 8) occupancy logits of the children of the stages after the first ``stages``,
        given those (the stages' own conditioning, without the children in between);
        +-inf for the known children."""
        known = known.to(torch.float32)
        logits = known * math.inf
        for stage in range(stages, len(CODING_ORDER)):
            logits[:, CODING_ORDER[stage]] = self.stage_logits(context, known, stage)
        return logits

    def all_stage_logits(self, parent_coords, masks, batch=None):
        """Training: (P, 8) logits of every stage, with the true earlier children known."""
        context = self.context(parent_coords, batch)
        known = torch.zeros((len(parent_coords), 8), dtype=torch.float32, device=self.out_bias.device)
        signed = masks.to(torch.float32) * 2 - 1
        logits = []
        for stage, child in enumerate(CODING_ORDER):
            logits.append(self.stage_logits(context, known, stage))
            known = known.clone()
            known[:, child] = signed[:, child]
        return torch.stack(logits, dim=1)
