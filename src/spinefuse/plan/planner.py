"""The planning stage: from the case, the anatomy and the assessment to a complete SurgicalPlan.

:func:`plan_surgery` is pure and fast (milliseconds on a virtual spine; cohorts plan tens of
thousands of patient-arms). Every choice is the surgeon's when given (a keyword, else the case's
preferences, recorded in ``overridden``), the planner's rule otherwise, with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Assessment
from spinefuse.case import Case
from spinefuse.conventions import SIDES, parse_segment, segment_vertebrae, vertebra_index
from spinefuse.errors import CaseError, LevelCutError, LevelError, ParameterError
from spinefuse.plan.cage import plan_cage
from spinefuse.plan.catalogue import Catalogue, default_catalogue
from spinefuse.plan.decompression import plan_decompressions
from spinefuse.plan.graft import graft_need, plan_graft
from spinefuse.plan.rods import choose_rod, plan_rods
from spinefuse.plan.rules import PlanningRules, planning_rules
from spinefuse.plan.screws import (
    fit_screws_to_bone,
    label_ids,
    plan_vertebra_screws,
    plannable_sides,
)
from spinefuse.plan.surgical_plan import (
    Approach,
    GraftMaterial,
    PedicleScrew,
    RodMaterial,
    SurgicalPlan,
    Technique,
)
from spinefuse.plan.technique import DEFORMITY, choose_technique, has, segment_findings

if TYPE_CHECKING:
    from spinefuse.imaging.images import Images


def _sorted(segments: Sequence[str]) -> list[str]:
    names = []
    for s in segments:
        up, low = parse_segment(s)
        names.append(f"{up}-{low}")
    return sorted(dict.fromkeys(names), key=lambda s: vertebra_index(parse_segment(s)[0]))


def select_segments(
    case: Case,
    geometry: SpineGeometry,
    assessment: Assessment,
    levels: int | Sequence[str] | None,
) -> tuple[list[str], list[str]]:
    """The segments to fuse and the names of overridden choices.

    ``levels`` as a list fixes the segments; as a number it trims or extends the recommended ones
    (extension goes to the neighbour with findings or marked for decompression, else cranially,
    the way an adjacent degenerated segment is included)."""
    if isinstance(levels, str):
        levels = [levels]
    if levels is not None and not isinstance(levels, int):
        return _sorted(list(levels)), ["levels"]
    overridden = []
    if case.preferences.fuse_segments is not None:
        base = _sorted(case.preferences.fuse_segments)
        overridden.append("levels")
    else:
        base = _sorted(assessment.fuse_segments)
    if levels is None:
        return base, overridden
    if levels < 1:
        raise ParameterError(f"levels = {levels}: fuse at least one segment, or pass None")
    overridden.append("levels")
    if not base:
        base = _sorted(assessment.decompress_segments)[:1]
    if not base:
        return [], overridden

    def weight(s: str) -> int:
        return len(segment_findings(assessment, s)) + (s in assessment.decompress_segments)

    while len(base) > levels:
        base.remove(min(base, key=lambda s: (weight(s), -vertebra_index(parse_segment(s)[0]))))
    while len(base) < levels:
        top, bottom = parse_segment(base[0])[0], parse_segment(base[-1])[1]
        near = [
            s
            for s in geometry.discs
            if s not in base and (parse_segment(s)[1] == top or parse_segment(s)[0] == bottom)
        ]
        if not near:
            raise ParameterError(
                f"levels = {levels}: no segment next to {', '.join(base)} in this geometry"
            )
        pick = max(near, key=lambda s: (weight(s), parse_segment(s)[1] == top))
        base = _sorted([*base, pick])
    return base, overridden


def _check_anatomy(geometry: SpineGeometry, segments: list[str]) -> list[str]:
    """Refuse segments whose vertebrae the geometry lacks; warn of what is only partly known."""
    warnings = []
    for name in segment_vertebrae(segments):
        if name not in geometry.vertebrae:
            raise LevelError(
                f"vertebra {name} of the segments to fuse ({', '.join(segments)}) is not in the "
                f"geometry (present: {', '.join(geometry.vertebrae) or 'none'})"
            )
        if geometry.vertebrae[name].partial:
            raise LevelCutError(
                f"{name} of the segments to fuse ({', '.join(segments)}) is cut by the edge of "
                "the image: what lies outside it is unknown, so no fusion is planned on it; "
                "image the whole vertebra"
            )
    levels = geometry.levels
    for s in segments:
        up, low = parse_segment(s)
        if levels.index(low) != levels.index(up) + 1:
            between = levels[levels.index(up) : levels.index(low) + 1]
            raise LevelError(
                f"{s} is not a motion segment: name its segments, "
                + ", ".join(f"{a}-{b}" for a, b in zip(between, between[1:], strict=False))
            )
        if s not in geometry.discs:
            warnings.append(f"{s}: the disc was not measured, so no cage is sized for it")
    return warnings


def plan_on_geometry(
    case: Case,
    geometry: SpineGeometry,
    assessment: Assessment,
    *,
    technique: Technique | None = None,
    approach: Approach | None = None,
    graft: GraftMaterial | None = None,
    rod_material: RodMaterial | None = None,
    rod_diameter_mm: float | None = None,
    levels: int | Sequence[str] | None = None,
    catalogue: Catalogue | None = None,
) -> SurgicalPlan | None:
    """The surgical plan from the geometry alone (pure, milliseconds), or None when no fusion is
    indicated. Keywords as for :func:`plan_surgery`."""
    cat = catalogue or default_catalogue()
    rules: PlanningRules = planning_rules()
    segments, overridden = select_segments(case, geometry, assessment, levels)
    if not segments:
        return None
    anatomy_warnings = _check_anatomy(geometry, segments)
    choice = choose_technique(
        case, geometry, assessment, segments, rules, technique=technique, approach=approach
    )
    reasons = [
        f"fuse {', '.join(segments)}"
        + (": " + assessment.rationale if assessment.rationale else "")
    ]
    reasons += choice.reasons
    warnings = [*anatomy_warnings, *choice.warnings]
    overridden += choice.overridden

    decompressions = plan_decompressions(
        case, assessment, segments, choice.technique, assessment.decompress_segments
    )
    screws = [
        s
        for name in segment_vertebrae(segments)
        for s in plan_vertebra_screws(geometry.vertebra(name), cat, rules)
    ]
    for name in segment_vertebrae(segments):
        missing = set(SIDES) - set(plannable_sides(geometry.vertebra(name)))
        for side in sorted(missing):
            warnings.append(
                f"{name} {side}: the geometry has no measured pedicle (isthmus, axis and entry "
                "point), so no screw is planned there; give the case its CT label map (the "
                "corridor is then fitted on it) or plan the screw by hand"
            )
    cages = []
    if choice.technique != "PLF":
        for seg in (s for s in segments if s in geometry.discs):
            cp = plan_cage(geometry, assessment, seg, choice.technique, segments, cat, rules)
            cages.append(cp.cage)
            reasons += cp.reasons
            warnings += cp.warnings
            if cp.cage.subsidence_warning:
                warnings.append(cp.cage.subsidence_warning)
    deformity = any(has(assessment, d) for d in DEFORMITY)
    rod = choose_rod(
        cat,
        rules,
        len(segments),
        deformity,
        material=rod_material,
        diameter_mm=rod_diameter_mm,
        preferred_material=case.preferences.rod_material,
        preferred_diameter_mm=case.preferences.rod_diameter_mm,
    )
    reasons += rod.reasons
    overridden += rod.overridden
    rods = plan_rods(screws, rod, cat, rules)
    for side in SIDES:
        if not any(r.side == side for r in rods):
            warnings.append(f"no {side} rod: fewer than two {side} screws could be planned")
    need = graft_need(geometry, choice.technique, segments, cages, decompressions, cat, rules)
    g, why, warn, over = plan_graft(
        case,
        need,
        choice.technique,
        len(segments),
        cat,
        material=graft,
        preferred=case.preferences.graft,
    )
    reasons += why
    warnings += warn
    overridden += over

    warnings += _screw_summary(screws, rules)
    warnings += _fractures(assessment, segments)
    p = case.patient
    if p.osteoporosis or (p.t_score is not None and p.t_score <= -2.5):
        warnings.append(
            "osteoporosis (DXA): consider cement-augmented screws, longer constructs and "
            "anabolic treatment before elective fusion"
        )
    return SurgicalPlan(
        fuse_segments=segments,
        approach=choice.approach,
        technique=choice.technique,
        reasons=reasons,
        overridden=list(dict.fromkeys(overridden)),
        decompressions=decompressions,
        screws=screws,
        rods=rods,
        cages=cages,
        graft=g,
        warnings=list(dict.fromkeys(warnings)),
    )


def _fractures(assessment: Assessment, segments: list[str]) -> list[str]:
    """A fractured vertebra in the construct, or next to its ends, changes the plan."""
    inside = set(segment_vertebrae(segments))
    ends = [parse_segment(segments[0])[0], parse_segment(segments[-1])[1]]
    out = []
    for f in assessment.findings:
        if f.diagnosis != "vertebral_fracture" or f.level is None:
            continue
        if f.level in inside:
            out.append(
                f"{f.level}: {f.grade} in the construct: screw purchase in a fractured body is "
                "poor; consider extending the fixation past it, cement augmentation, and "
                "dating the fracture (MR STIR or bone scan) before fusing across it"
            )
        elif any(abs(vertebra_index(f.level) - vertebra_index(e)) == 1 for e in ends):
            out.append(
                f"{f.level}: {f.grade} next to the end of the construct: a fractured vertebra "
                "at the junction risks proximal/distal junctional failure; consider ending the "
                "fixation beyond it"
            )
    return out


def _screw_summary(screws: Sequence[PedicleScrew], rules: PlanningRules) -> list[str]:
    """Plan-level warnings: each poorly fitting screw, and low bone density once per band."""
    out = [
        s.warnings[0]
        for s in screws
        if s.warnings and (s.breach or {"narrow_pedicle", "short_chord"} & set(s.issues))
    ]
    for band in ("poor", "reduced"):
        levels = list(dict.fromkeys(s.vertebra for s in screws if s.purchase == band))
        if levels:
            edge = getattr(rules.trabecular_hu_bands, band)
            out.append(
                f"{band} screw purchase at {', '.join(levels)} (trabecular HU ≤ {edge:g}, "
                "Pickhardt et al. 2013): consider cement augmentation, the largest diameter and "
                "longer screws, or a longer construct"
            )
    return out


def _corridor_notes(geometry: SpineGeometry, names: Sequence[str]) -> list[str]:
    """What the anatomy stage's corridor search gave each instrumented vertebra."""
    notes = []
    for name in names:
        v = geometry.vertebrae.get(name)
        if v is None:
            continue
        for side in SIDES:
            c = v.corridors.get(side)
            if c is not None:
                notes.append(
                    f"{name} {side}: screw corridor fitted on the label map "
                    f"({c.width_mm:.1f} mm wide, chord {c.chord_mm or 0:.0f} mm)"
                )
            elif v.partial:
                notes.append(f"{name} {side}: cut by the edge of the image, no corridor fitted")
            else:
                notes.append(f"{name} {side}: no bone corridor found on the label map")
    return notes


