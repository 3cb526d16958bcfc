"""Signing in and out, the signed-in user, and bearer tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from spinefuse.service.api.access import Id, audit
from spinefuse.service.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_HOURS,
    Principal,
    authenticate,
    current_principal,
    db_session,
    issue_token,
    open_session,
    token_digest,
)
from spinefuse.service.store.models import ApiToken, BrowserSession

router = APIRouter(tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class Me(BaseModel):
    id: int
    username: str
    role: str
    team_id: int
    csrf_token: str | None = None


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class TokenOut(BaseModel):
    id: int
    name: str
    token: str | None = Field(default=None, description="shown once, when it is made")
    revoked: bool = False


@router.post("/auth/login", response_model=Me)
def login(
    body: Login, response: Response, s: Session = Depends(db_session, scope="function")
) -> Me:
    """Sign in: sets the HTTP-only session cookie and the CSRF cookie; the CSRF token is also
    in the answer, to be sent back as the X-CSRF-Token header."""
    user = authenticate(s, body.username, body.password)
    if user is None:
        audit(s, None, "login_failed")
        raise HTTPException(401, "wrong user name or password")
    token, csrf = open_session(s, user)
    age = SESSION_HOURS * 3600
    response.set_cookie(
        SESSION_COOKIE, token, max_age=age, httponly=True, samesite="strict", path="/"
    )
    response.set_cookie(CSRF_COOKIE, csrf, max_age=age, httponly=False, samesite="strict", path="/")
    p = Principal(user.id, user.username, user.role, user.team_id, "session")
    audit(s, p, "login", f"user:{user.id}")
    return Me(
        id=user.id, username=user.username, role=user.role, team_id=user.team_id, csrf_token=csrf
    )


@router.post("/auth/logout")
def logout(
    response: Response,
    p: Principal = Depends(current_principal),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """End every browser session of the user and clear the cookies."""
    for sess in s.scalars(select(BrowserSession).where(BrowserSession.user_id == p.user_id)):
        s.delete(sess)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    audit(s, p, "logout", f"user:{p.user_id}")
    return {"signed_out": True}


@router.get("/auth/me", response_model=Me)
def me(p: Principal = Depends(current_principal)) -> Me:
    """The signed-in user."""
    return Me(id=p.user_id, username=p.username, role=p.role, team_id=p.team_id)


@router.post("/auth/tokens", response_model=TokenOut, status_code=201)
def make_token(
    body: TokenIn,
    p: Principal = Depends(current_principal),
    s: Session = Depends(db_session, scope="function"),
) -> TokenOut:
    """A bearer token for scripts, acting as the signed-in user (shown once)."""
    row, token = issue_token(s, p.user_id, body.name)
    audit(s, p, "token_issued", f"token:{row.id}")
    return TokenOut(id=row.id, name=row.name, token=token)


@router.get("/auth/tokens", response_model=list[TokenOut])
def list_tokens(
    p: Principal = Depends(current_principal), s: Session = Depends(db_session, scope="function")
) -> list[TokenOut]:
    """The user's tokens (never the tokens themselves)."""
    rows = s.scalars(select(ApiToken).where(ApiToken.user_id == p.user_id).order_by(ApiToken.id))
    return [TokenOut(id=r.id, name=r.name, revoked=r.revoked) for r in rows]


@router.delete("/auth/tokens/{token_id}", response_model=TokenOut)
def revoke_token(
    token_id: Id,
    p: Principal = Depends(current_principal),
    s: Session = Depends(db_session, scope="function"),
) -> TokenOut:
    """Revoke one of the user's tokens."""
    row = s.get(ApiToken, token_id)
    if row is None or row.user_id != p.user_id:
        raise HTTPException(404, f"no token {token_id}")
    row.revoked = True
    audit(s, p, "token_revoked", f"token:{row.id}")
    return TokenOut(id=row.id, name=row.name, revoked=True)


__all__ = ["router", "token_digest"]
