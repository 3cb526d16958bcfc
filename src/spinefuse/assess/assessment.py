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
    "vertebral_fracture",
]
Action = Literal["fuse", "decompress", "none", "refer"]
MeasurementName = Literal[
    "lumbar_lordosis",
    "segmental_lordosis",
    "pelvic_incidence",
    "pelvic_tilt",
    "sacral_slope",
    "pi_ll_mismatch",
    "sagittal_vertical_axis",
    "slip_percent",
    "slip",
    "disc_angle",
    "disc_height_anterior",
    "disc_height_middle",
    "disc_height_posterior",
    "disc_height_index",
    "dural_sac_area",
    "dural_sac_ap_diameter",
    "canal_ap_diameter",
    "canal_area",
    "foraminal_height",
    "trabecular_hu",
    "translation_percent",
    "translation_mm",
    "angulation_change",
    "cobb_angle",
    "height_loss_percent",
]
"""Every quantity the assessment measures (other stages and the exports read these names)."""
Severity = Literal["mild", "moderate", "severe"]
SlipDirection = Literal["anterior", "posterior"]
CurveType = Literal["N", "L", "T", "D"]
SchwabModifier = Literal["0", "+", "++"]
InstabilityKind = Literal["translational", "angular"]


class Measurement(Record):
    """One measured quantity with its unit, where it was measured and how it compares."""

    name: MeasurementName
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
    """A diagnosis at a level with its grade and the measurements that support it.

    ``grade`` is the grade in words for people; the typed fields beside it are what other
    stages read (no stage reads meaning out of the words)."""

    diagnosis: Diagnosis
    level: str | None = None
    grade: str = ""
    evidence: list[str] = Field(default_factory=list, description="measurement statements")
    source: str = ""
    severity: Severity | None = Field(
        default=None, description="severe: absolute stenosis, severe disc narrowing"
    )
    meyerding: int | None = Field(default=None, ge=1, le=5, description="anterior slips")
    slip_direction: SlipDirection | None = Field(
        default=None, description="posterior: a retrolisthesis"
    )
    side: Literal["left", "right", "bilateral"] | None = None
    curve_type: CurveType | None = Field(default=None, description="SRS-Schwab coronal type")
    modifiers: dict[str, SchwabModifier] = Field(
        default_factory=dict, description="SRS-Schwab sagittal modifiers (PI-LL, PT, SVA)"
    )
    instability: list[InstabilityKind] = Field(default_factory=list)
    osteophyte: bool = Field(default=False, description="an osteophyte narrows the canal")


class SegmentRecommendation(Record):
    """What to do at one motion segment, and why."""

    segment: str
    action: Action
    reasons: list[str] = Field(default_factory=list)
    criteria_source: str = ""
    decompress: bool = Field(
        default=False, description="the segment is decompressed (alone, or with its fusion)"
    )


class Assessment(Record):
    """The output of the assessment stage."""

    measurements: list[Measurement] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    recommendations: list[SegmentRecommendation] = Field(default_factory=list)
    fuse_segments: list[str] = Field(default_factory=list)
    decompress_segments: list[str] = Field(default_factory=list)
    red_flags: list[str] = Field(default_factory=list)
    rationale: str = ""

    def measurement(self, name: MeasurementName, level: str | None = None) -> Measurement:
        """The first measurement of this name (and level), or KeyError."""
        for m in self.measurements:
            if m.name == name and (level is None or m.level == level):
                return m
        raise KeyError(f"no measurement {name!r}" + (f" at {level}" if level else ""))
