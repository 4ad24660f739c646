"""Rate-distortion plots (PNG), the one plotting helper of eval and the benchmarks."""

from omnicodec.io.atomic import atomic_output

METRIC_LABELS = {"d1": "D1 (point-to-point) PSNR [dB]", "d2": "D2 (point-to-plane) PSNR [dB]"}


def rd_plot(path, curves, peak, title):
    """Write a PNG with one panel per metric (D1, D2): bits per point against PSNR, one
    line per codec. ``curves``: {label: {"bpp": [...], "d1": [...], "d2": [...]}}."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    metrics = [m for m in METRIC_LABELS
               if any(v is not None for curve in curves.values() for v in curve.get(m) or [])]
    figure, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4.6), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        for label, curve in curves.items():
            points = sorted((b, v) for b, v in zip(curve["bpp"], curve.get(metric) or [])
                            if v is not None and v == v and v != float("inf"))
            if points:
                axis.plot(*zip(*points), marker="o", label=label)
        axis.set_xlabel("bits per input point")
        axis.set_ylabel(METRIC_LABELS[metric])
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.text(0.5, 0.01, f"PSNR peak {peak:g} (pc_error definition: 10 log10(3 peak^2 / MSE))",
                ha="center", fontsize=9)
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    try:
        with atomic_output(path) as handle:
            figure.savefig(handle, format="png", dpi=110)
    finally:
        plt.close(figure)
