"""The surgeon's report: every stage's results as tables and pictures, units and sources on each.

:func:`surgeon_context` turns the records of a run folder into the mapping the
``surgeon.html.j2`` template renders. A stage that did not run gives a section that says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Assessment
from spinefuse.case import Case
from spinefuse.conventions import parse_segment, segment_vertebrae, vertebra_index
from spinefuse.plan.surgical_plan import SurgicalPlan
from spinefuse.report import figures, spine3d
from spinefuse.report.imaging_views import ImagingPicture, case_imaging
from spinefuse.report.reference import reference
from spinefuse.report.stage_views import (
    Series,
    fusion_probability_points,
    healing_curves,
    quantities,
    recovery_milestones,
    risks,
    rom_rows,
    safety_factors,
    segment_rank,
    stay_days,
    trajectories,
)
from spinefuse.report.tables import (
    Notes,
    fmt,
    level_matrix,
    measurement_rows,
    plural,
    record_table,
    signed_percent,
    words,
)

if TYPE_CHECKING:
    from spinefuse.healing.course import HealingCourse
    from spinefuse.mechanics.result import MechanicsResult
    from spinefuse.outcomes.forecast import Forecast
    from spinefuse.pipeline import CaseResult

STAGE_TITLES = {
    "anatomy": "The anatomy stage",
    "assessment": "The assessment stage",
    "plan": "The planning stage",
    "mechanics": "The mechanics stage",
    "healing": "The healing stage",
    "forecast": "The outcomes stage",
}


def missing_texts(result: CaseResult) -> dict[str, str]:
    """Per stage without a record: why, in a sentence (the stage's own reason when it was
    skipped, else that it did not run)."""
    out = {}
    for stage, title in STAGE_TITLES.items():
        skip = result.skipped.get(stage)  # type: ignore[call-overload]
        if skip is not None:
            out[stage] = f"{title} had nothing to do for this case: {skip.text}."
        else:
            out[stage] = f"{title} did not run in this run (no {stage}.json)."
    return out


def case_summary(case: Case) -> dict[str, Any]:
    """The case in brief: rows of (field, value) and a one-line summary."""
    p, h = case.patient, case.history
    rows = [
        ("Age", f"{p.age_years:.0f} years"),
        ("Sex", p.sex),
        ("Height / weight", f"{p.height_cm:.0f} cm / {p.weight_kg:.0f} kg"),
        ("BMI", f"{p.bmi:.1f} kg/m²"),
        ("Smoking", p.smoking),
        ("Diabetes", words(p.diabetes)),
        (
            "Bone density",
            (f"T-score {p.t_score:+.1f}" if p.t_score is not None else "no DXA")
            + (" (osteoporosis)" if p.osteoporosis else ""),
        ),
        ("ASA class", str(p.asa_class)),
    ]
    sym = []
    if h.back_pain:
        sym.append(f"back pain NRS {h.back_pain_nrs:g}/10")
    if h.leg_pain:
        sym.append(f"leg pain NRS {h.leg_pain_nrs:g}/10")
    if h.radiculopathy:
        sym.append(f"{h.radiculopathy.side} {h.radiculopathy.root} radiculopathy")
    if h.neurogenic_claudication:
        d = h.claudication_distance_m
        sym.append("neurogenic claudication" + (f" at {d:.0f} m" if d is not None else ""))
    if h.neurological_deficit:
        nd = h.neurological_deficit
        sym.append(
            f"{nd.kind} deficit"
            + (f" {nd.root}" if nd.root else "")
            + (f" MRC {nd.mrc_grade}/5" if nd.mrc_grade is not None else "")
            + (" (progressive)" if nd.progressive else "")
        )
    if h.cauda_equina_signs:
        sym.append("cauda equina signs")
    rows += [
        ("Symptoms", "; ".join(sym) or "none recorded"),
        ("Duration", f"{h.symptom_duration_months:g} months"),
        (
            "Conservative care",
            (", ".join(words(c) for c in h.conservative_care) or "none")
            + (f" for {h.conservative_care_months:g} months" if h.conservative_care_months else ""),
        ),
        ("ODI", f"{h.odi:.0f} %" if h.odi is not None else "not recorded"),
    ]
    if p.prior_lumbar_surgery:
        rows.append(
            (
                "Prior surgery",
                "; ".join(f"{s.procedure} {', '.join(s.segments)}" for s in p.prior_lumbar_surgery),
            )
        )
    comorb = [
        n
        for n, on in (
            ("depression", p.depression),
            ("pre-operative opioids", p.preop_opioid_use),
            ("workers' compensation", p.workers_compensation),
        )
        if on
    ]
    if comorb:
        rows.append(("Other", ", ".join(comorb)))
    return {"id": case.id, "rows": rows, "notes": case.notes}


def implant_rows(plan: SurgicalPlan) -> dict[str, list[dict[str, str]]]:
    """Screws, rods, cages and graft as table rows (mm, deg, HU, cm³, mg)."""
    screws = [
        {
            "level": s.vertebra,
            "side": s.side,
            "size": f"Ø {s.diameter_mm:.1f} × {s.length_mm:.0f} mm",
            "medial": fmt(s.medial_angle_deg, 0, "deg"),
            "cranial": fmt(s.cranial_angle_deg, 0, "deg"),
            "hu": fmt(s.mean_hu, 0, "HU"),
            "note": ("BREACH " if s.breach else "") + "; ".join(s.warnings),
        }
        for s in sorted(plan.screws, key=lambda s: (vertebra_index(s.vertebra), s.side))
    ]
    rods = [
        {
            "side": r.side,
            "material": words(r.material),
            "size": f"Ø {r.diameter_mm:.1f} × {r.length_mm:.0f} mm",
            "bends": ", ".join(fmt(b, 0, "deg") for b in r.bend_angles_deg) or "–",
        }
        for r in plan.rods
    ]
    cages = [
        {
            "segment": c.segment,
            "technique": c.technique,
            "material": c.material.upper(),
            "size": f"{c.width_mm:.0f} × {c.depth_mm:.0f} × {c.height_mm:.0f} mm"
            + (f" ×{c.count}" if c.count > 1 else ""),
            "lordosis": fmt(c.lordosis_deg, 0, "deg"),
            "note": c.subsidence_warning or "",
        }
        for c in plan.cages
    ]
    graft = []
    if plan.graft is not None:
        g = plan.graft
        graft.append(
            {
                "material": words(g.material),
                "volume": fmt(g.volume_cm3, 1, "cm³"),
                "regions": ", ".join(g.regions) or "–",
                "bmp": fmt(g.bmp_dose_mg, 1, "mg") if g.bmp_dose_mg is not None else "–",
            }
        )
    return {"screws": screws, "rods": rods, "cages": cages, "graft": graft}


def plan_checks(plan: SurgicalPlan) -> list[str]:
    """What a posterior construct for the planned segments lacks: a pedicle screw at each side
    of every instrumented vertebra, a rod per side, a cage for an interbody technique."""
    out = []
    if plan.screws or plan.rods:
        have = {(s.vertebra, s.side) for s in plan.screws}
        for v in segment_vertebrae(plan.fuse_segments):
            missing = [side for side in ("left", "right") if (v, side) not in have]
            if missing:
                out.append(f"no {' or '.join(missing)} pedicle screw at {v}")
        sides = {r.side for r in plan.rods}
        for side in ("left", "right"):
            if side not in sides and any(s.side == side for s in plan.screws):
                out.append(f"no {side} rod joins the {side} screws")
    if plan.technique in ("TLIF", "PLIF", "ALIF", "LLIF"):
        caged = {c.segment for c in plan.cages}
        for seg in plan.fuse_segments:
            if seg not in caged:
                out.append(f"{plan.technique} plan without a cage at {seg}")
    return out


def adjacent_segments(fused: Sequence[str], present: Sequence[str]) -> list[str]:
    """The motion segments directly above and below a fused block, among ``present``."""
    verts: set[str] = set()
    for s in fused:
        verts.update(parse_segment(s))
    out = []
    for seg in present:
        if seg in fused:
            continue
        upper, lower = parse_segment(seg)
        if upper in verts or lower in verts:
            out.append(seg)
    return out


def mechanics_section(mech: MechanicsResult, plan: SurgicalPlan | None) -> dict[str, Any]:
    """The mechanics section: range of motion per segment against the intact spine (table and
    chart), disc pressures, facet forces and the implants' safety factors."""
    rows = rom_rows(mech)
    fused = plan.fuse_segments if plan else []
    segments = sorted({r.segment for r in rows}, key=segment_rank)
    adjacent = adjacent_segments(fused, segments)
    table = [
        {
            "segment": r.segment
            + (
                " (fused)" if r.segment in fused else " (adjacent)" if r.segment in adjacent else ""
            ),
            "plane": words(r.plane),
            "intact": fmt(r.intact_deg, 1, "deg"),
            "planned": fmt(r.planned_deg, 1, "deg"),
            "change": signed_percent(r.change_percent),
        }
        for r in rows
    ]
    adjacent_rows = [t for t, r in zip(table, rows, strict=True) if r.segment in adjacent]
    load = [f"protocol {mech.protocol}", f"pure moment {mech.moment_nm:g} N·m"]
    if mech.preload_n:
        load.append(f"follower preload {mech.preload_n:g} N")
    implants = mech.implants
    implant_tables = [
        (words(kind), t)
        for kind, items in (("rods", implants.rods), ("screws", implants.screws))
        + (("cages", implants.cages),)
        if (t := record_table([i.model_dump() for i in items])) is not None
    ]
    standing = record_table(
        [{"": seg, **load_.model_dump()} for seg, load_ in mech.standing.items()]
    )
    return {
        "rom_chart": figures.rom_chart(rows),
        "rom_table": table,
        "adjacent": adjacent_rows,
        "adjacent_names": adjacent,
        "safety": [
            {
                "implant": s.implant,
                "value": f"{s.value:.2f}",
                "flag": "low" if s.value < 1.5 else "",
            }
            for s in safety_factors(mech)
        ],
        "load": ", ".join(load),
        "implant_tables": implant_tables,
        "standing": standing,
        "notes": list(mech.notes),
        "sources": [],
    }


