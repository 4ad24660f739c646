"""Rate-distortion evaluation of one cloud: code it at each lossy rate, decode, measure
D1/D2 (the pc_error implementation of omnicodec.metrics), and write a CSV and an RD plot.
``omnicodec eval`` and the benchmarks use it."""

import csv
import dataclasses
import os
import time

import numpy as np

from omnicodec import api, zoo
from omnicodec.errors import InputError
from omnicodec.geometry import voxelize
from omnicodec.io.atomic import atomic_output
from omnicodec.metrics import check_peak, estimate_normals, point_metrics, reference_cloud
from omnicodec.plots import rd_plot


@dataclasses.dataclass
class RatePoint:
    rate: int
    model: str
    bytes: int
    bits_per_point: float
    d1_psnr: float
    d2_psnr: float | None
    encode_seconds: float
    decode_seconds: float
    decoded_points: int


@dataclasses.dataclass
class Evaluation:
    path: str
    input_points: int
    peak: float
    normals: str  # where D2's reference normals came from
    points: list

    def curve(self):
        return curve([{"bpp": p.bits_per_point, "d1_psnr": p.d1_psnr, "d2_psnr": p.d2_psnr}
                      for p in self.points])


def parse_rates(text):
    """"1,3,5" or "2-4" or "all" -> list of rates, each checked."""
    if text in (None, "", "all"):
        return list(range(1, len(zoo.RATES) + 1))
    rates = []
    for part in text.split(","):
        try:
            low, _, high = part.partition("-")
            low, high = int(low), int(high or low)
        except ValueError:
            raise InputError(f"rates must look like 1,3,5 or 2-4, not {text!r}") from None
        if high < low:
            raise InputError(f"rates must look like 1,3,5 or 2-4, not {text!r}")
        rates += list(range(low, high + 1))
    for rate in rates:
        api.rate_model(rate)
    return rates


class Reference:
    """The cloud reconstructions are measured against: its points, its voxel grid, the
    checked PSNR peak (default 2**bits - 1 for a cloud on an integer grid) and D2's normals
    (``normals_path``'s, else the file's own, else estimated once). Calling it measures a
    reconstruction (omnicodec.metrics.point_metrics)."""

    def __init__(self, path, peak=None, normals_path=None, point_to_plane=True,
                 estimate_missing_normals=True, bits=None):
        self.path = os.fspath(path)
        self.point_to_plane = point_to_plane
        self.points, self.normals = reference_cloud(path, normals_path if point_to_plane else None)
        self.grid = voxelize(self.points, bits=bits)
        if peak is None:
            if not self.grid.integer_input:
                raise InputError("the cloud is not on an integer grid: give the PSNR peak (--peak)")
            peak = float(2**self.grid.bits - 1)
        self.peak = check_peak(peak, self.points)
        self.normals_source = "none (D1 only)"
        if point_to_plane:
            self.normals_source = normals_path or (self.path if self.normals is not None else "")
            if self.normals is None:
                if not estimate_missing_normals:
                    raise InputError(f"{path}: D2 needs reference normals and the file has none "
                                     "(give --normals, or allow estimating them)")
                self.normals = estimate_normals(self.points)
                self.normals_source = "estimated (plane fit to each point's nearest neighbours)"

    def __call__(self, decoded):
        return point_metrics(self.points, decoded, self.peak, self.normals,
                             point_to_plane=self.point_to_plane)


def evaluate(path, rates=None, peak=None, normals_path=None, point_to_plane=True,
             estimate_missing_normals=True, bits=None, progress=None):
    """Code ``path`` at each of ``rates`` (default: all) and measure each reconstruction.

    ``peak`` defaults to 2**bits - 1 for clouds on an integer grid (1023 for vox10); D2 uses
    the reference normals of ``normals_path`` or of the file, else estimated ones.
    """
    rates = list(range(1, len(zoo.RATES) + 1)) if rates is None else rates
    models = [api.rate_model(rate) for rate in rates]
    reference = Reference(path, peak, normals_path, point_to_plane, estimate_missing_normals, bits)
    grid = reference.grid
    for model in models:
        zoo.load(model)  # load (and hash-check) before the clock starts
    results = []
    for rate, model in zip(rates, models):
        start = time.perf_counter()
        data, _ = api.compress_grid(grid, model=model, coord_dtype=reference.points.dtype,
                                    progress=progress)
        encoded = time.perf_counter()
        decoded = api.decompress(data, progress=progress)
        finished = time.perf_counter()
        quality = reference(decoded)
        results.append(RatePoint(
            rate=rate, model=model, bytes=len(data),
            bits_per_point=8 * len(data) / grid.input_points,
            d1_psnr=quality.symmetric.d1_psnr, d2_psnr=quality.symmetric.d2_psnr,
            encode_seconds=encoded - start, decode_seconds=finished - encoded,
            decoded_points=len(decoded)))
    return Evaluation(path=reference.path, input_points=grid.input_points, peak=reference.peak,
                      normals=reference.normals_source, points=results)


def write_csv(evaluation, path):
    fields = [f.name for f in dataclasses.fields(RatePoint)]
    with atomic_output(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for point in evaluation.points:
            writer.writerow([_cell(getattr(point, name)) for name in fields])


def _cell(value):
    if isinstance(value, float):
        return f"{value:.6g}" if np.isfinite(value) else str(value)
    return "" if value is None else value


def read_anchors(paths, name):
    """{label (the CSV's file stem): rows} of the RD points other codecs reached on the file
    called ``name``, from CSVs with columns file, bpp, d1_psnr, d2_psnr ('#' lines are
    comments), such as benchmarks/anchors/gpcc_v23_octree.csv."""
    anchors = {}
    for path in paths:
        label = os.path.splitext(os.path.basename(path))[0]
        try:
            with open(path) as handle:
                lines = [line for line in handle if not line.startswith("#")]
            for row in csv.DictReader(lines):
                if row["file"] == name:
                    anchors.setdefault(label, []).append(
                        {"codec": label, "setting": "given", "bytes": None,
                         "bpp": float(row["bpp"]), "d1_psnr": float(row["d1_psnr"]),
                         "d2_psnr": float(row["d2_psnr"]), "encode_s": None, "decode_s": None,
                         "peak_mb": None})
        except OSError as exc:
            raise InputError(f"{path}: cannot read the anchor file ({exc.strerror})") from None
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}: an anchor file needs the columns file, bpp, d1_psnr, "
                             "d2_psnr with numbers") from None
    return anchors


def curve(rows):
    """{"bpp", "d1", "d2"} lists of RD rows (what :func:`rd_plot` draws)."""
    return {"bpp": [r["bpp"] for r in rows], "d1": [r["d1_psnr"] for r in rows],
            "d2": [r["d2_psnr"] for r in rows]}


def write_plot(evaluation, path, anchors=None):
    """RD plot of the evaluation, with optional anchor curves {label: rows}."""
    curves = {"omnicodec": evaluation.curve(), **{k: curve(v) for k, v in (anchors or {}).items()}}
    rd_plot(path, curves, evaluation.peak, f"{os.path.basename(evaluation.path)}: rate-distortion")
