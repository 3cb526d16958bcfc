"""Assessment: measurements, findings, indication and the levels to fuse."""

from spinefuse.assess.assessment import (
    Assessment,
    Finding,
    Measurement,
    SegmentRecommendation,
)
from spinefuse.assess.case_assessment import assess_case, assess_landmarks
from spinefuse.assess.table import assessment_report, assessment_table

__all__ = [
    "Assessment",
    "Finding",
    "Measurement",
    "SegmentRecommendation",
    "assess_case",
    "assess_landmarks",
    "assessment_report",
    "assessment_table",
]
