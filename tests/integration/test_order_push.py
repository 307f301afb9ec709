"""The push task against a reference agent on loopback, run by an in-process worker.

`_run_jobs` runs procrastinate's own worker until no job is due, so each test sees the
real task, retry strategy and dead-letter trigger, one step at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import procrastinate
import pytest

from restosync.db.pool import Pool
from restosync.models.orders import CreateOrder
from restosync.queue import QUEUE_ORDER_SYNC, TASK_PUSH_ORDER, vendor_lock
from restosync.services import order_sync, orders
from restosync.services.audit import Actor
from restosync.settings import Settings
from restosync.worker.resources import close_resources
from tests.orders import Conn, add_items, order_body, sync_job
from tests.reference_agents import RunningAgent, eventually, registered_agent

VENDOR = "vendor-push"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        ORDER_SYNC_BACKOFF_BASE_SECONDS=0.2,
        ORDER_SYNC_MAX_ATTEMPTS=3,
        AGENT_CALL_TIMEOUT_SECONDS=0.5,
        ORDER_SYNC_POSTPONE_SECONDS=0.2,
        CALLBACK_TIMEOUT_SECONDS=0.2,
    )


@pytest.fixture
async def agent(db: Conn) -> AsyncIterator[RunningAgent]:
    async with registered_agent(db, VENDOR) as running:
        await add_items(db, VENDOR, ["SKU-1"])
        yield running
    # The task's per-process resources are bound to this test's database.
    await close_resources()


async def _order(pool: Pool, app: procrastinate.App, settings: Settings) -> str:
    request = CreateOrder.model_validate(order_body(VENDOR))
    created = await orders.create_order(
        pool, app, settings, Actor("key:test", "corr-push"), request, None
    )
    return str(created.order.id)


async def _run_jobs(app: procrastinate.App) -> None:
    """Run the order-sync jobs that are due now, then return."""
    await app.run_worker_async(
        queues=[QUEUE_ORDER_SYNC], wait=False, install_signal_handlers=False, concurrency=1
    )


async def _queue_job(db: Conn, job_id: int) -> dict[str, Any]:
    cur = await db.execute(
        "SELECT status::text AS status, attempts, scheduled_at FROM procrastinate_jobs "
        "WHERE id = %s",
        [job_id],
    )
    row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def _order_row(db: Conn, order_id: str) -> dict[str, Any]:
    cur = await db.execute(
        "SELECT status, erp_reference, erp_status, erp_synced_at, erp_sync_error FROM orders "
        "WHERE id = %s",
        [order_id],
    )
    row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def _answered(agent: RunningAgent, calls: int) -> bool:
    return len(agent.server.received) >= calls


async def _dead_letters(db: Conn) -> list[dict[str, Any]]:
    cur = await db.execute("SELECT * FROM dead_letter_queue ORDER BY created_at")
    return [dict(row) for row in await cur.fetchall()]


async def test_a_200_completes_the_job_and_syncs_the_order(
    agent: RunningAgent, pool: Pool, queue_app: procrastinate.App, settings: Settings, db: Conn
) -> None:
    order_id = await _order(pool, queue_app, settings)
    await _run_jobs(queue_app)

    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"], job["erp_reference"]) == (
        "completed",
        1,
        f"ERP-{VENDOR}-000001",
    )
    order = await _order_row(db, order_id)
    assert (order["status"], order["erp_reference"], order["erp_status"]) == (
        "synced",
        f"ERP-{VENDOR}-000001",
        "created",
    )
    assert order["erp_synced_at"] is not None
    assert (await _queue_job(db, job["procrastinate_job_id"]))["status"] == "succeeded"
    [call] = agent.server.received
    assert (call.status, call.idempotency_key, call.sync_job_id) == (
        200,
        str(job["id"]),
        str(job["id"]),
    )
    assert call.correlation_id == "corr-push"
    [erp_order] = agent.erp.orders
    assert erp_order.data["items"][0]["lineTotal"] == "24.00"
    assert erp_order.data["shippingAddress"]["city"] == "Paris"


async def test_transient_failures_are_retried_with_backoff_then_succeed(
    agent: RunningAgent,
    pool: Pool,
    queue_app: procrastinate.App,
    settings: Settings,
    db: Conn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    agent.server.behaviour.fail_status = 503
    agent.server.behaviour.fail_count = 1
    order_id = await _order(pool, queue_app, settings)
    await _run_jobs(queue_app)

    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"]) == ("pending", 1)
    assert job["error_message"] == "agent answered HTTP 503"
    queued = await _queue_job(db, job["procrastinate_job_id"])
    assert queued["status"] == "todo"
    assert queued["scheduled_at"] == job["next_retry_at"]  # base 0.2 s x 2^0 later
    assert (await _order_row(db, order_id))["erp_sync_error"] == "agent answered HTTP 503"

    # A timeout is transient too (the agent is slower than AGENT_CALL_TIMEOUT_SECONDS).
    agent.server.behaviour.delay_seconds = 1.0
    await asyncio.sleep(0.25)
    await _run_jobs(queue_app)
    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"]) == ("pending", 2)
    assert job["error_message"].startswith("agent unreachable: no answer within 0.5 s")

    agent.server.behaviour.delay_seconds = 0
    await asyncio.sleep(0.45)  # 0.2 s x 2^1
    await _run_jobs(queue_app)
    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"], job["error_message"]) == ("completed", 3, None)
    assert (await _order_row(db, order_id))["status"] == "synced"
    # The call that timed out and the retry share one Idempotency-Key: one ERP order.
    await eventually(lambda: _answered(agent, 3))
    assert [call.status for call in agent.server.received] == [503, 200, 200]
    assert len(agent.erp.orders) == 1
    assert "order push failed, will retry" in caplog.text
    assert agent.outbound_secret is not None
    assert agent.outbound_secret not in caplog.text


async def test_spent_retries_end_in_the_dead_letter_queue(
    agent: RunningAgent, pool: Pool, queue_app: procrastinate.App, settings: Settings, db: Conn
) -> None:
    agent.server.behaviour.fail_status = 500
    order_id = await _order(pool, queue_app, settings)
    for _ in range(3):
        await _run_jobs(queue_app)
        await asyncio.sleep(0.85)  # longer than the longest backoff (0.2 s x 2^1)
    await _run_jobs(queue_app)

    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"]) == ("dead", 3)
    assert (await _queue_job(db, job["procrastinate_job_id"]))["status"] == "failed"
    [entry] = await _dead_letters(db)
    assert entry["original_job_id"] == job["id"]
    assert entry["procrastinate_job_id"] == job["procrastinate_job_id"]
    assert (entry["task_name"], entry["queue"], entry["operation"]) == (
        "orders:push_order",
        "order-sync",
        "create_order",
    )
    assert entry["failure_reason"] == "agent answered HTTP 500 (attempt 3 of 3: no retry left)"
    assert entry["attempt_count"] == 3
    assert entry["payload"] == job["payload"]
    assert (await _order_row(db, order_id))["status"] == "failed"
    assert len(agent.server.received) == 3


async def test_a_4xx_is_dead_lettered_at_once(
    agent: RunningAgent, pool: Pool, queue_app: procrastinate.App, settings: Settings, db: Conn
) -> None:
    agent.server.behaviour.fail_status = 422
    order_id = await _order(pool, queue_app, settings)
    await _run_jobs(queue_app)

    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"]) == ("dead", 1)
    [entry] = await _dead_letters(db)
    assert entry["failure_reason"] == "agent refused the order: HTTP 422"
    assert "failure injected" in entry["failure_stack"]
    assert len(agent.server.received) == 1


async def test_an_offline_agent_is_not_called_and_no_attempt_is_used(
    agent: RunningAgent, pool: Pool, queue_app: procrastinate.App, settings: Settings, db: Conn
) -> None:
    await db.execute(
        "UPDATE agent_registry SET last_heartbeat = now() - interval '1 hour' WHERE vendor_id = %s",
        [VENDOR],
    )
    order_id = await _order(pool, queue_app, settings)
    for _ in range(3):
        await _run_jobs(queue_app)
        await asyncio.sleep(0.25)

    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"]) == ("pending", 0)
    assert job["error_message"] == "agent offline: postponed without a call"
    assert agent.server.received == []

    await db.execute(
        "UPDATE agent_registry SET last_heartbeat = now() WHERE vendor_id = %s", [VENDOR]
    )
    await _run_jobs(queue_app)
    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"]) == ("completed", 1)


async def test_an_agent_offline_past_the_maximum_age_is_dead_lettered(
    agent: RunningAgent, pool: Pool, queue_app: procrastinate.App, settings: Settings, db: Conn
) -> None:
    await db.execute(
        "UPDATE agent_registry SET last_heartbeat = now() - interval '1 hour' WHERE vendor_id = %s",
        [VENDOR],
    )
    order_id = await _order(pool, queue_app, settings)
    await db.execute(
        "UPDATE sync_jobs SET created_at = now() - interval '2 days' WHERE postgres_order_id = %s",
        [order_id],
    )
    await _run_jobs(queue_app)

    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"]) == ("dead", 0)
    [entry] = await _dead_letters(db)
    assert entry["failure_reason"] == "agent offline for longer than the maximum age (86400 s)"
    assert agent.server.received == []


async def test_a_202_waits_for_the_callback_then_is_pushed_again_with_the_same_key(
    agent: RunningAgent, pool: Pool, queue_app: procrastinate.App, settings: Settings, db: Conn
) -> None:
    agent.server.behaviour.asynchronous = True  # and no client: the callback never comes
    order_id = await _order(pool, queue_app, settings)
    await _run_jobs(queue_app)
    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"]) == ("awaiting_callback", 1)
    first_queue_job = job["procrastinate_job_id"]
    assert (await _queue_job(db, first_queue_job))["status"] == "succeeded"

    assert await order_sync.requeue_callback_timeouts(pool) == []  # not yet due
    await asyncio.sleep(0.25)
    [swept] = await order_sync.requeue_callback_timeouts(pool)
    assert (swept.sync_job_id, swept.outcome) == (job["id"], "requeued")
    job = await sync_job(db, order_id)
    assert job["status"] == "pending"
    assert job["procrastinate_job_id"] == swept.procrastinate_job_id != first_queue_job
    requeued = await (
        await db.execute(
            "SELECT task_name, queue_name, lock, args FROM procrastinate_jobs WHERE id = %s",
            [swept.procrastinate_job_id],
        )
    ).fetchone()
    assert requeued == {  # the SQL sweep defers exactly what the web process defers
        "task_name": TASK_PUSH_ORDER,
        "queue_name": QUEUE_ORDER_SYNC,
        "lock": vendor_lock(VENDOR),
        "args": {"sync_job_id": str(job["id"]), "correlation_id": "corr-push"},
    }

    await _run_jobs(queue_app)
    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"]) == ("awaiting_callback", 2)
    calls = agent.server.calls_for(str(job["id"]))
    assert [call.status for call in calls] == [202, 202]
    assert len(agent.erp.orders) == 1  # the repeat was recognised by its Idempotency-Key

    await asyncio.sleep(0.25)
    await order_sync.requeue_callback_timeouts(pool)
    await _run_jobs(queue_app)
    await asyncio.sleep(0.25)
    [swept] = await order_sync.requeue_callback_timeouts(pool)  # 3 attempts made: spent
    assert swept.outcome == "dead"
    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"]) == ("dead", 3)
    [entry] = await _dead_letters(db)
    assert entry["failure_reason"] == "no callback after 3 attempts"


async def test_the_dead_letter_is_written_in_the_transaction_of_the_final_failure(
    agent: RunningAgent, pool: Pool, queue_app: procrastinate.App, settings: Settings, db: Conn
) -> None:
    order_id = await _order(pool, queue_app, settings)
    job = await sync_job(db, order_id)
    queue_job = job["procrastinate_job_id"]
    await db.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", [queue_job])

    async with db.transaction(force_rollback=True):
        await db.execute("SELECT procrastinate_finish_job_v1(%s, 'failed', false)", [queue_job])
        assert len(await _dead_letters(db)) == 1
        assert (await sync_job(db, order_id))["status"] == "dead"
    assert await _dead_letters(db) == []
    assert (await sync_job(db, order_id))["status"] == "pending"

    await db.execute("SELECT procrastinate_finish_job_v1(%s, 'failed', false)", [queue_job])
    [entry] = await _dead_letters(db)
    assert entry["failure_reason"] == "failed for good without a recorded error"
    # Finishing again (a DBA's retry that fails again) adds nothing.
    await db.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", [queue_job])
    await db.execute("SELECT procrastinate_finish_job_v1(%s, 'failed', false)", [queue_job])
    assert len(await _dead_letters(db)) == 1


async def test_the_dead_letter_trigger_never_blocks_a_job(
    queue_app: procrastinate.App, db: Conn
) -> None:
    """A push job whose sync job cannot be read still reaches its final state."""
    broken = await queue_app.configure_task(
        "orders:push_order", queue=QUEUE_ORDER_SYNC
    ).defer_async(sync_job_id="not-a-uuid")
    other = await queue_app.configure_task("maintenance:agent_health").defer_async(timestamp=1)
    await db.execute(
        "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = ANY(%s)", [[broken, other]]
    )
    notices: list[str] = []
    db.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))

    for job_id in (broken, other):
        await db.execute("SELECT procrastinate_finish_job_v1(%s, 'failed', false)", [job_id])

    assert (await _queue_job(db, broken))["status"] == "failed"
    assert (await _queue_job(db, other))["status"] == "failed"
    assert await _dead_letters(db) == []
    assert len(notices) == 1
    assert notices[0].startswith(f"restosync: could not dead-letter procrastinate job {broken}")


async def test_a_stale_queue_job_does_nothing(
    agent: RunningAgent, pool: Pool, queue_app: procrastinate.App, settings: Settings, db: Conn
) -> None:
    order_id = await _order(pool, queue_app, settings)
    job = await sync_job(db, order_id)
    async with aiohttp.ClientSession() as http:
        outcome = await order_sync.push_order(
            pool, http, settings, str(job["id"]), job["procrastinate_job_id"] + 1000
        )
    assert outcome is order_sync.PushOutcome.NOTHING_TO_DO
    assert (await sync_job(db, order_id))["attempts"] == 0
