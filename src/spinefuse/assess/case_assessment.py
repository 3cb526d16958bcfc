"""The assessment of a case: measurements -> findings -> indication.

``assess_case`` is the assessment stage (the case's X-ray landmark sets and its geometry);
``assess_landmarks`` assesses radiograph landmark files alone, with no patient (no clinical
history, so pathology is referred rather than operated on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Assessment, Finding, Measurement, NotMeasured
from spinefuse.assess.concordance import concordance
from spinefuse.assess.findings import findings as find
from spinefuse.assess.indication import indicate
from spinefuse.assess.measurements import measure_geometry, measure_landmarks
from spinefuse.assess.mr_findings import (
    annotate_foramina,
    merge_findings,
    mr_findings,
    mr_foramina,
)
from spinefuse.case import Case, ClinicalHistory, Examination, Patient
from spinefuse.conventions import LUMBAR_SEGMENTS, parse_segment
from spinefuse.errors import CaseError, ImagingError
from spinefuse.imaging.mr_series import MrSeries
from spinefuse.imaging.xray_landmarks import XrayLandmarks, read_xray_landmarks

if TYPE_CHECKING:
    from spinefuse.assess.mr_measurements import MrReading


class NothingToMeasure(ImagingError):
    """The films and the geometry give no measurement (no whole vertebra or segment in view)."""


def _tag(ms: list[Measurement], origin: str) -> list[Measurement]:
    return [m.model_copy(update={"detail": {**m.detail, "from": origin}}) for m in ms]


def _segments(ms: Sequence[Measurement]) -> list[str]:
    """The lumbar segments any measurement refers to, head to pelvis."""
    seen: set[str] = set()
    for m in ms:
        if m.level and "-" in m.level and m.level in LUMBAR_SEGMENTS:
            seen.add(m.level)
        elif m.level and m.level in ("L1", "L2", "L3", "L4", "L5"):
            seen.update(s for s in LUMBAR_SEGMENTS if s.startswith(m.level + "-"))
    return [s for s in LUMBAR_SEGMENTS if s in seen]


def _assemble(
    ms: list[Measurement],
    history: ClinicalHistory | None,
    patient: Patient | None,
    instability_assessed: bool,
    exam: Examination | None = None,
    not_measured: Sequence[NotMeasured] = (),
) -> Assessment:
    found: list[Finding] = annotate_foramina(merge_findings(find(ms, patient), mr_findings(ms)), ms)
    match = (
        concordance(found, exam, history, mr_foramina(ms))
        if history is not None or exam is not None
        else None
    )
    ind = indicate(found, history, patient, _segments(ms), instability_assessed, match, exam)
    fuse = ind.fuse_segments
    decompress = [r.segment for r in ind.recommendations if r.decompress]
    return Assessment(
        measurements=ms,
        findings=found,
        recommendations=ind.recommendations,
        fuse_segments=fuse,
        decompress_segments=decompress,
        red_flags=ind.red_flags,
        rationale=ind.rationale,
        not_measured=list(not_measured),
        concordance=match,
    )


def _merge(xray: list[Measurement], geometry: list[Measurement]) -> list[Measurement]:
    """Radiograph measurements first (standing, loaded); the geometry adds what they lack, and
    its lengths in mm replace a radiograph's lengths in pixels (a film of unknown scale)."""
    in_mm = {(m.name, m.level) for m in geometry if m.unit == "mm"}
    films = [m for m in xray if not (m.unit == "px" and (m.name, m.level) in in_mm)]
    have = {(m.name, m.level) for m in films}
    return films + [m for m in geometry if (m.name, m.level) not in have]


def assess_landmarks_sets(
    landmarks: Sequence[XrayLandmarks],
    geometry: SpineGeometry | None = None,
    history: ClinicalHistory | None = None,
    patient: Patient | None = None,
    mr: MrSeries | None = None,
    exam: Examination | None = None,
    mr_reading: Callable[[], MrReading] | None = None,
) -> Assessment:
    """Assess loaded landmark sets (and a geometry, and an MR study) for a patient (history may
    be None). ``mr_reading`` gives :func:`~spinefuse.assess.mr_measurements.measure_mr` of
    ``mr`` when it is made elsewhere (in a forked process beside the anatomy)."""
    from spinefuse.assess.mr_measurements import measure_mr

    xr = _tag(measure_landmarks(landmarks), "xray") if landmarks else []
    geo = _tag(measure_geometry(geometry), f"geometry ({geometry.source})") if geometry else []
    reading = mr_reading() if mr_reading is not None else measure_mr(mr)
    ms = _merge(xr, geo) + reading.measurements
    if not ms:
        why = (
            "the geometry holds no whole vertebra or motion segment"
            if geometry is not None
            else "no geometry"
        )
        if mr is not None:
            why += "; the MR: " + (
                "; ".join(n.reason for n in reading.not_measured) or "no disc level measured"
            )
        raise NothingToMeasure(f"nothing to measure: no X-ray landmark file, and {why}")
    dynamic = any(m.name == "angulation_change" for m in ms)
    return _assemble(ms, history, patient, dynamic, exam, reading.not_measured)


def assess_landmarks(paths: Sequence[Path]) -> Assessment:
    """Assess X-ray landmark files alone (lateral, AP, flexion/extension by their ``role``)."""
    if not paths:
        raise ImagingError("assess_landmarks: give at least one landmark file")
    return assess_landmarks_sets([read_xray_landmarks(p) for p in paths])


def assess_case(
    case: Case,
    geometry: SpineGeometry | None,
    xrays: Sequence[XrayLandmarks] = (),
    mr: MrSeries | None = None,
    mr_reading: Callable[[], MrReading] | None = None,
) -> Assessment:
    """Assess a case: its pre-operative X-ray landmark sets (roles preop, flexion, extension;
    read by the imaging stage), the geometry from its CT/MR and its MR study's series (read by
    the imaging stage), with its clinical history and examination. ``mr_reading``: see
    :func:`assess_landmarks_sets`."""
    landmarks = [lm for lm in xrays if lm.role != "postop"]
    if not landmarks and geometry is None and mr is None:
        raise CaseError(
            f"case {case.id}: no X-ray landmark study and no geometry to assess; add an XR study "
            "with a landmarks file or a CT/MR study"
        )
    a = assess_landmarks_sets(
        landmarks, geometry, case.history, case.patient, mr, case.examination, mr_reading
    )
    override = case.preferences.fuse_segments
    if override is not None:
        for seg in override:
            parse_segment(seg)
        note = (
            f" The surgeon's preference names {', '.join(override) or 'no segment'} for fusion; "
            "the planner applies it."
        )
        a = a.model_copy(update={"rationale": a.rationale + note})
    return a
