"""Virtual cohorts (trials) as jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from spinefuse.errors import SpinefuseError
from spinefuse.service.api.access import audit, workstation
from spinefuse.service.auth import Principal, db_session, require

router = APIRouter(tags=["cohorts"])
MAX_SIZE = 20_000


class CohortIn(BaseModel):
    spec: dict[str, Any] = Field(description="a cohort spec (schema spinefuse/cohort@1)")


@router.post("/cohorts", status_code=202)
def start_cohort(
    body: CohortIn,
    p: Principal = Depends(require("cohort")),
    s: Session = Depends(db_session, scope="function"),
    ws: Any = Depends(workstation),
) -> dict[str, int]:
    """Run a virtual trial as a job (its result holds the summary table)."""
    from spinefuse.cohort.spec import cohort_from_dict

    try:
        spec = cohort_from_dict(body.spec, "cohort spec")
    except SpinefuseError as err:
        raise HTTPException(422, str(err)) from None
    if spec.size > MAX_SIZE:
        raise HTTPException(422, f"size {spec.size}: the workstation runs at most {MAX_SIZE}")
    job = ws.jobs.submit("cohort", {"spec": body.spec}, team_id=p.team_id, user_id=p.user_id)
    audit(s, p, "cohort_started", f"job:{job}")
    return {"job": job}
