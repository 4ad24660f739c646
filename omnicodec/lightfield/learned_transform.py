"""4D light-field codec: a learned separable 4D block transform with a sparse 4D hyperprior.

:class:`LightFieldCodec` (the codec of omnicodec.codec) cuts a light field into tiles of
all views x TILE x TILE pixels, each coded on its own by a :class:`LightFieldTileCoder`
(which bounds memory). Its header: U, V, H, W (u32), bits per sample (u8: 8 or 16), tile
side (u16), the rate's gain index (f32) and the input's view naming (varint length +
JSON), so that output matches the input; the stream's checksum covers the decoded views.

A light field (U, V, H, W, 3) is cut into 4D blocks: all views of an angular tile
(ANGULAR x ANGULAR views; smaller grids are padded by repeating their edge views) times
BLOCK x BLOCK pixels. Each 4D block is one point of a sparse 4D tensor at (u tile, v tile,
y block, x block).

- Analysis: a separable linear transform of each 4D block, one matrix per axis (colour,
  u, v, y, x; a 4D convolution whose kernel and stride are the block), initialized at
  BT.709 Y'CbCr and the orthonormal DCT-II and trained with the rest. The angular axes are
  where a light field's redundancy lies: neighbouring views are nearly the same picture,
  so most of a block's energy lands in a few low angular frequencies.
- Quantization: every coefficient has a learned step per rate (so one network serves all
  rates; fractional rates interpolate the log steps); the decoder puts a nonzero value
  slightly towards zero (a learned offset per coefficient), as the coefficients are peaked.
- Hyperprior: sparse 4D convolutions over the block grid (and one stride-2 level) give the
  hyper-latent z, coded with a zero-mean Gaussian with a learned scale per channel; the
  hyper-synthesis (a transposed convolution back onto the block grid the decoder knows,
  then 4D convolutions) predicts the scale of every coefficient and the mean of the
  three DC coefficients. Integers are coded as in :mod:`omnicodec.entropy.gaussian`.
- Synthesis: the inverse of each axis's matrix regrows all views and pixels of each block.

Blocks of a view that are exactly black (vignetted Lytro corners, views that are absent)
are left out: a block mask is sent, their pixels are filled with the mean of the other
views before the transform (so they add no angular energy) and the decoder blacks them
out again. A 4D block whose views are all black is not coded at all.
"""

import dataclasses
import math
import struct
import zlib

import numpy as np
import torch
from torch import nn

from omnicodec import bitstream
from omnicodec.codec import Codec, Decoded, Encoded
from omnicodec.entropy import binary_reader, binary_writer, gaussian
from omnicodec.errors import BitstreamError, InputError
from omnicodec.io.lightfield import LightField, Naming
from omnicodec.lightfield.view_coding import dct_matrix
from omnicodec.metrics.lightfield import YCBCR_FROM_RGB
from omnicodec.sparse import Conv, Pool, relu, sparse_tensor
from omnicodec.sparse.keys import pack_keys

BLOCK = 8
ANGULAR = 9
DIMENSION = 4
COEFFICIENTS = 3 * ANGULAR * ANGULAR * BLOCK * BLOCK
LIMIT = 4095  # largest coded magnitude (a DC coefficient at a fine step can reach ~2000)
# Rate-distortion weights of the rates (loss = bpp + lambda * (6 MSE_Y + MSE_Cb + MSE_Cr) / 8,
# 8-bit scale) and the quantization steps the rates start training from: lambda = 26 / step^2,
# where a step's rate and distortion balance for an orthonormal transform at high rate.
LAMBDAS = (0.00016, 0.0012, 0.0083, 0.065)
INITIAL_STEPS = (400.0, 150.0, 56.0, 20.0)
CHANNEL_WEIGHTS = (6 / 8, 1 / 8, 1 / 8)  # of PSNR-YUV


