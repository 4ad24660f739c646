"""A LiDAR sweep's ranges predicted from the sweep before it, for drives coded as one stream.

The encoder estimates how the sensor moved between the two sweeps (a turn and a shift,
by ICP on the points: the encoder's search, in float) and sends it as integers. Both
sides then move the previous decoded sweep into the current sensor's coordinates and lay
it out as a range image (:class:`RangeImage`): by azimuth column, and
by where each point falls between the current lasers' cones, all in integers. Each range
the scan coder sends (omnicodec.scans.lidar) gets a second prediction from that image at
its laser and column, interpolated between the previous points just below and above its
cone when they lie on one surface; the coder blends its network's logistic with one about
that prediction. The encoder picks the blend for each batch of ranges and sends it: the
second logistic's scale, and its weight for each class of how sure the network is.

The previous sweep says most where a laser's neighbours along its scan line are far
apart (the first, coarse levels of the walk); where they are near, the network's own
prediction is sharper than anything the last sweep, measured from elsewhere, can give.
"""

import dataclasses
import functools

import numpy as np
import torch

from omnicodec import fixedpoint
from omnicodec.entropy import adaptive, logistic
from omnicodec.scans import sensor as sensors
from omnicodec.scans.sensor_coding import LIMIT

LASER_UNITS = 256  # a point's place between two lasers' cones, in these parts
SAME_SURFACE = 32  # previous points whose ranges differ by under 1/this are on one surface
# The blends: weights (1/1024) of the previous sweep's prediction, and its logistic's scale
# (voxels of a 1 mm grid, given as log-scale indices at 16 per octave: 24, 48, 96, 192 mm).
BLEND_WEIGHTS = (0, 64, 128, 256, 384, 512, 704, 864)
BLEND_SCALES = (73, 89, 105, 121)
# A batch's blend weights differ by how sure the network is: its scale over the blend's
# (log-scale indices, 16 an octave): under -16, from -16 to under 16, 16 and above.
CLASS_EDGES = (-16, 16)
BLEND_FIELD_BITS = (2,) + (3,) * (len(CLASS_EDGES) + 1)  # the scale's index, each class's weight's
MIN_POINTS = 100  # in each sweep, to predict one from the other
ICP_POINTS = 12000  # of the current sweep, matched at each ICP step
ICP_STEPS = 16
GROUND_CLEARANCE = 0.3  # metres
COARSE_POINTS, COARSE_REACH, COARSE_STEP = 2000, 3.0, 0.5  # the first guess's grid (metres)
ICP_GATES = (2.0, 0.25)  # metres: matches farther are left out, from the first step to the last
FINAL_STEPS = 8  # the last ICP steps about the vertical axis match all points, the ground's too
FREE_STEPS, FREE_GATES = 6, (0.4, 0.15)  # then ICP steps turning any way (gates in metres)
PREDICTION_SAMPLE, PREDICTION_CAP = 8000, 500  # points, voxels: how the encoder compares motions


@dataclasses.dataclass(frozen=True)
class Motion:
    """The sensor's move from the previous sweep to this one, as the stream sends it: the
    previous sweep's points turn by ``roll`` about x, ``pitch`` about y and ``yaw`` about
    the vertical axis (angle units; in that order), then ``shift`` (voxels) moves them."""

    yaw: int = 0
    pitch: int = 0
    roll: int = 0
    shift: tuple = (0, 0, 0)

    def rotation(self):
        """The turn as a (3, 3) int64 matrix in fixed point 2^COS_BITS (Rz Ry Rx, from the
        fixed-point cosines: integers only)."""
        (cz, cy, cx), (sz, sy, sx) = (
            [int(v) for v in part] for part in sensors.fixed_cos_sin(np.array([self.yaw, self.pitch, self.roll])))
        product = lambda *factors: functools.reduce(  # noqa: E731
            lambda a, b: (a * b + (1 << (sensors.COS_BITS - 1))) >> sensors.COS_BITS, factors)
        return np.array([
            [product(cz, cy), product(cz, sy, sx) - product(sz, cx), product(cz, sy, cx) + product(sz, sx)],
            [product(sz, cy), product(sz, sy, sx) + product(cz, cx), product(sz, sy, cx) - product(cz, sx)],
            [-sy, product(cy, sx), product(cy, cx)]], dtype=np.int64)

    @classmethod
    def nearest(cls, rotation, shift):
        """The Motion nearest a float rotation matrix (Rz Ry Rx) and shift."""
        angles = (np.arctan2(rotation[1, 0], rotation[0, 0]), np.arcsin(np.clip(-rotation[2, 0], -1, 1)),
                  np.arctan2(rotation[2, 1], rotation[2, 2]))
        yaw, pitch, roll = (int(round(angle * sensors.RADIAN)) % sensors.ANGLE_UNITS for angle in angles)
        return cls(yaw, pitch, roll, tuple(int(v) for v in np.rint(shift)))

    def float_rotation(self):
        """The turn as a float matrix (the encoder's search starts from it)."""
        return self.rotation() / float(1 << sensors.COS_BITS)


