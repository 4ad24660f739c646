"""A depth camera's pinhole geometry, estimated from the points of one frame alone, and
the frame laid out as the camera's depth image.

An RGB-D camera (Kinect, PrimeSense, RealSense, ToF) measures a depth Z per pixel (u, v)
and the cloud is its back-projection, ``x = Z (u - cx) / fx``, ``y = Z (v - cy) / fy``,
with the camera at the frame's origin looking along +z or -z (the optical frame of
ROS and PCL). So x / Z takes values on a lattice of spacing 1 / fx: :func:`estimate_camera`
finds the lattice's frequency and phase from the Fourier transform of a histogram of
x / Z (far points, where rounding to the voxel grid blurs it least), then refines fx
and cx by least squares over every point's pixel, and the same for y. Clouds that are no
such frame get None.

The camera is sent in fixed point; :meth:`Camera.xy` rebuilds x and y from pixels and
depths in integer arithmetic (what the decoder runs, the same everywhere), and
:func:`depth_image` lays the points out as the image the codec sends.
"""

import dataclasses

import numpy as np

FIXED_BITS = 12  # the fixed point of the focal lengths, principal points and the camera's centre
MAX_DEPTH = 1 << 21  # voxels (int64 products in Camera.xy stay below 2^62)
MIN_POINTS = 1000
SAMPLE = 40000  # points the estimate looks at
FOCAL_RANGE = (100.0, 4000.0)  # pixels
SLOPE_RANGE = 2.0  # |x / Z| seen, at most (fields of view up to 127 degrees)
HISTOGRAM_BINS_PER_PIXEL = 8
LATTICE_STRENGTH = 0.4  # the lattice's Fourier peak, as a fraction of the points, at least
FIT_FRACTION = 0.9  # of points the camera must explain (one per pixel, rounding residual <= 1)
MAX_IMAGE_SIDE = 1 << 14
MAX_PIXELS = 1 << 22  # 2048 x 2048: beyond every depth camera; bounds the decoder's memory
IMAGE_GAP = 64  # pixels: points beyond such a gap in u or v from the image's bulk are strays
MAX_RESIDUAL = 2  # voxels of x or y beyond the camera's rebuild: further, a point is not the camera's


