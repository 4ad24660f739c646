"""Rate-distortion evaluation of one cloud (or light field): code it at each lossy rate,
decode, measure D1/D2 (the pc_error implementation of omnicodec.metrics; for light fields
PSNR-Y, PSNR-YUV and SSIM-Y), and write a CSV and an RD plot. ``omnicodec eval``,
``omnicodec lf eval`` and the benchmarks use it."""

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
from omnicodec.io.lightfield import read_lightfield
from omnicodec.metrics.lightfield import lightfield_quality
from omnicodec.plots import LIGHT_FIELD_METRICS, LIGHT_FIELD_NOTE, point_cloud_note, rd_plot


@dataclasses.dataclass
class RatePoint:
    rate: int | None  # None: a model without rates (lossless)
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


def parse_rates(text, kind="pointcloud"):
    """"1,3,5" or "2-4" or "all" -> list of rates, each checked against the data kind's."""
    count = len(zoo.rates(kind))
    if text in (None, "", "all"):
        return list(range(1, count + 1))
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
        if not 1 <= rate <= count:
            raise InputError(f"rate {rate} is out of range: rates are 1 to {count}")
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


def rate_codecs(kind, rates=None, model=None):
    """[(rate or None, codec)] to evaluate: ``model`` at each of ``rates`` it serves (once,
    rate None, if it has none), or the data kind's models at ``rates`` (default: all)."""
    if model is not None and not zoo.card(model).rates:
        if rates is not None:
            raise InputError(f"model {model} has no rates; leave out --rates")
        rates = [None]
    if rates is None:
        rates = list(zoo.card(model).rates if model is not None else zoo.rates(kind))
    runs = [(rate, api.select_codec(kind, model, rate)) for rate in rates]
    for _, codec in runs:
        codec.weights_hash  # read and hash-check the weights before any clock starts
    return runs


def evaluate(path, rates=None, peak=None, normals_path=None, point_to_plane=True,
             estimate_missing_normals=True, bits=None, progress=None, model=None):
    """Code ``path`` at each of ``rates`` (default: all; with ``model``, that model) and
    measure each reconstruction.

    ``peak`` defaults to 2**bits - 1 for clouds on an integer grid (1023 for vox10); D2 uses
    the reference normals of ``normals_path`` or of the file, else estimated ones.
    """
    reference = Reference(path, peak, normals_path, point_to_plane, estimate_missing_normals, bits)
    runs = rate_codecs("pointcloud", rates, model)
    prepared = runs[0][1].prepare(reference.points, bits=bits)  # one voxel grid for all
    input_points = reference.grid.input_points
    results = []
    for rate, codec in runs:
        start = time.perf_counter()
        data, _ = api.encode(codec, prepared, rate, progress)
        encoded = time.perf_counter()
        decoded = api.decompress(data, progress=progress).positions
        finished = time.perf_counter()
        quality = reference(decoded)
        results.append(RatePoint(
            rate=rate, model=codec.card.model_id, bytes=len(data),
            bits_per_point=8 * len(data) / input_points,
            d1_psnr=quality.symmetric.d1_psnr, d2_psnr=quality.symmetric.d2_psnr,
            encode_seconds=encoded - start, decode_seconds=finished - encoded,
            decoded_points=len(decoded)))
    return Evaluation(path=reference.path, input_points=input_points, peak=reference.peak,
                      normals=reference.normals_source, points=results)


def write_csv(evaluation, path):
    """One row per rate point (RatePoint or LightFieldRatePoint columns)."""
    write_rows([dataclasses.asdict(point) for point in evaluation.points], path)


