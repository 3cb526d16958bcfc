"""Assessment: measurements, findings, indication and the levels to fuse."""

from spinefuse.assess.assessment import (
    Assessment,
    Finding,
    Measurement,
    SegmentRecommendation,
)
from spinefuse.assess.stage import (
    assess_case,
    assess_files,
    assess_json,
    assess_landmarks,
    assess_stage,
)
from spinefuse.assess.table import assessment_report, assessment_table

__all__ = [
    "Assessment",
    "Finding",
    "Measurement",
    "SegmentRecommendation",
    "assess_case",
    "assess_files",
    "assess_json",
    "assess_landmarks",
    "assess_stage",
    "assessment_report",
    "assessment_table",
]
