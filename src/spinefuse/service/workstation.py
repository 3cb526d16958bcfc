"""What the workstation does with a case, apart from HTTP: lay out a run's inputs, run the
pipeline as a job, show and edit the label map, and re-grade and re-simulate an edited plan.

Every number comes from the pipeline's own functions: a run is
:func:`spinefuse.pipeline.run` on the case as stored (so the service gives the answer
``spinefuse run`` gives), and the plan editor calls the same planner, screw check
(:func:`spinefuse.plan.grade_screws`) and ``simulate(geometry, plan, protocol="hybrid")`` the
mechanics stage calls.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from spinefuse.case import Case, ImagingStudy
from spinefuse.errors import SpinefuseError
from spinefuse.records import Record, Vec3
from spinefuse.service.files import FileStore
from spinefuse.service.jobs import JobContext
from spinefuse.service.store.database import Store
from spinefuse.service.store.models import (
    CaseImage,
    CaseRow,
    LabelVersion,
    PlanVersion,
    RunRecord,
    RunRow,
    StoredFile,
)

if TYPE_CHECKING:
    from spinefuse.anatomy.geometry import SpineGeometry
    from spinefuse.assess.assessment import Assessment
    from spinefuse.imaging.images import Images
    from spinefuse.mechanics.result import MechanicsResult
    from spinefuse.mechanics.simulation import SpineMemo
    from spinefuse.pipeline import StageName
    from spinefuse.plan.surgical_plan import SurgicalPlan

RECORD_STAGES = ("anatomy", "assessment", "plan", "mechanics", "healing", "forecast")


class WorkstationError(SpinefuseError, ValueError):
    """A request the case's state cannot honour (no images yet, no run to edit a plan on)."""


# --- a case's studies from its stored images --------------------------------------------------
@dataclass(frozen=True)
class StoredStudy:
    """A study of the case as its stored images make it: the study's fields (modality, role,
    label convention), its path fields as (sha256, kind), and an MR study's series, each as
    (series fields, (sha256, kind))."""

    fields: dict[str, Any]
    files: dict[str, tuple[str, str]]
    series: tuple[tuple[dict[str, Any], tuple[str, str]], ...] = ()

    def hashes(self) -> list[tuple[str, str]]:
        """Every (path field, sha256) of the study, its series' files as ``series``."""
        out = [(f, sha) for f, (sha, _k) in sorted(self.files.items())]
        return out + [("series", sha) for _d, (sha, _k) in self.series]


def _volume_field_of(kind: str) -> str:
    return "nifti" if kind == "nifti" else "dicom_dir"


def _details(image: CaseImage) -> dict[str, Any]:
    return dict(json.loads(image.details or "{}"))


def studies_of(s: Session, case_pk: int) -> list[StoredStudy]:
    """The case's imaging studies from its stored images: the newest CT volume with its newest
    label map; the MR study (its series, every MR volume uploaded with a weighting, in upload
    order, else the newest MR volume) with its newest label map; one study per X-ray landmark
    file. The label map the surgeon confirmed replaces the uploaded one of the first volume
    study (the CT, else the MR)."""
    images = s.scalars(
        select(CaseImage).where(CaseImage.case_pk == case_pk).order_by(CaseImage.id)
    ).all()
    volumes = [i for i in images if i.kind in ("nifti", "dicom_zip") and i.role == "preop"]
    out: list[StoredStudy] = []
    for modality in ("CT", "MR"):
        mine = [i for i in volumes if i.modality == modality]
        if not mine:
            continue
        fields: dict[str, Any] = {"modality": modality, "role": "preop"}
        files: dict[str, tuple[str, str]] = {}
        series = tuple((d, (i.sha256, i.kind)) for i in mine if (d := _details(i)).get("weighting"))
        if modality == "CT" or not series:
            newest = mine[-1]
            files[_volume_field_of(newest.kind)] = (newest.sha256, newest.kind)
            series = ()
        lab = next(
            (i for i in reversed(images) if i.kind == "label_map" and i.modality == modality),
            None,
        )
        confirmed = latest_labels(s, case_pk) if not out else None
        if confirmed is not None:
            files["label_map"] = (confirmed.sha256, "label_map")
            fields.update(_confirmed_details(s, images, confirmed))
        elif lab is not None:
            files["label_map"] = (lab.sha256, "label_map")
            fields.update(_details(lab))
        out.append(StoredStudy(fields, files, series))
    for i in images:
        if i.kind == "xray_landmarks":
            out.append(
                StoredStudy({"modality": "XR", "role": i.role}, {"landmarks": (i.sha256, i.kind)})
            )
    return out