def healing_section(heal: HealingCourse) -> dict[str, Any]:
    """The healing section: the ensemble's curves over time (chart) and its figures."""
    series = healing_curves(heal)
    points = fusion_probability_points(heal)
    rows = [
        (f"fusion probability at {m:g} months", fmt(100 * p, 0, "%")) for m, p in points.items()
    ]
    rows += [
        ("non-union probability", fmt(100 * heal.nonunion_probability, 0, "%")),
        ("median time to fusion", fmt(heal.median_time_to_fusion_months, 1, "months")),
        ("cage subsidence probability", fmt(100 * heal.subsidence_probability, 0, "%")),
        ("rod fracture probability", fmt(100 * heal.rod_fracture_probability, 0, "%")),
        ("non-union means", heal.nonunion_criterion),
        ("subsidence means", heal.subsidence_criterion),
        ("rod fracture means", heal.rod_fracture_criterion),
    ]
    ttf = heal.time_to_fusion.quantiles_months
    if ttf.get("p10") is not None and ttf.get("p90") is not None:
        rows.append(
            ("time to fusion, 10th–90th percentile", f"{ttf['p10']:.1f}–{ttf['p90']:.1f} months")
        )
    rows.append(("simulated patients (ensemble)", f"{heal.members}"))
    return {
        "chart": figures.healing_chart(series, points),
        "rows": rows,
        "sources": [heal.parameters_source],
    }


