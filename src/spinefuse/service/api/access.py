"""What every router needs: the workstation, the case a principal may see, the audit log."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import HTTPException, Path, Request
from sqlalchemy.orm import Session

from spinefuse.service.auth import Principal
from spinefuse.service.store.models import AuditEvent, CaseRow

MAX_ID = 2**31 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID, description="a store id")]
"""A store id in a path (bounded, so no request reaches the database with an impossible id)."""


def workstation(request: Request) -> Any:
    """The app's :class:`~spinefuse.service.app.Workstation`."""
    return request.app.state.workstation


def case_of(s: Session, p: Principal, case_pk: int) -> CaseRow:
    """The case if it is the principal's team's; 404 otherwise (another team's case is not
    told apart from a missing one)."""
    row = s.get(CaseRow, case_pk)
    if row is None or row.team_id != p.team_id:
        raise HTTPException(404, f"no case {case_pk}")
    return row


def audit(s: Session, p: Principal | None, action: str, target: str = "", **detail: Any) -> None:
    """Add an audit event (store ids and codes only, never patient data)."""
    s.add(
        AuditEvent(
            user_id=p.user_id if p else None,
            team_id=p.team_id if p else None,
            action=action,
            target=target,
            detail=json.dumps(detail) if detail else "",
        )
    )
