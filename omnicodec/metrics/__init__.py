"""Quality metrics. ``pointcloud``: geometry distortion (D1/D2 PSNR) exactly as MPEG pc_error."""

from omnicodec.metrics.pointcloud import (
    Distortion, PointMetrics, estimate_normals, file_metrics, point_metrics, psnr,
)

__all__ = ["Distortion", "PointMetrics", "estimate_normals", "file_metrics", "point_metrics", "psnr"]
