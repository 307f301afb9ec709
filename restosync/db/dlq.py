"""Repository of the admin views of sync_jobs and dead_letter_queue, and DLQ actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from restosync.db.paging import fetch_page
from restosync.db.pool import Connection
from restosync.db.queries import QUERIES
from restosync.models.dlq import DlqEntry, DlqRetried, SyncJobView
from restosync.models.pagination import PageQuery

_ONE = PageQuery(page=1, limit=1)


async def sync_jobs(
    conn: Connection, page: PageQuery, *, job_id: UUID | None = None, **filters: Any
) -> tuple[list[SyncJobView], int]:
    """One page of sync jobs, newest first, and how many match in all."""
    params = {"id": job_id, "vendor_id": None, "status": None, "operation": None, **filters}
    rows, total = await fetch_page(conn, QUERIES["sync_job_views"], params, page)
    return [SyncJobView.model_validate(row) for row in rows], total


async def sync_job(conn: Connection, job_id: UUID) -> SyncJobView | None:
    """One sync job."""
    rows, _ = await sync_jobs(conn, _ONE, job_id=job_id)
    return rows[0] if rows else None


async def entries(
    conn: Connection, page: PageQuery, *, entry_id: UUID | None = None, **filters: Any
) -> tuple[list[DlqEntry], int]:
    """One page of dead letters, oldest first, and how many match in all."""
    params = {"id": entry_id, "resolved": None, "vendor_id": None, "operation": None, **filters}
    rows, total = await fetch_page(conn, QUERIES["dlq_entries"], params, page)
    return [DlqEntry.model_validate(row) for row in rows], total


async def entry(conn: Connection, entry_id: UUID) -> DlqEntry | None:
    """One dead letter."""
    rows, _ = await entries(conn, _ONE, entry_id=entry_id)
    return rows[0] if rows else None


async def resolve(conn: Connection, entry_id: UUID, *, actor: str) -> bool:
    """Close an open entry; False when it is not open (or does not exist)."""
    cur = await conn.execute(QUERIES["resolve_dlq_entry"], {"id": entry_id, "actor": actor})
    return await cur.fetchone() is not None


async def retry(
    conn: Connection,
    *,
    actor: str,
    max_attempts: int,
    correlation_id: str | None,
    entry_id: UUID | None = None,
    vendor_id: str | None = None,
    operation: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[DlqRetried]:
    """Re-enqueue open entries (one, or all matching) in this transaction; what was retried."""
    cur = await conn.execute(
        QUERIES["retry_dead_letters"],
        {
            "actor": actor,
            "max_attempts": max_attempts,
            "correlation_id": correlation_id,
            "entry_id": entry_id,
            "vendor_id": vendor_id,
            "operation": operation,
            "since": since,
            "until": until,
        },
    )
    return [DlqRetried.model_validate(row) for row in await cur.fetchall()]
