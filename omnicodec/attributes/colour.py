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

from omnicodec import bitstream, catalogue, varint
from omnicodec.attributes import adaptation, colour_coding, transform_coding
from omnicodec.attributes.attribute_codec import AttributeCodec, attribute_details, carried_to, voxel_means
from omnicodec.attributes.colour_integer import IntegerColourNet
from omnicodec.attributes.colour_model import ColourNet
from omnicodec.attributes.levels import contexts_of, point_levels
from omnicodec.codec import Decoded, Encoded
from omnicodec.data import COLOUR_ATTRIBUTES, PointCloud
from omnicodec.entropy import binary_reader, binary_writer, logistic
from omnicodec.errors import BitstreamError, InputError
from omnicodec.grid import morton

_COLOUR = struct.Struct("<BBbB")  # colour depth, rate, source kind, flags
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


class ColourCodec(AttributeCodec):
    """Geometry by the geometry codec it wraps (:meth:`around`), colour by the learned
    predictor at a colour rate (0: lossless, 1..: the card's rates, fewest bits first)."""

    network = staticmethod(catalogue.by_arithmetic(ColourNet, IntegerColourNet))
    options = ("voxel_size", "bits", "colour_rate", "keep_duplicates")
    coded_attributes = ("rgb",)
    fields = _COLOUR
    what = "coloured point-cloud"

    @property
    def colour_rates(self):
        return self.card.settings["colour_rates"]

    def rate(self, number):
        """Colour rate ``number``: lossless (0) by the predictor; lossy rates by the
        predictor's closed loop, or by transform coding where the card says ``lossy =
        "transform"`` (:class:`transform_coding.Rate`)."""
        if number == 0:
            return colour_coding.Rate((1, 1, 1))
        settings = self.card.settings
        if settings.get("lossy") == "transform":
            return transform_coding.Rate(*self.colour_rates[number - 1], rdoq_lambda=settings.get("rdoq_lambda", 0.0),
                                         sign_contexts=settings.get("sign_contexts", False),
                                         post_filter=settings.get("post_filter", False))
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

    def encode(self, prepared, rate=None, progress=None, reference=None):
        geometry_encoded, coords = self.geometry_encode(prepared.geometry, progress, reference)
        grid = prepared.geometry[0]
        voxel_colours, counts = voxel_means(prepared.rgb, grid.point_voxels, len(grid.keys))
        if len(coords) != len(grid.keys) or not self.geometry.lossless:
            voxel_colours = carried_to(grid.coords, voxel_colours, coords)
        rate_number, bits = prepared.colour_rate, grid.bits
        rate, keys = self.rate(rate_number), morton.encode(coords, bits)
        ycocg = colour_coding.ycocg_r(voxel_colours)
        if isinstance(rate, transform_coding.Rate):
            payload, rebuilt = transform_coding.encode(keys, bits, ycocg, prepared.depth, rate, self.coder)
        else:
            net, levels, block, contexts = self._net(), point_levels(keys, bits), b"", None
            if not rate_number and adaptation.tried(len(coords)):  # its contexts serve the coding too
                contexts = contexts_of(coords, levels, bits)
                block = adaptation.fit(net, coords, levels, bits, ycocg, prepared.depth, contexts=contexts,
                                       **self.card.settings.get("adaptation", {}))
            writer = binary_writer(self.coder)
            rebuilt, table = colour_coding.encode(adaptation.apply(net, block), coords, levels, bits,
                                                  prepared.depth, rate, ycocg, writer, contexts=contexts)
            payload = varint.encode([len(block)]) + block + table + writer.finish()
        colour_sections = [payload]
        rgb = _rgb(rebuilt, prepared.depth)
        if prepared.keep_duplicates:
            colour_sections.append(duplicates_payload(self.coder, counts, prepared.rgb, grid.point_voxels,
                                                      rgb, prepared.depth, self.integer))
        header = self.pack_header((prepared.depth, rate_number, prepared.source,
                                   _KEEP_DUPLICATES if prepared.keep_duplicates else 0), geometry_encoded.header)
        sections = self.pack_sections(geometry_encoded.sections, colour_sections)
        positions = geometry_encoded.decoded.positions
        if prepared.keep_duplicates:
            positions, rgb = np.repeat(positions, counts, axis=0), _exact_rgb(prepared.rgb, grid.point_voxels)
        details = _details(geometry_encoded.details, self.geometry.card.model_id, geometry_encoded.sections,
                           colour_sections, grid.input_points, rate_number, prepared.note,
                           prepared.keep_duplicates)
        return Encoded(header=header, sections=sections,
                       checksum=_checksum(coords, rgb, counts if prepared.keep_duplicates else None),
                       decoded=PointCloud(positions, {"rgb": _stored(rgb, prepared.source)}), details=details,
                       predicted=geometry_encoded.predicted, reference=geometry_encoded.reference)

    def decode(self, header, sections, progress=None, reference=None):
        fields = self._fields(header)
        geometry = self.geometry_of(fields)
        geometry_sections, colour_sections = self.split_sections(sections, 2 if fields["keep_duplicates"] else 1)
        geometry_decoded, coords = self.geometry_decode(geometry, fields, geometry_sections, progress, reference)
        bits = geometry._frame(fields["geometry_header"])["bits"]
        keys, payload = morton.encode(coords, bits), colour_sections[0]
        if fields["rate"] > len(self.colour_rates):
            raise BitstreamError(f"colour rate {fields['rate']} is not one of {self.card.model_id}'s")
        rate = self.rate(fields["rate"])
        if isinstance(rate, transform_coding.Rate):
            rebuilt = transform_coding.decode(keys, bits, fields["depth"], rate, payload, self.coder)
        else:
            (length,), start = varint.decode(payload, 1)
            net = adaptation.apply(self._net(), payload[start:start + length])
            rebuilt, reader = colour_coding.decode(net, coords, point_levels(keys, bits), bits, fields["depth"],
                                                   rate, payload[start + length:],
                                                   lambda rest: binary_reader(self.coder, rest))
            reader.finish()
        rgb, counts = _rgb(rebuilt, fields["depth"]), None
        positions = geometry_decoded.data.positions
        if fields["keep_duplicates"]:
            counts, rgb = read_duplicates(self.coder, sections[-1], rgb, fields["depth"], self.integer)
            positions = np.repeat(positions, counts, axis=0)
        details = _details(geometry_decoded.details, fields["geometry_model"], geometry_sections,
                           colour_sections, geometry.input_units(fields["geometry_header"]),
                           fields["rate"], None, fields["keep_duplicates"])
        return Decoded(PointCloud(positions, {"rgb": _stored(rgb, fields["source"])}),
                       _checksum(coords, rgb, counts), details, geometry_decoded.predicted, geometry_decoded.reference)

    @classmethod
    def describe(cls, header):
        fields = cls._fields(header)
        return {**cls.describe_geometry(fields),
                "colour": f"{fields['depth']}-bit RGB ({_SOURCES[fields['source']]} input)",
                "colour rate": fields["rate"] or "lossless",
                "duplicates kept": fields["keep_duplicates"]}

    @classmethod
    def made_with(cls, header, options):
        fields = cls._fields(header)
        return (cls.geometry_made_with(fields, options)
                and fields["rate"] == (options.get("colour_rate") or 0)
                and fields["keep_duplicates"] == bool(options.get("keep_duplicates")))

    def _net(self):
        if not hasattr(self, "_network"):
            self._network = self.load_network()
        return self._network

    @classmethod
    def _fields(cls, header):
        (depth, rate, source, flags), fields = cls.split_header(header)
        if depth not in (8, 16) or source not in _SOURCES:
            raise BitstreamError("coloured point-cloud header is corrupted")
        return {"depth": depth, "rate": rate, "source": source,
                "keep_duplicates": bool(flags & _KEEP_DUPLICATES), **fields}


