"""Spinning-LiDAR sweeps coded in the sensor's own coordinates, lossless or lossy.

:class:`LidarCodec` estimates the sensor from the points (omnicodec.scans.sensor: the
lasers' cones, the azimuth step and the sensor's travel, no calibration needed), orders
the points as the sensor scanned them, and sends per point, as integers the decoder turns
back into the voxel (integer arithmetic only):

- ``skip``: azimuth steps since the previous return of the laser (mostly 1);
- ``rho``: the horizontal range, voxels;
- ``arc``: the azimuth's offset (voxels along the arc) from its prediction;
- ``dz``: height minus the laser's cone at that range; ``dx``, ``dy``: what rounding
  the range and azimuth leaves of x and y.

Skips go first, all lasers at once return after return, under adaptive frequencies.
Ranges, arcs and height residuals are then coded coarse to fine along each laser: every
2^LEVELS-th return first (each from the one before it), then the returns halfway between
known ones, down to every other return; the learned predictor
(omnicodec.scans.lidar_network) gives each value's discretized logistic from its decoded
neighbours. All lasers go at once, and each finer level in one batch. Points the sensor
does not explain (near its axis, off every cone) are coded by the dense lossless model.
One stream codes the whole sweep.
"""

import dataclasses
import functools
import zlib

import numpy as np
import torch

from omnicodec import bitstream, catalogue, varint
from omnicodec.attributes.levels import first_of_runs, position_in_run, run_starts, sequence_levels
from omnicodec.entropy import adaptive, binary_reader, binary_writer
from omnicodec.errors import BitstreamError
from omnicodec.scans import lidar_inter, sensor as sensors
from omnicodec.scans.field_network import IntegerFieldNet
from omnicodec.scans.lidar_network import INTER_FIELD, LidarNet, features, integer_features, inter_features
from omnicodec.scans.sensor_coding import (
    SUITS_POINTS, FieldIo, SensorGeometryCodec, best_log_scale, residuals, rounding_ties, sensor_origin,
)

LEVELS = 7  # a laser's level-0 returns are every 2**LEVELS-th
RUN_CONTEXTS = 16  # contexts of the skips: usual ones since the last other, up to 15
HEIGHTS_WITHIN_A_VOXEL = 0.97  # of a sweep's heights, for them to be sent by their rounding


@dataclasses.dataclass
class Scan:
    """What the decoder rebuilds, in scan order."""

    counts: np.ndarray  # points per laser
    start: np.ndarray  # azimuth of each laser's first return (angle units)
    skip: np.ndarray
    rho: np.ndarray
    arc: np.ndarray
    dz: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    azimuth: np.ndarray  # rebuilt (angle units)
    flat: tuple  # the stream-wide logistics' parameters (see _fitted_skip)


