"""The viewing verbs: ``view`` (a cloud, or an original next to its reconstruction, in a
window or a screenshot) and ``lf view`` (a light field's picture, and its per-view PSNR
against a reconstruction)."""

import os


def cmd_view(args):
    from omnicodec import viewer

    views = tuple(v.strip() for v in args.view.split(",")) if args.view else viewer.DEFAULT_VIEWS
    viewer.view(args.first, args.second, error=args.error, screenshot=args.screenshot,
                views=views, up=args.up, size=args.size, point_size=args.point_size, peak=args.peak)
    if args.screenshot and not args.quiet:
        print(f"wrote {args.screenshot}")
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


def _add_view(sub, shared):
    p = sub.add_parser("view", parents=[shared.common],
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


def _add_lf_view(lf, shared):
    p = lf.add_parser("view", parents=[shared.common, shared.lf_input],
                      help="PNG: central view, epipolar-plane image, per-view PSNR heat map")
    p.add_argument("first", help="light field: folder of PNG views, .h5 or .npy")
    p.add_argument("second", nargs="?", help="its reconstruction, for the per-view PSNR")
    p.add_argument("-o", "--output", required=True, help="output .png")
    p.set_defaults(func=cmd_lf_view)


def add_parsers(subparsers, shared, *verbs):
    """Add the named viewing verbs to ``subparsers`` (those of ``lf`` for "lf view"), in the
    order given; ``shared`` holds the option sets verbs of several groups take (see
    ``main.build_parser``)."""
    for verb in verbs:
        _PARSERS[verb](subparsers, shared)


_PARSERS = {"view": _add_view, "lf view": _add_lf_view}
