"""Surgical modifications of the spine model, from a SurgicalPlan or from construct specs.

A :class:`Construct` only says *what* is changed; :mod:`spinefuse.mechanics.model` turns it into
elements from the implants' physical properties (nothing here is fitted to surgical results).

Construct specs (the CLI's ``--construct``), fields separated by ``:``; every field must be
understood, anything else is refused with the accepted forms:

``screws-rods:SPAN[:bilateral|unilateral-left|unilateral-right][:MATERIAL][:DIAMETER_MM]``
    pedicle screws and rods over ``SPAN`` (``L4-L5``, ``L3-S1``); rod MATERIAL titanium, cocr,
    steel or peek.
``cage:SEG[:alif|llif|tlif|plif][:peek|titanium][:HEIGHT_MM]``, ``cage-plate:SEG[:alif]``
    an interbody cage (with the disc cleared and the approach's own resections); cage-plate
    adds an integrated screw fixation.
``interspinous:SEG[:peek|titanium]``, ``disc-replacement:SEG``
``ligaments:SEG:ssl,isl,lf,pll,all,cl,itl``, ``laminectomy:SEG``,
``hemilaminectomy:SEG:left|right``, ``facetectomy:SEG[:bilateral|left|right][:PERCENT]``,
``discectomy:SEG[:nucleus|total]``
``fused:SEG[:BONE_FRACTION]``
    a fusion mass, mature (1, default) or partial (0…1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast

from pydantic import Field

from spinefuse.conventions import LUMBAR, LUMBAR_SEGMENTS, Side, parse_segment, span_segments
from spinefuse.errors import LevelError, ParameterError
from spinefuse.records import Record, Vec3

if TYPE_CHECKING:
    from spinefuse.plan.surgical_plan import SurgicalPlan

CageTechnique = Literal["tlif", "plif", "alif", "llif"]
CAGE_TECHNIQUES: tuple[CageTechnique, ...] = ("alif", "llif", "tlif", "plif")
CageMaterial = Literal["peek", "titanium"]
GraftRegion = Literal["interbody", "posterolateral"]
GRAFT_REGIONS: tuple[GraftRegion, ...] = ("interbody", "posterolateral")
LigamentRemoval = Literal["ALL", "PLL", "LF", "ISL", "SSL", "CL", "ITL"]
LIGAMENTS: tuple[LigamentRemoval, ...] = ("ALL", "PLL", "LF", "ISL", "SSL", "CL", "ITL")
RodMaterial = Literal["titanium", "cobalt_chrome", "stainless_steel", "peek"]
ROD_MATERIALS: dict[str, RodMaterial] = {
    "titanium": "titanium",
    "ti": "titanium",
    "cocr": "cobalt_chrome",
    "cobalt_chrome": "cobalt_chrome",
    "cobalt-chrome": "cobalt_chrome",
    "steel": "stainless_steel",
    "stainless_steel": "stainless_steel",
    "stainless-steel": "stainless_steel",
    "peek": "peek",
}
RodConfiguration = Literal["bilateral", "unilateral-left", "unilateral-right"]
ROD_CONFIGURATIONS: dict[str, tuple[Side, ...]] = {
    "bilateral": ("left", "right"),
    "unilateral-left": ("left",),
    "unilateral-right": ("right",),
}


class CageSpec(Record):
    segment: str
    technique: CageTechnique
    material: CageMaterial = "peek"
    width_mm: float | None = None
    depth_mm: float | None = None
    height_mm: float | None = Field(
        default=None, gt=0, description="cage height; else the disc space plus the default"
    )
    centre: Vec3 | None = None
    count: int = 1
    integrated_fixation: bool = Field(
        default=False, description="screws from the cage into both bodies (cage-plate)"
    )


class RodSpec(Record):
    """One rod through the screw heads of ``vertebrae`` (craniocaudal) on one side."""

    side: Side
    vertebrae: list[str]
    material: RodMaterial = "titanium"
    diameter_mm: float = Field(default=5.5, gt=0)
    heads: dict[str, Vec3] = Field(
        default_factory=dict,
        description="vertebra -> screw entry point (world, mm); else from pedicles",
    )
    screw_length_mm: dict[str, float] = Field(default_factory=dict)
    screw_diameter_mm: dict[str, float] = Field(default_factory=dict)
    screw_hu: dict[str, float] = Field(
        default_factory=dict, description="vertebra -> mean HU along the screw path"
    )


class FusionMassSpec(Record):
    segment: str
    regions: list[GraftRegion] = Field(default_factory=lambda: list(GRAFT_REGIONS))
    fraction: float = Field(default=1.0, ge=0.0, le=1.0, description="bone fraction φ")


class InterspinousSpec(Record):
    segment: str
    material: CageMaterial = "peek"


class Construct(Record):
    """Everything a surgery changes in the model, per segment."""

    facetectomy: dict[str, list[Side]] = Field(default_factory=dict)
    facet_resection: dict[str, dict[Side, float]] = Field(
        default_factory=dict, description="segment -> side -> resected fraction (partial)"
    )
    removed_ligaments: dict[str, list[LigamentRemoval]] = Field(default_factory=dict)
    hemilaminectomy: dict[str, list[Side]] = Field(default_factory=dict)
    discectomy: list[str] = Field(default_factory=list)
    total_discectomy: list[str] = Field(default_factory=list)
    cages: list[CageSpec] = Field(default_factory=list)
    rods: list[RodSpec] = Field(default_factory=list)
    fusion: list[FusionMassSpec] = Field(default_factory=list)
    interspinous: list[InterspinousSpec] = Field(default_factory=list)
    disc_replacements: list[str] = Field(default_factory=list)

    @property
    def instrumented_segments(self) -> list[str]:
        """Segments bridged by a rod, craniocaudal."""
        segs: set[str] = set()
        for rod in self.rods:
            for a, b in zip(rod.vertebrae[:-1], rod.vertebrae[1:], strict=True):
                segs.add(f"{a}-{b}")
        return [s for s in LUMBAR_SEGMENTS if s in segs]

    @property
    def segments(self) -> list[str]:
        """Every segment the construct changes, craniocaudal."""
        segs = {
            *self.facetectomy,
            *self.facet_resection,
            *self.removed_ligaments,
            *self.hemilaminectomy,
            *self.discectomy,
            *self.total_discectomy,
            *(c.segment for c in self.cages),
            *(f.segment for f in self.fusion),
            *(x.segment for x in self.interspinous),
            *self.disc_replacements,
            *self.instrumented_segments,
        }
        return [s for s in LUMBAR_SEGMENTS if s in segs]

    def merged(self, other: Construct) -> Construct:
        """Both constructs' modifications together."""

        def union(a: dict[str, list[str]], b: dict[str, list[str]]) -> dict[str, list[str]]:
            out = {k: list(v) for k, v in a.items()}
            for k, v in b.items():
                out[k] = sorted(set(out.get(k, [])) | set(v))
            return out

        res = {k: dict(v) for k, v in self.facet_resection.items()}
        for k, sides in other.facet_resection.items():
            for side, frac in sides.items():
                res.setdefault(k, {})[side] = max(res.get(k, {}).get(side, 0.0), frac)
        return Construct.model_validate(
            {
                "facetectomy": union(self.facetectomy, other.facetectomy),  # type: ignore[arg-type]
                "facet_resection": res,
                "removed_ligaments": union(
                    self.removed_ligaments,  # type: ignore[arg-type]
                    other.removed_ligaments,  # type: ignore[arg-type]
                ),
                "hemilaminectomy": union(self.hemilaminectomy, other.hemilaminectomy),  # type: ignore[arg-type]
                "discectomy": sorted(set(self.discectomy) | set(other.discectomy)),
                "total_discectomy": sorted(
                    set(self.total_discectomy) | set(other.total_discectomy)
                ),
                "cages": [*self.cages, *other.cages],
                "rods": [*self.rods, *other.rods],
                "fusion": [*self.fusion, *other.fusion],
                "interspinous": [*self.interspinous, *other.interspinous],
                "disc_replacements": sorted(
                    set(self.disc_replacements) | set(other.disc_replacements)
                ),
            }
        )


