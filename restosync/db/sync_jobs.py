"""Repository of sync_jobs: the business record of each push to an agent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from restosync.db.pool import Connection
from restosync.db.queries import QUERIES


@dataclass(frozen=True)
class PushTarget:
    """A sync job, its vendor's agent and the database clock, as the push needs them."""

    id: UUID
    vendor_id: str
    status: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    created_at: datetime
    procrastinate_job_id: int | None
    correlation_id: str | None
    error_message: str | None
    agent_url: str | None
    outbound_secret: str | None
    agent_health: str
    db_now: datetime


@dataclass(frozen=True)
class CallbackTarget:
    """A sync job as a callback sees it (row locked)."""

    id: UUID
    vendor_id: str
    status: str
    erp_reference: str | None


@dataclass(frozen=True)
class SweepResult:
    """What the callback-timeout sweep did to one sync job."""

    sync_job_id: UUID
    vendor_id: str
    outcome: str
    procrastinate_job_id: int | None


async def insert(conn: Connection, **values: Any) -> None:
    """Insert the sync job of a new order."""
    await conn.execute(QUERIES["insert_sync_job"], {**values, "payload": Jsonb(values["payload"])})


async def push_target(
    conn: Connection, sync_job_id: UUID, *, degraded_seconds: float, offline_seconds: float
) -> PushTarget | None:
    """The sync job with its agent's URL, secret and live health."""
    cur = await conn.execute(
        QUERIES["push_target"],
        {
            "id": sync_job_id,
            "degraded_seconds": degraded_seconds,
            "offline_seconds": offline_seconds,
        },
    )
    row = await cur.fetchone()
    return PushTarget(**row) if row else None


async def start_attempt(conn: Connection, sync_job_id: UUID) -> int | None:
    """Count an attempt; its number, or None when the job is no longer pushable."""
    cur = await conn.execute(QUERIES["start_push_attempt"], {"id": sync_job_id})
    row = await cur.fetchone()
    return int(row["attempts"]) if row else None


async def complete(
    conn: Connection, sync_job_id: UUID, *, erp_reference: str, erp_status: str | None
) -> bool:
    """Job completed and order synced; False when the job was not live."""
    cur = await conn.execute(
        QUERIES["complete_sync_job"],
        {"id": sync_job_id, "erp_reference": erp_reference, "erp_status": erp_status},
    )
    return await cur.fetchone() is not None


async def await_callback(
    conn: Connection, sync_job_id: UUID, *, callback_timeout_seconds: float
) -> datetime | None:
    """Wait for the agent's callback; the deadline, or None when the job moved on meanwhile."""
    cur = await conn.execute(
        QUERIES["await_callback"],
        {"id": sync_job_id, "callback_timeout_seconds": callback_timeout_seconds},
    )
    row = await cur.fetchone()
    return row["next_retry_at"] if row else None


async def schedule_retry(
    conn: Connection,
    sync_job_id: UUID,
    *,
    delay_seconds: float,
    error_message: str,
    error_stack: str | None,
) -> datetime | None:
    """Back to pending after a transient failure; when the retry is due (None: job moved on)."""
    cur = await conn.execute(
        QUERIES["schedule_push_retry"],
        {
            "id": sync_job_id,
            "delay_seconds": delay_seconds,
            "error_message": error_message,
            "error_stack": error_stack,
        },
    )
    row = await cur.fetchone()
    return row["next_retry_at"] if row else None


async def postpone(
    conn: Connection,
    sync_job_id: UUID,
    *,
    delay_seconds: float,
    max_age_seconds: float,
    error_message: str,
) -> datetime | None:
    """Wait without an attempt (never past the maximum age); when to look again."""
    cur = await conn.execute(
        QUERIES["postpone_push"],
        {
            "id": sync_job_id,
            "delay_seconds": delay_seconds,
            "max_age_seconds": max_age_seconds,
            "error_message": error_message,
        },
    )
    row = await cur.fetchone()
    return row["next_retry_at"] if row else None


async def fail(
    conn: Connection, sync_job_id: UUID, *, error_message: str, error_stack: str | None
) -> bool:
    """Record a permanent failure; False when the job was not live."""
    cur = await conn.execute(
        QUERIES["fail_sync_job"],
        {"id": sync_job_id, "error_message": error_message, "error_stack": error_stack},
    )
    return await cur.fetchone() is not None


async def dead_letter(
    conn: Connection,
    sync_job_id: UUID,
    *,
    task_name: str,
    queue: str,
    reason: str,
    stack: str | None,
) -> UUID | None:
    """Dead-letter a live sync job now; the DLQ entry's id, or None when nothing was done."""
    cur = await conn.execute(
        QUERIES["dead_letter_sync_job"],
        {
            "id": sync_job_id,
            "task_name": task_name,
            "queue": queue,
            "reason": reason,
            "stack": stack,
        },
    )
    row = await cur.fetchone()
    return row["entry_id"] if row else None


async def owner(conn: Connection, sync_job_id: UUID) -> str | None:
    """The vendor of a sync job, if it exists."""
    cur = await conn.execute(QUERIES["sync_job_owner"], {"id": sync_job_id})
    row = await cur.fetchone()
    return str(row["vendor_id"]) if row else None


async def lock_for_callback(conn: Connection, sync_job_id: UUID) -> CallbackTarget | None:
    """The sync job, locked until the end of the transaction."""
    cur = await conn.execute(QUERIES["callback_target"], {"id": sync_job_id})
    row = await cur.fetchone()
    return CallbackTarget(**row) if row else None


async def requeue_callback_timeouts(
    conn: Connection, *, task_name: str, queue: str
) -> list[SweepResult]:
    """Run the callback-timeout sweep; what it did per sync job."""
    cur = await conn.execute(
        QUERIES["requeue_callback_timeouts"], {"task_name": task_name, "queue": queue}
    )
    return [SweepResult(**row) for row in await cur.fetchall()]
