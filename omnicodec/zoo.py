"""Model choice, in one place: which model and codec code a request, and which decode a
stream.

A request (data kind, model, rate, the data's content and attributes) resolves to a model
card of :mod:`omnicodec.catalogue` and its codec class; a stream's container header names
its codec number and model. The API, CLI, batch, eval and benchmarks reach codecs only
through here, so they hold no per-kind branches. Codec classes are imported on first use
from the "module:Class" their registration names.
"""

import importlib

from omnicodec import catalogue
from omnicodec.data import KIND_NAMES
from omnicodec.errors import BitstreamError, InputError, ModelError


def codec_id(number):
    """The id of the codec a stream records by ``number``; ModelError if unknown here."""
    for name, registration in catalogue.codecs().items():
        if registration.number == number:
            return name
    raise ModelError(f"bitstream needs codec number {number}, which this omnicodec does not have")


def codec_number(codec_id):
    """The number streams record a registered codec id by."""
    return catalogue.codecs()[codec_id].number


def codec_class(codec_id):
    """The class of a registered codec id (imported now, not before)."""
    registry = catalogue.codecs()
    if codec_id not in registry:
        raise ModelError(f"unknown codec {codec_id!r}; this omnicodec has: {', '.join(registry)}")
    module, name = registry[codec_id].target.split(":")
    return getattr(importlib.import_module(module), name)


def codec_for(model_id, coder):
    """The codec of a model (by its card), with that entropy coder."""
    card = catalogue.card(model_id)
    return codec_class(card.codec)(card, coder)


def select(kind, model=None, rate=None, coder=None, attributes=(), options=(), data=None):
    """The codec of ``model`` (or of the data kind's model at ``rate``, or its default, the
    model made for ``data``'s content first) with entropy coder ``coder``; wrapped by the
    model of per-point attributes that codes some of ``attributes`` (the data's) or takes
    some of ``options`` (names of the options given), if there is one."""
    codec = codec_for(resolve(kind, model, rate, data).model_id, coder)
    extension = attribute_card(kind, attributes, [name for name in options if name not in codec.options])
    return codec_for(extension.model_id, coder).around(codec) if extension else codec


def codec_of_stream(header):
    """The codec that decodes a stream with this container header, refusing a model the
    stream's codec does not match."""
    from omnicodec.entropy import check_coder

    card = catalogue.stream_card(header.model_id)
    if codec_number(card.codec) != header.codec:
        raise BitstreamError(f"bitstream codec number {header.codec} does not match its model "
                             f"{header.model_id}")
    check_coder(header.coder)
    codec = codec_for(header.model_id, header.coder)
    if codec.weights_hash != header.weights_hash:
        raise ModelError(f"bitstream was made with other weights of model {header.model_id!r} "
                         f"({header.weights_hash.hex()}, these are {codec.weights_hash.hex()})")
    return codec


def rates(data_kind, data=None):
    """The ``--rate`` numbers of a data kind, lowest (fewest bits) first: of the models
    made for ``data``'s content if they have rates, else of the general ones."""
    return sorted(r for entry in _rate_cards(data_kind, data) for r in entry.rates)


def _general_cards(data_kind):
    return [e for e in _whole_data_cards(data_kind) if not e.content]


def _rate_cards(data_kind, data):
    """The cards whose rates serve ``data``: its content's, where they have rates (a
    lossless-only content is coded at a rate by the general models)."""
    cards = _content_cards(data_kind, data)
    return cards if any(e.rates for e in cards) else _general_cards(data_kind)


def _whole_data_cards(data_kind):
    """The current cards of models of whole data (not of attributes) of this kind: none
    superseded (those only decode their streams, or code when named)."""
    return [entry for entry in catalogue.models().values()
            if entry.data_kind == data_kind and not entry.attributes and not entry.superseded_by]


def attribute_card(data_kind, attributes, options=()):
    """The card of the model that codes some of ``attributes`` (names a cloud carries) of
    this data kind, or whose codec takes one of ``options`` (names of options given);
    None if no model does."""
    for entry in catalogue.models().values():
        if entry.data_kind == data_kind and entry.attributes and not entry.superseded_by and (
                set(entry.attributes) & set(attributes) or set(codec_class(entry.codec).options) & set(options)):
            return entry
    return None


def resolve(data_kind, model=None, rate=None, data=None):
    """The card that codes ``data_kind`` with ``model``, or at ``rate``, or by default; for
    ``data`` a model made for its content (its codec recognizes it) comes first."""
    if model is not None:
        entry = catalogue.card(model)
        if entry.attributes:
            raise InputError(f"model {model} codes {', '.join(entry.attributes[:1])} on top of a geometry "
                             "model, which it joins by itself when the data has them: name a geometry "
                             "model (or none)")
        if entry.data_kind != data_kind:
            raise InputError(f"model {model} codes {KIND_NAMES[entry.data_kind]}s, and this input is a "
                             f"{KIND_NAMES[data_kind]}")
        if rate is not None and not entry.rates:
            raise InputError(f"model {model} has no rates; leave out --rate")
        if rate is not None and not _serves(entry, rate):
            raise InputError(f"rate {rate} is out of range: model {model} has rates "
                             f"{entry.rates[0]} to {entry.rates[-1]}")
        return entry
    if rate is None:
        return next(e for e in _content_cards(data_kind, data) or _general_cards(data_kind) if e.default)
    cards = _rate_cards(data_kind, data)
    for entry in cards:
        if _serves(entry, rate):
            return entry
    available = sorted(r for entry in cards for r in entry.rates)
    what = cards[0].content if cards[0].content else f"{KIND_NAMES[data_kind]}s"
    if not available:
        raise InputError(f"there are no rates for {what}")
    raise InputError(f"rate {rate} is out of range: the rates for {what} are {available[0]} to {available[-1]}")


def _content_cards(data_kind, data):
    """The cards made for the content of ``data`` (a content whose codec recognizes it),
    or none."""
    if data is None:
        return []
    contents = {}
    for entry in _whole_data_cards(data_kind):
        if entry.content:
            contents.setdefault(entry.content, []).append(entry)
    for cards in contents.values():
        if codec_class(cards[0].codec).suits(data):
            return cards
    return []


def _serves(entry, rate):
    """A card serves its own rates; a card of several rates also those between them."""
    return rate in entry.rates or (len(entry.rates) > 1 and entry.rates[0] <= rate <= entry.rates[-1])


def load(model_id):
    """A new instance of a shipped model's network (its codec's), with its checked weights."""
    return catalogue.build(model_id, codec_class(catalogue.card(model_id).codec).network)


def stream_models(header):
    """The ids of every model a stream's decoder runs: its model, the geometry model it
    wraps (an attribute codec's), and their base models, transitively."""
    wrapped = codec_class(codec_id(header.codec)).wrapped_model(header.codec_header)
    pending, seen = [header.model_id, *([wrapped] if wrapped else [])], []
    while pending:
        model_id = pending.pop(0)
        if model_id not in seen:
            seen.append(model_id)
            base = catalogue.stream_card(model_id).base
            pending.extend([base] if base else [])
    return seen


def portable(header):
    """Whether every model a stream's decoder runs computes in integers, so the stream
    decodes bit-exactly on every machine (a float model's decodes where the machine
    computes its floats as the writer's did, and is refused by its checksum elsewhere)."""
    return all(catalogue.stream_card(model_id).settings.get("arithmetic") == "integer"
               for model_id in stream_models(header))
