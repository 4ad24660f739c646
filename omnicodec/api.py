"""Public API: data <-> bytes, and file helpers. The one place that wires
reader -> codec -> container (and back); the CLI, batch, eval, benchmarks and tests all go
through it, and it reaches codecs only through the model choice (omnicodec.zoo), so it
holds no per-kind branches.
"""

import contextlib
import dataclasses
import io
import mmap
import os
import time

import numpy as np

from omnicodec import bitstream, runtime, zoo
from omnicodec.codec import checked_options
from omnicodec.data import COLOUR_ATTRIBUTES, KIND_NAMES, PointCloud, data_kind, without_attributes
from omnicodec.errors import BitstreamError, InputError, OmnicodecError
from omnicodec.io import atomic_output, file_kind, read_data, write_bytes_atomic, write_data


@dataclasses.dataclass
class Report:
    """What a compression or decompression did. ``units`` are the input's points (or
    pixels, as ``unit`` says), which ``bits_per_unit`` is counted per; ``details`` holds
    the codec's own figures by their report names; ``not_coded`` the attributes the
    codec left out."""

    codec: str
    model: str
    bytes: int
    seconds: float
    units: int
    unit: str
    details: dict
    not_coded: tuple = ()

    @property
    def bits_per_unit(self):
        return 8 * self.bytes / max(self.units, 1)


def _stream(codec, encoded):
    header = bitstream.Header(codec=zoo.codec_number(codec.card.codec), model_id=codec.card.model_id,
                              weights_hash=codec.weights_hash, coder=codec.coder,
                              checksum=encoded.checksum, codec_header=encoded.header)
    return bitstream.pack(header, encoded.sections)


def select_codec(kind, model=None, rate=None, coder=None, attributes=(), options=(), data=None):
    """The codec of ``model`` (or of the data kind's model at ``rate``, or its default, the
    model made for ``data``'s content first) with
    ``coder`` (default: the best this install has); wrapped by the model of per-point
    attributes that codes some of ``attributes`` (the data's) or takes some of ``options``
    (names of the options given), if there is one."""
    runtime.configure()
    from omnicodec.entropy import check_coder, default_coder

    coder = coder or default_coder()
    check_coder(coder, InputError)
    return zoo.select(kind, model, rate, coder, attributes, options, data)


def prepare(data, *, model=None, rate=None, coder=None, quality=None, **options):
    """(codec as :func:`select_codec` picks it, the data as that codec codes it);
    ``quality`` picks a coloured cloud's geometry rate and colour rate together
    (:func:`quality_rates`)."""
    if quality is not None:
        rate, options = quality_rates(data, quality, model, rate, options)
    given = [name for name, value in options.items() if value is not None and value is not False]
    codec = select_codec(data_kind(data), model, rate, coder, getattr(data, "attributes", {}), given, data)
    return codec, codec.prepare(data, **checked_options(codec, options))


_NOT_COLOURED = ("a quality sets the geometry and colour rates of a coloured point cloud, and this data is "
                 "not one: give a rate instead")


def quality_rates(data, quality, model=None, rate=None, options=None):
    """(geometry rate, options with the colour rate) of quality ``quality`` for ``data``
    (:func:`quality_pair`); a rate, colour rate or model besides it is an InputError."""
    options = dict(options or {})
    if model is not None or rate is not None or options.get("colour_rate") is not None:
        raise InputError("give a quality, or a rate, colour rate or model, not both")
    attributes = tuple(getattr(data, "attributes", {}) or {})
    if data_kind(data) != "pointcloud" or not set(attributes) & set(COLOUR_ATTRIBUTES):
        raise InputError(_NOT_COLOURED)
    rate, options["colour_rate"] = quality_pair(quality, zoo.attribute_card("pointcloud", attributes))
    return rate, options


def quality_pair(quality, card=None):
    """(geometry rate or None for lossless, colour rate) of quality ``quality``: the colour
    model's card (``card``, default: the point-cloud colour model's) lists, fewest bits
    first, the pairs along the best curve of total bits against colour quality."""
    if card is None:
        card = zoo.attribute_card("pointcloud", ("rgb",))
    qualities = card.settings.get("qualities") if card is not None else None
    if not qualities:
        raise InputError(_NOT_COLOURED)
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) \
            or not 1 <= quality <= len(qualities):
        raise InputError(f"quality {quality!r} is out of range: qualities are the whole numbers 1 to "
                         f"{len(qualities)}")
    geometry_rate, colour_rate = qualities[int(quality) - 1]
    return geometry_rate or None, colour_rate


