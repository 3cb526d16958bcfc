"""The pipeline's stages in data-flow order: the one place a sub-package meets the pipeline.

Each stage reads the typed records of the stages before it from the
:class:`~spinefuse.pipeline.CaseResult` and returns its own record, or a
:class:`~spinefuse.pipeline.Skip` saying why this case gives it nothing to do (no CT: no anatomy;
no fusion indicated: no plan, no healing). Sub-packages are imported inside the stage functions,
so ``import spinefuse`` stays light and a run imports only what it uses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spinefuse.case import Case
from spinefuse.conventions import LUMBAR_SEGMENTS
from spinefuse.errors import LevelCutError
from spinefuse.pipeline import CaseResult, Skip, StageName

if TYPE_CHECKING:
    from spinefuse.anatomy.geometry import SpineGeometry
    from spinefuse.imaging.images import Images
    from spinefuse.plan.surgical_plan import SurgicalPlan
    from spinefuse.records import Record


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: its name (the JSON file stem), the CaseResult field it fills, what it
    does in words, its function, and the record type it writes (None: nothing written)."""

    name: StageName
    field: str
    describe: str
    run: Callable[[CaseResult], Any]
    record: Callable[[], type[Record]] | None = None


def _images(r: CaseResult) -> Images:
    assert r.images is not None, "the imaging stage runs first"
    return r.images


# --- the stages --------------------------------------------------------------------------------
def imaging_stage(r: CaseResult) -> Images:
    """Every image of the case read once: the CT (else MR) with its vertebra labels, and the
    X-ray landmark sets. The gate's naming check of a label map file goes on beside the next
    stages; :func:`spinefuse.pipeline.run` completes the gate (``Images.settled``). The MR
    study's reading (the assessment's costly part) starts beside them too."""
    from spinefuse.forked import Forked, can_fork
    from spinefuse.imaging.images import read_images

    images = read_images(r.case, defer_naming=True)
    if images.mr is not None and can_fork():
        from spinefuse.assess.mr_measurements import measure_mr

        # the MR reading needs the MR alone: it runs beside the anatomy
        r.prefetched["mr_reading"] = Forked(measure_mr, images.mr)
    return images


def anatomy_stage(r: CaseResult) -> SpineGeometry | Skip:
    """The SpineGeometry measured on the labelled CT/MR: landmarks, canal, pedicles and their
    screw corridors, and on a CT the dural sac at each disc level."""
    from spinefuse.anatomy.from_labels import measure_anatomy

    images = _images(r)
    if images.volume is None:
        return Skip(
            "no_volume",
            "the case has no CT or MR study: the anatomy is measured on one "
            "(X-ray landmark files give the 2-D measurements only)",
        )
    if images.gate is not None and images.gate.status == "fail":
        failed = [m.removeprefix("FAIL ") for m in images.gate.messages if m.startswith("FAIL")]
        return Skip(
            "gate_failed",
            "the label map failed the quality gate, so nothing is measured on it: "
            + "; ".join(failed),
        )
    return measure_anatomy(images, heights=r.case.anatomy.body_heights)


def assessment_stage(r: CaseResult) -> Record | Skip:
    """Measurements, findings, indication and levels (X-ray landmarks, the geometry and the MR
    study's disc levels), matched to the examination."""
    from spinefuse.assess import assess_case
    from spinefuse.assess.case_assessment import NothingToMeasure

    images = _images(r)
    xrays = [x for x in images.xrays if x.role != "postop"]
    # levels named by a guess are not measured: a slip "at C2-C3" of a lumbar scan misleads
    geometry = None if images.unnamed else r.geometry
    if not xrays and geometry is None and images.mr is None:
        if images.unnamed:
            return Skip("levels_unnamed", UNNAMED_LEVELS)
        return Skip(
            "nothing_to_assess",
            "no pre-operative X-ray landmark file and no CT/MR geometry to measure",
        )
    prefetched = r.prefetched.get("mr_reading")
    try:
        return assess_case(
            r.case, geometry, xrays, images.mr, prefetched.result if prefetched else None
        )
    except NothingToMeasure as err:
        return Skip("nothing_to_measure", str(err))


