"""Silence what native libraries print straight to file descriptors (build chatter of
torchac's compiler, Open3D/Filament start-up lines): Python's sys.stdout cannot catch it."""

import contextlib
import os
import sys


@contextlib.contextmanager
def native_output_silenced(*fds):
    """Point the given file descriptors (default 1 and 2) at /dev/null for the block."""
    fds = fds or (1, 2)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in fds]
    try:
        with open(os.devnull, "w") as devnull:
            for fd in fds:
                os.dup2(devnull.fileno(), fd)
            yield
    finally:
        for fd, copy in zip(fds, saved):
            os.dup2(copy, fd)
            os.close(copy)
