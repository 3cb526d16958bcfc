"""Pipeline runs of a case: start one (a job), read its manifest, records and reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from spinefuse.pipeline import StageName
from spinefuse.service.api.access import Id, audit, case_of, workstation
from spinefuse.service.auth import Principal, db_session, require
from spinefuse.service.store.models import JobRow, PlanVersion, RunRecord, RunRow
from spinefuse.service.workstation import RECORD_STAGES, records_of, run_folder

router = APIRouter(tags=["runs"])

REPORTS = {
    "report.html": "text/html",
    "report.pdf": "application/pdf",
    "patient.html": "text/html",
    "patient.pdf": "application/pdf",
    "index.html": "text/html",
}


class RunIn(BaseModel):
    seed: int = Field(0, ge=0, le=2**31 - 1)
    until: StageName | None = Field(None, description="the last stage to run (default: all)")
    plan_version: int | None = Field(None, ge=1, description="run on this plan version")


class RunOut(BaseModel):
    id: int
    case: int
    job: int | None
    seed: int
    plan_version: int | None
    finished: bool
    status: str
    manifest: dict[str, Any] | None
    stages: list[str] = Field(description="stages whose records the store holds")
    created_at: str


def _run_out(s: Session, rr: RunRow) -> RunOut:
    job = s.get(JobRow, rr.job_id) if rr.job_id else None
    pv = s.get(PlanVersion, rr.plan_version_id) if rr.plan_version_id else None
    stages = s.scalars(select(RunRecord.stage).where(RunRecord.run_id == rr.id)).all()
    return RunOut(
        id=rr.id,
        case=rr.case_pk,
        job=rr.job_id,
        seed=rr.seed,
        plan_version=pv.version if pv else None,
        finished=rr.finished,
        status=job.status if job else "done",
        manifest=json.loads(rr.manifest) if rr.manifest and rr.manifest != "{}" else None,
        stages=[st for st in RECORD_STAGES if st in stages],
        created_at=rr.created_at.isoformat(),
    )


def run_of(s: Session, p: Principal, run_id: int) -> RunRow:
    rr = s.get(RunRow, run_id)
    if rr is None:
        raise HTTPException(404, f"no run {run_id}")
    case_of(s, p, rr.case_pk)
    return rr


@router.post("/cases/{case_pk}/runs", response_model=RunOut, status_code=202)
def start_run(
    case_pk: Id,
    body: RunIn,
    p: Principal = Depends(require("run")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> RunOut:
    """Run the pipeline for the case (as a job): every stage, or up to ``until``, on a plan
    version when given (the stages after the plan then run on it)."""
    row = case_of(s, p, case_pk)
    pv_id = None
    if body.plan_version is not None:
        pv = s.scalar(
            select(PlanVersion).where(
                PlanVersion.case_pk == case_pk, PlanVersion.version == body.plan_version
            )
        )
        if pv is None:
            raise HTTPException(404, f"case {case_pk} has no plan version {body.plan_version}")
        pv_id = pv.id
    rr = RunRow(case_pk=row.id, seed=body.seed, plan_version_id=pv_id, folder="")
    s.add(rr)
    s.flush()
    rr.folder = str(run_folder(ws.store, rr.id))
    s.commit()  # the job's worker reads the run row
    job = ws.jobs.submit(
        "pipeline",
        {"run_id": rr.id, "until": body.until},
        team_id=p.team_id,
        user_id=p.user_id,
        case_pk=row.id,
    )
    rr.job_id = job
    audit(s, p, "run_started", f"case:{row.id}", run=rr.id, job=job)
    s.flush()
    return _run_out(s, rr)


@router.get("/cases/{case_pk}/runs", response_model=list[RunOut])
def list_runs(
    case_pk: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
) -> list[RunOut]:
    """The case's runs, newest first."""
    case_of(s, p, case_pk)
    rows = s.scalars(select(RunRow).where(RunRow.case_pk == case_pk).order_by(RunRow.id.desc()))
    return [_run_out(s, r) for r in rows]


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(
    run_id: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
) -> RunOut:
    """A run: its job's state, the manifest, the stages with records."""
    return _run_out(s, run_of(s, p, run_id))


@router.get("/runs/{run_id}/records")
def run_records(
    run_id: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Every record of a run, by stage (SpineGeometry, Assessment, SurgicalPlan,
    MechanicsResult, HealingCourse, Forecast)."""
    return records_of(s, run_of(s, p, run_id).id)


@router.get("/runs/{run_id}/records/{stage}")
def run_record(
    run_id: Id,
    stage: StageName,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """One stage's record of a run."""
    rr = run_of(s, p, run_id)
    rec = s.scalar(select(RunRecord).where(RunRecord.run_id == rr.id, RunRecord.stage == stage))
    if rec is None:
        raise HTTPException(404, f"run {run_id} has no {stage} record")
    out: dict[str, Any] = json.loads(rec.record)
    return out


@router.get("/runs/{run_id}/files/{name}", response_class=FileResponse)
def run_file(
    run_id: Id,
    name: str,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
) -> FileResponse:
    """A report of the run (report.html/.pdf, patient.html/.pdf, index.html)."""
    rr = run_of(s, p, run_id)
    if name not in REPORTS:
        raise HTTPException(404, f"no file {name!r}; reports are {', '.join(REPORTS)}")
    path = Path(rr.folder) / "out" / name
    if not path.is_file():
        raise HTTPException(404, f"run {run_id} has no {name} (did the report stage run?)")
    disposition = "inline" if name.endswith(".html") else "attachment"
    return FileResponse(
        path, media_type=REPORTS[name], content_disposition_type=disposition, filename=name
    )
