"""SurgicalPlan: approach, decompressions, implants and graft, each with sizes and pose."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spinefuse.conventions import Side
from spinefuse.records import Record, Vec3

Technique = Literal["PLF", "TLIF", "PLIF", "ALIF", "LLIF"]
Approach = Literal["open", "mis"]
GraftMaterial = Literal[
    "local_autograft", "iliac_crest_autograft", "allograft", "dbm", "ceramic", "rhbmp2"
]
RodMaterial = Literal["titanium", "cobalt_chrome"]
DecompressionKind = Literal[
    "laminectomy",
    "hemilaminectomy",
    "facetectomy_unilateral",
    "facetectomy_bilateral",
    "discectomy",
    "osteophyte_removal",
    "foraminotomy",
]


class Decompression(Record):
    segment: str
    kind: DecompressionKind
    side: Literal["left", "right", "bilateral"] = "bilateral"
    treats: list[str] = Field(default_factory=list, description="the findings it addresses")


ScrewIssue = Literal[
    "narrow_pedicle",
    "short_chord",
    "tip_beyond_cortex",
    "shortened",
    "low_density",
    "breach",
    "weak_thread",
    "resized",
    "corridor_only",
]
"""Why a screw's fit is in question (each has its sentence in ``warnings``)."""


class PedicleScrew(Record):
    vertebra: str
    side: Side
    entry_point: Vec3
    direction: Vec3 = Field(description="unit vector from the entry point toward the tip")
    diameter_mm: float = Field(gt=0)
    length_mm: float = Field(gt=0)
    medial_angle_deg: float = Field(description="convergence toward the midline, transverse plane")
    cranial_angle_deg: float = Field(description="cranio-caudal angle, + toward the head")
    mean_hu: float | None = None
    breach: bool = False
    warnings: list[str] = Field(default_factory=list)
    issues: list[ScrewIssue] = Field(
        default_factory=list, description="codes of what the warnings say"
    )
    purchase: Literal["adequate", "reduced", "poor"] | None = Field(
        default=None, description="bone purchase from the body's trabecular HU (cited bands)"
    )
    alternatives: list[str] = Field(
        default_factory=list, description="what to do instead when the screw fits poorly"
    )
    bone_fraction: float | None = Field(
        default=None, ge=0, le=1, description="share of shaft-surface samples inside the vertebra"
    )
    cortical_fraction: float | None = Field(
        default=None, ge=0, le=1, description="share of shaft-surface samples at cortical HU"
    )
    breach_mm: float | None = Field(
        default=None, ge=0, description="deepest excursion of the shaft outside the bone"
    )

    @property
    def tip(self) -> Vec3:
        """The screw tip (RAS, mm)."""
        e, d, n = self.entry_point, self.direction, self.length_mm
        return (e[0] + n * d[0], e[1] + n * d[1], e[2] + n * d[2])


class Rod(Record):
    side: Side
    material: RodMaterial
    diameter_mm: float = Field(gt=0)
    length_mm: float = Field(gt=0)
    points: list[Vec3] = Field(description="screw-head centres the rod passes through")
    bend_angles_deg: list[float] = Field(default_factory=list)


class Cage(Record):
    segment: str
    technique: Technique
    material: Literal["peek", "titanium"]
    width_mm: float = Field(gt=0, description="footprint left-right")
    depth_mm: float = Field(gt=0, description="footprint antero-posterior")
    height_mm: float = Field(gt=0)
    lordosis_deg: float = 0.0
    centre: Vec3
    count: int = Field(default=1, ge=1, le=2, description="2 for bilateral PLIF cages")
    subsidence_warning: str | None = None
    normal: Vec3 | None = Field(
        default=None, description="unit normal of the lower endplate it rests on (its height axis)"
    )
    anterior: Vec3 | None = Field(
        default=None, description="unit vector toward the front, in the endplate (its depth axis)"
    )


class Graft(Record):
    material: GraftMaterial
    volume_cm3: float = Field(ge=0)
    regions: list[Literal["interbody", "posterolateral"]] = Field(default_factory=list)
    bmp_dose_mg: float | None = Field(default=None, ge=0)
    extender: GraftMaterial | None = Field(
        default=None, description="material added when the primary graft is not enough"
    )
    local_yield_cm3: float | None = Field(
        default=None, ge=0, description="local bone the decompression yields"
    )


class SurgicalPlan(Record):
    """The output of the planning stage; any choice records whether the surgeon overrode it."""

    fuse_segments: list[str]
    approach: Approach
    technique: Technique
    reasons: list[str] = Field(default_factory=list)
    overridden: list[str] = Field(default_factory=list, description="choices set by the surgeon")
    decompressions: list[Decompression] = Field(default_factory=list)
    screws: list[PedicleScrew] = Field(default_factory=list)
    rods: list[Rod] = Field(default_factory=list)
    cages: list[Cage] = Field(default_factory=list)
    graft: Graft | None = None
    warnings: list[str] = Field(default_factory=list)

    @property
    def levels(self) -> int:
        """Number of fused motion segments."""
        return len(self.fuse_segments)

    @property
    def interbody(self) -> bool:
        """True when the plan places an interbody cage."""
        return bool(self.cages)
