"""Depth-camera frames (RGB-D, time of flight) coded as the camera's depth image, lossless.

:class:`DepthCameraCodec` estimates the pinhole camera from the points
(omnicodec.scans.camera: focal lengths and principal point, no calibration needed),
lays the points out on its pixels and sends:

- the camera and the frame's table of depths (its distinct heights along the optical
  axis: a Kinect's few hundred disparity levels), deflated;
- the image coarse to fine: first every STRIDE-th pixel of every STRIDE-th row, row
  after row, then the pixels halfway between known ones, horizontally then vertically,
  halving the spacing down to single pixels. Each batch sends which pixels hold a point
  (adaptive binary frequencies, by how many of the pixel's neighbours hold one) and then
  their depths as ranks in the table, each under the learned predictor's logistic
  (omnicodec.scans.depth_network) from its decoded neighbours;
- what the camera's integer rebuild leaves of x and y (mostly 0; a value off by one
  is one whose exact value fell next to a half, which the decoder sees: :func:`residuals`).

The decoder rebuilds x and y from pixel and depth in integer arithmetic
(:meth:`omnicodec.scans.camera.Camera.xy`). Points the camera does not explain (a
second point on a pixel, off every ray) go to the dense lossless model, as do clouds
that are no camera frame.
"""

import functools
import itertools
import zlib

import numpy as np
import torch

from omnicodec import bitstream, catalogue, varint
from omnicodec.entropy import adaptive, binary_reader, binary_writer
from omnicodec.errors import BitstreamError
from omnicodec.scans import camera as cameras
from omnicodec.scans.depth_network import DepthNet, features, integer_features
from omnicodec.scans.field_network import IntegerFieldNet
from omnicodec.scans.sensor_coding import (
    RESIDUAL_BUCKETS, SUITS_POINTS, FieldIo, SensorGeometryCodec, frame_origin, residuals,
)

LEVELS = 3  # halvings: the first level's pixels are 2^LEVELS apart
STRIDE = 1 << LEVELS
MARGIN = 3 * STRIDE  # the padding about the image that neighbour lookups may reach
OCCUPANCY_CONTEXTS = 3 * 3 * 7  # kind, known nearest pair (0-2), known others (0-6)


def _neighbour_offsets(kind, step):
    """(dy, dx) of a pixel's NEIGHBOURS known when it is coded: the nearest pair (the
    pixels it lies between), the next pair out along the same line, then four across."""
    s = step
    if kind == 0:  # the first level, row by row: the rows above
        return ((-s, 0), (-2 * s, 0), (-3 * s, 0), (-s, -s), (-s, s), (-2 * s, -s), (-2 * s, s), (-s, -2 * s))
    if kind == 1:  # halfway along a row between two known pixels
        return ((0, -s), (0, s), (0, -3 * s), (0, 3 * s), (-2 * s, -s), (-2 * s, s), (2 * s, -s), (2 * s, s))
    return ((-s, 0), (s, 0), (-3 * s, 0), (3 * s, 0), (-s, -s), (-s, s), (s, -s), (s, s))  # halfway down a column


def batches(height, width):
    """(kind, level, step, rows, columns) of the pixels coded together, in coding order."""
    for row in range(0, height, STRIDE):
        columns = np.arange(0, width, STRIDE)
        yield 0, LEVELS, STRIDE, np.full(len(columns), row), columns
    for level in range(LEVELS - 1, -1, -1):
        step = 1 << level
        rows, columns = np.meshgrid(np.arange(0, height, 2 * step), np.arange(step, width, 2 * step), indexing="ij")
        yield 1, level, step, rows.reshape(-1), columns.reshape(-1)
        rows, columns = np.meshgrid(np.arange(step, height, 2 * step), np.arange(0, width, step), indexing="ij")
        yield 2, level, step, rows.reshape(-1), columns.reshape(-1)


