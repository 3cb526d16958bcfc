"""Accounts and access: argon2 password hashes, browser sessions with CSRF protection, bearer
tokens for scripts, and the FastAPI dependencies that let a request in.

A browser logs in and gets two cookies: the session (HTTP-only, SameSite=Strict) and a CSRF
token that the page's script echoes in the ``X-CSRF-Token`` header of every request that
changes something (double submit, checked against the token kept with the session). A script
sends ``Authorization: Bearer <token>``; such requests need no CSRF token because a browser never
adds that header on its own. Tokens are kept only as their SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from spinefuse.errors import SpinefuseError
from spinefuse.service.roles import ROLES, Permission, Role, allowed
from spinefuse.service.store.models import ApiToken, BrowserSession, Team, User

SESSION_COOKIE = "spinefuse_session"
CSRF_COOKIE = "spinefuse_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_HOURS = 12
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password anyone has")


class AccountError(SpinefuseError, ValueError):
    """A user cannot be made as asked (duplicate name, unknown role, weak password)."""


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: the user, their role and team, and how they signed in."""

    user_id: int
    username: str
    role: Role
    team_id: int
    via: str  # "session" or "token"

    def can(self, permission: Permission) -> bool:
        return allowed(self.role, permission)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored argon2 hash (constant time)."""
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    """The SHA-256 a token is kept as."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def add_user(s: Session, username: str, password: str, role: str, team: str = "default") -> User:
    """Create a user (and their team when it is new); refuses a taken name or a short password."""
    if role not in ROLES:
        raise AccountError(f"role {role!r}: use one of {', '.join(ROLES)}")
    if (
        not username
        or len(username) > 100
        or not username.replace("-", "").replace(".", "").replace("_", "").isalnum()
    ):
        raise AccountError(
            f"username {username!r}: letters, digits, '.', '-' and '_' only (1–100 characters)"
        )
    if len(password) < 8:
        raise AccountError("the password needs at least 8 characters")
    if s.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} exists already; choose another name")
    t = s.scalar(select(Team).where(Team.name == team))
    if t is None:
        t = Team(name=team)
        s.add(t)
        s.flush()
    user = User(username=username, password_hash=hash_password(password), role=role, team_id=t.id)
    s.add(user)
    s.flush()
    return user


def authenticate(s: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else None (the same work either way)."""
    user = s.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)
        return None
    return user if verify_password(user.password_hash, password) else None


def open_session(s: Session, user: User) -> tuple[str, str]:
    """A new browser session for ``user``: (session token, CSRF token)."""
    token, csrf = new_token(), new_token()
    s.add(
        BrowserSession(
            token_sha256=token_digest(token),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=datetime.now(UTC) + timedelta(hours=SESSION_HOURS),
        )
    )
    return token, csrf


def issue_token(s: Session, user_id: int, name: str) -> tuple[ApiToken, str]:
    """A new bearer token for a user: (its row, the token, shown once)."""
    token = new_token()
    row = ApiToken(token_sha256=token_digest(token), user_id=user_id, name=name)
    s.add(row)
    s.flush()
    return row, token


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def principal_of(request: Request, s: Session) -> Principal | None:
    """The principal a request authenticates as (None when it does not), checking the CSRF
    token of a cookie-authenticated request that changes something (403 when wrong)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        tok = s.scalar(
            select(ApiToken).where(ApiToken.token_sha256 == token_digest(header[7:].strip()))
        )
        if tok is None or tok.revoked:
            return None
        user = s.get(User, tok.user_id)
        via = "token"
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        sess = s.get(BrowserSession, token_digest(cookie))
        if sess is None or _aware(sess.expires_at) < datetime.now(UTC):
            return None
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), sess.csrf_token.encode()):
                raise HTTPException(403, "missing or wrong CSRF token (X-CSRF-Token header)")
        user = s.get(User, sess.user_id)
        via = "session"
    if user is None or not user.active:
        return None
    return Principal(user.id, user.username, user.role, user.team_id, via)


def db_session(request: Request) -> Iterator[Session]:
    """A database session for the request, committed when the endpoint returns."""
    store = request.app.state.workstation.store
    with store.sessions() as s:
        yield s
        s.commit()


def current_principal(
    request: Request, s: Session = Depends(db_session, scope="function")
) -> Principal:
    """The authenticated principal, or 401."""
    p = principal_of(request, s)
    if p is None:
        raise HTTPException(
            401,
            "not signed in: log in, or send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = p
    return p


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency that lets in only principals whose role grants ``permission`` (else 403)."""

    def check(p: Principal = Depends(current_principal)) -> Principal:
        if not p.can(permission):
            raise HTTPException(403, f"the {p.role} role may not do this ({permission})")
        return p

    return check
