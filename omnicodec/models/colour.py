"""Coloured point clouds: any geometry codec for the voxels, then every voxel's RGB coded
on the decoded voxels by the learned colour predictor (:mod:`omnicodec.attributes`).

The stream's model is the colour model; its codec header names the geometry model (and
its weights' stamp, checked when decoding) and holds the geometry codec's own header, so
any geometry model, lossless or lossy, carries colour the same way. Sections: the number
of geometry sections, the geometry sections, the colour payload, and with
``keep_duplicates`` the duplicate points' payload. The checksum covers the voxel
coordinates and the colours the decoder rebuilds.

Colours are merged per voxel (the rounded mean of the points in it); after lossy geometry
each decoded voxel takes the colours of the original voxels it stands for (the mean of
those whose nearest decoded voxel it is, else its nearest original's: G-PCC's
recolouring). ``keep_duplicates`` codes how many points each voxel holds and each one's
colour, so the multiset of (position, colour) comes back exactly.
"""

import dataclasses
import struct

import numpy as np
import torch

from omnicodec import bitstream, varint
from omnicodec.attributes import adaptation, colour_coding
from omnicodec.attributes.colour_model import ColourNet
from omnicodec.attributes.levels import point_levels
from omnicodec.codec import CODECS, Codec, Decoded, Encoded, codec_for
from omnicodec.data import COLOUR_ATTRIBUTES, PointCloud
from omnicodec.entropy import binary_reader, binary_writer, logistic
from omnicodec.errors import BitstreamError, InputError, ModelError
from omnicodec.geometry import morton

_COLOUR = struct.Struct("<BBbBB")  # colour depth, rate, source kind, flags, geometry codec number
_SOURCES = {0: "uint8", 1: "uint16", 2: "float 0..1"}  # how the input held its colours
_KEEP_DUPLICATES = 1


def colour_attribute(cloud):
    """The (N, 3) colours of a cloud (its ``rgb`` attribute), or None; a partial set of
    colour properties is an InputError."""
    attributes = getattr(cloud, "attributes", {}) or {}
    partial = sorted(name for name in attributes if name in COLOUR_ATTRIBUTES[1:])
    if partial:
        raise InputError(f"the cloud has only some colour channels ({', '.join(partial)}): "
                         "give red, green and blue, or drop colour with --no-colour")
    return attributes.get("rgb")