def grade_plan_on_images(
    plan: SurgicalPlan, images: Images, catalogue: Catalogue | None = None
) -> SurgicalPlan:
    """The plan with its screws checked against the labelled CT by shaft sampling; a screw that
    would leave the bone is replaced by the widest, longest stocked one that stays in it
    (:func:`~spinefuse.plan.screws.fit_screws_to_bone`). Unchanged without a label map."""
    if images.labels is None or images.convention is None:
        return plan
    ids = label_ids(images.convention)
    ct = images.volume if images.modality == "CT" else None
    cat = catalogue or default_catalogue()
    screws = fit_screws_to_bone(plan.screws, images.labels, ids, planning_rules(), cat, ct)
    warnings = [
        s.warnings[-1]
        for s, old in zip(screws, plan.screws, strict=True)
        if s.warnings
        and (s.breach or s.diameter_mm != old.diameter_mm or s.length_mm != old.length_mm)
    ]
    return plan.model_copy(
        update={"screws": screws, "warnings": list(dict.fromkeys([*plan.warnings, *warnings]))}
    )


def plan_surgery(
    case: Case,
    geometry: SpineGeometry,
    assessment: Assessment,
    *,
    images: Images | None = None,
    technique: Technique | None = None,
    approach: Approach | None = None,
    graft: GraftMaterial | None = None,
    rod_material: RodMaterial | None = None,
    rod_diameter_mm: float | None = None,
    levels: int | Sequence[str] | None = None,
    catalogue: Catalogue | None = None,
) -> SurgicalPlan | None:
    """The surgical plan for a case, or None when no fusion is indicated.

    A keyword forces that choice (recorded in ``overridden``); ``levels`` is a number of segments
    or the segment names. Raises :class:`~spinefuse.errors.ParameterError` for a forced choice
    the anatomy or the catalogue cannot honour.

    Screws follow the corridors the anatomy stage fitted on the label map (else the measured
    pedicles); with ``images`` (the labelled CT) every screw is checked on it after. Without
    (virtual patients, cohorts) the plan comes from the geometry alone in milliseconds."""
    plan = plan_on_geometry(
        case,
        geometry,
        assessment,
        technique=technique,
        approach=approach,
        graft=graft,
        rod_material=rod_material,
        rod_diameter_mm=rod_diameter_mm,
        levels=levels,
        catalogue=catalogue,
    )
    if plan is None or images is None or images.labels is None:
        return plan
    notes = _corridor_notes(geometry, segment_vertebrae(plan.fuse_segments))
    plan = plan.model_copy(update={"reasons": [*plan.reasons, *notes]})
    return grade_plan_on_images(plan, images, catalogue)


