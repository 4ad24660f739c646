"""A spinning LiDAR's geometry, estimated from its points alone, and a sweep laid out as
the sensor scanned it.

A rotating LiDAR fires L lasers, each at a fixed elevation, while it turns about its
vertical axis. Seen from the sensor origin, laser l's returns lie on one cone: with
rho = sqrt(x^2 + y^2), ``z = z0_l + rho * t_l`` (z0_l is the laser's height offset in the
head, t_l the tangent of its elevation), and along a laser successive returns are one
azimuth step apart. :func:`estimate_sensor` finds the lasers without any calibration:
it extracts the cones one by one from a Hough transform of (z0, t) (each point votes
along the line z0 = z - rho t), keeping those whose points look like scan lines (returns
about one azimuth step apart); clouds that are not LiDAR sweeps get None.

:func:`scan_order` then orders the points as the sensor scanned them (laser by laser,
by azimuth), with each one's range and azimuth from where the sensor was; the integer
helpers here (:func:`fixed_cos_sin`, :func:`arc_angle`, :meth:`Sensor.xy`,
:meth:`Sensor.predicted_z`) are what the decoder rebuilds voxels with
(omnicodec.scans.lidar).
"""

import dataclasses
import functools
import hashlib

import numpy as np

from omnicodec import fixedpoint

ANGLE_UNITS = 1 << 24  # azimuth units per turn
RADIAN = ANGLE_UNITS / (2 * np.pi)
TAN_BITS = 24  # the fixed point of the laser tangents
Z0_BITS = 6  # and of their height offsets
MAX_LASERS = 256
SUBSAMPLE = 24000  # points the Hough transform sees
HOUGH_Z0_BINS = 121
HOUGH_T_BIN = 2.5e-4
MAX_TAN = 1.25  # elevations within +-51 degrees
SCAN_LINE_FRACTION = 0.6  # of successive returns one azimuth step apart, for a sweep
FIT_FRACTION = 0.9  # of points a sweep's lasers must explain
HALF_STEPS = 0.03  # of successive returns half a step apart, to count azimuth in half steps


@dataclasses.dataclass(frozen=True)
class Sensor:
    """The estimated sensor: its origin (integer voxel), the lasers' fixed-point height
    offsets and tangents (sorted by tangent), and the azimuth step in angle units."""

    origin: tuple
    z0: np.ndarray  # int64, units of 2^-Z0_BITS voxel
    tan: np.ndarray  # int64, units of 2^-TAN_BITS
    step: int
    # The sensor's travel during the sweep (voxels, x and y) and the azimuth (angle units)
    # where the sweep starts and ends: the returns at azimuth a were measured from origin
    # + motion * (((a - seam) mod turn) / turn - 1/2). Sweeps "de-skewed" into one frame
    # (KITTI odometry, SemanticKITTI) show it; a sweep as measured has none.
    motion: tuple = (0, 0)
    seam: int = 0

    @property
    def lasers(self):
        return len(self.tan)

    def moved(self, azimuth):
        """(x, y) int64 voxels of the sensor, from ``origin``, when it measured at these
        integer azimuths."""
        azimuth = np.asarray(azimuth, dtype=np.int64)
        phase = (azimuth - self.seam) % ANGLE_UNITS - ANGLE_UNITS // 2
        return (self.motion[0] * phase) // ANGLE_UNITS, (self.motion[1] * phase) // ANGLE_UNITS

    def xy(self, rho, azimuth):
        """x, y (voxels, from ``origin``) of returns at range ``rho`` and integer azimuths:
        rounded polar coordinates from where the sensor was, in integers."""
        x, y = predicted_xy(rho, azimuth)
        dx, dy = self.moved(azimuth)
        return x + dx, y + dy

    def cone_height(self, laser, rho):
        """z0 + rho * t of each point's laser, fixed point with TAN_BITS fractional bits."""
        return (self.z0[laser] << (TAN_BITS - Z0_BITS)) + rho * self.tan[laser]

    def predicted_z(self, laser, rho):
        """round(z0 + rho * t) of each point's laser, in integers (what the decoder computes)."""
        return fixedpoint.round_shift(self.cone_height(laser, rho), TAN_BITS)


