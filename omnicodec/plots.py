"""Rate-distortion plots (PNG), the one plotting helper of eval and the benchmarks."""

from omnicodec.io.atomic import atomic_output

POINT_CLOUD_METRICS = {"d1": "D1 (point-to-point) PSNR [dB]", "d2": "D2 (point-to-plane) PSNR [dB]"}
LIGHT_FIELD_METRICS = {"psnr_yuv": "PSNR-YUV (6Y+U+V)/8 [dB]", "psnr_y": "PSNR-Y [dB]",
                       "ssim_y": "SSIM-Y"}
COLOUR_METRICS = {"y": "Y PSNR [dB]", "ycbcr": "YCbCr PSNR (6Y+Cb+Cr)/8 [dB]"}
COLOUR_NOTE = ("colour PSNR as pc_error -c 1: BT.709 Y'CbCr of 8-bit RGB, peak 1, symmetric "
               "(worse of A->B, B->A); bits of colour alone per input point")


def point_cloud_note(peak):
    return f"PSNR peak {peak:g} (pc_error definition: 10 log10(3 peak^2 / MSE))"


LIGHT_FIELD_NOTE = "BT.709 Y'CbCr, 8-bit peak 255, over all views; bits per pixel = bits / (U V H W)"


def rd_plot(path, curves, title, metrics=POINT_CLOUD_METRICS, x_label="bits per input point",
            note="", log_rate=False):
    """Write a PNG with one panel per metric of ``metrics`` ({key: axis label}) that has
    values: bits per point (or pixel) against quality, one line per codec (the rate axis
    logarithmic with ``log_rate``, for rates spanning decades).
    ``curves``: {label: {"bpp": [...], metric key: [...], ...}}."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    shown = [m for m in metrics
               if any(v is not None for curve in curves.values() for v in curve.get(m) or [])]
    figure, axes = plt.subplots(1, len(shown), figsize=(6 * len(shown), 4.6), squeeze=False)
    for axis, metric in zip(axes[0], shown):
        for label, curve in curves.items():
            points = sorted((b, v) for b, v in zip(curve["bpp"], curve.get(metric) or [])
                            if v is not None and v == v and v != float("inf"))
            if points:
                axis.plot(*zip(*points), marker="o", label=label)
        axis.set_xlabel(x_label)
        axis.set_ylabel(metrics[metric])
        if log_rate:
            axis.set_xscale("log")
        axis.grid(True, alpha=0.3)
        if axis.lines:  # none where every value is infinite (lossless)
            axis.legend()
    figure.suptitle(title)
    figure.text(0.5, 0.01, note, ha="center", fontsize=9)
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    try:
        with atomic_output(path) as handle:
            figure.savefig(handle, format="png", dpi=110)
    finally:
        plt.close(figure)
