"""Rate-distortion evaluation of one cloud (or light field): code it at each lossy rate,
decode, measure D1/D2 (the pc_error implementation of omnicodec.metrics; for light fields
PSNR-Y, PSNR-YUV and SSIM-Y), and write a CSV and an RD plot. A cloud with colour is coded
with it, and each rate point also has the bytes and bits per point of geometry and colour
apart and the colour PSNR (Y, Cb, Cr, (6Y+Cb+Cr)/8, as pc_error -c 1); its colour rates can
be swept at one geometry rate, with a colour RD plot and BD-rate against anchor points.
``omnicodec eval``, ``omnicodec lf eval`` and the benchmarks use it."""

import csv
import dataclasses
import os
import time

import numpy as np

from omnicodec import api, catalogue, zoo
from omnicodec.codec import checked_options
from omnicodec.data import PointCloud
from omnicodec.errors import InputError
from omnicodec.grid import voxelize
from omnicodec.io import read_point_cloud
from omnicodec.io.atomic import atomic_output
from omnicodec.metrics import (
    check_peak, colour_metrics, estimate_normals, point_metrics, reference_cloud,
)
from omnicodec.io.lightfield import read_lightfield
from omnicodec.metrics.bjontegaard import bd_table
from omnicodec.metrics.lightfield import lightfield_quality
from omnicodec.plots import (
    COLOUR_METRICS, COLOUR_NOTE, LIGHT_FIELD_METRICS, LIGHT_FIELD_NOTE, point_cloud_note, rd_plot,
)


@dataclasses.dataclass
class RatePoint:
    rate: int | None  # None: a model without rates (lossless)
    model: str  # the model that coded the geometry
    bytes: int  # the whole stream
    bits_per_point: float  # the whole stream's, per input point
    d1_psnr: float
    d2_psnr: float | None
    encode_seconds: float
    decode_seconds: float
    decoded_points: int
    # A cloud with colour only (a cloud without has none of these columns: COLOUR_COLUMNS):
    colour_model: str | None = None
    colour_rate: int | None = None  # None: lossless colour
    geometry_bytes: int | None = None
    colour_bytes: int | None = None
    geometry_bits_per_point: float | None = None
    colour_bits_per_point: float | None = None
    y_psnr: float | None = None  # symmetric, as pc_error -c 1
    cb_psnr: float | None = None
    cr_psnr: float | None = None
    ycbcr_psnr: float | None = None  # (6 Y + Cb + Cr) / 8


COLOUR_COLUMNS = ("colour_model", "colour_rate", "geometry_bytes", "colour_bytes",
                  "geometry_bits_per_point", "colour_bits_per_point", "y_psnr", "cb_psnr",
                  "cr_psnr", "ycbcr_psnr")


def point_rows(points):
    """Each rate point as {column: value}: its fields, the colour ones only where the cloud
    had colour (RatePoint or LightFieldRatePoint)."""
    rows = []
    for point in points:
        row = dataclasses.asdict(point)
        if getattr(point, "colour_bytes", None) is None:
            row = {name: value for name, value in row.items() if name not in COLOUR_COLUMNS}
        rows.append(row)
    return rows


@dataclasses.dataclass
class Evaluation:
    path: str
    input_points: int
    peak: float
    normals: str  # where D2's reference normals came from
    points: list

    @property
    def colour(self):
        """Whether the cloud was coded with its colours (the points have colour columns)."""
        return any(p.colour_bytes is not None for p in self.points)

    def curve(self):
        """The geometry RD curve; a cloud with colour counts only its geometry's bits."""
        bits = "geometry_bits_per_point" if self.colour else "bits_per_point"
        return curve([{"bpp": getattr(p, bits), "d1_psnr": p.d1_psnr, "d2_psnr": p.d2_psnr}
                      for p in self.points])

    def colour_curve(self):
        """The colour RD curve: colour bits per input point against colour PSNR."""
        return colour_curve(point_rows(self.points))


def parse_rates(text, kind="pointcloud"):
    """"1,3,5" or "2-4" or "all" -> list of rates, each checked against the data kind's."""
    return _parse_numbers(text, len(zoo.rates(kind)), "rate")


def colour_rate_count():
    """How many colour rates the model of point colours has."""
    return len(zoo.attribute_card("pointcloud", ("rgb",)).settings["colour_rates"])


