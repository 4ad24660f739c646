"""4D light-field autoencoder with a hyperprior and one gain vector per rate.

A light field (U, V, H, W, 3) becomes a sparse 4D tensor: every view is cut into 4x4 pixel
blocks (space to depth, 48 features per block) at coordinates (u, v, y, x) in block units.
Blocks that are exactly black are left out, so views or regions that carry no signal cost
nothing but their place in the block mask.

- Analysis: per-block embedding and GDN, then two stride-2 4D convolutions (kernel 3, so
  neighbouring outputs overlap) over all four axes, with a 4D residual block between them, give the latent y on a grid 4x coarser in
  angle and 16x coarser in pixels.
- Rates: y is multiplied by a learned per-channel gain of the chosen rate before rounding
  and divided by it after (Cui et al.'s gain units), so one network serves every rate.
- Hyperprior: one more stride-2 stage gives z, coded with a zero-mean Gaussian with one
  learned scale per channel; the hyper-synthesis predicts a mean and scale for every
  value of y, coded as in :mod:`omnicodec.entropy.gaussian`.
- Synthesis: overlapping transposed convolutions regrow the grid onto the block
  coordinates the decoder knows from the mask (the generative upsampler); a linear layer
  per block gives the pixels back. Every 4D convolution runs on the coarse grids, where
  there are 16 or 256 times fewer points than blocks: that keeps training and coding
  affordable on a CPU.
"""

import zlib

import numpy as np
import torch
from torch import nn

from omnicodec.entropy import binary_reader, binary_writer, gaussian
from omnicodec.errors import BitstreamError
from omnicodec.sparse import Conv, Pool, relu, sparse_tensor

BLOCK = 8
DIMENSION = 4
# Rate-distortion weights the gain vectors were trained for: loss = bpp + lambda * MSE (8-bit scale).
LAMBDAS = (0.003, 0.008, 0.02, 0.05)


def to_blocks(views):
    """(N, U, V, H, W, 3) float views (H, W multiples of BLOCK) -> (coordinates (M, 4),
    batch ids (M,), features (M, 3 BLOCK^2)) of every block."""
    n, u, v, h, w, c = views.shape
    blocks = views.reshape(n, u, v, h // BLOCK, BLOCK, w // BLOCK, BLOCK, c)
    blocks = blocks.permute(0, 1, 2, 3, 5, 4, 6, 7).reshape(n, u, v, h // BLOCK, w // BLOCK, -1)
    grid = torch.stack(torch.meshgrid(*(torch.arange(s) for s in blocks.shape[:5]), indexing="ij"), -1)
    grid = grid.reshape(-1, 5)
    return grid[:, 1:], grid[:, 0], blocks.reshape(-1, BLOCK * BLOCK * c)


class GDN(nn.Module):
    """Generalized divisive normalization over the channels of each row (Balle et al.);
    ``inverse`` multiplies instead of dividing (the synthesis side)."""

    def __init__(self, channels, inverse=False):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels))

    def forward(self, x):
        f = x.features
        norm = torch.sqrt(self.beta.abs() + 1e-6 + (f * f) @ self.gamma.abs().t())
        return x.replace(f * norm if self.inverse else f / norm)


class RowResBlock(nn.Module):
    """Two linear layers on each row's features, with a skip connection."""

    def __init__(self, channels):
        super().__init__()
        self.first = nn.Linear(channels, channels)
        self.second = nn.Linear(channels, channels)

    def forward(self, x):
        return x.replace(x.features + self.second(torch.relu(self.first(x.features))))


