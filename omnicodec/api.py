"""Public API: arrays <-> bytes, and file helpers. The one place that wires
reader -> voxels -> blocks -> model -> container (and back); CLI, benchmarks and tests
all go through it.
"""

import dataclasses
import os
import time

import numpy as np

from omnicodec import bitstream, varint, zoo
from omnicodec.entropy import DEFAULT_CODER
from omnicodec.errors import BitstreamError, InputError, OmnicodecError
from omnicodec.geometry import blocks, devoxelize, morton, voxelize
from omnicodec.io import read_ply, write_bytes_atomic, write_ply
from omnicodec.io.lightfield import LightField, Naming, read_lightfield, write_lightfield
from omnicodec.models.lightfield import LightFieldCodec
from omnicodec.models.lossless import LosslessCodec
from omnicodec.models.lossy import LossyCodec

DEFAULT_MODEL = "occupancy-v1"
MAX_BLOCK_POINTS = 1_500_000  # bounds peak memory: each block is coded on its own


@dataclasses.dataclass
class Report:
    """What a compression or decompression did; ``bits_per_point`` is per input point."""

    input_points: int
    voxels: int
    duplicates_merged: int
    bytes: int
    seconds: float
    bits: int
    integer_input: bool
    blocks: int = 1
    dropped_properties: tuple = ()
    model: str = DEFAULT_MODEL

    @property
    def bits_per_point(self):
        return 8 * self.bytes / max(self.input_points, 1)


def _layout_section(block_bits, block_keys):
    """Block depth, count and the Morton keys of the occupied blocks (delta varints)."""
    deltas = np.diff(np.r_[0, block_keys]) if len(block_keys) else []
    return varint.encode([block_bits, len(block_keys), *[int(d) for d in deltas]])


def _read_layout(section, bits):
    values, _ = varint.decode(section)
    if len(values) < 2 or values[0] > bits or len(values) != 2 + values[1]:
        raise BitstreamError("block layout is corrupted")
    return values[0], np.cumsum(values[2:], dtype=np.int64)


def _codec(model, coder, network):
    """The block codec of a shipped model (lossless, or lossy over its lossless base)."""
    card = zoo.card(model)
    if card.kind == "pointcloud-lossy":
        return LossyCodec(network, LosslessCodec(zoo.load(card.base)[0], coder), coder,
                          card.refine_stages)
    return LosslessCodec(network, coder)


def rate_model(rate):
    """The lossy model of ``--rate`` N (1 = fewest bits)."""
    if not 1 <= rate <= len(zoo.RATES):
        raise InputError(f"rate {rate} is out of range: rates are 1 to {len(zoo.RATES)}")
    return zoo.RATES[rate - 1]


def compress_grid(grid, model=DEFAULT_MODEL, coord_dtype="<f8", progress=None,
                  max_block_points=MAX_BLOCK_POINTS, coder=DEFAULT_CODER):
    """A :class:`~omnicodec.geometry.VoxelGrid` -> (bytes, number of blocks). Lossy models
    code the voxels the decoder will rebuild, and their checksum, into the header."""
    network, digest = zoo.load(model)
    codec = _codec(model, coder, network)
    block_bits, block_keys, slices = blocks.partition(grid.keys, grid.bits, max_block_points)
    sections = [_layout_section(block_bits, block_keys)]
    local_mask = (1 << (3 * block_bits)) - 1
    rebuilt = []
    for block_key, piece in zip(block_keys, slices):
        try:
            block_sections, local = codec.compress_block(grid.keys[piece] & local_mask, block_bits,
                                                         progress)
        except OmnicodecError:
            raise
        except ValueError as exc:
            raise InputError(f"cannot code this cloud with model {model}: {exc}") from None
        sections += block_sections
        rebuilt.append((int(block_key) << (3 * block_bits)) | local)
    rebuilt = np.concatenate(rebuilt) if rebuilt else grid.keys
    header = bitstream.Header(
        mode=bitstream.MODE_OF_KIND[zoo.card(model).kind], model_id=model, weights_hash=digest,
        coder=coder, bits=grid.bits, coord_dtype=np.dtype(coord_dtype).str,
        offset=tuple(float(v) for v in grid.offset), scale=float(grid.scale),
        input_points=grid.input_points, voxels=len(rebuilt),
        geometry_checksum=bitstream.geometry_checksum(morton.decode(rebuilt, grid.bits)),
        integer_input=grid.integer_input)
    return bitstream.pack(header, sections), len(slices)