def _confirmed_details(
    s: Session, images: Iterable[CaseImage], confirmed: LabelVersion
) -> dict[str, Any]:
    """The details (the label convention) of the uploaded label map a confirmed version was
    edited from, through any earlier versions: an edit keeps its source's IDs."""
    uploads = {i.sha256: i for i in images if i.kind == "label_map"}
    versions = {
        v.sha256: v
        for v in s.scalars(select(LabelVersion).where(LabelVersion.case_pk == confirmed.case_pk))
    }
    source, seen = confirmed.source_sha256, set()
    while source not in uploads and source in versions and source not in seen:
        seen.add(source)
        source = versions[source].source_sha256
    return _details(uploads[source]) if source in uploads else {}


def latest_labels(s: Session, case_pk: int) -> LabelVersion | None:
    """The newest label-map version the surgeon confirmed, or None."""
    return s.scalar(
        select(LabelVersion)
        .where(LabelVersion.case_pk == case_pk)
        .order_by(LabelVersion.version.desc())
        .limit(1)
    )


INPUT_NAMES = {"nifti": "{m}.nii.gz", "dicom_dir": "{m}_dicom", "label_map": "{m}_labels.nii.gz"}
PLANE_NAMES = {"sagittal": "sag", "axial": "ax", "coronal": "cor"}
SEGMENT_IN_TEXT = re.compile(r"\b([LTS]\d{1,2})-([LTS]\d{1,2})\b")


def series_name(details: dict[str, Any], kind: str, taken: set[str]) -> str:
    """A series' input name from its plane, weighting and the segment its description names
    (``mr_sag_t2.nii.gz``, ``mr_ax_t2_L4L5.nii.gz``; ``_2``, ``_3`` … where two would clash),
    so a run's records name no upload."""
    stem = f"mr_{PLANE_NAMES.get(str(details.get('plane')), 'series')}"
    stem += f"_{str(details['weighting']).lower()}"
    m = SEGMENT_IN_TEXT.search(str(details.get("description", "")))
    if m:
        stem += f"_{m.group(1)}{m.group(2)}"
    suffix = ".nii.gz" if kind == "nifti" else "_dicom"
    name, n = f"{stem}{suffix}", 1
    while name in taken:
        n += 1
        name = f"{stem}_{n}{suffix}"
    taken.add(name)
    return name


def study_uploads(study: ImagingStudy) -> list[tuple[str, Path, dict[str, Any]]]:
    """A case file's study as the uploads that make it again: (kind, file, details), the
    inverse of :func:`studies_of` (NIfTI volumes, label maps, MR series, X-ray landmarks)."""
    out: list[tuple[str, Path, dict[str, Any]]] = []
    if study.nifti is not None:
        out.append(("nifti", study.nifti, {}))
    for series in study.series:
        if series.nifti is not None:
            details = series.model_dump(exclude={"nifti", "dicom_dir"}, exclude_defaults=True)
            out.append(("nifti", series.nifti, details))
    if study.label_map is not None:
        convention = study.label_convention
        out.append(
            (
                "label_map",
                study.label_map,
                {} if convention == "totalseg_v2" else {"label_convention": convention},
            )
        )
    if study.landmarks is not None:
        out.append(("xray_landmarks", study.landmarks, {}))
    return out


def _link(folder: Path, name: str, target: Path) -> Path:
    link = folder / name
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(target, link)
    return link


