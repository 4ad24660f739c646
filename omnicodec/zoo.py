"""Registry of the pretrained models shipped in ``omnicodec/weights``.

Each entry records its file, SHA-256 and how to make it again: the data recipe, the
exact training command, the seed and steps, and what it reached.
"""

import dataclasses
import functools
import hashlib
import os
import types

from omnicodec.data import COLOUR_ATTRIBUTES, INTENSITY_ATTRIBUTES, KIND_NAMES
from omnicodec.errors import InputError, ModelError

WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), "weights")


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """A shipped model: its codec (omnicodec.codec.CODECS), weights and how they were made.

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
        from omnicodec.codec import CODECS

        return CODECS[self.codec].data_kind


# Lossy networks, one per octree depth the decoder regrows: weight file, SHA-256, training
# run of scripts/train_lossy.sh, steps. Several rates share a network.
LOSSY_NETWORKS = {
    3: ("lossy_d3.pt", "a2db23abd844cfa716e85643be2533718888decf0df40640f799a607bb11c656",
        "lossy-d3-l2", 1500),
    2: ("lossy_d2.pt", "9b31663878d0d0fd3fecbb1214388365dfa22cd6fab1feecb9c3b2c68ef75e9c",
        "lossy-d2-l2", 2400),
    1: ("lossy_d1.pt", "6bce52e63e422815a4547995375e4aee26db53777abab4d9ac022064f32e3780",
        "lossy-d1-l2", 1200),
}
# The integer lossy networks (models.lossy_integer), one per float network above: weight
# file, SHA-256, and the float card whose network it quantizes.
INTEGER_LOSSY_NETWORKS = {
    3: ("lossy_d3_int.pt", "2563cb9712e452a9c7da5bd0ba0a8fc6cea0dfb7e60d8f29ae9257cbc6502d66", "lossy-r1"),
    2: ("lossy_d2_int.pt", "f20d2b66d9ab9ac26fb4ccb65e7c49fb5c3ef0e4ea0a7d84ceeabec95dd2703a", "lossy-r5"),
    1: ("lossy_d1_int.pt", "45109e28d85dbc38d0911e37c16fd0df1e6e8147ec0b8fd6433dde7773af63f2", "lossy-r9"),
}
# The rates, fewest bits first: (network depth, refinement stages sent exactly at the first
# level it regrows, what it measured on 8i soldier_vox10_0690_partial). The rule: each depth
# alone and with 1, 2 and 4 of the 8 stages of its first regrown level; the finest also with 6.
LOSSY_RATES = [
    (3, 0, "0.0206 bpp, D1 62.84 dB, D2 64.13 dB"),
    (3, 1, "0.0299 bpp, D1 64.60 dB, D2 66.06 dB"),
    (3, 2, "0.0358 bpp, D1 65.96 dB, D2 67.86 dB"),
    (3, 4, "0.0466 bpp, D1 67.67 dB, D2 69.74 dB"),
    (2, 0, "0.0638 bpp, D1 69.46 dB, D2 71.82 dB"),
    (2, 1, "0.0912 bpp, D1 71.06 dB, D2 73.71 dB"),
    (2, 2, "0.1081 bpp, D1 71.96 dB, D2 75.00 dB"),
    (2, 4, "0.1401 bpp, D1 73.09 dB, D2 76.33 dB"),
    (1, 0, "0.1932 bpp, D1 74.20 dB, D2 77.42 dB"),
    (1, 1, "0.2783 bpp, D1 76.02 dB, D2 79.67 dB"),
    (1, 2, "0.3399 bpp, D1 77.40 dB, D2 81.56 dB"),
    (1, 4, "0.4484 bpp, D1 80.06 dB, D2 84.52 dB"),
    (1, 6, "0.5435 bpp, D1 83.89 dB, D2 88.54 dB"),
]
# The light-field network (one network, one gain vector per rate): SHA-256, steps, results.
LIGHTFIELD_WEIGHTS = (
    "d15ba578b7a42e718fe3aec3db4d0f13e845709585ae97f41e3a199c5274774b", 2500,
    "HCI antinous (9x9x512x512, never trained on), rates 1-4: 0.0098/0.0208/0.0533/0.1777 bpp, "
    "PSNR-YUV 34.71/38.19/41.69/45.26 dB; Lytro 2067 (9x9x383x552): 0.0106/0.0234/0.0816/0.3486 "
    "bpp, 33.07/36.38/39.70/43.25 dB; BD-rate (PSNR-YUV) against the x265 pseudo-sequence: "
    "+450% and +81%")
# The light-field synthesis model (entropy scales fitted at each rate): SHA-256, results.
SYNTHESIS_WEIGHTS = (
    "f0d49bac93a026aec21b1abd900cb54f0a1d45033d322de71a20fb37cc7f642f",
    "HCI antinous (9x9x512x512, never fitted on), rates 1-8: 0.0013-0.057 bpp at PSNR-YUV "
    "34.21-48.22 dB; Lytro 2067 (9x9x383x552): 0.0019-0.153 bpp at 32.35-41.73 dB; BD-rate "
    "(PSNR-YUV) against the x265 pseudo-sequence: -44.4% and -34.4%")
# The colour model: SHA-256, training command, steps, results. Its colour rates, fewest bits
# first: the quantization steps of Y, Co, Cg at the finest level, their ratio per coarser
# level, the rounding offset of the prediction errors and the Lagrangian of the encoder's
# rate-distortion choice between the two nearest symbols (omnicodec.attributes.colour_coding).
COLOUR_WEIGHTS = (
    "6724f8d5ab8aee6035a75e35d240341f9eadc899fad58ccddeeac19957d6b213",
    "python -m omnicodec.train --kind colour --data ~/.cache/omnicodec/colour_clouds.h5 "
    "--run ~/.cache/omnicodec/runs/colour --steps 8000 --batch 2 --channels 64 --lr 2e-3 --seed 0 "
    "--resume, then: python -m omnicodec.train --run ~/.cache/omnicodec/runs/colour "
    "--export omnicodec/weights/colour_v1.pt",
    8000,
    "8i soldier_vox10_0690_partial (validation, never trained on), lossless geometry: lossless colour "
    "6.847 bits per point (768,881 bytes; 839,721 in all; MPEG G-PCC v23: 7.049, 876,998 in all); "
    "colour rates 1-7: 0.019/0.026/0.062/0.111/0.220/0.488/0.912 bits per point at Y PSNR "
    "24.67/25.68/27.83/29.83/32.50/36.25/40.03 dB; BD-rate of colour bits against Y PSNR versus "
    "G-PCC v23 RAHT: +58.5%")
COLOUR_RATES = (
    ((256, 512, 512), 0.55, 0.5, 0.1),
    ((160, 320, 320), 0.6, 0.5, 0.1),
    ((96, 192, 192), 0.6, 0.5, 0.1),
    ((56, 112, 112), 0.65, 0.5, 0.1),
    ((32, 64, 64), 0.7, 0.5, 0.1),
    ((18, 36, 36), 0.7, 0.5, 0.1),
    ((10, 20, 20), 0.75, 0.5, 0.1),
)
# The LiDAR model: SHA-256, training command, steps, results.
LIDAR_WEIGHTS = (
    "90313a285e2f8fc111216ac99f9659aae32aa4c6b41c69464863aa2506917209",
    "python -m omnicodec.train --kind lidar --run ~/.cache/omnicodec/runs/lidar --steps 1500 "
    "--channels 32 --lr 3e-3 --seed 0 --resume, then: python -m omnicodec.train --run "
    "~/.cache/omnicodec/runs/lidar --export omnicodec/weights/lidar_v1.pt",
    1500,
    "1 mm grids, lossless geometry: kitti_object_000114 (held out) 11.07 bits per point; "
    "kitti_object_000000 12.50 (MPEG G-PCC v23 octree 20.36: 0.61x), ouster_OS-2-128 12.99 (22.90: "
    "0.57x), semantickitti_000000 12.41 (20.27: 0.61x); encode ~2 s, decode ~1.3 s in a fresh process")
# LiDAR rates, fewest bits first: the voxels per unit of the ranges, arcs and heights sent,
# one return in how many of each laser is kept (models.lidar), and what each measured.
LIDAR_RATES = (
    (256, 8, "0.556 bpp, D1 52.61 dB, D2 60.72 dB"),
    (192, 4, "0.909 bpp, D1 55.85 dB, D2 62.82 dB"),
    (96, 2, "1.760 bpp, D1 60.23 dB, D2 66.66 dB"),
    (96, 1, "2.798 bpp, D1 65.72 dB, D2 71.18 dB"),
    (64, 1, "3.152 bpp, D1 68.59 dB, D2 74.10 dB"),
    (32, 1, "3.868 bpp, D1 73.34 dB, D2 79.01 dB"),
    (16, 1, "4.748 bpp, D1 78.21 dB, D2 83.83 dB"),
    (8, 1, "5.834 bpp, D1 83.18 dB, D2 88.29 dB"),
    (4, 1, "7.223 bpp, D1 88.02 dB, D2 92.78 dB"),
    (2, 1, "9.004 bpp, D1 91.72 dB, D2 96.71 dB"),
)
# The depth-camera model: SHA-256, training command, steps, results.
DEPTH_WEIGHTS = (
    "8618c6e9e15720d0f780e9ad45a8b8c0c4dd8b58360636b8aed9df5479d781dc",
    "python -m omnicodec.train --kind depth --run ~/.cache/omnicodec/runs/depth --steps 1500 "
    "--channels 32 --lr 3e-3 --seed 0 --resume, then: python -m omnicodec.train --run "
    "~/.cache/omnicodec/runs/depth --export omnicodec/weights/depth_v1.pt",
    1500,
    "held-out OSD test frames: 1.137 bits per depth")
_LIDAR_DATA = "python -m datasets.lidar --data ../shared/data --out ~/.cache/omnicodec/lidar_fields.h5 --seed 0"
_DATA = ("python -m datasets.prepare --data ../shared/data "
         "--out ~/.cache/omnicodec/train_blocks.h5 --seed 0")

MODELS = {
    card.model_id: card
    for card in [
        ModelCard(
            model_id="occupancy-v1",
            file="occupancy_v1.pt",
            sha256="410caf124ebd35c1a21a8ad1eb0cc5a3eeeb931a52263f45da4b51e8619140e9",
            codec="pointcloud-lossless",
            data=_DATA,
            command="python -m omnicodec.train --data ~/.cache/omnicodec/train_blocks.h5 "
                    "--run ~/.cache/omnicodec/runs/lossless --steps 9000 --seed 0",
            seed=0,
            steps=9000,
            result="8i soldier_vox10_0690_partial (never trained on): 0.6305 bits per point "
                   "(70,811 bytes; MPEG G-PCC v23 lossless: 0.760); held-out training blocks: "
                   "0.446 bits per voxel at their finest scale",
            superseded_by="occupancy-v2",
        ),
        ModelCard(
            model_id="occupancy-v2",
            file="occupancy_v2.pt",
            sha256="56eaa2a80936933f8a8877b9731b7ba8f4213f5641b240e08f3744f56686b544",
            codec="pointcloud-lossless",
            default=True,
            settings=types.MappingProxyType({"arithmetic": "integer"}),
            data="occupancy-v1's weights, and for calibration the first 8 training objects of "
                 "datasets.prepare (meshes in ../shared/data/meshes, seed 0)",
            command="python -m omnicodec.models.occupancy_integer --data ../shared/data "
                    "--base occupancy-v1 --objects 8 --out omnicodec/weights/occupancy_v2.pt",
            seed=0,
            steps=0,
            result="occupancy-v1 in 16-bit fixed point (integer arithmetic, the same bits on every "
                   "machine): 8i soldier_vox10_0690_partial (never trained on): ideal code length "
                   "+0.01% over occupancy-v1's",
        ),
    ]
    + [
        ModelCard(
            model_id=f"lossy-r{rate}",
            file=LOSSY_NETWORKS[depth][0],
            sha256=LOSSY_NETWORKS[depth][1],
            codec="pointcloud-lossy",
            rates=(rate,),
            base="occupancy-v1",
            # the lossless model's coding stages of the first regrown level sent exactly
            settings=types.MappingProxyType({"refine_stages": refine}),
            data=_DATA,
            command=f"bash scripts/train_lossy.sh (its run {LOSSY_NETWORKS[depth][2]}), then: "
                    f"python -m omnicodec.train --run ~/.cache/omnicodec/runs/"
                    f"{LOSSY_NETWORKS[depth][2]} --export omnicodec/weights/{LOSSY_NETWORKS[depth][0]}",
            seed=0,
            steps=LOSSY_NETWORKS[depth][3],
            result=f"8i soldier_vox10_0690_partial (validation, never trained on): {result}",
            superseded_by=f"lossy-v2-r{rate}",
        )
        for rate, (depth, refine, result) in enumerate(LOSSY_RATES, start=1)
    ]
    + [
        ModelCard(
            model_id=f"lossy-v2-r{rate}",
            file=INTEGER_LOSSY_NETWORKS[depth][0],
            sha256=INTEGER_LOSSY_NETWORKS[depth][1],
            codec="pointcloud-lossy",
            rates=(rate,),
            base="occupancy-v2",
            settings=types.MappingProxyType({"refine_stages": refine, "arithmetic": "integer"}),
            data=f"{INTEGER_LOSSY_NETWORKS[depth][2]}'s weights, and for calibration the first 6 "
                 "training objects of datasets.prepare (meshes in ../shared/data/meshes, seed 0)",
            command=f"python -m omnicodec.models.lossy_integer --data ../shared/data --base "
                    f"{INTEGER_LOSSY_NETWORKS[depth][2]} --objects 6 --out "
                    f"omnicodec/weights/{INTEGER_LOSSY_NETWORKS[depth][0]}",
            seed=0,
            steps=0,
            result=f"lossy-r{rate} in 16-bit fixed point (integer arithmetic, the same reconstruction "
                   f"on every machine); lossy-r{rate} measured {result} on 8i soldier_vox10_0690_partial",
        )
        for rate, (depth, refine, result) in enumerate(LOSSY_RATES, start=1)
    ]
    + [
        ModelCard(
            model_id="colour-v1",
            file="colour_v1.pt",
            sha256=COLOUR_WEIGHTS[0],
            codec="pointcloud-colour",
            attributes=COLOUR_ATTRIBUTES,  # also a lone red/green/blue: its codec refuses it
            settings=types.MappingProxyType({"colour_rates": COLOUR_RATES}),
            data="python -m datasets.colours --data ../shared/data "
                 "--out ~/.cache/omnicodec/colour_clouds.h5 --seed 0",
            command=COLOUR_WEIGHTS[1],
            seed=0,
            steps=COLOUR_WEIGHTS[2],
            result=COLOUR_WEIGHTS[3],
        ),
        ModelCard(
            model_id="intensity-v1",
            file="",
            sha256="",
            codec="pointcloud-intensity",
            attributes=INTENSITY_ATTRIBUTES,
            data="none: nothing is trained; the encoder fits each stream's scales and sends them",
            command="",
            seed=0,
            steps=0,
            result="exact intensities on 1 mm grids: KITTI (hundredths) 4.8-5.3 bits per point, Ouster "
                   "OS-2-128 (integers) 5.7, nuScenes 3.6",
        ),
        ModelCard(
            model_id="lidar-v1",
            file="lidar_v1.pt",
            sha256=LIDAR_WEIGHTS[0],
            codec="pointcloud-lidar",
            content="spinning-LiDAR sweeps",
            default=True,
            base="occupancy-v1",  # codes the points no laser explains
            data=_LIDAR_DATA,
            command=LIDAR_WEIGHTS[1],
            seed=0,
            steps=LIDAR_WEIGHTS[2],
            result=LIDAR_WEIGHTS[3],
        ),
    ]
    + [
        ModelCard(
            model_id=f"lidar-r{rate}",
            file="lidar_v1.pt",
            sha256=LIDAR_WEIGHTS[0],
            codec="pointcloud-lidar",
            content="spinning-LiDAR sweeps",
            rates=(rate,),
            base="occupancy-v1",
            settings=types.MappingProxyType({"quantum": quantum, "keep_every": keep_every}),
            data=_LIDAR_DATA,
            command=LIDAR_WEIGHTS[1],
            seed=0,
            steps=LIDAR_WEIGHTS[2],
            result=f"semantickitti_000000 on its 1 mm grid (peak 30000): {result}",
        )
        for rate, (quantum, keep_every, result) in enumerate(LIDAR_RATES, start=1)
    ]
    + [
        ModelCard(
            model_id="depth-v1",
            file="depth_v1.pt",
            sha256=DEPTH_WEIGHTS[0],
            codec="pointcloud-depth",
            content="depth-camera frames",
            default=True,
            base="occupancy-v1",  # codes the points the camera does not explain
            data="python -m datasets.depth --data ../shared/data --out ~/.cache/omnicodec/depth_fields.h5",
            command=DEPTH_WEIGHTS[1],
            seed=0,
            steps=DEPTH_WEIGHTS[2],
            result=DEPTH_WEIGHTS[3],
        ),
        ModelCard(
            model_id="sparse-v1",
            file="",
            sha256="",
            codec="pointcloud-sparse",
            content="sparse scans",
            default=True,
            base="occupancy-v1",  # codes the occupied cells
            data="none: nothing is trained beyond its base model; the encoder fits each stream's count logistic",
            command="",
            seed=0,
            steps=0,
            result="scannet_scene0011_00 on its 1 mm grid: 15.47 bits per point (MPEG G-PCC v23 octree "
                   "14.56: 1.06x; occupancy-v1: 26.32), encode 2.9 s, decode 1.6 s",
        ),
        ModelCard(
            model_id="lightfield-v1",
            file="lightfield_v1.pt",
            sha256=LIGHTFIELD_WEIGHTS[0],
            codec="lightfield",
            rates=(1, 2, 3, 4),
            superseded_by="lightfield-v2",
            data="python -m datasets.lightfields --data ../shared/data "
                 "--out ~/.cache/omnicodec/lf_patches.h5 --seed 0",
            command="python -m omnicodec.train --kind lightfield --data ~/.cache/omnicodec/lf_patches.h5 "
                    "--run ~/.cache/omnicodec/runs/lf-dct --steps 2500 --batch 8 --channels 128 "
                    "--lr 1e-3 --seed 0 --resume, then: python -m omnicodec.train "
                    "--run ~/.cache/omnicodec/runs/lf-dct --export omnicodec/weights/lightfield_v1.pt "
                    "(trained by omnicodec 0.1.0, whose batches dropped the patches of other grid "
                    "sizes than the first one's; today's batches are whole, so a rerun draws "
                    "other batches and reaches close, not identical, weights)",
            seed=0,
            steps=LIGHTFIELD_WEIGHTS[1],
            result=LIGHTFIELD_WEIGHTS[2],
        ),
        ModelCard(
            model_id="lightfield-v2",
            file="lightfield_v2.pt",
            sha256=SYNTHESIS_WEIGHTS[0],
            codec="lightfield-synthesis",
            rates=tuple(range(1, 9)),
            default=True,
            data="the training scenes of datasets.lightfields (HCI cotton; dino's 33 views), read "
                 "from ../shared/data/lightfields",
            command="python -m omnicodec.models.lightfield_synthesis --data ../shared/data "
                    "--out omnicodec/weights/lightfield_v2.pt",
            seed=0,
            steps=0,  # fitted in one pass over the training scenes, not by gradient steps
            result=SYNTHESIS_WEIGHTS[1],
        ),
    ]
}


def card(model_id):
    try:
        return MODELS[model_id]
    except KeyError:
        raise ModelError(f"unknown model {model_id!r}; known: {', '.join(MODELS)}") from None


def stream_card(model_id):
    """The card of the model a bitstream names."""
    if model_id not in MODELS:
        raise ModelError(f"bitstream needs model {model_id!r}, which this omnicodec does not ship")
    return MODELS[model_id]


def rates(data_kind, data=None):
    """The ``--rate`` numbers of a data kind, lowest (fewest bits) first: of the models
    made for ``data``'s content if they have rates, else of the general ones."""
    return sorted(r for entry in _rate_cards(data_kind, data) for r in entry.rates)


