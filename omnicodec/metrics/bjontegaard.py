"""Bjontegaard-delta rate and PSNR between two rate-distortion curves (VCEG-M33).

BD-rate: the average bitrate difference, in percent, of the test curve against the anchor
at equal quality, over the quality range both cover; negative means the test saves bits.
BD-PSNR: the average quality difference in dB at equal rate. Each curve is interpolated
in (log rate, PSNR) either by the classic cubic polynomial fit (``"cubic"``) or by a
piecewise cubic Hermite interpolant (``"pchip"``, as in the common test conditions of
recent MPEG/JVET work), then integrated over the shared interval.
"""

import numpy as np
from scipy.interpolate import PchipInterpolator

METHODS = ("cubic", "pchip")


def _curve(rates, psnrs, name):
    rates = np.asarray(rates, dtype=np.float64)
    psnrs = np.asarray(psnrs, dtype=np.float64)
    if rates.shape != psnrs.shape or rates.ndim != 1:
        raise ValueError(f"{name}: rates and PSNRs must be two lists of the same length")
    keep = np.isfinite(psnrs) & np.isfinite(rates) & (rates > 0)
    rates, psnrs = rates[keep], psnrs[keep]
    if len(rates) < 2:
        raise ValueError(f"{name}: at least 2 points with a positive rate and finite PSNR are needed")
    return np.log10(rates), psnrs


def _integral(x, y, low, high, method):
    """Integral over [low, high] of the curve y(x) through the points."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    if method == "cubic":
        degree = min(3, len(x) - 1)
        poly = np.polyint(np.polyfit(x, y, degree))
        return np.polyval(poly, high) - np.polyval(poly, low)
    if method == "pchip":
        x, unique = np.unique(x, return_index=True)
        return PchipInterpolator(x, y[unique]).integrate(low, high)
    raise ValueError(f"method must be one of {METHODS}, not {method!r}")


def _average_gap(xa, ya, xt, yt, method):
    low, high = max(xa.min(), xt.min()), min(xa.max(), xt.max())
    if not high > low:
        raise ValueError("the two curves do not overlap: no Bjontegaard delta is defined")
    return (_integral(xt, yt, low, high, method) - _integral(xa, ya, low, high, method)) / (high - low)


def bd_rate(anchor_rates, anchor_psnrs, test_rates, test_psnrs, method="cubic"):
    """Average rate difference of the test against the anchor at equal PSNR, in percent."""
    log_ra, pa = _curve(anchor_rates, anchor_psnrs, "anchor")
    log_rt, pt = _curve(test_rates, test_psnrs, "test")
    gap = _average_gap(pa, log_ra, pt, log_rt, method)
    return float((10.0**gap - 1.0) * 100.0)


def bd_psnr(anchor_rates, anchor_psnrs, test_rates, test_psnrs, method="cubic"):
    """Average PSNR difference of the test against the anchor at equal rate, in dB."""
    log_ra, pa = _curve(anchor_rates, anchor_psnrs, "anchor")
    log_rt, pt = _curve(test_rates, test_psnrs, "test")
    return float(_average_gap(log_ra, pa, log_rt, pt, method))


def bd_table(name, ours, anchors, metrics):
    """BD-rate (%) and BD-PSNR (dB) of curve ``ours`` against each of ``anchors``
    ({label: curve}), every method and metric; a curve is {"bpp": [...], metric: [...]}.
    Rows: file, anchor, method, bd_rate_<metric>, bd_psnr_<metric> (None, with a note, where
    the curves do not overlap)."""
    rows = []
    for label, theirs in anchors.items():
        for method in METHODS:
            row = {"file": name, "anchor": label, "method": method}
            for metric in metrics:
                try:
                    row[f"bd_rate_{metric}"] = bd_rate(theirs["bpp"], theirs[metric], ours["bpp"],
                                                       ours[metric], method)
                    row[f"bd_psnr_{metric}"] = bd_psnr(theirs["bpp"], theirs[metric], ours["bpp"],
                                                       ours[metric], method)
                except ValueError as exc:
                    row[f"bd_rate_{metric}"] = row[f"bd_psnr_{metric}"] = None
                    row["note"] = str(exc)
            rows.append(row)
    return rows
