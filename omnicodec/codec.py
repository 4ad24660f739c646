"""The codec protocol: what every codec is and does.

Every codec (lossless geometry, lossy geometry, colour, sensor scans, light fields, and
any to come) is one class deriving from :class:`Codec`, in its family's package
(``omnicodec/pointcloud``, ``attributes``, ``scans``, ``lightfield``), registered once in
its family's card file (``omnicodec/weights/*.toml``, read by :mod:`omnicodec.catalogue`)
with the number streams record it by. :mod:`omnicodec.zoo` picks codecs; this module
knows nothing of that choice.

A codec reads no files and writes no container: it turns data into its own header bytes
and byte sections (and back), and says what it did in a report.
"""

import dataclasses

from omnicodec import catalogue
from omnicodec.data import KIND_NAMES
from omnicodec.errors import InputError


@dataclasses.dataclass
class Encoded:
    """What a codec's encoder made: its header bytes, the sections, the digest of the data
    the decoder will rebuild, that data itself, and the report's figures; for codecs that
    predict a sequence's frames (``predicts_frames``), whether this frame was ``predicted``
    from the one before and the ``reference`` the next frame may be predicted from."""

    header: bytes
    sections: list
    checksum: bytes
    decoded: object
    details: dict
    predicted: bool = False
    reference: object = None


@dataclasses.dataclass
class Decoded:
    """What a codec's decoder rebuilt, its digest (checked against the stream's), the
    report's figures and (codecs that predict frames) whether the stream was
    ``predicted`` from the frame before and the ``reference`` for the next frame."""

    data: object
    checksum: bytes
    details: dict
    predicted: bool = False
    reference: object = None


class Codec:
    """One way of coding one kind of data with one model.

    Subclasses set ``network`` (the nn.Module class of their weights), ``options`` (the
    encoding options they take), ``coded_attributes`` (those of a PointCloud they code; the
    report names the others), ``unit`` (what bits are counted per: "point" or "pixel")
    and ``takes_rate`` (whether the card's rates are an option of theirs), and implement
    :meth:`prepare`, :meth:`encode`, :meth:`decode`, :meth:`describe` and
    :meth:`input_units`. ``self.card`` is their model card, ``self.coder`` the entropy
    coder's name. A codec that can predict a sequence's frames from the frame before says
    so by :attr:`predicts_frames`; its encode and decode then use that frame's
    ``reference`` (an :class:`Encoded`'s or :class:`Decoded`'s), which the others ignore.
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
    def predicts_frames(self):
        """Whether this codec's model predicts a sequence's frames from the one before."""
        return False

    @property
    def integer(self):
        """Whether this codec's model computes in integers (its card's ``arithmetic``): its
        streams then decode bit-exactly on every machine."""
        return self.card.settings.get("arithmetic") == "integer"

    @property
    def weights_hash(self):
        return catalogue.weights_hash(self.card.model_id)

    def load_network(self, model_id=None, network=None):
        """A new ``network`` (default: this codec's) with the checked weights of ``model_id``
        (default: this codec's model)."""
        return catalogue.build(model_id or self.card.model_id, network or self.network)

    def prepare(self, data, **options):
        """The data as this codec codes it (e.g. a voxel grid), after checking it and the
        options. Codecs of one data kind share it, so it can be made once for several."""
        raise NotImplementedError

    def encode(self, prepared, rate=None, progress=None, reference=None):
        """-> :class:`Encoded`. ``progress(count, total=None)`` is called as work is done;
        ``reference``: the frame before's (see :attr:`predicts_frames`)."""
        raise NotImplementedError

    def decode(self, header, sections, progress=None, reference=None):
        """Codec header bytes and sections -> :class:`Decoded` (``reference`` as in
        :meth:`encode`)."""
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


def checked_options(codec, options):
    """Refuse options the codec does not take (None means not given)."""
    given = {name: value for name, value in options.items() if value is not None}
    unknown = sorted(set(given) - set(codec.options))
    if unknown:
        known = ", ".join(codec.options) or "none"
        raise InputError(f"option(s) {', '.join(unknown)} do not apply to {KIND_NAMES[codec.data_kind]} "
                         f"model {codec.card.model_id} (its options: {known})")
    return given
