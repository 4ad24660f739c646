"""Batch runs: compress every point-cloud file (.ply, .pcd, KITTI .bin) of a folder (or
decompress every .ocz, to .ply) into another
folder, in worker processes, skipping outputs that are already complete and newer than
their input. A bad file is recorded as a failure; the others still run."""

import concurrent.futures
import contextlib
from concurrent.futures.process import BrokenProcessPool
import dataclasses
import functools
import multiprocessing
import os
import time

from omnicodec.errors import InputError, OmnicodecError
from omnicodec.io import POINT_CLOUD_SUFFIXES
from omnicodec.io.atomic import remove_leftovers

# The inputs' suffixes and the outputs' suffix of each kind of run.
SUFFIXES = {"compress": (POINT_CLOUD_SUFFIXES, ".ocz"), "decompress": ((".ocz",), ".ply")}


@dataclasses.dataclass
class Outcome:
    source: str
    output: str
    status: str  # "done", "skipped" (output up to date) or "failed"
    points: int = 0
    bytes: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def bits_per_point(self):
        return 8 * self.bytes / self.points if self.points else 0.0


def plan(kind, source_dir, output_dir):
    """(source, output) pairs for every input file under ``source_dir``, mirrored below
    ``output_dir``, in sorted order."""
    if not os.path.isdir(source_dir):
        raise InputError(f"{source_dir}: no such folder")
    suffix_in, suffix_out = SUFFIXES[kind]
    pairs, sources = [], {}
    for folder, _, names in os.walk(source_dir):
        for name in names:
            if name.lower().endswith(suffix_in):
                relative = os.path.relpath(os.path.join(folder, name), source_dir)
                output = os.path.join(output_dir, os.path.splitext(relative)[0] + suffix_out)
                if output in sources:
                    raise InputError(f"{source_dir}: {sources[output]} and {relative} would both be written "
                                     f"to {output}")
                sources[output] = relative
                pairs.append((os.path.join(source_dir, relative), output))
    if not pairs:
        raise InputError(f"{source_dir}: no {' or '.join(suffix_in)} files")
    return sorted(pairs)


def check_writable(output_dir):
    """InputError unless the output folder can take files: it, or the nearest folder above
    it that exists (where it would be made), is a writable folder. Nothing is made here."""
    path = os.path.abspath(output_dir)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise InputError(f"{output_dir}: cannot make the output folder: {path} is a file")
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{output_dir}: cannot write in {path}")


def up_to_date(kind, source, output, options=None):
    """An output newer than its input that is complete: outputs are written atomically,
    so one that exists is whole; a bitstream is also checked against its CRC and must have
    been made with the model (or, for a target bpp, a lossy rate) and grid asked for."""
    if not os.path.exists(output) or os.path.getmtime(output) < os.path.getmtime(source):
        return False
    if kind == "compress":
        from omnicodec import api, catalogue, zoo
        from omnicodec.io import file_kind

        options = dict(options or {})
        try:
            header = api.info(api.read_bitstream(output))
            data_kind = file_kind(source)
            model, rate = options.pop("model", None), options.pop("rate", None)
            quality = options.pop("quality", None)
            if quality is not None:
                rate, options["colour_rate"] = api.quality_pair(quality)
            if options.pop("target_bpp", None) is not None:
                wanted = [card.model_id for card in catalogue.models().values()
                          if card.data_kind == data_kind and card.rates]
            else:
                wanted = [zoo.resolve(data_kind, model, rate).model_id]
            stream_codec = zoo.codec_class(zoo.codec_id(header.codec))
            used = {header.model_id, stream_codec.wrapped_model(header.codec_header)}
            return bool(used & set(wanted)) and stream_codec.made_with(header.codec_header, options)
        except OmnicodecError:
            return False
    return True


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
ATTEMPTS = 3  # tries at a file whose worker process died, before it is reported failed
CRASH_SWITCH = "OMNICODEC_TEST_CRASH"  # tests only: "NAME:MARKER", see _crash_for_test
_in_worker = False  # set in worker processes (never kill the caller's own process)


@contextlib.contextmanager
def _environment(values):
    """Set environment variables for the block (worker processes inherit them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def init_worker(threads, engine_name):
    """A worker process: its share of the cores, and the parent's sparse engine."""
    import torch

    from omnicodec.sparse import set_engine

    global _in_worker
    _in_worker = True
    torch.set_num_threads(threads)
    set_engine(engine_name)


