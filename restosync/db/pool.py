"""The psycopg connection pool (orjson for jsonb) and database-error translation."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import procrastinate
import psycopg
import psycopg_pool
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import set_json_dumps, set_json_loads

from restosync.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)

Pool = psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[DictRow]]
Connection = psycopg.AsyncConnection[DictRow]

# How long a request waits for a connection before answering 503.
CONNECTION_WAIT_SECONDS = 5.0


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    set_json_dumps(orjson.dumps, conn)
    set_json_loads(orjson.loads, conn)


def create_pool(conninfo: str, *, max_size: int, name: str, min_size: int = 1) -> Pool:
    """A pool that checks connections before lending them, so it survives a restart."""
    return psycopg_pool.AsyncConnectionPool(
        conninfo,
        min_size=min(min_size, max_size),
        max_size=max_size,
        name=name,
        open=False,
        timeout=CONNECTION_WAIT_SECONDS,
        configure=_configure,
        check=psycopg_pool.AsyncConnectionPool.check_connection,
        kwargs={"row_factory": dict_row, "connect_timeout": 5},
        connection_class=psycopg.AsyncConnection[DictRow],
    )


async def open_pool(pool: Pool) -> None:
    """Open the pool without waiting for the database (it may come up later)."""
    await pool.open(wait=False)


@asynccontextmanager
async def connection(pool: Pool, *, wait: float | None = None) -> AsyncIterator[Connection]:
    """A pooled connection (transaction committed on exit); database outages become 503s."""
    try:
        async with pool.connection(timeout=wait) as conn:
            yield conn
    except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as exc:
        logger.warning("database unavailable: %s", type(exc).__name__)
        raise DatabaseUnavailable() from exc
    except procrastinate.exceptions.ConnectorException as exc:
        # A job deferred on this connection (configure_task(..., connection=conn)):
        # procrastinate wraps the lost connection in its own exception.
        if not isinstance(exc.__cause__, psycopg.OperationalError):
            raise
        logger.warning("database unavailable: %s", type(exc.__cause__).__name__)
        raise DatabaseUnavailable() from exc


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Connection]:
    """A connection inside one transaction: commits on success, rolls back on error."""
    async with connection(pool) as conn, conn.transaction():
        yield conn