def to_blocks(views):
    """(N, U, V, H, W, 3) float views -> ((N, U', V', H', W', ANGULAR, ANGULAR, BLOCK, BLOCK, 3)
    4D blocks, (N, U', V', H', W', ANGULAR, ANGULAR) bool "view block is black"). U, V are
    padded to multiples of ANGULAR and H, W to multiples of BLOCK by repeating the edge.
    Black view blocks are filled with the mean of the other views of their 4D block."""
    n, u, v, h, w, c = views.shape
    pad = (0, 0, 0, -w % BLOCK, 0, -h % BLOCK, 0, -v % ANGULAR, 0, -u % ANGULAR)
    padded = views
    if any(pad):  # replicate-padding works on the trailing dims of a 5D+ input: fold them
        flat = views.permute(0, 5, 1, 2, 3, 4).reshape(n * c, 1, u, v, h * w)
        flat = torch.nn.functional.pad(flat, (0, 0, 0, -v % ANGULAR, 0, -u % ANGULAR), mode="replicate")
        u2, v2 = flat.shape[2:4]
        flat = flat.reshape(n * c, u2 * v2, h, w)
        flat = torch.nn.functional.pad(flat, (0, -w % BLOCK, 0, -h % BLOCK), mode="replicate")
        padded = flat.reshape(n, c, u2, v2, flat.shape[2], flat.shape[3]).permute(0, 2, 3, 4, 5, 1)
    _, u2, v2, h2, w2, _ = padded.shape
    blocks = padded.reshape(n, u2 // ANGULAR, ANGULAR, v2 // ANGULAR, ANGULAR,
                            h2 // BLOCK, BLOCK, w2 // BLOCK, BLOCK, c)
    blocks = blocks.permute(0, 1, 3, 5, 7, 2, 4, 6, 8, 9)
    black = (blocks == 0).all(dim=-1).all(dim=-1).all(dim=-1)
    present = (~black).to(blocks.dtype)[..., None, None, None]
    count = present.sum(dim=(5, 6), keepdim=True).clamp(min=1)
    mean = (blocks * present).sum(dim=(5, 6), keepdim=True) / count
    return torch.where(black[..., None, None, None], mean, blocks), black


def from_blocks(blocks, shape):
    """Inverse of :func:`to_blocks`' layout: -> (N, U, V, H, W, 3) cropped to ``shape``."""
    n, bu, bv, bh, bw = blocks.shape[:5]
    views = blocks.permute(0, 1, 5, 2, 6, 3, 7, 4, 8, 9).reshape(
        n, bu * ANGULAR, bv * ANGULAR, bh * BLOCK, bw * BLOCK, 3)
    _, u, v, h, w, _ = shape
    return views[:, :u, :v, :h, :w]


class BlockTransform(nn.Module):
    """Separable linear transform of 4D blocks: colour, u, v, y and x matrices."""

    def __init__(self):
        super().__init__()
        self.colour = nn.Parameter(torch.tensor(YCBCR_FROM_RGB, dtype=torch.float32))
        self.u = nn.Parameter(dct_matrix(ANGULAR))
        self.v = nn.Parameter(dct_matrix(ANGULAR))
        self.y = nn.Parameter(dct_matrix(BLOCK))
        self.x = nn.Parameter(dct_matrix(BLOCK))

    def forward(self, blocks):
        """(..., A, A, B, B, 3) samples centred on 0 -> (..., COEFFICIENTS) coefficients,
        ordered (colour, fu, fv, fy, fx)."""
        out = torch.einsum("...uvyxc,ac,pu,qv,ry,sx->...apqrs", blocks, self.colour, self.u,
                           self.v, self.y, self.x)
        return out.reshape(*blocks.shape[:-5], COEFFICIENTS)

    def inverse(self, coefficients):
        shape = (*coefficients.shape[:-1], 3, ANGULAR, ANGULAR, BLOCK, BLOCK)
        inv = [torch.linalg.inv(m) for m in (self.colour, self.u, self.v, self.y, self.x)]
        return torch.einsum("...apqrs,ca,up,vq,yr,xs->...uvyxc", coefficients.reshape(shape), *inv)

    def channel_mse(self, error):
        """Mean squared error per Y'CbCr channel of a (..., A, A, B, B, 3) RGB error."""
        ycbcr = error @ torch.tensor(YCBCR_FROM_RGB, dtype=error.dtype).t()
        return (ycbcr**2).reshape(-1, 3).mean(dim=0)


class LightFieldModel(nn.Module):
    def __init__(self, channels=128, hyper_channels=64, rates=len(LAMBDAS)):
        super().__init__()
        c, h = channels, hyper_channels
        self.config = {"channels": channels, "hyper_channels": hyper_channels, "rates": rates}
        d = DIMENSION
        self.transform = BlockTransform()
        steps = torch.tensor(INITIAL_STEPS[:rates] + INITIAL_STEPS[-1:] * max(0, rates - len(INITIAL_STEPS)))
        self.log_steps = nn.Parameter(torch.log(steps)[:, None].repeat(1, COEFFICIENTS))
        self.offset_logits = nn.Parameter(torch.full((COEFFICIENTS,), -2.0))
        self.hyper_in = nn.Linear(COEFFICIENTS, c)
        self.hyper_conv = Conv(c, c, 3, dimension=d)
        self.hyper_down = Conv(c, h, 3, stride=2, dimension=d)
        self.hyper_log_scale = nn.Parameter(torch.zeros(h))
        self.hyper_up = Conv(h, c, 3, stride=2, transpose=True, dimension=d)
        self.hyper_conv2 = Conv(c, c, 3, dimension=d)
        self.hyper_out = nn.Linear(c, COEFFICIENTS + 3)

    @property
    def rates(self):
        return self.config["rates"]

    def parameter_groups(self, lr):
        """Optimizer groups: the transform's matrices (which start at a good transform) and
        the hyperprior's input layer (whose every output sums all COEFFICIENTS inputs, so
        Adam's per-weight steps add up) move 50 times slower than the rest."""
        slow_names = ("transform.", "hyper_in.")
        slow = [p for name, p in self.named_parameters() if name.startswith(slow_names)]
        rest = [p for name, p in self.named_parameters() if not name.startswith(slow_names)]
        return [{"params": rest, "lr": lr, "base_lr": lr}, {"params": slow, "lr": lr / 50, "base_lr": lr / 50}]

    def steps(self, rate):
        """Quantization step of every coefficient at a rate index (fractional: interpolated)."""
        low = min(int(rate), self.rates - 1)
        high = min(low + 1, self.rates - 1)
        t = rate - low
        return torch.exp((1 - t) * self.log_steps[low] + t * self.log_steps[high])

    def coefficients(self, blocks):
        """4D blocks of samples in [0, 255] -> coefficients."""
        return self.transform(blocks - 128.0)

    def samples(self, coefficients):
        return self.transform.inverse(coefficients) + 128.0

    def dequantize(self, q, rate):
        """Integers -> coefficients, nonzero values moved towards zero by the learned offset."""
        offset = 0.5 * torch.sigmoid(self.offset_logits)
        return (q - torch.sign(q) * offset) * self.steps(rate)

    def hyper_analysis(self, grid, scaled):
        """Coefficients / steps on the block grid -> hyper-latent z (stride 2)."""
        x = relu(grid.replace(self.hyper_in(torch.log1p(scaled.abs()))))
        return self.hyper_down(relu(self.hyper_conv(x)))

    def hyper_synthesis(self, z_hat, grid):
        """Rounded z -> (scale of every coefficient, mean of every coefficient: nonzero
        only for the three DC terms), in units of the steps, on ``grid``'s rows."""
        x = relu(self.hyper_conv2(relu(self.hyper_up(z_hat, out=grid))))
        out = self.hyper_out(x.features)
        scale = torch.exp(out[:, :COEFFICIENTS].clamp(-4.0, 9.0))
        mean = torch.zeros_like(scale)
        dc = torch.arange(3) * (COEFFICIENTS // 3)
        mean[:, dc] = 64.0 * out[:, COEFFICIENTS:]
        return scale, mean

    def hyper_scale(self):
        return torch.exp(self.hyper_log_scale)

    def training_terms(self, views, rate):
        """Teacher pass over (N, U, V, H, W, 3) views in [0, 1]: (bits of the coefficients
        under uniform quantization noise and of z, per-channel Y'CbCr MSE of the
        reconstruction at rounding, over the pixels that are not black)."""
        blocks, black = to_blocks(views * 255.0)
        shape = blocks.shape[:5]
        grid_coords = torch.from_numpy(np.argwhere(np.ones(tuple(shape), dtype=bool)))
        grid = sparse_tensor(grid_coords[:, 1:], torch.zeros(len(grid_coords), 1), grid_coords[:, 0])
        rows = _cell_rows(grid, grid_coords)  # engine row -> flat block index
        coefficients = self.coefficients(blocks).reshape(-1, COEFFICIENTS)[rows]
        steps = self.steps(rate)
        scaled = coefficients / steps
        z = self.hyper_analysis(grid, scaled)
        # z with uniform noise both for its bits and as the hyper-synthesis input (as
        # CompressAI's entropy bottleneck): rounded, a small z would be all zeros at first
        # and no gradient would reach the hyper-synthesis.
        z_noisy = z.features + torch.empty_like(z.features).uniform_(-0.5, 0.5)
        z_bits = gaussian.likelihood_bits(z_noisy, self.hyper_scale()).sum()
        scale, mean = self.hyper_synthesis(z.replace(z_noisy), grid)
        centred = scaled - mean
        noisy = centred + torch.empty_like(centred).uniform_(-0.5, 0.5)
        y_bits = gaussian.likelihood_bits(noisy, scale).sum()
        q = mean + centred + (torch.round(centred) - centred).detach()
        decoded = torch.empty_like(coefficients)
        decoded[rows] = self.dequantize(q - mean, rate) + mean * steps
        samples = self.samples(decoded.reshape(*shape, COEFFICIENTS))
        keep = (~black)[..., None, None, None]
        error = torch.where(keep, samples - blocks, torch.zeros_like(samples))
        mse = self.transform.channel_mse(error) * error.numel() / max(int(keep.sum()) * BLOCK * BLOCK * 3, 1)
        return y_bits + z_bits, mse


# Bits of a key column: batch index, then each block-grid axis (a tile of 4096 pixels has
# 512 blocks; a grid of views 8191 angular tiles).
_KEY_WIDTHS = (8, 13, 13, 13, 13)


def _keys(coordinates):
    """One int64 per row of (N, 1 + D) integer coordinates (batch first), ordered as the
    coordinates are lexicographically."""
    return pack_keys(coordinates, _KEY_WIDTHS[:coordinates.shape[1]])


def _row_keys(x):
    return _keys(x.coordinates)


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


def _cell_rows(grid, cells):
    """For each row of ``grid``, its index among ``cells`` ((M, 1 + D) coordinates, batch
    first, in lexicographic order as np.argwhere gives them)."""
    return torch.searchsorted(_keys(cells), _row_keys(grid))


class LightFieldTileCoder:
    """A light-field model and a coder: a tile (all views x up to tile x tile pixels)
    <-> its sections: view-block mask, hyper-latent, coefficients.

    The encoder runs the decoder's own path (the block grid and its pooled coarse grid made
    from the mask, values in coordinate order) to get the probabilities and its
    reconstruction, so both sides compute them from the same inputs in the same way.
    """

    sections_per_tile = 3

    def __init__(self, model, coder):
        self.model = model.eval()
        self.coder = coder

    @torch.no_grad()
    def compress_tile(self, views, rate):
        """Float views (U, V, h, w, 3) in [0, 1] (exact zeros where black) -> (sections,
        reconstruction of the same shape)."""
        blocks, black = to_blocks(torch.from_numpy(np.ascontiguousarray(views, dtype=np.float32))[None] * 255.0)
        present = ~black[0].numpy()
        sections = [zlib.compress(np.packbits(present).tobytes(), 9)]
        cells = torch.from_numpy(np.argwhere(present.any(axis=(4, 5))))
        if not len(cells):
            return sections + [b"", b""], np.zeros_like(views)
        coefficients = self.model.coefficients(blocks[0][tuple(cells.T)])
        grid, z_grid = self._grids(cells)
        scaled = coefficients[_cell_rows(grid, _batch_zero(cells))] / self.model.steps(rate)
        z = self.model.hyper_analysis(grid, scaled)
        z_q = gaussian.quantize(z.features[rows_of(z_grid, z)])
        writer = binary_writer(self.coder)
        gaussian.write(writer, z_q[coding_order(z_grid)], self._hyper_scales(len(z_grid)))
        sections.append(writer.finish())
        scale, mean = self.model.hyper_synthesis(z_grid.replace(z_q.to(torch.float32)), grid)
        q = gaussian.quantize(scaled - mean, LIMIT)
        order = coding_order(grid)
        writer = binary_writer(self.coder)
        gaussian.write(writer, q[order], scale[order], LIMIT)
        sections.append(writer.finish())
        return sections, self._views(q, scale, mean, grid, cells, present, views.shape, rate)

    @torch.no_grad()
    def decompress_tile(self, sections, shape, rate):
        """Inverse of :meth:`compress_tile` for a tile of ``shape`` (U, V, h, w, 3)."""
        present = _read_mask(sections[0], _mask_shape(shape))
        cells = torch.from_numpy(np.argwhere(present.any(axis=(4, 5))))
        if not len(cells):
            if sections[1] or sections[2]:
                raise BitstreamError("light-field tile without blocks carries coefficients")
            return np.zeros(shape, dtype=np.float32)
        grid, z_grid = self._grids(cells)
        z_q = torch.empty(len(z_grid), self.model.config["hyper_channels"], dtype=torch.int64)
        reader = binary_reader(self.coder, sections[1])
        z_q[coding_order(z_grid)] = gaussian.read(reader, self._hyper_scales(len(z_grid)))
        reader.finish()
        scale, mean = self.model.hyper_synthesis(z_grid.replace(z_q.to(torch.float32)), grid)
        order = coding_order(grid)
        q = torch.empty(scale.shape, dtype=torch.int64)
        reader = binary_reader(self.coder, sections[2])
        q[order] = gaussian.read(reader, scale[order], LIMIT)
        reader.finish()
        return self._views(q, scale, mean, grid, cells, present, shape, rate)

    @staticmethod
    def _grids(cells):
        """The block grid of the coded 4D blocks and its stride-2 grid (by pooling)."""
        grid = sparse_tensor(cells, torch.zeros(len(cells), 1))
        return grid, Pool("max", 2, 2, DIMENSION)(grid)

    def _hyper_scales(self, count):
        return self.model.hyper_scale().expand(count, -1)

    def _views(self, q, scale, mean, grid, cells, present, shape, rate):
        """Integers on ``grid``'s rows -> (U, V, h, w, 3) float views in [0, 1], black
        where the mask says so."""
        decoded = self.model.dequantize(q.to(torch.float32), rate) + mean * self.model.steps(rate)
        coefficients = torch.empty_like(decoded)
        coefficients[_cell_rows(grid, _batch_zero(cells))] = decoded
        samples = self.model.samples(coefficients)
        blocks = torch.zeros(*present.shape, BLOCK, BLOCK, 3)
        blocks[tuple(cells.T)] = samples
        blocks[torch.from_numpy(~present)] = 0.0
        views = from_blocks(blocks[None], (1, *shape))[0]
        return (views / 255.0).clamp(0, 1).numpy()


def _batch_zero(cells):
    return torch.nn.functional.pad(cells, (1, 0))


def _mask_shape(shape):
    """Shape of a tile's view-block mask: (U', V', H', W', ANGULAR, ANGULAR)."""
    u, v, h, w, _ = shape
    return (-(-u // ANGULAR), -(-v // ANGULAR), -(-h // BLOCK), -(-w // BLOCK), ANGULAR, ANGULAR)


def _read_mask(section, shape):
    count = int(np.prod(shape))
    try:
        raw = zlib.decompress(section)
    except zlib.error:
        raise BitstreamError("light-field block mask is corrupted") from None
    if len(raw) != -(-count // 8):
        raise BitstreamError("light-field block mask does not fit the light field's shape")
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=count).astype(bool).reshape(shape)


DEFAULT_TILE = 128  # pixels: every tile (all views x 128 x 128) codes on its own
_HEADER = struct.Struct("<4IBHf")  # U, V, H, W, bits per sample, tile, gain index


class LightFieldCodec(Codec):
    """The light-field codec: tiles of all views coded by a :class:`LightFieldTileCoder`;
    ``rate`` 1 (fewest bits) .. the card's last rate, fractional rates in between."""

    network = LightFieldModel
    options = ("tile",)
    unit = "pixel"
    takes_rate = True

    def prepare(self, data, tile=None):
        tile = DEFAULT_TILE if tile is None else tile
        if not isinstance(data, LightField):
            raise InputError("the light-field codec codes light fields (U, V, H, W, 3 views)")
        if not 16 <= tile <= 4096 or tile % 16:
            raise InputError(f"tile must be a multiple of 16 between 16 and 4096, not {tile}")
        return data, tile

    def encode(self, prepared, rate=None, progress=None, reference=None):
        lightfield, tile = prepared
        model = self._model
        gain_index = float(np.float32((1 if rate is None else rate) - 1))
        if not 0 <= gain_index <= model.rates - 1:
            raise InputError(f"rate {rate} is out of range: light-field rates are 1 to {model.rates}")
        coder = LightFieldTileCoder(model, self.coder)
        views = lightfield.views
        sample_bits = 8 * views.dtype.itemsize
        peak = float((1 << sample_bits) - 1)
        u, v, h, w, _ = views.shape
        sections, decoded = [], np.zeros(views.shape, dtype=views.dtype)
        places = _tiles(h, w, tile)
        for i, (y, x) in enumerate(places):
            piece = views[:, :, y:y + tile, x:x + tile].astype(np.float32) / peak
            tile_sections, rebuilt = coder.compress_tile(piece, gain_index)
            sections += tile_sections
            decoded[:, :, y:y + tile, x:x + tile] = np.round(rebuilt * peak)
            if progress:
                progress(1, len(places))
        header = _HEADER.pack(u, v, h, w, sample_bits, tile, gain_index) + lightfield.naming.pack()
        return Encoded(header=header, sections=sections, checksum=bitstream.checksum(decoded),
                       decoded=LightField(decoded, lightfield.naming),
                       details=self._details((u, v, h, w), gain_index, len(places)))

    def decode(self, header, sections, progress=None, reference=None):
        shape, sample_bits, tile, gain_index, naming = self._fields(header)
        model = self._model
        if not 0 <= gain_index < model.rates:
            raise BitstreamError("light-field header is corrupted")
        coder = LightFieldTileCoder(model, self.coder)
        u, v, h, w = shape
        places = _tiles(h, w, tile)
        per_tile = coder.sections_per_tile
        if len(sections) != per_tile * len(places):
            raise BitstreamError("bitstream section table does not match its light field's tiles")
        peak = float((1 << sample_bits) - 1)
        views = np.zeros((u, v, h, w, 3), dtype=np.uint8 if sample_bits == 8 else np.uint16)
        for i, (y, x) in enumerate(places):
            piece_shape = (u, v, min(tile, h - y), min(tile, w - x), 3)
            piece = coder.decompress_tile(sections[i * per_tile:(i + 1) * per_tile], piece_shape,
                                          gain_index)
            views[:, :, y:y + tile, x:x + tile] = np.round(piece * peak)
            if progress:
                progress(1, len(places))
        return Decoded(LightField(views, naming), bitstream.checksum(views),
                       self._details(shape, gain_index, len(places)))

    @classmethod
    def describe(cls, header):
        (u, v, h, w), sample_bits, tile, gain_index, naming = cls._fields(header)
        return {"views": f"{u}x{v}", "view size": f"{h}x{w}", "bits per sample": sample_bits,
                "rate": round(gain_index + 1, 4), "tile": tile, "naming": dataclasses.asdict(naming)}

    @classmethod
    def input_units(cls, header):
        return math.prod(cls._fields(header)[0])

    @property
    def _model(self):
        return self.load_network()

    @staticmethod
    def _details(shape, gain_index, tiles):
        u, v, h, w = shape
        return {"views": f"{u}x{v}", "view size": f"{h}x{w}", "pixels": u * v * h * w,
                "rate": round(gain_index + 1, 4), "tiles": tiles}

    @staticmethod
    def _fields(header):
        """The codec header -> (shape, sample bits, tile, gain index, Naming)."""
        try:
            *shape, sample_bits, tile, gain_index = _HEADER.unpack_from(header)
            naming = Naming.unpack(header, _HEADER.size)
        except (struct.error, ValueError, TypeError, UnicodeDecodeError, BitstreamError):
            raise BitstreamError("light-field header is corrupted") from None
        if sample_bits not in (8, 16) or not 16 <= tile <= 4096 or not math.isfinite(gain_index):
            raise BitstreamError("light-field header is corrupted")
        return tuple(shape), sample_bits, tile, gain_index, naming


def _tiles(height, width, tile):
    return [(y, x) for y in range(0, height, tile) for x in range(0, width, tile)]
