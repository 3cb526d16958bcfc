"""The diagnosis a fusion treats, as the PRO course distinguishes it (``covariates.DIAGNOSES``).

From the assessment stage's findings at the fused segments when an assessment exists (a slip
before stenosis before disc disease; a deformity finding anywhere); else what the case alone
says, which is less: claudication suggests stenosis, and back pain alone is left
``unspecified`` (the population's course) because imaging, not symptoms, tells a degenerative
slip from discogenic pain.
"""

from __future__ import annotations

from collections.abc import Iterable

from spinefuse.assess.assessment import Assessment
from spinefuse.case import Case
from spinefuse.conventions import parse_segment
from spinefuse.plan.surgical_plan import SurgicalPlan

ORDER = (
    ("degenerative_spondylolisthesis", "degenerative_spondylolisthesis"),
    ("isthmic_spondylolisthesis", "isthmic_spondylolisthesis"),
    ("central_stenosis", "stenosis"),
    ("foraminal_stenosis", "stenosis"),
    ("degenerative_disc_disease", "discogenic"),
    ("instability", "discogenic"),
)
"""Finding -> PRO diagnosis, most specific first."""


def _touches(level: str | None, vertebrae: set[str], segments: set[str]) -> bool:
    if level is None:
        return False
    if "-" in level:
        return level.upper() in segments or bool(set(parse_segment(level)) & vertebrae)
    return level.upper() in vertebrae


def diagnosis_from_assessment(assessment: Assessment, plan: SurgicalPlan | None = None) -> str:
    """The PRO diagnosis from an assessment's findings (at the plan's fused segments when a
    plan is given): deformity when a scoliosis or sagittal-deformity finding exists, else the
    most specific finding at the fused segments, else ``unspecified``."""
    findings = list(assessment.findings)
    if any(f.diagnosis in ("scoliosis", "sagittal_deformity") for f in findings):
        return "deformity"
    segments = set(plan.fuse_segments) if plan is not None else set()
    vertebrae: set[str] = set()
    for s in segments:
        vertebrae.update(parse_segment(s))
    if segments:
        findings = [f for f in findings if _touches(f.level, vertebrae, segments)]
    present = {f.diagnosis for f in findings}
    for finding, diagnosis in ORDER:
        if finding in present:
            return diagnosis
    return "unspecified"


def diagnosis_from_case(case: Case) -> str:
    """What the case alone says: ``stenosis`` with neurogenic claudication, else
    ``unspecified`` (imaging tells a slip from disc disease)."""
    return "stenosis" if case.history.neurogenic_claudication else "unspecified"


def revision_case(case: Case, segments: Iterable[str] = ()) -> bool:
    """True when the patient had lumbar surgery before (any level: revision surgery)."""
    del segments
    return bool(case.patient.prior_lumbar_surgery)