def compress_grid_to_bpp(grid, target_bpp, coord_dtype="<f8", progress=None, coder=DEFAULT_CODER):
    """Code at the highest lossy rate whose stream stays within ``target_bpp`` bits per
    input point (the lowest rate if none does): a bisection over the rates, which each
    cost one encode. Returns (bytes, number of blocks, model id)."""
    if not target_bpp > 0:
        raise InputError(f"target bits per point must be positive, not {target_bpp}")
    low, high, best, fewest = 1, len(zoo.RATES), None, None
    while low <= high:
        rate = (low + high) // 2
        model = rate_model(rate)
        try:
            data, count = compress_grid(grid, model, coord_dtype, progress, coder=coder)
        except InputError:  # a cloud too small for this rate's depth: try higher rates
            low = rate + 1
            continue
        if 8 * len(data) <= target_bpp * grid.input_points:
            best, low = (data, count, model), rate + 1
        else:
            high = rate - 1
            fewest = (data, count, model)
    if best is None and fewest is None:
        raise InputError("the cloud is too small for every lossy rate: code it losslessly")
    return best or fewest


def decompress_grid(data, progress=None):
    """Bytes -> (Header, Morton-sorted voxel keys), verifying the geometry checksum."""
    header, sections = bitstream.unpack(data)
    if header.mode == bitstream.LIGHTFIELD_MODE:
        raise InputError("this bitstream holds a light field, not a point cloud "
                         "(use `omnicodec lf decompress`)")
    network = zoo.find(header.model_id, header.weights_hash)
    if zoo.card(header.model_id).kind != header.mode_name:
        raise BitstreamError(f"bitstream mode {header.mode_name} does not match its model "
                             f"{header.model_id}")
    codec = _codec(header.model_id, header.coder, network)
    block_bits, block_keys = _read_layout(sections[0], header.bits)
    per_block = codec.sections_per_block
    if len(sections) != 1 + per_block * len(block_keys):
        raise BitstreamError("bitstream section table does not match its block layout")
    keys = []
    for i, block_key in enumerate(block_keys):
        chunk = sections[1 + i * per_block: 1 + (i + 1) * per_block]
        try:
            local = codec.decompress_block(chunk, block_bits, progress)
        except OmnicodecError:
            raise
        except ValueError as exc:
            raise BitstreamError(f"bitstream does not fit its model: {exc}") from None
        keys.append((int(block_key) << (3 * block_bits)) | local)
    keys = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    if len(keys) != header.voxels:
        raise BitstreamError(f"decoded {len(keys)} voxels, the header says {header.voxels}")
    if bitstream.geometry_checksum(morton.decode(keys, header.bits)) != header.geometry_checksum:
        raise BitstreamError("decoded geometry fails its checksum: the bitstream is damaged or "
                             "this machine computed different probabilities than the encoder's")
    return header, keys


def compress(points, voxel_size=None, bits=None, model=DEFAULT_MODEL, progress=None, rate=None):
    """(N, 3) points -> bytes. Integer grids are coded as they are; other input is voxelized
    (``voxel_size`` or ``bits``, default: the bounding box in 2**10 voxels per axis).
    Lossless on the voxel grid (duplicate points are merged), or lossy at ``rate`` 1..13
    (``omnicodec models`` lists them)."""
    points = np.asarray(points)
    if rate is not None:
        model = rate_model(rate)
    grid = voxelize(points, voxel_size=voxel_size, bits=bits)
    return compress_grid(grid, model=model, coord_dtype=points.dtype, progress=progress)[0]


def decompress(data, progress=None):
    """Bytes -> (M, 3) points in the input's frame and coordinate type (unique voxels)."""
    header, keys = decompress_grid(data, progress)
    return _points(keys, header)


def _points(keys, header):
    coords = morton.decode(keys, header.bits)
    return devoxelize(coords, header.offset, header.scale, np.dtype(header.coord_dtype))


def info(data):
    """The header of a bitstream (after checking its integrity)."""
    return bitstream.unpack(data)[0]


