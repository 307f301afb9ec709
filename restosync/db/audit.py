"""Repository of audit_log."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from restosync.db.paging import fetch_page
from restosync.db.pool import Connection
from restosync.db.queries import QUERIES
from restosync.models.audit import AuditEntry, AuditFilter
from restosync.models.pagination import PageQuery


async def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target_type: str | None,
    target_id: str | None,
    details: dict[str, Any],
    correlation_id: str | None,
) -> int:
    """Append one entry; returns its id."""
    cur = await conn.execute(
        QUERIES["insert_audit_entry"],
        {
            "actor": actor,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "details": Jsonb(details),
            "correlation_id": correlation_id,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def entries(
    conn: Connection, filters: AuditFilter, page: PageQuery
) -> tuple[list[AuditEntry], int]:
    """One page of the log, newest first, and how many entries match in all."""
    params = filters.model_dump(by_alias=False)
    rows, total = await fetch_page(conn, QUERIES["audit_entries"], params, page)
    return [AuditEntry.model_validate(row) for row in rows], total
