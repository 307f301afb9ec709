"""Read-only queries behind the readiness probe."""

from __future__ import annotations

from restosync.db.pool import Connection
from restosync.db.queries import QUERIES
from restosync.models.health import AgentCounts, QueueDepth, WorkerSeen


async def ping(conn: Connection) -> None:
    """Round-trip to the database."""
    await conn.execute(QUERIES["ping"])


async def queue_depths(conn: Connection) -> list[QueueDepth]:
    """Live jobs per queue and status."""
    cur = await conn.execute(QUERIES["queue_depth_by_queue_and_status"])
    return [QueueDepth.model_validate(row) for row in await cur.fetchall()]


async def workers_seen(conn: Connection) -> list[WorkerSeen]:
    """Registered workers with the age of their last heartbeat."""
    cur = await conn.execute(QUERIES["workers_seen"])
    return [WorkerSeen.model_validate(row) for row in await cur.fetchall()]


async def agent_counts(
    conn: Connection, *, degraded_seconds: float, offline_seconds: float
) -> AgentCounts:
    """Agents by derived health."""
    cur = await conn.execute(
        QUERIES["agent_counts_by_health"],
        {"degraded_seconds": degraded_seconds, "offline_seconds": offline_seconds},
    )
    row = await cur.fetchone()
    assert row is not None
    return AgentCounts.model_validate(row)
