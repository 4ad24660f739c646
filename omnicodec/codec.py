"""The codec protocol and the registry of codecs.

Every codec (lossless geometry, lossy geometry, light fields, and any to come) is one
class deriving from :class:`Codec`, in one module under ``omnicodec/models/``, listed once
in :data:`CODECS` under its id, with the number streams record it by. A model card
(:mod:`omnicodec.zoo`) names its codec; the API, CLI, batch, eval and benchmarks reach
codecs only through :func:`codec_for`, so they hold no per-kind branches.

A codec reads no files and writes no container: it turns data into its own header bytes
and byte sections (and back), and says what it did in a report.
"""

import dataclasses
import importlib

from omnicodec.data import KIND_NAMES
from omnicodec.errors import BitstreamError, InputError, ModelError


@dataclasses.dataclass(frozen=True)
class Registration:
    """A codec's entry: the number streams record it by (never reused), the kind of data it
    codes and its class as "module:Class"."""

    number: int
    data_kind: str
    target: str


# Codec id (model cards name it) -> its entry. The class is imported on first use only.
CODECS = {
    "pointcloud-lossless": Registration(1, "pointcloud", "omnicodec.models.lossless:LosslessGeometryCodec"),
    "pointcloud-lossy": Registration(2, "pointcloud", "omnicodec.models.lossy:LossyGeometryCodec"),
    "lightfield": Registration(3, "lightfield", "omnicodec.models.lightfield:LightFieldCodec"),
    "pointcloud-colour": Registration(4, "pointcloud", "omnicodec.models.colour:ColourCodec"),
    "pointcloud-lidar": Registration(5, "pointcloud", "omnicodec.models.lidar:LidarCodec"),
    "pointcloud-intensity": Registration(6, "pointcloud", "omnicodec.models.intensity:IntensityCodec"),
    "pointcloud-depth": Registration(7, "pointcloud", "omnicodec.models.depth:DepthCameraCodec"),
    "pointcloud-sparse": Registration(8, "pointcloud", "omnicodec.models.sparse:SparseCodec"),
    "lightfield-synthesis": Registration(9, "lightfield",
                                         "omnicodec.models.lightfield_synthesis:SynthesisLightFieldCodec"),
}


def codec_id(number):
    """The id of the codec a stream records by ``number``; ModelError if unknown here."""
    for name, registration in CODECS.items():
        if registration.number == number:
            return name
    raise ModelError(f"bitstream needs codec number {number}, which this omnicodec does not have")


@dataclasses.dataclass
class Encoded:
    """What a codec's encoder made: its header bytes, the sections, the digest of the data
    the decoder will rebuild, that data itself, and the report's figures."""

    header: bytes
    sections: list
    checksum: bytes
    decoded: object
    details: dict


@dataclasses.dataclass
class Decoded:
    """What a codec's decoder rebuilt, its digest (checked against the stream's) and the
    report's figures."""

    data: object
    checksum: bytes
    details: dict


class Codec:
    """One way of coding one kind of data with one model.

    Subclasses set ``network`` (the nn.Module class of their weights), ``options`` (the
    encoding options they take), ``coded_attributes`` (those of a PointCloud they code; the
    report names the others), ``unit`` (what bits are counted per: "point" or "pixel")
    and ``takes_rate`` (whether the card's rates are an option of theirs), and implement
    :meth:`prepare`, :meth:`encode`, :meth:`decode`, :meth:`describe` and
    :meth:`input_units`. ``self.card`` is their model card, ``self.coder`` the entropy
    coder's name.
    """

    network = None
    options = ()
    coded_attributes = ()  # the point attributes (rgb, intensity...) it codes
    unit = "point"
    takes_rate = False  # whether the card's rates are an option of this codec

    def __init__(self, card, coder):
        self.card = card
        self.coder = coder

    @property
    def data_kind(self):
        return self.card.data_kind

    @property
    def weights_hash(self):
        from omnicodec import zoo

        return zoo.weights_hash(self.card.model_id)

    def prepare(self, data, **options):
        """The data as this codec codes it (e.g. a voxel grid), after checking it and the
        options. Codecs of one data kind share it, so it can be made once for several."""
        raise NotImplementedError

    def encode(self, prepared, rate=None, progress=None):
        """-> :class:`Encoded`. ``progress(count, total=None)`` is called as work is done."""
        raise NotImplementedError

    def decode(self, header, sections, progress=None):
        """Codec header bytes and sections -> :class:`Decoded`."""
        raise NotImplementedError

    @classmethod
    def describe(cls, header):
        """The codec header's fields, by name, for ``omnicodec info``."""
        raise NotImplementedError

    @classmethod
    def made_with(cls, header, options):
        """Whether a stream with this codec header was made with these encoding options
        (those that show in the header; batch runs redo outputs made otherwise)."""
        return True

    @classmethod
    def suits(cls, data):
        """Whether ``data`` is the content this codec's models are made for (asked of the
        codecs of cards with a ``content``, to pick them by default)."""
        return False

    @classmethod
    def wrapped_model(cls, header):
        """The id of the model a stream's header says this codec wrapped (a geometry model
        under a model of attributes), or None."""
        return None

    @classmethod
    def input_units(cls, header):
        """The number of input points (or pixels) a stream's header says it codes."""
        raise NotImplementedError


def codec_class(codec_id):
    """The class of a registered codec id (imported now, not before)."""
    if codec_id not in CODECS:
        raise ModelError(f"unknown codec {codec_id!r}; this omnicodec has: {', '.join(CODECS)}")
    module, name = CODECS[codec_id].target.split(":")
    return getattr(importlib.import_module(module), name)


def codec_for(model_id, coder):
    """The codec of a model (by its card), with that entropy coder."""
    from omnicodec import zoo

    card = zoo.card(model_id)
    return codec_class(card.codec)(card, coder)


def codec_of_stream(header):
    """The codec that decodes a stream with this container header, refusing a model the
    stream's codec does not match."""
    from omnicodec import zoo
    from omnicodec.entropy import check_coder

    card = zoo.stream_card(header.model_id)
    if CODECS[card.codec].number != header.codec:
        raise BitstreamError(f"bitstream codec number {header.codec} does not match its model "
                             f"{header.model_id}")
    check_coder(header.coder)
    codec = codec_for(header.model_id, header.coder)
    if codec.weights_hash != header.weights_hash:
        raise ModelError(f"bitstream was made with other weights of model {header.model_id!r} "
                         f"({header.weights_hash.hex()}, these are {codec.weights_hash.hex()})")
    return codec


def checked_options(codec, options):
    """Refuse options the codec does not take (None means not given)."""
    given = {name: value for name, value in options.items() if value is not None}
    unknown = sorted(set(given) - set(codec.options))
    if unknown:
        known = ", ".join(codec.options) or "none"
        raise InputError(f"option(s) {', '.join(unknown)} do not apply to {KIND_NAMES[codec.data_kind]} "
                         f"model {codec.card.model_id} (its options: {known})")
    return given