class LightFieldModel(nn.Module):
    def __init__(self, channels=96, latent_channels=128, hyper_channels=64, rates=len(LAMBDAS)):
        super().__init__()
        c, k, h = channels, latent_channels, hyper_channels
        self.config = {"channels": channels, "latent_channels": latent_channels,
                       "hyper_channels": hyper_channels, "rates": rates}
        d, pixels = DIMENSION, BLOCK * BLOCK * 3
        self.embed = nn.Sequential(nn.Linear(pixels, c), nn.ReLU(), nn.Linear(c, c))
        self.analysis_gdn = GDN(c)
        self.analysis_down = Conv(c, c, 3, stride=2, dimension=d)
        self.analysis_block = RowResBlock(c)
        self.analysis_latent = nn.Linear(c, k)
        # Larger gains at higher rates; training moves them.
        self.log_gains = nn.Parameter(torch.log(torch.tensor([2.0 * 1.6**r for r in range(rates)]))[:, None]
                                      .repeat(1, k))
        self.hyper_analysis = Conv(k, c, 3, stride=2, dimension=d)
        self.hyper_down = Conv(c, h, 3, stride=2, dimension=d)
        self.hyper_log_scale = nn.Parameter(torch.zeros(h))
        self.hyper_up = Conv(h, c, 3, stride=2, transpose=True, dimension=d)
        self.hyper_up2 = Conv(c, c, 3, stride=2, transpose=True, dimension=d)
        self.hyper_synthesis = Conv(c, 2 * k, 3, dimension=d)
        self.synthesis_latent = nn.Linear(k, c)
        self.synthesis_block = RowResBlock(c)
        self.synthesis_igdn = GDN(c, inverse=True)
        self.synthesis_up = Conv(c, c, 3, stride=2, transpose=True, dimension=d)
        self.to_pixels = nn.Sequential(nn.Linear(c, c), nn.ReLU(), nn.Linear(c, pixels))

    @property
    def rates(self):
        return self.config["rates"]

    def gain(self, rate):
        """Per-channel latent gain of a rate index; fractional indices interpolate the log gains."""
        low = min(int(rate), self.rates - 1)
        high = min(low + 1, self.rates - 1)
        t = rate - low
        return torch.exp((1 - t) * self.log_gains[low] + t * self.log_gains[high])

    def analysis(self, blocks, rate):
        """Block tensor (features = pixels - 0.5) -> gained latent y (stride 2)."""
        x = self.analysis_gdn(blocks.replace(self.embed(blocks.features)))
        x = self.analysis_block(self.analysis_down(x))
        return x.replace(self.analysis_latent(x.features) * self.gain(rate))

    def hyper_analysis_z(self, y):
        return self.hyper_down(relu(self.hyper_analysis(y)))

    def latent_parameters(self, z_hat, grids):
        """Mean and scale of every latent value (rows of ``grids[1]``) from the rounded
        hyper-latent ``z_hat`` (rows of ``grids[3]``)."""
        up = relu(self.hyper_up(z_hat, out=grids[2]))
        params = self.hyper_synthesis(relu(self.hyper_up2(up, out=grids[1]))).features
        mean, log_scale = params.chunk(2, dim=1)
        return mean, torch.exp(log_scale.clamp(-4.0, 6.0))

    def hyper_scale(self):
        return torch.exp(self.hyper_log_scale)

    def synthesis(self, y_hat, grids, rate):
        """Rounded gained latent (rows of ``grids[1]``) -> block pixels (in [0, 1],
        unclamped) on the rows of ``grids[0]``."""
        y = y_hat.replace(torch.relu(self.synthesis_latent(y_hat.features / self.gain(rate))))
        up = self.synthesis_igdn(self.synthesis_block(y))
        up = self.synthesis_up(up, out=grids[0])
        return self.to_pixels(up.features) + 0.5

    def training_terms(self, views, rate):
        """Teacher pass over (N, U, V, H, W, 3) views in [0, 1]: (bits of y and z under
        uniform quantization noise, mean squared error of the reconstruction)."""
        coords, batch, pixels = to_blocks(views)
        # Rows may be reordered by the engine: the target is the tensor's own features.
        blocks = sparse_tensor(coords, pixels - 0.5, batch)
        target = blocks.features + 0.5
        y = self.analysis(blocks, rate)
        x4 = self.hyper_analysis(y)  # the stride-4 grid between y and z
        z = self.hyper_down(relu(x4))
        z_noisy = z.features + torch.empty_like(z.features).uniform_(-0.5, 0.5)
        z_bits = gaussian.likelihood_bits(z_noisy, self.hyper_scale()).sum()
        z_hat = z.replace(z.features + (torch.round(z.features) - z.features).detach())
        mean, scale = self.latent_parameters(z_hat, (blocks, y, x4, z))
        centred = y.features - mean
        y_bits = gaussian.likelihood_bits(centred + torch.empty_like(centred).uniform_(-0.5, 0.5), scale).sum()
        y_hat = y.replace(mean + centred + (torch.round(centred) - centred).detach())
        decoded = self.synthesis(y_hat, (blocks, y), rate)
        return y_bits + z_bits, torch.mean((decoded - target) ** 2)


