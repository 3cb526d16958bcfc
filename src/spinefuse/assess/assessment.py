"""Assessment: the measurements, findings, indication and levels to fuse for one patient."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spinefuse.records import Record

Diagnosis = Literal[
    "degenerative_spondylolisthesis",
    "isthmic_spondylolisthesis",
    "central_stenosis",
    "foraminal_stenosis",
    "degenerative_disc_disease",
    "instability",
    "scoliosis",
    "sagittal_deformity",
    "osteoporosis",
    "osteopenia",
]
Action = Literal["fuse", "decompress", "none", "refer"]


class Measurement(Record):
    """One measured quantity with its unit, where it was measured and how it compares."""

    name: str = Field(description="e.g. 'slip_percent', 'lumbar_lordosis'")
    value: float
    unit: str = Field(description="'deg', 'mm', '%', 'HU', 'mm2' or '' for ratios")
    level: str | None = Field(default=None, description="vertebra or segment, e.g. 'L4-L5'")
    normal_range: tuple[float, float] | None = None
    method: str = ""
    source: str = Field(default="", description="citation of the method or normal range")
    detail: dict[str, str] = Field(
        default_factory=dict, description="named qualifiers, e.g. a curve's apex and convex side"
    )


class Finding(Record):
    """A diagnosis at a level with its grade and the measurements that support it."""

    diagnosis: Diagnosis
    level: str | None = None
    grade: str = ""
    evidence: list[str] = Field(default_factory=list, description="measurement statements")
    source: str = ""


class SegmentRecommendation(Record):
    """What to do at one motion segment, and why."""

    segment: str
    action: Action
    reasons: list[str] = Field(default_factory=list)
    criteria_source: str = ""


class Assessment(Record):
    """The output of the assessment stage."""

    measurements: list[Measurement] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    recommendations: list[SegmentRecommendation] = Field(default_factory=list)
    fuse_segments: list[str] = Field(default_factory=list)
    decompress_segments: list[str] = Field(default_factory=list)
    red_flags: list[str] = Field(default_factory=list)
    rationale: str = ""

    def measurement(self, name: str, level: str | None = None) -> Measurement:
        """The first measurement of this name (and level), or KeyError."""
        for m in self.measurements:
            if m.name == name and (level is None or m.level == level):
                return m
        raise KeyError(f"no measurement {name!r}" + (f" at {level}" if level else ""))