def _crash_for_test(source):
    """Tests of the retries: with CRASH_SWITCH set to "NAME:MARKER", the first attempt at
    the file named NAME kills its worker process mid-file (MARKER, a path every worker
    sees, records that it happened); "NAME:" kills every attempt."""
    switch = os.environ.get(CRASH_SWITCH)
    if not switch or not _in_worker:
        return
    name, marker = switch.split(":", 1)
    if os.path.basename(source) == name and not (marker and os.path.exists(marker)):
        if marker:
            open(marker, "w").close()
        os.kill(os.getpid(), 9)


def _run_one(kind, source, output, options):
    """Code one file; never raises (a failure is recorded, the batch goes on). What every
    scheduler runs for each file."""
    from omnicodec import api

    start = time.perf_counter()
    try:
        os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
        remove_leftovers(output)  # of an earlier attempt whose worker was killed mid-write
        _crash_for_test(source)
        if kind == "compress":
            report = api.compress_file(source, output, **options)
        else:
            report = api.decompress_file(source, output)
    except Exception as exc:  # noqa: BLE001 - any failure is this file's, not the batch's
        message = str(exc) if isinstance(exc, OmnicodecError) else f"{type(exc).__name__}: {exc}"
        return Outcome(source, output, "failed", seconds=time.perf_counter() - start, error=message)
    return Outcome(source, output, "done", points=report.units, bytes=report.bytes,
                   seconds=report.seconds)


def died(source, output, attempts, why):
    return Outcome(source, output, "failed", error=f"worker process died on each of {attempts} attempts ({why})")


def run_in_process(kind, todo, options):
    """Scheduler: one file after another in this process; yields each outcome."""
    for source, output in todo:
        yield _run_one(kind, source, output, options)


def run_in_processes(kind, todo, options, jobs):
    """Scheduler: ``jobs`` worker processes on this machine, sharing its cores (each gets
    cores // jobs threads); yields outcomes as files finish. A worker that dies (killed,
    out of memory) breaks the pool and fails every file not done in it, whichever one
    killed it: those all run again in a new pool of ``jobs``; the ones that break that one
    too run alone, each in a pool of its own (so a death is that file's), until a file has
    died ATTEMPTS times in all, when it is reported failed."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    # The thread counts go through the environment too: MinkowskiEngine's OpenMP loops do
    # not follow torch.set_num_threads, and oversubscribed cores would undo the jobs.
    with _environment({name: str(threads) for name in THREAD_VARIABLES}):
        broken = list(todo)
        for _ in range(2):  # the first run, then the files of a broken pool together once
            again = []
            for source, output, outcome in _in_pool(kind, broken, options, jobs, threads):
                if outcome is None:
                    again.append((source, output))
                else:
                    yield outcome
            broken = again
            if not broken:
                return
        for source, output in broken:
            for _ in range(max(1, ATTEMPTS - 2)):
                (_, _, outcome), = _in_pool(kind, [(source, output)], options, 1, threads)
                if outcome is not None:
                    yield outcome
                    break
            else:
                yield died(source, output, 2 + max(1, ATTEMPTS - 2), "killed, or out of memory")


def _in_pool(kind, todo, options, jobs, threads):
    """(source, output, outcome or None where the worker died) of files coded by a new
    pool of ``jobs`` worker processes, as they finish."""
    from omnicodec.sparse import engine

    # spawn: forking a process whose torch thread pools already ran can deadlock.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=init_worker,
                                                initargs=(threads, engine().NAME)) as pool:
        futures = {pool.submit(_run_one, kind, source, output, options): (source, output)
                   for source, output in todo}
        for future in concurrent.futures.as_completed(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool:
                outcome = None
            yield (*futures[future], outcome)


def run(kind, pairs, jobs=1, force=False, options=None, on_done=None, scheduler=None):
    """Run the batch of :func:`plan`'s pairs; ``on_done(outcome)`` is called as each file
    finishes. Returns the outcomes in input order. Outputs that are up to date are skipped
    (unless ``force``); the others go to ``scheduler(kind, todo, options)``, a generator of
    outcomes (:func:`run_in_processes`, :func:`run_in_process`,
    :func:`omnicodec.cluster.run_on_ray`): by default ``jobs`` worker processes, one job in
    this process. Every scheduler runs :func:`_run_one` per file: only where differs."""
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, not {jobs}")
    options = options or {}
    outcomes = {}
    todo = []
    for source, output in pairs:
        if not force and up_to_date(kind, source, output, options):
            outcomes[source] = Outcome(source, output, "skipped")
            if on_done:
                on_done(outcomes[source])
        else:
            todo.append((source, output))
    if scheduler is None:
        scheduler = run_in_process if jobs == 1 else functools.partial(run_in_processes, jobs=jobs)
    if todo:
        for outcome in scheduler(kind, todo, options):
            outcomes[outcome.source] = outcome
            if on_done:
                on_done(outcome)
    return [outcomes[source] for source, _ in pairs]
