"""The audit log (admins only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from spinefuse.service.auth import Principal, db_session, require
from spinefuse.service.store.models import AuditEvent

router = APIRouter(tags=["audit"])


@router.get("/audit")
def audit_log(
    limit: int = Query(200, ge=1, le=5000),
    p: Principal = Depends(require("manage_users")),
    s: Session = Depends(db_session, scope="function"),
) -> list[dict[str, Any]]:
    """The newest events of the admin's team (who, what, which store object)."""
    rows = s.scalars(
        select(AuditEvent)
        .where(AuditEvent.team_id == p.team_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "user": e.user_id,
            "action": e.action,
            "target": e.target,
            "detail": e.detail,
        }
        for e in rows
    ]
