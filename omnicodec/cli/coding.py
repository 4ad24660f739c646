"""The coding verbs: ``compress`` and ``decompress`` (a file, a folder of them through
``_run_batch``, or a sequence of frames in one stream), ``info``, ``models``, and
``lf compress`` / ``lf decompress``."""

import argparse
import contextlib
import dataclasses
import glob
import json
import os
import sys
import time

from omnicodec.cli.output import Progress, bits_field, print_fields, print_report
from omnicodec.errors import InputError, ModelError


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
        print_fields(summary, False)
    for o in failed:
        print(f"omnicodec: error: {o.source}: {o.error}", file=sys.stderr)
    return 1 if failed else 0


def cmd_compress(args, kind=None):
    """Compress a file (or a folder of PLY files), of the kind its path says unless the
    command gave it (``lf compress``), or several sweeps into one sequence stream."""
    from omnicodec import api
    from omnicodec.io import file_kind

    options = {"voxel_size": getattr(args, "voxel_size", None), "bits": getattr(args, "bits", None),
               "tile": args.tile, "colour_rate": getattr(args, "colour_rate", None),
               "quality": getattr(args, "quality", None),
               "keep_duplicates": getattr(args, "keep_duplicates", False) or None,
               "no_colour": getattr(args, "no_colour", False),
               "intensity_bits": getattr(args, "intensity_bits", None),
               "no_attributes": getattr(args, "no_attributes", False)}
    if getattr(args, "sequence", False):
        return _compress_sequence(args, options)
    if getattr(args, "random_access", None) is not None:
        raise InputError("--random-access goes with --sequence")
    inputs = args.input if isinstance(args.input, list) else [args.input]
    if len(inputs) != 1:
        raise InputError(f"{len(inputs)} inputs: give one file or folder, or code them as one stream with --sequence")
    args.input = inputs[0]
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
    print_report("encode", report, args, args.output)
    return 0


def sequence_sources(inputs):
    """The files of a sequence, in order: each input a file, a folder (its point-cloud
    files, in name order) or a glob pattern (its matches, in name order)."""
    from omnicodec.io import POINT_CLOUD_SUFFIXES

    sources = []
    for given in inputs:
        if os.path.isdir(given):
            found = sorted(os.path.join(given, name) for name in os.listdir(given)
                           if name.lower().endswith(POINT_CLOUD_SUFFIXES))
            if not found:
                raise InputError(f"{given}: no .ply, .pcd or .bin file in this folder")
        elif not os.path.exists(given) and glob.has_magic(given):
            found = sorted(glob.glob(given))
            if not found:
                raise InputError(f"{given}: no file matches")
        else:
            found = [given]
        sources += found
    return sources


def _compress_sequence(args, options):
    """``compress --sequence``: the sweeps, in order, as one stream of frames."""
    from omnicodec import api

    if any(value is not None for value in (args.bpp, args.tile, args.grid, args.dataset)):
        raise InputError("--bpp, --tile, --grid and --dataset do not apply to sequences")
    if args.random_access is not None:
        options["random_access"] = args.random_access
    sources = sequence_sources(args.input)
    bar = _frames_bar(len(sources), args.quiet)
    start = time.perf_counter()
    try:
        reports = api.compress_sequence_files(sources, args.output, model=args.model, rate=args.rate,
                                              on_frame=lambda report: bar and bar.update(1), **options)
    finally:
        if bar is not None:
            bar.close()
    if reports[0].not_coded and not args.quiet:
        print(f"note: model {reports[0].model} left attributes out; not coded: "
              f"{', '.join(reports[0].not_coded)}", file=sys.stderr)
    _print_sequence(args, reports, [os.path.basename(s) for s in sources], time.perf_counter() - start,
                    {"output": args.output})
    return 0


def _frames_bar(total, quiet):
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="frames", unit=" frames", file=sys.stderr, leave=False)


def _print_sequence(args, reports, names, wall, extra, first=0):
    """The table of a sequence's frames (index, name, bytes, bits per point, seconds),
    then the totals."""
    units = sum(report.units for report in reports)
    size = sum(report.bytes for report in reports)
    summary = {"frames": len(reports), "model": reports[0].model if reports else None, "bytes": size,
               **bits_field(reports[0].unit if reports else "point", 8 * size / max(units, 1)),
               "wall seconds": round(wall, 2), **extra}
    if args.json:
        rows = [{"frame": first + i, "name": name, "bytes": r.bytes, "units": r.units,
                 "bits per unit": round(r.bits_per_unit, 4), "seconds": round(r.seconds, 3)}
                for i, (name, r) in enumerate(zip(names, reports))]
        print(json.dumps({**summary, "frame list": rows}))
        return
    if args.quiet:
        return
    width = max([len(name) for name in names] + [4])
    print(f"{'frame':>5} {'name':<{width}} {'bytes':>10} {'bpp':>8} {'s':>6}")
    for i, (name, report) in enumerate(zip(names, reports)):
        print(f"{first + i:>5} {name:<{width}} {report.bytes:>10} {report.bits_per_unit:>8.4f} {report.seconds:>6.2f}")
    print_fields(summary, False)


