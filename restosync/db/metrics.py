"""Read-only queries behind `GET /metrics`: the state every process shares, from PostgreSQL."""

from __future__ import annotations

from typing import Any

from psycopg.rows import DictRow

from restosync.db.agents import HealthThresholds
from restosync.db.pool import Connection
from restosync.db.queries import QUERIES


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
        "drift": await _rows(conn, "drift_events_by_entity"),
    }