def case_for_run(s: Session, row: CaseRow, files: FileStore, folder: Path) -> Case:
    """The case with its studies' files linked into ``folder`` under fixed names
    (``ct.nii.gz``, ``ct_labels.nii.gz``, ``ct_dicom/``, ``mr_sag_t2.nii.gz`` …,
    ``xray_<role>_<n>.csv``), so the records name no upload and no store path."""
    folder.mkdir(parents=True, exist_ok=True)
    case = Case.model_validate_json(row.record)
    studies: list[ImagingStudy] = []
    n_xr = 0
    taken: set[str] = set()
    for study in studies_of(s, row.id):
        update: dict[str, Any] = dict(study.fields)
        for field, (sha, kind) in study.files.items():
            if field == "landmarks":
                n_xr += 1
                name = f"xray_{study.fields['role']}_{n_xr}.csv"
            else:
                name = INPUT_NAMES[field].format(m=str(study.fields["modality"]).lower())
            update[field] = _link(folder, name, files.path(sha, kind))
        if study.series:
            update["series"] = [
                {
                    **details,
                    _volume_field_of(kind): _link(
                        folder, series_name(details, kind, taken), files.path(sha, kind)
                    ),
                }
                for details, (sha, kind) in study.series
            ]
        studies.append(ImagingStudy.model_validate(update))
    return case.model_copy(update={"imaging": studies})


# --- pipeline runs as jobs --------------------------------------------------------------------
def run_folder(store: Store, run_id: int) -> Path:
    return store.runs_dir / f"run-{run_id}"


def pipeline_job(ctx: JobContext) -> dict[str, Any]:
    """Run the pipeline for the job's case (every stage, or up to ``until``) into the run's
    folder, on the plan version given (if any), and keep every record in the store."""
    from spinefuse.pipeline import run
    from spinefuse.plan.surgical_plan import SurgicalPlan
    from spinefuse.run_folder import read_manifest

    store = ctx.store
    run_id = int(ctx.params["run_id"])
    files = FileStore(store.files_dir)
    with store.session() as s:
        rr = s.get(RunRow, run_id)
        row = s.get(CaseRow, ctx.case_pk)
        if rr is None or row is None:
            raise WorkstationError(f"run {run_id} or its case is gone")
        folder = Path(rr.folder)
        case = case_for_run(s, row, files, folder / "inputs")
        given: dict[StageName, Any] = {}
        if rr.plan_version_id is not None:
            pv = s.get(PlanVersion, rr.plan_version_id)
            assert pv is not None
            given["plan"] = SurgicalPlan.model_validate_json(pv.plan)
        seed = rr.seed
        # a resumed run starts again from its first stage: drop what the cut-short one kept
        for old in s.scalars(select(RunRecord).where(RunRecord.run_id == run_id)):
            s.delete(old)
    if not case.imaging:
        raise WorkstationError("the case has no images yet: upload a CT, MR or X-ray file first")
    until = ctx.params.get("until")
    done = threading.Event()
    out = folder / "out"

    def watch() -> None:
        while not done.wait(0.5):
            try:
                m = read_manifest(out)
            except SpinefuseError:
                continue
            finished = [st for st in m.stages if st.status != "pending"]
            nxt = next((st.name for st in m.stages if st.status == "pending"), "")
            ctx.progress(len(finished) / max(1, len(m.stages)), nxt)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = run(case, until, seed=seed, out_dir=out, progress=False, given=given or None)
    finally:
        done.set()
        watcher.join()
    manifest = read_manifest(out)
    with store.session() as s:
        rr = s.get(RunRow, run_id)
        assert rr is not None
        for stage in RECORD_STAGES:
            record = result.record(stage)  # type: ignore[arg-type]
            if record is not None:
                s.add(RunRecord(run_id=run_id, stage=stage, record=record.to_json()))
        rr.manifest = manifest.to_json()
        rr.finished = manifest.finished
        if result.plan is not None and "plan" not in given:
            add_plan_version(
                s,
                rr.case_pk,
                result.plan,
                "planner",
                ctx.user_id,
                None,
                result.mechanics,
                note=f"planned by run {run_id}",
            )
    return {"run": run_id, "skipped": {k: v.code for k, v in result.skipped.items()}}