def write_rows(rows, path):
    """Dicts with the same keys -> a CSV (atomically)."""
    fields = list(rows[0]) if rows else []
    with atomic_output(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for row in rows:
            writer.writerow([_cell(row[name]) for name in fields])


def _cell(value):
    if isinstance(value, float):
        return f"{value:.6g}" if np.isfinite(value) else str(value)
    return "" if value is None else value


def _anchor_rows(path, columns):
    """The rows of an anchor CSV ('#' lines are comments) as dicts, after checking that it
    has ``columns``; a one-line InputError when it cannot be read or lacks them."""
    try:
        with open(path) as handle:
            rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the anchor file ({exc.strerror})") from None
    except ValueError:  # not text
        raise _bad_anchor_file(path, columns) from None
    if rows and not set(columns) <= set(rows[0]):
        raise _bad_anchor_file(path, columns)
    return rows


def _bad_anchor_file(path, columns):
    return InputError(f"{path}: an anchor file needs the columns {', '.join(columns)} with numbers")


def _numbers(path, columns, row, names):
    try:
        return {name: float(row[name]) for name in names}
    except (TypeError, ValueError):
        raise _bad_anchor_file(path, columns) from None


def read_anchors(paths, name):
    """{label (the CSV's file stem): rows} of the RD points other codecs reached on the file
    called ``name``, from CSVs with columns file, bpp, d1_psnr, d2_psnr ('#' lines are
    comments), such as benchmarks/anchors/gpcc_v23_octree.csv."""
    columns = ("file", "bpp", "d1_psnr", "d2_psnr")
    anchors = {}
    for path in paths:
        label = os.path.splitext(os.path.basename(path))[0]
        for row in _anchor_rows(path, columns):
            if row["file"] == name:
                anchors.setdefault(label, []).append(
                    {"codec": label, "setting": "given", "bytes": None,
                     **_numbers(path, columns, row, columns[1:]),
                     "encode_s": None, "decode_s": None, "peak_mb": None})
    return anchors


def curve(rows):
    """{"bpp", "d1", "d2"} lists of RD rows (what :func:`rd_plot` draws)."""
    return {"bpp": [r["bpp"] for r in rows], "d1": [r["d1_psnr"] for r in rows],
            "d2": [r["d2_psnr"] for r in rows]}


def write_plot(evaluation, path, anchors=None):
    """RD plot of the evaluation, with optional anchor curves {label: rows}."""
    curves = {"omnicodec": evaluation.curve(), **{k: curve(v) for k, v in (anchors or {}).items()}}
    rd_plot(path, curves, f"{os.path.basename(evaluation.path)}: rate-distortion",
            note=point_cloud_note(evaluation.peak))


@dataclasses.dataclass
class LightFieldRatePoint:
    rate: int
    bytes: int
    bits_per_pixel: float
    psnr_y: float
    psnr_yuv: float
    ssim_y: float
    encode_seconds: float
    decode_seconds: float


@dataclasses.dataclass
class LightFieldEvaluation:
    path: str
    shape: tuple  # (U, V, H, W)
    points: list
    view_rows: list  # per rate and view: rate, row, column, psnr_y, psnr_yuv, ssim_y

    def curve(self):
        return lightfield_curve([dataclasses.asdict(p) | {"bpp": p.bits_per_pixel} for p in self.points])


def lightfield_curve(rows):
    """{"bpp", "psnr_yuv", "psnr_y", "ssim_y"} lists of light-field RD rows."""
    return {key: [r[key] for r in rows] for key in ("bpp", "psnr_yuv", "psnr_y", "ssim_y")}


def evaluate_lightfield(path, rates=None, grid=None, dataset=None, tile=None, progress=None,
                        model=None):
    """Code the light field at ``path`` at each of ``rates`` (default: all; with ``model``,
    that model), decode the stream, and measure PSNR-Y, PSNR-YUV and SSIM-Y over all views
    and per view."""
    lightfield = read_lightfield(path, grid=grid, dataset=dataset)
    runs = rate_codecs("lightfield", rates, model)
    prepared = runs[0][1].prepare(lightfield, tile=tile)
    u, v, h, w, _ = lightfield.views.shape
    points, view_rows = [], []
    for rate, codec in runs:
        start = time.perf_counter()
        data, _ = api.encode(codec, prepared, rate, progress)
        encoded = time.perf_counter()
        decoded = api.decompress(data, progress=progress).views
        finished = time.perf_counter()
        quality = lightfield_quality(lightfield.views, decoded)
        points.append(LightFieldRatePoint(
            rate=rate, bytes=len(data), bits_per_pixel=8 * len(data) / lightfield.pixels,
            psnr_y=quality.psnr_y, psnr_yuv=quality.psnr_yuv, ssim_y=quality.ssim_y,
            encode_seconds=encoded - start, decode_seconds=finished - encoded))
        view_rows += [{"rate": rate, "row": r, "column": c,
                       "psnr_y": float(quality.view_psnr_y[r, c]),
                       "psnr_yuv": float(quality.view_psnr_yuv[r, c]),
                       "ssim_y": float(quality.view_ssim_y[r, c])}
                      for r in range(u) for c in range(v)]
    return LightFieldEvaluation(path=os.fspath(path), shape=(u, v, h, w), points=points,
                                view_rows=view_rows)


def read_lightfield_anchors(paths, name):
    """{codec: rows} of the light field called ``name`` from anchor CSVs with columns
    lightfield, codec, bpp, psnr_y, psnr_yuv, ssim_y (what benchmarks.lightfield_anchors
    writes)."""
    columns = ("lightfield", "codec", "bpp", "psnr_y", "psnr_yuv", "ssim_y")
    anchors = {}
    for path in paths:
        for row in _anchor_rows(path, columns):
            if row["lightfield"] == name:
                anchors.setdefault(row["codec"], []).append(_numbers(path, columns, row, columns[2:]))
    return anchors


def write_lightfield_plot(evaluation, path, anchors=None):
    """RD plot (PSNR-YUV, PSNR-Y, SSIM-Y against bits per pixel), with optional anchor
    curves {label: rows with bpp, psnr_yuv, psnr_y, ssim_y}."""
    curves = {"omnicodec": evaluation.curve(),
              **{k: lightfield_curve(v) for k, v in (anchors or {}).items()}}
    name = os.path.basename(os.path.normpath(evaluation.path))
    rd_plot(path, curves, f"{name}: rate-distortion", metrics=LIGHT_FIELD_METRICS,
            x_label="bits per pixel", note=LIGHT_FIELD_NOTE)