def encode(codec, prepared, rate=None, progress=None, reference=None):
    """(bytes, :class:`~omnicodec.codec.Encoded`) of data :func:`prepare` made; ``rate``
    goes to codecs whose rates are an option of theirs; ``reference``: the frame before's
    (an Encoded's), for codecs that predict a sequence's frames."""
    try:
        encoded = codec.encode(prepared, rate=rate if codec.takes_rate else None, progress=progress,
                               reference=reference)
    except OmnicodecError:
        raise
    except ValueError as exc:  # the data do not suit the model (e.g. too small for a rate)
        raise InputError(f"cannot code this data with model {codec.card.model_id}: {exc}") from None
    return _stream(codec, encoded), encoded


def compress(data, *, model=None, rate=None, coder=None, progress=None, colours=None, **options):
    """Data -> bytes. ``data``: a :class:`~omnicodec.data.PointCloud` or an (N, 3) array of
    positions (coded lossless on the voxel grid by default; integer grids as they are,
    other input voxelized with ``voxel_size`` or ``bits``, by default on the coordinates' own
    precision or a grid that merges almost no points; or
    lossy at ``rate`` 1..13), or a :class:`~omnicodec.io.lightfield.LightField` (``rate``
    1..4, ``tile``). ``model`` picks a model by id (``omnicodec models``). A cloud's colours
    (its ``rgb`` attribute, or ``colours``: (N, 3) uint8/uint16, or floats in [0, 1]) are
    coded too: lossless, or lossy at ``colour_rate`` 1..; ``keep_duplicates`` keeps every
    input point with its colour."""
    if colours is not None:
        data = PointCloud(np.asarray(getattr(data, "positions", data)),
                          {**getattr(data, "attributes", {}), "rgb": colours})
    codec, prepared = prepare(data, model=model, rate=rate, coder=coder, **options)
    return encode(codec, prepared, rate, progress)[0]


def compress_to_bpp(data, target_bpp, *, coder=None, progress=None, **options):
    """Code at the highest rate whose stream stays within ``target_bpp`` bits per input
    point (or pixel), the lowest rate if none does: a bisection over the data kind's
    rates, each candidate one encode. Returns (bytes, Encoded, codec)."""
    if not target_bpp > 0:
        raise InputError(f"target bits per point must be positive, not {target_bpp}")
    kind = data_kind(data)
    rates = zoo.rates(kind, data)
    low, high, best, fewest = 0, len(rates) - 1, None, None
    prepared = None
    while low <= high:
        middle = (low + high) // 2
        codec = select_codec(kind, rate=rates[middle], coder=coder, data=data)
        if prepared is None:  # the codecs of one data kind share what prepare makes
            prepared = codec.prepare(data, **checked_options(codec, options))
        try:
            data_bytes, encoded = encode(codec, prepared, rates[middle], progress)
        except InputError:  # a cloud too small for this rate's depth: try higher rates
            low = middle + 1
            continue
        result = (data_bytes, encoded, codec)
        if 8 * len(data_bytes) <= target_bpp * codec.input_units(encoded.header):
            best, low = result, middle + 1
        else:
            high, fewest = middle - 1, result
    if best is None and fewest is None:
        raise InputError("the data is too small for every lossy rate: code it losslessly")
    return best or fewest


def decode(data, progress=None, kind=None):
    """Bytes -> (container Header, :class:`~omnicodec.codec.Decoded`), verifying the
    decoded data against the stream's checksum. With ``kind`` ("pointcloud" or
    "lightfield"), a stream of another kind of data is refused before decoding."""
    runtime.configure()
    if bitstream.is_sequence(data):
        raise InputError("this is a sequence of frames: decompress it to a folder (api.Sequence decodes its frames)")
    header, sections = bitstream.unpack(data)
    codec = zoo.codec_of_stream(header)
    if kind is not None and codec.data_kind != kind:
        raise InputError(f"this bitstream holds a {KIND_NAMES[codec.data_kind]}, not a {KIND_NAMES[kind]}")
    try:
        return header, _checked_decode(codec, header, sections, progress)
    except BitstreamError as exc:
        if zoo.portable(header):
            raise
        # The container's own checks passed, so the likeliest cause is the machine.
        raise BitstreamError(f"{exc} (its model computes in float, so the stream decodes only where the "
                             "machine computes as the writer's did)") from None


