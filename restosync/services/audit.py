"""Who did what: the admin actor and the audit log."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from restosync.db import audit as audit_db
from restosync.db.pool import Connection, Pool, connection
from restosync.models.audit import AuditEntry, AuditFilter
from restosync.models.pagination import Page, PageMeta, PageQuery


def key_fingerprint(key: str) -> str:
    """A stable, non-reversible name for an API key: `key:` + 16 hex of its SHA-256."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Actor:
    """The authenticated admin client behind a mutation."""

    fingerprint: str
    correlation_id: str | None


async def record(
    conn: Connection,
    actor: Actor,
    action: str,
    *,
    target_type: str | None,
    target_id: str | None,
    details: dict[str, Any],
) -> None:
    """Audit an admin mutation inside its transaction (`conn`): it commits with the change."""
    await audit_db.record(
        conn,
        actor=actor.fingerprint,
        correlation_id=actor.correlation_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
    )


async def list_entries(pool: Pool, filters: AuditFilter, page: PageQuery) -> Page[AuditEntry]:
    """The audit log, newest first."""
    async with connection(pool) as conn:
        entries, total = await audit_db.entries(conn, filters, page)
    return Page[AuditEntry](data=entries, meta=PageMeta.of(page, total))
