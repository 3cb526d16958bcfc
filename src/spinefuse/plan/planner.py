"""The planning stage: from the case, the anatomy and the assessment to a complete SurgicalPlan.

:func:`plan_surgery` is pure and fast (milliseconds on a virtual spine; cohorts plan tens of
thousands of patient-arms). Every choice is the surgeon's when given (a keyword, else the case's
preferences, recorded in ``overridden``), the planner's rule otherwise, with its reason.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Assessment
from spinefuse.case import Case, load_case
from spinefuse.conventions import SIDES, parse_segment, segment_vertebrae, vertebra_index
from spinefuse.errors import LevelError, ParameterError
from spinefuse.imaging.volume import Volume
from spinefuse.plan.cage import plan_cage
from spinefuse.plan.catalogue import Catalogue, default_catalogue
from spinefuse.plan.corridor import pedicles_on_labels
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
            warnings.append(
                f"{name} is cut by the edge of the image: its measurements are incomplete; "
                "check its screws on an image of the whole vertebra"
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


def _screw_summary(screws: Sequence[PedicleScrew], rules: PlanningRules) -> list[str]:
    """Plan-level warnings: each poorly fitting screw, and low bone density once per band."""
    out = [
        s.warnings[0]
        for s in screws
        if s.warnings and (s.breach or "too narrow" in s.warnings[0] or "chord" in s.warnings[0])
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


def _stage(module: str, name: str) -> object:
    """A function of another stage, imported when the stage is used."""
    return getattr(importlib.import_module(module), name)


def case_images(case: Case) -> tuple[Volume, Volume, dict[str, set[int]]] | None:
    """The case's preoperative CT, its label map on the CT grid and the label IDs of each
    vertebra; None when the case has no CT NIfTI with a label map."""
    study = case.study("CT")
    if study is None or study.nifti is None or study.label_map is None:
        return None
    read_nifti = _stage("spinefuse.imaging.nifti", "read_nifti")
    read_label_map = _stage("spinefuse.imaging.labels", "read_label_map")
    ct = read_nifti(study.nifti)  # type: ignore[operator]
    labels = read_label_map(study.label_map, ct, True)  # type: ignore[operator]
    convention: Literal["totalseg", "verse"] | dict[int, str]
    if study.label_convention == "custom":
        convention = dict(study.label_mapping or {})
    else:
        convention = "verse" if study.label_convention == "verse" else "totalseg"
    return ct, labels, label_ids(convention)


def grade_plan_on_images(
    plan: SurgicalPlan,
    case: Case,
    catalogue: Catalogue | None = None,
    images: tuple[Volume, Volume, dict[str, set[int]]] | None = None,
) -> SurgicalPlan:
    """The plan with its screws checked against the case's CT and label map by shaft sampling;
    a screw that would leave the bone is replaced by the widest, longest stocked one that stays
    in it (:func:`~spinefuse.plan.screws.fit_screws_to_bone`). Unchanged without images."""
    images = images or case_images(case)
    if images is None:
        return plan
    ct, labels, ids = images
    cat = catalogue or default_catalogue()
    screws = fit_screws_to_bone(plan.screws, labels, ids, planning_rules(), cat, ct)
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

    When the case has a CT with a label map, the screw corridors of the instrumented vertebrae
    are first fitted on the label map (where the anatomy stage resolved no pedicle, or to keep
    the screw in bone where it did) and every screw is checked on it after; otherwise (virtual
    patients, cohorts) the plan comes from the geometry alone in milliseconds."""
    images = case_images(case)
    notes: list[str] = []
    if images is not None:
        segments, _ = select_segments(case, geometry, assessment, levels)
        names = [n for n in segment_vertebrae(segments) if n in geometry.vertebrae]
        geometry, notes = pedicles_on_labels(
            geometry, images[1], images[2], names, planning_rules()
        )
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
    if plan is None or images is None:
        return plan
    plan = plan.model_copy(update={"reasons": [*plan.reasons, *notes]})
    return grade_plan_on_images(plan, case, catalogue, images)


plan_for_case = plan_surgery
"""The pipeline's plan stage: :func:`plan_surgery` (kept as a name for callers that use it)."""


def plan_case(case: Case) -> SurgicalPlan | None:
    """Anatomy, assessment and plan for a case (None when the case has no geometry to plan on
    or no fusion is indicated)."""
    geometry_from_case = _stage("spinefuse.anatomy.from_labels", "geometry_from_case")
    assess_case = _stage("spinefuse.assess", "assess_case")
    geometry = geometry_from_case(case)  # type: ignore[operator]
    if geometry is None:
        return None
    assessment = assess_case(case, geometry)  # type: ignore[operator]
    return plan_surgery(case, geometry, assessment)


def plan_json(case_path: str | Path) -> str:
    """``spinefuse plan CASE --json``: the SurgicalPlan as JSON, or ``{"plan": null, "reason"}``
    when the case has no imaging to plan from or no fusion is indicated."""
    case = load_case(case_path)
    plan = plan_case(case)
    if plan is None:
        return json.dumps(
            {
                "plan": None,
                "reason": "no fusion indicated, or no CT/MR geometry to plan implants on",
            },
            indent=2,
        )
    return plan.to_json()
