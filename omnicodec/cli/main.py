"""``omnicodec``: one command, subcommands (compress, decompress, info, metrics, eval, view,
models).

Every omnicodec error becomes a one-line message on stderr and a non-zero exit code;
``--debug`` shows the traceback instead.
"""

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time

from omnicodec import __version__
from omnicodec.errors import InputError, ModelError, OmnicodecError


class Progress:
    """A tqdm bar over the work a codec reports (voxels of every scale, or tiles), shown
    only when the work runs longer than a moment. Codecs call it with (count done now,
    total when known); a call that starts a new total (eval codes at every rate) restarts
    the bar."""

    def __init__(self, label, quiet):
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(desc=label, unit="", unit_scale=True, delay=1.0, leave=False,
                            file=sys.stderr)

    def __call__(self, count, total=None):
        if self.bar is None:
            return
        if total is not None and (self.bar.total != total or self.bar.n >= total):
            self.bar.reset(total)
        self.bar.update(count)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _print_report(kind, report, args, output):
    """The report of a compression or decompression: the codec's figures, then bytes,
    model, bits per input point (or pixel) and seconds."""
    fields = {name: value for name, value in report.details.items() if value is not None}
    fields.update({"bytes": report.bytes, "model": report.model,
                   **_bits_field(report.unit, report.bits_per_unit),
                   f"{kind} seconds": round(report.seconds, 2), "output": output})
    if args.json or not args.quiet:
        _print_fields(fields, args.json)


def _bits_field(unit, bits_per_unit):
    """{"bits per input point" (or "bits per pixel"): the figure, rounded for reading}."""
    if unit == "pixel":
        return {"bits per pixel": round(bits_per_unit, 6)}
    return {"bits per input point": round(bits_per_unit, 4)}


def _print_fields(fields, as_json):
    """A report: one JSON object, or aligned "name  value" lines."""
    if as_json:
        print(json.dumps(fields))
        return
    width = max(map(len, fields))
    for name, value in fields.items():
        print(f"{name:<{width}}  {value}")


def _run_batch(kind, args, options):
    """A folder in, a folder out: one progress bar over files, then the summary table."""
    from omnicodec import batch

    pairs = batch.plan(kind, args.input, args.output)
    batch.check_writable(args.output)
    if args.cluster != "ray" and (args.ray_address or args.task_cpus != 1):
        raise InputError("--ray-address and --task-cpus go with --cluster ray")
    if args.cluster == "ray" and args.jobs != 1:
        raise InputError("--jobs is for --cluster local; on Ray, --task-cpus sets each file's share")
    if args.cluster == "ray":
        from omnicodec import cluster

        place = cluster.session(args.ray_address, args.task_cpus)  # fails fast, before any file
    else:
        place = contextlib.nullcontext()
    start = time.perf_counter()
    with place as scheduler:
        bar = None
        if not args.quiet:
            from tqdm import tqdm

            bar = tqdm(total=len(pairs), desc=kind, unit=" files", file=sys.stderr, leave=False)
        try:
            outcomes = batch.run(kind, pairs, jobs=args.jobs, force=args.force, options=options,
                                 on_done=(lambda outcome: bar.update(1)) if bar else None, scheduler=scheduler)
        finally:
            if bar is not None:
                bar.close()
    wall = time.perf_counter() - start
    failed = [o for o in outcomes if o.status == "failed"]
    done = [o for o in outcomes if o.status == "done"]
    points, size = sum(o.points for o in done), sum(o.bytes for o in done)
    summary = {"files": len(outcomes), "done": len(done), "failed": len(failed),
               "skipped": sum(o.status == "skipped" for o in outcomes), "points": points,
               "bytes": size, "bits per point": round(8 * size / points, 4) if points else None,
               "seconds (sum over files)": round(sum(o.seconds for o in done), 2),
               "wall seconds": round(wall, 2),
               **({"cluster": "ray"} if scheduler is not None else {"jobs": args.jobs})}
    if args.json:
        print(json.dumps({**summary, "outcomes": [dataclasses.asdict(o) for o in outcomes]}))
    elif not args.quiet:
        name_width = max(len(os.path.relpath(o.source, args.input)) for o in outcomes)
        print(f"{'file':<{name_width}} {'status':<8} {'points':>10} {'bytes':>10} {'bpp':>8} {'s':>7}")
        for o in outcomes:
            name = os.path.relpath(o.source, args.input)
            print(f"{name:<{name_width}} {o.status:<8} {o.points:>10} {o.bytes:>10} "
                  f"{o.bits_per_point:>8.4f} {o.seconds:>7.2f}" + (f"  {o.error}" if o.error else ""))
        _print_fields(summary, False)
    for o in failed:
        print(f"omnicodec: error: {o.source}: {o.error}", file=sys.stderr)
    return 1 if failed else 0


