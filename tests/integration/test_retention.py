"""Retention (SPEC §6): each cleanup deletes exactly what it should, and nothing live."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from restosync.db.pool import Pool
from restosync.services import maintenance
from restosync.services.alerts import Alerter
from restosync.settings import Settings

Conn = psycopg.AsyncConnection[DictRow]
FINISHED = ("succeeded", "failed", "cancelled", "aborted")


async def _one(db: Conn, sql: str, params: dict[str, Any] | list[Any] | None = None) -> Any:
    row = await (await db.execute(sql, params)).fetchone()
    assert row is not None
    return row


async def _queue_job(
    db: Conn,
    *,
    status: str,
    queue: str = "order-sync",
    task: str = "orders:push_order",
    sync_job_id: UUID | None = None,
    idle_hours: float = 0,
) -> int:
    """A procrastinate job whose events (all of them) are `idle_hours` old."""
    args = {"sync_job_id": str(sync_job_id)} if sync_job_id else {}
    row = await _one(
        db,
        "INSERT INTO procrastinate_jobs (queue_name, task_name, status, args) "
        "VALUES (%(queue)s, %(task)s, %(status)s, %(args)s::jsonb) RETURNING id",
        {"queue": queue, "task": task, "status": status, "args": psycopg.types.json.Jsonb(args)},
    )
    # procrastinate records 'deferred' only for jobs inserted as todo; real jobs get there
    # through todo, so every job has at least that event.
    await db.execute(
        "INSERT INTO procrastinate_events (job_id, type) SELECT %(id)s, 'deferred' "
        "WHERE NOT EXISTS (SELECT 1 FROM procrastinate_events WHERE job_id = %(id)s)",
        {"id": row["id"]},
    )
    await db.execute(
        "UPDATE procrastinate_events SET at = now() - make_interval(secs => %s) WHERE job_id = %s",
        [idle_hours * 3600, row["id"]],
    )
    return int(row["id"])


async def _sync_job(
    db: Conn,
    status: str,
    *,
    created_hours: float,
    completed_hours: float | None = None,
    queue_job_id: int | None = None,
    expires_in_hours: float | None = None,
) -> UUID:
    row = await _one(
        db,
        """
        INSERT INTO sync_jobs (vendor_id, operation, status, payload, max_attempts,
                               procrastinate_job_id, created_at, completed_at, expires_at)
        VALUES ('vendor-r', 'create_order', %(status)s, '{}', 5, %(queue_job_id)s,
                now() - make_interval(secs => %(created)s),
                now() - make_interval(secs => %(completed)s),
                now() + make_interval(secs => %(expires)s))
        RETURNING id
        """,
        {
            "status": status,
            "queue_job_id": queue_job_id,
            "created": created_hours * 3600,
            "completed": None if completed_hours is None else completed_hours * 3600,
            "expires": None if expires_in_hours is None else expires_in_hours * 3600,
        },
    )
    return UUID(str(row["id"]))


async def _dead_letter(
    db: Conn,
    *,
    original: UUID | None = None,
    retry: UUID | None = None,
    vendor_id: str = "vendor-r",
    resolved_days: float | None = None,
    created_days: float = 0,
) -> UUID:
    resolved = resolved_days is not None
    row = await _one(
        db,
        """
        INSERT INTO dead_letter_queue (original_job_id, retry_job_id, task_name, queue,
                                       vendor_id, operation, payload, failure_reason, resolved,
                                       resolved_at, resolution, created_at)
        VALUES (%(original)s, %(retry)s, 'orders:push_order', 'order-sync', %(vendor_id)s,
                'create_order', '{}', 'agent said no', %(resolved)s,
                now() - make_interval(days => %(resolved_days)s),
                CASE WHEN %(resolved)s THEN 'resolved' END,
                now() - make_interval(days => %(created_days)s))
        RETURNING id
        """,
        {
            "original": original,
            "retry": retry,
            "vendor_id": vendor_id,
            "resolved": resolved,
            "resolved_days": resolved_days,
            "created_days": int(created_days),
        },
    )
    return UUID(str(row["id"]))


async def _ids(db: Conn, sql: str) -> set[Any]:
    return {row["id"] for row in await (await db.execute(sql)).fetchall()}


async def test_sync_job_cleanup_deletes_expired_jobs_and_their_queue_jobs_only(db: Conn) -> None:
    jobs: dict[str, UUID] = {}
    queue_jobs: dict[str, int] = {}
    # Expired: completed > 24 h ago, failed > 7 days ago, pending > 7 days with no live job.
    jobs["completed_old"] = await _sync_job(db, "completed", created_hours=26, completed_hours=25)
    jobs["failed_old"] = await _sync_job(db, "failed", created_hours=200, completed_hours=170)
    jobs["dead_old"] = await _sync_job(db, "dead", created_hours=200, completed_hours=170)
    jobs["pending_orphan"] = await _sync_job(db, "pending", created_hours=170)
    for name, status in (
        ("completed_old", "succeeded"),
        ("failed_old", "failed"),
        ("pending_orphan", "failed"),
    ):
        queue_jobs[name] = await _queue_job(db, status=status, sync_job_id=jobs[name])
    # A push of completed_old before a callback timeout requeued it: goes with it too.
    queue_jobs["completed_old_first_push"] = await _queue_job(
        db, status="succeeded", sync_job_id=jobs["completed_old"]
    )
    # Kept: too recent.
    jobs["completed_recent"] = await _sync_job(
        db, "completed", created_hours=24, completed_hours=23
    )
    jobs["failed_recent"] = await _sync_job(db, "failed", created_hours=170, completed_hours=150)
    jobs["pending_recent"] = await _sync_job(db, "pending", created_hours=150)
    queue_jobs["completed_recent"] = await _queue_job(
        db, status="succeeded", sync_job_id=jobs["completed_recent"]
    )
    # Kept: live, however old.
    todo = await _queue_job(db, status="todo")
    jobs["pending_live"] = await _sync_job(db, "pending", created_hours=500, queue_job_id=todo)
    jobs["pending_live_by_args"] = await _sync_job(db, "pending", created_hours=500)
    await _queue_job(db, status="doing", sync_job_id=jobs["pending_live_by_args"])
    jobs["processing"] = await _sync_job(db, "processing", created_hours=500)
    jobs["awaiting_callback"] = await _sync_job(db, "awaiting_callback", created_hours=500)
    # Kept: a dead letter points to them, open or resolved, as original or as retry.
    jobs["dead_in_dlq"] = await _sync_job(db, "dead", created_hours=500, completed_hours=400)
    await _dead_letter(db, original=jobs["dead_in_dlq"])
    jobs["retried_original"] = await _sync_job(db, "dead", created_hours=500, completed_hours=400)
    jobs["retry"] = await _sync_job(db, "completed", created_hours=300, completed_hours=300)
    await _dead_letter(db, original=jobs["retried_original"], retry=jobs["retry"], resolved_days=1)
    # Kept: held by expires_at.
    jobs["held"] = await _sync_job(
        db, "completed", created_hours=48, completed_hours=48, expires_in_hours=1
    )
    other_queue = await _queue_job(db, status="succeeded", queue="maintenance", task="x:y")

    row = await _one(db, "SELECT * FROM restosync_cleanup_sync_jobs()")

    expired = {"completed_old", "failed_old", "dead_old", "pending_orphan"}
    assert dict(row) == {"sync_jobs_deleted": len(expired), "queue_jobs_deleted": 4}
    remaining = await _ids(db, "SELECT id FROM sync_jobs")
    assert remaining == {job for name, job in jobs.items() if name not in expired}
    remaining_queue = await _ids(db, "SELECT id FROM procrastinate_jobs")
    gone = {queue_jobs[name] for name in queue_jobs if name != "completed_recent"}
    assert gone.isdisjoint(remaining_queue)
    assert {queue_jobs["completed_recent"], todo, other_queue} <= remaining_queue
    orphan_events = await _one(
        db,
        "SELECT count(*) AS n FROM procrastinate_events WHERE NOT job_id = ANY(%s)",
        [list(remaining_queue)],
    )
    assert orphan_events["n"] == 0
    # Running it again finds nothing more to do.
    again = await _one(db, "SELECT * FROM restosync_cleanup_sync_jobs()")
    assert dict(again) == {"sync_jobs_deleted": 0, "queue_jobs_deleted": 0}


async def test_sync_job_cleanup_uses_the_retention_settings(
    pool: Pool, make_settings: Any, db: Conn
) -> None:
    kept = await _sync_job(db, "completed", created_hours=3, completed_hours=2)
    gone = await _sync_job(db, "completed", created_hours=5, completed_hours=4)
    failed = await _sync_job(db, "failed", created_hours=10, completed_hours=9)
    stale_tick = await _queue_job(
        db, status="succeeded", queue="maintenance", task="maintenance:dlq_alert", idle_hours=5
    )
    fresh_tick = await _queue_job(
        db, status="succeeded", queue="maintenance", task="maintenance:dlq_alert", idle_hours=1
    )
    settings: Settings = make_settings(
        SYNC_JOB_RETENTION_COMPLETED_SECONDS=3 * 3600,
        SYNC_JOB_RETENTION_FAILED_SECONDS=8 * 3600,
        QUEUE_JOB_RETENTION_SECONDS=2 * 3600,
    )

    cleanup = await maintenance.cleanup_sync_jobs(pool, settings)

    assert (cleanup.sync_jobs, cleanup.queue_jobs) == (2, 1)
    assert await _ids(db, "SELECT id FROM sync_jobs") == {kept}
    remaining = await _ids(db, "SELECT id FROM procrastinate_jobs")
    assert fresh_tick in remaining
    assert stale_tick not in remaining
    assert {gone, failed}.isdisjoint(await _ids(db, "SELECT id FROM sync_jobs"))


async def test_finished_queue_jobs_are_pruned_by_queue_and_age(db: Conn) -> None:
    old_maintenance = {
        status: await _queue_job(
            db, status=status, queue="maintenance", task="maintenance:x", idle_hours=25
        )
        for status in FINISHED
    }
    old_reconciliation = await _queue_job(
        db, status="failed", queue="reconciliation", task="r:x", idle_hours=25
    )
    recent = await _queue_job(
        db, status="succeeded", queue="maintenance", task="maintenance:x", idle_hours=23
    )
    old_todo = await _queue_job(
        db, status="todo", queue="maintenance", task="maintenance:y", idle_hours=48
    )
    old_doing = await _queue_job(
        db, status="doing", queue="maintenance", task="maintenance:z", idle_hours=48
    )
    old_push = await _queue_job(db, status="succeeded", idle_hours=48)
    # The periodic deferral that created a pruned job keeps its row, unlinked.
    await db.execute(
        "INSERT INTO procrastinate_periodic_defers (task_name, defer_timestamp, job_id, "
        "periodic_id) VALUES ('maintenance:x', 1, %s, 'x')",
        [old_maintenance["succeeded"]],
    )

    row = await _one(db, "SELECT restosync_prune_finished_queue_jobs() AS n")

    assert row["n"] == len(old_maintenance) + 1
    remaining = await _ids(db, "SELECT id FROM procrastinate_jobs")
    assert remaining == {recent, old_todo, old_doing, old_push}
    assert old_reconciliation not in remaining
    defer = await _one(db, "SELECT job_id FROM procrastinate_periodic_defers")
    assert defer["job_id"] is None


async def test_reconciliation_events_are_kept_30_days(
    pool: Pool, settings: Settings, db: Conn
) -> None:
    for days in (31, 30.1, 29, 0):
        await db.execute(
            "INSERT INTO reconciliation_events (vendor_id, event_type, timestamp) "
            "VALUES ('vendor-r', 'full_checksum', now() - make_interval(secs => %s))",
            [days * 86400],
        )

    assert await maintenance.cleanup_reconciliation_events(pool, settings) == 2

    row = await _one(
        db, "SELECT count(*) AS n, min(now() - timestamp) < interval '30 days' AS ok "
        "FROM reconciliation_events"
    )  # fmt: skip
    assert (row["n"], row["ok"]) == (2, True)
    by_hand = await _one(
        db, "SELECT restosync_cleanup_reconciliation_events(interval '1 day') AS n"
    )
    assert by_hand["n"] == 1


async def test_resolved_dead_letters_go_after_30_days_open_ones_never(
    pool: Pool, settings: Settings, db: Conn
) -> None:
    old_original = await _sync_job(db, "dead", created_hours=2000, completed_hours=2000)
    old_resolved = await _dead_letter(db, original=old_original, resolved_days=31, created_days=40)
    recent_resolved = await _dead_letter(db, resolved_days=29, created_days=40)
    ancient_open = await _dead_letter(db, created_days=400)

    assert await maintenance.cleanup_resolved_dlq(pool, settings) == 1

    assert await _ids(db, "SELECT id FROM dead_letter_queue") == {recent_resolved, ancient_open}
    assert old_resolved not in await _ids(db, "SELECT id FROM dead_letter_queue")
    # The job it protected is now an ordinary expired job.
    cleaned = await _one(db, "SELECT * FROM restosync_cleanup_sync_jobs()")
    assert cleaned["sync_jobs_deleted"] == 1
    assert old_original not in await _ids(db, "SELECT id FROM sync_jobs")


async def test_dlq_alert_once_per_vendor_with_open_entries(
    pool: Pool, settings: Settings, db: Conn
) -> None:
    await _dead_letter(db, vendor_id="vendor-a", created_days=2)
    await _dead_letter(db, vendor_id="vendor-a")
    await _dead_letter(db, vendor_id="vendor-b")
    await _dead_letter(db, vendor_id="vendor-c", resolved_days=1)
    alerter = Alerter(pool, settings, None)

    found = await maintenance.alert_open_dead_letters(pool, alerter)
    await maintenance.alert_open_dead_letters(pool, alerter)

    assert [(f.vendor_id, f.open_entries) for f in found] == [("vendor-a", 2), ("vendor-b", 1)]
    rows = await (
        await db.execute(
            "SELECT vendor_key, sent_count, suppressed_count, last_details FROM alert_state "
            "WHERE alert_type = 'dlq_entries_found' ORDER BY vendor_key"
        )
    ).fetchall()
    assert [(r["vendor_key"], r["sent_count"], r["suppressed_count"]) for r in rows] == [
        ("vendor-a", 1, 1),
        ("vendor-b", 1, 1),
    ]
    assert rows[0]["last_details"]["openEntries"] == 2