def _pro(fc: Forecast) -> dict[str, Any]:
    """The ODI trajectory chart and the MCID chances of every instrument at 12 months."""
    mcid_ref = reference("odi_mcid")
    trajs = trajectories(fc)
    odi = next((t for t in trajs if t.instrument == "odi"), None)
    series: list[Series] = []
    mcid, baseline = mcid_ref.value, None
    if odi is not None:
        mcid = odi.mcid
        baseline = odi.at(0.0, odi.median)
        series = [Series("ODI", odi.months, odi.median, "median", odi.low, odi.high)]
    rows = []
    for t in trajs:
        p12 = t.at(12.0, t.mcid_probability)
        lo, hi = t.at(12.0, t.low), t.at(12.0, t.high)
        rows.append(
            {
                "label": t.label,
                "unit": t.unit,
                "baseline": fmt(t.at(0.0, t.median), 1),
                "m12": fmt(t.at(12.0, t.median), 1),
                "band": f"{lo:.1f}–{hi:.1f}" if lo is not None and hi is not None else "–",
                "mcid": fmt(t.mcid, 1),
                "p_mcid": fmt(100 * p12, 0, "%") if p12 is not None else "–",
            }
        )
    cited = f" ({mcid_ref.source.split('.')[0]} 2008)" if mcid == mcid_ref.value else ""
    return {
        "chart": figures.pro_chart(series, baseline, mcid),
        "rows": rows,
        "mcid": f"{mcid:g} ODI points{cited}",
    }