def block_grids(coordinates):
    """The decoder's view of the structure: from the (M, 4) block coordinates (batch 0),
    featureless tensors at the block grid and at strides 2 (the latent), 4 and 8 (the
    hyper-latent), made by pooling so their coordinates match what the analysis produces."""
    pool = Pool("max", 2, 2, DIMENSION)
    grids = [sparse_tensor(coordinates, torch.zeros(len(coordinates), 1))]
    for _ in range(3):
        grids.append(pool(grids[-1]))
    return grids


def _row_keys(x):
    """One int64 per row of a tensor, from its (batch, u, v, y, x) coordinates."""
    c = x.coordinates.to(torch.int64)
    key = c[:, 0]
    for axis in range(1, c.shape[1]):
        key = key * (1 << 14) + c[:, axis]
    return key


def rows_of(target, source):
    """Indices into ``source``'s rows of each of ``target``'s rows (same coordinates)."""
    source_keys, target_keys = _row_keys(source), _row_keys(target)
    order = torch.argsort(source_keys)
    where = torch.searchsorted(source_keys[order], target_keys)
    return order[where.clamp(max=len(order) - 1)]


def coding_order(x):
    """Row permutation in which a tensor's values are coded: by coordinates, so encoder and
    decoder agree whatever row order the engine chose."""
    return torch.argsort(_row_keys(x))