def frame_range(text):
    """'A:B' (frames A to B-1), 'A:' (A to the last), ':B' or 'A' (that frame alone) ->
    (start, stop or None), for --frames."""
    try:
        if ":" not in text:
            start = int(text)
            return start, start + 1
        first, _, last = text.partition(":")
        start, stop = int(first) if first else 0, int(last) if last else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"frames look like A:B, A: or :B (A, B frame numbers), not {text!r}")
    if start < 0 or (stop is not None and stop <= start):
        raise argparse.ArgumentTypeError(f"{text!r} is not a range of frames (A:B counts A to B-1)")
    return start, stop


def cmd_decompress(args, kind=None):
    """Decompress a stream (or a folder of them, or a sequence's frames into a folder);
    ``lf decompress`` expects a light field."""
    from omnicodec import api

    frames = getattr(args, "frames", None)
    if os.path.isdir(args.input) and kind is None:
        if frames is not None:
            raise InputError("--frames goes with a sequence stream, not a folder")
        return _run_batch("decompress", args, {})
    if kind is None and _is_sequence_file(args.input):
        return _decompress_sequence(args, frames or (0, None))
    if frames is not None:
        raise InputError(f"{args.input}: --frames goes with a sequence stream; this one holds one frame")
    progress = Progress("decompress", args.quiet)
    try:
        report = api.decompress_file(args.input, args.output, progress=progress, kind=kind)
    finally:
        progress.close()
    print_report("decode", report, args, args.output)
    return 0


def _is_sequence_file(path):
    """Whether ``path`` is a file that begins as a sequence stream does."""
    from omnicodec import bitstream

    if not os.path.isfile(path):
        return False
    with open(path, "rb") as handle:
        return bitstream.is_sequence(handle.read(len(bitstream.SEQUENCE_MAGIC)))


def _decompress_sequence(args, frames):
    """A sequence's frames, each to its file in the folder ``-o``; where the stream is
    damaged, the frames before the damage are written, then the error."""
    from omnicodec import api
    from omnicodec.errors import BitstreamError
    from omnicodec.io import POINT_CLOUD_SUFFIXES

    if (os.path.exists(args.output) and not os.path.isdir(args.output)) or (
            not os.path.exists(args.output) and args.output.lower().endswith(POINT_CLOUD_SUFFIXES)):
        raise InputError(f"{args.output}: a sequence decodes to a folder (each frame under its own name), "
                         "not to one file")
    start, stop = frames
    bar = _frames_bar(None, args.quiet)
    names, reports = [], []

    def done(frame, report):
        names.append(frame.file_name)
        reports.append(report)
        if bar is not None:
            bar.update(1)

    clock = time.perf_counter()
    try:
        api.decompress_sequence_file(args.input, args.output, start=start, stop=stop, on_frame=done)
    except BitstreamError as exc:
        if reports:
            raise BitstreamError(f"{exc}; frames {start} to {start + len(reports) - 1} were written to "
                                 f"{args.output}") from None
        raise
    finally:
        if bar is not None:
            bar.close()
    _print_sequence(args, reports, names, time.perf_counter() - clock, {"output": args.output}, first=start)
    return 0


def cmd_info(args):
    """The stream's header; reads no weights and loads no engine (``--version`` names the
    engine this machine would decode with: streams do not record one)."""
    from omnicodec import api, catalogue, zoo

    if _is_sequence_file(args.input):
        return _sequence_info(args)
    data = api.read_bitstream(args.input)
    header = api.info(data)
    try:
        codec_id = zoo.codec_id(header.codec)
    except ModelError:
        codec_id = None
    fields = {
        "file": args.input,
        "bytes": len(data),
        "format version": header.version,
        "codec": codec_id or f"unknown (number {header.codec})",
        "model": header.model_id,
        "model known": header.model_id in catalogue.models(),
        "weights sha256 prefix": header.weights_hash.hex(),
        "entropy coder": header.coder,
        "checksum": header.checksum.hex(),
    }
    if codec_id:
        codec_class = zoo.codec_class(codec_id)
        fields.update(codec_class.describe(header.codec_header))
        units = codec_class.input_units(header.codec_header)
        fields.update(bits_field(codec_class.unit, 8 * len(data) / max(units, 1)))
        try:
            fields["arithmetic"] = ("integer: decodes bit-exactly on every machine" if zoo.portable(header) else
                                    "float: decodes only where the machine computes as the writer's did")
        except ModelError:  # a model this omnicodec does not ship
            pass
    print_fields(fields, args.json)
    return 0


