"""User accounts (admins only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from spinefuse.service.api.access import Id, audit
from spinefuse.service.auth import AccountError, Principal, add_user, db_session, require
from spinefuse.service.roles import Role
from spinefuse.service.store.models import Team, User

router = APIRouter(tags=["users"])


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=8, max_length=1000)
    role: Role
    team: str | None = Field(
        default=None, max_length=100, description="team name (default: the admin's own team)"
    )


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    team: str
    active: bool


def _out(s: Session, u: User) -> UserOut:
    team = s.get(Team, u.team_id)
    return UserOut(
        id=u.id, username=u.username, role=u.role, team=team.name if team else "", active=u.active
    )


@router.get("/users", response_model=list[UserOut])
def list_users(
    p: Principal = Depends(require("manage_users")),
    s: Session = Depends(db_session, scope="function"),
) -> list[UserOut]:
    """The users of the admin's team."""
    rows = s.scalars(select(User).where(User.team_id == p.team_id).order_by(User.id))
    return [_out(s, u) for u in rows]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(
    body: UserIn,
    p: Principal = Depends(require("manage_users")),
    s: Session = Depends(db_session, scope="function"),
) -> UserOut:
    """Create a user in the admin's team (or a named team)."""
    own = s.get(Team, p.team_id)
    try:
        u = add_user(
            s,
            body.username,
            body.password,
            body.role,
            body.team or (own.name if own else "default"),
        )
    except AccountError as err:
        raise HTTPException(409, str(err)) from None
    audit(s, p, "user_created", f"user:{u.id}", role=u.role)
    return _out(s, u)


@router.delete("/users/{user_id}", response_model=UserOut)
def deactivate_user(
    user_id: Id,
    p: Principal = Depends(require("manage_users")),
    s: Session = Depends(db_session, scope="function"),
) -> UserOut:
    """Deactivate a user of the admin's team (nothing is deleted; their records stay)."""
    u = s.get(User, user_id)
    if u is None or u.team_id != p.team_id:
        raise HTTPException(404, f"no user {user_id}")
    if u.id == p.user_id:
        raise HTTPException(409, "an admin cannot deactivate themselves")
    u.active = False
    audit(s, p, "user_deactivated", f"user:{u.id}")
    return _out(s, u)