def cmd_compress(args, kind=None):
    """Compress a file (or a folder of PLY files), of the kind its path says unless the
    command gave it (``lf compress``)."""
    from omnicodec import api
    from omnicodec.io import file_kind

    options = {"voxel_size": getattr(args, "voxel_size", None), "bits": getattr(args, "bits", None),
               "tile": args.tile, "colour_rate": getattr(args, "colour_rate", None),
               "keep_duplicates": getattr(args, "keep_duplicates", False) or None,
               "no_colour": getattr(args, "no_colour", False),
               "intensity_bits": getattr(args, "intensity_bits", None),
               "no_attributes": getattr(args, "no_attributes", False)}
    kind = kind or file_kind(args.input)
    if os.path.isdir(args.input) and kind == "pointcloud":
        return _run_batch("compress", args, {"model": args.model, "rate": args.rate,
                                             "target_bpp": args.bpp, **options})
    progress = Progress("compress", args.quiet)
    try:
        report = api.compress_file(args.input, args.output, model=args.model, rate=args.rate,
                                   target_bpp=args.bpp, progress=progress,
                                   grid=args.grid, dataset=args.dataset, kind=kind, **options)
    finally:
        progress.close()
    if report.not_coded and not args.quiet:
        print(f"note: model {report.model} left attributes out; not coded: "
              f"{', '.join(report.not_coded)}", file=sys.stderr)
    _print_report("encode", report, args, args.output)
    return 0


def cmd_decompress(args, kind=None):
    """Decompress a stream (or a folder of them); ``lf decompress`` expects a light field."""
    from omnicodec import api

    if os.path.isdir(args.input) and kind is None:
        return _run_batch("decompress", args, {})
    progress = Progress("decompress", args.quiet)
    try:
        report = api.decompress_file(args.input, args.output, progress=progress, kind=kind)
    finally:
        progress.close()
    _print_report("decode", report, args, args.output)
    return 0


def cmd_info(args):
    """The stream's header; reads no weights and loads no engine (``--version`` names the
    engine this machine would decode with: streams do not record one)."""
    from omnicodec import api, codec, zoo

    data = api.read_bitstream(args.input)
    header = api.info(data)
    try:
        codec_id = codec.codec_id(header.codec)
    except ModelError:
        codec_id = None
    fields = {
        "file": args.input,
        "bytes": len(data),
        "format version": header.version,
        "codec": codec_id or f"unknown (number {header.codec})",
        "model": header.model_id,
        "model known": header.model_id in zoo.MODELS,
        "weights sha256 prefix": header.weights_hash.hex(),
        "entropy coder": header.coder,
        "checksum": header.checksum.hex(),
    }
    if codec_id:
        codec_class = codec.codec_class(codec_id)
        fields.update(codec_class.describe(header.codec_header))
        units = codec_class.input_units(header.codec_header)
        fields.update(_bits_field(codec_class.unit, 8 * len(data) / max(units, 1)))
    _print_fields(fields, args.json)
    return 0


class VersionAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        from omnicodec import bitstream
        from omnicodec.entropy import default_coder
        from omnicodec.sparse import engine, load_engine

        try:
            active = load_engine(namespace.engine) if getattr(namespace, "engine", None) else engine()
        except (ImportError, OmnicodecError) as exc:
            parser.exit(2, f"omnicodec: error: {exc}\n")
        print(f"omnicodec {__version__} (bitstream format {bitstream.FORMAT_VERSION}, "
              f"sparse engine {active.NAME} {active.VERSION}, entropy coder {default_coder()})")
        parser.exit()


def cmd_metrics(args):
    from omnicodec.errors import InputError
    from omnicodec.metrics import file_colour_metrics, file_metrics

    if args.peak is None and not args.colour:
        raise InputError("metrics needs --peak for D1/D2 (e.g. --peak 1023 for vox10 data), "
                         "or --colour for colour PSNR alone")
    colour = file_colour_metrics(args.reference, args.degraded) if args.colour else None
    result = None
    if args.peak is not None:
        result = file_metrics(args.reference, args.degraded, args.peak, args.normals,
                              point_to_plane=not args.no_d2,
                              estimate_missing_normals=not args.no_normal_estimation)
    if args.json:
        fields = result.as_dict() if result is not None else {}
        if colour is not None:
            fields["colour"] = colour.as_dict()
        print(json.dumps(fields))
        return 0
    counts = result or colour
    print(f"A: {args.reference} ({counts.reference_points} points)")
    print(f"B: {args.degraded} ({counts.degraded_points} points)")
    if result is not None:
        print(f"peak {result.peak}"
              + (", D2 with estimated normals" if result.normals_estimated else ""))
        for label, part in (("A->B", result.a_to_b), ("B->A", result.b_to_a),
                            ("symmetric", result.symmetric)):
            line = f"{label:<10} D1 mse {part.d1_mse:.6g}  PSNR {part.d1_psnr:.4f} dB"
            if part.d2_mse is not None:
                line += f"   D2 mse {part.d2_mse:.6g}  PSNR {part.d2_psnr:.4f} dB"
            print(line)
    if colour is not None:
        print("colour PSNR (BT.709 Y'CbCr)")
        for label, part in (("A->B", colour.a_to_b), ("B->A", colour.b_to_a),
                            ("symmetric", colour.symmetric)):
            print(f"{label:<10} Y {part.y_psnr:.4f}  Cb {part.cb_psnr:.4f}  "
                  f"Cr {part.cr_psnr:.4f}  (6Y+Cb+Cr)/8 {part.ycbcr_psnr:.4f} dB")
    return 0


