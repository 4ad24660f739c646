"""Light-field quality over all views: PSNR-Y, PSNR-YUV and SSIM-Y, per view and overall.

Colour: BT.709 full-range YCbCr of 8-bit samples (uint16 light fields are brought to the
8-bit scale by dividing by 257), peak 255. PSNR-YUV weights the planes' PSNRs
(6 Y + U + V) / 8, as in JPEG Pleno and video coding practice. Overall PSNRs come from the
MSE over all views (not the mean of per-view PSNRs). SSIM is Wang et al.'s: 11x11
Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, on the luma, averaged over the image
(and over the views for the overall value).
"""

import dataclasses
import math

import numpy as np

from omnicodec.errors import InputError

PEAK = 255.0
_KR, _KB = 0.2126, 0.0722  # BT.709
_KG = 1.0 - _KR - _KB
# R'G'B' -> Y'CbCr rows (Cb and Cr centred on 0; full range): Y = KR R + KG G + KB B,
# Cb = (B - Y) / (2 (1 - KB)), Cr = (R - Y) / (2 (1 - KR)).
YCBCR_FROM_RGB = np.array([[_KR, _KG, _KB],
                           [-_KR / (2 * (1 - _KB)), -_KG / (2 * (1 - _KB)), 0.5],
                           [0.5, -_KG / (2 * (1 - _KR)), -_KB / (2 * (1 - _KR))]])


def ycbcr(views):
    """(..., 3) RGB samples -> (..., 3) float64 Y, Cb, Cr on the 8-bit scale (full range)."""
    rgb = views.astype(np.float64)
    if views.dtype == np.uint16:
        rgb /= 257.0
    return rgb @ YCBCR_FROM_RGB.T + np.array([0.0, 128.0, 128.0])


def psnr(mse):
    return math.inf if mse == 0 else 10.0 * math.log10(PEAK * PEAK / mse)


def ssim(a, b):
    """Mean SSIM of two single-channel float images on the 8-bit scale."""
    from scipy.ndimage import gaussian_filter  # here: the codecs import this module for its constants

    c1, c2 = (0.01 * PEAK) ** 2, (0.03 * PEAK) ** 2

    def blur(x):
        return gaussian_filter(x, 1.5, truncate=3.5, mode="reflect")

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(index.mean())


@dataclasses.dataclass
class LightFieldQuality:
    psnr_y: float
    psnr_yuv: float
    ssim_y: float
    view_psnr_y: np.ndarray  # (U, V)
    view_psnr_yuv: np.ndarray
    view_ssim_y: np.ndarray


def lightfield_quality(reference, degraded):
    """Quality of ``degraded`` against ``reference``, both (U, V, H, W, 3) arrays."""
    reference, degraded = np.asarray(reference), np.asarray(degraded)
    if reference.shape != degraded.shape:
        raise InputError(f"light fields differ in shape: {reference.shape} and {degraded.shape}")
    rows, cols = reference.shape[:2]
    view_mse = np.zeros((rows, cols, 3))
    view_ssim = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            a, b = ycbcr(reference[r, c]), ycbcr(degraded[r, c])
            view_mse[r, c] = ((a - b) ** 2).mean(axis=(0, 1))
            view_ssim[r, c] = ssim(a[..., 0], b[..., 0])
    weights = np.array([6.0, 1.0, 1.0]) / 8.0

    def yuv(mse_planes):
        return float(sum(w * psnr(m) for w, m in zip(weights, mse_planes)))

    overall = view_mse.mean(axis=(0, 1))
    return LightFieldQuality(
        psnr_y=psnr(overall[0]), psnr_yuv=yuv(overall), ssim_y=float(view_ssim.mean()),
        view_psnr_y=np.vectorize(psnr)(view_mse[..., 0]),
        view_psnr_yuv=np.array([[yuv(view_mse[r, c]) for c in range(cols)] for r in range(rows)]),
        view_ssim_y=view_ssim)
