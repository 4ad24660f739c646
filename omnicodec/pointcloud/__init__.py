"""Dense point-cloud geometry: the octree codecs of positions on a voxel grid.

- ``geometry_codec``: what every geometry codec shares: points -> voxel grid -> blocks ->
  a block coder's sections, the frame header and the checksum (the sensor codecs of
  :mod:`omnicodec.scans` derive from it too);
- ``occupancy`` (float) and ``occupancy_integer`` (16-bit fixed point, the default
  ``occupancy-v2``): the network that predicts each voxel's 8 children, scale by scale;
  ``occupancy_integer`` is also the script that quantizes the float model;
- ``lossless``: the lossless codec, coding each block's octree scales with it;
- ``lossy`` (float) and ``lossy_integer`` (fixed point, the ``lossy-v2-r*`` rates, and
  its quantization script): the autoencoder whose decoder regrows the octree, over the
  lossless coder of the coarse scales;
- ``resblock``: the residual block both float networks stack.

Below it: :mod:`omnicodec.grid` (voxels, Morton keys, octree), :mod:`omnicodec.sparse`
(sparse convolutions, the integer kernels) and :mod:`omnicodec.entropy`.
"""
