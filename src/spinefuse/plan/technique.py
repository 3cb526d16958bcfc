"""Choosing the technique (PLF, TLIF, PLIF, ALIF, LLIF) and the approach (open or MIS).

No single validated rule exists (research/imaging_planning.md 2.10), so the choice is decision
support: each rule that fires adds its reason, and the surgeon's choice (a keyword, or the case's
preferences) always wins, recorded in ``overridden``. Anatomy that makes a technique impossible
(lateral access to L5-S1) refuses a forced choice with a :class:`ParameterError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Assessment, Diagnosis, Finding
from spinefuse.case import Case
from spinefuse.conventions import VERTEBRAE, parse_segment, vertebra_index
from spinefuse.errors import ParameterError
from spinefuse.plan.rules import PlanningRules
from spinefuse.plan.surgical_plan import Approach, Technique

DEFORMITY: tuple[Diagnosis, ...] = ("scoliosis", "sagittal_deformity")


def finding_segment(f: Finding) -> str | None:
    """The motion segment a finding belongs to: its level when that is a segment; for a vertebra
    (a slip of ``L4``), the segment below it (``L4-L5``)."""
    if f.level is None:
        return None
    level = f.level.strip().upper()
    if "-" in level:
        up, low = parse_segment(level)
        return f"{up}-{low}"
    # the vertebra below; L6 only where a transitional L6 is named as a segment explicitly
    below = [n for n in VERTEBRAE[vertebra_index(level) + 1 :] if n != "L6"]
    return f"{level}-{below[0]}" if below else None


def segment_findings(assessment: Assessment, segment: str) -> list[Finding]:
    """The findings of ``assessment`` at one motion segment."""
    return [f for f in assessment.findings if finding_segment(f) == segment]


def has(assessment: Assessment, diagnosis: Diagnosis, segments: list[str] | None = None) -> bool:
    """Whether a diagnosis is found (at any of ``segments`` when given; anywhere otherwise)."""
    return any(
        f.diagnosis == diagnosis and (segments is None or finding_segment(f) in segments)
        for f in assessment.findings
    )


def meyerding_grade(f: Finding) -> int | None:
    """Meyerding grade 1–5 of a spondylolisthesis finding (None for a retrolisthesis)."""
    return f.meyerding


def severe(f: Finding) -> bool:
    """Whether a stenosis finding is graded severe (absolute stenosis)."""
    return f.severity == "severe"


def llif_access(geometry: SpineGeometry, segment: str, rules: PlanningRules) -> tuple[str, str]:
    """Lateral access to a segment: ``("open"|"difficult"|"blocked"|"unknown", reason)``.

    L5-S1 is always blocked (iliac crest and iliac vessels). At L4-L5 the iliac crest decides:
    its top is compared with the L4-L5 disc centre in units of the L4 body height."""
    if segment == "L5-S1":
        return "blocked", "L5-S1 lies below the iliac crest and between the iliac vessels"
    if segment != "L4-L5":
        return "open", f"{segment} lies above the iliac crest"
    pelvis = geometry.pelvis
    if pelvis is None or not pelvis.iliac_crests or "L4" not in geometry.vertebrae:
        return "unknown", "iliac crest height unknown: lateral access to L4-L5 is not assured"
    l4 = geometry.vertebra("L4")
    disc = geometry.disc("L4-L5") if "L4-L5" in geometry.discs else None
    centre = np.asarray(disc.centre if disc else l4.inferior.centre if l4.inferior else l4.centroid)
    up = l4.frame()[:3, 2]
    crest = max(float((np.asarray(p) - centre) @ up) for p in pelvis.iliac_crests.values())
    height = l4.middle_height_mm or 25.0
    rel = crest / height
    rule = rules.llif_iliac_crest
    where = f"iliac crest top {crest:+.1f} mm from the L4-L5 disc centre ({rel:+.2f} × L4 height)"
    if rel > rule.blocked:
        return "blocked", f"{where}: above mid-L4, it blocks the lateral corridor"
    if rel > rule.difficult:
        return "difficult", f"{where}: high-riding, angled instruments may be needed"
    return "open", f"{where}: below the disc, the lateral corridor is clear"


@dataclass
class TechniqueChoice:
    technique: Technique
    approach: Approach
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)


def _prior_posterior(case: Case, segments: list[str]) -> list[str]:
    return [
        f"{p.procedure} at {s}"
        for p in case.patient.prior_lumbar_surgery
        for s in p.segments
        if s in segments and p.procedure in ("discectomy", "laminectomy", "fusion")
    ]


def _auto_technique(
    case: Case,
    geometry: SpineGeometry,
    assessment: Assessment,
    segments: list[str],
    rules: PlanningRules,
) -> tuple[Technique, list[str], list[str]]:
    reasons: list[str] = []
    warnings: list[str] = []
    lateral = {s: llif_access(geometry, s, rules) for s in segments}
    lateral_ok = all(a[0] == "open" for a in lateral.values())
    deformity = any(has(assessment, d) for d in DEFORMITY)
    slips = [
        f
        for f in assessment.findings
        if f.diagnosis in ("degenerative_spondylolisthesis", "isthmic_spondylolisthesis")
        and finding_segment(f) in segments
    ]
    central = [f for f in assessment.findings if f.diagnosis == "central_stenosis"]
    central = [f for f in central if finding_segment(f) in segments]
    foraminal = has(assessment, "foraminal_stenosis", segments)
    ddd = has(assessment, "degenerative_disc_disease", segments)
    needs_direct = (
        any(severe(f) for f in central)
        or case.history.neurological_deficit is not None
        or case.history.cauda_equina_signs
    )
    prior = _prior_posterior(case, segments)
    anterior_reach = set(segments) <= {"L4-L5", "L5-S1"} and len(segments) <= 2

    if deformity and len(segments) >= 2 and lateral_ok:
        reasons.append(
            "deformity over several segments: lateral cages span the apophyseal ring and "
            "correct coronal and sagittal alignment"
        )
        return "LLIF", reasons, warnings
    if prior and not needs_direct:
        reasons.append(
            f"prior posterior surgery ({', '.join(prior)}): an anterior or lateral interbody "
            "avoids the epidural scar and its dural-tear risk"
        )
        if anterior_reach:
            return "ALIF", reasons, warnings
        if lateral_ok:
            return "LLIF", reasons, warnings
        reasons.append("no anterior or lateral corridor to every segment: posterior revision")
        return "TLIF", reasons, warnings
    if needs_direct or central:
        why = "severe central stenosis or a neurological deficit" if needs_direct else "stenosis"
        reasons.append(f"{why}: direct posterior decompression with a transforaminal interbody")
        return "TLIF", reasons, warnings
    if slips:
        grades = [g for g in (meyerding_grade(f) for f in slips) if g is not None]
        reasons.append(
            "spondylolisthesis"
            + (f" (Meyerding grade {max(grades)})" if grades else "")
            + ": interbody support of the anterior column and reduction of the slip"
        )
        if (
            any(f.diagnosis == "isthmic_spondylolisthesis" for f in slips)
            and segments == ["L5-S1"]
            and not foraminal
            and case.history.radiculopathy is None
        ):
            reasons.append("isthmic L5-S1 slip without radiculopathy: ALIF restores lordosis")
            return "ALIF", reasons, warnings
        return "TLIF", reasons, warnings
    if ddd and not foraminal:
        if anterior_reach and "L5-S1" in segments:
            reasons.append(
                "discogenic disease at L5-S1 without stenosis: ALIF gives the largest footprint "
                "and lordosis"
            )
            return "ALIF", reasons, warnings
        if lateral_ok:
            reasons.append(
                "discogenic disease without stenosis above L5-S1: LLIF through an open lateral "
                "corridor (" + "; ".join(a[1] for a in lateral.values()) + ")"
            )
            return "LLIF", reasons, warnings
        if "L4-L5" in segments and lateral["L4-L5"][0] != "open":
            reasons.append(f"LLIF not chosen at L4-L5: {lateral['L4-L5'][1]}")
        if anterior_reach:
            reasons.append(
                "discogenic disease: anterior interbody through a retroperitoneal approach"
            )
            return "ALIF", reasons, warnings
        reasons.append("discogenic disease: transforaminal interbody")
        return "TLIF", reasons, warnings
    if not (ddd or foraminal or slips):
        reasons.append(
            "no disc-space pathology to address (instability only): posterolateral fusion"
        )
        return "PLF", reasons, warnings
    reasons.append("foraminal stenosis: transforaminal interbody with facetectomy on that side")
    return "TLIF", reasons, warnings


def _check_feasible(
    technique: Technique, geometry: SpineGeometry, segments: list[str], rules: PlanningRules
) -> list[str]:
    warnings = []
    if technique == "LLIF":
        for s in segments:
            access, why = llif_access(geometry, s, rules)
            if access == "blocked" and s == "L5-S1":
                raise ParameterError(
                    f"technique LLIF cannot reach {s}: {why}; choose TLIF, PLIF or ALIF for "
                    "constructs that include L5-S1"
                )
            if access != "open":
                warnings.append(f"LLIF at {s}: {why}")
    if technique == "ALIF" and any(
        vertebra_index(parse_segment(s)[0]) < vertebra_index("L3") for s in segments
    ):
        warnings.append(
            "ALIF above L3-L4 needs mobilisation of the great vessels and the renal vein"
        )
    return warnings


def choose_technique(
    case: Case,
    geometry: SpineGeometry,
    assessment: Assessment,
    segments: list[str],
    rules: PlanningRules,
    *,
    technique: Technique | None = None,
    approach: Approach | None = None,
) -> TechniqueChoice:
    """The technique and approach for fusing ``segments``, with the reasons for each."""
    prefs = case.preferences
    overridden: list[str] = []
    reasons: list[str] = []
    if technique is not None:
        chosen: Technique = technique
        overridden.append("technique")
        reasons.append(f"technique {technique}: set by the surgeon")
        warnings: list[str] = []
    elif prefs.technique is not None:
        chosen = prefs.technique
        overridden.append("technique")
        reasons.append(f"technique {chosen}: the case's preference")
        warnings = []
    else:
        chosen, why, warnings = _auto_technique(case, geometry, assessment, segments, rules)
        reasons.extend(f"technique {chosen}: {w}" for w in why)
    warnings = warnings + _check_feasible(chosen, geometry, segments, rules)

    if approach is not None or prefs.approach is not None:
        how: Approach = approach if approach is not None else prefs.approach  # type: ignore[assignment]
        overridden.append("approach")
        who = "set by the surgeon" if approach is not None else "the case's preference"
        reasons.append(f"approach {how}: {who}")
    elif chosen == "ALIF":
        how = "open"
        reasons.append("approach open: ALIF is a retroperitoneal (mini-)open anterior approach")
    elif chosen == "LLIF":
        how = "mis"
        reasons.append("approach mis: LLIF is a tubular transpsoas approach")
    else:
        limit = int(rules.mis_max_levels.value)
        grades = [
            g
            for f in assessment.findings
            if finding_segment(f) in segments
            for g in [meyerding_grade(f)]
            if g is not None and "spondylolisthesis" in f.diagnosis
        ]
        against = []
        if len(segments) > limit:
            against.append(f"{len(segments)} segments (MIS up to {limit})")
        if any(has(assessment, d) for d in DEFORMITY):
            against.append("deformity")
        if any(p.procedure == "fusion" for p in case.patient.prior_lumbar_surgery):
            against.append("revision of a prior fusion")
        if grades and max(grades) >= 3:
            against.append(f"high-grade slip (Meyerding {max(grades)})")
        if against:
            how = "open"
            reasons.append("approach open: " + ", ".join(against))
        else:
            how = "mis"
            reasons.append(
                f"approach mis: {len(segments)} segment(s) without deformity or revision"
            )
    return TechniqueChoice(chosen, how, reasons, warnings, overridden)
