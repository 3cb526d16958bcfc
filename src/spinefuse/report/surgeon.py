"""The surgeon's report: every stage's results as tables and pictures, units and sources on each.

:func:`surgeon_context` turns the records of a run folder into the mapping the
``surgeon.html.j2`` template renders. A stage that did not run gives a section that says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Assessment, Measurement
from spinefuse.case import Case
from spinefuse.conventions import parse_segment, vertebra_index
from spinefuse.plan.surgical_plan import SurgicalPlan
from spinefuse.report import figures, spine3d
from spinefuse.report.imaging_views import case_imaging
from spinefuse.report.reference import reference
from spinefuse.report.stage_records import StageRecords
from spinefuse.report.stage_views import (
    first_number,
    fusion_probability_points,
    healing_curves,
    leaves,
    number,
    recovery_milestones,
    risks,
    rom_rows,
    safety_factors,
    time_series,
)

MISSING = {
    "case": "No case record (case.json) in this run: the patient is unknown.",
    "anatomy": "The anatomy stage did not run (no anatomy.json): no landmarks or 3-D picture.",
    "assessment": "The assessment stage did not run (no assessment.json): no measurements, "
    "findings or indication.",
    "plan": "No surgical plan (no plan.json): either no fusion was recommended or the planning "
    "stage did not run.",
    "mechanics": "The mechanics stage did not run (no mechanics.json): no range of motion or "
    "implant loads.",
    "healing": "The healing stage did not run (no healing.json): no fusion course.",
    "forecast": "The outcomes stage did not run (no forecast.json): no risks, stay or recovery "
    "forecast.",
}


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A number for a table: fixed digits, a unit when given, an en dash when absent."""
    if value is None:
        return "–"
    unit = {"deg": "°", "%": " %", "mm2": " mm²", "cm3": " cm³", "": ""}.get(unit, f" {unit}")
    return f"{value:.{digits}f}{unit}"


def _words(s: str) -> str:
    return s.replace("_", " ")


def case_summary(case: Case) -> dict[str, Any]:
    """The case in brief: rows of (field, value) and a one-line summary."""
    p, h = case.patient, case.history
    rows = [
        ("Age", f"{p.age_years:.0f} years"),
        ("Sex", p.sex),
        ("Height / weight", f"{p.height_cm:.0f} cm / {p.weight_kg:.0f} kg"),
        ("BMI", f"{p.bmi:.1f} kg/m²"),
        ("Smoking", p.smoking),
        ("Diabetes", _words(p.diabetes)),
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
            (", ".join(_words(c) for c in h.conservative_care) or "none")
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


def measurement_rows(measurements: Sequence[Measurement]) -> list[dict[str, str]]:
    """The measurements as table rows with their normal range and where the value lies."""
    out = []
    for m in measurements:
        flag = ""
        if m.normal_range is not None:
            lo, hi = m.normal_range
            flag = "below" if m.value < lo else "above" if m.value > hi else "within"
        out.append(
            {
                "name": _words(m.name),
                "level": m.level or "",
                "value": fmt(m.value, 1, m.unit),
                "normal": (
                    f"{fmt(m.normal_range[0], 0, m.unit)} to {fmt(m.normal_range[1], 0, m.unit)}"
                    if m.normal_range
                    else "–"
                ),
                "flag": flag,
                "method": m.method,
                "source": m.source or "spinefuse assess",
            }
        )
    return out


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
            "material": _words(r.material),
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
                "material": _words(g.material),
                "volume": fmt(g.volume_cm3, 1, "cm³"),
                "regions": ", ".join(g.regions) or "–",
                "bmp": fmt(g.bmp_dose_mg, 1, "mg") if g.bmp_dose_mg is not None else "–",
            }
        )
    return {"screws": screws, "rods": rods, "cages": cages, "graft": graft}


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


def scalar_rows(record: Mapping[str, Any], limit: int = 40) -> list[tuple[str, str]]:
    """Every top-level-ish scalar of a record as (field path, value), for records whose shape
    the report does not know yet: nothing the stage wrote is hidden."""
    rows: list[tuple[str, str]] = []
    for path, v in leaves(record):
        if len(rows) >= limit:
            break
        if isinstance(v, str) and len(v) > 120:
            continue
        if len(path) > 3 or (number(v) is None and not isinstance(v, str)):
            continue
        x = number(v)
        rows.append((" · ".join(_words(p) for p in path), f"{x:.4g}" if x is not None else str(v)))
    return rows