def _forecast(fc: Forecast) -> dict[str, Any]:
    rs = risks(fc)
    notes = Notes()
    stay_rows = [
        {
            "label": q.label,
            "unit": q.unit,
            "mean": fmt(q.mean, 0 if q.mean > 20 else 1),
            "median": fmt(q.median, 0 if q.median > 20 else 1),
            "range": f"{q.low:.{0 if q.low > 20 else 1}f}–{q.high:.{0 if q.high > 20 else 1}f}",
        }
        for q in quantities(fc)
    ]
    pathway = fc.pathway
    pro = _pro(fc)
    follow_up = [v.model_dump() for v in pathway.follow_up] if pathway else []
    return {
        "messages": [fc.message, *fc.assumptions],
        "risk_chart": figures.risk_chart(rs),
        "risks": [
            {
                "name": words(r.name),
                "horizon": r.horizon,
                "p": fmt(100 * r.probability, 1, "%"),
                "interval": (
                    f"{100 * r.low:.1f}–{100 * r.high:.1f} %"
                    if r.low is not None and r.high is not None
                    else "–"
                ),
                "average": fmt(100 * r.average, 1, "%") if r.average is not None else "–",
                "drivers": "; ".join(r.drivers[:3]),
                "source": notes.ref(r.source),
            }
            for r in sorted(rs, key=lambda r: -r.probability)
        ],
        "quantities": stay_rows,
        "stay": [],
        "pro_chart": pro["chart"],
        "pro_rows": pro["rows"],
        "mcid": pro["mcid"],
        "timeline_chart": figures.timeline_chart(recovery_milestones(fc)),
        "restrictions": record_table(
            [r.model_dump() for r in pathway.restrictions] if pathway else [], notes
        ),
        "follow_up": record_table(follow_up, notes, drop=("grading",)),
        "grading": sorted({str(v["grading"]) for v in follow_up if v.get("grading")}),
        "notes": notes.items,
        "mobilisation": pathway.mobilisation if pathway else "",
        "sources": [pathway.source] if pathway else [],
    }


def _assessment(a: Assessment) -> dict[str, Any]:
    notes = Notes()
    return {
        "measurements": measurement_rows(a.measurements, notes),
        "matrices": [
            (title, mx)
            for title, kind in (("Per segment", "segment"), ("Per vertebra", "vertebra"))
            if (mx := level_matrix(a.measurements, notes, kind)) is not None
        ],
        "notes": notes.items,
        "findings": [
            {
                "diagnosis": words(f.diagnosis),
                "level": f.level or "",
                "grade": f.grade,
                "evidence": "; ".join(f.evidence),
                "source": notes.ref(f.source),
            }
            for f in a.findings
        ],
        "recommendations": [
            {
                "segment": r.segment,
                "action": r.action,
                "reasons": "; ".join(r.reasons),
                "source": notes.ref(r.criteria_source),
            }
            for r in a.recommendations
        ],
        "fuse": ", ".join(a.fuse_segments) or "none",
        "decompress": ", ".join(a.decompress_segments) or "none",
        "red_flags": a.red_flags,
        "rationale": a.rationale,
        "concordance": concordance_section(a),
        "not_measured": [
            {"name": words(n.name), "level": n.level or "", "reason": n.reason}
            for n in a.not_measured
        ],
    }