def read_bitstream(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, not a bitstream")
    with open(path, "rb") as handle:
        return handle.read()


def compress_file(src, dst, voxel_size=None, bits=None, model=DEFAULT_MODEL, progress=None,
                  target_bpp=None):
    """Compress a PLY file to ``dst`` (written atomically) with ``model``, or with the lossy
    rate that best fits ``target_bpp``; returns a :class:`Report`."""
    start = time.perf_counter()
    cloud = read_ply(src)
    grid = voxelize(cloud.points, voxel_size=voxel_size, bits=bits)
    if target_bpp is not None:
        data, count, model = compress_grid_to_bpp(grid, target_bpp, cloud.points.dtype, progress)
    else:
        data, count = compress_grid(grid, model=model, coord_dtype=cloud.points.dtype,
                                    progress=progress)
    write_bytes_atomic(dst, data)
    return Report(input_points=grid.input_points, voxels=len(grid.keys), model=model,
                  duplicates_merged=grid.duplicates_merged, bytes=len(data),
                  seconds=time.perf_counter() - start, bits=grid.bits,
                  integer_input=grid.integer_input, blocks=count,
                  dropped_properties=tuple(cloud.properties))


def decompress_file(src, dst, progress=None):
    """Decompress ``src`` to a PLY file ``dst`` (written atomically); returns a :class:`Report`."""
    start = time.perf_counter()
    data = read_bitstream(src)
    header, keys = decompress_grid(data, progress)
    points = _points(keys, header)
    write_ply(dst, points)
    return Report(input_points=header.input_points, voxels=len(keys), model=header.model_id,
                  duplicates_merged=header.input_points - len(keys), bytes=len(data),
                  seconds=time.perf_counter() - start, bits=header.bits,
                  integer_input=header.integer_input)


# --- light fields -----------------------------------------------------------------------

LIGHTFIELD_MODEL = "lightfield-v1"
LIGHTFIELD_TILE = 128  # pixels: every tile (all views x 128 x 128) codes on its own


@dataclasses.dataclass
class LightFieldReport:
    """What a light-field compression or decompression did."""

    shape: tuple  # (U, V, H, W)
    bytes: int
    seconds: float
    rate: float
    tiles: int
    model: str = LIGHTFIELD_MODEL

    @property
    def pixels(self):
        u, v, h, w = self.shape
        return u * v * h * w

    @property
    def bits_per_pixel(self):
        return 8 * self.bytes / max(self.pixels, 1)


def lightfield_rates():
    """How many rates the shipped light-field model has (``--rate`` 1..N)."""
    return zoo.load(LIGHTFIELD_MODEL)[0].rates


def _lightfield_rate(rate):
    """CLI rate 1..N (fractional values in between interpolate the gains) -> the gain index."""
    count = lightfield_rates()
    if not 1 <= rate <= count:
        raise InputError(f"rate {rate} is out of range: light-field rates are 1 to {count}")
    return float(np.float32(rate - 1))


def _tiles(height, width, tile):
    return [(y, x) for y in range(0, height, tile) for x in range(0, width, tile)]


def _peak(sample_bits):
    return float((1 << sample_bits) - 1)


def compress_lightfield(lightfield, rate=1, tile=LIGHTFIELD_TILE, coder=DEFAULT_CODER, progress=None):
    """A :class:`~omnicodec.io.lightfield.LightField` -> (bytes, decoded views as the
    decoder will rebuild them). ``rate`` 1 (fewest bits) to :func:`lightfield_rates`;
    ``progress(tiles done, tiles)`` after each tile."""
    views = lightfield.views
    if not 16 <= tile <= 4096 or tile % 16:
        raise InputError(f"tile must be a multiple of 16 between 16 and 4096, not {tile}")
    gain_index = _lightfield_rate(rate)
    network, digest = zoo.load(LIGHTFIELD_MODEL)
    codec = LightFieldCodec(network, coder)
    sample_bits = 8 * views.dtype.itemsize
    peak = _peak(sample_bits)
    u, v, h, w, _ = views.shape
    sections, decoded = [], np.zeros(views.shape, dtype=views.dtype)
    places = _tiles(h, w, tile)
    for i, (y, x) in enumerate(places):
        piece = views[:, :, y:y + tile, x:x + tile].astype(np.float32) / peak
        tile_sections, rebuilt = codec.compress_tile(piece, gain_index)
        sections += tile_sections
        decoded[:, :, y:y + tile, x:x + tile] = np.round(rebuilt * peak)
        if progress:
            progress(i + 1, len(places))
    info = bitstream.LightFieldInfo(shape=(u, v, h, w), sample_bits=sample_bits, tile=tile,
                                    rate=gain_index, naming=dataclasses.asdict(lightfield.naming),
                                    views_checksum=bitstream.views_checksum(decoded))
    header = bitstream.Header(mode=bitstream.LIGHTFIELD_MODE, model_id=LIGHTFIELD_MODEL,
                              weights_hash=digest, coder=coder, lightfield=info)
    return bitstream.pack(header, sections), decoded


def decompress_lightfield(data, progress=None):
    """Bytes -> :class:`~omnicodec.io.lightfield.LightField` (views named as the input's were),
    verifying the views' checksum."""
    return _decode_lightfield(data, progress)[1]


def _decode_lightfield(data, progress):
    """(the header's LightFieldInfo, the decoded LightField)."""
    header, sections = bitstream.unpack(data)
    if header.mode != bitstream.LIGHTFIELD_MODE:
        raise InputError("this bitstream holds a point cloud, not a light field "
                         "(use `omnicodec decompress`)")
    if zoo.card(header.model_id).kind != header.mode_name:
        raise BitstreamError(f"bitstream mode {header.mode_name} does not match its model "
                             f"{header.model_id}")
    info = header.lightfield
    network = zoo.find(header.model_id, header.weights_hash)
    codec = LightFieldCodec(network, header.coder)
    u, v, h, w = info.shape
    if info.sample_bits not in (8, 16) or not 16 <= info.tile <= 4096 or not 0 <= info.rate < network.rates:
        raise BitstreamError("light-field header is corrupted")
    places = _tiles(h, w, info.tile)
    if len(sections) != codec.sections_per_tile * len(places):
        raise BitstreamError("bitstream section table does not match its light field's tiles")
    peak = _peak(info.sample_bits)
    views = np.zeros((u, v, h, w, 3), dtype=np.uint8 if info.sample_bits == 8 else np.uint16)
    per_tile = codec.sections_per_tile
    for i, (y, x) in enumerate(places):
        shape = (u, v, min(info.tile, h - y), min(info.tile, w - x), 3)
        try:
            piece = codec.decompress_tile(sections[i * per_tile:(i + 1) * per_tile], shape, info.rate)
        except OmnicodecError:
            raise
        except (ValueError, RuntimeError, IndexError) as exc:
            raise BitstreamError(f"bitstream does not fit its model: {exc}") from None
        views[:, :, y:y + info.tile, x:x + info.tile] = np.round(piece * peak)
        if progress:
            progress(i + 1, len(places))
    if bitstream.views_checksum(views) != info.views_checksum:
        raise BitstreamError("decoded views fail their checksum: the bitstream is damaged or "
                             "this machine computed different probabilities than the encoder's")
    try:
        naming = Naming(**info.naming)
    except TypeError:
        raise BitstreamError("light-field header's view naming is corrupted") from None
    return info, LightField(views, naming)


def compress_lightfield_file(src, dst, rate=1, grid=None, dataset=None, tile=LIGHTFIELD_TILE,
                             progress=None):
    """Compress a light field (PNG folder, HDF5 or .npy) to ``dst`` (written atomically);
    returns a :class:`LightFieldReport`."""
    start = time.perf_counter()
    lightfield = read_lightfield(src, grid=grid, dataset=dataset)
    data, _ = compress_lightfield(lightfield, rate=rate, tile=tile, progress=progress)
    write_bytes_atomic(dst, data)
    u, v, h, w, _ = lightfield.views.shape
    return LightFieldReport(shape=(u, v, h, w), bytes=len(data), seconds=time.perf_counter() - start,
                            rate=rate, tiles=len(_tiles(h, w, tile)))


def decompress_lightfield_file(src, dst, progress=None):
    """Decompress ``src`` to a light field at ``dst`` in the input's kind and view names;
    returns a :class:`LightFieldReport`."""
    start = time.perf_counter()
    data = read_bitstream(src)
    info, lightfield = _decode_lightfield(data, progress)
    write_lightfield(dst, lightfield)
    return LightFieldReport(shape=info.shape, bytes=len(data), seconds=time.perf_counter() - start,
                            rate=info.rate + 1, tiles=len(_tiles(*info.shape[2:], info.tile)))
