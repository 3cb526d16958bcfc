"""The recovery pathway after fusion, tailored to the plan and the patient.

Enhanced-recovery (ERAS) elements, pain management, mobilisation on day 0-1, physiotherapy phases,
activity restrictions and how long they last (longer after open than minimally invasive surgery),
return to work, and follow-up visits with the imaging each needs and the fusion grading it uses.
The content and its sources are in the ``pathway`` section of ``data/outcome_parameters.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import pandas as pd
from pydantic import Field

from spinefuse.case import Case
from spinefuse.outcomes.parameters import outcome_parameters
from spinefuse.plan.surgical_plan import SurgicalPlan
from spinefuse.records import Probability, Record

Certainty = Literal["verified", "unverified"]


class PathwayItem(Record):
    """One element of care, with when it applies and how sure its evidence is."""

    name: str
    phase: str = ""
    note: str = ""
    certainty: Certainty = "unverified"


class PhysiotherapyPhase(Record):
    name: str
    start_week: float = Field(ge=0)
    end_week: float = Field(ge=0)
    content: str
    source: str
    certainty: Certainty


class Restriction(Record):
    activity: str
    until_week: float = Field(ge=0, description="weeks after surgery the restriction lasts")
    source: str
    certainty: Certainty


class ReturnToWork(Record):
    """Return to work for a patient employed before surgery."""

    light_work_week: float
    manual_work_week: float
    probability_by_3_months: Probability
    published_median_days: float
    factors: list[str] = Field(default_factory=list)
    source: str


class FollowUpVisit(Record):
    week: float
    what: str
    imaging: str
    checks: str
    grading: str = Field(default="", description="fusion grading criteria applied at this visit")


class Milestone(Record):
    """One dated step of the pathway, for a timeline."""

    week: float = Field(description="weeks after surgery (0 = day of surgery)")
    what: str


class RecoveryPathway(Record):
    """The patient's recovery plan from the preoperative phase to two years."""

    eras: list[PathwayItem]
    eras_effect: str
    pain_management: list[PathwayItem]
    mobilisation_day: int = Field(ge=0, le=1)
    mobilisation: str
    physiotherapy: list[PhysiotherapyPhase]
    restrictions: list[Restriction]
    return_to_work: ReturnToWork
    follow_up: list[FollowUpVisit]
    ct_rule: str
    tailoring: list[str] = Field(default_factory=list, description="why this pathway differs")
    milestones: list[Milestone] = Field(default_factory=list, description="the timeline, in order")
    source: str


def _conditions(row: pd.Series) -> dict[str, Callable[[], bool]]:
    return {
        "current_smoker": lambda: row["smoking"] == "current",
        "diabetes": lambda: row["diabetes"] != "none",
        "not_rhbmp2": lambda: True,
        "preop_opioid_use": lambda: bool(row["preop_opioid_use"]),
    }


def _items(entries: list[dict[str, Any]], row: pd.Series) -> list[PathwayItem]:
    cond = _conditions(row)
    return [
        PathwayItem(
            name=e["name"],
            phase=e.get("phase", ""),
            note=e.get("note", ""),
            certainty=e["certainty"],
        )
        for e in entries
        if "when" not in e or cond[e["when"]]()
    ]