def concordance_section(a: Assessment) -> dict[str, Any] | None:
    """The roots and compressions of the assessment's concordance, and its picture."""
    from spinefuse.report.root_map import root_map

    c = a.concordance
    if c is None:
        return None
    return {
        "picture": root_map(c),
        "concordant": c.concordant,
        "roots": [
            {
                "root": r.root,
                "side": r.side,
                "signs": "; ".join(r.signs),
                "explained": "yes" if r.explained else "no",
                "by": "; ".join(r.explained_by) or "nothing on the imaging",
            }
            for r in c.roots
        ],
        "compressions": [
            {
                "kind": words(x.kind),
                "level": x.level,
                "where": " ".join(v for v in (x.zone, x.side) if v),
                "grade": x.grade,
                "roots": ", ".join(f"{r.root} {r.side}" for r in x.roots),
                "supported": "yes" if x.supported else "no",
                "support": "; ".join(x.support) or "no sign on examination",
            }
            for x in c.compressions
        ],
        "flags": c.flags,
        "source": c.source,
    }


def plan_section(
    plan: SurgicalPlan, geometry: SpineGeometry | None, assessment: Assessment | None
) -> dict[str, Any]:
    """The plan section: choices and reasons, checks, decompressions, implants, and the 3-D
    and sagittal views of the construct."""
    return {
        "summary": [
            ("Segments", ", ".join(plan.fuse_segments)),
            ("Technique", plan.technique),
            ("Approach", "minimally invasive" if plan.approach == "mis" else "open"),
            ("Chosen by the surgeon", ", ".join(plan.overridden) or "none (all planner choices)"),
        ],
        "reasons": plan.reasons,
        "warnings": plan.warnings,
        "checks": plan_checks(plan),
        "decompressions": [
            {
                "segment": d.segment,
                "kind": words(d.kind),
                "side": d.side,
                "treats": ", ".join(words(t) for t in d.treats),
            }
            for d in plan.decompressions
        ],
        "implants": implant_rows(plan),
        "view3d": spine3d.spine_3d(geometry, plan) if geometry is not None else None,
        "sagittal": spine3d.sagittal_view(
            geometry, plan, assessment.measurements if assessment else ()
        )
        if geometry is not None
        else None,
    }


