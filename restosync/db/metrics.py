"""Read-only metrics queries: `GET /metrics` (state every process shares) and the admin ones."""

from __future__ import annotations

from typing import Any

from psycopg.rows import DictRow

from restosync.db.agents import HealthThresholds
from restosync.db.pool import Connection
from restosync.db.queries import QUERIES
from restosync.models.metrics import LastReconciliation


async def _rows(conn: Connection, name: str, params: dict[str, Any] | None = None) -> list[DictRow]:
    cur = await conn.execute(QUERIES[name], params)
    return await cur.fetchall()


async def snapshot(conn: Connection, thresholds: HealthThresholds) -> dict[str, list[DictRow]]:
    """Every shared series, as rows keyed by query name."""
    return {
        "ingest": await _rows(conn, "ingest_rows_by_entity_and_status"),
        "jobs": await _rows(conn, "sync_jobs_by_operation_and_status"),
        "dead_letters": await _rows(conn, "open_dead_letters_by_vendor"),
        "breakers": await _rows(conn, "breaker_states"),
        "agents": await _rows(
            conn,
            "agents_by_live_health",
            {
                "degraded_seconds": thresholds.degraded_seconds,
                "offline_seconds": thresholds.offline_seconds,
            },
        ),
        "drift": await _rows(conn, "drift_events_by_vendor_and_entity"),
    }


# --- Admin metrics of one vendor (issue 6) -------------------------------------------


async def vendor_sync_job_counts(conn: Connection, vendor_id: str, window_hours: int) -> DictRow:
    """The vendor's sync jobs created in the window: counts by status, retried, latencies."""
    params = {"vendor_id": vendor_id, "window_hours": window_hours}
    row = await (await conn.execute(QUERIES["vendor_sync_job_metrics"], params)).fetchone()
    assert row is not None
    return row


async def vendor_reconciliation_counts(
    conn: Connection, vendor_id: str, window_hours: int
) -> DictRow:
    """The vendor's reconciliation events in the window, counted by meaning."""
    params = {"vendor_id": vendor_id, "window_hours": window_hours}
    row = await (await conn.execute(QUERIES["vendor_reconciliation_metrics"], params)).fetchone()
    assert row is not None
    return row


async def last_reconciliation_event(conn: Connection, vendor_id: str) -> LastReconciliation | None:
    """The vendor's newest reconciliation event, if any is kept."""
    cur = await conn.execute(QUERIES["vendor_last_reconciliation_event"], {"vendor_id": vendor_id})
    row = await cur.fetchone()
    return None if row is None else LastReconciliation.model_validate(row)
