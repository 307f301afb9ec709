"""SPEC §9 scenarios 6 and 7 end to end — web + a real worker process + a reference agent on
loopback: agent down → breaker opens → retries spent → DLQ; breaker status and reset over
HTTP; DLQ retry → new job → succeeds; a second retry of the entry is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from restosync.settings import Settings
from tests.agents import ADMIN
from tests.orders import (
    WORKER_ENV,
    Conn,
    add_items,
    base_url,
    create_order,
    dead,
    order_body,
    read_order,
    synced,
)
from tests.processes import running_worker
from tests.reference_agents import enrolled_agent, eventually

VENDOR = "v-breaker-e2e"
ENV = {**WORKER_ENV, "BREAKER_FAIL_MAX": "2", "BREAKER_RESET_SECONDS": "0.5"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(ORDER_SYNC_MAX_ATTEMPTS=int(WORKER_ENV["ORDER_SYNC_MAX_ATTEMPTS"]))


async def _get(client: TestClient[Any, Any], path: str) -> Any:
    response = await client.get(path, headers=ADMIN)
    assert response.status == 200
    return await response.json()


async def test_agent_down_opens_the_breaker_dead_letters_and_a_dlq_retry_delivers(
    client: TestClient[Any, Any],
    db: Conn,
    http_session: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
) -> None:
    await add_items(db, VENDOR, ["SKU-1"])
    async with enrolled_agent(http_session, base_url(client), VENDOR, tmp_path) as agent:
        with running_worker(database_url, queues="order-sync", env=ENV):
            # Scenario 6: the agent is down (connections refused).
            await agent.server.stop()
            created = await create_order(client, order_body(VENDOR))
            dead_order = await eventually(lambda: dead(client, created["id"]))
            assert (dead_order["status"], dead_order["syncJob"]["attempts"]) == ("failed", 3)
            status = await _get(client, "/api/admin/circuit-breaker/status")
            assert [(b["vendorId"], b["apiType"], b["state"]) for b in status["data"]] == [
                (VENDOR, "create_order", "open")
            ]
            cur = await db.execute(
                "SELECT alert_type FROM alert_state WHERE vendor_key = %s", [VENDOR]
            )
            assert [row["alert_type"] for row in await cur.fetchall()] == ["circuit_breaker_open"]
            [entry] = (await _get(client, f"/api/admin/dlq?vendorId={VENDOR}"))["data"]
            assert entry["attemptCount"] == 3
            assert entry["failureReason"].startswith("agent unreachable")

            # The agent is back; an admin closes the breaker everywhere.
            await agent.server.start()
            response = await client.post(
                "/api/admin/circuit-breaker/reset", json={"vendorId": VENDOR}, headers=ADMIN
            )
            assert response.status == 200
            status = await _get(client, "/api/admin/circuit-breaker/status")
            assert [b["state"] for b in status["data"]] == ["closed"]

            # Scenario 7: DLQ retry → new job → succeeds.
            retry = await client.post(f"/api/admin/dlq/{entry['id']}/retry", headers=ADMIN)
            retried = await retry.json()
            assert retry.status == 201, retried
            order = await eventually(lambda: synced(client, created["id"]))
            again = await client.post(f"/api/admin/dlq/{entry['id']}/retry", headers=ADMIN)
            assert again.status == 409

    assert order["status"] == "synced"
    job = await _get(client, f"/api/admin/sync-status/{retried['retryJobId']}")
    assert (job["status"], job["attempts"]) == ("completed", 1)
    [call] = agent.server.received
    assert call.idempotency_key == retried["retryJobId"]
    assert len(agent.erp.orders) == 1
    cur = await db.execute("SELECT action FROM audit_log ORDER BY id")
    assert [row["action"] for row in await cur.fetchall()] == [
        "circuit_breaker.reset",
        "dlq.retry",
    ]


async def test_a_reset_over_http_closes_the_breaker_inside_the_worker_process(
    client: TestClient[Any, Any],
    db: Conn,
    http_session: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
) -> None:
    """With an hour of reset time, only the admin reset (NOTIFY) can let the order through."""
    env = {
        **WORKER_ENV,
        "ORDER_SYNC_MAX_ATTEMPTS": "10",
        "BREAKER_FAIL_MAX": "2",
        "BREAKER_RESET_SECONDS": "3600",
    }
    await add_items(db, VENDOR, ["SKU-1"])
    async with enrolled_agent(http_session, base_url(client), VENDOR, tmp_path) as agent:
        with running_worker(database_url, queues="order-sync", env=env):
            await agent.server.stop()
            created = await create_order(client, order_body(VENDOR))

            async def breaker_open() -> bool:
                status = await _get(client, "/api/admin/circuit-breaker/status")
                return [b["state"] for b in status["data"]] == ["open"]

            assert await eventually(breaker_open)
            await agent.server.start()
            postponed = await read_order(client, created["id"])
            assert postponed["syncJob"]["attempts"] == 2  # open: no more attempts spent
            assert agent.server.received == []

            response = await client.post(
                "/api/admin/circuit-breaker/reset", json={"vendorId": VENDOR}, headers=ADMIN
            )
            assert response.status == 200
            order = await eventually(lambda: synced(client, created["id"]))

    assert order["status"] == "synced"
    assert order["syncJob"]["attempts"] == 3
    assert len(agent.erp.orders) == 1