def checked_colours(rgb, count):
    """Colours as given -> (int64 (N, 3), bit depth 8 or 16, source kind, note). Integer
    colours keep their values (8 bits if they fit, else 16); floats in [0, 1] are scaled to
    8 bits (and said so); anything else cannot be held exactly and is an InputError."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 2 or rgb.shape != (count, 3):
        raise InputError(f"colours must have shape ({count}, 3), one RGB per point, not {rgb.shape}")
    if rgb.dtype.kind == "f":
        if not np.isfinite(rgb).all():
            raise InputError(f"{int((~np.isfinite(rgb)).any(axis=1).sum())} point(s) have NaN or "
                             "infinite colours")
        if rgb.min(initial=0) < 0 or rgb.max(initial=0) > 1:
            raise InputError("float colours must lie in [0, 1] (integer colours are taken as they are)")
        return np.rint(rgb.astype(np.float64) * 255).astype(np.int64), 8, 2, \
            "float colours in [0, 1] scaled to 8 bits"
    if rgb.dtype.kind not in "iu" or rgb.dtype.kind == "b":
        raise InputError(f"colours must be numbers, not {rgb.dtype}")
    values = rgb.astype(np.int64)
    if len(values) and (values.min() < 0 or values.max() > 65535):
        raise InputError("integer colours must lie in [0, 65535] (8 or 16 bits per channel)")
    depth = 8 if rgb.dtype.itemsize == 1 or not len(values) or values.max() <= 255 else 16
    return values, depth, 0 if depth == 8 else 1, None


@dataclasses.dataclass
class ColourInput:
    geometry: tuple  # what the geometry codec's prepare made (voxel grid, coordinate type)
    rgb: np.ndarray  # (N, 3) int64 per input point
    depth: int
    source: int
    note: str | None
    colour_rate: int
    keep_duplicates: bool


class ColourCodec(Codec):
    """Geometry by the geometry codec it wraps (:meth:`around`), colour by the learned
    predictor at a colour rate (0: lossless, 1..: the card's rates, fewest bits first)."""

    network = ColourNet
    options = ("voxel_size", "bits", "colour_rate", "keep_duplicates")
    coded_attributes = ("rgb",)

    geometry = None

    def around(self, geometry):
        """This codec coding geometry with ``geometry`` (a geometry codec)."""
        self.geometry = geometry
        return self

    @property
    def colour_rates(self):
        return self.card.settings["colour_rates"]

    def rate(self, number):
        if number == 0:
            return colour_coding.Rate((1, 1, 1))
        return colour_coding.Rate(*self.colour_rates[number - 1])

    def prepare(self, data, voxel_size=None, bits=None, colour_rate=None, keep_duplicates=False):
        rgb = colour_attribute(data)
        if rgb is None:
            raise InputError("--colour-rate needs a cloud with colours (red, green, blue)")
        if colour_rate is not None and (not 1 <= colour_rate <= len(self.colour_rates)
                                        or int(colour_rate) != colour_rate):
            raise InputError(f"colour rate {colour_rate} is out of range: colour rates are 1 to "
                             f"{len(self.colour_rates)} (leave it out for lossless colour)")
        if keep_duplicates and not self.geometry.lossless:
            raise InputError("--keep-duplicates needs lossless geometry: lossy geometry has no "
                             "points to keep duplicates of (leave out --rate)")
        if keep_duplicates and colour_rate:
            raise InputError("--keep-duplicates keeps every point's exact colour: leave out --colour-rate")
        values, depth, source, note = checked_colours(rgb, len(data))
        geometry = self.geometry.prepare(data, voxel_size=voxel_size, bits=bits, with_point_voxels=True)
        return ColourInput(geometry, values, depth, source, note, int(colour_rate or 0), bool(keep_duplicates))

    def encode(self, prepared, rate=None, progress=None):
        geometry_encoded, coords = self.geometry.encode_voxels(prepared.geometry, progress)
        grid = prepared.geometry[0]
        voxel_colours, counts = merged_colours(prepared.rgb, grid.point_voxels, len(grid.keys))
        if len(coords) != len(grid.keys) or not self.geometry.lossless:
            voxel_colours = recoloured(grid.coords, voxel_colours, coords)
        rate_number = prepared.colour_rate
        net, bits = self._net(), grid.bits
        levels = point_levels(morton.encode(coords, bits), bits)
        ycocg = colour_coding.ycocg_r(voxel_colours)
        block = adaptation.fit(net, coords, levels, bits, ycocg, prepared.depth) if not rate_number else b""
        writer = binary_writer(self.coder)
        rebuilt, table = colour_coding.encode(adaptation.apply(net, block), coords, levels, bits, prepared.depth,
                                              self.rate(rate_number), ycocg, writer)
        colour_sections = [varint.encode([len(block)]) + block + table + writer.finish()]
        rgb = _rgb(rebuilt, prepared.depth)
        if prepared.keep_duplicates:
            colour_sections.append(duplicates_payload(self.coder, counts, prepared.rgb, grid.point_voxels,
                                                      rgb, prepared.depth))
        header = self._header(prepared.depth, rate_number, prepared.source, prepared.keep_duplicates,
                              geometry_encoded.header)
        sections = [varint.encode([len(geometry_encoded.sections)]), *geometry_encoded.sections,
                    *colour_sections]
        positions = geometry_encoded.decoded.positions
        if prepared.keep_duplicates:
            positions, rgb = np.repeat(positions, counts, axis=0), _exact_rgb(prepared.rgb, grid.point_voxels)
        details = _details(geometry_encoded.details, self.geometry.card.model_id, geometry_encoded.sections,
                           colour_sections, grid.input_points, rate_number, prepared.note,
                           prepared.keep_duplicates)
        return Encoded(header=header, sections=sections,
                       checksum=_checksum(coords, rgb, counts if prepared.keep_duplicates else None),
                       decoded=PointCloud(positions, {"rgb": _stored(rgb, prepared.source)}), details=details)

    def decode(self, header, sections, progress=None):
        fields = self._fields(header)
        geometry = self._geometry_of(fields)
        if not sections:
            raise BitstreamError("coloured point-cloud stream has no sections")
        (count,), _ = varint.decode(sections[0], 1)
        extra = 2 if fields["keep_duplicates"] else 1
        if len(sections) != 1 + count + extra:
            raise BitstreamError("coloured point-cloud stream's section table is corrupted")
        geometry_decoded, coords = geometry.decode_voxels(fields["geometry_header"], sections[1:1 + count],
                                                          progress)
        bits = geometry._frame(fields["geometry_header"])["bits"]
        levels = point_levels(morton.encode(coords, bits), bits)
        payload = sections[1 + count]
        (length,), start = varint.decode(payload, 1)
        net = adaptation.apply(self._net(), payload[start:start + length])
        rebuilt, reader = colour_coding.decode(net, coords, levels, bits, fields["depth"],
                                               self.rate(fields["rate"]), payload[start + length:],
                                               lambda rest: binary_reader(self.coder, rest))
        reader.finish()
        rgb, counts = _rgb(rebuilt, fields["depth"]), None
        positions = geometry_decoded.data.positions
        if fields["keep_duplicates"]:
            counts, rgb = read_duplicates(self.coder, sections[-1], rgb, fields["depth"])
            positions = np.repeat(positions, counts, axis=0)
        details = _details(geometry_decoded.details, fields["geometry_model"], sections[1:1 + count],
                           sections[1 + count:], geometry.input_units(fields["geometry_header"]),
                           fields["rate"], None, fields["keep_duplicates"])
        return Decoded(PointCloud(positions, {"rgb": _stored(rgb, fields["source"])}),
                       _checksum(coords, rgb, counts), details)

    @classmethod
    def describe(cls, header):
        fields = cls._fields(header)
        geometry = _geometry_class(fields["geometry_codec"])
        return {"geometry model": fields["geometry_model"],
                **geometry.describe(fields["geometry_header"]),
                "colour": f"{fields['depth']}-bit RGB ({_SOURCES[fields['source']]} input)",
                "colour rate": fields["rate"] or "lossless",
                "duplicates kept": fields["keep_duplicates"]}

    @classmethod
    def input_units(cls, header):
        fields = cls._fields(header)
        return _geometry_class(fields["geometry_codec"]).input_units(fields["geometry_header"])

    @classmethod
    def wrapped_model(cls, header):
        return cls._fields(header)["geometry_model"]

    @classmethod
    def made_with(cls, header, options):
        fields = cls._fields(header)
        return (_geometry_class(fields["geometry_codec"]).made_with(fields["geometry_header"], options)
                and fields["rate"] == (options.get("colour_rate") or 0)
                and fields["keep_duplicates"] == bool(options.get("keep_duplicates")))

    def _net(self):
        from omnicodec import zoo

        if not hasattr(self, "_network"):
            self._network = zoo.load(self.card.model_id)
        return self._network

    def _header(self, depth, rate, source, keep_duplicates, geometry_header):
        number = CODECS[self.geometry.card.codec].number
        return (_COLOUR.pack(depth, rate, source, _KEEP_DUPLICATES if keep_duplicates else 0, number)
                + bitstream.ascii_field(self.geometry.card.model_id) + self.geometry.weights_hash
                + geometry_header)

    @staticmethod
    def _fields(header):
        try:
            depth, rate, source, flags, number = _COLOUR.unpack_from(header)
            length = header[_COLOUR.size]
            start = _COLOUR.size + 1
            model = header[start:start + length].decode("ascii")
            stamp = header[start + length:start + length + 8]
        except (struct.error, IndexError, UnicodeDecodeError):
            raise BitstreamError("coloured point-cloud header is corrupted") from None
        if depth not in (8, 16) or source not in _SOURCES or len(stamp) != 8:
            raise BitstreamError("coloured point-cloud header is corrupted")
        return {"depth": depth, "rate": rate, "source": source,
                "keep_duplicates": bool(flags & _KEEP_DUPLICATES), "geometry_codec": number,
                "geometry_model": model, "geometry_stamp": stamp,
                "geometry_header": header[start + length + 8:]}

    def _geometry_of(self, fields):
        """The geometry codec a stream names, refusing other weights than it was made with."""
        from omnicodec import zoo

        card = zoo.stream_card(fields["geometry_model"])
        if CODECS[card.codec].number != fields["geometry_codec"]:
            raise BitstreamError("coloured point-cloud header names a geometry model of another codec")
        geometry = codec_for(card.model_id, self.coder)
        if geometry.weights_hash != fields["geometry_stamp"]:
            raise ModelError(f"bitstream was made with other weights of model {card.model_id!r}")
        return geometry



def _details(geometry_details, geometry_model, geometry_sections, colour_sections, input_points, rate, note,
             keep_duplicates):
    """The report: the geometry codec's figures, then bytes and bits per input point of
    geometry and of colour apart (the container's few bytes are in neither)."""
    geometry_bytes = sum(map(len, geometry_sections))
    colour_bytes = sum(map(len, colour_sections))
    per_point = 8 / max(input_points, 1)
    return {**geometry_details, "geometry model": geometry_model, "geometry bytes": geometry_bytes,
            "geometry bits per point": round(geometry_bytes * per_point, 4),
            "colour": (f"lossy, colour rate {rate}" if rate else "lossless (YCoCg-R)")
            + (", duplicates kept" if keep_duplicates else ""),
            "colour bytes": colour_bytes, "colour bits per point": round(colour_bytes * per_point, 4),
            "colour note": note}


def _geometry_class(number):
    from omnicodec.codec import codec_class, codec_id

    return codec_class(codec_id(number))


def merged_colours(rgb, point_voxels, voxels):
    """Each voxel's colour: the rounded mean of its points' colours (0 for a voxel without
    points); and its point count."""
    counts = np.bincount(point_voxels, minlength=voxels)
    sums = np.zeros((voxels, 3), dtype=np.int64)
    np.add.at(sums, point_voxels, rgb)
    return (sums + counts[:, None] // 2) // np.maximum(counts, 1)[:, None], counts


def recoloured(coords, colours, decoded):
    """Colours of the original voxels ``coords`` carried to the ``decoded`` voxels."""
    from scipy.spatial import cKDTree

    _, nearest_decoded = cKDTree(decoded).query(coords)
    mean, counts = merged_colours(colours, nearest_decoded, len(decoded))
    _, nearest_original = cKDTree(coords).query(decoded)
    return np.where(counts[:, None] > 0, mean, colours[nearest_original])


def _rgb(ycocg, depth):
    return np.clip(colour_coding.rgb_from_ycocg_r(ycocg), 0, (1 << depth) - 1)


def _stored(rgb, source):
    """Decoded colours in the input's type (floats back in [0, 1])."""
    if source == 2:
        return (rgb / 255.0).astype(np.float32)
    return rgb.astype(np.uint8 if source == 0 else np.uint16)


def _exact_rgb(rgb, point_voxels):
    """Every input point's colour, grouped voxel by voxel (the decoder's order)."""
    return rgb[np.argsort(point_voxels, kind="stable")]


def _checksum(coords, rgb, counts=None):
    parts = [coords.astype("<i4").reshape(-1), np.asarray(rgb).astype("<i4").reshape(-1)]
    if counts is not None:
        parts.append(np.asarray(counts).astype("<i4"))
    return bitstream.checksum(np.concatenate(parts))


# Duplicates: each voxel's point count - 1, then every point's RGB around its voxel's colour,
# under logistics whose scales the encoder fits and sends (two float32 at the start).
_DUPLICATE_SCALES = struct.Struct("<ff")


def duplicates_payload(coder, counts, rgb, point_voxels, voxel_rgb, depth):
    extra = torch.from_numpy(counts - 1)
    exact = torch.from_numpy(_exact_rgb(rgb, point_voxels))
    around = torch.from_numpy(np.repeat(voxel_rgb, counts, axis=0))
    many = torch.from_numpy(np.repeat(counts > 1, counts))
    count_scale = max(float(extra.float().mean()), logistic.SCALE_MIN)
    colour_scale = max(float((exact - around)[many].abs().float().mean()) if bool(many.any()) else 0.0,
                       logistic.SCALE_MIN)
    writer = binary_writer(coder)
    logistic.write(writer, extra, torch.zeros(len(extra)), torch.full((len(extra),), count_scale),
                   0, int(counts.max()) - 1)
    top = (1 << depth) - 1
    logistic.write(writer, exact[many], around[many].float(), torch.full((int(many.sum()) * 3,), colour_scale),
                   0, top)
    return _DUPLICATE_SCALES.pack(count_scale, colour_scale) + varint.encode([int(counts.max())]) \
        + writer.finish()


def read_duplicates(coder, payload, voxel_rgb, depth):
    try:
        count_scale, colour_scale = _DUPLICATE_SCALES.unpack_from(payload)
        (most,), position = varint.decode(payload, 1, _DUPLICATE_SCALES.size)
    except (struct.error, ValueError, IndexError):
        raise BitstreamError("duplicate points' payload is corrupted") from None
    if most < 1 or not (np.isfinite(count_scale) and np.isfinite(colour_scale)):
        raise BitstreamError("duplicate points' payload is corrupted")
    reader = binary_reader(coder, payload[position:])
    voxels = len(voxel_rgb)
    extra = logistic.read(reader, torch.zeros(voxels), torch.full((voxels,), count_scale), 0, most - 1)
    counts = extra.numpy() + 1
    around = torch.from_numpy(np.repeat(voxel_rgb, counts, axis=0))
    many = np.repeat(counts > 1, counts)
    rgb = around.numpy().copy()
    rgb[many] = logistic.read(reader, around[many].float(), torch.full((int(many.sum()) * 3,), colour_scale),
                              0, (1 << depth) - 1).reshape(-1, 3).numpy()
    reader.finish()
    return counts, rgb