def add_plan_version(
    s: Session,
    case_pk: int,
    plan: SurgicalPlan,
    source: str,
    user_id: int,
    parent_id: int | None,
    mechanics: MechanicsResult | None,
    note: str = "",
) -> PlanVersion:
    """Keep a new plan version (the next number for the case; nothing is overwritten)."""
    last = s.scalar(select(func.max(PlanVersion.version)).where(PlanVersion.case_pk == case_pk))
    pv = PlanVersion(
        case_pk=case_pk,
        version=(last or 0) + 1,
        parent_id=parent_id,
        source=source,
        plan=plan.to_json(),
        mechanics=mechanics.to_json() if mechanics is not None else "",
        note=note,
        created_by=user_id,
    )
    s.add(pv)
    s.flush()
    return pv


def segmentation_job(ctx: JobContext) -> dict[str, Any]:
    """Read the case's images with its segmentation back-end (the built-in one when the case
    has no label map) and keep the label map it made as the case's uploaded label map."""
    from spinefuse.imaging.nifti import write_nifti
    from spinefuse.pipeline import run

    store = ctx.store
    files = FileStore(store.files_dir)
    with store.session() as s:
        row = s.get(CaseRow, ctx.case_pk)
        assert row is not None
        folder = store.files_dir / "segmentation" / f"job-{ctx.job_id}"
        case = case_for_run(s, row, files, folder)
    ctx.progress(0.1, "segmentation")
    images = run(case, "imaging", progress=False).images
    if images is None or images.labels is None:
        raise WorkstationError("the case has no CT or MR to segment")
    if images.label_source == "file":
        return {"label_source": "file", "levels": len(level_views(images))}
    tmp = write_nifti(images.labels, folder / "labels.nii.gz")
    sha, size = files.put_file(tmp.read_bytes(), "label_map")
    with store.session() as s:
        if s.get(StoredFile, sha) is None:
            s.add(StoredFile(sha256=sha, kind="label_map", size=size))
        s.add(
            CaseImage(
                case_pk=ctx.case_pk,
                kind="label_map",
                modality=images.modality or "CT",
                role="preop",
                sha256=sha,
                created_by=ctx.user_id,
            )
        )
    return {"label_source": images.label_source, "levels": len(level_views(images))}


def cohort_job(ctx: JobContext) -> dict[str, Any]:
    """A virtual trial (a cohort spec) into the store's cohort folder for this job; resumes from
    its finished batches when run again."""
    from spinefuse.cohort.spec import cohort_from_dict
    from spinefuse.cohort.trial import run_trial

    spec = cohort_from_dict(ctx.params["spec"], "cohort spec")
    out = ctx.store.files_dir / "cohorts" / f"job-{ctx.job_id}"
    ctx.progress(0.05, "cohort")
    results = run_trial(spec, out, workers=1, progress=False)
    summary = (out / "summary.csv").read_text() if (out / "summary.csv").exists() else ""
    return {
        "folder": out.name,
        "patients": int(results["patient"].nunique()),
        "summary_csv": summary,
    }


# --- label confirmation -----------------------------------------------------------------------
class LevelFlag(Record):
    """Something about a level the surgeon should look at: a code other code reads and a
    sentence. ``source`` says who raised it (the label-map quality gate, or this view)."""

    code: str
    text: str
    source: Literal["gate", "workstation"] = "workstation"


class LevelView(Record):
    """One labelled level of the label map, as the label-confirmation screen shows it."""

    label: int
    name: str | None = Field(description="the vertebra this ID means in the map's convention")
    voxels: int
    volume_ml: float
    centroid: Vec3
    flags: list[LevelFlag] = Field(default_factory=list)