class ScanCoder:
    """The learned predictor and the walk over a sweep shared by encoder and decoder.
    ``rounding_residuals``: lossless sweeps send what rounding leaves of x, y and z by
    where the exact value fell in its rounding interval (:func:`sensor_coding.residuals`),
    not the heights by the network and x, y under one logistic (models before lidar-v3)."""

    def __init__(self, network, rounding_residuals=False):
        self.network = network.eval()
        self.integer = network.config.get("arithmetic") == "integer"
        self.inter_head = INTER_FIELD in network.config.get("fields", ())
        self.rounding_residuals = rounding_residuals

    def _field(self, io, name, level, index, has_right, gaps, rho, spread, neighbours, truth, second=None):
        """Code or read one field's values at ``index`` (all of one level); ``second``: the
        ranges the previous sweep predicts (voxels, whether there is one, the units the
        values are sent in), blended in as the encoder picks for the batch. A network with
        an INTER_FIELD head offers it too for such a batch, which sees that prediction: the
        encoder keeps whichever head (and blend) codes the batch in fewer bits."""
        make = integer_features if self.integer else features
        feats, reference, unit = make(name, level, LEVELS, has_right, *neighbours, *gaps, rho, spread)
        true_values = None if truth is None else torch.as_tensor(truth[index])
        predicts = second is not None and second[1].any()  # both sides know where there is a second prediction
        heads = [(name, feats)]
        if predicts and self.integer and (self.inter_head or io.collect is not None):  # fitting collects it too
            heads.append((INTER_FIELD, inter_features(feats, reference, unit, *second)))
        if io.collect is not None:
            for field, head_features in heads:
                io.collect(field, head_features, reference, unit, true_values)
            return truth[index]
        if not predicts:
            location, scale = self.network(name, feats, reference, unit)
            return np.asarray(io.values(true_values, location, scale), dtype=np.int64)
        predicted, have, quantum = second
        if truth is None:
            chosen = int(adaptive.even_bits(io, None, 1)[0]) if len(heads) > 1 else 0
            location, scale = self.network(*heads[chosen], reference, unit)
            choice = lidar_inter.coded_blend(io, None)
        else:
            options = []  # per head: (estimated bits, blend, location, scale)
            for field, head_features in heads:
                location, scale = self.network(field, head_features, reference, unit)
                options.append((*lidar_inter.best_blend(truth[index], location, scale, predicted, have, quantum),
                                location, scale))
            chosen = min(range(len(options)), key=lambda option: options[option][0])
            _, choice, location, scale = options[chosen]
            if len(heads) > 1:
                adaptive.even_bits(io, np.array([chosen == 1]), 1)
            lidar_inter.coded_blend(io, choice)
        blend = lidar_inter.blend(choice, scale.numpy(), predicted, have, quantum) if any(choice[1:]) else None
        return np.asarray(io.values(true_values, location, scale, blend), dtype=np.int64)

    def _skips(self, io, truth, counts, mode, prior, log_scale16):
        """Every point's skip (0 for a laser's first): all lasers at once, return after
        return, "is it the usual one" under an adaptive frequency per context (how many
        usual skips came since the last other one in this laser: a sensor's rhythm, such
        as KITTI's half step every 7th return), starting from the stream's frequency
        ``prior``; then the others at once under a logistic about the usual one."""
        if io.collect is not None:
            return truth
        starts = run_starts(counts)
        usual = ~first_of_runs(counts)  # a laser's first return has no skip
        hits = np.full(RUN_CONTEXTS, prior >> 12, dtype=np.int64)  # of 16 prior draws
        seen = np.full(RUN_CONTEXTS, 16, dtype=np.int64)
        run = np.zeros(len(counts), dtype=np.int64)
        lasers = np.flatnonzero(counts > 1)
        for position in range(1, int(counts.max()) if len(counts) else 0):
            lasers = lasers[counts[lasers] > position]
            index = starts[lasers] + position
            context = np.minimum(run[lasers], RUN_CONTEXTS - 1)
            # one chunk of adaptive_bits: never more lasers than sensors.MAX_LASERS < adaptive.CHUNK
            now = adaptive.adaptive_bits(io, None if truth is None else truth[index] == mode, context, hits, seen)
            usual[index] = now
            run[lasers] = np.where(now, run[lasers] + 1, 0)
        skips = np.where(usual, mode, 0)
        others = np.flatnonzero(~usual)
        others = others[np.isin(others, starts[counts > 0], invert=True)]
        skips[others] = io.flat(None if truth is None else truth[others], len(others), 16 * mode,
                                   log_scale16)
        if truth is None and (skips[others] == mode).any():
            raise BitstreamError("LiDAR stream's azimuth steps are corrupted")
        return skips

    @staticmethod
    def _heights_by_rounding(io, heights):
        """Whether a lossless sweep's heights are sent by their rounding (when the lasers'
        cones fit so well that they are almost all within a voxel of them: any sweep the
        sensor was estimated well for) or by the network from their neighbours (a sensor
        whose cones leave a spread): the encoder's choice from the true ``heights`` (what
        rounding leaves of each point's; None when decoding), one bit at even odds."""
        choice = None
        if heights is not None:
            choice = np.array([len(heights) == 0 or np.mean(np.abs(heights) <= 1) >= HEIGHTS_WITHIN_A_VOXEL])
        if io.collect is not None:
            return bool(choice[0])
        return bool(adaptive.even_bits(io, choice, 1)[0])

    @torch.no_grad()
    def walk(self, io, counts, start, sensor, flat, quantum=1, truth=None, skip_unit=1, previous=None):
        """Code (``truth``: per point in scan order the true ``skip``, ``rho``, ``azimuth``
        (float angle units) and ``relative`` position) or decode one sweep's values;
        returns the :class:`Scan`. ``quantum`` > 1 (lossy): ranges, arcs and height
        residuals are sent in units of that many voxels, and x, y as they round;
        ``skip_unit`` > 1 (lossy rates that drop returns): skips count that many steps;
        ``previous``: the sweep before as a lidar_inter.RangeImage, whose ranges are
        blended into the ranges' logistics."""
        total = int(np.sum(counts))
        level, left, right = sequence_levels(counts, LEVELS)
        starts = run_starts(counts)
        mode, prior, skip_scale, xy_scale = flat
        laser = np.repeat(np.arange(len(counts)), counts)
        by_rounding = self.rounding_residuals and quantum == 1
        heights_truth = None  # what rounding leaves of each height (lossless: rho is the true one, rounded)
        if by_rounding and truth is not None:
            heights_truth = truth["relative"][:, 2] - sensor.predicted_z(laser, np.rint(truth["rho"]).astype(np.int64))
        heights_by_rounding = by_rounding and self._heights_by_rounding(io, heights_truth)
        skip = self._skips(io, None if truth is None else truth["skip"], counts, mode, prior, skip_scale)
        column = np.cumsum(skip) * skip_unit
        column -= np.repeat(column[starts[counts > 0]], counts[counts > 0])
        # offset: each azimuth's arc as an angle (what it differed from its prediction by)
        step = sensor.step
        rho, arc, dz, azimuth, offset = (np.zeros(total, dtype=np.int64) for _ in range(5))
        rho_truth = None if truth is None else np.rint(truth["rho"] / quantum).astype(np.int64)
        azimuth[starts[counts > 0]] = start[counts > 0]
        for lev, index in _batches(level, counts):
            has_left, has_right = left[index] >= 0, right[index] >= 0
            lsafe = np.where(has_left, left[index], index)
            rsafe = np.where(has_right, right[index], lsafe)
            gaps = (np.where(has_left, column[index] - column[lsafe], 0),
                    np.where(has_right, column[rsafe] - column[index], 0))

            def neighbours(values):
                at_left = np.where(has_left, values[lsafe], 0)
                return at_left, np.where(has_right, values[rsafe], at_left)

            # Range (the previous sweep's, if any, at the azimuth the neighbours predict).
            predicted = _predicted_azimuth(azimuth, lsafe, rsafe, has_right, gaps, step)
            second = None
            if previous is not None:
                second = (*previous.predict(laser[index], predicted), quantum)
            pair = neighbours(rho)
            rho[index] = self._field(io, "rho", lev, index, has_right, gaps, pair[0], pair[1] - pair[0], pair,
                                     rho_truth, second)
            if rho[index].min() * quantum < sensors.MIN_RHO:
                raise BitstreamError("LiDAR stream decodes to a range no encoder writes: corrupted stream")
            # Azimuth: linear in the steps between the decoded neighbours, plus the arc.
            here = has_left  # a laser's first azimuth is in the header
            coded, radius = index[here], rho[index[here]] * quantum
            to_arc = lambda angle: angle[here] * radius // int(sensors.RADIAN * quantum)  # noqa: E731
            jitter = np.where(has_right, (azimuth[rsafe] - azimuth[lsafe]) - (gaps[0] + gaps[1]) * step, 0)
            offsets = neighbours(offset)
            arc_truth = None
            if truth is not None:
                arc_truth = np.zeros(total, dtype=np.int64)
                arc_truth[coded] = _exact_arcs(sensor, truth["azimuth"][coded], truth["relative"][coded],
                                               predicted[here], radius) if quantum == 1 else np.rint(
                    (truth["azimuth"][coded] - predicted[here]) * radius / (sensors.RADIAN * quantum)).astype(np.int64)
            arc[coded] = self._field(io, "arc", lev, coded, has_right[here], (gaps[0][here], gaps[1][here]),
                                     radius, to_arc(jitter), (to_arc(offsets[0]), to_arc(offsets[1])), arc_truth)
            offset[coded] = sensors.arc_angle(arc[coded] * quantum, radius)
            azimuth[coded] = predicted[here] + offset[coded]
            if heights_by_rounding:  # they follow the walk
                continue
            # Height residual.
            pair = neighbours(dz)
            dz_truth = None
            if truth is not None:
                dz_truth = np.zeros(total, dtype=np.int64)
                dz_truth[index] = np.rint((truth["relative"][index, 2] - sensor.predicted_z(
                    laser[index], rho[index] * quantum)) / quantum).astype(np.int64)
            dz[index] = self._field(io, "dz", lev, index, has_right, gaps, rho[index] * quantum, pair[1] - pair[0],
                                    pair, dz_truth)
        dxy_truth = None
        if truth is not None and quantum == 1:  # what rounding leaves of x and y
            x, y = sensor.xy(rho, azimuth)
            dxy_truth = np.r_[truth["relative"][:, 0] - x, truth["relative"][:, 1] - y]
            if xy_scale is None and not by_rounding:
                xy_scale = best_log_scale(dxy_truth, 0)
        if by_rounding:
            heights, dxy = _rounding_residuals(io, heights_truth, dxy_truth, sensor, laser, rho, azimuth,
                                               heights_by_rounding)
            dz = heights if heights_by_rounding else dz
            xy_scale = 0
        elif quantum == 1:
            dxy = io.flat(dxy_truth, 2 * total, 0, xy_scale)
        else:
            dxy = np.zeros(2 * total, np.int64)
        return Scan(counts=counts, start=start, skip=skip, rho=rho * quantum, arc=arc, dz=dz * quantum,
                    dx=np.asarray(dxy[:total]), dy=np.asarray(dxy[total:]), azimuth=azimuth,
                    flat=(mode, prior, skip_scale, 0 if xy_scale is None else xy_scale))


