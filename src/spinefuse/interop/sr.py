"""The assessment's measurements and findings as a DICOM Structured Report (TID 1500).

A Comprehensive 3D SR holding a TID 1500 Measurement Report: one measurement group (TID 1501) per
level, its finding site the level's SNOMED CT concept, each measurement (TID 300) a coded concept
(:mod:`spinefuse.interop.codes`) with its UCUM unit, and each finding at that level a qualitative
evaluation (DCM 121071 "Finding") coded with its disorder. Values are kept in full: highdicom
writes a Floating Point Value beside the decimal string when 16 characters cannot hold them.
"""

from __future__ import annotations

import math
from typing import Any

from pydicom.dataset import Dataset

import spinefuse
from spinefuse.assess.assessment import Assessment, Finding, Measurement
from spinefuse.errors import SpinefuseError
from spinefuse.interop import codes
from spinefuse.interop.concepts import concept, unit_concept
from spinefuse.interop.extra import require

hd = require("highdicom")

SERIES_NUMBER = 902
FINDING = ("121071", "DCM", "Finding")
PROCEDURE = ("363679005", "SCT", "Imaging procedure")
GLOBAL = "whole spine"


class ReportContentError(SpinefuseError, ValueError):
    """A record holds a value the report cannot carry (not finite, no code)."""


def _groups(assessment: Assessment) -> dict[str, tuple[list[Measurement], list[Finding]]]:
    groups: dict[str, tuple[list[Measurement], list[Finding]]] = {}
    for m in assessment.measurements:
        groups.setdefault(m.level or GLOBAL, ([], []))[0].append(m)
    for f in assessment.findings:
        groups.setdefault(f.level or GLOBAL, ([], []))[1].append(f)
    return groups


def _measurement(m: Measurement) -> Any:
    if not math.isfinite(m.value):
        raise ReportContentError(
            f"measurement {m.name} at {m.level}: value {m.value!r} is not a number; the "
            "assessment record is damaged, re-run the assessment"
        )
    return hd.sr.Measurement(
        name=concept(codes.measurement(m.name)),
        value=float(m.value),
        unit=unit_concept(codes.unit(m.unit)),
    )


def measurement_report(assessment: Assessment, source: list[Dataset]) -> Any:
    """A :class:`highdicom.sr.Comprehensive3DSR` of the assessment, in the study of ``source``
    (the series it was measured on, whose instances it lists as evidence)."""
    device = hd.sr.ObserverContext(
        observer_type=hd.sr.CodedConcept("121007", "DCM", "Device"),
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(),
            name="spinefuse",
            manufacturer_name="spinefuse",
            model_name=f"spinefuse {spinefuse.__version__}",
        ),
    )
    groups = []
    for level, (measurements, findings) in _groups(assessment).items():
        sites = [] if level == GLOBAL else [hd.sr.FindingSite(concept(codes.level(level)))]
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=hd.UID(), identifier=f"spinefuse {level}"
                ),
                finding_sites=sites or None,
                measurements=[_measurement(m) for m in measurements] or None,
                qualitative_evaluations=[
                    hd.sr.QualitativeEvaluation(
                        name=hd.sr.CodedConcept(*FINDING), value=concept(codes.finding(f.diagnosis))
                    )
                    for f in findings
                ]
                or None,
            )
        )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=hd.sr.CodedConcept(*PROCEDURE),
        imaging_measurements=groups,
    )
    return hd.sr.Comprehensive3DSR(
        evidence=source,
        content=report,
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="spinefuse",
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description="spinefuse measurements",
    )


def read_measurements(sr: Dataset) -> list[tuple[str, str, float, str]]:
    """The measurements of a TID 1500 report read back: (concept code, finding-site code or
    '', value, UCUM unit) per measurement, in document order."""
    doc = hd.sr.Comprehensive3DSR.from_dataset(sr)
    out: list[tuple[str, str, float, str]] = []
    for group in doc.content.get_image_measurement_groups():
        sites = group.finding_sites
        site = str(sites[0].value.value) if sites else ""
        for m in group.get_measurements():
            out.append((str(m.name.value), site, float(m.value), str(m.unit.value)))
    return out
