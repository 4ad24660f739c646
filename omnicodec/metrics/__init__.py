"""Quality metrics, as MPEG pc_error computes them. ``pointcloud``: geometry distortion
(D1/D2 PSNR); ``colour``: colour distortion (Y, Cb, Cr PSNR); ``bjontegaard``: BD-rate and
BD-PSNR between rate-distortion curves."""

from omnicodec.metrics.colour import (
    ColourDistortion, ColourMetrics, colour_metrics, colour_psnr, file_colour_metrics, ycbcr,
)
from omnicodec.metrics.pointcloud import (
    Distortion, PointMetrics, check_peak, estimate_normals, file_metrics, point_metrics, psnr,
    reference_cloud,
)

__all__ = ["ColourDistortion", "ColourMetrics", "Distortion", "PointMetrics", "check_peak",
           "colour_metrics", "colour_psnr", "estimate_normals", "file_colour_metrics",
           "file_metrics", "point_metrics", "psnr", "reference_cloud", "ycbcr"]
