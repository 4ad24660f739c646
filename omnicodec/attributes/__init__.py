"""Per-point attributes: colour and intensity, coded on the voxels a geometry codec decodes.

- ``attribute_codec``: the base of every attribute codec: it wraps whichever geometry
  codec a request picks (dense, lossy, LiDAR...) and carries that codec's header and
  sections inside its own;
- ``colour``: the colour codec (``colour-v3`` and ``colour-v2``, integer; ``colour-v1``,
  float, decodes its streams), lossless or at a colour rate; ``transform_coding`` codes
  colour-v3's lossy rates on the integer RAHT of ``raht``; ``colour_coding`` is the
  predictor's walk along the octree levels that its encoder, decoder and training share; ``colour_model`` the
  learned predictor and ``colour_integer`` the same in fixed point; ``adaptation`` the
  encoder's fitting of that predictor to the cloud it codes (sent as integer steps);
  ``levels`` the coarse-to-fine order of the points and each point's known neighbourhood;
- ``intensity``: LiDAR intensity or reflectance (``intensity-v1``), one number per point,
  ordered along the sensor's lasers where the geometry is a LiDAR sweep.
"""
