"""Findings and indication rules on their own: deformity modifiers, bone density, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.assess import assess_case, assess_landmarks
from spinefuse.assess.assessment import Measurement
from spinefuse.assess.findings import bone_density, deformity, findings, meyerding_grade
from spinefuse.assess.indication import indicate
from spinefuse.assess.measurements import measure_geometry, measure_landmarks
from spinefuse.case import Case, ClinicalHistory, ImagingStudy, Patient, Preferences
from spinefuse.errors import ImagingError
from spinefuse.imaging.images import read_images
from spinefuse.imaging.xray_landmarks import XrayLandmarks, write_xray_landmarks

from .virtual_films import lateral_landmarks


@pytest.mark.parametrize(
    ("slip", "grade"),
    [
        (0.0, "I"),
        (25.0, "I"),
        (25.1, "II"),
        (50.0, "II"),
        (62.0, "III"),
        (80.0, "IV"),
        (104.0, "V"),
    ],
)
def test_meyerding_bounds(slip: float, grade: str) -> None:
    assert meyerding_grade(slip) == grade


def test_flat_back_with_high_tilt_is_a_sagittal_deformity_referred_not_fused() -> None:
    spec = VirtualPatientSpec(
        pelvic_incidence_deg=68.0,
        pelvic_tilt_deg=32.0,
        lumbar_lordosis_deg=38.0,
        slip_percent={"L4-L5": 30.0},
    )
    ms = measure_geometry(virtual_spine(spec))
    (f,) = deformity(ms)
    assert (f.diagnosis, f.level) == ("sagittal_deformity", "L1-S1")
    assert f.grade == "PI-LL ++, PT ++"  # PI-LL 30 deg, PT 32 deg; no C7 so no SVA
    history = ClinicalHistory(
        back_pain_nrs=7,
        leg_pain=True,
        leg_pain_nrs=6,
        symptom_duration_months=20,
        conservative_care=["physiotherapy"],
        conservative_care_months=12,
    )
    ind = indicate(findings(ms), history, None, ["L3-L4", "L4-L5"], False)
    rec = {r.segment: r for r in ind.recommendations}
    assert rec["L4-L5"].action == "refer"  # Meyerding II in a deformity: plan it with correction
    assert "deformity" in rec["L4-L5"].reasons[0] and "Schwab" in rec["L4-L5"].criteria_source
    assert ind.fuse_segments == []


@pytest.mark.parametrize(
    ("hu", "t_score", "expected"),
    [
        (180.0, None, None),
        (150.0, None, "osteopenia"),
        (100.0, None, "osteoporosis"),
        (180.0, -2.7, "osteoporosis"),
        (180.0, -1.5, "osteopenia"),
    ],
)
def test_bone_density_from_hu_and_t_score(
    hu: float, t_score: float | None, expected: str | None
) -> None:
    ms = [Measurement(name="trabecular_hu", value=hu, unit="HU", level="L1")]
    patient = Patient(
        age_years=70,
        sex="female",
        height_cm=160,
        weight_kg=60,
        t_score=t_score,
        osteoporosis=t_score is not None and t_score <= -2.5,
    )
    found = bone_density(ms, patient)
    assert [f.diagnosis for f in found] == ([] if expected is None else [expected])


def test_bad_landmark_input_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ImagingError, match="no such landmark file"):
        assess_landmarks([tmp_path / "missing.csv"])
    with pytest.raises(ImagingError, match="at least one landmark file"):
        assess_landmarks([])
    ap = XrayLandmarks("ap", {("L4", "superior_left"): (1.0, 2.0)}, (10, 10), 0.2)
    with pytest.raises(ImagingError, match="fewer than two vertebrae have all four AP corners"):
        assess_landmarks([write_xray_landmarks(ap, tmp_path / "ap.csv")])
    lateral = XrayLandmarks("lateral", {("L4", "superior_anterior"): (1.0, 2.0)}, (10, 10), 0.2)
    with pytest.raises(ImagingError, match="both an anterior and a posterior corner"):
        measure_landmarks([lateral])


def test_preferred_levels_are_noted_for_the_planner(tmp_path: Path) -> None:
    g = virtual_spine()
    path = write_xray_landmarks(lateral_landmarks(g), tmp_path / "lat.csv")
    case = Case(
        id="pref",
        patient=Patient(age_years=50, sex="male", height_cm=180, weight_kg=80),
        history=ClinicalHistory(),
        imaging=[ImagingStudy(modality="XR", landmarks=path)],
        preferences=Preferences(fuse_segments=["L4-L5"]),
    )
    a = assess_case(case, None, read_images(case).xrays)
    assert a.fuse_segments == []  # the imaging gives no reason; the preference is noted
    assert "preference names L4-L5" in a.rationale


@pytest.mark.parametrize(("ap_mm", "grade"), [(13.5, None), (11.0, "relative"), (8.5, "absolute")])
def test_bony_canal_diameter_grades_central_stenosis(ap_mm: float, grade: str | None) -> None:
    g = virtual_spine()
    l4 = g.vertebra("L4")
    assert l4.canal is not None
    narrow = l4.model_copy(update={"canal": l4.canal.model_copy(update={"ap_diameter_mm": ap_mm})})
    g = g.model_copy(update={"vertebrae": {**g.vertebrae, "L4": narrow}})
    found = [f for f in findings(measure_geometry(g)) if f.diagnosis == "central_stenosis"]
    assert [(f.level, f.grade) for f in found] == ([] if grade is None else [("L4", grade)])
