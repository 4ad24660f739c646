"""What the verbs print: the progress bar over a codec's work, and the reports (one JSON
object, or aligned "name  value" lines)."""

import json
import sys


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


def print_report(kind, report, args, output):
    """The report of a compression or decompression: the codec's figures, then bytes,
    model, bits per input point (or pixel) and seconds."""
    fields = {name: value for name, value in report.details.items() if value is not None}
    fields.update({"bytes": report.bytes, "model": report.model,
                   **bits_field(report.unit, report.bits_per_unit),
                   f"{kind} seconds": round(report.seconds, 2), "output": output})
    if args.json or not args.quiet:
        print_fields(fields, args.json)


def bits_field(unit, bits_per_unit):
    """{"bits per input point" (or "bits per pixel"): the figure, rounded for reading}."""
    if unit == "pixel":
        return {"bits per pixel": round(bits_per_unit, 6)}
    return {"bits per input point": round(bits_per_unit, 4)}


def print_fields(fields, as_json):
    """A report: one JSON object, or aligned "name  value" lines."""
    if as_json:
        print(json.dumps(fields))
        return
    width = max(map(len, fields))
    for name, value in fields.items():
        print(f"{name:<{width}}  {value}")
