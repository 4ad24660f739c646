"""Transform coding of views (a light field's key view, and what a view's prediction
misses) with a context-adaptive entropy model of learned scales.

A view (or the residual of its prediction) in BT.709 Y'CbCr is cut into BLOCK x BLOCK
blocks per plane and transformed by the orthonormal 2D DCT-II; the coefficients, in zigzag
order, are quantized by a step per plane (a dead zone rounds small values to zero, which
saves more bits than it costs) and coded frequency band by frequency band, after a flag
per block and plane that says whether it has anything to send. A coefficient's integer is
coded under a zero-centred discretized logistic (with a heavy tail) whose scale is learned
per (kind of view, plane, band, context, feature) cell:

- context: how much the block and its four neighbours already hold in lower bands (a
  block whose low frequencies are zero rarely has high ones);
- feature: for a residual, how uncertain the decoder's prediction is in that block (the
  spread of the warped views it blends and its gradients, in steps), which both sides
  know before the residual is coded.

The key view's DC coefficients are sent coarse to fine on lattices of halving spacing,
each predicted from its already sent neighbours, in a context of their spread. The scales
and the flags' odds are fitted on training light fields (:func:`fit`); encoder and decoder
compute them the same way from integers already sent and from the prediction both hold.
"""

import functools
import math

import numpy as np
import torch
from torch import nn

from omnicodec import fixedpoint
from omnicodec.entropy import binary_frequencies, logistic
from omnicodec.errors import BitstreamError
from omnicodec.metrics.lightfield import YCBCR_FROM_RGB

BLOCK = 8
BAND_EDGES = (0, 1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 64)  # zigzag positions starting each band
BANDS = len(BAND_EDGES) - 1
CONTEXTS = 10
FEATURES = 8
KINDS = ("key", "residual")
PLANES = 3
LIMIT = 8191  # largest coded magnitude (a DC at step 0.25: 8 x 255 / 0.25)
TAIL = (0.001, 30.0)  # each logistic mixed with one 30 times wider: outliers cost tens of bits
TAIL_FIXED = (1, 79)  # the same for integer logistics: weight 1/1024, 2^(79/16) = 30.6 times wider
DEAD_ZONE = 0.22  # of a step: |x| / step is rounded down below n + 0.5 + DEAD_ZONE


def zigzag():
    order = sorted(((y, x) for y in range(BLOCK) for x in range(BLOCK)),
                   key=lambda p: (p[0] + p[1], p[1] if (p[0] + p[1]) % 2 == 0 else p[0]))
    return torch.tensor([y * BLOCK + x for y, x in order])


def dct_matrix(n):
    """The orthonormal DCT-II: row k is the k-th basis vector."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix.to(torch.float32)


def to_ycbcr(rgb):
    """(..., 3) RGB -> (..., 3) Y'CbCr, linear (no offsets: for residuals and centred views)."""
    return rgb @ torch.tensor(YCBCR_FROM_RGB, dtype=torch.float32).t()


def to_rgb(ycbcr):
    return ycbcr @ torch.linalg.inv(torch.tensor(YCBCR_FROM_RGB, dtype=torch.float32)).t()


def forward(planes):
    """(P, H, W) planes -> (P, H', W', BLOCK * BLOCK) zigzag DCT coefficients of the blocks
    (H, W padded to multiples of BLOCK by repeating the edge)."""
    p, h, w = planes.shape
    padded = torch.nn.functional.pad(planes[None], (0, -w % BLOCK, 0, -h % BLOCK), mode="replicate")[0]
    hb, wb = padded.shape[1] // BLOCK, padded.shape[2] // BLOCK
    blocks = padded.reshape(p, hb, BLOCK, wb, BLOCK).permute(0, 1, 3, 2, 4)
    m = dct_matrix(BLOCK)
    coefficients = torch.einsum("ry,sx,pabyx->pabrs", m, m, blocks).reshape(p, hb, wb, BLOCK * BLOCK)
    return coefficients[..., zigzag()]


