"""The circuit breaker of the push (SPEC §6), run by an in-process worker: an open breaker
postpones without a call and without an attempt; transitions reach `circuit_breakers` and
alerts; an admin reset reaches every process's breakers through NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import procrastinate
import pytest

from restosync.db.breakers import BREAKERS_CHANNEL
from restosync.db.notifications import listen
from restosync.db.pool import Pool
from restosync.models.breakers import ResetBreaker
from restosync.models.orders import CreateOrder
from restosync.queue import QUEUE_ORDER_SYNC
from restosync.services import breakers, orders
from restosync.services.audit import Actor
from restosync.services.breakers import API_CREATE_ORDER, BreakerRegistry
from restosync.settings import Settings
from restosync.worker.resources import close_resources, get_resources
from tests.orders import Conn, add_items, order_body, sync_job
from tests.reference_agents import RunningAgent, eventually, registered_agent

VENDOR = "vendor-breaker"
ACTOR = Actor("key:test", "corr-breaker")


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        ORDER_SYNC_BACKOFF_BASE_SECONDS=0.1,
        ORDER_SYNC_MAX_ATTEMPTS=5,
        ORDER_SYNC_POSTPONE_SECONDS=0.1,
        AGENT_CALL_TIMEOUT_SECONDS=0.5,
        BREAKER_FAIL_MAX=2,
        BREAKER_RESET_SECONDS=30,
    )


@pytest.fixture
async def agent(db: Conn) -> AsyncIterator[RunningAgent]:
    async with registered_agent(db, VENDOR) as running:
        await add_items(db, VENDOR, ["SKU-1"])
        yield running
    await close_resources()


async def _run_due_jobs(app: procrastinate.App, *, after: float = 0.3) -> None:
    """Wait for scheduled retries to come due, then run what is due."""
    await asyncio.sleep(after)
    await app.run_worker_async(
        queues=[QUEUE_ORDER_SYNC], wait=False, install_signal_handlers=False, concurrency=1
    )


@contextlib.asynccontextmanager
async def _listening_registry(settings: Settings) -> AsyncIterator[BreakerRegistry]:
    """Another process's breakers, as a worker process holds them."""
    registry = BreakerRegistry(settings)
    feed = asyncio.create_task(
        listen(settings.database_url, BREAKERS_CHANNEL, registry.on_notify, registry.set_listening)
    )
    try:
        await eventually(lambda: asyncio.sleep(0, registry.listening))
        yield registry
    finally:
        feed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feed


async def _failing(registry: BreakerRegistry, times: int) -> None:
    async def fail() -> int:
        return 500

    for _ in range(times):
        await registry.call(VENDOR, API_CREATE_ORDER, fail, lambda status: status >= 500)


async def test_an_open_breaker_postpones_without_a_call_or_an_attempt_until_reset(
    agent: RunningAgent, pool: Pool, queue_app: procrastinate.App, settings: Settings, db: Conn
) -> None:
    agent.server.behaviour.fail_status = 500
    request = CreateOrder.model_validate(order_body(VENDOR))
    created = await orders.create_order(pool, queue_app, settings, ACTOR, request, None)
    order_id = str(created.order.id)
    for _ in range(4):  # two failed calls open the breaker; then two postponements
        await _run_due_jobs(queue_app)

    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"]) == ("pending", 2)
    assert job["error_message"] == "circuit breaker open: postponed without a call"
    assert len(agent.server.received) == 2
    resources = await get_resources(settings)
    assert resources.breakers.state(VENDOR, API_CREATE_ORDER) == "open"
    cur = await db.execute("SELECT vendor_id, api_type, state, failure_count FROM circuit_breakers")
    assert await cur.fetchall() == [
        {"vendor_id": VENDOR, "api_type": API_CREATE_ORDER, "state": "open", "failure_count": 2}
    ]
    cur = await db.execute("SELECT alert_type, vendor_key, sent_count FROM alert_state")
    assert await cur.fetchall() == [
        {"alert_type": "circuit_breaker_open", "vendor_key": VENDOR, "sent_count": 1}
    ]

    # The admin reset closes it in this process (through NOTIFY) and in another one.
    async with _listening_registry(settings) as other:
        await _failing(other, 2)
        assert other.state(VENDOR, API_CREATE_ORDER) == "open"
        result = await breakers.reset(pool, ACTOR, ResetBreaker(vendor_id=VENDOR))
        assert [(b.vendor_id, b.state) for b in result.reset] == [(VENDOR, "closed")]
        await eventually(
            lambda: asyncio.sleep(0, other.state(VENDOR, API_CREATE_ORDER) == "closed")
        )
    await eventually(
        lambda: asyncio.sleep(0, resources.breakers.state(VENDOR, API_CREATE_ORDER) == "closed")
    )
    agent.server.behaviour.fail_status = None
    await _run_due_jobs(queue_app)
    job = await sync_job(db, order_id)
    assert (job["status"], job["attempts"]) == ("completed", 3)
    cur = await db.execute("SELECT action, target_id FROM audit_log")
    assert await cur.fetchall() == [{"action": "circuit_breaker.reset", "target_id": VENDOR}]


async def test_a_breaker_half_opens_after_the_reset_time_and_a_success_closes_it(
    make_settings: Callable[..., Settings],
) -> None:
    registry = BreakerRegistry(make_settings(BREAKER_FAIL_MAX=1, BREAKER_RESET_SECONDS=0.2))

    async def answer(status: int) -> int:
        return status

    assert await registry.call(VENDOR, "items", lambda: answer(503), lambda s: s >= 500) == 503
    assert registry.open_for(VENDOR, "items") is not None
    assert registry.open_for(VENDOR, "create_order") is None  # one breaker per API type
    await asyncio.sleep(0.25)
    assert registry.open_for(VENDOR, "items") is None
    assert await registry.call(VENDOR, "items", lambda: answer(200), lambda s: s >= 500) == 200
    assert registry.state(VENDOR, "items") == "closed"
    assert [s.state for s in registry.pending] == ["open", "half_open", "closed"]
