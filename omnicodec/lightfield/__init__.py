"""Light fields: 4D grids of views, coded by view synthesis or a learned 4D transform.

- ``synthesis``: the default codec (``lightfield-v6``; ``lightfield-v2`` in float): a key
  view, its disparity, and what warping the key view misses in every other view, coded
  tile by tile; it is also the script that fits its entropy scales;
- ``synthesis_integer``: that codec's decoder in integers (``lightfield-v3`` and later),
  so its streams decode bit-exactly on every machine, and the script that rounds the tables;
- ``disparity``: the encoder's plane sweep, and the warping and splatting by disparity;
- ``view_coding``: transform coding of views (the key view, residuals) with a
  context-adaptive entropy model of learned scales;
- ``learned_transform``: ``lightfield-v1``, a learned separable 4D block transform with a
  sparse 4D hyperprior (superseded; it decodes its streams).

Reading and writing light fields (PNG folders, HDF5, .npy) is the generic reader's,
:mod:`omnicodec.io.lightfield`, as the ``LightField`` data type is shared by API and CLI.
"""