def inverse(coefficients, height, width):
    """Inverse of :func:`forward`, cropped to (P, height, width)."""
    p, hb, wb, _ = coefficients.shape
    natural = torch.empty_like(coefficients)
    natural[..., zigzag()] = coefficients
    m = dct_matrix(BLOCK)
    blocks = torch.einsum("ry,sx,pabrs->pabyx", m, m, natural.reshape(p, hb, wb, BLOCK, BLOCK))
    return blocks.permute(0, 1, 3, 2, 4).reshape(p, hb * BLOCK, wb * BLOCK)[:, :height, :width]


def quantize(coefficients, steps, dead_zone=DEAD_ZONE):
    """Coefficients (P, ..., K) / the plane's step -> integers, with a dead zone."""
    scaled = coefficients / steps.reshape(-1, *([1] * (coefficients.dim() - 1)))
    magnitude = torch.floor(scaled.abs() + 0.5 - dead_zone).clamp(min=0, max=LIMIT)
    return (torch.sign(scaled) * magnitude).to(torch.int64)


def dequantize(q, steps):
    return q.to(torch.float32) * steps.reshape(-1, *([1] * (q.dim() - 1)))


def block_feature(spread, steps):
    """(P, H, W) prediction uncertainty (in the planes' units) -> (P, H', W') feature bins:
    log2(1 + RMS over the block / step), in halves."""
    energy = forward(spread ** 2)[..., 0] / BLOCK  # DC of the squares = BLOCK x their mean
    rms = energy.clamp(min=0).sqrt() / steps.reshape(-1, 1, 1)
    return torch.floor(2 * torch.log2(1 + rms)).clamp(0, FEATURES - 1).to(torch.int64)


def _context(low, band):
    """(P, H', W') context bins of ``band`` from ``low``, the summed magnitudes of the lower
    bands of each block (a key view's DC, its brightness, left out), and its four
    neighbours': floor(1.5 log2(1 + own + the neighbours' mean)), in integers (of 4 x that
    sum)."""
    if band == 0:
        return torch.zeros(low.shape, dtype=torch.int64)
    padded = torch.nn.functional.pad(low[None], (1, 1, 1, 1))[0]
    around = padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
    # floor(1.5 log2(x / 4)) = floor(1.5 log2 x) - 3
    return (fixedpoint.log2_bins(4 + 4 * low + around, 3, 2, CONTEXTS + 1) - 3).clamp(min=0)


def dc_feature(dc):
    """(P, H', W') feature bins of a key view's blocks from their DC integers: how much the
    DC changes from the blocks left of and above them (edges and texture), floor(2 log2(1
    + change))."""
    padded = torch.nn.functional.pad(dc[None], (1, 0, 1, 0), mode="replicate")[0]
    change = (padded[:, 1:, 1:] - padded[:, 1:, :-1]).abs() + (padded[:, 1:, 1:] - padded[:, :-1, 1:]).abs()
    return fixedpoint.log2_bins(1 + change, 2, 1, FEATURES - 1)


def _dc_passes(shape):
    """The passes in which a key view's (H', W') DC grid is sent, coarse to fine: each a
    (rows, cols) index pair of the DC it sends and the (rows, cols) of the up to four
    already sent neighbours that predict it (-1: none). The first pass sends the corners
    of the coarsest lattice; then at each lattice spacing the centres of its squares (from
    their four corners), then the middles of their edges (from the two corners and two
    centres around them)."""
    h, w = shape
    spacing = 1
    while spacing * 2 < max(h, w):
        spacing *= 2
    known = np.zeros((h, w), dtype=bool)
    rows, cols = np.mgrid[0:h:spacing, 0:w:spacing]
    passes = [((rows.ravel(), cols.ravel()), None)]
    known[rows, cols] = True
    while spacing > 1:
        half = spacing // 2
        for offsets, around in ((((half, half),), ((-half, -half), (-half, half), (half, -half), (half, half))),
                                (((0, half), (half, 0)), ((-half, 0), (half, 0), (0, -half), (0, half)))):
            r, c = [], []
            for dy, dx in offsets:
                rr, cc = np.mgrid[dy:h:spacing, dx:w:spacing]
                r.append(rr.ravel())
                c.append(cc.ravel())
            r, c = np.concatenate(r), np.concatenate(c)
            fresh = ~known[r, c]
            r, c = r[fresh], c[fresh]
            nr = np.stack([r + dy for dy, _ in around], axis=1)
            nc = np.stack([c + dx for _, dx in around], axis=1)
            usable = (nr >= 0) & (nr < h) & (nc >= 0) & (nc < w)
            usable &= known[nr.clip(0, h - 1), nc.clip(0, w - 1)]
            passes.append(((r, c), (np.where(usable, nr, -1), np.where(usable, nc, -1))))
            known[r, c] = True
        spacing = half
    return passes


