"""Error classes. The CLI maps every OmnicodecError to a one-line message and exit code."""


class OmnicodecError(ValueError):
    """Base class of every error omnicodec reports to a user."""

    exit_code = 1


class InputError(OmnicodecError):
    """A file or array given to omnicodec cannot be used (missing, malformed, NaN, empty...)."""

    exit_code = 2


class BitstreamError(OmnicodecError):
    """A compressed file is truncated, corrupted, of another version or otherwise undecodable."""

    exit_code = 3


class ModelError(OmnicodecError):
    """A model id or its weights are unknown, missing or do not match the bitstream."""

    exit_code = 4
