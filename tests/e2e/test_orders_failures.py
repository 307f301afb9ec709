"""Order pushes that go wrong, end to end: retries, dead letters, an offline agent, and a
worker killed mid-push (SPEC §9 scenario 12) — web + real worker processes + reference
agents on loopback."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from restosync.services.maintenance import recover_stalled_jobs
from restosync.settings import Settings
from restosync.web.keys import QUEUE_APP
from tests.orders import (
    WORKER_ENV,
    Conn,
    add_items,
    base_url,
    create_order,
    dead,
    order_body,
    read_order,
    sync_job,
    synced,
)
from tests.processes import running_worker
from tests.reference_agents import RunningAgent, enrolled_agent, eventually


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """The web app's settings: the attempt budget is fixed when an order is created."""
    return make_settings(ORDER_SYNC_MAX_ATTEMPTS=int(WORKER_ENV["ORDER_SYNC_MAX_ATTEMPTS"]))


async def _dead_letters(db: Conn) -> list[dict[str, Any]]:
    return [
        dict(row) for row in await (await db.execute("SELECT * FROM dead_letter_queue")).fetchall()
    ]


def _agent(
    http_session: aiohttp.ClientSession, client: TestClient[Any, Any], tmp_path: Path, vendor: str
) -> AbstractAsyncContextManager[RunningAgent]:
    return enrolled_agent(http_session, base_url(client), vendor, tmp_path)


async def test_transient_failures_are_retried_until_the_agent_answers(
    client: TestClient[Any, Any],
    db: Conn,
    http_session: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
) -> None:
    await add_items(db, "v-flaky", ["SKU-1"])
    async with _agent(http_session, client, tmp_path, "v-flaky") as agent:
        agent.server.behaviour.fail_status = 503
        agent.server.behaviour.fail_count = 2
        with running_worker(database_url, queues="order-sync", env=WORKER_ENV):
            created = await create_order(client, order_body("v-flaky"))
            order = await eventually(lambda: synced(client, created["id"]))
    assert order["syncJob"]["attempts"] == 3
    assert [call.status for call in agent.server.received] == [503, 503, 200]
    assert await _dead_letters(db) == []


async def test_spent_retries_and_4xx_answers_land_in_the_dead_letter_queue(
    client: TestClient[Any, Any],
    db: Conn,
    http_session: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
) -> None:
    await add_items(db, "v-down", ["SKU-1"])
    await add_items(db, "v-refuses", ["SKU-1"])
    async with (
        _agent(http_session, client, tmp_path, "v-down") as down,
        _agent(http_session, client, tmp_path, "v-refuses") as refuses,
    ):
        down.server.behaviour.fail_status = 500
        refuses.server.behaviour.fail_status = 400
        with running_worker(database_url, queues="order-sync", env=WORKER_ENV):
            spent = await create_order(client, order_body("v-down"))
            refused = await create_order(client, order_body("v-refuses"))
            spent_order = await eventually(lambda: dead(client, spent["id"]))
            refused_order = await eventually(lambda: dead(client, refused["id"]))

    assert (spent_order["status"], spent_order["syncJob"]["attempts"]) == ("failed", 3)
    assert (refused_order["status"], refused_order["syncJob"]["attempts"]) == ("failed", 1)
    assert len(down.server.received) == 3
    assert len(refuses.server.received) == 1
    entries = {entry["vendor_id"]: entry for entry in await _dead_letters(db)}
    assert entries.keys() == {"v-down", "v-refuses"}
    assert entries["v-down"]["attempt_count"] == 3
    assert entries["v-refuses"]["failure_reason"] == "agent refused the order: HTTP 400"
    assert entries["v-refuses"]["payload"]["orderId"] == refused["id"]


async def test_an_offline_agent_gets_its_orders_once_it_is_back_without_spent_attempts(
    client: TestClient[Any, Any],
    db: Conn,
    http_session: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
) -> None:
    await add_items(db, "v-away", ["SKU-1"])
    async with _agent(http_session, client, tmp_path, "v-away") as agent:
        await db.execute(
            "UPDATE agent_registry SET last_heartbeat = now() - interval '1 hour' "
            "WHERE vendor_id = 'v-away'"
        )
        with running_worker(database_url, queues="order-sync", env=WORKER_ENV):
            created = await create_order(client, order_body("v-away"))
            await asyncio.sleep(1.5)  # several postponements (ORDER_SYNC_POSTPONE_SECONDS 0.3)
            waiting = await read_order(client, created["id"])
            assert agent.client is not None
            await agent.client.heartbeat()
            order = await eventually(lambda: synced(client, created["id"]))

    assert (waiting["syncJob"]["status"], waiting["syncJob"]["attempts"]) == ("pending", 0)
    assert waiting["syncJob"]["errorMessage"] == "agent offline: postponed without a call"
    assert order["syncJob"]["attempts"] == 1
    assert len(agent.server.received) == 1


async def test_a_worker_killed_mid_push_is_recovered_and_the_erp_gets_the_order_once(
    client: TestClient[Any, Any],
    db: Conn,
    http_session: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
) -> None:
    env = {**WORKER_ENV, "WORKER_STALLED_SECONDS": "1"}
    await add_items(db, "v-kill", ["SKU-1"])
    async with _agent(http_session, client, tmp_path, "v-kill") as agent:
        agent.server.behaviour.delay_seconds = 2.0
        created = await create_order(client, order_body("v-kill"))
        key = str((await sync_job(db, created["id"]))["id"])
        with running_worker(database_url, queues="order-sync", env=env) as doomed:
            await eventually(lambda: _arrived(agent, key))
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
        agent.server.behaviour.delay_seconds = 0

        await asyncio.sleep(1.5)  # the dead worker's heartbeat is now older than 1 s
        job = await sync_job(db, created["id"])
        assert (job["status"], job["attempts"]) == ("processing", 1)
        recovered = await recover_stalled_jobs(client.app[QUEUE_APP], stalled_seconds=1)
        assert recovered == [job["procrastinate_job_id"]]

        with running_worker(database_url, queues="order-sync", env=env):
            order = await eventually(lambda: synced(client, created["id"]))
        # The first call's handler outlived its caller: let it answer too.
        await eventually(lambda: _answered(agent, key, 2))

    [erp_order] = agent.erp.orders_for(key)
    assert order["erpReference"] == erp_order.reference
    assert len(agent.erp.orders) == 1
    assert order["syncJob"]["attempts"] == 2


async def _arrived(agent: RunningAgent, key: str) -> bool:
    return key in agent.server.arrivals


async def _answered(agent: RunningAgent, key: str, calls: int) -> bool:
    return len(agent.server.calls_for(key)) >= calls
