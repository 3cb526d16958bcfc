"""Opening the store: an SQLite file by default, PostgreSQL by URL, migrated by Alembic.

``open_store(url)`` creates the engine, brings the schema to the newest Alembic revision and
returns a :class:`Store` with its session factory and the folder its files live in (beside an
SQLite file; ``~/.spinefuse/files`` or ``files_dir`` for a server database).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from spinefuse.errors import SpinefuseError

HOME = Path("~/.spinefuse").expanduser()


class StoreError(SpinefuseError, ValueError):
    """The store cannot be opened (names the URL without its password, and what to do)."""


def default_store_url() -> str:
    """``sqlite:///~/.spinefuse/store.db`` with the home folder expanded."""
    return f"sqlite:///{HOME / 'store.db'}"


@dataclass
class Store:
    """An open store: the engine, its session factory and the folder of its files."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    files_dir: Path

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed at the end of the block (rolled back on an exception)."""
        with self.sessions() as s, s.begin():
            yield s

    @property
    def runs_dir(self) -> Path:
        """Where run folders are written."""
        return self.files_dir / "runs"

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden (for logs and messages)."""
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")  # a committed row survives a killed server
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def open_store(url: str | None = None, files_dir: Path | None = None) -> Store:
    """Open (and migrate) the store at ``url``: ``sqlite:///path`` or
    ``postgresql+psycopg://user:pass@host/db``; the default is an SQLite file in
    ``~/.spinefuse``."""
    url = url or default_store_url()
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"--store {url!r}: not a database URL; use sqlite:///path/store.db or "
            "postgresql+psycopg://user:password@host/database"
        ) from None
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StoreError("--store: give an SQLite file (sqlite:///path/store.db), not memory")
        db = Path(parsed.database).expanduser()
        db.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(db))
        files = files_dir or db.parent / "files"
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
    elif backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise StoreError(
                f"--store {parsed.render_as_string()}: use the psycopg driver "
                "(postgresql+psycopg://…)"
            )
        files = files_dir or HOME / "files"
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = 10
    else:
        raise StoreError(
            f"--store {parsed.render_as_string()}: {backend} is not supported; use sqlite:/// "
            "or postgresql+psycopg://"
        )
    engine = create_engine(parsed, **kwargs)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    store = Store(
        url=parsed.render_as_string(hide_password=False),
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        files_dir=Path(files),
    )
    store.files_dir.mkdir(parents=True, exist_ok=True)
    try:
        from spinefuse.service.store.migrate import upgrade

        upgrade(engine)
    except Exception as err:  # any driver error: say where and what
        engine.dispose()
        raise StoreError(f"store {store.safe_url}: cannot be opened or migrated ({err})") from err
    return store