def _rounding_residuals(io, dz_truth, dxy_truth, sensor, laser, rho, azimuth, heights=True):
    """Code (``dz_truth``, ``dxy_truth``: what rounding left of the heights and of x and
    y) or read what rounding leaves of each point's height (``dz``, if ``heights``, else
    None), then of its x and y (``dxy``, x's then y's), each by where its exact value fell
    in its rounding interval: heights on the laser's cone, x and y on the range's polar
    rounding."""
    if io.collect is not None:
        return dz_truth, dxy_truth
    dz = residuals(io, dz_truth, rounding_ties(sensor.cone_height(laser, rho), sensors.TAN_BITS)) if heights else None
    x, y = sensors.polar_xy(rho, azimuth)
    dxy = residuals(io, dxy_truth, np.r_[rounding_ties(x, sensors.COS_BITS), rounding_ties(y, sensors.COS_BITS)])
    return dz, dxy


def _exact_arcs(sensor, true_azimuth, relative, predicted, rho):
    """The arc of each point: the one nearest its true azimuth, or its neighbour (one voxel
    along the arc either way) when that rebuilds x and y exactly where it does not."""
    nearest = np.rint((true_azimuth - predicted) * rho / sensors.RADIAN).astype(np.int64)
    best, best_miss = nearest, None
    for candidate in (nearest, nearest - 1, nearest + 1):
        x, y = sensor.xy(rho, predicted + sensors.arc_angle(candidate, rho))
        miss = np.abs(relative[:, 0] - x) + np.abs(relative[:, 1] - y)
        if best_miss is None:
            best_miss = miss
            continue
        better = miss < best_miss
        best = np.where(better, candidate, best)
        best_miss = np.minimum(miss, best_miss)
    return best


