"""The shipped codecs and models, as data: ``omnicodec/weights/*.toml``, one file per codec
family, beside the weight files they describe.

Each file registers its family's codecs (``[codecs.ID]``: the number streams record it by,
the kind of data it codes, its class as "module:Class") and lists its models
(``[[models]]``: a :class:`ModelCard` each, with its weight file's SHA-256 and the recipe
that makes it again). This module reads them (at first use, not at import), checks weight
files against their SHA-256 and builds networks from them. It imports no codec: choosing
a model and its codec class is :mod:`omnicodec.zoo`'s work.
"""

import dataclasses
import functools
import hashlib
import os
import tomllib
import types

from omnicodec.errors import ModelError

WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), "weights")
# The card files, in the order models are listed (``omnicodec models``) and tried.
FAMILY_FILES = ("pointcloud.toml", "attributes.toml", "scans.toml", "lightfield.toml")


@dataclasses.dataclass(frozen=True)
class Registration:
    """A codec's entry: the number streams record it by (never reused), the kind of data it
    codes and its class as "module:Class"."""

    number: int
    data_kind: str
    target: str


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """A shipped model: its codec (a registered codec id), weights and how they were made.

    ``rates``: the ``--rate`` numbers it serves (a rate picks the one card of its data kind
    that lists it); ``default``: the data kind's model when neither a model nor a rate is
    asked for; ``base``: a model whose weights its streams also depend on; ``settings``:
    what its codec needs beyond the weights; ``attributes``: for a model of per-point
    attributes, those it codes: it wraps the geometry model a request picks whenever the
    data carries them (its codec's ``around``), and it is never picked by rate or default;
    ``content``: for a model made for one kind of content (e.g. LiDAR sweeps), what it is:
    the default and the rates for data its codec recognizes (``Codec.suits``), in place of
    the data kind's general ones; ``superseded_by``: the model that took over its rates
    and default (it still decodes its streams, and codes when named)."""

    model_id: str
    file: str
    sha256: str
    codec: str
    data: str
    command: str
    seed: int
    steps: int
    result: str
    rates: tuple = ()
    default: bool = False
    base: str = ""
    settings: types.MappingProxyType = dataclasses.field(default_factory=lambda: types.MappingProxyType({}))
    attributes: tuple = ()
    content: str = ""
    superseded_by: str = ""

    @property
    def data_kind(self):
        return codecs()[self.codec].data_kind


def _frozen(value):
    """TOML arrays as tuples, all the way down (cards are immutable)."""
    return tuple(_frozen(item) for item in value) if isinstance(value, list) else value


def _card(entry, path):
    try:
        fields = {name: _frozen(value) for name, value in entry.items()}
        fields["settings"] = types.MappingProxyType(fields.get("settings", {}))
        return ModelCard(**fields)
    except TypeError as exc:
        raise ModelError(f"{path}: a model card does not fit ({exc})") from None


@functools.lru_cache(maxsize=None)
def _family_files():
    """[(path, parsed TOML)] of every card file, in FAMILY_FILES order."""
    files = []
    for name in FAMILY_FILES:
        path = os.path.join(WEIGHTS_DIR, name)
        try:
            with open(path, "rb") as handle:
                files.append((path, tomllib.load(handle)))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ModelError(f"model cards {path} cannot be read: {exc}") from None
    return files


@functools.lru_cache(maxsize=None)
def codecs():
    """Codec id -> :class:`Registration`, of every family."""
    registry = {}
    for path, family in _family_files():
        for codec_id, entry in family.get("codecs", {}).items():
            registry[codec_id] = Registration(entry["number"], entry["data_kind"], entry["class"])
    return registry


@functools.lru_cache(maxsize=None)
def models():
    """Model id -> :class:`ModelCard`, of every family, in FAMILY_FILES order."""
    cards = {}
    for path, family in _family_files():
        for entry in family.get("models", []):
            card = _card(entry, path)
            if card.codec not in codecs():
                raise ModelError(f"{path}: model {card.model_id} names unknown codec {card.codec!r}")
            cards[card.model_id] = card
    return cards


def card(model_id):
    try:
        return models()[model_id]
    except KeyError:
        raise ModelError(f"unknown model {model_id!r}; known: {', '.join(models())}") from None


def stream_card(model_id):
    """The card of the model a bitstream names."""
    if model_id not in models():
        raise ModelError(f"bitstream needs model {model_id!r}, which this omnicodec does not ship")
    return models()[model_id]


def weights_path(model_id):
    return os.path.join(WEIGHTS_DIR, card(model_id).file)


def file_sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@functools.lru_cache(maxsize=None)
def _verified_state(model_id):
    """(the weight file's contents, its SHA-256 digest), read and checked once."""
    import torch

    entry = card(model_id)
    path = weights_path(model_id)
    if not os.path.exists(path):
        raise ModelError(f"weights of model {model_id!r} are missing ({path})")
    digest = file_sha256(path)
    if entry.sha256 and digest != entry.sha256:
        raise ModelError(f"weights of model {model_id!r} do not match their SHA-256 ({path})")
    return torch.load(path, map_location="cpu", weights_only=True), bytes.fromhex(digest)


def weights_hash(model_id):
    """The 8-byte stamp streams record of a model's weights (zeros for a model without a
    weight file); a model with a base model's stamp also covers the base's."""
    stamp = _verified_state(model_id)[1] if card(model_id).file else bytes(8)
    base = card(model_id).base
    if base:
        stamp = hashlib.sha256(stamp + weights_hash(base)).digest()
    return stamp[:8]


def build(model_id, network):
    """A new ``network`` (a class, or a function of the weight file's config) holding a
    shipped model's checked weights, in eval mode; each call builds its own, so no caller
    can change another's."""
    state = _verified_state(model_id)[0]
    try:
        model = network(**state["config"])
        model.load_state_dict(state["state_dict"])
    except (TypeError, RuntimeError) as exc:
        raise ModelError(f"weights of model {model_id!r} do not fit this omnicodec's network "
                         f"({str(exc).splitlines()[0]})") from None
    return model.eval()


def by_arithmetic(float_network, integer_network):
    """The network of a codec whose weight files hold either a float network or its integer
    twin (the config's ``arithmetic`` says which): a function of a weight file's config,
    for :func:`build`."""
    def network(arithmetic="float", **config):
        if arithmetic == "integer":
            return integer_network(arithmetic=arithmetic, **config)
        return float_network(**config)

    return network