def quality_count():
    """How many qualities (geometry and colour rates together) the model of point colours has."""
    return len(zoo.attribute_card("pointcloud", ("rgb",)).settings.get("qualities", ()))


def parse_qualities(text):
    """"1,3,5" or "2-4" or "all" -> list of qualities, each checked."""
    return _parse_numbers(text, quality_count(), "quality")


def parse_colour_rates(text):
    """"1,3,5" or "2-4" or "all" -> list of colour rates, each checked."""
    return _parse_numbers(text, colour_rate_count(), "colour rate")


def _parse_numbers(text, count, what):
    if text in (None, "", "all"):
        return list(range(1, count + 1))
    numbers = []
    for part in text.split(","):
        try:
            low, _, high = part.partition("-")
            low, high = int(low), int(high or low)
        except ValueError:
            raise InputError(f"{what}s must look like 1,3,5 or 2-4, not {text!r}") from None
        if high < low:
            raise InputError(f"{what}s must look like 1,3,5 or 2-4, not {text!r}")
        numbers += list(range(low, high + 1))
    for number in numbers:
        if not 1 <= number <= count:
            raise InputError(f"{what} {number} is out of range: {what}s are 1 to {count}")
    return numbers


class Reference:
    """The cloud reconstructions are measured against: its points, its voxel grid, the
    checked PSNR peak (default 2**bits - 1 for a cloud on an integer grid) and D2's normals
    (``normals_path``'s, else the file's own, else estimated once). Calling it measures a
    reconstruction (omnicodec.metrics.point_metrics). With ``colour``, a cloud's colours
    are coded too (``cloud``: what to code) and :meth:`colour` measures decoded colours;
    ``rgb`` holds them as pc_error takes them (8 bits; None for a cloud without colour)."""

    def __init__(self, path, peak=None, normals_path=None, point_to_plane=True,
                 estimate_missing_normals=True, bits=None, colour=False):
        self.path = os.fspath(path)
        self.point_to_plane = point_to_plane
        cloud = read_point_cloud(self.path)
        self.points, self.normals = reference_cloud(path, normals_path if point_to_plane else None,
                                                    cloud)
        self.rgb, colours = None, {}
        if colour:
            from omnicodec.attributes.colour import colour_attribute

            rgb = colour_attribute(cloud)
            if rgb is not None:
                self.rgb, colours = eight_bit_colours(rgb), {"rgb": rgb}
        self.cloud = PointCloud(cloud.positions, colours)
        self.grid = voxelize(cloud.positions, bits=bits)
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

    def colour(self, decoded):
        """The symmetric colour distortion (pc_error -c 1) of a decoded PointCloud."""
        return colour_metrics(self.cloud.positions, self.rgb, decoded.positions,
                              eight_bit_colours(decoded.attributes["rgb"])).symmetric


def eight_bit_colours(rgb):
    """(N, 3) int64 colours 0..255 as pc_error takes them: 8-bit integers as they are,
    floats in [0, 1] scaled as the codec scales them; 16-bit colours are an InputError."""
    from omnicodec.attributes.colour import checked_colours

    values, depth, _, _ = checked_colours(rgb, len(rgb))
    if depth != 8:
        raise InputError("colour PSNR (as pc_error) needs 8-bit colours and this cloud's are "
                         "16-bit: evaluate its geometry alone (--no-colour)")
    return values


def rate_codecs(kind, rates=None, model=None, attributes=(), data=None):
    """[(rate or None, codec)] to evaluate: ``model`` at each of ``rates`` it serves (once,
    rate None, if it has none), or the data kind's models at ``rates`` (default: all); each
    wrapped by the model of the data's ``attributes`` (names) where one codes them; for
    ``data``, the models made for its content first."""
    if model is not None and not catalogue.card(model).rates:
        if rates is not None:
            raise InputError(f"model {model} has no rates; leave out --rates")
        rates = [None]
    if rates is None:
        rates = list(catalogue.card(model).rates if model is not None else zoo.rates(kind, data))
    runs = [(rate, api.select_codec(kind, model, rate, attributes=attributes, data=data)) for rate in rates]
    for rate, codec in runs:
        # Read and hash-check the weights (also those of the model under a model of
        # attributes) before any clock starts.
        codec.weights_hash
        catalogue.weights_hash(zoo.resolve(kind, model, rate, data).model_id)
    return runs