def _batches(level, counts):
    """(level, indices) of the points coded together, in coding order: level 0 one return
    per laser at a time (each after the one 2^LEVELS before it, so it is predicted from
    it), then each finer level at once."""
    within = position_in_run(counts)
    top = level == 0
    chain = within >> LEVELS
    for position in range(int(chain[top].max()) + 1 if top.any() else 0):
        yield 0, np.flatnonzero(top & (chain == position))
    for lev in range(1, LEVELS + 1):
        index = np.flatnonzero(level == lev)
        if len(index):
            yield lev, index


def _predicted_azimuth(azimuth, lsafe, rsafe, has_right, gaps, step):
    """Between two decoded neighbours: linear in azimuth steps; after one: one step each."""
    span = gaps[0] + gaps[1]
    between = azimuth[lsafe] + ((azimuth[rsafe] - azimuth[lsafe]) * gaps[0]) // np.maximum(span, 1)
    after = azimuth[lsafe] + gaps[0] * step
    return np.where(has_right & (span > 0), between, after)


def sweep_truth(coords, sensor, quantum=1, keep_every=1):
    """What the encoder codes of a sweep: (indices of the points coded by the sensor, in
    scan order; indices of the others; points per laser; each laser's first azimuth; the
    true values :meth:`ScanCoder.walk` takes). ``keep_every`` > 1 (lossy) keeps only every
    that many-th return of each laser (the others are dropped, not sent)."""
    chosen, laser, rho, azimuth, relative, others = sensors.scan_order(coords, sensor, quantum)
    if keep_every > 1:
        kept = position_in_run(np.bincount(laser, minlength=sensor.lasers)) % keep_every == 0
        chosen, laser, rho, azimuth, relative = chosen[kept], laser[kept], rho[kept], azimuth[kept], relative[kept]
    counts = np.bincount(laser, minlength=sensor.lasers)
    starts, first = run_starts(counts), first_of_runs(counts)
    skip = np.zeros(len(chosen), dtype=np.int64)
    if keep_every == 1:
        skip[1:] = np.maximum(np.rint(np.diff(azimuth) / sensor.step), 0).astype(np.int64)
    else:  # in units of keep_every steps, each rounded from its laser's first return
        columns = np.rint((azimuth - np.repeat(azimuth[starts], counts)) / (sensor.step * keep_every))
        skip[1:] = np.maximum(np.diff(columns), 0).astype(np.int64)
    skip[first] = 0
    start = np.zeros(sensor.lasers, dtype=np.int64)
    start[counts > 0] = np.rint(azimuth[starts[counts > 0]]).astype(np.int64)
    truth = {"skip": skip, "rho": rho, "azimuth": azimuth, "relative": relative}
    return chosen, others, counts, start, truth