USAGE = (
    "use screws-rods:L4-L5[:bilateral|unilateral-left|unilateral-right][:titanium|cocr|steel|"
    "peek][:5.5], cage:L4-L5[:alif|llif|tlif|plif][:peek|titanium][:12], cage-plate:L4-L5:alif, "
    "interspinous:L4-L5, disc-replacement:L4-L5, ligaments:L4-L5:ssl,isl,lf,pll,all,cl, "
    "laminectomy:L4-L5, hemilaminectomy:L4-L5:left, facetectomy:L4-L5[:bilateral|left|right]"
    "[:50], discectomy:L4-L5[:nucleus|total] or fused:L4-L5[:0.4]"
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


def _number(text: str, spec: str, what: str, lo: float, hi: float) -> float | None:
    """``text`` as a number in lo…hi, None when it is not a number; out of range is refused."""
    try:
        x = float(text)
    except ValueError:
        return None
    if not lo <= x <= hi:
        raise ParameterError(f"construct {spec!r}: {what} {text} must lie in {lo:g}…{hi:g}")
    return x


def _refuse(spec: str, field: str, allowed: str) -> ParameterError:
    return ParameterError(f"construct {spec!r}: field {field!r} is not understood; {allowed}")


def _too_many(spec: str, parts: list[str], n: int, form: str) -> None:
    if len(parts) > n:
        raise ParameterError(
            f"construct {spec!r}: unexpected field(s) {':'.join(parts[n:])!r}; the form is {form}"
        )


def _screws_rods(
    parts: list[str], spec: str, material: str | None, diameter: float | None
) -> Construct:
    try:
        segs = span_segments(parts[1].upper())
    except LevelError as err:
        raise ParameterError(f"construct {spec!r}: {err}") from None
    if not segs:
        raise ParameterError(f"construct {spec!r}: the span covers no segment")
    config: str | None = None
    mat: str | None = None
    dia: float | None = None
    for field in parts[2:]:
        f = field.lower()
        if f in ROD_CONFIGURATIONS and config is None:
            config = f
        elif f in ROD_MATERIALS and mat is None:
            mat = ROD_MATERIALS[f]
        elif dia is None and (x := _number(f, spec, "rod diameter (mm)", 3.0, 8.0)) is not None:
            dia = x
        else:
            raise _refuse(
                spec,
                field,
                "after the span give at most one of bilateral|unilateral-left|unilateral-right, "
                "one rod material (titanium, cocr, steel, peek) and one diameter in mm",
            )
    up = parse_segment(segs[0])[0]
    levels = [up] + [parse_segment(s)[1] for s in segs]
    rod_mat = cast(RodMaterial, mat or (ROD_MATERIALS[material] if material else "titanium"))
    rod_d = dia or diameter or 5.5
    return Construct(
        rods=[
            RodSpec(side=s, vertebrae=levels, material=rod_mat, diameter_mm=rod_d)
            for s in ROD_CONFIGURATIONS[config or "bilateral"]
        ]
    )


def _cage(parts: list[str], spec: str, plate: bool) -> Construct:
    seg = _segment(parts[1], spec)
    tech: str | None = None
    mat: str | None = None
    height: float | None = None
    for field in parts[2:]:
        f = field.lower()
        if f in CAGE_TECHNIQUES and tech is None:
            tech = f
        elif f in ("peek", "titanium") and mat is None:
            mat = f
        elif height is None and (x := _number(f, spec, "cage height (mm)", 5.0, 25.0)) is not None:
            height = x
        else:
            raise _refuse(
                spec,
                field,
                "after the segment give at most one technique (alif, llif, tlif, plif), one "
                "material (peek, titanium) and one height in mm",
            )
    technique = cast(CageTechnique, tech or ("alif" if plate else "tlif"))
    if plate and technique != "alif":
        raise ParameterError(
            f"construct {spec!r}: an integrated cage-plate fixation is an anterior (alif) "
            f"implant, not {technique}; use cage-plate:{seg}:alif"
        )
    return cage_construct(
        CageSpec(
            segment=seg,
            technique=technique,
            material=cast(CageMaterial, mat or "peek"),
            height_mm=height,
            integrated_fixation=plate,
        )
    )


def parse_construct(
    spec: str, rod_material: str | None = None, rod_diameter_mm: float | None = None
) -> Construct:
    """One construct spec (module docstring) as a :class:`Construct`. ``rod_material`` and
    ``rod_diameter_mm`` apply to screws-rods specs that do not name their own."""
    if rod_material is not None and rod_material.lower() not in ROD_MATERIALS:
        raise ParameterError(
            f"rod material {rod_material!r} is unknown; use titanium, cocr, steel or peek"
        )
    parts = [p.strip() for p in spec.strip().split(":")]
    kind = parts[0].lower()
    if len(parts) < 2 or not parts[1]:
        raise ParameterError(f"construct {spec!r}: missing the segment; {USAGE}")
    if kind in ("screws-rods", "screws_rods", "rods"):
        return _screws_rods(parts, spec, rod_material and rod_material.lower(), rod_diameter_mm)
    if kind in ("cage", "cage-plate"):
        return _cage(parts, spec, plate=kind == "cage-plate")
    seg = _segment(parts[1], spec)
    if kind == "facetectomy":
        _too_many(spec, parts, 4, "facetectomy:SEG[:bilateral|left|right][:PERCENT]")
        side = parts[2].lower() if len(parts) > 2 else "bilateral"
        sides = cast(
            list[Side],
            {"bilateral": ["left", "right"], "left": ["left"], "right": ["right"]}.get(side, []),
        )
        if not sides:
            raise ParameterError(f"construct {spec!r}: side {side!r} is not bilateral|left|right")
        if len(parts) > 3:
            pct = _number(parts[3], spec, "facetectomy percent", 0.0, 100.0)
            if pct is None:
                raise _refuse(spec, parts[3], "the last field is the resected percent, 0…100")
            if pct < 100.0:
                return Construct(facet_resection={seg: {s: pct / 100.0 for s in sides}})
        return Construct(facetectomy={seg: sides})
    if kind == "laminectomy":
        _too_many(spec, parts, 2, "laminectomy:SEG")
        return Construct(removed_ligaments={seg: ["LF", "ISL", "SSL"]})
    if kind == "hemilaminectomy":
        _too_many(spec, parts, 3, "hemilaminectomy:SEG:left|right")
        side = parts[2].lower() if len(parts) > 2 else ""
        if side not in ("left", "right"):
            raise ParameterError(
                f"construct {spec!r}: give the side, hemilaminectomy:{seg}:left or :right"
            )
        return Construct(hemilaminectomy={seg: [cast(Side, side)]})
    if kind == "ligaments":
        _too_many(spec, parts, 3, "ligaments:SEG:ssl,isl,lf,pll,all,cl,itl")
        names = [x.strip().upper() for x in parts[2].split(",")] if len(parts) > 2 else []
        bad = [x for x in names if x not in LIGAMENTS]
        if not names or bad:
            raise ParameterError(
                f"construct {spec!r}: ligaments {', '.join(bad) or '(none)'} unknown; name them "
                "from ssl, isl, lf, pll, all, cl, itl, comma-separated"
            )
        return Construct(removed_ligaments={seg: cast(list[LigamentRemoval], sorted(set(names)))})
    if kind == "discectomy":
        _too_many(spec, parts, 3, "discectomy:SEG[:nucleus|total]")
        what = parts[2].lower() if len(parts) > 2 else "nucleus"
        if what == "nucleus":
            return Construct(discectomy=[seg])
        if what == "total":
            return Construct(discectomy=[seg], total_discectomy=[seg])
        raise ParameterError(f"construct {spec!r}: {what!r} is not nucleus|total")
    if kind == "interspinous":
        _too_many(spec, parts, 3, "interspinous:SEG[:peek|titanium]")
        mat = parts[2].lower() if len(parts) > 2 else "peek"
        if mat not in ("peek", "titanium"):
            raise _refuse(spec, parts[2], "the spacer material is peek or titanium")
        return Construct(
            interspinous=[InterspinousSpec(segment=seg, material=cast(CageMaterial, mat))]
        )
    if kind == "disc-replacement":
        _too_many(spec, parts, 2, "disc-replacement:SEG")
        return Construct(
            disc_replacements=[seg],
            discectomy=[seg],
            total_discectomy=[seg],
            removed_ligaments={seg: ["ALL"]},
        )
    if kind == "fused":
        _too_many(spec, parts, 3, "fused:SEG[:BONE_FRACTION]")
        frac = 1.0
        if len(parts) > 2:
            x = _number(parts[2], spec, "bone fraction", 0.0, 1.0)
            if x is None:
                raise _refuse(spec, parts[2], "the last field is the bone fraction, 0…1")
            frac = x
        return Construct(fusion=[FusionMassSpec(segment=seg, fraction=frac)])
    raise ParameterError(f"construct {spec!r}: unknown kind {kind!r}; {USAGE}")


def cage_construct(cage: CageSpec) -> Construct:
    """A cage with what its approach takes away: the nucleus is cleared for every cage; an
    anterior (ALIF) approach also cuts the anterior longitudinal ligament, a transforaminal one
    (TLIF) resects one facet joint, a posterior one (PLIF) the ligamentum flavum and the medial
    half of both facets. The annulus window of each approach is in the model (data file)."""
    seg = cage.segment
    out = Construct(cages=[cage], discectomy=[seg])
    if cage.technique == "alif":
        out = out.merged(Construct(removed_ligaments={seg: ["ALL"]}))
    elif cage.technique == "tlif":
        out = out.merged(Construct(facetectomy={seg: ["left"]}))
    elif cage.technique == "plif":
        out = out.merged(
            Construct(
                removed_ligaments={seg: ["LF"]},
                facet_resection={seg: {"left": 0.5, "right": 0.5}},
            )
        )
    return out


def parse_constructs(
    specs: list[str] | tuple[str, ...],
    rod_material: str | None = None,
    rod_diameter_mm: float | None = None,
) -> Construct:
    """Several construct specs merged into one :class:`Construct`."""
    out = Construct()
    for spec in specs:
        out = out.merged(parse_construct(spec, rod_material, rod_diameter_mm))
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
            out = out.merged(Construct(hemilaminectomy={seg: sides}))
        elif d.kind == "facetectomy_unilateral":
            out = out.merged(Construct(facetectomy={seg: sides[:1]}))
        elif d.kind == "facetectomy_bilateral":
            out = out.merged(Construct(facetectomy={seg: ["left", "right"]}))
        elif d.kind == "discectomy":
            out = out.merged(Construct(discectomy=[seg]))
    for c in plan.cages:
        tech = c.technique.lower()
        spec = CageSpec(
            segment=_segment(c.segment, "plan cage"),
            technique=tech if tech in CAGE_TECHNIQUES else "tlif",
            material=c.material,
            width_mm=c.width_mm,
            depth_mm=c.depth_mm,
            height_mm=c.height_mm,
            centre=c.centre,
            count=c.count,
        )
        # the plan lists its own decompressions; keep only what the cage itself needs
        cage_only = Construct(cages=[spec], discectomy=[spec.segment])
        if spec.technique == "alif":
            cage_only = cage_only.merged(Construct(removed_ligaments={spec.segment: ["ALL"]}))
        out = out.merged(cage_only)
    heads: dict[str, dict[str, Vec3]] = {"left": {}, "right": {}}
    lengths: dict[str, dict[str, float]] = {"left": {}, "right": {}}
    diameters: dict[str, dict[str, float]] = {"left": {}, "right": {}}
    hus: dict[str, dict[str, float]] = {"left": {}, "right": {}}
    for s in plan.screws:
        heads[s.side][s.vertebra] = s.entry_point
        lengths[s.side][s.vertebra] = s.length_mm
        diameters[s.side][s.vertebra] = s.diameter_mm
        if s.mean_hu is not None:
            hus[s.side][s.vertebra] = s.mean_hu
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
                        screw_diameter_mm={v: diameters[rod.side][v] for v in levels},
                        screw_hu={v: hus[rod.side][v] for v in levels if v in hus[rod.side]},
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