UNNAMED_LEVELS = (
    "the segmentation could not name the levels from the anatomy in view, so no level is "
    "measured or planned on; name the lowest vertebra in view in the case file "
    "(segmentation: {options: {lowest_in_view: L5}}) and run again"
)


def plan_stage(r: CaseResult) -> SurgicalPlan | Skip:
    """The surgical plan when fusion is indicated (or the surgeon names the segments): sized on
    the geometry and checked on the labelled CT when there is one."""
    from spinefuse.plan import plan_surgery, plan_without_anatomy

    if r.geometry is None:
        plan = plan_without_anatomy(r.case)
        if plan is None:
            return Skip(
                "no_geometry",
                "no CT/MR geometry to size implants on, and the case names no segments to fuse "
                "(preferences.fuse_segments)",
            )
        return plan
    images = _images(r)
    if images.unnamed:
        return Skip("levels_unnamed", UNNAMED_LEVELS)
    if r.assessment is None:
        return Skip("no_assessment", "there is no assessment to plan from")
    try:
        plan = plan_surgery(r.case, r.geometry, r.assessment, images=images)
    except LevelCutError as err:
        return Skip("level_cut", str(err))
    if plan is None:
        return Skip("no_fusion_indicated", "no fusion is indicated: " + r.assessment.rationale)
    doubted = doubted_levels(images, plan)
    if doubted:
        said = "; ".join(f"{name}: {', '.join(why)}" for name, why in doubted.items())
        return Skip(
            "levels_unconfirmed",
            f"the plan ({', '.join(plan.fuse_segments)}) would rest on "
            f"{', '.join(doubted)}, which the label-map quality gate doubts in labels the "
            f"{images.label_source} segmentation made ({said}); the measurements there may "
            "come from wrong anatomy, so nothing is planned until the labels are confirmed: "
            "check and confirm them in the workstation, or give the case a label map "
            "(imaging: label_map) and run again",
        )
    return plan


AUTOMATIC_LABELS = ("builtin", "totalsegmentator")
"""Label sources no person has looked at: a doubt of the quality gate there stops the plan."""


def doubted_levels(images: Images, plan: SurgicalPlan) -> dict[str, list[str]]:
    """The vertebrae a plan instruments or fuses whose automatic labels the quality gate
    doubts (a size, spacing, order, continuity, piece or naming check asks for confirmation;
    a level the scan cuts is handled by the planner), with the gate's reasons."""
    from spinefuse.conventions import segment_vertebrae

    if images.label_source not in AUTOMATIC_LABELS or images.gate is None:
        return {}
    involved = set(segment_vertebrae(plan.fuse_segments))
    out: dict[str, list[str]] = {}
    for lv in images.gate.levels:
        if lv.name not in involved or lv.status != "needs_confirmation":
            continue
        why = [
            c.reason or c.check
            for c in lv.checks
            if c.status == "needs_confirmation" and c.check != "field_of_view"
        ]
        if why:
            out[lv.name] = why
    return out


def mechanics_stage(r: CaseResult) -> Record | Skip:
    """Range of motion, disc pressure and facet forces of the intact spine under pure moments
    (7.5 N·m) and of the planned spine under the hybrid protocol (moments raised until the whole
    lumbar spine moves as far as the intact one, as a patient moving normally would), so the
    motion the fusion shifts to the adjacent segments shows; with the implants' loads and safety
    factors. Without a plan, the intact spine alone."""
    from spinefuse.mechanics import simulate

    if r.geometry is None:
        return Skip("no_geometry", "the mechanics need the 3-D geometry of a CT or MR")
    if not any(s in r.geometry.discs for s in LUMBAR_SEGMENTS):
        whole = [n for n, v in r.geometry.vertebrae.items() if not v.partial]
        return Skip(
            "no_motion_segment",
            "no whole lumbar motion segment is in view (vertebrae "
            f"{', '.join(r.geometry.vertebrae)}; whole: {', '.join(whole) or 'none'}): the "
            "model needs two whole neighbouring vertebrae and their disc",
        )
    return simulate(r.geometry, r.plan, protocol="pure-moment" if r.plan is None else "hybrid")