@dataclasses.dataclass(frozen=True)
class Reference:
    """What a decoded sweep leaves for the next one to be predicted from: its points
    relative to its sensor's origin (int64 voxels; the origin is the input's, on every
    sweep's grid), the grid's scale and the motion that sweep was predicted with (the
    encoder's next search starts from it)."""

    points: np.ndarray
    scale: float
    motion: Motion = Motion()

    @property
    def usable(self):
        """Whether there are enough points to predict from (a sweep in which no sensor was
        found leaves none)."""
        return len(self.points) >= MIN_POINTS


def moved(points, motion):
    """``points`` (int64 voxels) turned and shifted by ``motion``, in integers."""
    turned = fixedpoint.round_shift(np.asarray(points, dtype=np.int64) @ motion.rotation().T, sensors.COS_BITS)
    return turned + np.asarray(motion.shift, dtype=np.int64)


def estimate_motion(reference, relative, scale):
    """Motions that bring ``reference``'s points near the current sweep's (``relative`` to
    its sensor's origin, on a grid of ``scale``), by point-to-point ICP from the motion of
    the sweep before (sensors move steadily): turning about the vertical axis only, then
    turning any way (pitch and roll too). The encoder's search, in float; :func:`predictor`
    picks one."""
    if not reference.usable or len(relative) < MIN_POINTS:
        return [Motion()]
    from scipy.spatial import cKDTree

    metre = 1.0 / scale if scale < 1 else 1000.0 / scale  # voxels per metre (unit grids: millimetres)
    rng = np.random.default_rng(0)
    everything = (reference.points.astype(np.float64),
                  relative[rng.choice(len(relative), min(ICP_POINTS, len(relative)), replace=False)].astype(np.float64))
    # The ground's rings lie at the same ranges from the sensor wherever it is: they pull
    # a match towards no motion, so points above the ground are matched first.
    above = tuple(_above_ground(points, metre) for points in everything)
    if min(len(above[0]), len(above[1])) < MIN_POINTS:
        above = everything
    above_tree = cKDTree(above[0])
    # current ~ rotation previous + shift: start from the last motion, or (after a
    # random-access frame) from the best of a grid of shifts.
    rotation = reference.motion.float_rotation()
    shift = np.asarray(reference.motion.shift, np.float64)
    if reference.motion == Motion():
        shift = _coarse_shift(above_tree, above[1][:COARSE_POINTS], metre)
    gates = ICP_GATES[0] * (ICP_GATES[1] / ICP_GATES[0]) ** (np.arange(ICP_STEPS) / (ICP_STEPS - 1)) * metre
    rotation, shift = _icp(above_tree, *above, rotation, shift, gates[:-FINAL_STEPS], _turn_about_z)
    tree = cKDTree(everything[0])
    about_z = _icp(tree, *everything, rotation, shift, gates[-FINAL_STEPS:], _turn_about_z)
    free = _icp(tree, *everything, *about_z, np.geomspace(*FREE_GATES, FREE_STEPS) * metre, _turn)
    return [Motion.nearest(*about_z), Motion.nearest(*free)]