def level_views(images: Images) -> list[LevelView]:
    """Every label of the map with its name, size, centroid and flags: a level cut by the
    volume's edge (partial), one far smaller than its neighbours, an ID the convention does not
    name. Flags the quality gate sets on the images are added as they come."""
    from spinefuse.imaging.labels import convention_ids

    labels = images.labels
    if labels is None or images.convention is None:
        return []
    arr = np.asarray(labels.array)
    ids, counts = np.unique(arr[arr != 0], return_counts=True)
    names = convention_ids(images.convention)
    voxel_ml = float(np.prod(labels.spacing)) / 1000.0
    edge = np.zeros(arr.shape, dtype=bool)
    edge[[0, -1], :, :] = True
    edge[:, [0, -1], :] = True
    edge[:, :, [0, -1]] = True
    on_edge = set(np.unique(arr[edge]).tolist()) - {0}
    vertebral = [c for i, c in zip(ids, counts, strict=True) if int(i) in names]
    median = float(np.median(vertebral)) if vertebral else 0.0
    out = []
    for i, c in zip(ids.tolist(), counts.tolist(), strict=True):
        idx = np.argwhere(arr == i)
        centroid = labels.voxel_to_world(idx.mean(axis=0))
        flags = []
        name = names.get(int(i))
        if name is None:
            flags.append(
                LevelFlag(code="unknown_id", text=f"ID {i} is no vertebra of the map's convention")
            )
        if i in on_edge:
            flags.append(
                LevelFlag(code="partial", text="cut by the edge of the scan: partly imaged")
            )
        if name is not None and median and c < 0.4 * median:
            flags.append(LevelFlag(code="small", text="much smaller than the other vertebrae"))
        flags += gate_flags(images, int(i))
        out.append(
            LevelView(
                label=int(i),
                name=name,
                voxels=int(c),
                volume_ml=round(c * voxel_ml, 2),
                centroid=(float(centroid[0]), float(centroid[1]), float(centroid[2])),
                flags=flags,
            )
        )
    return sorted(out, key=lambda v: -v.centroid[2])


def gate_flags(images: Images, label: int) -> list[LevelFlag]:
    """The quality gate's flags for a label, when the images carry the gate's verdict (an
    attribute ``quality`` mapping label or level name to flags with ``code`` and ``text``)."""
    verdict = getattr(images, "quality", None)
    if not verdict:
        return []
    flags = []
    items = verdict.get(label, []) if hasattr(verdict, "get") else []
    for f in items:
        flags.append(
            LevelFlag(
                code=str(getattr(f, "code", f)), text=str(getattr(f, "text", f)), source="gate"
            )
        )
    return flags


class LevelEdit(Record):
    """What the surgeon does with one label: keep it, rename it (to a vertebra name), merge it
    into another label, or reject it (set to background)."""

    label: int
    action: Literal["keep", "rename", "merge", "reject"] = "keep"
    name: str | None = None
    into: int | None = None


def apply_level_edits(images: Images, edits: list[LevelEdit]) -> np.ndarray[Any, Any]:
    """The label array after the surgeon's edits, in the map's own convention (every edit is
    checked: a rename needs a vertebra the convention names, a merge an existing label)."""
    from spinefuse.imaging.labels import convention_ids

    assert images.labels is not None and images.convention is not None
    src = np.asarray(images.labels.array)
    out = src.copy()
    present = set(np.unique(src).tolist()) - {0}
    by_name = {v: k for k, v in convention_ids(images.convention).items()}
    targets: dict[int, int] = {}
    for e in edits:
        if e.label not in present:
            raise WorkstationError(
                f"label {e.label} is not in the label map (present: {sorted(present)})"
            )
        if e.action == "rename":
            if e.name is None or e.name.upper() not in by_name:
                raise WorkstationError(
                    f"rename label {e.label} to {e.name!r}: not a vertebra of the map's "
                    f"convention ({', '.join(sorted(by_name))})"
                )
            targets[e.label] = by_name[e.name.upper()]
        elif e.action == "merge":
            if e.into is None or e.into not in present or e.into == e.label:
                raise WorkstationError(
                    f"merge label {e.label}: 'into' must be another label present"
                )
            targets[e.label] = e.into
        elif e.action == "reject":
            targets[e.label] = 0
    for label, target in targets.items():
        out[src == label] = target
    return out