def _checked_decode(codec, header, sections, progress, reference=None):
    """The codec's decoding of a stream (``reference``: the frame before's, for codecs
    that predict a sequence's frames), its errors made BitstreamErrors and its checksum
    checked."""
    try:
        decoded = codec.decode(header.codec_header, sections, progress, reference=reference)
    except OmnicodecError:
        raise
    except (ValueError, RuntimeError, IndexError, OverflowError) as exc:  # values no encoder writes
        if isinstance(exc, RuntimeError) and "alloc" in str(exc).lower():  # out of memory
            raise MemoryError(str(exc).splitlines()[0]) from None
        raise BitstreamError(f"bitstream does not fit its model: {exc}") from None
    if decoded.checksum != header.checksum:
        raise BitstreamError("decoded data fail their checksum: the bitstream is damaged or "
                             "this machine computed different probabilities than the encoder's")
    return decoded


def decompress(data, *, progress=None):
    """Bytes -> the decoded data: a PointCloud (positions in the input's frame and
    coordinate type, unique voxels) or a LightField (views named as the input's were)."""
    return decode(data, progress)[1].data


def info(data):
    """The container header of a bitstream, after checking its integrity."""
    return bitstream.unpack(data)[0]


def describe(header):
    """The fields of a stream's codec header, by name (its codec must be known here, its
    model need not be)."""
    return zoo.codec_class(zoo.codec_id(header.codec)).describe(header.codec_header)


