"""Sensor scans: clouds coded in their sensor's own coordinates, or as sparse cells.

- ``sensor_coding``: what the sensor codecs share (a frame of the dense geometry header,
  the fields coded with discretized logistics, the points no sensor explains coded by
  the dense lossless codec of :mod:`omnicodec.pointcloud`);
- ``sensor``: a spinning LiDAR's geometry estimated from its points, and a sweep laid out
  as it was scanned; ``lidar`` its codec (``lidar-v1`` .. ``lidar-v5``, the rates),
  ``lidar_network`` its predictor, ``lidar_inter`` a sweep predicted from the one before
  (drives), ``fit_inter`` the fitting of the range head that sees it;
- ``camera``: a depth camera's pinhole geometry estimated from one frame; ``depth`` its
  codec (``depth-v1``), ``depth_network`` its predictor;
- ``field_network``: the small per-field MLP both predictors are made of;
- ``sparse_scan``: sparse scans (``sparse-v1``): occupied cells with the dense model, then
  each point's offset in its cell.

Each codec's ``suits`` recognizes its content, so a request picks it by default.
"""
