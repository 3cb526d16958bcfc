"""spinefuse's codes (:mod:`spinefuse.interop.codes`) as highdicom coded concepts."""

from __future__ import annotations

from typing import Any

from spinefuse.interop.codes import Code, Unit
from spinefuse.interop.extra import require

hd = require("highdicom")


def concept(code: Code) -> Any:
    """A :class:`highdicom.sr.CodedConcept` of ``code``."""
    return hd.sr.CodedConcept(
        value=code.code, scheme_designator=code.designator, meaning=code.meaning[:64]
    )


def unit_concept(unit: Unit) -> Any:
    """A UCUM unit as a coded concept (DICOM's measurement units, CID 7181)."""
    return hd.sr.CodedConcept(value=unit.code, scheme_designator="UCUM", meaning=unit.meaning)