def healing_stage(r: CaseResult) -> Record | Skip:
    """The healing ensemble over 24 months for the planned fusion."""
    from spinefuse.healing import heal

    if r.plan is None or not r.plan.fuse_segments:
        return Skip("no_plan", "no fusion is planned, so there is nothing to heal")
    geometry, plan = _healing_anatomy(r, r.plan)
    unmeasured = [s for s in plan.fuse_segments if s not in geometry.discs]
    if unmeasured:
        return Skip(
            "no_disc",
            f"the disc of {', '.join(unmeasured)} was not measured, and the healing mechanics "
            "run on the fused segment's disc",
        )
    return heal(r.case, geometry, plan, r.mechanics, seed=r.seed)


def forecast_stage(r: CaseResult) -> Record | Skip:
    """Perioperative course, complications, recovery pathway and PROs; the non-union risk is
    the healing stage's."""
    from spinefuse.outcomes import diagnosis_from_assessment, forecast
    from spinefuse.outcomes.calibration import take_ahead

    work = r.prefetched.pop(_CALIBRATION, None)
    if work is not None:
        take_ahead(work)
    if r.plan is not None and r.healing is None:
        why = r.skipped.get("healing")
        return Skip(
            "no_healing",
            "the forecast of a planned fusion takes its non-union risk from the healing stage, "
            "which had nothing to do" + (f": {why.text}" if why is not None else ""),
        )
    nonunion = r.healing.nonunion_probability if r.healing is not None else None
    diagnosis = (
        diagnosis_from_assessment(r.assessment, r.plan) if r.assessment is not None else None
    )
    return forecast(r.case, r.plan, nonunion, diagnosis=diagnosis)


_CALIBRATION = "forecast models"


def calibrate_ahead(
    r: CaseResult, selected: Sequence[StageName], given: Mapping[StageName, Any]
) -> None:
    """When this run forecasts, start calibrating the forecast's models on the reference
    population (the same for every patient) in a forked process as the run starts, beside the
    imaging; the forecast stage takes them (:mod:`spinefuse.outcomes.calibration`)."""
    from spinefuse.outcomes.calibration import calibrate_ahead as start

    if "forecast" not in selected or "forecast" in given:
        return
    work = start()
    if work is not None:
        r.prefetched[_CALIBRATION] = work


def report_stage(r: CaseResult) -> list[Any] | Skip:
    """The surgeon's and the patient's reports (HTML and PDF) from the records in memory, with
    the pictures drawn ahead (:func:`draw_ahead`) taken as they are."""
    from spinefuse.report import write_reports
    from spinefuse.report.picture_store import PictureStore, remembering

    if r.out_dir is None:
        return Skip("no_output_folder", "reports are written into a run folder (--out)")
    store: PictureStore = {}
    for key in [k for k in r.prefetched if k.startswith(_AHEAD)]:
        with contextlib.suppress(Exception):  # what did not come is drawn here
            store.update(r.prefetched.pop(key).result())
    with remembering(store):
        return write_reports(r, r.out_dir)


_AHEAD = "pictures after "
PICTURES_AFTER: tuple[StageName, ...] = ("plan", "healing")
"""The stages after which the reports' pictures of the records so far are drawn ahead."""


def draw_ahead(r: CaseResult, name: StageName, selected: Sequence[StageName]) -> None:
    """Once stage ``name`` has run, start drawing the reports' pictures of the records that
    exist now in a forked process (:mod:`spinefuse.report.ahead`), when the reports are to be
    written in this run; the report stage takes them. The picture modules are imported here,
    once for this process and its forks."""
    from spinefuse.forked import Forked, can_fork

    if name not in PICTURES_AFTER or "report" not in selected or r.out_dir is None:
        return
    if not can_fork():
        return
    from spinefuse.report.ahead import pictures_ahead

    earlier = r.prefetched.pop(_AHEAD + name, None)
    if earlier is not None:  # the stage ran again (on the complete label-map gate)
        earlier.cancel()
    r.prefetched[_AHEAD + name] = Forked(pictures_ahead, r, name)