def record_sources(record: Mapping[str, Any] | None) -> list[str]:
    """The citations a record carries (fields whose name holds "source", or citation(s),
    reference(s)), each once."""
    out: list[str] = []
    for path, v in leaves(record or {}):
        cited = any(
            "source" in k or k in ("citation", "citations", "references", "reference")
            for k in path
            if not k.isdigit()
        )
        if isinstance(v, str) and v and cited and v not in out:
            out.append(v)
    return out[:20]


def _mechanics(
    mech: Mapping[str, Any], plan: SurgicalPlan | None, geometry: SpineGeometry | None
) -> dict[str, Any]:
    rows = rom_rows(mech)
    fused = plan.fuse_segments if plan else []
    segments = sorted({r.segment for r in rows}, key=lambda s: vertebra_index(parse_segment(s)[0]))
    adjacent = adjacent_segments(fused, segments)
    table = [
        {
            "segment": r.segment
            + (
                " (fused)" if r.segment in fused else " (adjacent)" if r.segment in adjacent else ""
            ),
            "plane": _words(r.plane),
            "intact": fmt(r.intact_deg, 1, "deg"),
            "planned": fmt(r.planned_deg, 1, "deg"),
            "change": f"{r.change_percent:+.0f} %" if r.change_percent is not None else "–",
        }
        for r in rows
    ]
    adjacent_rows = [t for t, r in zip(table, rows, strict=True) if r.segment in adjacent]
    moment = first_number(mech, "moment_nm")
    preload = first_number(mech, "preload_n")
    protocol = mech.get("protocol") if isinstance(mech.get("protocol"), str) else None
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
        "load": ", ".join(
            x
            for x in (
                f"protocol {protocol}" if protocol else "",
                f"pure moment {moment:g} N·m" if moment is not None else "",
                f"follower preload {preload:g} N" if preload is not None else "",
            )
            if x
        ),
        "scalars": [] if rows else scalar_rows(mech),
        "sources": record_sources(mech),
    }


def _healing(heal: Mapping[str, Any]) -> dict[str, Any]:
    series = healing_curves(heal)
    points = fusion_probability_points(heal)
    prob = [
        ("fusion probability at " + f"{m:g} months", fmt(100 * p, 0, "%"))
        for m, p in points.items()
    ]
    for label, key, unit in (
        ("non-union probability", "nonunion_probability", "%"),
        ("median time to fusion", "median_time_to_fusion_months", "months"),
        ("cage subsidence probability", "subsidence_probability", "%"),
        ("rod fracture probability", "rod_fracture_probability", "%"),
        ("expected cage subsidence", "subsidence_mm", "mm"),
    ):
        x = first_number(heal, key)
        if x is not None:
            prob.append((label, fmt(100 * x, 0, "%") if unit == "%" else fmt(x, 1, unit)))
    for label, key in (
        ("non-union means", "nonunion_criterion"),
        ("subsidence means", "subsidence_criterion"),
        ("rod fracture means", "rod_fracture_criterion"),
    ):
        if isinstance(heal.get(key), str):
            prob.append((label, heal[key]))
    ttf = (heal.get("time_to_fusion") or {}).get("quantiles_months") or {}
    if isinstance(ttf, Mapping) and ttf.get("p10") is not None and ttf.get("p90") is not None:
        prob.append(
            ("time to fusion, 10th–90th percentile", f"{ttf['p10']:.1f}–{ttf['p90']:.1f} months")
        )
    members = number(heal.get("members"))
    if members is not None:
        prob.append(("simulated patients (ensemble)", f"{members:.0f}"))
    return {
        "chart": figures.healing_chart(series, points),
        "rows": prob,
        "scalars": [] if (series or points) else scalar_rows(heal),
        "sources": record_sources(heal),
    }


def _pro_series(forecast: Mapping[str, Any]) -> list[Any]:
    return [s for s in time_series(forecast) if "odi" in s.name.lower() or "odi" in s.label.lower()]


