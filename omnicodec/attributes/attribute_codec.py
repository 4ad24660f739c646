"""What every codec of per-point attributes shares: it wraps the geometry codec a request
picks (:meth:`AttributeCodec.around`) and codes its attribute on the voxels that geometry
decodes to.

Its codec header is the attribute's own fixed fields, the wrapped geometry codec's number,
its model id and weights stamp (checked when decoding) and the geometry codec's own
header; its sections are the number of geometry sections, those sections, then the
attribute's. So any geometry model, lossless, lossy or LiDAR, carries any attribute the
same way.
"""

import struct

import numpy as np

from omnicodec import bitstream, catalogue, varint, zoo
from omnicodec.codec import Codec
from omnicodec.errors import BitstreamError, ModelError


def geometry_class(number):
    """The class of the geometry codec a stream records by ``number``."""
    return zoo.codec_class(zoo.codec_id(number))


class AttributeCodec(Codec):
    """Base of the attribute codecs. Subclasses set ``fields`` (a struct.Struct of their
    own header fields) and ``what`` (a name for messages), and code their attribute."""

    fields = struct.Struct("<")
    what = "attribute"
    geometry = None

    # A sequence's frames are predicted where the geometry's model predicts them: this codec
    # hands the frame before's reference to it (see :meth:`geometry_encode`).
    predicts_frames = True

    def around(self, geometry):
        """This codec coding geometry with ``geometry`` (a geometry codec)."""
        self.geometry = geometry
        return self

    def geometry_encode(self, prepared, progress, reference):
        """The geometry codec's (Encoded, voxel coordinates) of ``prepared`` (its part of
        this codec's input), from the frame before's ``reference`` where it predicts frames."""
        return self.geometry.encode_voxels(prepared, progress, reference=reference)

    @staticmethod
    def geometry_decode(geometry, geometry_fields, geometry_sections, progress, reference):
        """``geometry``'s (Decoded, voxel coordinates) of its part of a stream, from the
        frame before's ``reference`` where it predicts frames."""
        return geometry.decode_voxels(geometry_fields["geometry_header"], geometry_sections, progress,
                                      reference=reference)

    def pack_header(self, own, geometry_header):
        """The codec header of the attribute's ``own`` field values and the geometry's header."""
        number = zoo.codec_number(self.geometry.card.codec)
        return (self.fields.pack(*own) + bytes([number]) + bitstream.ascii_field(self.geometry.card.model_id)
                + self.geometry.weights_hash + geometry_header)

    @classmethod
    def split_header(cls, header):
        """-> (the attribute's own field values, {"geometry_codec", "geometry_model",
        "geometry_stamp", "geometry_header"})."""
        try:
            own = cls.fields.unpack_from(header)
            number = header[cls.fields.size]
            length = header[cls.fields.size + 1]
            start = cls.fields.size + 2
            model = header[start:start + length].decode("ascii")
            stamp = header[start + length:start + length + 8]
        except (struct.error, IndexError, UnicodeDecodeError):
            raise BitstreamError(f"{cls.what} header is corrupted") from None
        if len(stamp) != 8:
            raise BitstreamError(f"{cls.what} header is corrupted")
        return own, {"geometry_codec": number, "geometry_model": model, "geometry_stamp": stamp,
                     "geometry_header": header[start + length + 8:]}

    def geometry_of(self, geometry_fields):
        """The geometry codec a stream names, refusing other weights than it was made with."""
        card = catalogue.stream_card(geometry_fields["geometry_model"])
        if zoo.codec_number(card.codec) != geometry_fields["geometry_codec"]:
            raise BitstreamError(f"{self.what} header names a geometry model of another codec")
        geometry = zoo.codec_for(card.model_id, self.coder)
        if geometry.weights_hash != geometry_fields["geometry_stamp"]:
            raise ModelError(f"bitstream was made with other weights of model {card.model_id!r}")
        return geometry

    @staticmethod
    def pack_sections(geometry_sections, own_sections):
        return [varint.encode([len(geometry_sections)]), *geometry_sections, *own_sections]

    @classmethod
    def split_sections(cls, sections, own_count):
        """-> (the geometry's sections, the attribute's ``own_count`` sections)."""
        if not sections:
            raise BitstreamError(f"{cls.what} stream has no sections")
        (count,), _ = varint.decode(sections[0], 1)
        if len(sections) != 1 + count + own_count:
            raise BitstreamError(f"{cls.what} stream's section table is corrupted")
        return sections[1:1 + count], sections[1 + count:]

    @classmethod
    def describe_geometry(cls, geometry_fields):
        """The geometry part of ``omnicodec info``'s fields."""
        geometry = geometry_class(geometry_fields["geometry_codec"])
        return {"geometry model": geometry_fields["geometry_model"],
                **geometry.describe(geometry_fields["geometry_header"])}

    @classmethod
    def input_units(cls, header):
        geometry_fields = cls.split_header(header)[1]
        return geometry_class(geometry_fields["geometry_codec"]).input_units(geometry_fields["geometry_header"])

    @classmethod
    def wrapped_model(cls, header):
        return cls.split_header(header)[1]["geometry_model"]

    @classmethod
    def geometry_made_with(cls, geometry_fields, options):
        return geometry_class(geometry_fields["geometry_codec"]).made_with(geometry_fields["geometry_header"],
                                                                            options)


def attribute_details(geometry_details, geometry_model, geometry_sections, own_sections, input_points, name):
    """The report: the geometry codec's figures, then bytes and bits per input point of
    geometry and of the attribute ``name`` apart (the container's few bytes are in neither)."""
    geometry_bytes = sum(map(len, geometry_sections))
    own_bytes = sum(map(len, own_sections))
    per_point = 8 / max(input_points, 1)
    return {**geometry_details, "geometry model": geometry_model, "geometry bytes": geometry_bytes,
            "geometry bits per point": round(geometry_bytes * per_point, 4),
            f"{name} bytes": own_bytes, f"{name} bits per point": round(own_bytes * per_point, 4)}


def voxel_means(values, point_voxels, voxels):
    """Each voxel's (C per point) values: the rounded mean of its points' (0 for a voxel
    without points); and its point count."""
    counts = np.bincount(point_voxels, minlength=voxels)
    sums = np.zeros((voxels, values.shape[1]), dtype=np.int64)
    np.add.at(sums, point_voxels, values)
    return (sums + counts[:, None] // 2) // np.maximum(counts, 1)[:, None], counts


def carried_to(coords, values, decoded):
    """Per-voxel values of the original voxels ``coords`` carried to the ``decoded`` voxels
    of lossy geometry, as G-PCC recolours: each decoded voxel takes the mean of the
    originals whose nearest decoded voxel it is, else its nearest original's."""
    from scipy.spatial import cKDTree

    _, nearest_decoded = cKDTree(decoded).query(coords)
    mean, counts = voxel_means(values, nearest_decoded, len(decoded))
    _, nearest_original = cKDTree(coords).query(decoded)
    return np.where(counts[:, None] > 0, mean, values[nearest_original])
