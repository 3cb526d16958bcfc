"""Test inputs built from the contract records: a patient, an assessment, a virtual spine."""

import pytest

from spinefuse.anatomy.template import VirtualPatientSpec, virtual_spine
from spinefuse.assess.assessment import Assessment, Finding
from spinefuse.case import Case, ClinicalHistory, Patient, Preferences, PriorSurgery


def build_case(
    prefs: Preferences | None = None, prior: list[PriorSurgery] | None = None, **patient
) -> Case:
    fields = {"age_years": 64, "sex": "female", "height_cm": 165, "weight_kg": 72} | patient
    return Case(
        id="plan-test",
        patient=Patient(**fields, prior_lumbar_surgery=prior or []),
        history=ClinicalHistory(
            back_pain=True,
            back_pain_nrs=6,
            leg_pain=True,
            leg_pain_nrs=7,
            neurogenic_claudication=True,
            symptom_duration_months=14,
        ),
        preferences=prefs or Preferences(),
    )


def build_assessment(segments=("L4-L5",), findings=None, decompress=None) -> Assessment:
    if findings is None:
        findings = [
            Finding(
                diagnosis="degenerative_spondylolisthesis",
                level="L4-L5",
                grade="I",
                meyerding=1,
                slip_direction="anterior",
            ),
            Finding(diagnosis="central_stenosis", level="L4-L5", grade="moderate"),
        ]
    return Assessment(
        findings=findings,
        fuse_segments=list(segments),
        decompress_segments=list(decompress if decompress is not None else segments),
        rationale="unstable degenerative spondylolisthesis with stenosis",
    )


@pytest.fixture(scope="session")
def spine():
    return virtual_spine(
        VirtualPatientSpec(sex="female", height_cm=165, slip_percent={"L4-L5": 15.0})
    )


@pytest.fixture(scope="session")
def make_case():
    return build_case


@pytest.fixture(scope="session")
def make_assessment():
    return build_assessment