def at_a_glance(r: CaseResult) -> list[tuple[str, str]]:
    """The few numbers a surgeon reads first, each from its stage record, with units."""
    rows: list[tuple[str, str]] = []
    if r.assessment is not None:
        rows.append(
            (
                "Indication",
                "fuse "
                + (", ".join(r.assessment.fuse_segments) or "none")
                + "; decompress "
                + (", ".join(r.assessment.decompress_segments) or "none"),
            )
        )
    if r.plan is not None:
        p = r.plan
        rows.append(
            (
                "Plan",
                f"{p.technique} ({'MIS' if p.approach == 'mis' else 'open'}) "
                f"{', '.join(p.fuse_segments)}: {plural(len(p.screws), 'screw')}, "
                f"{plural(len(p.rods), 'rod')}, "
                f"{plural(sum(c.count for c in p.cages), 'cage')}",
            )
        )
    rom = [x for x in rom_rows(r.mechanics) if x.plane == "flexion_extension"]
    fused = set(r.plan.fuse_segments) if r.plan else set()
    f_rows = [x for x in rom if x.segment in fused and x.change_percent is not None]
    a_rows = [
        x
        for x in rom
        if x.segment in adjacent_segments(sorted(fused), [y.segment for y in rom])
        and x.change_percent is not None
    ]
    if f_rows:
        rows.append(
            (
                "Fused segment motion (flexion–extension)",
                ", ".join(f"{x.segment} {signed_percent(x.change_percent)}" for x in f_rows),
            )
        )
    if a_rows:
        worst = max(a_rows, key=lambda x: abs(x.change_percent or 0.0))
        rows.append(
            (
                "Largest adjacent-segment change",
                f"{worst.segment} {signed_percent(worst.change_percent)}",
            )
        )
    sf = [x.value for x in safety_factors(r.mechanics)]
    if sf:
        rows.append(("Lowest implant safety factor", f"{min(sf):.2f}"))
    points = fusion_probability_points(r.healing)
    if points:
        m, p24 = max(points.items())
        rows.append((f"Fusion probability at {m:g} months", fmt(100 * p24, 0, "%")))
    stay = stay_days(r.forecast)
    if stay is not None:
        rows.append(("Length of stay (median)", fmt(stay, 1, "days")))
    top = sorted(risks(r.forecast), key=lambda x: -x.probability)[:2]
    if top:
        rows.append(
            (
                "Most likely complications",
                "; ".join(
                    f"{x.name}{f' ({x.horizon})' if x.horizon else ''} "
                    f"{fmt(100 * x.probability, 1, '%')}"
                    for x in top
                ),
            )
        )
    odi = next((t for t in trajectories(r.forecast) if t.instrument == "odi"), None)
    p12 = odi.at(12.0, odi.mcid_probability) if odi else None
    if p12 is not None:
        rows.append(("Chance of an ODI gain ≥ MCID at 12 months", fmt(100 * p12, 0, "%")))
    return rows


def anatomy_view(r: CaseResult) -> str | None:
    """The 3-D view of the spine without implants, shown with the anatomy when nothing is
    planned (the plan's section shows it with the implants)."""
    if r.geometry is None or r.plan is not None:
        return None
    return spine3d.spine_3d(r.geometry, None)


def surgeon_imaging(r: CaseResult) -> tuple[list[ImagingPicture], list[str]]:
    """The imaging pictures of the surgeon's report and the notes on what is not shown."""
    return case_imaging(r.images, r.geometry, r.assessment.measurements if r.assessment else ())


def surgeon_context(
    r: CaseResult,
    imaging: Callable[[], tuple[list[ImagingPicture], list[str]]] | None = None,
) -> dict[str, Any]:
    """The template context of the surgeon's report (see ``templates/surgeon.html.j2``).
    ``imaging`` gives the pictures of :func:`surgeon_imaging` when they are made elsewhere
    (another process); it is called last."""
    anatomy = None
    if r.geometry is not None:
        g = r.geometry
        anatomy = {
            "source": g.source + (f" ({g.source_detail})" if g.source_detail else ""),
            "levels": ", ".join(g.levels),
            "partial": [n for n, v in g.vertebrae.items() if v.partial],
            "notes": list(g.notes),
            "view3d": anatomy_view(r),
        }
    from spinefuse.stages import STAGES

    context = {
        "title": f"spinefuse surgical report: {r.case.id}",
        "case_id": r.case.id,
        "missing": missing_texts(r),
        "case": case_summary(r.case),
        "glance": at_a_glance(r),
        "anatomy": anatomy,
        "assessment": _assessment(r.assessment) if r.assessment else None,
        "plan": plan_section(r.plan, r.geometry, r.assessment) if r.plan else None,
        "mechanics": mechanics_section(r.mechanics, r.plan) if r.mechanics else None,
        "healing": healing_section(r.healing) if r.healing else None,
        "forecast": _forecast(r.forecast) if r.forecast else None,
        "stages_missing": [
            s.describe for s in STAGES if s.record is not None and r.record(s.name) is None
        ],
        "unfinished": not r.finished,
        "confirm": list(r.geometry.needs_confirmation) if r.geometry is not None else [],
    }
    pictures, notes = imaging() if imaging is not None else surgeon_imaging(r)
    context["imaging"] = {"pictures": pictures, "notes": notes}
    return context