def predictor(reference, motions, sensor, laser, azimuth, rho):
    """(motion, RangeImage) of the one of ``motions`` whose range image predicts the current
    sweep's ranges ``rho`` (voxels) best (least mean error, capped at PREDICTION_CAP voxels,
    where one is missing too) at a sample of its points (``laser``, integer ``azimuth``):
    what ICP matches is not quite what the coder uses (a sparse sweep can let a free turn
    wander). The encoder's choice."""
    sample = slice(None, None, max(1, len(rho) // PREDICTION_SAMPLE))
    best = None
    for motion in dict.fromkeys(motions):
        image = RangeImage(moved(reference.points, motion), sensor)
        predicted, have = image.predict(laser[sample], azimuth[sample])
        error = np.where(have, np.minimum(np.abs(predicted - rho[sample]), PREDICTION_CAP), PREDICTION_CAP).mean()
        if best is None or error < best[0]:
            best = (error, motion, image)
    return best[1:]


def _icp(tree, previous, sample, rotation, shift, gates, turn):
    """ICP steps (one per gate: matches farther are left out) from ``rotation`` and
    ``shift`` (current ~ rotation previous + shift), each turn fitted by ``turn`` (from
    the centred matches); ``tree`` holds ``previous``."""
    for gate in gates:
        distance, match = tree.query((sample - shift) @ rotation, distance_upper_bound=gate, workers=-1)
        found = np.isfinite(distance)
        if found.sum() < 50:
            break
        source, target = previous[match[found]], sample[found]
        sc, tc = source.mean(axis=0), target.mean(axis=0)
        rotation = turn(source - sc, target - tc)
        shift = tc - rotation @ sc
    return rotation, shift


def _turn_about_z(source, target):
    """The turn about the vertical axis that best brings centred ``source`` onto ``target``."""
    angle = np.arctan2(np.sum(source[:, 0] * target[:, 1] - source[:, 1] * target[:, 0]),
                       np.sum(source[:, 0] * target[:, 0] + source[:, 1] * target[:, 1]))
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _turn(source, target):
    """The turn that best brings centred ``source`` onto ``target`` (Kabsch)."""
    u, _, vt = np.linalg.svd(source.T @ target)
    mirror = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ u.T))])
    return vt.T @ mirror @ u.T


def _above_ground(points, metre):
    """The points GROUND_CLEARANCE metres or more above the lowest ones (float64)."""
    points = np.asarray(points, dtype=np.float64)
    return points[points[:, 2] >= np.percentile(points[:, 2], 1) + GROUND_CLEARANCE * metre]


def _coarse_shift(tree, sample, metre):
    """Of shifts on a grid (COARSE_REACH metres each way in x and y, every COARSE_STEP),
    the one that brings most of ``sample`` within a step of a previous point (all shifts
    in one query)."""
    steps = np.arange(-COARSE_REACH, COARSE_REACH + COARSE_STEP / 2, COARSE_STEP) * metre
    dx, dy = np.meshgrid(steps, steps, indexing="ij")
    shifts = np.stack([dx.reshape(-1), dy.reshape(-1), np.zeros(dx.size)], axis=1)
    distance, _ = tree.query((sample[None, :, :] - shifts[:, None, :]).reshape(-1, 3),
                             distance_upper_bound=COARSE_STEP * metre, workers=-1)
    found = np.isfinite(distance).reshape(len(shifts), len(sample)).sum(axis=1)
    return shifts[int(np.argmax(found))]


