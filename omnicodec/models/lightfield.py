"""4D light-field autoencoder with a hyperprior (issue 4, in training; not yet a codec mode).

A light field (U, V, H, W, 3) becomes a sparse 4D tensor: every view is cut into 4x4 pixel
blocks (space to depth, 48 features per block) at coordinates (u, v, y, x) in block units,
so views or regions that carry no signal can simply be left out. The analysis transform
(4D sparse convolutions, two stride-2 stages over all four axes) gives the latent y; a
hyper-analysis (one more stride-2 stage) gives z, coded with a factorized Gaussian (one
learned scale per channel); the hyper-synthesis predicts a mean and scale for every value
of y. The synthesis regrows the block grid with transposed convolutions onto the
coordinates the decoder knows, back to pixels. Values are quantized by rounding around
their predicted means and coded as in entropy.gaussian.
"""

import torch
from torch import nn

from omnicodec.entropy import gaussian
from omnicodec.models.blocks import ResBlock
from omnicodec.sparse import Conv, relu, sparse_tensor

BLOCK = 4
DIMENSION = 4


def to_blocks(views):
    """(N, U, V, H, W, 3) float views (H, W multiples of BLOCK) -> (coordinates (M, 4),
    batch ids (M,), features (M, 48)) of every block."""
    n, u, v, h, w, c = views.shape
    blocks = views.reshape(n, u, v, h // BLOCK, BLOCK, w // BLOCK, BLOCK, c)
    blocks = blocks.permute(0, 1, 2, 3, 5, 4, 6, 7).reshape(n, u, v, h // BLOCK, w // BLOCK, -1)
    grid = torch.stack(torch.meshgrid(*(torch.arange(s) for s in blocks.shape[:5]), indexing="ij"), -1)
    grid = grid.reshape(-1, 5)
    return grid[:, 1:], grid[:, 0], blocks.reshape(-1, BLOCK * BLOCK * c)


class LightFieldModel(nn.Module):
    def __init__(self, channels=48, latent_channels=64, hyper_channels=32):
        super().__init__()
        c, k, h = channels, latent_channels, hyper_channels
        self.config = {"channels": channels, "latent_channels": latent_channels,
                       "hyper_channels": hyper_channels}
        d = DIMENSION
        self.embed = nn.Linear(BLOCK * BLOCK * 3, c)
        self.analysis_block = ResBlock(c, d)
        self.analysis_down1 = Conv(c, c, 2, stride=2, dimension=d)
        self.analysis_block2 = ResBlock(c, d)
        self.analysis_down2 = Conv(c, k, 2, stride=2, dimension=d)
        self.hyper_analysis = Conv(k, c, 3, dimension=d)
        self.hyper_down = Conv(c, h, 2, stride=2, dimension=d)
        self.hyper_log_scale = nn.Parameter(torch.zeros(h))
        self.hyper_up = Conv(h, c, 2, stride=2, transpose=True, dimension=d)
        self.hyper_synthesis = Conv(c, 2 * k, 3, dimension=d)
        self.synthesis_up2 = Conv(k, c, 2, stride=2, transpose=True, dimension=d)
        self.synthesis_block2 = ResBlock(c, d)
        self.synthesis_up1 = Conv(c, c, 2, stride=2, transpose=True, dimension=d)
        self.synthesis_block = ResBlock(c, d)
        self.to_pixels = nn.Linear(c, BLOCK * BLOCK * 3)

    def training_terms(self, views):
        """Teacher pass over (N, U, V, H, W, 3) views in [0, 1]: (bits of y and z under
        uniform quantization noise, mean squared error of the reconstruction)."""
        coords, batch, pixels = to_blocks(views)
        # Rows may be reordered by the engine: the target is the tensor's own features.
        blocks = sparse_tensor(coords, pixels - 0.5, batch)
        target = blocks.features + 0.5
        x0 = blocks.replace(self.embed(blocks.features))
        x1 = self.analysis_block2(relu(self.analysis_down1(self.analysis_block(relu(x0)))))
        y = self.analysis_down2(x1)
        z = self.hyper_down(relu(self.hyper_analysis(y)))
        z_noisy = z.features + torch.empty_like(z.features).uniform_(-0.5, 0.5)
        z_bits = gaussian.likelihood_bits(z_noisy, torch.exp(self.hyper_log_scale)).sum()
        z_hat = z.replace(z.features + (torch.round(z.features) - z.features).detach())
        params = self.hyper_synthesis(relu(self.hyper_up(z_hat, out=y))).features
        mean, log_scale = params.chunk(2, dim=1)
        centred = y.features - mean
        y_bits = gaussian.likelihood_bits(centred + torch.empty_like(centred).uniform_(-0.5, 0.5),
                                          torch.exp(log_scale.clamp(-4.0, 6.0))).sum()
        y_hat = y.replace(mean + centred + (torch.round(centred) - centred).detach())
        up = self.synthesis_block2(relu(self.synthesis_up2(y_hat, out=x1)))
        up = self.synthesis_block(relu(self.synthesis_up1(up, out=x0)))
        decoded = self.to_pixels(up.features) + 0.5
        return y_bits + z_bits, torch.mean((decoded - target) ** 2)