def _healing_anatomy(r: CaseResult, plan: SurgicalPlan) -> tuple[SpineGeometry, SurgicalPlan]:
    """The geometry and implants the healing mechanics run on: the patient's own, else (a plan
    from X-ray films and the surgeon's choices) a population spine of the patient's sex and
    height with standard implants sized on it, which the healing record says."""
    if r.geometry is not None:
        return r.geometry, plan
    from spinefuse.anatomy.template import patient_template
    from spinefuse.plan import plan_surgery

    films = {(m.name, m.level): m.value for m in r.assessment.measurements} if r.assessment else {}
    template = patient_template(
        r.case.patient,
        _within(films.get(("pelvic_incidence", None)), 20.0, 95.0),
        _within(films.get(("lumbar_lordosis", None)), -10.0, 90.0),
        {
            level: v
            for (name, level), v in films.items()
            if name == "slip_percent" and level and -30.0 <= v <= 100.0
        },
    )
    sized = plan_surgery(
        r.case,
        template,
        r.assessment or _no_assessment(),
        technique=plan.technique,
        approach=plan.approach,
        graft=plan.graft.material if plan.graft is not None else None,
        levels=list(plan.fuse_segments),
    )
    assert sized is not None  # forced levels always give a plan
    return template, sized


def _within(value: float | None, lo: float, hi: float) -> float | None:
    return value if value is not None and lo <= value <= hi else None


def _no_assessment() -> Any:
    from spinefuse.assess.assessment import Assessment

    return Assessment()


# The record types, imported on first use so that the registry stays light to import.
def _geometry_type() -> type[Record]:
    from spinefuse.anatomy.geometry import SpineGeometry

    return SpineGeometry


def _assessment_type() -> type[Record]:
    from spinefuse.assess.assessment import Assessment

    return Assessment


def _plan_type() -> type[Record]:
    from spinefuse.plan.surgical_plan import SurgicalPlan

    return SurgicalPlan


def _mechanics_type() -> type[Record]:
    from spinefuse.mechanics.result import MechanicsResult

    return MechanicsResult


def _healing_type() -> type[Record]:
    from spinefuse.healing.course import HealingCourse

    return HealingCourse


def _forecast_type() -> type[Record]:
    from spinefuse.outcomes.forecast import Forecast

    return Forecast


STAGES: tuple[Stage, ...] = (
    Stage("imaging", "images", "reading the images", imaging_stage),
    Stage(
        "anatomy",
        "geometry",
        "imaging to anatomy",
        anatomy_stage,
        _geometry_type,
    ),
    Stage(
        "assessment",
        "assessment",
        "assessment",
        assessment_stage,
        _assessment_type,
    ),
    Stage(
        "plan",
        "plan",
        "surgical plan",
        plan_stage,
        _plan_type,
    ),
    Stage(
        "mechanics",
        "mechanics",
        "mechanics",
        mechanics_stage,
        _mechanics_type,
    ),
    Stage(
        "healing",
        "healing",
        "healing (24 months)",
        healing_stage,
        _healing_type,
    ),
    Stage(
        "forecast",
        "forecast",
        "course and outcome",
        forecast_stage,
        _forecast_type,
    ),
    Stage("report", "reports", "reports (HTML, PDF)", report_stage),
)


def stage(name: StageName) -> Stage:
    """The stage called ``name``."""
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(name)


def check_case(case: Case) -> None:
    """Every check a stage would make of the case's own fields, made before any stage runs, so
    a rod the catalogue does not stock or an unknown site stops the run at once (a CaseError
    naming the field)."""
    from spinefuse.errors import CaseError, ParameterError
    from spinefuse.outcomes.perioperative import site_name
    from spinefuse.plan import check_preferences

    check_preferences(case)
    try:
        site_name(case.preferences.site)
    except ParameterError as err:
        raise CaseError(f"case {case.id}: {err}") from None
