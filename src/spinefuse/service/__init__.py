"""The surgeon's planning workstation: a web service (FastAPI), a case store (SQLAlchemy,
Alembic; SQLite or PostgreSQL) and a browser UI, built on :func:`spinefuse.pipeline.run`.

Start it with ``spinefuse serve``; :func:`spinefuse.service.app.create_app` makes the app.
"""

from __future__ import annotations

from spinefuse.errors import MissingDependencyError

__all__ = ["extra_missing"]


def extra_missing() -> None:
    """Raise a MissingDependencyError naming the extra when the service's packages are absent."""
    import importlib.util

    missing = [
        m
        for m in ("fastapi", "uvicorn", "sqlalchemy", "alembic", "argon2", "multipart")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise MissingDependencyError(
            f"the workstation needs {', '.join(missing)}: pip install 'spinefuse[service]'"
        )
