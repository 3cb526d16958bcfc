"""The series of a PACS study spinefuse reads: the thinnest axial CT, the sagittal and axial T2 MR.

A PACS study holds many series (scouts, dose reports, bone and soft-tissue kernels, several MR
sequences). :func:`choose_series` picks, from what a query returned, the series a case needs, and
says why each other one was passed over when none fits.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
from pydantic import Field

from spinefuse.errors import SpinefuseError
from spinefuse.records import Record

Plane = Literal["axial", "sagittal", "coronal", "oblique"]
Role = Literal["ct_axial", "mr_sagittal_t2", "mr_axial_t2", "series"]

OBLIQUE_LIMIT_DEG = 30.0
"""spinefuse rule: a slice whose normal lies more than 30° from every patient axis is oblique."""
T2_DESCRIPTION = re.compile(r"(?<![A-Z0-9])T2(?![*A-Z0-9])|T2W|T2_", re.IGNORECASE)
"""'T2', 'T2W', 'sag T2 TSE' name a T2-weighted sequence; 'T2*' (gradient echo) does not."""
MIN_INSTANCES = 2
"""A volume needs at least two slices (the DICOM reader's limit)."""


class SeriesChoiceError(SpinefuseError, LookupError):
    """No series of the study fits what the case needs (lists what was found and why not)."""


class SeriesInfo(Record):
    """What a query says about one series (and one of its instances, for the geometry)."""

    patient_id: str = ""
    study_uid: str
    series_uid: str
    modality: str
    description: str = ""
    series_number: int | None = None
    instances: int | None = Field(default=None, description="number of instances in the series")
    slice_thickness_mm: float | None = None
    orientation: tuple[float, float, float, float, float, float] | None = Field(
        default=None, description="Image Orientation (Patient) of one instance"
    )
    echo_time_ms: float | None = None
    repetition_time_ms: float | None = None

    @property
    def plane(self) -> Plane | None:
        """The plane of the slices, from the orientation of one instance."""
        if self.orientation is None:
            return None
        o = np.asarray(self.orientation, dtype=float)
        normal = np.cross(o[:3], o[3:])
        norm = float(np.linalg.norm(normal))
        if norm < 1e-6:
            return None
        cosines = np.abs(normal) / norm
        axis = int(np.argmax(cosines))
        if np.degrees(np.arccos(min(float(cosines[axis]), 1.0))) > OBLIQUE_LIMIT_DEG:
            return "oblique"
        planes: tuple[Plane, Plane, Plane] = ("sagittal", "coronal", "axial")
        return planes[axis]

    @property
    def t2(self) -> bool:
        """Whether the series description names a T2-weighted sequence."""
        return bool(T2_DESCRIPTION.search(self.description))

    def describe(self) -> str:
        """One line for messages: modality, plane, thickness, instances, description."""
        thick = f"{self.slice_thickness_mm:g} mm" if self.slice_thickness_mm else "thickness ?"
        return (
            f"{self.modality} {self.plane or 'plane ?'} {thick}, {self.instances or '?'} "
            f"instances, '{self.description}' ({self.series_uid})"
        )


class ChosenSeries(Record):
    """A series chosen for a role in the case, and why."""

    role: Role
    series: SeriesInfo
    reason: str


def _volume(s: SeriesInfo) -> bool:
    return s.instances is None or s.instances >= MIN_INSTANCES


def choose_series(
    candidates: list[SeriesInfo], modality: Literal["CT", "MR"]
) -> list[ChosenSeries]:
    """The series a case reads from ``candidates``: for CT the thinnest axial series (more
    instances breaks a tie); for MR the sagittal T2 (required) and the axial T2 (when there is
    one), each the thinnest of its kind. Raises :class:`SeriesChoiceError` listing every
    candidate when none fits."""
    pool = [s for s in candidates if s.modality == modality and _volume(s)]

    def thinnest(series: list[SeriesInfo]) -> SeriesInfo:
        return min(series, key=lambda s: (s.slice_thickness_mm or np.inf, -(s.instances or 0)))

    def none_fits(wanted: str) -> SeriesChoiceError:
        found = "\n".join(f"  - {s.describe()}" for s in candidates) or "  (no series)"
        return SeriesChoiceError(
            f"no {wanted} series in the study; the query found:\n{found}\n"
            "choose one explicitly with --series UID"
        )

    if modality == "CT":
        axial = [s for s in pool if s.plane == "axial"]
        if not axial:
            raise none_fits("axial CT")
        best = thinnest(axial)
        return [
            ChosenSeries(role="ct_axial", series=best, reason=_why(best, len(axial), "axial CT"))
        ]
    chosen = []
    sagittal = [s for s in pool if s.plane == "sagittal" and s.t2]
    if not sagittal:
        raise none_fits("sagittal T2 MR")
    best = thinnest(sagittal)
    chosen.append(
        ChosenSeries(
            role="mr_sagittal_t2", series=best, reason=_why(best, len(sagittal), "sagittal T2")
        )
    )
    axial = [s for s in pool if s.plane == "axial" and s.t2]
    if axial:
        best = thinnest(axial)
        chosen.append(
            ChosenSeries(role="mr_axial_t2", series=best, reason=_why(best, len(axial), "axial T2"))
        )
    return chosen


def _why(s: SeriesInfo, n: int, kind: str) -> str:
    thick = f"{s.slice_thickness_mm:g} mm" if s.slice_thickness_mm else "unknown thickness"
    return (
        f"the thinnest of {n} {kind} series ({thick})"
        if n > 1
        else f"the only {kind} series ({thick})"
    )