# --- the plan editor --------------------------------------------------------------------------
@dataclass
class PlanningContext:
    """What the plan editor needs of a case, read once and kept: the labelled images, geometry
    and assessment of its newest finished run, and what the mechanics found for its intact
    spine (the same for every plan, so found once)."""

    run_id: int
    case: Case
    images: Images
    geometry: SpineGeometry
    assessment: Assessment | None
    memo: SpineMemo | None = None


class Workbench:
    """The plan editor's engine with a small cache of planning contexts (one per recent run)."""

    def __init__(self, store: Store, size: int = 4) -> None:
        self.store, self.size = store, size
        self._cache: OrderedDict[int, PlanningContext] = OrderedDict()
        self._mechanics: OrderedDict[tuple[int, str], MechanicsResult] = OrderedDict()
        self._lock = threading.Lock()

    def context(self, s: Session, case_pk: int) -> PlanningContext:
        """The planning context of the case's newest finished run with a geometry."""
        from spinefuse.anatomy.geometry import SpineGeometry
        from spinefuse.assess.assessment import Assessment
        from spinefuse.imaging.images import read_images
        from spinefuse.mechanics.simulation import SpineMemo

        rr = s.scalar(
            select(RunRow)
            .join(RunRecord, RunRecord.run_id == RunRow.id)
            .where(RunRow.case_pk == case_pk, RunRecord.stage == "anatomy")
            .order_by(RunRow.id.desc())
            .limit(1)
        )
        if rr is None:
            raise WorkstationError(
                "the case has no run with a geometry yet: run the pipeline first"
            )
        with self._lock:
            if rr.id in self._cache:
                self._cache.move_to_end(rr.id)
                return self._cache[rr.id]
        recs = {
            r.stage: r.record for r in s.scalars(select(RunRecord).where(RunRecord.run_id == rr.id))
        }
        case = Case.model_validate_json((Path(rr.folder) / "out" / "case.json").read_text())
        geometry = SpineGeometry.model_validate_json(recs["anatomy"])
        ctx = PlanningContext(
            run_id=rr.id,
            case=case,
            images=read_images(case),
            geometry=geometry,
            assessment=Assessment.model_validate_json(recs["assessment"])
            if "assessment" in recs
            else None,
            memo=SpineMemo(geometry),
        )
        with self._lock:
            self._cache[rr.id] = ctx
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return ctx

    def replan(self, ctx: PlanningContext, choices: PlanChoices) -> SurgicalPlan:
        """A new plan from the planner with the surgeon's choices forced (levels, technique,
        approach, graft, rod), checked on the images as the plan stage checks it."""
        from spinefuse.assess.assessment import Assessment
        from spinefuse.plan import plan_surgery

        plan = plan_surgery(
            ctx.case,
            ctx.geometry,
            ctx.assessment or Assessment(),
            images=ctx.images,
            technique=choices.technique,
            approach=choices.approach,
            graft=choices.graft,
            rod_material=choices.rod_material,
            rod_diameter_mm=choices.rod_diameter_mm,
            levels=choices.fuse_segments,
        )
        if plan is None:
            raise WorkstationError(
                "the planner gives no plan for these choices (no levels to fuse)"
            )
        return plan

    def regrade(self, ctx: PlanningContext, plan: SurgicalPlan) -> SurgicalPlan:
        """The surgeon's plan with each screw checked as placed (no resizing): its direction made
        unit, its angles in the vertebra's frame, breach and bone purchase sampled on the
        labelled CT; the rods re-bent through the screw heads."""
        from spinefuse.plan.catalogue import default_catalogue
        from spinefuse.plan.rods import RodChoice, plan_rods
        from spinefuse.plan.rules import planning_rules
        from spinefuse.plan.screws import grade_screws, label_ids, screw_angles_deg

        rules = planning_rules()
        screws = []
        for sc in plan.screws:
            d = np.asarray(sc.direction, dtype=float)
            norm = float(np.linalg.norm(d))
            if not np.isfinite(norm) or norm < 1e-9:
                raise WorkstationError(
                    f"screw {sc.vertebra} {sc.side}: the direction has no length"
                )
            unit = d / norm
            direction = (float(unit[0]), float(unit[1]), float(unit[2]))
            update: dict[str, Any] = {
                "direction": direction,
                "breach": False,
                "breach_mm": None,
                "bone_fraction": None,
                "cortical_fraction": None,
                "mean_hu": None,
                "warnings": [],
            }
            if sc.vertebra in ctx.geometry.vertebrae:
                m, c = screw_angles_deg(direction, ctx.geometry.vertebra(sc.vertebra), sc.side)
                update |= {"medial_angle_deg": m, "cranial_angle_deg": c}
            screws.append(sc.model_copy(update=update))
        im = ctx.images
        if im.labels is not None and im.convention is not None and screws:
            ct = im.volume if im.modality == "CT" else None
            screws = grade_screws(screws, im.labels, label_ids(im.convention), rules, ct)
        rods = plan.rods
        if plan.rods:
            first = plan.rods[0]
            rods = plan_rods(
                screws,
                RodChoice(first.material, first.diameter_mm, [], []),
                default_catalogue(),
                rules,
            )
        warnings = [w for w in plan.warnings if not _screw_warning(w, plan)]
        warnings += [w for sc in screws for w in sc.warnings]
        return plan.model_copy(
            update={"screws": screws, "rods": rods, "warnings": list(dict.fromkeys(warnings))}
        )

    def simulate(self, ctx: PlanningContext, plan: SurgicalPlan) -> MechanicsResult:
        """The mechanics stage's simulation of the plan (hybrid protocol). The model sees the
        plan only through its construct (decompressions, cages, screw heads and lengths, rods),
        so an edit that leaves the construct as it was (a screw's trajectory or diameter) reuses
        the last result for that construct: the same inputs, the same numbers. The intact
        spine's response, the same for every plan, is found once per context (its memo)."""
        from spinefuse.mechanics import simulate
        from spinefuse.mechanics.constructs import plan_construct

        key = (ctx.run_id, plan_construct(plan).to_json(indent=None))
        with self._lock:
            hit = self._mechanics.get(key)
            if hit is not None:
                self._mechanics.move_to_end(key)
                return hit
        result = simulate(ctx.geometry, plan, protocol="hybrid", memo=ctx.memo)
        with self._lock:
            self._mechanics[key] = result
            while len(self._mechanics) > 256:
                self._mechanics.popitem(last=False)
        return result