class DepthCoder:
    """The learned predictor and the walk over a depth image shared by encoder and decoder."""

    def __init__(self, network):
        self.network = network.eval()
        self.integer = network.config.get("arithmetic") == "integer"

    @torch.no_grad()
    def walk(self, io, height, width, ranks, fallback, truth=None):
        """Code (``truth``: (height, width) int64 ranks, -1 where no point) or decode one
        image of depth ranks in [0, ``ranks``); returns it. ``fallback``: the rank a pixel
        with no known neighbour is predicted from."""
        image = np.full((height + 2 * MARGIN, width + 2 * MARGIN), -1, dtype=np.int64)
        hits = np.full(OCCUPANCY_CONTEXTS, 8, dtype=np.int64)
        seen = np.full(OCCUPANCY_CONTEXTS, 16, dtype=np.int64)
        for kind, level, step, rows, columns in batches(height, width):
            offsets = np.array(_neighbour_offsets(kind, step))
            neighbours = image[rows[:, None] + MARGIN + offsets[:, 0], columns[:, None] + MARGIN + offsets[:, 1]]
            known = neighbours >= 0
            context = kind * 21 + known[:, :2].sum(1) * 7 + known[:, 2:].sum(1)
            occupied = None if truth is None else truth[rows, columns] >= 0
            if io.collect is None:
                occupied = adaptive.adaptive_bits(io, occupied, context, hits, seen)
            index = np.flatnonzero(occupied)
            if not len(index):
                continue
            make = integer_features if self.integer else features
            feats, reference, unit = make(kind, level, LEVELS, neighbours[index], known[index], fallback, ranks)
            values = None if truth is None else torch.as_tensor(truth[rows[index], columns[index]])
            if io.collect is not None:
                io.collect("depth", feats, reference, unit, values)
            else:
                location, scale = self.network("depth", feats, reference, unit)
                values = np.asarray(io.values(values, location, scale), dtype=np.int64)
                if truth is None and (values.min() < 0 or values.max() >= ranks):
                    raise BitstreamError("depth stream decodes to a depth outside its table: corrupted stream")
            image[rows[index] + MARGIN, columns[index] + MARGIN] = np.asarray(values)
        return image[MARGIN:-MARGIN, MARGIN:-MARGIN]



def frame_image(coords, camera):
    """What the encoder codes of a frame (and training sees): its layout in ``camera``'s
    image (omnicodec.scans.camera.depth_image), its table of depths, the (height, width)
    image of depth ranks in that table (-1 where no point) and the rank a pixel with no
    known neighbour is predicted from (the median)."""
    layout = cameras.depth_image(coords, camera)
    table = np.unique(layout.z)
    image = np.full(camera.height * camera.width, -1, dtype=np.int64)
    image[layout.pixel] = np.searchsorted(table, layout.z)
    fallback = int(np.median(image[image >= 0])) if len(layout.pixel) else 0
    return layout, table, image.reshape(camera.height, camera.width), fallback


def image_points(image, camera, table):
    """(M, 3) voxel coordinates of an image's points (raster order) as the camera rebuilds
    them, and the (2M,) rounding buckets of their x's then y's (:meth:`Camera.xy`)."""
    v, u = np.nonzero(image >= 0)
    z = table[image[v, u]]
    x, tie_x, y, tie_y = camera.xy(u, v, z, RESIDUAL_BUCKETS)
    return np.stack([x, y, z], axis=1), np.r_[tie_x, tie_y]


def corrected(points, residual):
    """Rebuilt points with x and y moved by their (2M,) residuals (x's, then y's)."""
    count = len(points)
    return points + np.stack([residual[:count], residual[count:], np.zeros(count, dtype=np.int64)], axis=1)


class DepthCameraCodec(SensorGeometryCodec):
    """Depth-camera frames, lossless (``depth-v1``): the points the estimated camera
    explains coded as its depth image by :class:`DepthCoder`, the others (all of a cloud
    that is no camera frame) by the dense lossless model of the card's ``base``."""

    network = staticmethod(catalogue.by_arithmetic(DepthNet, IntegerFieldNet))
    sensor_name = "depth-camera"

    @staticmethod
    def suits_sample(positions):
        """An even sample of the points."""
        return np.linspace(0, len(positions) - 1, SUITS_POINTS).astype(np.int64)

    @staticmethod
    def sensor_found(grid):
        return cameras.estimate_camera(grid.coords, frame_origin(grid.offset, grid.scale)) is not None

    @functools.cached_property
    def _depth_coder(self):
        return DepthCoder(self.load_network())

    def encode_voxels(self, prepared, progress=None, max_block_points=None, reference=None):
        grid, coord_dtype = prepared
        coords = grid.coords
        camera = cameras.estimate_camera(coords, frame_origin(grid.offset, grid.scale))
        writer = binary_writer(self.coder)
        rebuilt = []
        if camera is None:
            others, head = np.arange(len(coords)), b""
        else:
            layout, table, truth, fallback = frame_image(coords, camera)
            others = layout.others
            io = FieldIo(writer=writer, integer=self.integer)
            image = self._depth_coder.walk(io, camera.height, camera.width, len(table),
                                           fallback, truth)
            points, ties = image_points(image, camera, table)
            residual = layout.residual.T.reshape(-1)
            residuals(io, residual, ties, cameras.MAX_RESIDUAL)
            head = _camera_section(camera, table, fallback, len(others))
            rebuilt.append(corrected(points, residual))
        sections = [head, writer.finish()]
        if progress:
            progress(len(coords) - len(others))
        if len(others):
            other_sections, other_coords = self.code_others(grid, coords[others], coord_dtype, progress)
            sections += other_sections
            rebuilt.append(other_coords)
        return self.encoded(grid, coord_dtype, rebuilt, sections,
                            _depth_details(camera, len(coords) - len(others), len(others), sections))

    def decode_voxels(self, header, sections, progress=None, reference=None):
        frame = self._frame(header)
        if len(sections) < 2:
            raise BitstreamError("depth-camera stream has too few sections")
        rebuilt, camera, other_count, points = [], None, frame["voxels"], 0
        if sections[0]:
            camera, table, fallback, other_count = _read_camera_section(sections[0], frame["bits"])
            reader = binary_reader(self.coder, sections[1])
            io = FieldIo(reader=reader, integer=self.integer)
            image = self._depth_coder.walk(io, camera.height, camera.width, len(table),
                                           fallback)
            points = int(np.count_nonzero(image >= 0))
            if points + other_count > frame["voxels"]:
                raise BitstreamError("depth-camera stream holds more points than its header")
            rebuilt_points, ties = image_points(image, camera, table)
            residual = residuals(io, None, ties, cameras.MAX_RESIDUAL)
            reader.finish()
            rebuilt.append(corrected(rebuilt_points, residual))
        if other_count:
            rebuilt.append(self.decode_others(sections[2:], other_count, progress))
        elif len(sections) != 2:
            raise BitstreamError("depth-camera stream has sections its header does not account for")
        if progress:
            progress(points + other_count)
        return self.decoded(frame, rebuilt, _depth_details(camera, points, other_count, sections))