def _sequence_info(args):
    """``info`` of a sequence: its frames (name, bytes, bits per point, model; or why a
    frame does not read) and totals. Reads the frames' headers only."""
    from omnicodec import api, bitstream, zoo
    from omnicodec.errors import OmnicodecError

    with api.open_sequence(args.input) as sequence:
        rows = []
        for frame in sequence.frames:
            row = {"frame": frame.index, "name": frame.file_name, "bytes": frame.length,
                   "kind": "random access" if frame.random_access else "predicted"}
            try:
                header = sequence.header(frame)
                units = zoo.codec_class(zoo.codec_id(header.codec)).input_units(header.codec_header)
                row.update({"units": units, "bits per unit": round(8 * frame.length / max(units, 1), 4),
                            "model": header.model_id})
            except OmnicodecError as exc:
                row.update({"units": 0, "bits per unit": None, "model": f"unreadable: {exc}"})
            rows.append(row)
        size, damage = len(sequence.reader.data), sequence.damage
    damaged = damage or any(row["bits per unit"] is None for row in rows)
    units = sum(row["units"] for row in rows)
    fields = {"file": args.input, "bytes": size, "sequence format version": bitstream.SEQUENCE_VERSION,
              "frames": len(rows), "bits per input point": round(8 * size / max(units, 1), 4),
              "damage": damage or "none"}
    if args.json:
        print(json.dumps({**fields, "frame list": rows}))
        return 3 if damaged else 0
    width = max([len(row["name"]) for row in rows] + [4])
    print(f"{'frame':>5} {'name':<{width}} {'kind':<13} {'bytes':>10} {'bpp':>8}  model")
    for row in rows:
        bpp = "-" if row["bits per unit"] is None else f"{row['bits per unit']:.4f}"
        print(f"{row['frame']:>5} {row['name']:<{width}} {row['kind']:<13} {row['bytes']:>10} {bpp:>8}  "
              f"{row['model']}")
    print_fields(fields, False)
    return 3 if damaged else 0


CONTENT_LABELS = {"spinning-LiDAR sweeps": "LiDAR sweep", "depth-camera frames": "depth frame",
                  "sparse scans": "sparse scan"}


def cmd_models(args):
    """The model cards: no weights are loaded."""
    from omnicodec import catalogue
    from omnicodec.data import KIND_NAMES

    rows = [{"model": card.model_id, "codec": card.codec, "data": card.data_kind,
             "rates": list(card.rates), "colour rates": len(card.settings.get("colour_rates", ())),
             "qualities": len(card.settings.get("qualities", ())),
             "default": card.default, "content": card.content, "attributes": list(card.attributes),
             "sha256": card.sha256,
             "result": card.result, "command": card.command} for card in catalogue.models().values()]
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        rates = row["rates"]
        if row["colour rates"]:
            how = f"--colour-rate 1-{row['colour rates']}" + (f", --quality 1-{row['qualities']}"
                                                               if row["qualities"] else "")
        elif "intensity" in row["attributes"]:
            how = "--intensity-bits"
        elif not rates:
            how = "lossless"
        else:
            how = f"--rate {rates[0]}" + (f"-{rates[-1]}" if len(rates) > 1 else "")
        data = CONTENT_LABELS.get(row["content"], row["content"]) if row["content"] else KIND_NAMES[row["data"]]
        print(f"{row['model']:<14} {data:<12} {how:<18} {row['result']}")
    return 0


def _batch_options():
    """The options of a folder run: ``compress`` and ``decompress`` take them."""
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
    return batch