SMOOTH_FROM = 32
EDGE = 0.1  # neighbours whose ranges differ by more than this fraction are on two surfaces


def filled(scan, keep_every):
    """A sweep sent with only every ``keep_every``-th return of each laser, with the
    dropped returns put back where they were likely: between two sent returns as many
    points as the azimuth steps between them say (at most ``keep_every`` - 1), their
    azimuths evenly spread, their ranges and heights interpolated on one surface (or the
    nearer neighbour's across a depth edge)."""
    if keep_every == 1 or len(scan.rho) < 2:
        return scan
    after = np.flatnonzero(~first_of_runs(scan.counts))  # each return after another of its laser
    # Skips count keep_every steps: the usual one spans keep_every returns of ``spacing`` steps.
    spacing = max(1, scan.flat[0])
    slots = np.rint(scan.skip[after] * keep_every / spacing).astype(np.int64)
    missing = np.where(slots <= keep_every, np.maximum(slots - 1, 0), 0)
    pair_of = np.repeat(np.arange(len(after)), missing)
    if not len(pair_of):
        return scan
    rank = np.arange(len(pair_of)) - np.repeat(np.cumsum(missing) - missing, missing) + 1
    b = after[pair_of]
    a = b - 1
    total = missing[pair_of] + 1
    azimuth = scan.azimuth[a] + (scan.azimuth[b] - scan.azimuth[a]) * rank // total
    one_surface = np.abs(scan.rho[b] - scan.rho[a]) <= EDGE * np.minimum(scan.rho[a], scan.rho[b])
    nearer_b = 2 * rank > total
    rho = np.where(one_surface, scan.rho[a] + (scan.rho[b] - scan.rho[a]) * rank // total,
                   np.where(nearer_b, scan.rho[b], scan.rho[a]))
    dz = np.where(one_surface, scan.dz[a] + (scan.dz[b] - scan.dz[a]) * rank // total,
                  np.where(nearer_b, scan.dz[b], scan.dz[a]))
    laser = np.repeat(np.arange(len(scan.counts)), scan.counts)
    order = np.argsort(np.r_[np.arange(len(scan.rho)) * 2, a * 2 + 1], kind="stable")
    merged = lambda old, new: np.r_[old, new][order]  # noqa: E731
    counts = np.bincount(merged(laser, laser[a]), minlength=len(scan.counts))
    zeros = np.zeros(len(a), dtype=np.int64)
    return dataclasses.replace(scan, counts=counts, rho=merged(scan.rho, rho), azimuth=merged(scan.azimuth, azimuth),
                               dz=merged(scan.dz, dz), dx=merged(scan.dx, zeros), dy=merged(scan.dy, zeros),
                               skip=merged(scan.skip, zeros), arc=merged(scan.arc, zeros))


def smoothed(scan, quantum):
    """A lossy sweep's ranges (sent in units of ``quantum`` voxels) with each one between
    two neighbours along its laser on the same surface (within a unit of it) replaced by
    their 1-2-1 average: a surface's ranges are smoother than their rounding, so this
    comes nearer the truth (in integers, the same everywhere). Only for units of
    SMOOTH_FROM voxels or more: below, the sensor's own noise is as large as the rounding."""
    if quantum < SMOOTH_FROM or len(scan.rho) < 3:
        return scan
    first = first_of_runs(scan.counts)
    last = np.r_[first[1:], True]
    rho = scan.rho
    inner = np.flatnonzero(~first & ~last)
    before, after = rho[inner - 1], rho[inner + 1]
    near = (np.abs(before - rho[inner]) <= quantum) & (np.abs(after - rho[inner]) <= quantum)
    result = rho.copy()
    result[inner[near]] = (before[near] + 2 * rho[inner[near]] + after[near] + 2) // 4
    return dataclasses.replace(scan, rho=result)


