"""The pipeline's stages in data-flow order. Each stage adapts one sub-package to the pipeline.

A stage reads the records of the stages before it from the :class:`CaseResult` and returns its
own record, or None when this case gives it nothing to do (no fusion indicated: no plan, no
healing). Sub-packages are imported inside the stage functions so that ``import spinefuse`` stays
light and a run only imports what it uses.
"""

from __future__ import annotations

from spinefuse.anatomy.geometry import SpineGeometry
from spinefuse.assess.assessment import Assessment
from spinefuse.pipeline import CaseResult, Stage
from spinefuse.plan.surgical_plan import SurgicalPlan
from spinefuse.records import Record


def _geometry(r: CaseResult) -> SpineGeometry | None:
    g = r.get("anatomy")
    return g if isinstance(g, SpineGeometry) else None


def _plan(r: CaseResult) -> SurgicalPlan | None:
    p = r.get("plan")
    return p if isinstance(p, SurgicalPlan) else None


def anatomy_stage(r: CaseResult) -> Record | None:
    """The SpineGeometry from the case's CT/MR and its label map (None without a volume),
    with the dural sac measured at each disc level on a CT."""
    from spinefuse.anatomy.from_labels import geometry_from_case

    return geometry_from_case(r.case)


def assessment_stage(r: CaseResult) -> Record | None:
    """Measurements, findings, indication and levels (X-ray landmarks and/or the geometry)."""
    from spinefuse.assess import assess_case

    return assess_case(r.case, _geometry(r))


def plan_stage(r: CaseResult) -> Record | None:
    """The surgical plan, when fusion is indicated and there is a geometry to plan on; the
    implants are also written as STL into ``implants/`` of the output folder."""
    from spinefuse.plan import plan_surgery, write_implant_meshes

    geometry, assessment = _geometry(r), r.get("assessment")
    if geometry is None or not isinstance(assessment, Assessment):
        return None
    plan = plan_surgery(r.case, geometry, assessment)
    if plan is not None and r.out_dir is not None:
        write_implant_meshes(plan, r.out_dir / "implants")
    return plan


def mechanics_stage(r: CaseResult) -> Record | None:
    """Range of motion, disc pressure and facet forces of the intact spine under pure moments
    (7.5 N·m) and of the planned spine under the hybrid protocol (moments raised until the whole
    lumbar spine moves as far as the intact one, as a patient moving normally would), so that
    the motion the fusion shifts to the adjacent segments shows; with the implants' loads and
    safety factors. Without a plan, the intact spine alone."""
    from spinefuse.mechanics import simulate

    geometry = _geometry(r)
    if geometry is None:
        return None
    plan = _plan(r)
    return simulate(geometry, plan, protocol="pure-moment" if plan is None else "hybrid")


def healing_stage(r: CaseResult) -> Record | None:
    """The healing ensemble over 24 months for the planned fusion."""
    from spinefuse.healing import heal
    from spinefuse.mechanics import MechanicsResult

    geometry, plan = _geometry(r), _plan(r)
    if geometry is None or plan is None:
        return None
    mechanics = r.get("mechanics")
    return heal(
        r.case,
        geometry,
        plan,
        mechanics if isinstance(mechanics, MechanicsResult) else None,
        seed=0,
    )


def forecast_stage(r: CaseResult) -> Record | None:
    """Perioperative course, complications, recovery pathway and PROs."""
    from spinefuse.healing import HealingCourse
    from spinefuse.outcomes import forecast

    course = r.get("healing")
    nonunion = course.nonunion_probability if isinstance(course, HealingCourse) else None
    return forecast(r.case, _plan(r), nonunion)


def report_stage(r: CaseResult) -> Record | None:
    """The surgeon's and the patient's reports (HTML and PDF) from the JSON written so far."""
    from spinefuse.report import write_reports

    if r.out_dir is not None:
        write_reports(r.out_dir)
    return None


STAGES: list[Stage] = [
    Stage("anatomy", "imaging to anatomy", anatomy_stage),
    Stage("assessment", "assessment", assessment_stage),
    Stage("plan", "surgical plan", plan_stage),
    Stage("mechanics", "mechanics", mechanics_stage),
    Stage("healing", "healing (24 months)", healing_stage),
    Stage("forecast", "course and outcome", forecast_stage),
    Stage("report", "reports (HTML, PDF)", report_stage, writes_record=False),
]