def _screw_warning(text: str, plan: SurgicalPlan) -> bool:
    return any(text.startswith(f"{s.vertebra} {s.side}:") for s in plan.screws)


class PlanChoices(Record):
    """The surgeon's choices the planner honours when it plans again (unset: its own)."""

    fuse_segments: list[str] | None = None
    technique: Literal["PLF", "TLIF", "PLIF", "ALIF", "LLIF"] | None = None
    approach: Literal["open", "mis"] | None = None
    graft: (
        Literal["local_autograft", "iliac_crest_autograft", "allograft", "dbm", "ceramic", "rhbmp2"]
        | None
    ) = None
    rod_material: Literal["titanium", "cobalt_chrome"] | None = None
    rod_diameter_mm: float | None = Field(default=None, gt=0)


class SegmentSummary(Record):
    """One motion segment in the plan editor's mechanics panel: its role in the plan, its
    flexion-extension, lateral bending and axial rotation ranges (degrees, operated and
    intact), its largest disc pressure (MPa)."""

    segment: str
    role: Literal["fused", "adjacent", "other"]
    flexion_extension_deg: float
    lateral_bending_deg: float
    axial_rotation_deg: float
    intact_flexion_extension_deg: float | None
    disc_pressure_mpa: float | None = Field(
        description="highest nucleus pressure; None: no nucleus"
    )
    intact_disc_pressure_mpa: float | None