class RangeImage:
    """The previous sweep moved into the current sensor's coordinates, sorted by azimuth
    column and by each point's place between the current lasers' cones (in LASER_UNITS):
    the ranges it predicts at any laser and column, in integers."""

    def __init__(self, points, sensor):
        self.sensor = sensor
        self.columns = max(sensors.ANGLE_UNITS // sensor.step, 1)  # azimuth columns in a turn
        x, y, z = points[:, 0], points[:, 1], points[:, 2]
        square = x * x + y * y
        rho = fixedpoint.isqrt(square)
        rho += square - rho * rho > rho  # rounded: beyond (rho + 1/2)^2
        near = rho >= sensors.MIN_RHO
        x, y, z, rho = x[near], y[near], z[near], rho[near]
        self.span = (sensor.lasers + 2) * LASER_UNITS  # of the keys: one column's places
        keys = self.column(sensors.fixed_atan2(y, x)) * self.span + self._place(z, rho)
        order = np.argsort(keys, kind="stable")
        self.keys, self.rho = keys[order], rho[order]

    def column(self, azimuth):
        """The column of integer azimuths: the nearest multiple of the azimuth step, the
        last ones before a full turn in column 0 with the first."""
        return ((np.asarray(azimuth, dtype=np.int64) % sensors.ANGLE_UNITS + self.sensor.step // 2)
                // self.sensor.step) % self.columns

    def _place(self, z, rho, chunk=16384):
        """Where each point (height ``z``, range ``rho``) falls between the lasers' cones at
        its range: LASER_UNITS x (1 + the laser below it, plus its fraction of the way to the
        one above); 0 below the lowest, (lasers + 1) x LASER_UNITS above the highest. The
        cones are taken in the order of their tangents: where two cross (lasers whose
        heights in the head differ), points near the crossing get a rougher place."""
        lasers = self.sensor.lasers
        place = np.zeros(len(z), dtype=np.int64)
        every = np.arange(lasers)
        for first in range(0, len(z), chunk):
            part = slice(first, first + chunk)
            height = z[part, None] << sensors.TAN_BITS
            cones = self.sensor.cone_height(every[None, :], rho[part, None])
            below = np.sum(cones <= height, axis=1)  # the cones ordered by tangent
            low = cones[np.arange(len(below)), np.maximum(below - 1, 0)]
            high = cones[np.arange(len(below)), np.minimum(below, lasers - 1)]
            fraction = (height[:, 0] - low) * LASER_UNITS // np.maximum(high - low, 1)
            between = below * LASER_UNITS + np.clip(fraction, 0, LASER_UNITS - 1)
            place[part] = np.where(below == 0, 0, np.where(below == lasers, (lasers + 1) * LASER_UNITS, between))
        return place

    def predict(self, laser, azimuth, tries=(0, 1, -1, 2, -2)):
        """(ranges in voxels, whether there is one) at each ``laser`` and integer
        ``azimuth``: interpolated between the previous points just below and above the
        laser's cone in its column when they are on one surface, else the nearer within
        a laser's spacing; the neighbouring columns where the column has neither."""
        laser = np.asarray(laser, dtype=np.int64)
        rho = np.zeros(len(laser), dtype=np.int64)
        have = np.zeros(len(laser), dtype=bool)
        if not len(self.keys):
            return rho, have
        base = self.column(azimuth)
        for offset in tries:
            todo = np.flatnonzero(~have)
            column = (base[todo] + offset) % self.columns
            query = column * self.span + (laser[todo] + 1) * LASER_UNITS
            after = np.searchsorted(self.keys, query)
            lo, hi = np.maximum(after - 1, 0), np.minimum(after, len(self.keys) - 1)
            has_lo = (after > 0) & (self.keys[lo] // self.span == column)
            has_hi = (after < len(self.keys)) & (self.keys[hi] // self.span == column)
            klo, khi, rlo, rhi = self.keys[lo], self.keys[hi], self.rho[lo], self.rho[hi]
            one_surface = (has_lo & has_hi & (khi - klo <= 2 * LASER_UNITS)
                           & (np.abs(rhi - rlo) * SAME_SURFACE <= np.minimum(rlo, rhi)))
            between = rlo + (rhi - rlo) * (query - klo) // np.maximum(khi - klo, 1)
            near_lo = has_lo & (query - klo <= LASER_UNITS)
            near_hi = has_hi & (khi - query <= LASER_UNITS)
            nearer_hi = near_hi & (~near_lo | (khi - query < query - klo))
            rho[todo] = np.where(one_surface, between, np.where(nearer_hi, rhi, rlo))
            have[todo] = one_surface | near_lo | near_hi
        return rho, have


def blend_scales(quantum):
    """BLEND_SCALES for ranges sent in units of ``quantum`` voxels (log-scale indices)."""
    return np.asarray(BLEND_SCALES, dtype=np.int64) - fixedpoint.log2_fixed(np.array([quantum]), bits=4)[0]


def _classes(scale, blend_scale):
    """Each row's class: how sure the network is (its log-scale index ``scale``) against
    the previous sweep's logistic (``blend_scale``), split at CLASS_EDGES."""
    return np.searchsorted(np.asarray(CLASS_EDGES), np.asarray(scale) - blend_scale, side="right")


def blend(choice, scale, predicted, have, quantum):
    """The blend ``choice`` (a scale's index into BLEND_SCALES, then one BLEND_WEIGHTS
    index per class) as logistic.BlendedLogistic takes it, for ranges in units of
    ``quantum`` predicted at ``predicted`` voxels (where ``have``); ``scale``: the
    network's log-scale indices."""
    blend_scale = int(blend_scales(quantum)[choice[0]])
    weights = np.asarray(BLEND_WEIGHTS)[np.asarray(choice[1:])][_classes(scale, blend_scale)]
    location = (predicted << logistic.LOCATION_BITS) // quantum
    return (torch.from_numpy(location), torch.full((len(location),), blend_scale),
            torch.from_numpy(np.where(have, weights, 0)))


def best_blend(truth, location, scale, predicted, have, quantum):
    """The encoder's pick of a blend for one batch with a second prediction (``have``) at
    some of its rows: (the batch's estimated bits, the choice) of the scale and, for each
    class, the weight, whose mixture codes ``truth`` (the values) in the fewest bits, by
    float estimates of the logistics (``location``, ``scale``: the network's integer
    ones; rows without a second prediction count under the network's alone)."""
    def own_probability(rows):
        mu = location[rows].to(torch.float64) / (1 << logistic.LOCATION_BITS)
        return logistic.probability(torch.as_tensor(truth[rows], dtype=torch.float64), mu,
                                    logistic.index_scale(scale[rows]), -LIMIT, LIMIT, logistic.OUTLIER_TAIL)

    rows = np.flatnonzero(have)
    alone = float(-torch.log2(own_probability(np.flatnonzero(~np.asarray(have))).clamp(min=1e-12)).sum())
    q, own = torch.as_tensor(truth[rows], dtype=torch.float64), own_probability(rows)
    second_mu = torch.from_numpy(predicted[rows] / quantum)
    weights = torch.tensor(BLEND_WEIGHTS, dtype=torch.float64)[:, None] / 1024
    best = None
    for index, blend_scale in enumerate(blend_scales(quantum)):
        second = logistic.probability(q, second_mu, logistic.index_scale(torch.tensor(int(blend_scale))), -LIMIT,
                                      LIMIT)
        cost = -torch.log2(((1 - weights) * own + weights * second).clamp(min=1e-12))  # (weights, rows)
        classes = torch.from_numpy(_classes(scale[rows].numpy(), int(blend_scale)))
        per_class = torch.zeros(len(BLEND_WEIGHTS), len(CLASS_EDGES) + 1, dtype=torch.float64)
        per_class.index_add_(1, classes, cost)
        total, picks = per_class.min(dim=0)
        if best is None or float(total.sum()) < best[0]:
            best = (float(total.sum()), (index, *picks.tolist()))
    return alone + best[0], best[1]


def coded_blend(io, choice):
    """Code (``choice``, the encoder's) or read a batch's blend: its fields at even odds."""
    widths = BLEND_FIELD_BITS
    bits = None if choice is None else np.concatenate(
        [(int(value) >> np.arange(width)) & 1 == 1 for value, width in zip(choice, widths)])
    read = adaptive.even_bits(io, bits, sum(widths)).astype(np.int64)
    ends = np.cumsum(widths)
    return tuple(int(np.sum(read[end - width:end] << np.arange(width))) for end, width in zip(ends, widths))
