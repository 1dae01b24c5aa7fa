"""User-facing errors: each message names the file or value at fault and says what to do."""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigMismatchError",
    "DataError",
    "DivergenceError",
    "LandscapeError",
    "NonFiniteResultError",
    "RegistryError",
    "SymlinkError",
]


class LandscapeError(Exception):
    """Base class for errors the command line reports without a traceback."""


class RegistryError(LandscapeError, KeyError):
    """An unknown name was looked up in a registry (models, data sets, methods, ...)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointError(LandscapeError):
    """A checkpoint file is missing, corrupt, truncated or does not fit the model."""


class ConfigMismatchError(LandscapeError):
    """A run directory was made with other settings than the ones asked for."""


class DivergenceError(LandscapeError):
    """Training produced a non-finite loss."""


class DataError(LandscapeError, ValueError):
    """Data passed to an analysis is not a tensor pair or an iterable of pairs, or is empty."""


class NonFiniteResultError(LandscapeError):
    """A computed result holds NaN or infinity: it is not written as finished."""


class SymlinkError(LandscapeError):
    """An entry the toolkit would write through is a symbolic link (or a hard link, or not a
    regular file): writing would change a file outside the run directory."""
