"""A job left in `doing` by a dead worker is put back and run; live workers' jobs are left alone."""

from __future__ import annotations

import asyncio
from typing import Any

import procrastinate
import psycopg
from psycopg.rows import DictRow

from restosync.queue import TASK_RECOVER_STALLED_JOBS
from restosync.services.maintenance import recover_stalled_jobs
from tests.processes import running_worker

Conn = psycopg.AsyncConnection[DictRow]


async def _worker_row(db: Conn, seconds_ago: int) -> int:
    row = await (
        await db.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) "
            "VALUES (now() - make_interval(secs => %s)) RETURNING id",
            [seconds_ago],
        )
    ).fetchone()
    assert row is not None
    return int(row["id"])


async def _doing_job(app: procrastinate.App, db: Conn, worker_id: int, stamp: int) -> int:
    job_id = await app.configure_task(TASK_RECOVER_STALLED_JOBS).defer_async(timestamp=stamp)
    await db.execute(
        "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE id = %s",
        [worker_id, job_id],
    )
    return job_id


async def _status(db: Conn, job_id: int) -> Any:
    row = await (
        await db.execute(
            "SELECT status::text AS status FROM procrastinate_jobs WHERE id = %s", [job_id]
        )
    ).fetchone()
    assert row is not None
    return row["status"]


async def test_only_jobs_of_silent_workers_are_recovered(
    queue_app: procrastinate.App, db: Conn
) -> None:
    dead = await _worker_row(db, seconds_ago=600)
    alive = await _worker_row(db, seconds_ago=1)
    stalled_job = await _doing_job(queue_app, db, dead, stamp=1)
    running_job = await _doing_job(queue_app, db, alive, stamp=2)

    recovered = await recover_stalled_jobs(queue_app, stalled_seconds=60)

    assert recovered == [stalled_job]
    assert await _status(db, stalled_job) == "todo"
    assert await _status(db, running_job) == "doing"


async def test_a_worker_process_recovers_and_finishes_a_dead_workers_job(
    queue_app: procrastinate.App, db: Conn, database_url: str
) -> None:
    dead = await _worker_row(db, seconds_ago=600)
    stalled_job = await _doing_job(queue_app, db, dead, stamp=3)
    # The minute's recovery tick is caught up as soon as a worker starts.
    with running_worker(
        database_url, queues="maintenance", env={"PERIODIC_CATCH_UP_SECONDS": "60"}
    ):
        for _ in range(150):
            if await _status(db, stalled_job) == "succeeded":
                break
            await asyncio.sleep(0.1)
    assert await _status(db, stalled_job) == "succeeded"