def recovery_pathway(
    case: Case, plan: SurgicalPlan, row: pd.Series, nonunion_probability: float
) -> RecoveryPathway:
    """The pathway for one patient (``row``: the validated patient-table row of the case)."""
    spec = outcome_parameters()["pathway"]
    mis = plan.approach == "mis"
    tailoring = []
    text = spec["tailoring"]
    if row["smoking"] == "current":
        tailoring.append(text["current_smoker"])
    if case.patient.osteoporosis or (
        case.patient.t_score is not None and case.patient.t_score <= -2.5
    ):
        tailoring.append(text["osteoporosis"])
    if plan.technique == "LLIF":
        tailoring.append(text["lateral"])
    if case.patient.nsaids_after_surgery:
        tailoring.append(text["nsaids"])

    restrictions = [
        Restriction(
            activity=r["activity"],
            until_week=float(r["mis_weeks" if mis else "open_weeks"]),
            source=r["source"],
            certainty=r["certainty"],
        )
        for r in spec["restrictions"]
    ]
    multilevel = spec["multilevel_lifting"]
    long_weeks = float(multilevel["weeks"])
    if plan.levels >= int(multilevel["levels"]):
        restrictions = [
            r.model_copy(update={"until_week": max(r.until_week, long_weeks)})
            if r.activity.startswith("lifting")
            else r
            for r in restrictions
        ]
        tailoring.append(text["multilevel"].format(levels=plan.levels, weeks=long_weeks))
    if mis:
        tailoring.append(text["mis"])

    rtw = spec["return_to_work"]
    logit = math.log(rtw["share_by_3_months"]["value"] / (1 - rtw["share_by_3_months"]["value"]))
    factors = []
    checks = {
        "depression": bool(row["depression"]),
        "preop_opioid_use": bool(row["preop_opioid_use"]),
        "workers_compensation": bool(row["workers_compensation"]),
        "age_over_50": float(row["age_years"]) > 50,
    }
    for name, present in checks.items():
        if present:
            d = rtw["delays"][name]
            logit += math.log(d["value"])
            factors.append(f"{name.replace('_', ' ')} (OR {d['value']:g}; {d['source']})")
    p3 = 1 / (1 + math.exp(-logit))
    light = [r.until_week for r in restrictions if r.activity == "light manual work"][0]
    manual = [r.until_week for r in restrictions if r.activity.startswith("manual")][0]

    interbody = plan.interbody or plan.technique != "PLF"
    grading = spec["grading"]
    fusion_grading = grading["interbody"] if interbody else grading["posterolateral"]
    visits = []
    for v in spec["follow_up"]:
        visit = FollowUpVisit(**v, grading=fusion_grading if v["week"] >= 52 else "")
        visits.append(visit)
    if nonunion_probability >= float(spec["ct_nonunion_threshold"]["value"]):
        tailoring.append(text["nonunion_ct"].format(risk=nonunion_probability))
        visits[-2] = visits[-2].model_copy(
            update={
                "imaging": visits[-2].imaging + "; thin-slice CT",
                "grading": fusion_grading + ". " + grading["ct"],
            }
        )
    mob = spec["mobilisation"]
    day = int(mob["day"]["value"])
    steps = [(day / 7.0, f"walk with physiotherapy on day {day}")]
    phases = [PhysiotherapyPhase(**p) for p in spec["physiotherapy"]]
    steps += [(ph.start_week, f"physiotherapy: {ph.name}") for ph in phases if ph.start_week > 0]
    steps += [(r.until_week, f"{r.activity}: allowed from here") for r in restrictions]
    steps += [(v.week, v.what if v.imaging == "none" else f"{v.what}; {v.imaging}") for v in visits]
    steps.append((light, "return to light work (if employed)"))
    milestones = [Milestone(week=w, what=t) for w, t in sorted(steps, key=lambda s: s[0])]
    return RecoveryPathway(
        eras=_items(spec["eras"], row),
        eras_effect=spec["eras_effect"],
        pain_management=_items(spec["pain"], row),
        mobilisation_day=int(mob["day"]["value"]),
        mobilisation=f"{mob['detail']} ({mob['day']['source']})",
        physiotherapy=phases,
        restrictions=restrictions,
        return_to_work=ReturnToWork(
            light_work_week=light,
            manual_work_week=manual,
            probability_by_3_months=p3,
            published_median_days=float(rtw["median_days"]["value"]),
            factors=factors,
            source=f"{rtw['share_by_3_months']['source']}; {rtw['median_days']['source']}",
        ),
        follow_up=visits,
        ct_rule=spec["ct_rule"],
        tailoring=tailoring,
        milestones=milestones,
        source=spec["source"],
    )
