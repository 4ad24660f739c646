"""Registry of the pretrained models shipped in ``omnicodec/weights``.

Each entry records its file, SHA-256 and how to make it again: the data recipe, the
exact training command, the seed and steps, and what it reached.
"""

import dataclasses
import functools
import hashlib
import os

import torch

from omnicodec.errors import ModelError

WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), "weights")


@dataclasses.dataclass(frozen=True)
class ModelCard:
    model_id: str
    file: str
    sha256: str
    kind: str
    data: str
    command: str
    seed: int
    steps: int
    result: str
    base: str = ""  # lossy models: the lossless model that codes their coarse scale


# The lossy rates: (training run of scripts/train_lossy.sh, steps), fewest bits first.
LOSSY_RUNS = [("lossy-d3-l2", 1500), ("lossy-d3-l10", 2100), ("lossy-d2-l2", 1200),
              ("lossy-d2-l8", 1800), ("lossy-d1-l2", 1200), ("lossy-d1-l8", 1800)]
LOSSY_SHA256 = ["", "", "", "", "", ""]
LOSSY_RESULTS = ["", "", "", "", "", ""]

MODELS = {
    card.model_id: card
    for card in [
        ModelCard(
            model_id="occupancy-v1",
            file="occupancy_v1.pt",
            sha256="410caf124ebd35c1a21a8ad1eb0cc5a3eeeb931a52263f45da4b51e8619140e9",
            kind="pointcloud-lossless",
            data="python -m datasets.prepare --data ../shared/data "
                 "--out ~/.cache/omnicodec/train_blocks.h5 --seed 0",
            command="python -m omnicodec.train --data ~/.cache/omnicodec/train_blocks.h5 "
                    "--run ~/.cache/omnicodec/runs/lossless --steps 9000 --seed 0",
            seed=0,
            steps=9000,
            result="8i soldier_vox10_0690_partial (never trained on): 0.6305 bits per point "
                   "(70,811 bytes; MPEG G-PCC v23 lossless: 0.760); held-out training blocks: "
                   "0.446 bits per voxel at their finest scale",
        ),
    ]
    + [
        ModelCard(
            model_id=f"lossy-r{rate}",
            file=f"lossy_r{rate}.pt",
            sha256=LOSSY_SHA256[rate - 1],
            kind="pointcloud-lossy",
            base="occupancy-v1",
            data="python -m datasets.prepare --data ../shared/data "
                 "--out ~/.cache/omnicodec/train_blocks.h5 --seed 0",
            command=f"bash scripts/train_lossy.sh  (its run {run}, then: python -m omnicodec.train "
                    f"--run ~/.cache/omnicodec/runs/{run} --export omnicodec/weights/lossy_r{rate}.pt)",
            seed=0,
            steps=steps,
            result=LOSSY_RESULTS[rate - 1],
        )
        for rate, (run, steps) in enumerate(LOSSY_RUNS, start=1)
    ]
}


# Lossy models, fewest bits first: ``--rate N`` is RATES[N - 1].
RATES = tuple(model_id for model_id, entry in MODELS.items() if entry.kind == "pointcloud-lossy")


def card(model_id):
    try:
        return MODELS[model_id]
    except KeyError:
        raise ModelError(f"unknown model {model_id!r}; known: {', '.join(MODELS)}") from None


def weights_path(model_id):
    return os.path.join(WEIGHTS_DIR, card(model_id).file)


def file_sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@functools.lru_cache(maxsize=None)
def load(model_id):
    """(model in eval mode, 8-byte weight hash) of a shipped model, after checking its SHA-256."""
    from omnicodec.models.lossy import LossyModel
    from omnicodec.models.occupancy import OccupancyModel

    entry = card(model_id)
    path = weights_path(model_id)
    if not os.path.exists(path):
        raise ModelError(f"weights of model {model_id!r} are missing ({path})")
    digest = file_sha256(path)
    if entry.sha256 and digest != entry.sha256:
        raise ModelError(f"weights of model {model_id!r} do not match their SHA-256 ({path})")
    state = torch.load(path, map_location="cpu", weights_only=True)
    network = LossyModel if entry.kind == "pointcloud-lossy" else OccupancyModel
    model = network(**state["config"])
    model.load_state_dict(state["state_dict"])
    return model.eval(), bytes.fromhex(digest)[:8]


def find(model_id, weights_hash):
    """The shipped model a bitstream names, refusing one whose weights differ."""
    if model_id not in MODELS:
        raise ModelError(f"bitstream needs model {model_id!r}, which this omnicodec does not ship")
    model, digest = load(model_id)
    if digest != weights_hash:
        raise ModelError(f"bitstream was made with other weights of model {model_id!r} "
                         f"({weights_hash.hex()}, these are {digest.hex()})")
    return model