def block_mask(views):
    """(U, V, h, w, 3) samples -> (U, V, ceil(h/BLOCK), ceil(w/BLOCK)) bool: the blocks with
    any nonzero sample (the only ones coded)."""
    u, v, h, w, _ = views.shape
    padded = np.zeros((u, v, -(-h // BLOCK) * BLOCK, -(-w // BLOCK) * BLOCK), dtype=bool)
    padded[:, :, :h, :w] = views.any(axis=-1)
    return padded.reshape(u, v, padded.shape[2] // BLOCK, BLOCK, -1, BLOCK).any(axis=(3, 5))


def _padded(views):
    """Float views with h, w padded to multiples of BLOCK by repeating the last row/column."""
    h, w = views.shape[2:4]
    pad = [(0, 0), (0, 0), (0, -h % BLOCK), (0, -w % BLOCK), (0, 0)]
    return np.pad(views, pad, mode="edge")


class LightFieldCodec:
    """A light-field model and a coder: a tile (all views x up to tile x tile pixels)
    <-> its sections: block mask, hyper-latent, latent.

    The encoder runs the decoder's own path (structure pooled from the block mask, values
    in coordinate order) to get the probabilities and its reconstruction, so both sides
    compute them from the same inputs in the same way.
    """

    sections_per_tile = 3

    def __init__(self, model, coder):
        self.model = model.eval()
        self.coder = coder

    @torch.no_grad()
    def compress_tile(self, views, rate):
        """Float views (U, V, h, w, 3) in [0, 1] (exact zeros where black) -> (sections,
        reconstruction of the same shape)."""
        mask = block_mask(views)
        sections = [zlib.compress(np.packbits(mask).tobytes(), 9)]
        coords = torch.from_numpy(np.argwhere(mask))
        if not len(coords):
            return sections + [b"", b""], np.zeros_like(views)
        padded = torch.from_numpy(_padded(views).astype(np.float32))
        pixels = to_blocks(padded[None])[2].reshape(*mask.shape, -1)[tuple(coords.T)]
        y = self.model.analysis(sparse_tensor(coords, pixels - 0.5), rate)
        z = self.model.hyper_analysis_z(y)
        grids = block_grids(coords)
        y_grid, z_grid = grids[1], grids[3]
        z_q = gaussian.quantize(z.features[rows_of(z_grid, z)])
        writer = binary_writer(self.coder)
        gaussian.write(writer, z_q[coding_order(z_grid)], self._hyper_scales(len(z_grid)))
        sections.append(writer.finish())
        mean, scale = self.model.latent_parameters(z_grid.replace(z_q.to(torch.float32)), grids)
        y_q = gaussian.quantize(y.features[rows_of(y_grid, y)] - mean)
        order = coding_order(y_grid)
        writer = binary_writer(self.coder)
        gaussian.write(writer, y_q[order], scale[order])
        sections.append(writer.finish())
        decoded = self.model.synthesis(y_grid.replace(y_q + mean), grids, rate)
        return sections, self._views(decoded, grids[0], mask, views.shape)

    @torch.no_grad()
    def decompress_tile(self, sections, shape, rate):
        """Inverse of :meth:`compress_tile` for a tile of ``shape`` (U, V, h, w, 3)."""
        u, v, h, w, _ = shape
        mask_shape = (u, v, -(-h // BLOCK), -(-w // BLOCK))
        mask = _read_mask(sections[0], mask_shape)
        coords = torch.from_numpy(np.argwhere(mask))
        if not len(coords):
            if sections[1] or sections[2]:
                raise BitstreamError("light-field tile without blocks carries latents")
            return np.zeros(shape, dtype=np.float32)
        grids = block_grids(coords)
        y_grid, z_grid = grids[1], grids[3]
        z_q = torch.empty(len(z_grid), self.model.config["hyper_channels"], dtype=torch.int64)
        reader = binary_reader(self.coder, sections[1])
        z_q[coding_order(z_grid)] = gaussian.read(reader, self._hyper_scales(len(z_grid)))
        reader.finish()
        mean, scale = self.model.latent_parameters(z_grid.replace(z_q.to(torch.float32)), grids)
        order = coding_order(y_grid)
        y_q = torch.empty(mean.shape, dtype=torch.int64)
        reader = binary_reader(self.coder, sections[2])
        y_q[order] = gaussian.read(reader, scale[order])
        reader.finish()
        decoded = self.model.synthesis(y_grid.replace(y_q + mean), grids, rate)
        return self._views(decoded, grids[0], mask, shape)

    def _hyper_scales(self, count):
        return self.model.hyper_scale().expand(count, -1)

    @staticmethod
    def _views(decoded, x0, mask, shape):
        """Block pixels on ``x0``'s rows -> (U, V, h, w, 3) float views, black where no block."""
        u, v, h, w, c = shape
        blocks = torch.zeros(*mask.shape, BLOCK, BLOCK, c)
        where = x0.coordinates[:, 1:].to(torch.int64)
        blocks[tuple(where.T)] = decoded.clamp(0, 1).reshape(-1, BLOCK, BLOCK, c)
        views = blocks.permute(0, 1, 2, 4, 3, 5, 6).reshape(u, v, mask.shape[2] * BLOCK, mask.shape[3] * BLOCK, c)
        return views[:, :, :h, :w].numpy()


def _read_mask(section, shape):
    count = int(np.prod(shape))
    try:
        raw = zlib.decompress(section)
    except zlib.error:
        raise BitstreamError("light-field block mask is corrupted") from None
    if len(raw) != -(-count // 8):
        raise BitstreamError("light-field block mask does not fit the light field's shape")
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=count).astype(bool).reshape(shape)
