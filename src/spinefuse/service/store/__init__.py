"""The case store: SQLAlchemy tables, Alembic migrations and the files under the store."""

from spinefuse.service.store.database import Store, default_store_url, open_store

__all__ = ["Store", "default_store_url", "open_store"]
