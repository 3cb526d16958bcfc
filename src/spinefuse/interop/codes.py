"""The code tables of hospital integration, read from ``data/interop_codes.yaml``.

A :class:`Code` is one concept (scheme, code, meaning) with where it comes from; it renders as a
DICOM coded concept (Coding Scheme Designator) or a FHIR Coding (system URI). Levels, measurement
names, finding kinds, implants and complications map to codes here and nowhere else, so a site
that uses other terminology edits the data file only.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import Field

from spinefuse.conventions import parse_segment
from spinefuse.datafiles import load_yaml
from spinefuse.errors import SpinefuseError
from spinefuse.records import Record

DATA_FILE = "interop_codes.yaml"
_META = ("source", "certainty")


class CodeError(SpinefuseError, KeyError):
    """A name has no entry in the code tables (names the table and the fix)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Code(Record):
    """One coded concept and its provenance."""

    scheme: str = Field(description="SCT, DCM, LN, UCUM or local")
    code: str
    meaning: str
    broader: bool = Field(default=False, description="the nearest more general concept")
    source: str = ""
    certainty: Literal["verified", "unverified"] = "verified"

    @property
    def designator(self) -> str:
        """The DICOM Coding Scheme Designator."""
        return str(_tables()["systems"][self.scheme]["dicom"])

    @property
    def system(self) -> str:
        """The FHIR code system URI."""
        return str(_tables()["systems"][self.scheme]["fhir"])

    def fhir(self) -> dict[str, str]:
        """As a FHIR Coding (``system``, ``code``, ``display``)."""
        return {"system": self.system, "code": self.code, "display": self.meaning}


class Unit(Record):
    """A UCUM unit."""

    code: str
    meaning: str

    @property
    def system(self) -> str:
        return str(_tables()["systems"]["UCUM"]["fhir"])


@cache
def _tables() -> dict[str, Any]:
    data = load_yaml(DATA_FILE)
    if not isinstance(data, dict):
        raise CodeError(f"{DATA_FILE}: expected a mapping of tables")
    return data


def _entry(table: str, key: str, parent: dict[str, Any] | None = None) -> Code:
    tables = parent if parent is not None else _tables()
    entries = tables[table]
    if key in _META or key not in entries:
        known = sorted(k for k in entries if k not in _META)
        raise CodeError(
            f"{DATA_FILE}: no code for {key!r} in table {table!r} (have {known}); add it to "
            f"src/spinefuse/data/{DATA_FILE}"
        )
    value = dict(entries[key])
    for meta in _META:
        if meta not in value and meta in entries:
            value[meta] = entries[meta]
    return Code.model_validate(value)


def names(table: str) -> list[str]:
    """The keys of one top-level table (e.g. ``"measurements"``, ``"findings"``)."""
    return [k for k in _tables()[table] if k not in _META]


def unit(spinefuse_unit: str) -> Unit:
    """The UCUM unit of a spinefuse unit string (``"deg"``, ``"mm2"``, ``"HU"``, ``""``)."""
    units = _tables()["units"]
    if spinefuse_unit not in units or spinefuse_unit in _META:
        raise CodeError(
            f"{DATA_FILE}: unit {spinefuse_unit!r} has no UCUM code (have "
            f"{sorted(k for k in units if k not in _META)}); add it to the 'units' table"
        )
    return Unit.model_validate(units[spinefuse_unit])


def vertebra(name: str) -> Code:
    """The SNOMED CT concept of a vertebra (``"L4"``)."""
    if name in _tables()["vertebrae"]:
        return _entry("vertebrae", name)
    if name in _tables()["vertebrae_outside_cid"]:
        return _entry("vertebrae_outside_cid", name)
    raise CodeError(
        f"{DATA_FILE}: vertebra {name!r} has no code; spinefuse codes T10-L6 and S1 "
        "(add others to the 'vertebrae' table)"
    )


def segment_category() -> Code:
    """The DICOM SEG segment category of a vertebra (Anatomical Structure)."""
    return Code.model_validate(_tables()["segment_category"])


def level(name: str) -> Code:
    """The body site of a level: a vertebra (``"L4"``), a disc level (``"L4-L5"``) or, for a
    span of several segments (``"L1-S1"``), the region it lies in."""
    if "-" not in name:
        return vertebra(name)
    if name in _tables()["discs"]:
        return _entry("discs", name)
    upper, lower = parse_segment(name)  # a span too: both ends named, upper above lower
    if lower == "S1":
        return _entry("regions", "lumbosacral")
    if upper.startswith("T"):
        return _entry("regions", "thoracolumbar")
    return _entry("regions", "lumbar")


def measurement(name: str) -> Code:
    """The concept of a measurement (``Measurement.name``)."""
    return _entry("measurements", name)


def finding(diagnosis: str) -> Code:
    """The SNOMED CT (or local) concept of a finding (``Finding.diagnosis``)."""
    return _entry("findings", diagnosis)


def complication(outcome: str) -> Code:
    """The concept of a forecast complication (``RiskForecast.outcome``)."""
    return _entry("complications", outcome)


def procedure(kind: str) -> Code:
    """``"fusion"``, a technique (``"TLIF"``), an approach (``"mis"``) or a decompression."""
    proc = _tables()["procedure"]
    if kind == "fusion":
        return _entry("procedure", "fusion")
    for table in ("techniques", "approaches", "decompressions"):
        if kind in proc[table]:
            return _entry(table, kind, proc)
    raise CodeError(f"{DATA_FILE}: no procedure code for {kind!r}")


def device(kind: str) -> Code:
    """An implant kind (``"pedicle_screw"``, ``"rod"``, ``"cage"``) or, with a ``property:``
    prefix, a device property (``"property:diameter"``)."""
    devices = _tables()["devices"]
    if kind.startswith("property:"):
        return _entry("properties", kind.removeprefix("property:"), devices)
    return _entry("devices", kind)