def _lines_of(z, rho, tolerance):
    """Cones z = z0 + rho t explaining the points, strongest first: Hough peaks, each
    refined by least squares on its inliers (within ``tolerance``, per point) and its
    points removed before the next."""
    extent = max(float(np.percentile(np.abs(z), 99)), 1.0)
    z0_range = 0.1 * float(np.median(rho)) + 4 * float(np.median(tolerance))
    z0_values = np.linspace(-z0_range, z0_range, HOUGH_Z0_BINS)
    t_bins = int(2 * MAX_TAN / HOUGH_T_BIN)
    slopes = (z[None, :] - z0_values[:, None]) / rho[None, :]
    cells = np.floor((slopes + MAX_TAN) / HOUGH_T_BIN).astype(np.int64)
    cells += np.arange(HOUGH_Z0_BINS)[:, None] * t_bins
    cells[(slopes < -MAX_TAN) | (slopes >= MAX_TAN)] = -1
    votes = np.bincount(cells[cells >= 0], minlength=HOUGH_Z0_BINS * t_bins)
    alive = np.ones(len(z), dtype=bool)
    lines = []
    minimum = max(10, len(z) // 4000)
    while len(lines) < MAX_LASERS and alive.any():
        best = int(votes.argmax())
        if votes[best] < minimum:
            break
        line = np.array([z0_values[best // t_bins], (best % t_bins + 0.5) * HOUGH_T_BIN - MAX_TAN])
        for factor in (8, 4, 2, 1.5):
            inliers = alive & (np.abs(z - line[0] - rho * line[1]) <= factor * tolerance)
            if inliers.sum() < 3:
                break
            line = _fitted(rho[inliers], z[inliers], line)
        inliers = alive & (np.abs(z - line[0] - rho * line[1]) <= 1.5 * tolerance)
        gone = inliers if inliers.sum() >= minimum else (
            alive & (np.abs(z - z0_values[best // t_bins] - rho * line[1]) <= 4 * tolerance))
        if not gone.any():  # a peak made by points no longer there: drop its votes
            votes[best] = 0
            continue
        removed = cells[:, gone]
        np.subtract.at(votes, removed[removed >= 0], 1)
        alive &= ~gone
        if inliers.sum() >= minimum and abs(line[0]) <= 2 * z0_range + extent:
            lines.append(line)
    return np.array(lines).reshape(-1, 2)


def _fitted(rho, z, line):
    """Least-squares (z0, t) of points, or ``line`` when they cannot pin both down."""
    design = np.stack([np.ones_like(rho), rho], axis=1)
    solution, _, rank, _ = np.linalg.lstsq(design, z, rcond=None)
    return solution if rank == 2 else line


def _nearest_laser(z, rho, z0, tan, chunk=8192):
    """Index of the cone nearest each point (by |z - z0 - rho t|; the first of equals) and
    that distance, a chunk of points against every cone at once."""
    laser = np.zeros(len(z), dtype=np.int64)
    best = np.full(len(z), np.inf)
    if not len(tan):
        return laser, best
    for first in range(0, len(z), chunk):
        part = slice(first, first + chunk)
        distance = np.abs(z[part, None] - z0[None, :] - rho[part, None] * tan[None, :])
        laser[part] = distance.argmin(axis=1)
        best[part] = np.take_along_axis(distance, laser[part, None], axis=1)[:, 0]
    return laser, best


MIN_RHO = 4  # closer to the axis, azimuths are too coarse to code points by them


def _tolerance(rho):
    """How far (voxels) a return may sit from its laser's cone: rounding, or 0.3 mrad
    (lasers are 3 mrad apart or more; calibration and motion bend cones by less)."""
    return np.maximum(2.0, 3e-4 * rho)


def estimate_sensor(coords, origin=(0, 0, 0), seed=0):
    """The :class:`Sensor` of a sweep given as integer voxel coordinates with the sensor
    at ``origin``, or None when the points are not a spinning-LiDAR sweep (too few fit
    cones, or their returns are not scan lines). The last few answers are kept (choosing
    the model by content asks it of the same points once per rate an evaluation codes)."""
    coords = np.ascontiguousarray(coords, dtype=np.int64)
    key = hashlib.sha256(coords.tobytes()).hexdigest() + repr((coords.shape, tuple(origin), seed))
    if key not in _RECENT:
        while len(_RECENT) >= 4:
            _RECENT.pop(next(iter(_RECENT)))
        _RECENT[key] = _estimate(coords, tuple(int(v) for v in origin), seed)
    return _RECENT[key]


_RECENT = {}  # the last answers of estimate_sensor, by a digest of its arguments


def _estimate(coords, origin, seed):
    relative = np.asarray(coords, dtype=np.int64) - np.asarray(origin, dtype=np.int64)
    rho = np.hypot(relative[:, 0], relative[:, 1]).astype(np.float64)
    usable = rho >= max(4.0, 0.02 * float(np.median(rho))) if len(rho) else rho > 0
    if usable.sum() < 200:
        return None
    rng = np.random.default_rng(seed)
    sample = np.flatnonzero(usable)
    if len(sample) > SUBSAMPLE:
        sample = np.sort(rng.choice(sample, SUBSAMPLE, replace=False))
    motion, seam = _sweep_motion(relative[sample], rho[sample], rng)
    rho, _ = _from_moving_origin(relative, motion, seam)
    z = relative[:, 2].astype(np.float64)
    lines = _lines_of(z[sample], rho[sample], _tolerance(rho[sample]))
    if not 2 <= len(lines) <= MAX_LASERS:
        return None
    # Refit every cone on all the points it explains best, twice.
    z_all, rho_all = z[usable], rho[usable]
    for _ in range(2):
        laser, distance = _nearest_laser(z_all, rho_all, lines[:, 0], lines[:, 1])
        inlier = distance <= 2 * _tolerance(rho_all)
        for index in range(len(lines)):
            mine = inlier & (laser == index)
            if mine.sum() >= 3:
                lines[index] = _fitted(rho_all[mine], z_all[mine], lines[index])
    laser, distance = _nearest_laser(z_all, rho_all, lines[:, 0], lines[:, 1])
    if np.mean(distance <= 2 * _tolerance(rho_all)) < FIT_FRACTION:
        return None
    step = _azimuth_step(relative[usable], laser)
    if step is None:
        return None
    order = np.argsort(lines[:, 1], kind="stable")
    z0 = np.rint(lines[order, 0] * (1 << Z0_BITS)).astype(np.int64)
    tan = np.rint(lines[order, 1] * (1 << TAN_BITS)).astype(np.int64)
    keep = np.r_[True, (np.diff(tan) != 0) | (np.diff(z0) != 0)]
    return Sensor(origin=tuple(int(v) for v in origin), z0=z0[keep], tan=tan[keep], step=step,
                  motion=motion, seam=seam)


MOTION_SAMPLE = 1500  # points the motion search sees
SEAMS = (ANGLE_UNITS // 2, 0)  # where sweeps start: behind the sensor (KITTI), or ahead


def _concentration(relative, rho_static, motion, seam):
    """How sharply the points fall on few cones seen from the origin moving by ``motion``:
    the sum of squared votes of their Hough transform (the larger, the fewer cones)."""
    rho, _ = _from_moving_origin(relative, motion, seam)
    keep = rho >= 0.2 * np.median(rho_static)
    rho, z = rho[keep], relative[keep, 2].astype(np.float64)
    if len(z) < 100:
        return 0.0
    z0_values = np.linspace(-0.1, 0.1, HOUGH_Z0_BINS // 2) * float(np.median(rho))
    cells = np.sort(np.floor(((z[None, :] - z0_values[:, None]) / rho[None, :] + MAX_TAN) / HOUGH_T_BIN), axis=1)
    # The votes of each row's cells are its runs of equal values (rows share no cell).
    edges = np.flatnonzero(np.c_[np.ones(len(cells), bool), cells[:, 1:] != cells[:, :-1]].ravel())
    votes = np.diff(np.r_[edges, cells.size])
    return float((votes.astype(np.float64) ** 2).sum()) / len(z) ** 2


def _sweep_motion(relative, rho, rng):
    """The sensor's travel during the sweep and the sweep's seam (see :class:`Sensor`)
    that make the returns fall on the fewest cones: a pattern search from no motion, in
    steps from 2% of the median range down to 0.1%, for the seams of SEAMS in turn (the
    first that pays is kept)."""
    everything = relative, rho
    relative, rho = _motion_sample(relative, rho, rng)
    typical = float(np.median(rho))
    best = ((0, 0), 0), _concentration(relative, rho, (0, 0), 0)
    for seam in SEAMS:
        motion, score = (0, 0), best[1]
        step = max(1, int(0.02 * typical))
        while step >= max(1, int(0.001 * typical)):
            moves = [(motion[0] + dx * step, motion[1] + dy * step) for dx in (-1, 0, 1) for dy in (-1, 0, 1)
                     if dx or dy]
            scores = [_concentration(relative, rho, move, seam) for move in moves]
            if max(scores) > score:
                score, motion = max(scores), moves[int(np.argmax(scores))]
            else:
                step //= 2
        if score > best[1] * MOTION_GAIN and _confirmed(everything, motion, seam, rng):
            return motion, seam
    return best[0]


def _motion_sample(relative, rho, rng):
    """At most MOTION_SAMPLE of the points (and their ranges), drawn from ``rng``."""
    if len(relative) > MOTION_SAMPLE:
        chosen = rng.choice(len(relative), MOTION_SAMPLE, replace=False)
        return relative[chosen], rho[chosen]
    return relative, rho


def _confirmed(everything, motion, seam, rng):
    """Whether a motion the search found on one sample also sharpens the cones of another:
    on a sweep that was not de-skewed the search can chase the sample's noise."""
    relative, rho = _motion_sample(*everything, rng)
    return _concentration(relative, rho, motion, seam) > _concentration(relative, rho, (0, 0), 0) * MOTION_GAIN


MOTION_GAIN = 1.02  # a motion must sharpen the cones by this much to be used


def _from_moving_origin(relative, motion, seam):
    """(horizontal range, azimuth in angle units (float)) of points seen from the origin
    moving by ``motion``: the azimuth solved for the sensor's position at that azimuth."""
    x, y = relative[:, 0].astype(np.float64), relative[:, 1].astype(np.float64)
    azimuth = np.arctan2(y, x) * RADIAN
    if motion == (0, 0):
        return np.hypot(x, y), azimuth
    for _ in range(3):
        phase = np.mod(azimuth - seam, ANGLE_UNITS) / ANGLE_UNITS - 0.5
        azimuth = np.arctan2(y - motion[1] * phase, x - motion[0] * phase) * RADIAN
    phase = np.mod(azimuth - seam, ANGLE_UNITS) / ANGLE_UNITS - 0.5
    return np.hypot(x - motion[0] * phase, y - motion[1] * phase), azimuth


def _azimuth_step(relative, laser):
    """The azimuth step (angle units) between successive returns of a laser, or None when
    too few of them are about one step apart (not a sweep)."""
    azimuth = np.arctan2(relative[:, 1], relative[:, 0])
    order = np.lexsort((azimuth, laser))
    gaps = np.diff(azimuth[order])[np.diff(laser[order]) == 0]
    gaps = gaps[gaps > 0]
    if len(gaps) < 100:
        return None
    step = float(np.median(gaps))
    if not 2 * np.pi / 16384 <= step <= 2 * np.pi / 128:
        return None
    if np.mean(np.abs(gaps - step) <= 0.5 * step) < SCAN_LINE_FRACTION:
        return None
    if np.mean(np.abs(gaps - step / 2) <= 0.15 * step) > HALF_STEPS:
        step /= 2  # returns also half a step apart (KITTI's HDL-64E): count half steps
    return int(round(step * RADIAN))


def _cosine_table():
    """cos of TABLE_SIZE + 1 angles over a quarter turn, fixed point 2^COS_BITS (int64),
    from exact decimal arithmetic: the same integers on every machine."""
    return fixedpoint.cos_table(TABLE_SIZE, COS_BITS)


TABLE_SIZE = 1 << 12  # entries per quarter turn; linear interpolation between them
COS_BITS = 30  # the fixed point of cosines and sines


def fixed_cos_sin(angle):
    """(cos, sin) of integer azimuths (angle units) in fixed point 2^30, by table and
    linear interpolation in integers: the same on every machine."""
    table = _cosine_table()
    quarter = ANGLE_UNITS // 4
    angle = np.asarray(angle, dtype=np.int64) % ANGLE_UNITS
    turn, within = np.divmod(angle, quarter)
    position = within * TABLE_SIZE  # in units of 1/quarter table entries
    index, fraction = np.divmod(position, quarter)
    nxt = np.minimum(index + 1, TABLE_SIZE)
    cos_q = table[index] + ((table[nxt] - table[index]) * fraction) // quarter
    sin_q = table[TABLE_SIZE - index] + ((table[TABLE_SIZE - nxt] - table[TABLE_SIZE - index]) * fraction) // quarter
    cos = np.choose(turn, [cos_q, -sin_q, -cos_q, sin_q])
    sin = np.choose(turn, [sin_q, cos_q, -sin_q, -cos_q])
    return cos, sin


@functools.lru_cache(maxsize=None)
def _tangent_table():
    """tan of the cosine table's angles over the first eighth of a turn, fixed point
    2^COS_BITS: sin / cos of its integers, so as exact as they are."""
    table = _cosine_table()
    eighth = np.arange(TABLE_SIZE // 2 + 1)
    return (table[TABLE_SIZE - eighth] << COS_BITS) // table[eighth]


def fixed_atan2(y, x):
    """The azimuth (angle units, in [0, ANGLE_UNITS)) of integer points (x, y) below 2^30
    from the origin: the tangent table searched and interpolated linearly, in integers
    (the same on every machine, unlike a library's atan2)."""
    x, y = np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64)
    ax, ay = np.abs(x), np.abs(y)
    steep = ay > ax
    tangent = (np.where(steep, ax, ay) << COS_BITS) // np.maximum(np.where(steep, ay, ax), 1)
    table = _tangent_table()
    entry = np.clip(np.searchsorted(table, tangent, side="right") - 1, 0, TABLE_SIZE // 2 - 1)
    unit = ANGLE_UNITS // 4 // TABLE_SIZE
    angle = entry * unit + (tangent - table[entry]) * unit // (table[entry + 1] - table[entry])
    angle = np.where(steep, ANGLE_UNITS // 4 - angle, angle)
    angle = np.where(x < 0, ANGLE_UNITS // 2 - angle, angle)
    return np.where(y < 0, ANGLE_UNITS - angle, angle) % ANGLE_UNITS


def arc_angle(arc, rho):
    """The azimuth (angle units) an arc of ``arc`` voxels spans at range ``rho``, in integers."""
    numerator = arc * int(round(RADIAN * 1024))
    return np.where(numerator >= 0, (numerator + 512 * rho) // (1024 * rho),
                    -((-numerator + 512 * rho) // (1024 * rho)))


def polar_xy(rho, azimuth):
    """rho cos a, rho sin a, fixed point with COS_BITS fractional bits."""
    cos, sin = fixed_cos_sin(azimuth)
    return rho * cos, rho * sin


def predicted_xy(rho, azimuth):
    """round(rho cos a), round(rho sin a) in integers."""
    x, y = polar_xy(rho, azimuth)
    return fixedpoint.round_shift(x, COS_BITS), fixedpoint.round_shift(y, COS_BITS)


def scan_order(coords, sensor, quantum=1):
    """The points the sensor explains (off its axis (ranges of at least ``quantum`` voxels
    when they are sent in such units), near a laser's cone) in scan order:
    (their indices into ``coords``, laser, horizontal range rho (rounded, voxels), azimuth
    (float angle units), position relative to the origin), and the others' indices."""
    relative = np.asarray(coords, dtype=np.int64) - np.asarray(sensor.origin, dtype=np.int64)
    rho_exact, azimuth_all = _from_moving_origin(relative, sensor.motion, sensor.seam)
    if sensor.motion != (0, 0):  # the range from where the decoder will put the sensor
        moved_x, moved_y = sensor.moved(np.rint(azimuth_all).astype(np.int64))
        rho_exact = np.hypot(relative[:, 0] - moved_x, relative[:, 1] - moved_y)
    rho = np.rint(rho_exact).astype(np.int64)
    laser, distance = _nearest_laser(relative[:, 2].astype(np.float64), rho_exact,
                                     sensor.z0 / (1 << Z0_BITS), sensor.tan / (1 << TAN_BITS))
    fits = (rho >= max(MIN_RHO, quantum)) & (distance <= 4 * _tolerance(rho_exact))
    inside = np.flatnonzero(fits)
    azimuth = azimuth_all[inside]
    order = np.lexsort((azimuth, laser[inside]))
    chosen = inside[order]
    return chosen, laser[chosen], rho[chosen], azimuth[order], relative[chosen], np.flatnonzero(~fits)