def _details(geometry_details, geometry_model, geometry_sections, colour_sections, input_points, rate, note,
             keep_duplicates):
    """The report (:func:`attribute_details`) with how colour was coded."""
    details = attribute_details(geometry_details, geometry_model, geometry_sections, colour_sections,
                                input_points, "colour")
    details["colour"] = (f"lossy, colour rate {rate}" if rate else "lossless (YCoCg-R)") \
        + (", duplicates kept" if keep_duplicates else "")
    details["colour note"] = note
    return details


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
# under logistics whose scales the encoder fits and sends at the start: two float32 (float
# models), or two int16 log-scale indices of integer logistics (integer models).
_DUPLICATE_SCALES = {False: struct.Struct("<ff"), True: struct.Struct("<hh")}


def _duplicate_logistic(location, scale, integer):
    """(mu, scale) rows of logistics at integer ``location`` (a tensor) with one scale, as
    :func:`colour_coding.code_values` takes them."""
    if integer:
        return location.to(torch.int64) << logistic.LOCATION_BITS, torch.full((location.numel(),), scale)
    return location.to(torch.float32), torch.full((location.numel(),), scale)


def duplicates_payload(coder, counts, rgb, point_voxels, voxel_rgb, depth, integer):
    extra = torch.from_numpy(counts - 1)
    exact = torch.from_numpy(_exact_rgb(rgb, point_voxels))
    around = torch.from_numpy(np.repeat(voxel_rgb, counts, axis=0))
    many = torch.from_numpy(np.repeat(counts > 1, counts))
    count_scale = max(float(extra.float().mean()), logistic.SCALE_MIN)
    colour_scale = max(float((exact - around)[many].abs().float().mean()) if bool(many.any()) else 0.0,
                       logistic.SCALE_MIN)
    if integer:
        count_scale, colour_scale = (int(logistic.scale_index(scale)) for scale in (count_scale, colour_scale))
    writer = binary_writer(coder)
    colour_coding.code_values(writer, extra, *_duplicate_logistic(torch.zeros(len(extra), dtype=torch.int64),
                                                                  count_scale, integer), 0, int(counts.max()) - 1)
    colour_coding.code_values(writer, exact[many], *_duplicate_logistic(around[many], colour_scale, integer),
                              0, (1 << depth) - 1)
    return _DUPLICATE_SCALES[integer].pack(count_scale, colour_scale) + varint.encode([int(counts.max())]) \
        + writer.finish()


def read_duplicates(coder, payload, voxel_rgb, depth, integer):
    scales = _DUPLICATE_SCALES[integer]
    try:
        count_scale, colour_scale = scales.unpack_from(payload)
        (most,), position = varint.decode(payload, 1, scales.size)
    except (struct.error, ValueError, IndexError):
        raise BitstreamError("duplicate points' payload is corrupted") from None
    if most < 1 or not (np.isfinite(count_scale) and np.isfinite(colour_scale)):
        raise BitstreamError("duplicate points' payload is corrupted")
    reader = binary_reader(coder, payload[position:])
    voxels = len(voxel_rgb)
    extra = colour_coding.code_values(reader, None, *_duplicate_logistic(torch.zeros(voxels, dtype=torch.int64),
                                                                         count_scale, integer), 0, most - 1)
    counts = extra.numpy() + 1
    around = torch.from_numpy(np.repeat(voxel_rgb, counts, axis=0))
    many = np.repeat(counts > 1, counts)
    rgb = around.numpy().copy()
    rgb[many] = colour_coding.code_values(reader, None, *_duplicate_logistic(around[many], colour_scale, integer),
                                          0, (1 << depth) - 1).reshape(-1, 3).numpy()
    reader.finish()
    return counts, rgb
