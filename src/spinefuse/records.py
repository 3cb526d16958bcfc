"""The base of every pipeline record: frozen pydantic models that round-trip through JSON."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spinefuse.errors import QUOTE_LIMIT, quoted

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
