"""The evaluation verbs: ``metrics`` (D1/D2 and colour PSNR of two clouds), ``eval`` (a cloud
coded at each rate: table, CSV and RD plots) and ``lf eval`` (the same for a light field)."""

import dataclasses
import json
import os

from omnicodec.cli.output import Progress


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
    from omnicodec.errors import InputError

    rates = evaluate.parse_rates(args.rates) if args.rates else None
    colour_rates = qualities = None
    if args.colour_rates is not None:
        colour_rates = evaluate.parse_colour_rates(args.colour_rates)
    if args.qualities is not None:
        qualities = evaluate.parse_qualities(args.qualities)
        if args.colour_anchor:
            raise InputError("--colour-anchor compares colour bits at one geometry: leave it out with --qualities")
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
                                   colour=not args.no_colour, needs_colour=needs_colour, qualities=qualities)
    finally:
        progress.close()
    stem = args.output or os.path.splitext(name)[0] + "_rd"
    evaluate.write_csv(result, stem + ".csv")
    evaluate.write_plot(result, stem + ".png", anchors)
    written = {"csv": stem + ".csv", "plot": stem + ".png"}
    colour_bd = []
    if result.colour:
        written["colour_plot"] = args.colour_plot or stem + "_colour.png"
        evaluate.write_colour_plot(result, written["colour_plot"], colour_anchors, total=qualities is not None)
        colour_bd = evaluate.colour_bd_rates(result, colour_anchors) if qualities is None else []
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


def _add_metrics(sub, shared):
    p = sub.add_parser("metrics", parents=[shared.common],
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


def _add_eval(sub, shared):
    p = sub.add_parser("eval", parents=[shared.common, shared.model],
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
    colour.add_argument("--qualities", metavar="LIST",
                        help="coloured clouds: code at these qualities (geometry and colour rates "
                             "together, as compress --quality), e.g. all; the plots then show all "
                             "bits against D1/D2 and against Y and (6Y+Cb+Cr)/8 PSNR")
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


def _add_lf_eval(lf, shared):
    p = lf.add_parser("eval", parents=[shared.common, shared.lf_input, shared.lf_coding,
                                       shared.model],
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


def add_parsers(subparsers, shared, *verbs):
    """Add the named evaluation verbs to ``subparsers`` (those of ``lf`` for "lf eval"), in
    the order given; ``shared`` holds the option sets verbs of several groups take (see
    ``main.build_parser``)."""
    for verb in verbs:
        _PARSERS[verb](subparsers, shared)


_PARSERS = {"metrics": _add_metrics, "eval": _add_eval, "lf eval": _add_lf_eval}