def plan_without_anatomy(case: Case) -> SurgicalPlan | None:
    """A plan from the surgeon's stated choices when there is no 3-D anatomy to size implants
    on (X-ray films only, or no images): the segments of ``preferences.fuse_segments`` with the
    technique, approach and graft named (TLIF, open and local autograft where not); no implant
    is sized. None when the case names no segments."""
    pref = case.preferences
    if not pref.fuse_segments:
        return None
    technique: Technique = pref.technique or "TLIF"
    approach: Approach = pref.approach or ("mis" if technique in ("LLIF", "ALIF") else "open")
    assumed = [
        f"{what} {value}: not named in the case's preferences, assumed"
        for what, value, given in (
            ("technique", technique, pref.technique),
            ("approach", approach, pref.approach),
        )
        if given is None
    ]
    graft = None
    if pref.graft is not None:
        graft = {"material": pref.graft, "volume_cm3": 0.0}
    return SurgicalPlan.model_validate(
        {
            "fuse_segments": _sorted(pref.fuse_segments),
            "approach": approach,
            "technique": technique,
            "graft": graft,
            "reasons": [
                "levels, technique and approach chosen by the surgeon (case preferences)",
                *assumed,
            ],
            "overridden": ["fuse_segments"],
            "warnings": [
                "no CT or MR: no implant is sized on the patient's anatomy; the plan holds the "
                "surgeon's choices only"
            ],
        }
    )


def check_preferences(case: Case, catalogue: Catalogue | None = None) -> None:
    """Refuse, before any stage runs, preferences the catalogue cannot honour (a rod material
    or diameter it does not stock); raises a CaseError naming the field."""
    pref = case.preferences
    if pref.rod_material is None and pref.rod_diameter_mm is None:
        return
    cat = catalogue or default_catalogue()
    fits = [
        r
        for r in cat.rods
        if (pref.rod_material is None or r.material == pref.rod_material)
        and (pref.rod_diameter_mm is None or abs(r.diameter_mm - pref.rod_diameter_mm) < 1e-6)
    ]
    if not fits:
        stock = ", ".join(f"{r.material} {r.diameter_mm:g} mm" for r in cat.rods)
        wanted = " ".join(
            x
            for x in (
                pref.rod_material or "",
                f"{pref.rod_diameter_mm:g} mm" if pref.rod_diameter_mm is not None else "",
            )
            if x
        )
        raise CaseError(
            f"case {case.id}: preferences ask for a {wanted} rod, which catalogue {cat.name!r} "
            f"does not stock (stocked: {stock}); choose one of those"
        )
