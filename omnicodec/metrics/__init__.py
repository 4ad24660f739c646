"""Quality metrics, as MPEG pc_error computes them. ``pointcloud``: geometry distortion
(D1/D2 PSNR); ``colour``: colour distortion (Y, Cb, Cr PSNR); ``lightfield``: PSNR and SSIM
of light fields; ``bjontegaard``: BD-rate and BD-PSNR between rate-distortion curves.

The names below are imported from their module when first used, so that a codec which needs
one constant of ``lightfield`` does not load scipy's k-d trees for the point-cloud metrics.
"""

import importlib

_MODULE_OF = {
    **dict.fromkeys(["ColourDistortion", "ColourMetrics", "colour_metrics", "colour_psnr", "file_colour_metrics",
                     "ycbcr"], "colour"),
    **dict.fromkeys(["Distortion", "PointMetrics", "check_peak", "estimate_normals", "file_metrics",
                     "point_metrics", "psnr", "reference_cloud"], "pointcloud"),
}

__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    return value


def __dir__():
    return sorted({*globals(), *__all__})
