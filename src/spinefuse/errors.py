"""The error hierarchy: every bad input stops with a :class:`SpinefuseError` subclass.

Messages say what was wrong, where (file, field, level) and what to do. Where a built-in
exception fits, the subclass also derives from it so callers can catch either.
"""

from __future__ import annotations

QUOTE_LIMIT = 200
"""The most characters of a user's value an error message quotes."""


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)``, cut to ``limit`` characters (with the full length said) so that a huge
    value in a bad file never floods a message or a log."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


class SpinefuseError(Exception):
    """Base class of every error spinefuse raises on bad input or an impossible request."""


class CaseError(SpinefuseError, ValueError):
    """A case file or record is invalid (names the field, the value and what is allowed)."""


class ImagingError(SpinefuseError, ValueError):
    """An image (DICOM series, NIfTI) cannot be read or is inconsistent."""


class LabelMapError(SpinefuseError, ValueError):
    """A label map is on the wrong grid, uses unknown IDs or lacks a required level."""


class LevelError(SpinefuseError, KeyError):
    """A vertebra or segment name is unknown or missing from the geometry."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class LevelCutError(LevelError):
    """A level to operate on is cut by the edge of the image: nothing is planned on it."""


class GeometryError(SpinefuseError, ValueError):
    """A geometry is impossible (negative size, non-unit normal, levels out of order)."""


class ParameterError(SpinefuseError, ValueError):
    """A model parameter is outside its physical or validated range."""


class ConvergenceError(SpinefuseError, RuntimeError):
    """A solver did not converge; names the case (spine, load case, step) that failed."""


class MissingDependencyError(SpinefuseError, ImportError):
    """An optional back-end is not installed; says which extra to install."""


class OutputFolderError(SpinefuseError, OSError):
    """An output folder cannot be used: it is a file, lies under a file, is read-only or full."""

    def __str__(self) -> str:  # OSError would show its args as a tuple
        return str(self.args[0]) if self.args else ""


class SchedulerError(SpinefuseError, ConnectionError):
    """A Dask scheduler address is malformed or no scheduler answers there."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