@dataclasses.dataclass(frozen=True)
class Camera:
    """The estimated camera: where its centre is (voxels, the frame's origin, which the
    voxel grid may put between voxels) and its intrinsics in pixels (the principal point
    counted from the image's first column and row), these in units of 2^-FIXED_BITS;
    which way it looks (``sign`` of z); the image's size in pixels."""

    origin: tuple
    sign: int
    fx: int
    cx: int
    fy: int
    cy: int
    width: int
    height: int

    def depth(self, z):
        """Depths (units of 2^-FIXED_BITS voxel) of voxels at height ``z``."""
        return self.sign * ((np.asarray(z, dtype=np.int64) << FIXED_BITS) - self.origin[2])

    def xy(self, u, v, z, ties=0):
        """Integer x and y voxels of pixels ``u``, ``v`` seeing voxel height ``z``: the
        centre's plus rint(depth * (pixel - principal point) / focal), halves rounded up,
        in int64 arithmetic (the same everywhere). With ``ties`` = K > 0, also where in its
        rounding interval each exact value fell, as K buckets (0: just above a half, so
        the value may really be one less; K - 1: just below the next half)."""
        depth = self.depth(z)
        result = []
        for pixel, focal, centre, origin in ((u, self.fx, self.cx, self.origin[0]),
                                             (v, self.fy, self.cy, self.origin[1])):
            numerator = 2 * (depth * ((pixel.astype(np.int64) << FIXED_BITS) - centre) + origin * focal) \
                + (focal << FIXED_BITS)
            divisor = focal << (FIXED_BITS + 1)
            result.append(np.floor_divide(numerator, divisor))
            if ties:
                result.append(np.mod(numerator, divisor) * ties // divisor)
        return tuple(result)


def _lattice(slopes, weights):
    """(spacing's inverse: the focal length, phase: the principal point's fractional part)
    of the lattice the slopes x / Z lie on, or None if there is none."""
    bin_width = 1.0 / (HISTOGRAM_BINS_PER_PIXEL * FOCAL_RANGE[1])
    bins = int(2 * SLOPE_RANGE / bin_width)
    histogram = np.bincount(np.clip(((slopes + SLOPE_RANGE) / bin_width).astype(np.int64), 0, bins - 1),
                            weights=weights, minlength=bins)
    spectrum = np.abs(np.fft.rfft(histogram))
    frequencies = np.fft.rfftfreq(bins, d=bin_width)
    band = (frequencies >= FOCAL_RANGE[0]) & (frequencies <= FOCAL_RANGE[1])
    if not band.any():
        return None
    peak = np.flatnonzero(band)[np.argmax(spectrum[band])]
    # The histogram's peak is at least ~0.6 of the points' own (bins of 1/8 pixel, and the
    # frequency at most half an FFT step off), so one under half the strength asked for
    # rules the lattice out before the costly refinement (depth frames: 0.55-0.67 of the
    # points; an 8i frame: 0.035).
    if spectrum[peak] < 0.5 * LATTICE_STRENGTH * weights.sum():
        return None
    # The fundamental: the lowest of the peak's divisors that is about as strong.
    for divisor in (4, 3, 2):
        candidate = int(round(peak / divisor))
        if frequencies[candidate] >= FOCAL_RANGE[0]:
            near = spectrum[max(candidate - 1, 0): candidate + 2]
            if near.max() >= 0.5 * spectrum[peak]:
                peak = candidate - 1 + int(np.argmax(near))
                break
    # Refine the frequency between its FFT neighbours on the points themselves.
    step = frequencies[1]
    candidates = np.linspace(frequencies[peak] - step, frequencies[peak] + step, 201)
    phasors = np.exp(2j * np.pi * np.outer(candidates, slopes)) @ weights
    best = int(np.argmax(np.abs(phasors)))
    if np.abs(phasors[best]) < LATTICE_STRENGTH * weights.sum():
        return None
    return candidates[best], (-np.angle(phasors[best]) / (2 * np.pi)) % 1.0


def _span(pixels):
    """(first, count) of the pixel range holding most of ``pixels``: the run of them with
    no gap over IMAGE_GAP that holds the most (a stray point near the camera projects far
    off the image; it goes to the other points, not into the image's size)."""
    values = np.sort(pixels)
    cuts = np.flatnonzero(np.diff(values) > IMAGE_GAP) + 1
    starts, ends = np.r_[0, cuts], np.r_[cuts, len(values)]
    best = int(np.argmax(ends - starts))
    return int(values[starts[best]]), int(values[ends[best] - 1] - values[starts[best]]) + 1


def _refined(coordinate, depth, focal, centre):
    """Least squares (focal, centre) of ``coordinate = depth * (pixel - centre) / focal``
    over the points' pixels (the coordinates carry the grid's rounding, so they are the
    regressand), twice: pixels reassigned in between."""
    for _ in range(2):
        pixel = np.rint(coordinate * focal / depth + centre)
        design = np.stack([depth * pixel, depth], axis=1)
        (inverse, shift), *_ = np.linalg.lstsq(design, coordinate, rcond=None)
        focal, centre = 1.0 / inverse, -shift / inverse
    return focal, centre


def estimate_camera(coords, origin=(0.0, 0.0, 0.0), seed=0):
    """The :class:`Camera` whose depth image the voxels ``coords`` (N, 3 int64) are, with
    the camera at ``origin`` (voxels, float), or None if they are not one camera's frame."""
    if len(coords) < MIN_POINTS:
        return None
    fixed_origin = tuple(int(round(o * (1 << FIXED_BITS))) for o in origin)
    relative = coords - np.asarray(fixed_origin, dtype=np.float64) / (1 << FIXED_BITS)
    sign = 1 if np.median(relative[:, 2]) > 0 else -1
    depth = relative[:, 2] * sign
    if np.mean(depth > 0) < FIT_FRACTION or depth.max() >= MAX_DEPTH:
        return None
    rng = np.random.default_rng(seed)
    front = np.flatnonzero(depth > 0)
    sample = front if len(front) <= SAMPLE else np.sort(rng.choice(front, SAMPLE, replace=False))
    far = sample[depth[sample] >= np.median(depth[sample])]  # rounding blurs their slopes least
    intrinsics = []
    for axis in (0, 1):
        slopes = relative[far, axis] / depth[far]
        if np.abs(slopes).max() >= SLOPE_RANGE:
            return None
        found = _lattice(slopes, np.ones(len(far)))
        if found is None:
            return None
        focal, centre = _refined(relative[sample, axis], depth[sample], *found)
        if not FOCAL_RANGE[0] <= focal <= FOCAL_RANGE[1]:
            return None
        intrinsics.append((focal, centre))
    (fx, cx), (fy, cy) = intrinsics
    (first_u, width), (first_v, height) = (
        _span(np.rint(relative[front, axis] * focal / depth[front] + centre).astype(np.int64))
        for axis, focal, centre in ((0, fx, cx), (1, fy, cy)))
    if max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_PIXELS:
        return None
    scale = 1 << FIXED_BITS
    camera = Camera(origin=fixed_origin, sign=sign, fx=int(round(fx * scale)),
                    cx=int(round((cx - first_u) * scale)), fy=int(round(fy * scale)),
                    cy=int(round((cy - first_v) * scale)), width=width, height=height)
    if len(depth_image(coords, camera).pixel) < FIT_FRACTION * len(coords):
        return None
    return camera


@dataclasses.dataclass
class DepthLayout:
    """Where a frame's points fall in the camera's image: the points the camera explains
    (``chosen``, one per pixel), their pixels (row-major index), depths and x/y residuals,
    and the others."""

    chosen: np.ndarray
    pixel: np.ndarray
    z: np.ndarray  # voxel heights (depths, once the camera's centre is taken off)
    residual: np.ndarray  # (M, 2): x and y minus the camera's rebuild
    others: np.ndarray


def depth_image(coords, camera):
    """The :class:`DepthLayout` of voxels ``coords`` in ``camera``'s image. A pixel with
    several points keeps the one the camera rebuilds best; points behind the camera, off
    the image or further than MAX_RESIDUAL from their pixel's ray are the others."""
    scale = float(1 << FIXED_BITS)
    relative = coords - np.asarray(camera.origin, dtype=np.float64) / scale
    depth = camera.depth(coords[:, 2])
    candidate = np.flatnonzero(depth > 0)
    d = depth[candidate] / scale
    u = np.rint((relative[candidate, 0] * camera.fx / d + camera.cx) / scale).astype(np.int64)
    v = np.rint((relative[candidate, 1] * camera.fy / d + camera.cy) / scale).astype(np.int64)
    inside = (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    candidate, u, v = candidate[inside], u[inside], v[inside]
    x, y = camera.xy(u, v, coords[candidate, 2])
    residual = np.stack([coords[candidate, 0] - x, coords[candidate, 1] - y], axis=1)
    miss = np.abs(residual).max(axis=1)
    near = miss <= MAX_RESIDUAL
    candidate, u, v, residual, miss = candidate[near], u[near], v[near], residual[near], miss[near]
    pixel = v * camera.width + u
    order = np.lexsort((candidate, miss, pixel))  # per pixel: best rebuilt, then first
    keep = order[np.r_[True, pixel[order][1:] != pixel[order][:-1]]] if len(order) else order
    keep = keep[np.argsort(pixel[keep], kind="stable")]  # raster order
    chosen = candidate[keep]
    others = np.setdiff1d(np.arange(len(coords)), chosen)
    return DepthLayout(chosen=chosen, pixel=pixel[keep], z=coords[chosen, 2], residual=residual[keep],
                       others=others)
