"""Retention and the open-DLQ count: the SQL functions of sql/0013, one call each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from restosync.db.pool import Connection
from restosync.db.queries import QUERIES


@dataclass(frozen=True)
class SyncJobCleanup:
    """What one sync_jobs cleanup deleted."""

    sync_jobs: int
    queue_jobs: int


@dataclass(frozen=True)
class OpenDeadLetters:
    """Unresolved dead letters of one vendor."""

    vendor_id: str
    open_entries: int
    oldest_created_at: datetime


async def _deleted(conn: Connection, query: LiteralString, params: dict[str, Any]) -> int:
    cur = await conn.execute(query, params)
    row = await cur.fetchone()
    assert row is not None
    return int(row["deleted"])


async def cleanup_sync_jobs(
    conn: Connection, *, completed_seconds: float, failed_seconds: float
) -> SyncJobCleanup:
    """Delete expired sync jobs (never live or dead-lettered ones) and their finished queue jobs."""
    cur = await conn.execute(
        QUERIES["cleanup_sync_jobs"],
        {"completed_seconds": completed_seconds, "failed_seconds": failed_seconds},
    )
    row = await cur.fetchone()
    assert row is not None
    return SyncJobCleanup(int(row["sync_jobs_deleted"]), int(row["queue_jobs_deleted"]))


async def prune_finished_queue_jobs(
    conn: Connection, *, older_than_seconds: float, queues: Sequence[str]
) -> int:
    """Delete finished procrastinate jobs of `queues` idle for longer than the retention."""
    params = {"older_than_seconds": older_than_seconds, "queues": list(queues)}
    return await _deleted(conn, QUERIES["prune_finished_queue_jobs"], params)


async def cleanup_reconciliation_events(conn: Connection, *, older_than_seconds: float) -> int:
    """Delete reconciliation events older than the retention."""
    params = {"older_than_seconds": older_than_seconds}
    return await _deleted(conn, QUERIES["cleanup_reconciliation_events"], params)


async def cleanup_resolved_dlq(conn: Connection, *, older_than_seconds: float) -> int:
    """Delete dead letters resolved longer ago than the retention (open ones never)."""
    params = {"older_than_seconds": older_than_seconds}
    return await _deleted(conn, QUERIES["cleanup_resolved_dlq"], params)


async def open_dead_letters(conn: Connection) -> list[OpenDeadLetters]:
    """Unresolved dead letters per vendor."""
    cur = await conn.execute(QUERIES["open_dead_letters"])
    return [OpenDeadLetters(**row) for row in await cur.fetchall()]