def scan_coords(scan, sensor):
    """(N, 3) int64 voxel coordinates of a rebuilt sweep, in scan order."""
    laser = np.repeat(np.arange(len(scan.counts)), scan.counts)
    x, y = sensor.xy(scan.rho, scan.azimuth)
    z = sensor.predicted_z(laser, scan.rho)
    return np.stack([x + scan.dx, y + scan.dy, z + scan.dz], axis=1) + np.asarray(sensor.origin, dtype=np.int64)


class LidarCodec(SensorGeometryCodec):
    """Sweeps, lossless (``lidar-v1``) or at a lossy rate (the card's ``quantum`` and
    ``keep_every``): the points the estimated sensor explains coded in its coordinates by
    :class:`ScanCoder`, the others (all of a cloud that is no sweep) by the dense
    lossless model of the card's ``base``, so no cloud costs more than there."""

    network = staticmethod(catalogue.by_arithmetic(LidarNet, IntegerFieldNet))
    sensor_name = "LiDAR"

    @property
    def quantum(self):
        """Voxels per unit of the ranges, arcs and heights sent: 1 is lossless."""
        return int(self.card.settings.get("quantum", 1))

    @property
    def keep_every(self):
        """A lossy rate's decimation: only every that many-th return of a laser is sent."""
        return int(self.card.settings.get("keep_every", 1))

    @property
    def lossless(self):
        return self.quantum == 1 and self.keep_every == 1

    @staticmethod
    def suits_sample(positions):
        """A sector about the frame's origin: a sweep's scan lines are whole there."""
        azimuth = np.mod(np.arctan2(positions[:, 1].astype(np.float64), positions[:, 0].astype(np.float64)),
                         2 * np.pi)
        return np.argpartition(azimuth, SUITS_POINTS)[:SUITS_POINTS]

    @staticmethod
    def sensor_found(grid):
        return sensors.estimate_sensor(grid.coords, sensor_origin(grid.offset, grid.scale)) is not None

    @property
    def predicts_frames(self):
        """Integer models with ``inter`` in their settings blend each range with the one the
        sweep before predicts, in a sequence (omnicodec.scans.lidar_inter)."""
        return bool(self.card.settings.get("inter", False)) and self.integer

    def encode(self, prepared, rate=None, progress=None, reference=None):
        return self.encode_voxels(prepared, progress, reference=reference)[0]

    def decode(self, header, sections, progress=None, reference=None):
        return self.decode_voxels(header, sections, progress, reference=reference)[0]

    @functools.cached_property
    def _scan_coder(self):
        return ScanCoder(self.load_network(), self.card.settings.get("residuals") == "rounding")

    def encode_voxels(self, prepared, progress=None, max_block_points=None, reference=None):
        """As GeometryCodec's; ``reference``: the sweep before's (an Encoded's), for models
        that predict frames (:attr:`predicts_frames`), else None."""
        grid, coord_dtype = prepared
        coords = grid.coords
        reference = reference if self.predicts_frames else None  # the protocol hands it to every codec
        origin = sensor_origin(grid.offset, grid.scale)
        sensor = sensors.estimate_sensor(coords, origin)
        if sensor is None:
            chosen, others = np.zeros(0, dtype=np.int64), np.arange(len(coords))
            sensor = sensors.Sensor(origin=origin, z0=np.zeros(0, np.int64), tan=np.zeros(0, np.int64), step=1)
            counts, start, truth = np.zeros(0, np.int64), np.zeros(0, np.int64), None
        else:
            chosen, others, counts, start, truth = sweep_truth(coords, sensor, self.quantum, self.keep_every)
        motion, previous = self.prediction(reference, grid.scale, sensor, counts, truth)
        writer = binary_writer(self.coder)
        io = FieldIo(writer=writer, integer=self.integer)
        scan = self._scan_coder.walk(io, counts, start, sensor, _fitted_skip(truth, counts),
                                     self.quantum, truth, self.keep_every, previous) if truth is not None else None
        flat = scan.flat if scan is not None else (1, 1 << 15, 0, 0)
        if progress:
            progress(len(chosen))
        sections = [_sensor_section(sensor, counts, start, flat, self.quantum, len(others),
                                    self._motion_fields(motion)), writer.finish()]
        rebuilt = [scan_coords(filled(smoothed(scan, self.quantum), self.keep_every), sensor)] \
            if scan is not None else []
        following = self._reference(rebuilt, sensor, grid.scale, motion)
        if len(others):
            other_sections, other_coords = self.code_others(grid, coords[others], coord_dtype, progress)
            sections += other_sections
            rebuilt.append(other_coords)
        encoded, coords = self.encoded(grid, coord_dtype, rebuilt, sections,
                                       _lidar_details(sensor, len(chosen), len(others), sections, motion))
        return dataclasses.replace(encoded, predicted=motion is not None, reference=following), coords

    @staticmethod
    def prediction(reference, scale, sensor, counts, truth):
        """The encoder's (motion, lidar_inter.RangeImage) of a sweep (its ``sensor``, points
        per laser ``counts`` and :func:`sweep_truth`, on a grid of ``scale``) predicted from
        ``reference``, or (None, None) where it cannot be."""
        if reference is None or not reference.usable or truth is None or reference.scale != scale:
            return None, None
        return lidar_inter.predictor(
            reference, lidar_inter.estimate_motion(reference, truth["relative"], scale), sensor,
            np.repeat(np.arange(len(counts)), counts), np.rint(truth["azimuth"]).astype(np.int64),
            np.rint(truth["rho"]).astype(np.int64))

    def _motion_fields(self, motion):
        """The sensor section's fields of the motion from the sweep before (None: the sweep
        is not predicted): none for models that do not predict frames."""
        if not self.predicts_frames:
            return []
        return [0] if motion is None else [1, motion.yaw, motion.pitch, motion.roll, *varint.signed(motion.shift)]

    def _reference(self, rebuilt, sensor, scale, motion):
        """What the next sweep may be predicted from (models that predict frames), else None."""
        if not self.predicts_frames:
            return None
        points = rebuilt[0] - np.asarray(sensor.origin, dtype=np.int64) if rebuilt else np.zeros((0, 3), np.int64)
        return lidar_inter.Reference(points, scale, motion or lidar_inter.Motion())

    def decode_voxels(self, header, sections, progress=None, reference=None):
        frame = self._frame(header)
        if len(sections) < 2:
            raise BitstreamError("LiDAR stream has too few sections")
        sensor, counts, start, flat, quantum, other_count, motion = _read_sensor_section(
            sections[0], self.predicts_frames)
        if quantum != self.quantum:
            raise BitstreamError(f"LiDAR stream sends units of {quantum} voxels, its model {self.card.model_id} "
                                 f"units of {self.quantum}")
        if int(np.sum(counts)) + other_count > frame["input_points"]:
            raise BitstreamError("LiDAR stream's laser table holds more points than its input had")
        previous = None
        if motion is not None:
            if reference is None:
                raise BitstreamError("this LiDAR frame is predicted from the sweep before it, which was not decoded")
            previous = lidar_inter.RangeImage(lidar_inter.moved(reference.points, motion), sensor)
        reader = binary_reader(self.coder, sections[1])
        rebuilt = []
        if len(counts):
            io = FieldIo(reader=reader, integer=self.integer)
            scan = self._scan_coder.walk(io, counts, start, sensor, flat, quantum,
                                         skip_unit=self.keep_every, previous=previous)
            rebuilt.append(scan_coords(filled(smoothed(scan, quantum), self.keep_every), sensor))
        reader.finish()
        if other_count:
            rebuilt.append(self.decode_others(sections[2:], other_count, progress))
        elif len(sections) != 2:
            raise BitstreamError("LiDAR stream has sections its header does not account for")
        if progress:
            progress(int(np.sum(counts)) + other_count)
        following = self._reference(rebuilt[:1] if len(counts) else [], sensor, frame["scale"], motion)
        decoded, coords = self.decoded(frame, rebuilt, _lidar_details(sensor, int(np.sum(counts)), other_count,
                                                                      sections, motion))
        return dataclasses.replace(decoded, predicted=motion is not None, reference=following), coords


