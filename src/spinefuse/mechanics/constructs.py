"""Surgical modifications of the spine model, from a SurgicalPlan or from construct specs such
as ``"facetectomy:L3-L4:left"``, ``"cage:L4-L5:tlif"``, ``"screws-rods:L3-L5"``, ``"fused:L4-L5"``.

A :class:`Construct` only says *what* is changed; :mod:`spinefuse.mechanics.model` turns it into
elements from the implants' physical properties (nothing here is fitted to surgical results).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spinefuse.conventions import LUMBAR, LUMBAR_SEGMENTS, Side, parse_segment, span_segments
from spinefuse.errors import LevelError, ParameterError
from spinefuse.plan.surgical_plan import SurgicalPlan
from spinefuse.records import Record, Vec3

CageTechnique = Literal["tlif", "plif", "alif", "llif"]
GraftRegion = Literal["interbody", "posterolateral"]
GRAFT_REGIONS: tuple[GraftRegion, ...] = ("interbody", "posterolateral")
LigamentRemoval = Literal["ALL", "PLL", "LF", "ISL", "SSL", "CL", "ITL"]


class CageSpec(Record):
    segment: str
    technique: CageTechnique
    material: Literal["peek", "titanium"] = "peek"
    width_mm: float | None = None
    depth_mm: float | None = None
    centre: Vec3 | None = None
    count: int = 1


class RodSpec(Record):
    """One rod through the screw heads of ``vertebrae`` (craniocaudal) on one side."""

    side: Side
    vertebrae: list[str]
    material: Literal["titanium", "cobalt_chrome"] = "titanium"
    diameter_mm: float = Field(default=5.5, gt=0)
    heads: dict[str, Vec3] = Field(
        default_factory=dict,
        description="vertebra -> screw-head centre (world, mm); else from pedicles",
    )
    screw_length_mm: dict[str, float] = Field(default_factory=dict)


class FusionMassSpec(Record):
    segment: str
    regions: list[GraftRegion] = Field(default_factory=lambda: list(GRAFT_REGIONS))
    fraction: float = Field(default=1.0, ge=0.0, le=1.0, description="bone fraction φ")


class Construct(Record):
    """Everything a surgery changes in the model, per segment."""

    facetectomy: dict[str, list[Side]] = Field(default_factory=dict)
    removed_ligaments: dict[str, list[LigamentRemoval]] = Field(default_factory=dict)
    discectomy: list[str] = Field(default_factory=list)
    cages: list[CageSpec] = Field(default_factory=list)
    rods: list[RodSpec] = Field(default_factory=list)
    fusion: list[FusionMassSpec] = Field(default_factory=list)

    @property
    def instrumented_segments(self) -> list[str]:
        """Segments bridged by a rod, craniocaudal."""
        segs: set[str] = set()
        for rod in self.rods:
            for a, b in zip(rod.vertebrae[:-1], rod.vertebrae[1:], strict=True):
                segs.add(f"{a}-{b}")
        return [s for s in LUMBAR_SEGMENTS if s in segs]

    def merged(self, other: Construct) -> Construct:
        """Both constructs' modifications together."""
        fac = {k: list(v) for k, v in self.facetectomy.items()}
        for k, v in other.facetectomy.items():
            fac[k] = sorted(set(fac.get(k, [])) | set(v))
        lig = {k: list(v) for k, v in self.removed_ligaments.items()}
        for k, w in other.removed_ligaments.items():
            lig[k] = sorted(set(lig.get(k, [])) | set(w))
        return Construct(
            facetectomy=fac,
            removed_ligaments=lig,
            discectomy=sorted(set(self.discectomy) | set(other.discectomy)),
            cages=[*self.cages, *other.cages],
            rods=[*self.rods, *other.rods],
            fusion=[*self.fusion, *other.fusion],
        )


def _segment(text: str, spec: str) -> str:
    try:
        up, low = parse_segment(text)
    except LevelError as err:
        raise ParameterError(f"construct {spec!r}: {err}") from None
    seg = f"{up}-{low}"
    if seg not in LUMBAR_SEGMENTS:
        raise ParameterError(
            f"construct {spec!r}: {seg} is not a modelled motion segment "
            f"({', '.join(LUMBAR_SEGMENTS)})"
        )
    return seg