def _forecast(fc: Mapping[str, Any], case: Case | None) -> dict[str, Any]:
    rs = risks(fc)
    mcid_ref = reference("odi_mcid")
    mcid = first_number(fc, "odi_mcid_points", "mcid_points", "mcid") or mcid_ref.value
    baseline = first_number(fc, "baseline_odi", "odi_baseline")
    if baseline is None and case is not None:
        baseline = case.history.odi
    pro = _pro_series(fc)
    stay_rows = []
    for label, key, unit, scale in (
        ("length of stay", "length_of_stay_days", "days", 1.0),
        ("blood loss", "blood_loss_ml", "mL", 1.0),
        ("ODI at 12 months", "odi_12m", "points", 1.0),
        ("chance of an ODI gain ≥ MCID", "odi_mcid_probability", "%", 100.0),
        ("discharge other than home", "nonhome_discharge", "%", 100.0),
    ):
        x = first_number(fc, key)
        if x is not None:
            stay_rows.append((label, fmt(scale * x, 1 if unit != "%" else 0, unit)))
    milestones = recovery_milestones(fc)
    return {
        "risk_chart": figures.risk_chart(rs),
        "risks": [
            {
                "name": _words(r.name),
                "p": fmt(100 * r.probability, 1, "%"),
                "interval": (
                    f"{100 * r.low:.1f}–{100 * r.high:.1f} %"
                    if r.low is not None and r.high is not None
                    else "–"
                ),
                "average": fmt(100 * r.average, 1, "%") if r.average is not None else "–",
            }
            for r in sorted(rs, key=lambda r: -r.probability)
        ],
        "stay": stay_rows,
        "pro_chart": figures.pro_chart(pro, baseline, mcid),
        "mcid": f"{mcid:g} ODI points"
        + (f" ({mcid_ref.source.split('.')[0]} 2008)" if mcid == mcid_ref.value else ""),
        "timeline_chart": figures.timeline_chart(milestones),
        "milestones": [(f"week {m.week:.1f}".replace(".0", ""), m.what) for m in milestones],
        "scalars": [] if (rs or pro or stay_rows) else scalar_rows(fc),
        "sources": record_sources(fc),
    }


def _assessment(a: Assessment) -> dict[str, Any]:
    return {
        "measurements": measurement_rows(a.measurements),
        "findings": [
            {
                "diagnosis": _words(f.diagnosis),
                "level": f.level or "",
                "grade": f.grade,
                "evidence": "; ".join(f.evidence),
                "source": f.source,
            }
            for f in a.findings
        ],
        "recommendations": [
            {
                "segment": r.segment,
                "action": r.action,
                "reasons": "; ".join(r.reasons),
                "source": r.criteria_source,
            }
            for r in a.recommendations
        ],
        "fuse": ", ".join(a.fuse_segments) or "none",
        "decompress": ", ".join(a.decompress_segments) or "none",
        "red_flags": a.red_flags,
        "rationale": a.rationale,
    }


def _plan(
    plan: SurgicalPlan, geometry: SpineGeometry | None, assessment: Assessment | None
) -> dict[str, Any]:
    return {
        "summary": [
            ("Segments", ", ".join(plan.fuse_segments)),
            ("Technique", plan.technique),
            ("Approach", "minimally invasive" if plan.approach == "mis" else "open"),
            ("Chosen by the surgeon", ", ".join(plan.overridden) or "none (all planner choices)"),
        ],
        "reasons": plan.reasons,
        "warnings": plan.warnings,
        "decompressions": [
            {
                "segment": d.segment,
                "kind": _words(d.kind),
                "side": d.side,
                "treats": ", ".join(_words(t) for t in d.treats),
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


def surgeon_context(records: StageRecords) -> dict[str, Any]:
    """The template context of the surgeon's report (see ``templates/surgeon.html.j2``)."""
    r = records
    pictures, notes = case_imaging(
        r.case, r.geometry, r.assessment.measurements if r.assessment else ()
    )
    anatomy = None
    if r.geometry is not None:
        g = r.geometry
        anatomy = {
            "source": g.source + (f" ({g.source_detail})" if g.source_detail else ""),
            "levels": ", ".join(g.levels),
            "partial": [n for n, v in g.vertebrae.items() if v.partial],
            "view3d": spine3d.spine_3d(g, None) if r.plan is None else None,
        }
    return {
        "title": f"spinefuse surgical report: {r.case_id}",
        "case_id": r.case_id,
        "missing": MISSING,
        "case": case_summary(r.case) if r.case else None,
        "anatomy": anatomy,
        "imaging": {"pictures": pictures, "notes": notes},
        "assessment": _assessment(r.assessment) if r.assessment else None,
        "plan": _plan(r.plan, r.geometry, r.assessment) if r.plan else None,
        "mechanics": _mechanics(r.mechanics, r.plan, r.geometry) if r.mechanics else None,
        "healing": _healing(r.healing) if r.healing else None,
        "forecast": _forecast(r.forecast, r.case) if r.forecast else None,
        "stages_missing": list(r.missing),
    }
