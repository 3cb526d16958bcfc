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
    "disc_herniation",
    "disc_bulge",
    "lateral_recess_stenosis",
    "modic_change",
    "facet_effusion",
]
Zone = Literal["central", "subarticular", "foraminal", "extraforaminal"]
FindingSide = Literal["left", "right", "bilateral"]
Action = Literal["fuse", "decompress", "none", "refer"]
CtMeasurementName = Literal[
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
"""Every quantity the assessment measures on CT and X-ray."""
MrMeasurementName = Literal[
    "mr_disc_height",
    "disc_signal_ratio",
    "pfirrmann_grade",
    "herniation_extent",
    "herniation_area",
    "mr_dural_sac_area",
    "sac_csf_share",
    "lateral_recess_depth",
    "foraminal_lee_grade",
    "modic_type",
    "facet_effusion_width",
]
"""Every quantity the assessment measures on MR."""
MeasurementName = Literal[CtMeasurementName, MrMeasurementName]
"""Every measurement name (other stages and the exports read these names)."""
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
    side: FindingSide | None = None
    zone: Zone | None = Field(default=None, description="axial zone of a herniation or stenosis")
    curve_type: CurveType | None = Field(default=None, description="SRS-Schwab coronal type")
    modifiers: dict[str, SchwabModifier] = Field(
        default_factory=dict, description="SRS-Schwab sagittal modifiers (PI-LL, PT, SVA)"
    )
    instability: list[InstabilityKind] = Field(default_factory=list)
    osteophyte: bool = Field(default=False, description="an osteophyte narrows the canal")


class NotMeasured(Record):
    """A measurement the study does not allow, and why (a sequence missing, slices too thick,
    a level cut by the field of view): refused, never guessed."""

    name: str
    level: str | None = None
    reason: str


Root = Literal["L1", "L2", "L3", "L4", "L5", "S1"]
CompressionKind = Literal[
    "disc_herniation",
    "disc_bulge",
    "central_stenosis",
    "lateral_recess_stenosis",
    "foraminal_stenosis",
]


class RootSide(Record):
    """A nerve root on one side (``bilateral``: both)."""

    root: Root
    side: FindingSide


class Compression(Record):
    """A compression the imaging shows, the roots it affects by the root rules
    (``data/nerve_roots.yaml``), and whether the examination supports it."""

    kind: CompressionKind
    level: str
    zone: Zone | None = None
    side: FindingSide
    grade: str = ""
    roots: list[RootSide] = Field(default_factory=list)
    supported: bool = False
    support: list[str] = Field(default_factory=list, description="the signs that point at it")


class SymptomaticRoot(Record):
    """A root the examination or history points at, and the compressions that explain it."""

    root: Root
    side: FindingSide
    signs: list[str] = Field(default_factory=list)
    explained: bool = False
    explained_by: list[str] = Field(default_factory=list)


class Concordance(Record):
    """Imaging matched to the examination: each symptomatic root with what explains it, each
    compression with what supports it, and the flags of what does not match."""

    roots: list[SymptomaticRoot] = Field(default_factory=list)
    compressions: list[Compression] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    source: str = ""

    @property
    def concordant(self) -> bool:
        """Every symptomatic root explained and every compression supported (and some of each)."""
        return (
            bool(self.roots)
            and all(r.explained for r in self.roots)
            and all(c.supported for c in self.compressions)
        )

    def supported_at(self, segment: str) -> list[Compression]:
        """The compressions at a segment that the examination supports."""
        return [c for c in self.compressions if c.level == segment and c.supported]


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
    not_measured: list[NotMeasured] = Field(default_factory=list)
    concordance: Concordance | None = None

    def measurement(self, name: MeasurementName, level: str | None = None) -> Measurement:
        """The first measurement of this name (and level), or KeyError."""
        for m in self.measurements:
            if m.name == name and (level is None or m.level == level):
                return m
        raise KeyError(f"no measurement {name!r}" + (f" at {level}" if level else ""))