def _add_compress(sub, shared):
    p = sub.add_parser("compress", parents=[shared.common, _batch_options(), shared.lf_input,
                                            shared.lf_coding, shared.model],
                       help="compress a point cloud (.ply, .pcd, KITTI .bin; or a folder of .ply), "
                            "or a light field")
    p.add_argument("input", nargs="+",
                   help="input .ply, PCL .pcd or KITTI velodyne .bin file, or a folder: every "
                        ".ply below it; a light field (.h5, .npy, a folder of PNG views) goes "
                        "to `lf compress`; with --sequence, the frames: files, folders (their "
                        ".ply, .pcd and .bin files) or glob patterns, in name order")
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
    p.add_argument("--quality", type=int,
                   help="coloured clouds: the geometry rate and the colour rate together, 1 (fewest "
                        "bits) to N (see 'omnicodec models'), in place of --rate and --colour-rate")
    colour = p.add_mutually_exclusive_group()
    colour.add_argument("--colour-rate", "--color-rate", type=int,
                        help="code colour lossily at colour rate N (1 = fewest bits; default: "
                             "lossless colour); --rate still sets the geometry's")
    colour.add_argument("--no-colour", "--no-color", action="store_true",
                        help="drop the input's colours (code the geometry only)")
    p.add_argument("--keep-duplicates", action="store_true",
                   help="coloured clouds: keep every input point and its colour (the default "
                        "merges points in one voxel and averages their colours)")
    p.add_argument("--sequence", action="store_true",
                   help="code the inputs (the sweeps of a drive, in order) as one stream of frames; "
                        "`decompress` writes them back to a folder, each under its file name")
    p.add_argument("--random-access", type=int, metavar="K",
                   help="with --sequence: every K-th frame decodes alone, the others are predicted from "
                        "the frame before where the model does (LiDAR sweeps); 1 = every frame alone "
                        "(default: 10)")
    attributes = p.add_mutually_exclusive_group()
    attributes.add_argument("--intensity-bits", type=int,
                            help="LiDAR intensity (or reflectance): quantize it to N bits over its "
                                 "range, 1 to 16 (default: coded exactly as given)")
    attributes.add_argument("--no-attributes", action="store_true",
                            help="code the positions only: drop colour, intensity and every "
                                 "other per-point attribute")
    p.set_defaults(func=cmd_compress)


def _add_decompress(sub, shared):
    p = sub.add_parser("decompress", parents=[shared.common, _batch_options()],
                       help="decompress an .ocz file (or a folder of them) to .ply, .pcd or "
                            "KITTI .bin, or a light field (as `lf decompress`)")
    p.add_argument("input", help="input .ocz file, or a folder: every .ocz below it")
    p.add_argument("-o", "--output", required=True,
                   help="output file: a point cloud as its suffix says, .pcd (binary PCD), .bin "
                        "(KITTI: x, y, z, intensity), else .ply; or a folder (of .ply); a light "
                        "field as `lf decompress -h` says; a sequence: a folder, where each frame "
                        "goes under its file's name")
    p.add_argument("--frames", type=frame_range, metavar="A:B",
                   help="a sequence: decode frames A to B-1 only (A: to the last; A alone: that "
                        "frame)")
    p.set_defaults(func=cmd_decompress)


def _add_info(sub, shared):
    p = sub.add_parser("info", parents=[shared.common], help="print the header of an .ocz file")
    p.add_argument("input", help="input .ocz file")
    p.set_defaults(func=cmd_info)


def _add_models(sub, shared):
    p = sub.add_parser("models", parents=[shared.common], help="list the shipped models and rates")
    p.set_defaults(func=cmd_models)


def _add_lf_compress(lf, shared):
    p = lf.add_parser("compress", parents=[shared.common, shared.lf_input, shared.lf_coding,
                                           shared.model],
                      help="compress a light field (folder of PNG views, .h5 or .npy)")
    p.add_argument("input", help="light field: folder of PNG views, .h5/.hdf5 or .npy")
    p.add_argument("-o", "--output", required=True, help="output .ocz file")
    p.add_argument("--rate", type=int, help="rate N (1 = fewest bits, the default; see "
                                            "'omnicodec models')")
    p.add_argument("--bpp", type=float, help="at the highest rate within this many bits per pixel")
    p.set_defaults(func=lambda args: cmd_compress(args, "lightfield"))


def _add_lf_decompress(lf, shared):
    p = lf.add_parser("decompress", parents=[shared.common],
                      help="decompress an .ocz light field")
    p.add_argument("input", help="input .ocz file")
    p.add_argument("-o", "--output", required=True,
                   help="output: FILE.npy, FILE.h5 (or .hdf5), a folder of PNG views (an "
                        "existing folder or a path ending in /), else as the input was stored")
    p.set_defaults(func=lambda args: cmd_decompress(args, "lightfield"))


def add_parsers(subparsers, shared, *verbs):
    """Add the named coding verbs to ``subparsers`` (those of ``lf`` for "lf compress" and
    "lf decompress"), in the order given; ``shared`` holds the option sets verbs of several
    groups take (see ``main.build_parser``)."""
    for verb in verbs:
        _PARSERS[verb](subparsers, shared)


_PARSERS = {"compress": _add_compress, "decompress": _add_decompress, "info": _add_info,
            "models": _add_models, "lf compress": _add_lf_compress,
            "lf decompress": _add_lf_decompress}
