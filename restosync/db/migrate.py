"""Schema migrations: the yoyo migrations of `sql/`, shipped in the package as `restosync.sql`."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from yoyo import get_backend, read_migrations

logger = logging.getLogger(__name__)


def migrations_dir() -> Path:
    """The folder holding the numbered `.sql` migrations (the checkout's, else the wheel's)."""
    checkout = Path(__file__).resolve().parents[2] / "sql"
    if (checkout / "0001.procrastinate-3.10.0.sql").is_file():
        return checkout
    # Installed, `sql/` ships inside the package (see [tool.setuptools.package-dir]).
    return Path(str(resources.files("restosync").joinpath("sql")))


def yoyo_url(database_url: str) -> str:
    """yoyo's spelling of a libpq URL (it picks the driver from the scheme)."""
    _, _, rest = database_url.partition("://")
    return f"postgresql+psycopg://{rest}"


def pending_migrations(database_url: str) -> list[str]:
    """Ids of the migrations not applied yet."""
    backend = get_backend(yoyo_url(database_url))
    try:
        return [m.id for m in backend.to_apply(read_migrations(str(migrations_dir())))]
    finally:
        backend.connection.close()


def apply_migrations(database_url: str) -> list[str]:
    """Apply every pending migration under yoyo's lock; return the ids applied (idempotent)."""
    backend = get_backend(yoyo_url(database_url))
    try:
        migrations = read_migrations(str(migrations_dir()))
        with backend.lock():
            to_apply = backend.to_apply(migrations)
            backend.apply_migrations(to_apply)
    finally:
        backend.connection.close()
    applied = [m.id for m in to_apply]
    for migration_id in applied:
        logger.info("applied migration %s", migration_id)
    return applied