def quality_runs(qualities, data):
    """[(geometry rate, colour rate, codec)] of each quality (:func:`api.quality_rates`)."""
    runs = []
    for quality in qualities:
        rate, options = api.quality_rates(data, quality)
        (rate, codec), = rate_codecs("pointcloud", [rate], None, data.attributes, data)
        runs.append((rate, options["colour_rate"], codec))
    return runs


def point_cloud_runs(rates, model, attributes, colour_rates=None, data=None):
    """[(rate, colour rate, codec)] to evaluate: each geometry rate (as :func:`rate_codecs`;
    colour, if any, lossless: colour rate None), or with ``colour_rates`` each colour rate at
    one geometry rate (lossless geometry unless ``rates`` or ``model`` gives one)."""
    if colour_rates is None:
        return [(rate, None, codec) for rate, codec in rate_codecs("pointcloud", rates, model, attributes, data)]
    if rates is None and model is None:
        rates = [None]  # the default model: lossless geometry
    runs = rate_codecs("pointcloud", rates, model, attributes, data)
    if len(runs) != 1:
        raise InputError("colour rates are evaluated at one geometry rate: give one --rates "
                         "value, or none for lossless geometry")
    (rate, codec), = runs
    return [(rate, colour_rate, codec) for colour_rate in colour_rates]


def evaluate(path, rates=None, peak=None, normals_path=None, point_to_plane=True,
             estimate_missing_normals=True, bits=None, progress=None, model=None,
             colour_rates=None, colour=True, needs_colour=None, qualities=None):
    """Code ``path`` at each of ``rates`` (default: all; with ``model``, that model) and
    measure each reconstruction.

    ``peak`` defaults to 2**bits - 1 for clouds on an integer grid (1023 for vox10); D2 uses
    the reference normals of ``normals_path`` or of the file, else estimated ones.

    A cloud with colour (unless ``colour`` is false) is coded with it, losslessly; each
    point also has the bytes and bits per input point of geometry and colour and the
    symmetric colour PSNR (RatePoint's colour columns). ``colour_rates`` codes it at each
    of those colour rates instead, at one geometry rate (lossless unless ``rates`` has
    one). ``qualities`` codes it at each of those qualities (geometry and colour rates
    together) instead. ``needs_colour`` (what needs it, for the message) refuses a cloud
    without colour before any coding, as ``colour_rates`` and ``qualities`` do.
    """
    if qualities is not None and (rates is not None or model is not None or colour_rates is not None):
        raise InputError("--qualities sets the geometry and colour rates: leave out --rates, --model "
                         "and --colour-rates")
    reference = Reference(path, peak, normals_path, point_to_plane, estimate_missing_normals,
                          bits, colour=colour)
    if reference.rgb is None and (colour_rates is not None or qualities is not None or needs_colour):
        what = needs_colour or ("--qualities" if qualities is not None else "--colour-rates")
        raise InputError(f"{what} needs a cloud with colours (red, "
                         f"green, blue){'' if colour else ', and --no-colour leaves them out'}")
    if qualities is not None:
        runs = quality_runs(qualities, reference.cloud)
    else:
        runs = point_cloud_runs(rates, model, reference.cloud.attributes, colour_rates, reference.cloud)
    input_points = reference.grid.input_points
    prepared = {}  # by colour rate: one voxel grid for all geometry rates
    results = []
    for rate, colour_rate, codec in runs:
        if colour_rate not in prepared:
            options = checked_options(codec, {"bits": bits, "colour_rate": colour_rate})
            prepared[colour_rate] = codec.prepare(reference.cloud, **options)
        start = time.perf_counter()
        data, encoded = api.encode(codec, prepared[colour_rate], rate, progress)
        encoded_at = time.perf_counter()
        decoded = api.decompress(data, progress=progress)
        finished = time.perf_counter()
        quality = reference(decoded.positions)
        details = encoded.details
        results.append(RatePoint(
            rate=rate, model=details.get("geometry model", codec.card.model_id), bytes=len(data),
            bits_per_point=8 * len(data) / input_points,
            d1_psnr=quality.symmetric.d1_psnr, d2_psnr=quality.symmetric.d2_psnr,
            encode_seconds=encoded_at - start, decode_seconds=finished - encoded_at,
            decoded_points=len(decoded.positions),
            **(_colour_columns(reference, decoded, details, codec, colour_rate, input_points)
               if reference.rgb is not None else {})))
    return Evaluation(path=reference.path, input_points=input_points, peak=reference.peak,
                      normals=reference.normals_source, points=results)