def _general_cards(data_kind):
    return [e for e in _whole_data_cards(data_kind) if not e.content and not e.superseded_by]


def _rate_cards(data_kind, data):
    """The cards whose rates serve ``data``: its content's, where they have rates (a
    lossless-only content is coded at a rate by the general models)."""
    cards = _content_cards(data_kind, data)
    return cards if any(e.rates for e in cards) else _general_cards(data_kind)


def codec_class_of(entry):
    from omnicodec.codec import codec_class

    return codec_class(entry.codec)


def _whole_data_cards(data_kind):
    return [entry for entry in MODELS.values() if entry.data_kind == data_kind and not entry.attributes]


def attribute_card(data_kind, attributes, options=()):
    """The card of the model that codes some of ``attributes`` (names a cloud carries) of
    this data kind, or whose codec takes one of ``options`` (names of options given);
    None if no model does."""
    from omnicodec.codec import codec_class

    for entry in MODELS.values():
        if entry.data_kind == data_kind and entry.attributes and (
                set(entry.attributes) & set(attributes) or set(codec_class(entry.codec).options) & set(options)):
            return entry
    return None


def resolve(data_kind, model=None, rate=None, data=None):
    """The card that codes ``data_kind`` with ``model``, or at ``rate``, or by default; for
    ``data`` a model made for its content (its codec recognizes it) comes first."""
    if model is not None:
        entry = card(model)
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
        if codec_class_of(cards[0]).suits(data):
            return cards
    return []


def _serves(entry, rate):
    """A card serves its own rates; a card of several rates also those between them."""
    return rate in entry.rates or (len(entry.rates) > 1 and entry.rates[0] <= rate <= entry.rates[-1])


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


def load(model_id):
    """A new instance of a shipped model's network, in eval mode, with its checked weights
    (each call builds its own, so no caller can change another's)."""
    from omnicodec.codec import codec_class

    state = _verified_state(model_id)[0]
    try:
        model = codec_class(card(model_id).codec).network(**state["config"])
        model.load_state_dict(state["state_dict"])
    except (TypeError, RuntimeError) as exc:
        raise ModelError(f"weights of model {model_id!r} do not fit this omnicodec's network "
                         f"({str(exc).splitlines()[0]})") from None
    return model.eval()
