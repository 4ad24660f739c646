"""Quality metrics. ``pointcloud``: geometry distortion (D1/D2 PSNR) exactly as MPEG pc_error;
``bjontegaard``: BD-rate and BD-PSNR between rate-distortion curves."""

from omnicodec.metrics.pointcloud import (
    Distortion, PointMetrics, check_peak, estimate_normals, file_metrics, point_metrics, psnr,
    reference_cloud,
)

__all__ = ["Distortion", "PointMetrics", "check_peak", "estimate_normals", "file_metrics",
           "point_metrics", "psnr", "reference_cloud"]