def cmd_eval(args):
    from omnicodec import evaluate

    rates = evaluate.parse_rates(args.rates) if args.rates else None
    colour_rates = None
    if args.colour_rates is not None:
        colour_rates = evaluate.parse_colour_rates(args.colour_rates)
    name = os.path.basename(args.input)
    anchors = evaluate.read_anchors(args.anchor, name)
    colour_anchors = evaluate.read_colour_anchors(args.colour_anchor, name)
    needs_colour = ("--colour-plot" if args.colour_plot else
                    "--colour-anchor" if args.colour_anchor else None)
    progress = Progress("eval", args.quiet)
    try:
        result = evaluate.evaluate(args.input, rates, peak=args.peak, normals_path=args.normals,
                                   point_to_plane=not args.no_d2,
                                   estimate_missing_normals=not args.no_normal_estimation,
                                   progress=progress, model=args.model, colour_rates=colour_rates,
                                   colour=not args.no_colour, needs_colour=needs_colour)
    finally:
        progress.close()
    stem = args.output or os.path.splitext(name)[0] + "_rd"
    evaluate.write_csv(result, stem + ".csv")
    evaluate.write_plot(result, stem + ".png", anchors)
    written = {"csv": stem + ".csv", "plot": stem + ".png"}
    colour_bd = []
    if result.colour:
        written["colour_plot"] = args.colour_plot or stem + "_colour.png"
        evaluate.write_colour_plot(result, written["colour_plot"], colour_anchors)
        colour_bd = evaluate.colour_bd_rates(result, colour_anchors)
    if args.json:
        print(json.dumps({"file": result.path, "peak": result.peak, "normals": result.normals,
                          "points": evaluate.point_rows(result.points), **written,
                          **({"colour_bd_rate": colour_bd} if result.colour else {})}))
        return 0
    print(f"{result.path}: {result.input_points} points, peak {result.peak:g}, "
          f"D2 normals: {result.normals}" + (", with colour (PSNR as pc_error -c 1, symmetric)"
                                             if result.colour else ""))
    colour = ("  crate  c.bytes  geo bpp  col bpp    Y dB   Cb dB   Cr dB  YCbCr dB"
              if result.colour else "")
    print(f"{'rate':>4} {'model':<12} {'bytes':>9} {'bpp':>8} {'D1 dB':>7} {'D2 dB':>7} "
          f"{'enc s':>6} {'dec s':>6}" + colour)
    for p in result.points:
        d2 = f"{p.d2_psnr:7.2f}" if p.d2_psnr is not None else f"{'-':>7}"
        if result.colour:
            colour = (f"  {p.colour_rate or '-':>5} {p.colour_bytes:>8} {p.geometry_bits_per_point:>8.4f} "
                      f"{p.colour_bits_per_point:>8.4f} {p.y_psnr:>7.2f} {p.cb_psnr:>7.2f} "
                      f"{p.cr_psnr:>7.2f} {p.ycbcr_psnr:>9.2f}")
        print(f"{p.rate or '-':>4} {p.model:<12} {p.bytes:>9} {p.bits_per_point:>8.4f} {p.d1_psnr:>7.2f} "
              f"{d2} {p.encode_seconds:>6.1f} {p.decode_seconds:>6.1f}" + colour)
    for row in colour_bd:
        figure = ("n/a: " + row["note"] if row["bd_rate_y"] is None else
                  f"{row['bd_rate_y']:+.1f} % (BD-PSNR {row['bd_psnr_y']:+.2f} dB)")
        print(f"colour BD-rate at equal Y PSNR vs {row['anchor']} ({row['method']}): {figure}")
    print(f"wrote {', '.join(written.values())}")
    return 0


CONTENT_LABELS = {"spinning-LiDAR sweeps": "LiDAR sweep", "depth-camera frames": "depth frame",
                  "sparse scans": "sparse scan"}


def cmd_models(args):
    """The model cards: no weights are loaded."""
    from omnicodec import zoo
    from omnicodec.data import KIND_NAMES

    rows = [{"model": card.model_id, "codec": card.codec, "data": card.data_kind,
             "rates": list(card.rates), "colour rates": len(card.settings.get("colour_rates", ())),
             "default": card.default, "content": card.content, "attributes": list(card.attributes),
             "sha256": card.sha256,
             "result": card.result, "command": card.command} for card in zoo.MODELS.values()]
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        rates = row["rates"]
        if row["colour rates"]:
            how = f"--colour-rate 1-{row['colour rates']}"
        elif "intensity" in row["attributes"]:
            how = "--intensity-bits"
        elif not rates:
            how = "lossless"
        else:
            how = f"--rate {rates[0]}" + (f"-{rates[-1]}" if len(rates) > 1 else "")
        data = CONTENT_LABELS.get(row["content"], row["content"]) if row["content"] else KIND_NAMES[row["data"]]
        print(f"{row['model']:<14} {data:<12} {how:<18} {row['result']}")
    return 0


def cmd_view(args):
    from omnicodec import viewer

    views = tuple(v.strip() for v in args.view.split(",")) if args.view else viewer.DEFAULT_VIEWS
    viewer.view(args.first, args.second, error=args.error, screenshot=args.screenshot,
                views=views, up=args.up, size=args.size, point_size=args.point_size, peak=args.peak)
    if args.screenshot and not args.quiet:
        print(f"wrote {args.screenshot}")
    return 0