def parse_construct(spec: str) -> Construct:
    """One construct spec (the CLI's ``--construct``) as a :class:`Construct`.

    ``facetectomy:SEG:bilateral|left|right``, ``laminectomy:SEG``, ``discectomy:SEG``,
    ``cage:SEG:tlif|plif|alif|llif``, ``screws-rods:SPAN`` (``L4-L5`` or ``L3-L5``),
    ``fused:SEG``."""
    parts = [p.strip() for p in spec.strip().split(":")]
    kind = parts[0].lower()
    usage = (
        "use facetectomy:L3-L4:bilateral|left|right, laminectomy:L4-L5, discectomy:L4-L5, "
        "cage:L4-L5:tlif|plif|alif|llif, screws-rods:L3-L5 or fused:L4-L5"
    )
    if len(parts) < 2:
        raise ParameterError(f"construct {spec!r}: missing the segment; {usage}")
    if kind == "facetectomy":
        seg = _segment(parts[1], spec)
        side = parts[2].lower() if len(parts) > 2 else "bilateral"
        sides: list[Side] = {
            "bilateral": ["left", "right"],
            "left": ["left"],
            "right": ["right"],
        }.get(side, [])  # type: ignore[assignment]
        if not sides:
            raise ParameterError(f"construct {spec!r}: side {side!r} is not bilateral|left|right")
        return Construct(facetectomy={seg: sides})
    if kind == "laminectomy":
        seg = _segment(parts[1], spec)
        return Construct(removed_ligaments={seg: ["LF", "ISL", "SSL"]})
    if kind == "discectomy":
        return Construct(discectomy=[_segment(parts[1], spec)])
    if kind == "cage":
        seg = _segment(parts[1], spec)
        tech = parts[2].lower() if len(parts) > 2 else "tlif"
        if tech not in ("tlif", "plif", "alif", "llif"):
            raise ParameterError(
                f"construct {spec!r}: cage technique {tech!r} is not tlif|plif|alif|llif"
            )
        return cage_construct(CageSpec(segment=seg, technique=tech))
    if kind in ("screws-rods", "screws_rods", "rods"):
        try:
            segs = span_segments(parts[1].upper())
        except LevelError as err:
            raise ParameterError(f"construct {spec!r}: {err}") from None
        if not segs:
            raise ParameterError(f"construct {spec!r}: the span covers no segment")
        up = parse_segment(segs[0])[0]
        levels = [up] + [parse_segment(s)[1] for s in segs]
        return Construct(rods=[RodSpec(side=s, vertebrae=levels) for s in ("left", "right")])
    if kind == "fused":
        return Construct(fusion=[FusionMassSpec(segment=_segment(parts[1], spec))])
    raise ParameterError(f"construct {spec!r}: unknown kind {kind!r}; {usage}")


def cage_construct(cage: CageSpec) -> Construct:
    """A cage needs its disc space cleared (nucleus removed); an ALIF also cuts the ALL."""
    removed: dict[str, list[LigamentRemoval]] = (
        {cage.segment: ["ALL"]} if cage.technique == "alif" else {}
    )
    return Construct(cages=[cage], discectomy=[cage.segment], removed_ligaments=removed)


def parse_constructs(specs: list[str] | tuple[str, ...]) -> Construct:
    """Several construct specs merged into one :class:`Construct`."""
    out = Construct()
    for spec in specs:
        out = out.merged(parse_construct(spec))
    return out


def plan_construct(plan: SurgicalPlan, fusion_fraction: float | None = None) -> Construct:
    """The modifications a SurgicalPlan makes: decompressions, cages (with the disc cleared),
    screws and rods at the planned positions; with ``fusion_fraction`` a fusion mass at every
    fused segment in the graft's regions."""
    out = Construct()
    for d in plan.decompressions:
        seg = _segment(d.segment, f"plan decompression {d.kind}")
        sides: list[Side] = ["left", "right"] if d.side == "bilateral" else [d.side]
        if d.kind == "laminectomy":
            out = out.merged(Construct(removed_ligaments={seg: ["LF", "ISL", "SSL"]}))
        elif d.kind == "hemilaminectomy":
            out = out.merged(Construct(removed_ligaments={seg: ["LF"]}))
        elif d.kind == "facetectomy_unilateral":
            out = out.merged(Construct(facetectomy={seg: sides[:1]}))
        elif d.kind == "facetectomy_bilateral":
            out = out.merged(Construct(facetectomy={seg: ["left", "right"]}))
        elif d.kind == "discectomy":
            out = out.merged(Construct(discectomy=[seg]))
    for c in plan.cages:
        tech = c.technique.lower()
        out = out.merged(
            cage_construct(
                CageSpec(
                    segment=_segment(c.segment, "plan cage"),
                    technique=tech if tech in ("tlif", "plif", "alif", "llif") else "tlif",
                    material=c.material,
                    width_mm=c.width_mm,
                    depth_mm=c.depth_mm,
                    centre=c.centre,
                    count=c.count,
                )
            )
        )
    heads: dict[str, dict[str, Vec3]] = {"left": {}, "right": {}}
    lengths: dict[str, dict[str, float]] = {"left": {}, "right": {}}
    for s in plan.screws:
        heads[s.side][s.vertebra] = s.entry_point
        lengths[s.side][s.vertebra] = s.length_mm
    for rod in plan.rods:
        levels = [v for v in LUMBAR if v in heads[rod.side]]
        if len(levels) < 2:
            continue
        out = out.merged(
            Construct(
                rods=[
                    RodSpec(
                        side=rod.side,
                        vertebrae=levels,
                        material=rod.material,
                        diameter_mm=rod.diameter_mm,
                        heads={v: heads[rod.side][v] for v in levels},
                        screw_length_mm={v: lengths[rod.side][v] for v in levels},
                    )
                ]
            )
        )
    if fusion_fraction is not None:
        regions = list(plan.graft.regions) if plan.graft and plan.graft.regions else None
        if regions is None:
            regions = ["interbody", "posterolateral"] if plan.cages else ["posterolateral"]
        for seg in plan.fuse_segments:
            out = out.merged(
                Construct(
                    fusion=[
                        FusionMassSpec(
                            segment=_segment(seg, "plan fuse_segments"),
                            regions=regions,
                            fraction=fusion_fraction,
                        )
                    ]
                )
            )
    return out
