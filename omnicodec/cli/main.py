"""``omnicodec``: one command, subcommands (compress, decompress, info, metrics, eval, view,
models).

Every omnicodec error becomes a one-line message on stderr and a non-zero exit code;
``--debug`` shows the traceback instead. The verbs live by group (``coding``,
``evaluation``, ``viewing``); this module builds the parser from them and runs one.
"""

import argparse
import sys
import types

from omnicodec import __version__
from omnicodec.cli import coding, evaluation, viewing
from omnicodec.errors import OmnicodecError


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


def _grid(text):
    """'9x9' -> (9, 9) for --grid."""
    try:
        rows, cols = (int(part) for part in text.lower().split("x"))
        if rows > 0 and cols > 0:
            return rows, cols
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"a grid looks like 9x9, not {text!r}")


def _shared_options():
    """The option sets that verbs of several groups take as parents: ``common`` (every
    verb), ``lf_input``, ``lf_coding`` and ``model``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress, no report")
    common.add_argument("--json", action="store_true", help="print the report as JSON")
    # SUPPRESS: a subcommand that was not given --debug keeps the main parser's value.
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
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
    return types.SimpleNamespace(common=common, lf_input=lf_input, lf_coding=lf_coding,
                                 model=model)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="omnicodec", description="Learned point-cloud geometry and 4D light-field codec.")
    parser.add_argument("--version", action=VersionAction, nargs=0,
                        help="print the version, bitstream format, engine and coder")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--engine", choices=["minkowski", "torch"],
                        help="sparse engine (default: MinkowskiEngine where it imports, else torch; "
                             "env OMNICODEC_ENGINE)")
    shared = _shared_options()
    sub = parser.add_subparsers(dest="command", required=True)
    # The groups take turns, so that --help lists the verbs in their long-standing order.
    coding.add_parsers(sub, shared, "compress", "decompress", "info")
    evaluation.add_parsers(sub, shared, "metrics")
    viewing.add_parsers(sub, shared, "view")
    lf = sub.add_parser("lf", help="4D light fields").add_subparsers(dest="lf_command", required=True)
    coding.add_parsers(lf, shared, "lf compress", "lf decompress")
    evaluation.add_parsers(lf, shared, "lf eval")
    viewing.add_parsers(lf, shared, "lf view")
    coding.add_parsers(sub, shared, "models")
    evaluation.add_parsers(sub, shared, "eval")
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
