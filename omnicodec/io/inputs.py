"""What every point-cloud reader checks of its input path first."""

import os

from omnicodec.errors import InputError


def existing_file(path, what):
    """``path`` as a str; InputError if it does not exist or is a folder (``what``: the
    format, for the message)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, not a {what} file")
    return path


def file_bytes(path, what):
    """The contents of ``path``; InputError if it is missing, a folder or unreadable."""
    path = existing_file(path, what)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