def _lidar_details(sensor, scanned, others, sections, motion=None):
    details = {}
    if sensor.lasers:
        details["sensor"] = (f"spinning LiDAR estimated from the points: {sensor.lasers} lasers, "
                             f"{round(sensors.ANGLE_UNITS / sensor.step)} azimuth steps per turn")
    else:
        details["sensor"] = "none found: every point coded by the dense model"
    details["points coded by the sensor"] = scanned
    details["other points"] = others
    details["sensor bytes"] = len(sections[0])
    details["scan bytes"] = len(sections[1])
    details["other bytes"] = sum(map(len, sections[2:]))
    if motion is not None:
        degrees = [round(360 * ((angle + sensors.ANGLE_UNITS // 2) % sensors.ANGLE_UNITS - sensors.ANGLE_UNITS // 2)
                         / sensors.ANGLE_UNITS, 3) for angle in (motion.yaw, motion.pitch, motion.roll)]
        details["predicted from the sweep before"] = (f"sensor turned {degrees[0]} degrees (pitch {degrees[1]}, roll "
                                                      f"{degrees[2]}), moved {list(motion.shift)} voxels")
    return details


def _fitted_skip(truth, counts):
    """The stream-wide parameters of the skips (their usual value, its frequency of 2^16
    (where the adaptive contexts start), the log2 scale x16 of the others' logistic) and of
    the x/y residuals (left to the walk: None)."""
    if truth is None:
        skips = np.zeros(0, dtype=np.int64)
    else:  # a laser's first return has no skip
        skips = truth["skip"][~first_of_runs(counts)]
    if not len(skips):
        return 1, 1 << 15, 0, None
    mode = int(np.bincount(skips).argmax())
    frequency = int(np.clip(round(np.mean(skips == mode) * 65536), 1, 65535))
    others = skips[skips != mode]
    return mode, frequency, best_log_scale(others, 16 * mode) if len(others) else 0, None


SENSOR_SECTION_LIMIT = 1 << 16  # bytes a laser table of MAX_LASERS inflates to, at most


def _sensor_section(sensor, counts, start, flat, quantum, others, motion_fields=()):
    """The sensor, the stream-wide parameters and the laser table: each laser's cone,
    return count and first azimuth, as differences from the previous laser's (neighbours
    are alike), then (models that predict frames) the motion from the sweep before,
    deflated."""
    values = [sensor.lasers, sensor.step, quantum, *varint.signed(sensor.origin), *varint.signed(sensor.motion),
              sensor.seam % sensors.ANGLE_UNITS, *varint.signed(flat), others]
    table = np.stack([sensor.z0, sensor.tan, counts, start], axis=1).astype(np.int64)
    values += varint.signed(np.diff(table, axis=0, prepend=0).T.reshape(-1))
    return zlib.compress(varint.encode(values + list(motion_fields)), 9)


def _read_sensor_section(section, with_motion=False):
    section = bitstream.inflated(section, SENSOR_SECTION_LIMIT, "LiDAR sensor section")
    (lasers, step, quantum), pos = varint.decode(section, 3)
    head, pos = varint.decode(section, 11, pos)
    origin, motion, seam = tuple(varint.unsigned(head[:3])), tuple(varint.unsigned(head[3:5])), head[5]
    flat, others = tuple(varint.unsigned(head[6:10])), head[10]
    table, pos = varint.decode(section, 4 * min(lasers, sensors.MAX_LASERS), pos)
    table = varint.unsigned(table)
    values = [*origin, *motion, *table]
    since = None  # the motion from the sweep before, for a predicted frame
    if with_motion:
        (predicted,), pos = varint.decode(section, 1, pos)
        if predicted == 1 and lasers:
            fields, pos = varint.decode(section, 6, pos)
            angles, shift = fields[:3], tuple(varint.unsigned(fields[3:]))
            if any(angle >= sensors.ANGLE_UNITS for angle in angles) or any(abs(v) >= 1 << 30 for v in shift):
                raise BitstreamError("LiDAR sensor section is corrupted")
            since = lidar_inter.Motion(*angles, shift)
        elif predicted:
            raise BitstreamError("LiDAR sensor section is corrupted")
    if (lasers > sensors.MAX_LASERS or not 1 <= step <= sensors.ANGLE_UNITS or not 1 <= quantum < 1 << 20
            or seam >= sensors.ANGLE_UNITS or not 0 <= flat[0] < 1 << 20 or not 1 <= flat[1] < 1 << 16
            or any(abs(v) >= 1 << 12 for v in flat[2:]) or any(abs(v) >= 1 << 40 for v in values)
            or pos != len(section)):
        raise BitstreamError("LiDAR sensor section is corrupted")
    table = np.cumsum(np.array(table, dtype=np.int64).reshape(4, lasers), axis=1)
    z0, tan, counts, start = table
    if (counts < 0).any():
        raise BitstreamError("LiDAR sensor section is corrupted")
    sensor = sensors.Sensor(origin=origin, z0=z0, tan=tan, step=step, motion=motion, seam=seam)
    return sensor, counts, start, flat, quantum, others, since