def _dc_prediction(dc, neighbours):
    """(P, N) integer predictions (the mean of the usable neighbours' DC, rounded) and
    (P, N) context bins (their spread, floor(1.5 log2(1 + spread))) for a pass."""
    nr, nc = neighbours
    usable = torch.from_numpy(nr >= 0)
    values = dc[:, torch.from_numpy(nr.clip(min=0)), torch.from_numpy(nc.clip(min=0))]  # (P, N, 4)
    count = usable.sum(dim=1).clamp(min=1)
    total = torch.where(usable, values, torch.zeros_like(values)).sum(dim=-1)
    prediction = torch.div(total + count // 2, count, rounding_mode="floor")
    high = torch.where(usable, values, torch.full_like(values, -(1 << 30))).amax(dim=-1)
    low = torch.where(usable, values, torch.full_like(values, 1 << 30)).amin(dim=-1)
    return prediction, fixedpoint.log2_bins(1 + high - low, 3, 2, CONTEXTS - 1)


class _ViewTables(nn.Module):
    """How a view's integers are coded under fitted tables, whatever arithmetic the tables
    hold: a subclass gives each scale cell's :meth:`scales` and each flag cell's
    :meth:`flag_frequencies`."""

    integer = False

    def code(self, q, kind, feature, writer=None, reader=None, collect=None, offsets=None):
        """Write (``writer``), read (``reader``, ``q`` None) or add to a
        :class:`Statistics` (``collect``) the (P, H', W', K) integers of a view; returns
        them. ``feature``: (P, H', W') bins (a key view's are made here from its DC);
        ``offsets``: (P, BANDS) int64 added to the log-scale indices of the view's cells
        (integer tables only; :func:`code_scale_offsets`)."""
        io = (writer, reader, collect, offsets)
        if reader is not None:
            q = torch.zeros((*feature.shape, BLOCK * BLOCK), dtype=torch.int64)
        first = 0
        if kind == "key":
            q[..., 0] = self._code_dc(q[..., 0], *io)
            feature = dc_feature(q[..., 0])
            first = 1
        coded = self._code_flags(kind, feature, None if reader is not None else (q[..., first:] != 0).any(dim=-1),
                                 *io[:3])
        planes = torch.arange(PLANES).reshape(-1, 1, 1).expand_as(feature)[coded]
        low = torch.zeros(feature.shape, dtype=torch.int64)  # the magnitudes of the bands coded so far
        for band in range(first, BANDS):
            lo, hi = BAND_EDGES[band], BAND_EDGES[band + 1]
            cells = tuple(x[:, None].expand(-1, hi - lo) for x in (planes, _context(low, band)[coded], feature[coded]))
            part = q[..., lo:hi]
            part[coded] = self._values(kind, band, cells, part[coded], *io)
            q[..., lo:hi] = part
            low += part.abs().sum(dim=-1)
        return q

    def _code_flags(self, kind, feature, coded, writer, reader, collect):
        """The (P, H', W') coded-block flags, plane by plane (a chroma block's context also
        holds whether its luma block is coded)."""
        out = torch.zeros(feature.shape, dtype=torch.bool)
        luma = torch.zeros(feature.shape[1:], dtype=torch.int64)
        for plane in range(PLANES):
            index = (KINDS.index(kind), plane, feature[plane], luma)
            if collect is not None:
                collect.flags(index, coded[plane])
                out[plane] = coded[plane]
            else:
                frequencies = self.flag_frequencies(index)
                if reader is not None:
                    out[plane] = reader.read(frequencies).reshape(luma.shape)
                else:
                    writer.write(frequencies, coded[plane].reshape(-1))
                    out[plane] = coded[plane]
            if plane == 0:
                luma = out[0].to(torch.int64)
        return out

    def _values(self, kind, band, cells, values, writer, reader, collect, offsets):
        """Code integers in their (plane, context, feature) cells of ``band``; returns them."""
        planes, context, feature = cells
        if collect is not None:
            collect.values(KINDS.index(kind), band, planes, context, feature, values)
            return values
        return code_zero_centred(values, self.cell_scales(KINDS.index(kind), planes, band, context, feature, offsets),
                                 writer, reader).reshape(planes.shape)

    def cell_scales(self, kind, planes, band, context, feature, offsets=None):
        """The scales of the cells (their log-scale indices, moved by ``offsets``), flat."""
        scales = self.scales(kind, planes, band, context, feature)
        if offsets is None:
            return scales
        return (scales + offsets[planes.reshape(-1), band]).clamp(*logistic.SCALE_INDICES)

    def _code_dc(self, dc, writer, reader, collect, offsets):
        """A key view's (P, H', W') DC integers by :func:`code_lattice`."""
        def values(truth, context, feature):
            planes = torch.arange(PLANES).reshape(-1, 1).expand_as(context)
            return self._values("key", 0, (planes, context, feature), truth, writer, reader, collect, offsets)

        return code_lattice(dc, values, reader is not None)


class ViewEntropyModel(_ViewTables):
    """lightfield-v2's tables, fitted (:func:`fit`, not gradients): ``log_scales[kind,
    plane, band, context, feature]`` of the integers, and ``coded_logits[kind, plane,
    feature, luma coded]`` of the flag that says whether a block has any nonzero integer
    to send (a key view's DC aside, which is always sent). Flags make blocks with nothing
    to send, most of a well predicted view, nearly free."""

    def __init__(self):
        super().__init__()
        self.config = {}
        self.register_buffer("log_scales", torch.zeros(len(KINDS), PLANES, BANDS, CONTEXTS, FEATURES))
        self.register_buffer("coded_logits", torch.zeros(len(KINDS), PLANES, FEATURES, 2))

    def scales(self, *cell):
        return torch.exp(self.log_scales[cell]).reshape(-1)

    def rate_scales(self, *cell, offsets=None):
        if offsets is not None:
            raise ValueError("scale offsets move integer tables only")
        return self.scales(*cell)

    def flag_frequencies(self, index):
        return binary_frequencies(torch.sigmoid(self.coded_logits[index]).reshape(-1))

    @staticmethod
    def disparity_scales(exponent, count):
        return torch.full((count,), 2.0 ** (exponent / 4))


class IntegerViewEntropyModel(_ViewTables):
    """lightfield-v3's tables: :class:`ViewEntropyModel`'s in integers, the same on every
    machine: ``scale_indices`` (int64 log-scale indices of :class:`IntegerLogistic`, scale
    2^(index / 16)) and ``flag_table`` (int32 frequencies of a 1, in 1/2^16)."""

    integer = True

    def __init__(self, arithmetic="integer"):
        super().__init__()
        self.config = {"arithmetic": arithmetic}
        self.register_buffer("scale_indices", torch.zeros(len(KINDS), PLANES, BANDS, CONTEXTS, FEATURES,
                                                          dtype=torch.int64))
        self.register_buffer("flag_table", torch.zeros(len(KINDS), PLANES, FEATURES, 2, dtype=torch.int32))

    @classmethod
    def rounded(cls, model):
        """A :class:`ViewEntropyModel`'s tables rounded: scales to the nearest index, flag
        probabilities to the frequencies it codes with."""
        integer = cls()
        integer.scale_indices.copy_(logistic.scale_index(torch.exp(model.log_scales.double())))
        integer.flag_table.copy_(binary_frequencies(torch.sigmoid(model.coded_logits)))
        return integer

    def scales(self, *cell):
        return self.scale_indices[cell].reshape(-1)

    def rate_scales(self, *cell, offsets=None):
        """The cells' scales (moved by ``offsets``) as floats: the encoder's rate estimates."""
        return logistic.index_scale(self.cell_scales(*cell, offsets))

    def flag_frequencies(self, index):
        return self.flag_table[index].reshape(-1)

    @staticmethod
    def disparity_scales(exponent, count):
        return torch.full((count,), exponent * logistic.SCALE_STEPS // 4, dtype=torch.int64)


def code_zero_centred(values, scales, writer=None, reader=None, limit=LIMIT):
    """Write ``values`` (or read them, ``reader`` given) under zero-centred logistics with
    a heavy tail, within +-``limit``: float ``scales`` (lightfield-v2), or int64 log-scale
    indices of integer logistics (lightfield-v3). Returns the values."""
    if scales.dtype == torch.int64:
        model = logistic.IntegerLogistic(torch.zeros_like(scales), scales, -limit, limit, TAIL_FIXED)
        if reader is not None:
            return logistic.read_integer(reader, model)
        logistic.write_integer(writer, values, model)
        return values
    centre = torch.zeros_like(scales)
    if reader is not None:
        return logistic.read(reader, centre, scales, -limit, limit, TAIL)
    logistic.write(writer, values, centre, scales, -limit, limit, TAIL)
    return values


def code_lattice(grid, values, reading):
    """Send or read a (P, H', W') grid of integers pass by pass (:func:`_dc_passes`), each
    as its difference from its prediction: ``values(truth, context, feature)`` codes (P, N)
    differences (truth None when ``reading``) in their cells (context: the neighbours'
    spread; feature: the pass, as coarse passes differ more) and returns them."""
    planes = grid.shape[0]
    out = torch.zeros_like(grid)
    for index, ((rows, cols), neighbours) in enumerate(_dc_passes(grid.shape[1:])):
        rows, cols = torch.from_numpy(rows), torch.from_numpy(cols)
        if neighbours is None:
            prediction = torch.zeros(planes, len(rows), dtype=torch.int64)
            context = torch.full_like(prediction, CONTEXTS - 1)
        else:
            prediction, context = _dc_prediction(out, neighbours)
        feature = torch.full_like(context, min(index, FEATURES - 1))
        truth = None if reading else grid[:, rows, cols] - prediction
        out[:, rows, cols] = values(truth, context, feature) + prediction
    return out


FLAG_LOGIT = 6.0  # flags' probabilities stay within [0.0025, 0.9975]
HISTOGRAM = 256  # magnitudes the fit counts one by one (larger ones count as this)


class Statistics:
    """What :meth:`ViewEntropyModel.code` saw, for :func:`fit`: counts of the magnitudes
    in each scale cell, and of the flags in each flag cell."""

    def __init__(self):
        self.magnitudes = torch.zeros(len(KINDS), PLANES, BANDS, CONTEXTS, FEATURES, HISTOGRAM, dtype=torch.float64)
        self.flag_counts = torch.zeros(len(KINDS), PLANES, FEATURES, 2, 2, dtype=torch.float64)

    def values(self, kind, band, planes, context, feature, values):
        cells = ((planes * CONTEXTS + context) * FEATURES + feature) * HISTOGRAM + values.abs().clamp(max=HISTOGRAM - 1)
        counts = torch.bincount(cells.reshape(-1), minlength=PLANES * CONTEXTS * FEATURES * HISTOGRAM)
        self.magnitudes[kind, :, band] += counts.reshape(PLANES, CONTEXTS, FEATURES, HISTOGRAM).double()

    def flags(self, index, coded):
        kind, plane, feature, luma = index
        cells = (feature * 2 + luma) * 2 + coded.to(torch.int64)
        counts = torch.bincount(cells.reshape(-1), minlength=FEATURES * 4)
        self.flag_counts[kind, plane] += counts.reshape(FEATURES, 2, 2).double()


class _BlockBits:
    """A ``collect`` for :meth:`ViewEntropyModel.code` that adds up the bits each block's
    integers cost under the model (its flag left out)."""

    def __init__(self, model, coded, offsets=None):
        self.model, self.coded, self.offsets = model, coded, offsets
        self.bits = torch.zeros(coded.shape, dtype=torch.float64)

    def values(self, kind, band, planes, context, feature, values):
        scales = self.model.rate_scales(kind, planes, band, context, feature, offsets=self.offsets).reshape(planes.shape)
        bits = logistic.bits(values.to(torch.float32), torch.zeros_like(scales), scales, -LIMIT, LIMIT, TAIL)
        self.bits[self.coded] += bits.sum(dim=-1).double()

    def flags(self, index, coded):
        pass


def drop_unworthy_blocks(model, q, coefficients, steps, feature, slope, offsets=None, bits=None):
    """The encoder's rate-distortion choice for a residual: the integers ``q`` with every
    block zeroed whose coding lowers its squared error by less than ``slope`` x its
    plane's step^2 per bit it costs (the steps already weigh the planes): ``bits`` (P,
    H', W'), or as the model counts them."""
    if bits is None:
        counter = _BlockBits(model, (q != 0).any(dim=-1), offsets)
        model.code(q, "residual", feature, collect=counter)
        bits = counter.bits.float()
    kept = ((coefficients - dequantize(q, steps)) ** 2).sum(dim=-1)
    gain = (coefficients ** 2).sum(dim=-1) - kept
    worth = gain >= slope * steps.reshape(-1, 1, 1) ** 2 * bits
    return torch.where(worth[..., None], q, torch.zeros_like(q))


# Scale offsets (lightfield-v6): a view may move its cells' scales, per plane and band, by a
# whole number of log-scale indices (1/16 octave) within +-OFFSET_REACH, so the fitted tables
# follow content unlike their training (a real capture's noise, fine texture). A view sends a
# flag, and when it is set the changes from the previous view's offsets of its kind.
OFFSET_REACH = 32
OFFSET_CHANGE_SCALE = 16  # log-scale index of the logistic the changes are coded under (scale 2)
OFFSET_FLAG = 1 << 14  # frequency of a set flag, in 1/2^16 (offsets change in few views)


@functools.lru_cache(maxsize=None)
def _magnitude_bits():
    """(scale indices, HISTOGRAM) bits of a signed integer of each magnitude under each
    integer logistic's scale (float: the encoder's estimates)."""
    low, high = logistic.SCALE_INDICES
    magnitudes = torch.arange(HISTOGRAM, dtype=torch.float64)
    zero = torch.zeros_like(magnitudes)
    return torch.stack([logistic.bits(magnitudes, zero, torch.full_like(magnitudes, float(s)), -LIMIT, LIMIT, TAIL)
                        for s in logistic.index_scale(torch.arange(low, high + 1))])


class _OffsetCosts:
    """A ``collect`` for :meth:`IntegerViewEntropyModel.code` that adds up, for each plane
    and band, the bits its integers would cost under every scale offset."""

    def __init__(self, model):
        self.model = model
        self.costs = torch.zeros(PLANES, BANDS, 2 * OFFSET_REACH + 1, dtype=torch.float64)

    def values(self, kind, band, planes, context, feature, values):
        indices = self.model.scales(kind, planes, band, context, feature)
        magnitudes = values.reshape(-1).abs().clamp(max=HISTOGRAM - 1)
        plane = planes.reshape(-1)
        low, high = logistic.SCALE_INDICES
        keys, counts = torch.unique((plane * (high - low + 1) + indices - low) * HISTOGRAM + magnitudes,
                                    return_counts=True)
        rows, magnitude = keys // HISTOGRAM, keys % HISTOGRAM
        plane, index = rows // (high - low + 1), rows % (high - low + 1)
        moved = (index[:, None] + torch.arange(-OFFSET_REACH, OFFSET_REACH + 1)).clamp(0, high - low)
        bits = _magnitude_bits()[moved, magnitude[:, None]] * counts[:, None].double()
        self.costs[:, band].index_add_(0, plane, bits)

    def flags(self, index, coded):
        pass


def _change_bits(changes):
    scale = logistic.index_scale(torch.tensor(OFFSET_CHANGE_SCALE)).item()
    changes = changes.double()
    return logistic.bits(changes, torch.zeros_like(changes), torch.full_like(changes, scale),
                         -2 * OFFSET_REACH, 2 * OFFSET_REACH, TAIL)


def choose_scale_offsets(model, q, kind, feature, previous, every=2):
    """The encoder's scale offsets for a view's integers ``q``: for each plane and band the
    offset of fewest bits, its change from ``previous`` counted, or ``previous`` itself
    where sending changes would cost more than it saves. The bits are counted on every
    ``every``-th row of blocks (their contexts as if the other rows were not there) and
    scaled up: at 2, half the work for nearly the same offsets."""
    counter = _OffsetCosts(model)
    model.code(q[:, ::every].clone(), kind, feature[:, ::every], collect=counter)
    sampled = q[0, ::every, :, 0].numel() / q[0, ..., 0].numel()
    reach = torch.arange(-OFFSET_REACH, OFFSET_REACH + 1)
    counter.costs /= sampled
    total = counter.costs + _change_bits(reach[None, None, :] - previous[..., None])
    best = total.argmin(dim=-1)
    chosen = reach[best]
    keep = counter.costs.gather(-1, (previous + OFFSET_REACH)[..., None]).sum()
    flag_bits = -math.log2(OFFSET_FLAG / 65536), -math.log2(1 - OFFSET_FLAG / 65536)
    if total.gather(-1, best[..., None]).sum() + flag_bits[0] < keep + flag_bits[1]:
        return chosen
    return previous


def code_scale_offsets(offsets, previous, writer=None, reader=None):
    """Write (or read, ``reader`` given) a view's (P, BANDS) scale offsets as a flag and,
    when they differ from ``previous`` (the last view's of its kind), their changes."""
    flag = torch.tensor([OFFSET_FLAG], dtype=torch.int32)
    if reader is not None:
        if not bool(reader.read(flag)[0]):
            return previous
        changes = code_zero_centred(None, torch.full((PLANES * BANDS,), OFFSET_CHANGE_SCALE), reader=reader,
                                    limit=2 * OFFSET_REACH)
        offsets = previous + changes.reshape(PLANES, BANDS)
        if bool((offsets.abs() > OFFSET_REACH).any()):
            raise BitstreamError("light-field scale offsets are out of range")
        return offsets
    if writer is None:  # neither written nor read (a part left out)
        return offsets
    changed = not torch.equal(offsets, previous)
    writer.write(flag, torch.tensor([changed]))
    if changed:
        code_zero_centred((offsets - previous).reshape(-1), torch.full((PLANES * BANDS,), OFFSET_CHANGE_SCALE),
                          writer=writer, limit=2 * OFFSET_REACH)
    return offsets


def rd_quantize(model, coefficients, steps, feature, kind, slope, offsets=None):
    """The encoder's rate-distortion quantization (RDOQ) of a view's (P, H', W', K)
    coefficients: each integer is the one of round(|x| / step), one less and zero that
    costs least in squared error (in steps^2) + ``slope`` x its bits under the model,
    band by band, each band's contexts from the integers already chosen (a key view's DC,
    coded by prediction, is rounded). Integer tables only; bits are read from a table of
    magnitudes up to HISTOGRAM - 1 (larger ones are rounded). Returns the integers and
    (P, H', W') the bits each block's cost (a key view's DC left out), as
    :func:`drop_unworthy_blocks` weighs them."""
    table, low_index = _magnitude_bits().to(torch.float32), logistic.SCALE_INDICES[0]
    scaled = coefficients / steps.reshape(-1, 1, 1, 1)
    q = torch.zeros(scaled.shape, dtype=torch.int64)
    index, first = KINDS.index(kind), 0
    if kind == "key":
        q[..., 0] = torch.round(scaled[..., 0]).clamp(-LIMIT, LIMIT).to(torch.int64)
        feature, first = dc_feature(q[..., 0]), 1
    low = torch.zeros(feature.shape, dtype=torch.int64)
    block_bits = torch.zeros(feature.shape, dtype=torch.float32)
    planes = torch.arange(PLANES).reshape(-1, 1, 1).expand_as(feature)
    for band in range(first, BANDS):
        lo, hi = BAND_EDGES[band], BAND_EDGES[band + 1]
        x = scaled[..., lo:hi].abs()
        plane, context, bins = (t[..., None].expand(*t.shape, hi - lo) for t in (planes, _context(low, band), feature))
        rows = (model.cell_scales(index, plane, band, context, bins, offsets) - low_index).reshape(x.shape)
        magnitude = torch.floor(x + 0.5).clamp(max=LIMIT).to(torch.int64)
        some = magnitude > 0  # the others are zero whatever the cost
        best, chosen = None, None
        for candidate in (magnitude[some], magnitude[some] - 1, torch.zeros_like(magnitude[some])):
            cost = (x[some] - candidate) ** 2 + slope * table[rows[some], candidate.clamp(max=HISTOGRAM - 1)]
            if best is None:
                best, chosen = cost, candidate
            else:
                better = cost < best
                best, chosen = torch.where(better, cost, best), torch.where(better, candidate, chosen)
        magnitude[some] = chosen
        block_bits += table[rows, magnitude.clamp(max=HISTOGRAM - 1)].sum(dim=-1)
        q[..., lo:hi] = torch.sign(scaled[..., lo:hi]).to(torch.int64) * magnitude
        low += magnitude.sum(dim=-1)
    return q, block_bits


def fit(statistics, floor=logistic.SCALE_MIN):
    """A :class:`ViewEntropyModel` fitted to :class:`Statistics`. A cell's scale is the one
    (on a grid of 2^(1/8) steps) under which its integers cost the fewest bits; a cell
    with few samples borrows its band's counts (with the weight of 50 samples) so that
    rare cells get sensible scales. A flag's probability is its frequency (plus a half),
    kept within FLAG_LOGIT of even odds: content unlike the training's (flat colour) must
    not cost 16 bits a block."""
    counts = statistics.magnitudes
    band = counts.sum(dim=(3, 4), keepdim=True)
    band = band / band.sum(dim=-1, keepdim=True).clamp(min=1)
    counts = counts + 50.0 * band
    magnitudes = torch.arange(HISTOGRAM, dtype=torch.float64)
    candidates = floor * 2.0 ** (torch.arange(0, 8 * 16, dtype=torch.float64) / 8)
    # bits of a signed integer of each magnitude under each candidate scale: (S, M)
    zero = torch.zeros_like(magnitudes)
    bits = torch.stack([logistic.bits(magnitudes, zero, torch.full_like(magnitudes, s), -LIMIT, LIMIT, TAIL)
                        for s in candidates])
    cost = counts @ bits.t()  # (..., S)
    model = ViewEntropyModel()
    model.log_scales.copy_(torch.log(candidates[cost.argmin(dim=-1)]))
    flags = statistics.flag_counts + 0.5
    model.coded_logits.copy_(torch.log(flags[..., 1] / flags[..., 0]).clamp(-FLAG_LOGIT, FLAG_LOGIT))
    return model