def _grid(text):
    """'9x9' -> (9, 9) for --grid."""
    try:
        rows, cols = (int(part) for part in text.lower().split("x"))
        if rows > 0 and cols > 0:
            return rows, cols
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"a grid looks like 9x9, not {text!r}")


def cmd_lf_eval(args):
    from omnicodec import evaluate

    rates = evaluate.parse_rates(args.rates, "lightfield") if args.rates else None
    progress = Progress("eval", args.quiet)
    try:
        result = evaluate.evaluate_lightfield(args.input, rates, grid=args.grid,
                                              dataset=args.dataset, tile=args.tile,
                                              progress=progress, model=args.model)
    finally:
        progress.close()
    name = os.path.basename(os.path.normpath(args.input))
    stem = args.output or os.path.splitext(name)[0] + "_rd"
    evaluate.write_csv(result, stem + ".csv")
    evaluate.write_rows(result.view_rows, stem + "_views.csv")
    evaluate.write_lightfield_plot(result, stem + ".png", evaluate.read_lightfield_anchors(args.anchor, name))
    if args.json:
        print(json.dumps({"input": result.path, "shape": result.shape,
                          "points": [dataclasses.asdict(p) for p in result.points],
                          "csv": stem + ".csv", "views_csv": stem + "_views.csv",
                          "plot": stem + ".png"}))
        return 0
    u, v, h, w = result.shape
    print(f"{result.path}: {u}x{v} views of {h}x{w} pixels")
    print(f"{'rate':>4} {'bytes':>9} {'bpp':>8} {'PSNR-Y':>7} {'PSNR-YUV':>8} {'SSIM-Y':>7} "
          f"{'enc s':>6} {'dec s':>6}")
    for p in result.points:
        print(f"{p.rate:>4} {p.bytes:>9} {p.bits_per_pixel:>8.5f} {p.psnr_y:>7.2f} {p.psnr_yuv:>8.2f} "
              f"{p.ssim_y:>7.4f} {p.encode_seconds:>6.1f} {p.decode_seconds:>6.1f}")
    print(f"wrote {stem}.csv (per view: {stem}_views.csv) and {stem}.png")
    return 0