def _checked_bitstream_path(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, not a bitstream")
    return path


def read_bitstream(path):
    with open(_checked_bitstream_path(path), "rb") as handle:
        return handle.read()


def compress_file(src, dst, *, model=None, rate=None, target_bpp=None, progress=None, grid=None,
                  dataset=None, kind=None, **options):
    """Compress a file (a PLY, PCD or KITTI .bin cloud; a light field: PNG folder, HDF5 or
    .npy with ``grid`` and ``dataset`` as :func:`~omnicodec.io.read_data` takes them;
    ``kind`` of data, else the path's) to ``dst``, written atomically, with ``model``, at
    ``rate``, or at the rate that best fits ``target_bpp``; returns a :class:`Report`."""
    start = time.perf_counter()
    data = _read_input(src, kind or file_kind(src), options, grid=grid, dataset=dataset)
    if target_bpp is not None:
        if model is not None or rate is not None or options.get("quality") is not None:
            raise InputError("give a target bits per point, a rate, a quality or a model, not several")
        stream, encoded, codec = compress_to_bpp(data, target_bpp, progress=progress, **options)
    else:
        codec, prepared = prepare(data, model=model, rate=rate, **options)
        stream, encoded = encode(codec, prepared, rate, progress)
    write_bytes_atomic(dst, stream)
    return _encode_report(codec, data, stream, encoded, start)


def _read_input(src, kind, options, grid=None, dataset=None):
    """The data of file ``src``, less what ``options``' no_colour and no_attributes (taken
    out of them) drop."""
    data = read_data(src, kind, grid=grid, dataset=dataset)
    if options.pop("no_colour", False):
        data = without_attributes(data, COLOUR_ATTRIBUTES)
    if options.pop("no_attributes", False):
        data = without_attributes(data, tuple(getattr(data, "attributes", {})))
    return data


def _encode_report(codec, data, stream, encoded, start):
    return Report(codec=codec.card.codec, model=codec.card.model_id, bytes=len(stream),
                  seconds=time.perf_counter() - start, units=codec.input_units(encoded.header),
                  unit=codec.unit, details=encoded.details,
                  not_coded=tuple(name for name in getattr(data, "attributes", {})
                                  if name not in codec.coded_attributes))


def decompress_file(src, dst, *, progress=None, kind=None):
    """Decompress ``src`` to ``dst`` (a cloud as PLY, PCD or KITTI .bin, a light field, as
    ``dst``'s extension says, else as the input was stored), written atomically; returns a
    :class:`Report`.
    With ``kind``, a stream of another kind of data is refused before decoding."""
    start = time.perf_counter()
    data = read_bitstream(src)
    header, decoded = decode(data, progress, kind)
    write_data(dst, decoded.data)
    return _decode_report(header, decoded, len(data), start)


def _decode_report(header, decoded, size, start):
    """The :class:`Report` of decoding a stream of ``size`` bytes begun at ``start``."""
    codec = zoo.codec_class(zoo.codec_id(header.codec))
    return Report(codec=zoo.codec_id(header.codec), model=header.model_id, bytes=size,
                  seconds=time.perf_counter() - start, units=codec.input_units(header.codec_header),
                  unit=codec.unit, details=decoded.details)


RANDOM_ACCESS = 10  # a sequence's frames between two that decode alone, by default


class SequenceEncoder:
    """Codes point clouds (the sweeps of a drive, in order) one by one into one sequence
    stream written to the binary ``handle``, each as a frame of its own container. The
    first cloud picks the codec (``model``, ``rate``, ``options`` as :func:`prepare` takes
    them); every frame uses it. Where its model predicts frames (LiDAR sweeps), every
    ``random_access``-th frame decodes alone and the others are predicted from the frame
    before (only that frame's reference is held: memory does not grow with the sequence);
    1 makes every frame decode alone. Call :meth:`finish` after the last."""

    def __init__(self, handle, *, model=None, rate=None, coder=None, random_access=RANDOM_ACCESS, **options):
        if isinstance(random_access, bool) or not isinstance(random_access, int) or random_access < 1:
            raise InputError(f"random access (--random-access) takes a whole number of frames, 1 or more, not "
                             f"{random_access}")
        self.writer = bitstream.SequenceWriter(handle)
        self.model, self.rate, self.coder, self.options = model, rate, coder, options
        self.random_access = random_access
        self.codec = self.reference = None

    def add(self, data, name="", progress=None):
        """Code one cloud as the next frame (``name``: the file name it decodes to, unique
        in the sequence); returns its :class:`Report`."""
        start = time.perf_counter()
        problem = self.writer.name_problem(name)  # before the work of coding the frame
        if problem:
            raise InputError(problem)
        if data_kind(data) != "pointcloud":
            raise InputError("a sequence holds point clouds")
        if self.codec is None:
            if self.options.get("quality") is not None:  # one pair of rates for every frame
                options = dict(self.options)
                self.rate, self.options = quality_rates(data, options.pop("quality"), self.model, self.rate, options)
            self.codec, prepared = prepare(data, model=self.model, rate=self.rate, coder=self.coder, **self.options)
        else:
            prepared = self.codec.prepare(data, **checked_options(self.codec, self.options))
        reference = self.reference if self.writer.frames % self.random_access else None
        stream, encoded = encode(self.codec, prepared, self.rate, progress, reference)
        self.writer.add(stream, name, predicted=encoded.predicted)
        self.reference = encoded.reference
        return _encode_report(self.codec, data, stream, encoded, start)

    def finish(self):
        self.writer.finish()


def compress_sequence(clouds, *, names=None, **options):
    """Point clouds (any iterable, read one at a time) -> the bytes of one sequence
    stream (``names``: each frame's file name); ``options`` as :class:`SequenceEncoder`
    takes them."""
    buffer = io.BytesIO()
    encoder = SequenceEncoder(buffer, **options)
    names = iter(names or ())
    for cloud in clouds:
        encoder.add(cloud, next(names, ""))
    encoder.finish()
    return buffer.getvalue()


def compress_sequence_files(sources, dst, *, progress=None, on_frame=None, **options):
    """Compress point-cloud files (PLY, PCD, KITTI .bin), in the order given, to one
    sequence stream ``dst``, written atomically, reading one file at a time; each frame
    keeps its file's name. ``on_frame(report)`` is called after each; returns the reports."""
    sources = [os.fspath(source) for source in sources]
    if not sources:
        raise InputError("a sequence needs at least one point-cloud file")
    names = [os.path.basename(source) for source in sources]
    if len(set(names)) != len(names):
        raise InputError("a sequence's files must have different names (each frame decodes to its file's name)")
    dropping = {flag: options.pop(flag, False) for flag in ("no_colour", "no_attributes")}
    reports = []
    with atomic_output(dst) as handle:
        encoder = SequenceEncoder(handle, **options)
        for source, name in zip(sources, names):
            data = _read_input(source, "pointcloud", dict(dropping))
            try:
                reports.append(encoder.add(data, name, progress))
            except OmnicodecError as exc:
                raise type(exc)(f"{source}: {exc}") from None
            if on_frame:
                on_frame(reports[-1])
        encoder.finish()
    return reports


class Sequence:
    """A sequence stream opened for decoding: ``frames`` (:class:`~omnicodec.bitstream.Frame`,
    the whole ones), ``damage`` (why they stop early, else None); frames decode lazily."""

    def __init__(self, data):
        runtime.configure()
        self.reader = bitstream.SequenceReader(data)
        self.frames, self.damage = self.reader.frames, self.reader.damage

    def __len__(self):
        return len(self.frames)

    def header(self, frame):
        """The container header of ``frame``, after checking that frame's integrity."""
        return bitstream.unpack(self.reader.stream(frame))[0]

    def decode(self, start=0, stop=None, progress=None):
        """Yield (Frame, container Header, :class:`~omnicodec.codec.Decoded`) for frames
        ``start`` to ``stop`` (exclusive; default: to the last); raises BitstreamError
        where the stream is damaged, after the frames before the damage."""
        total = len(self.frames)
        to_the_end = stop is None or stop > total
        if start < 0 or (stop is not None and stop <= start) or (start >= total and not self.damage):
            raise InputError(f"frames {start}:{'' if stop is None else stop} are not a range of this sequence's "
                             f"{total} frames")
        first = start  # predicted frames need the ones before, from the random-access frame before
        while 0 < first < total and not self.frames[first].random_access:
            first -= 1
        reference = None
        for frame in self.frames[first:stop]:
            try:
                header, sections = bitstream.unpack(self.reader.stream(frame))
                codec = zoo.codec_of_stream(header)
                if not frame.random_access and not codec.predicts_frames:
                    raise BitstreamError(f"it is predicted from the frame before, which model "
                                         f"{header.model_id} does not do")
                decoded = _checked_decode(codec, header, sections, progress,
                                          None if frame.random_access else reference)
                if not frame.random_access and not decoded.predicted:
                    raise BitstreamError("it is labelled as predicted from the frame before, but its stream is not "
                                         "(the sequence is corrupted)")
            except BitstreamError as exc:
                raise BitstreamError(f"frame {frame.index} ({frame.file_name}): {exc}") from None
            reference = decoded.reference
            if frame.index >= start:
                yield frame, header, decoded
        if self.damage and to_the_end:
            raise BitstreamError(self.damage)


@contextlib.contextmanager
def open_sequence(path):
    """A :class:`Sequence` of the file ``path``, mapped, not read: only the frames decoded
    are read from disk."""
    with open(_checked_bitstream_path(path), "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise BitstreamError("not an omnicodec sequence (empty file)")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield Sequence(data)


def decompress_sequence_file(src, dst, *, start=0, stop=None, progress=None, on_frame=None):
    """Decompress frames ``start`` to ``stop`` of the sequence ``src`` into the folder
    ``dst`` (made if missing), each as its file name says, written atomically;
    ``on_frame(frame, report)`` after each. Returns the reports; where the stream is
    damaged, the frames before the damage are written and then BitstreamError is raised."""
    reports = []
    with open_sequence(src) as sequence:
        os.makedirs(dst, exist_ok=True)
        clock = time.perf_counter()
        for frame, header, decoded in sequence.decode(start, stop, progress):
            write_data(os.path.join(dst, frame.file_name), decoded.data)
            reports.append(_decode_report(header, decoded, frame.length, clock))
            clock = time.perf_counter()
            if on_frame:
                on_frame(frame, reports[-1])
    return reports
