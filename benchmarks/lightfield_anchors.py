"""Light-field anchors: the usual baselines a light-field codec is compared with.

    python -m benchmarks.lightfield_anchors ../shared/data/lightfields/lytro_2067 --out results/lf

- x265 pseudo-sequence: the views in serpentine order (row 0 left to right, row 1 right to
  left, ...) as frames of one video, coded by ffmpeg with libx265 (Debian's, or see find_ffmpeg), preset
  ``--preset`` (medium), constant QP (``--qps``), 4:4:4 (``yuv444p``, BT.709 full range
  both ways so colour conversion costs nothing), one intra frame then P/B frames as x265
  chooses (keyint = number of views). The raw HEVC stream's size is the rate.
- JPEG: every view on its own, Pillow's libjpeg at ``--jpeg-qualities``, 4:4:4.
Rates are bits per pixel (bits / (U V H W)); quality PSNR-Y, PSNR-YUV and SSIM-Y over all
views (omnicodec.metrics.lightfield), and the seconds each took. Writes anchors_<name>.csv.
"""

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from omnicodec.evaluate import write_rows
from omnicodec.io.lightfield import read_lightfield
from omnicodec.metrics.lightfield import lightfield_quality


def serpentine(rows, cols):
    """View order of the pseudo-sequence."""
    return [(r, c if r % 2 == 0 else cols - 1 - c) for r in range(rows) for c in range(cols)]


def find_ffmpeg():
    """An ffmpeg with libx265: the one on PATH, else the static build of the imageio-ffmpeg
    wheel (``pip install imageio-ffmpeg``: ffmpeg 9.0.2, whose BT.709 full-range
    conversion loses 0.2-0.35 dB PSNR-YUV more than Debian's at QP 22-42 on antinous, at
    bytes within 0.5%)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        try:
            import imageio_ffmpeg
        except ImportError:
            raise RuntimeError("ffmpeg is not installed (apt-get install ffmpeg, or pip install imageio-ffmpeg)")
        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    return ffmpeg


def x265_pseudo_sequence(views, qp, preset="medium"):
    """(bytes, decoded views) of the serpentine pseudo-sequence coded with libx265."""
    ffmpeg = find_ffmpeg()
    rows, cols, height, width, _ = views.shape
    order = serpentine(rows, cols)
    frames = np.stack([views[r, c] for r, c in order]).astype(np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        stream = os.path.join(folder, "lf.hevc")
        subprocess.run(
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
             "-s", f"{width}x{height}", "-r", "25", "-i", "-",
             "-vf", "scale=out_color_matrix=bt709:out_range=full", "-pix_fmt", "yuv444p",
             "-c:v", "libx265", "-preset", preset,
             "-x265-params", f"qp={qp}:keyint={len(order)}:log-level=error", "-f", "hevc", stream],
            input=frames.tobytes(), check=True)
        decoded = subprocess.run(
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", stream,
             "-vf", "scale=in_color_matrix=bt709:in_range=full", "-f", "rawvideo",
             "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
        size = os.path.getsize(stream)
    frames = np.frombuffer(decoded, dtype=np.uint8).reshape(len(order), height, width, 3)
    out = np.empty_like(views)
    for frame, (r, c) in zip(frames, order):
        out[r, c] = frame
    return size, out


def jpeg_views(views, quality):
    """(bytes, decoded views) of every view coded as its own JPEG."""
    from PIL import Image

    size, out = 0, np.empty_like(views)
    for r in range(views.shape[0]):
        for c in range(views.shape[1]):
            buffer = io.BytesIO()
            Image.fromarray(views[r, c]).save(buffer, format="JPEG", quality=quality, subsampling=0)
            size += buffer.tell()
            buffer.seek(0)
            out[r, c] = np.asarray(Image.open(buffer).convert("RGB"))
    return size, out


def quality_row(codec, setting, size, lightfield, decoded):
    """One RD row: bytes, bits per pixel and quality of ``decoded`` against the light field."""
    quality = lightfield_quality(lightfield.views, decoded)
    return {"codec": codec, "setting": setting, "bytes": size, "bpp": 8 * size / lightfield.pixels,
            "psnr_y": quality.psnr_y, "psnr_yuv": quality.psnr_yuv, "ssim_y": quality.ssim_y}


def add_anchor_arguments(parser):
    parser.add_argument("--qps", default="22,27,32,37,42")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--jpeg-qualities", default="30,50,70,85,95")


def anchor_rows(lightfield, args, name=""):
    """{"x265": rows, "jpeg": rows} at the QPs and qualities of ``args`` (add_anchor_arguments);
    each row also has the seconds the codec took to code and decode."""
    views = lightfield.views
    runs = [("x265", f"qp {qp}",
             lambda qp=int(qp): x265_pseudo_sequence(views, qp, args.preset)) for qp in args.qps.split(",")]
    runs += [("jpeg", f"quality {q}", lambda q=int(q): jpeg_views(views, q))
             for q in args.jpeg_qualities.split(",")]
    rows = {"x265": [], "jpeg": []}
    for codec, setting, run in runs:
        start = time.perf_counter()
        size, decoded = run()
        row = quality_row(codec, setting, size, lightfield, decoded)
        rows[codec].append({**row, "seconds": time.perf_counter() - start})
        print(f"{name} {codec} {setting}: {row['bpp']:.4f} bpp, PSNR-YUV {row['psnr_yuv']:.2f} dB, "
              f"SSIM-Y {row['ssim_y']:.4f}", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lightfields", nargs="+")
    add_anchor_arguments(parser)
    parser.add_argument("--out", default="results/lf")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for path in args.lightfields:
        name = os.path.basename(os.path.normpath(path))
        rows = anchor_rows(read_lightfield(path), args, name)
        write_rows([{"lightfield": name, **row} for codec_rows in rows.values() for row in codec_rows],
                   os.path.join(args.out, f"anchors_{name}.csv"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