def cmd_lf_view(args):
    from omnicodec import viewer
    from omnicodec.io.lightfield import read_lightfield

    reference = read_lightfield(args.first, args.grid, args.dataset)
    degraded = None
    if args.second:
        degraded = read_lightfield(args.second, args.grid, args.dataset)
    title = os.path.basename(os.path.normpath(args.first))
    if degraded is not None:
        title += f" vs {os.path.basename(os.path.normpath(args.second))}"
    quality = viewer.lightfield_picture(args.output, reference, degraded, title)
    if not args.quiet:
        if quality is not None:
            print(f"PSNR-Y {quality.psnr_y:.2f} dB, PSNR-YUV {quality.psnr_yuv:.2f} dB, "
                  f"SSIM-Y {quality.ssim_y:.4f}")
        print(f"wrote {args.output}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="omnicodec", description="Learned point-cloud geometry and 4D light-field codec.")
    parser.add_argument("--version", action=VersionAction, nargs=0,
                        help="print the version, bitstream format, engine and coder")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--engine", choices=["minkowski", "torch"],
                        help="sparse engine (default: MinkowskiEngine where it imports, else torch; "
                             "env OMNICODEC_ENGINE)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress, no report")
    common.add_argument("--json", action="store_true", help="print the report as JSON")
    # SUPPRESS: a subcommand that was not given --debug keeps the main parser's value.
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    batch = argparse.ArgumentParser(add_help=False)
    batch.add_argument("--jobs", type=int, default=1,
                       help="folders: worker processes (default 1)")
    batch.add_argument("--force", action="store_true",
                       help="folders: redo outputs that are already complete and newer")
    batch.add_argument("--cluster", choices=["local", "ray"], default="local",
                       help="folders: where files are coded: worker processes on this machine "
                            "(local, --jobs), or one Ray task each (ray: a local Ray instance, "
                            "or the cluster at --ray-address; needs pip install 'omnicodec[ray]')")
    batch.add_argument("--ray-address",
                       help="folders, --cluster ray: the Ray cluster to join, HOST:PORT of its head "
                            "(default: env RAY_ADDRESS, else a local instance); inputs and outputs "
                            "must be on a filesystem every worker sees")
    batch.add_argument("--task-cpus", type=int, default=1,
                       help="folders, --cluster ray: CPUs (and threads) of each file's task (default 1)")

    lf_input = argparse.ArgumentParser(add_help=False)
    lf_input.add_argument("--grid", type=_grid, help="views per column x row, e.g. 9x9 "
                                                     "(default: from the view names)")
    lf_input.add_argument("--dataset", help="HDF5 dataset name (default: the only "
                                            "(U, V, H, W, 3) dataset)")
    lf_coding = argparse.ArgumentParser(add_help=False)
    lf_coding.add_argument("--tile", type=int,
                           help="light fields, model lightfield-v1: tile side in pixels: all views "
                                "x TILE x TILE code on their own, which bounds memory (default 128)")
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", help="model id (`omnicodec models` lists them; default: the "
                                       "data's default model, or its model at --rate)")
    p = sub.add_parser("compress", parents=[common, batch, lf_input, lf_coding, model],
                       help="compress a .ply point cloud (or a folder of them), or a light field")
    p.add_argument("input", help="input .ply file, or a folder: every .ply below it; a light "
                                 "field (.h5, .npy, a folder of PNG views) goes to `lf compress`")
    p.add_argument("-o", "--output", required=True, help="output .ocz file (or folder)")
    grid = p.add_mutually_exclusive_group()
    grid.add_argument("--voxel-size", type=float, help="voxel edge length for non-integer input")
    grid.add_argument("--bits", type=int,
                      help="fit the bounding box into 2^BITS voxels per axis (default for "
                           "non-integer input: the coordinates' own precision, e.g. KITTI's "
                           "millimetres, else a grid that merges almost no points; integer "
                           "input is coded as is)")
    p.add_argument("--rate", type=int, help="lossy, at rate N (1 = fewest bits; see "
                                            "'omnicodec models')")
    p.add_argument("--bpp", type=float, help="lossy, at the highest rate within this many "
                                             "bits per input point (or pixel)")
    colour = p.add_mutually_exclusive_group()
    colour.add_argument("--colour-rate", "--color-rate", type=int,
                        help="code colour lossily at colour rate N (1 = fewest bits; default: "
                             "lossless colour); --rate still sets the geometry's")
    colour.add_argument("--no-colour", "--no-color", action="store_true",
                        help="drop the input's colours (code the geometry only)")
    p.add_argument("--keep-duplicates", action="store_true",
                   help="coloured clouds: keep every input point and its colour (the default "
                        "merges points in one voxel and averages their colours)")
    attributes = p.add_mutually_exclusive_group()
    attributes.add_argument("--intensity-bits", type=int,
                            help="LiDAR intensity (or reflectance): quantize it to N bits over its "
                                 "range, 1 to 16 (default: coded exactly as given)")
    attributes.add_argument("--no-attributes", action="store_true",
                            help="code the positions only: drop colour, intensity and every "
                                 "other per-point attribute")
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("decompress", parents=[common, batch],
                       help="decompress an .ocz file (or a folder of them) to .ply, or a "
                            "light field (as `lf decompress`)")
    p.add_argument("input", help="input .ocz file, or a folder: every .ocz below it")
    p.add_argument("-o", "--output", required=True, help="output .ply file (or folder; for a "
                                                         "light field as `lf decompress -h` says)")
    p.set_defaults(func=cmd_decompress)

    p = sub.add_parser("info", parents=[common], help="print the header of an .ocz file")
    p.add_argument("input", help="input .ocz file")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("metrics", parents=[common],
                       help="D1/D2 (and colour) PSNR of a cloud against a reference, as "
                            "MPEG pc_error")
    p.add_argument("reference", help="reference cloud A (.ply)")
    p.add_argument("degraded", help="degraded cloud B (.ply)")
    p.add_argument("--peak", type=float, help="D1/D2 PSNR peak, e.g. 1023 for vox10 (needed "
                                              "unless --colour alone is asked for)")
    p.add_argument("--normals", help="PLY of A's points with nx/ny/nz (default: A's own, or estimated)")
    p.add_argument("--no-d2", action="store_true", help="point-to-point (D1) only")
    p.add_argument("--no-normal-estimation", action="store_true",
                   help="fail instead of estimating normals when A has none")
    p.add_argument("--colour", "--color", action="store_true",
                   help="also Y, Cb, Cr PSNR and their (6Y+Cb+Cr)/8 summary, as pc_error -c 1 "
                        "--dropdups=2 --neighborsProc=1 (both clouds need red/green/blue)")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("view", parents=[common],
                       help="look at a cloud, or an original next to its reconstruction")
    p.add_argument("first", help=".ply (or .ocz) cloud: the original when two are given")
    p.add_argument("second", nargs="?", help="reconstruction: .ply, or .ocz decoded on the fly")
    p.add_argument("--error", nargs="?", const="geometry", choices=("geometry", "colour"),
                   type=lambda mode: "colour" if mode == "color" else mode,
                   help="colour the reconstruction by its per-point error against its nearest "
                        "original point: geometry (the default: distance, D1's error) or colour "
                        "(Euclidean distance in RGB, in 8-bit levels; both clouds need colour)")
    p.add_argument("--screenshot", metavar="PNG", help="render off screen to this PNG instead "
                                                      "of opening a window")
    p.add_argument("--view", help="comma-separated presets: front, back, left, right, top, "
                                  "oblique (default front,oblique)")
    p.add_argument("--up", default="y", choices=["x", "y", "z"], help="up axis (default y)")
    p.add_argument("--size", type=int, default=800, help="pixels per panel side (default 800)")
    p.add_argument("--point-size", type=float, default=2.0, help="point size in pixels")
    p.add_argument("--peak", type=float, help="PSNR peak for the title (default 2^bits - 1 "
                                              "for integer clouds)")
    p.set_defaults(func=cmd_view)

    lf = sub.add_parser("lf", help="4D light fields").add_subparsers(dest="lf_command", required=True)
    p = lf.add_parser("compress", parents=[common, lf_input, lf_coding, model],
                      help="compress a light field (folder of PNG views, .h5 or .npy)")
    p.add_argument("input", help="light field: folder of PNG views, .h5/.hdf5 or .npy")
    p.add_argument("-o", "--output", required=True, help="output .ocz file")
    p.add_argument("--rate", type=int, help="rate N (1 = fewest bits, the default; see "
                                            "'omnicodec models')")
    p.add_argument("--bpp", type=float, help="at the highest rate within this many bits per pixel")
    p.set_defaults(func=lambda args: cmd_compress(args, "lightfield"))
    p = lf.add_parser("decompress", parents=[common],
                      help="decompress an .ocz light field")
    p.add_argument("input", help="input .ocz file")
    p.add_argument("-o", "--output", required=True,
                   help="output: FILE.npy, FILE.h5 (or .hdf5), a folder of PNG views (an "
                        "existing folder or a path ending in /), else as the input was stored")
    p.set_defaults(func=lambda args: cmd_decompress(args, "lightfield"))
    p = lf.add_parser("eval", parents=[common, lf_input, lf_coding, model],
                      help="code a light field at each rate: table, CSVs and RD plot")
    p.add_argument("input", help="light field (the reference)")
    p.add_argument("--rates", help="rates to run, e.g. 1,3 or 2-4 (default: all)")
    p.add_argument("-o", "--output", help="output path stem for STEM.csv, STEM_views.csv and "
                                          "STEM.png (default: INPUT_rd in the current folder)")
    p.add_argument("--anchor", action="append", default=[], metavar="CSV",
                   help="also plot other codecs' points for this light field (columns "
                        "lightfield, codec, bpp, psnr_y, psnr_yuv, ssim_y), e.g. from "
                        "benchmarks.lightfield_anchors")
    p.set_defaults(func=cmd_lf_eval)
    p = lf.add_parser("view", parents=[common, lf_input],
                      help="PNG: central view, epipolar-plane image, per-view PSNR heat map")
    p.add_argument("first", help="light field: folder of PNG views, .h5 or .npy")
    p.add_argument("second", nargs="?", help="its reconstruction, for the per-view PSNR")
    p.add_argument("-o", "--output", required=True, help="output .png")
    p.set_defaults(func=cmd_lf_view)

    p = sub.add_parser("models", parents=[common], help="list the shipped models and rates")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("eval", parents=[common, model],
                       help="code a cloud at each lossy rate (or with --model; a coloured "
                            "cloud with its colours, or at each of --colour-rates): table, CSV "
                            "and RD plots")
    p.add_argument("input", help="input .ply file (the reference)")
    p.add_argument("--rates", help="rates to run, e.g. 1,3,5 or 2-4 (default: all)")
    p.add_argument("--peak", type=float,
                   help="PSNR peak (default 2^bits - 1 for integer clouds, e.g. 1023 for vox10)")
    p.add_argument("--normals", help="PLY of the input's points with nx/ny/nz for D2")
    p.add_argument("--no-d2", action="store_true", help="point-to-point (D1) only")
    p.add_argument("--no-normal-estimation", action="store_true",
                   help="fail instead of estimating normals when the input has none")
    p.add_argument("-o", "--output", help="output path stem for STEM.csv and STEM.png "
                                          "(and STEM_colour.png for a coloured cloud; "
                                          "default: INPUT_rd in the current folder)")
    p.add_argument("--anchor", action="append", default=[], metavar="CSV",
                   help="also plot other codecs' points for this file (columns file, bpp, "
                        "d1_psnr, d2_psnr), e.g. benchmarks/anchors/gpcc_v23_octree.csv")
    colour = p.add_mutually_exclusive_group()
    colour.add_argument("--colour-rates", "--color-rates", metavar="LIST",
                        help="coloured clouds: code the colour at these colour rates instead, "
                             "e.g. 1,3 or 2-4 or all, at lossless geometry (or at the one "
                             "--rates value given); default: lossless colour at each rate")
    colour.add_argument("--no-colour", "--no-color", action="store_true",
                        help="evaluate the geometry alone, as if the cloud had no colours")
    p.add_argument("--colour-plot", "--color-plot", metavar="PNG",
                   help="coloured clouds: the colour RD plot (colour bits per input point "
                        "against Y and (6Y+Cb+Cr)/8 PSNR; default STEM_colour.png)")
    p.add_argument("--colour-anchor", "--color-anchor", action="append", default=[],
                   metavar="CSV",
                   help="coloured clouds: also plot other codecs' colour points for this file "
                        "(columns file, colour_bpp, y_psnr, optionally ycbcr_psnr), e.g. "
                        "benchmarks/anchors/gpcc_v23_raht_soldier.csv, and give the BD-rate of "
                        "the colour bits at equal Y PSNR against each")
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.engine:
            from omnicodec.sparse import set_engine

            try:
                set_engine(args.engine)
            except ImportError as exc:
                raise OmnicodecError(f"sparse engine {args.engine!r} cannot be used here: {exc}") from None
        return args.func(args)
    except OmnicodecError as exc:
        if args.debug:
            raise
        print(f"omnicodec: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("omnicodec: interrupted", file=sys.stderr)
        return 130
    except (OSError, MemoryError) as exc:
        if args.debug:
            raise
        print(f"omnicodec: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
