"""Atomic file output: write to a temporary file in the same folder, then rename."""

import contextlib
import glob
import hashlib
import os
import tempfile


@contextlib.contextmanager
def atomic_output(path, mode="wb"):
    """Yield a file object; on success it replaces ``path``, on any error nothing is left behind."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _temporary_prefix(path):
    """Named after the output (a digest: no other output's prefix extends it, and a long
    name stays short)."""
    return f".omnicodec-{hashlib.sha256(os.path.basename(path).encode()).hexdigest()[:16]}-"


def remove_leftovers(path):
    """Remove the temporary files a writer of ``path`` killed mid-write left beside it (a
    process that is killed cannot clean up after itself); for batch retries."""
    folder = os.path.dirname(os.path.abspath(path))
    for leftover in glob.glob(os.path.join(glob.escape(folder), glob.escape(_temporary_prefix(path)) + "*.tmp")):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leftover)


def write_bytes_atomic(path, data):
    with atomic_output(path) as handle:
        handle.write(data)


def _default_mode():
    """The mode a plain open() would give a new file (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