class MechanicsSummary(Record):
    """What the plan editor shows after each change."""

    segments: list[SegmentSummary]
    max_rod_stress_mpa: float | None
    min_rod_safety_factor: float | None


def _peak(pressures: Iterable[float | None]) -> float | None:
    """The highest of a segment's disc pressures (None where the disc has no nucleus)."""
    known = [p for p in pressures if p is not None]
    return max(known) if known else None


def mechanics_summary(plan: SurgicalPlan, m: MechanicsResult) -> MechanicsSummary:
    """Fused and adjacent segments' motion and disc pressure, and the rods' worst stress."""
    from spinefuse.conventions import segment_vertebrae

    fused = set(plan.fuse_segments)
    span = segment_vertebrae(list(plan.fuse_segments)) if fused else []
    rows = []
    for name, seg in m.segments.items():
        upper, lower = name.split("-")
        adjacent = bool(span) and name not in fused and (upper == span[-1] or lower == span[0])
        role: Literal["fused", "adjacent", "other"] = (
            "fused" if name in fused else "adjacent" if adjacent else "other"
        )
        intact = m.intact.get(name) if m.intact else None
        rows.append(
            SegmentSummary(
                segment=name,
                role=role,
                flexion_extension_deg=seg.flexion_deg + seg.extension_deg,
                lateral_bending_deg=seg.lateral_bending_left_deg + seg.lateral_bending_right_deg,
                axial_rotation_deg=seg.axial_rotation_left_deg + seg.axial_rotation_right_deg,
                intact_flexion_extension_deg=(
                    intact.flexion_deg + intact.extension_deg if intact else None
                ),
                disc_pressure_mpa=_peak(seg.disc_pressure_mpa.values()),
                intact_disc_pressure_mpa=_peak(intact.disc_pressure_mpa.values())
                if intact
                else None,
            )
        )
    return MechanicsSummary(
        segments=rows,
        max_rod_stress_mpa=m.implants.max_rod_stress_mpa,
        min_rod_safety_factor=m.implants.min_rod_safety_factor,
    )


def records_of(s: Session, run_id: int) -> dict[str, Any]:
    """A run's records as parsed JSON, by stage."""
    return {
        r.stage: json.loads(r.record)
        for r in s.scalars(select(RunRecord).where(RunRecord.run_id == run_id))
    }


def import_run(store: Store, case_pk: int, run_dir: Path, user_id: int) -> int:
    """Bring a run folder that ``spinefuse run`` wrote for this case into the store as one of
    its runs (the folder is copied; its records are read back validated by
    :func:`spinefuse.run_folder.load_run`, and its plan becomes the case's next plan version).
    Returns the run's id."""
    import shutil

    from spinefuse.run_folder import load_run, read_manifest

    result = load_run(run_dir)
    with store.session() as s:
        row = s.get(CaseRow, case_pk)
        if row is None or row.case_id != result.case.id:
            raise WorkstationError(
                f"{run_dir}: the run is of case {result.case.id!r}, not of store case {case_pk}"
            )
        rr = RunRow(case_pk=case_pk, seed=result.seed, folder="")
        s.add(rr)
        s.flush()
        rr.folder = str(run_folder(store, rr.id))
        shutil.copytree(run_dir, Path(rr.folder) / "out")
        for stage in RECORD_STAGES:
            record = result.record(stage)  # type: ignore[arg-type]
            if record is not None:
                s.add(RunRecord(run_id=rr.id, stage=stage, record=record.to_json()))
        rr.manifest = read_manifest(run_dir).to_json()
        rr.finished = result.finished
        if result.plan is not None:
            add_plan_version(
                s,
                case_pk,
                result.plan,
                "planner",
                user_id,
                None,
                result.mechanics,
                note=f"imported with run {rr.id}",
            )
        return rr.id
