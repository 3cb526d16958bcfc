"""The base of every pipeline record: frozen pydantic models that round-trip through JSON."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spinefuse.errors import QUOTE_LIMIT, OutputFolderError, quoted

Vec3 = tuple[float, float, float]
"""A point or direction in the world frame (RAS, mm)."""

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class Record(BaseModel):
    """A frozen, strictly validated record that can be written to and read back from JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    def to_json(self, indent: int | None = 2) -> str:
        """The record as JSON text."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Read a record back from JSON text."""
        return cls.model_validate_json(text)

    def save(self, path: str | Path) -> Path:
        """Write the record as JSON to ``path`` atomically (temporary name, then rename)."""
        return write_atomic(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a record from a JSON file."""
        return cls.from_json(Path(path).read_bytes())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def apply_umask(path: Path) -> None:
    """Give a file or folder made by :mod:`tempfile` (owner-only) the usual permissions."""
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~_umask())


def write_atomic(path: Path, text: str | bytes) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder, so no reader ever
    sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        apply_umask(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


MIN_FREE_BYTES = 200 * 1024 * 1024
"""Free space an output folder needs before a run starts (a run writes tens of megabytes)."""


def check_output_folder(path: str | Path, min_free_bytes: int = MIN_FREE_BYTES) -> Path:
    """Make sure ``path`` can take a run's output before any work starts; returns it.

    The folder is created when missing. An :class:`OutputFolderError` says what to do when the
    path is a file, lies under a file, cannot be written (read-only, no permission) or its disk
    has less than ``min_free_bytes`` free."""
    path = Path(path)
    try:
        for parent in (path, *path.parents):
            if parent.exists() and not parent.is_dir():
                where = "is a file" if parent == path else f"lies under {parent}, which is a file"
                raise OutputFolderError(
                    f"--out {path}: {where}, not a folder; give a folder (it is created if missing)"
                )
            if parent.is_dir():
                break
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".spinefuse-write-test.", dir=path)
        try:
            os.write(fd, b"spinefuse")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OutputFolderError:
        raise
    except OSError as err:
        raise OutputFolderError(f"--out {path}: {_why_not_writable(err)}") from None
    free = shutil.disk_usage(path).free
    if free < min_free_bytes:
        raise OutputFolderError(
            f"--out {path}: only {free / 2**20:.0f} MiB free on its disk, a run needs at least "
            f"{min_free_bytes / 2**20:.0f} MiB; free some space or choose another disk"
        )
    return path


def _why_not_writable(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "the disk is full; free some space or choose another disk"
    if err.errno == errno.EROFS:
        return "on a read-only file system; choose a folder you can write to"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "no permission to write here; choose a folder you can write to"
    if err.errno == errno.ELOOP:
        return "a symbolic link loop; give a real folder"
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        return "a part of the path is a file, not a folder; give a folder"
    return f"cannot be written ({err.strerror or err}); choose another folder"


def describe_validation_error(err: ValidationError, source: str, what: str) -> str:
    """A pydantic error as lines naming each field, its value and what is allowed."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        loc = loc.replace("schema_", "schema")
        shown = "missing" if e["type"] == "missing" else f"= {quoted(e.get('input'))}"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc[:QUOTE_LIMIT]} {shown}: {msg[:QUOTE_LIMIT]}")
    return f"{source}: invalid {what}\n" + "\n".join(lines)