def _colour_columns(reference, decoded, details, codec, colour_rate, input_points):
    """RatePoint's colour columns of one decoded cloud (``details``: the codec's report)."""
    quality = reference.colour(decoded)
    geometry_bytes, colour_bytes = details["geometry bytes"], details["colour bytes"]
    return {"colour_model": codec.card.model_id, "colour_rate": colour_rate,
            "geometry_bytes": geometry_bytes, "colour_bytes": colour_bytes,
            "geometry_bits_per_point": 8 * geometry_bytes / input_points,
            "colour_bits_per_point": 8 * colour_bytes / input_points,
            "y_psnr": quality.y_psnr, "cb_psnr": quality.cb_psnr, "cr_psnr": quality.cr_psnr,
            "ycbcr_psnr": quality.ycbcr_psnr}


def write_csv(evaluation, path):
    """One row per rate point (RatePoint or LightFieldRatePoint columns; a cloud's colour
    columns only where it had colour)."""
    write_rows(point_rows(evaluation.points), path)


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
    """RD plot of the evaluation, with optional anchor curves {label: rows}; a cloud with
    colour against its geometry's bits alone."""
    curves = {"omnicodec": evaluation.curve(), **{k: curve(v) for k, v in (anchors or {}).items()}}
    rd_plot(path, curves, f"{os.path.basename(evaluation.path)}: rate-distortion",
            x_label="geometry bits per input point" if evaluation.colour else "bits per input point",
            note=point_cloud_note(evaluation.peak))


def read_colour_anchors(paths, name):
    """{label (the CSV's file stem): rows} of the colour RD points other codecs reached on
    the file called ``name``, from CSVs with columns file, colour_bpp, y_psnr and optionally
    ycbcr_psnr ('#' lines are comments), such as benchmarks/anchors/gpcc_v23_raht_soldier.csv."""
    columns = ("file", "colour_bpp", "y_psnr")
    anchors = {}
    for path in paths:
        label = os.path.splitext(os.path.basename(path))[0]
        for row in _anchor_rows(path, columns):
            if row["file"] == name:
                optional = ("ycbcr_psnr",) if row.get("ycbcr_psnr") else ()
                values = _numbers(path, columns, row, columns[1:] + optional)
                anchors.setdefault(label, []).append(
                    {"colour_bits_per_point": values["colour_bpp"], "y_psnr": values["y_psnr"],
                     "ycbcr_psnr": values.get("ycbcr_psnr")})
    return anchors


def colour_curve(rows):
    """{"bpp", "y", "ycbcr"} lists of colour RD rows (colour_bits_per_point, y_psnr,
    ycbcr_psnr; what :func:`rd_plot` draws with COLOUR_METRICS)."""
    return {"bpp": [r["colour_bits_per_point"] for r in rows], "y": [r["y_psnr"] for r in rows],
            "ycbcr": [r.get("ycbcr_psnr") for r in rows]}


def write_colour_plot(evaluation, path, anchors=None, total=False):
    """Colour RD plot (Y and (6Y+Cb+Cr)/8 PSNR against colour bits per input point, or with
    ``total`` against all bits per input point), with optional anchor curves {label: rows}
    (:func:`read_colour_anchors`)."""
    curve = evaluation.colour_curve()
    if total:
        curve["bpp"] = [p.bits_per_point for p in evaluation.points]
    curves = {"omnicodec": curve, **{k: colour_curve(v) for k, v in (anchors or {}).items()}}
    rd_plot(path, curves, f"{os.path.basename(evaluation.path)}: colour rate-distortion",
            metrics=COLOUR_METRICS, x_label=f"{'all' if total else 'colour'} bits per input point",
            note=COLOUR_NOTE)


def colour_bd_rates(evaluation, anchors):
    """BD-rate (%) of the colour bits at equal Y PSNR (and BD-PSNR, dB) against each anchor
    {label: rows}, by both methods: rows of :func:`omnicodec.metrics.bjontegaard.bd_table`
    (bd_rate_y, bd_psnr_y; None with a note where the curves do not overlap)."""
    return bd_table(os.path.basename(evaluation.path), evaluation.colour_curve(),
                    {label: colour_curve(rows) for label, rows in anchors.items()}, ("y",))


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
    prepared = runs[0][1].prepare(lightfield, **checked_options(runs[0][1], {"tile": tile}))
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
