"""Background jobs: their state, a stream of their progress, resuming an interrupted one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from spinefuse.service.api.access import Id, audit, workstation
from spinefuse.service.auth import Principal, db_session, require
from spinefuse.service.jobs import JobError, job_events, job_view
from spinefuse.service.store.models import JobRow

router = APIRouter(tags=["jobs"])


def job_of(s: Session, p: Principal, job_id: int) -> JobRow:
    job = s.get(JobRow, job_id)
    if job is None or job.team_id != p.team_id:
        raise HTTPException(404, f"no job {job_id}")
    return job


@router.get("/jobs")
def list_jobs(
    p: Principal = Depends(require("read")), s: Session = Depends(db_session, scope="function")
) -> list[dict[str, Any]]:
    """The team's newest jobs."""
    rows = s.scalars(
        select(JobRow).where(JobRow.team_id == p.team_id).order_by(JobRow.id.desc()).limit(100)
    )
    return [job_view(j) for j in rows]


@router.get("/jobs/{job_id}")
def get_job(
    job_id: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """A job's state and progress."""
    return job_view(job_of(s, p, job_id))


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse)
def job_stream(
    job_id: Id,
    p: Principal = Depends(require("read")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> StreamingResponse:
    """Server-sent events of the job's progress until it ends (reconnect to pick it up again)."""
    job_of(s, p, job_id)
    return StreamingResponse(
        job_events(ws.store, job_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store"},
    )


@router.post("/jobs/{job_id}/resume")
def resume_job(
    job_id: Id,
    p: Principal = Depends(require("run")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> dict[str, Any]:
    """Queue an interrupted (or failed) job again."""
    job = job_of(s, p, job_id)
    s.commit()
    try:
        ws.jobs.resume(job.id)
    except JobError as err:
        raise HTTPException(409, str(err)) from None
    audit(s, p, "job_resumed", f"job:{job.id}")
    s.expire_all()
    return job_view(job_of(s, p, job_id))