def _depth_details(camera, coded, others, sections):
    if camera is None:
        details = {"sensor": "none found: every point coded by the dense model"}
    else:
        unit = 1 << cameras.FIXED_BITS
        details = {"sensor": f"depth camera estimated from the points: {camera.width}x{camera.height} pixels, "
                             f"focal length {camera.fx / unit:.2f}x{camera.fy / unit:.2f} pixels"}
    details["points coded by the sensor"] = coded
    details["other points"] = others
    details["sensor bytes"] = len(sections[0])
    details["image bytes"] = len(sections[1])
    details["other bytes"] = sum(map(len, sections[2:]))
    return details


CAMERA_SECTION_LIMIT = 1 << 24  # bytes a camera section inflates to, at most


def _camera_section(camera, table, fallback, others):
    """The camera, the stream's parameters and its table of depths (as differences),
    deflated."""
    values = [camera.sign + 1, *varint.signed(camera.origin), camera.fx, *varint.signed([camera.cx]), camera.fy,
              *varint.signed([camera.cy]), camera.width, camera.height, fallback, others,
              len(table), *varint.signed(np.diff(table, prepend=0))]
    return zlib.compress(varint.encode(values), 9)


def _read_camera_section(section, bits):
    """The camera section of a stream on a ``bits`` grid, every value checked against what
    an encoder makes (so that Camera.xy's int64 products cannot overflow)."""
    section = bitstream.inflated(section, CAMERA_SECTION_LIMIT, "depth-camera section")
    head, pos = varint.decode(section, 13)
    sign, origin, fx, cx, fy, cy = head[0] - 1, varint.unsigned(head[1:4]), head[4], *varint.unsigned([head[5]]), \
        head[6], *varint.unsigned([head[7]])
    width, height, fallback, others, ranks = head[8:13]
    focal_limit = int(cameras.FOCAL_RANGE[1]) << cameras.FIXED_BITS
    if (sign not in (-1, 1) or not 1 <= ranks <= cameras.MAX_DEPTH or not 0 <= fallback < ranks
            or not 1 <= fx <= focal_limit or not 1 <= fy <= focal_limit or not 1 <= width <= cameras.MAX_IMAGE_SIDE
            or not 1 <= height <= cameras.MAX_IMAGE_SIDE or width * height > cameras.MAX_PIXELS
            or any(abs(v) >= 1 << 36 for v in origin)  # an encoder's: under (2^21 + 2^23) << 12
            or any(abs(v) >= 1 << 28 for v in (cx, cy))):
        raise BitstreamError("depth-camera section is corrupted")
    deltas, pos = varint.decode(section, ranks, pos)
    table = list(itertools.accumulate(varint.unsigned(deltas)))  # Python integers: no wrap-around
    if (pos != len(section) or any(not 0 <= z < 1 << bits for z in table)
            or any(b <= a for a, b in zip(table, table[1:]))):
        raise BitstreamError("depth-camera section is corrupted")
    camera = cameras.Camera(origin=tuple(origin), sign=sign, fx=fx, cx=cx, fy=fy, cy=cy, width=width,
                            height=height)
    return camera, np.array(table, dtype=np.int64), fallback, others
