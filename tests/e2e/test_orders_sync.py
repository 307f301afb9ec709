"""SPEC §9 scenario 5 end to end: web + a real worker process + reference agents on loopback.

An order is created over HTTP; a `procrastinate worker` process pushes it to the
vendor's reference agent, which writes it into its simulated ERP and answers with the
ERP reference, at once (200) or later by calling back (202 + callback).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from restosync.settings import Settings
from tests.orders import (
    WORKER_ENV,
    Conn,
    add_items,
    base_url,
    create_order,
    order_body,
    read_order,
    synced,
)
from tests.processes import running_worker
from tests.reference_agents import enrolled_agent, eventually


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """The web app's settings: the attempt budget is fixed when an order is created."""
    return make_settings(ORDER_SYNC_MAX_ATTEMPTS=int(WORKER_ENV["ORDER_SYNC_MAX_ATTEMPTS"]))


async def test_an_order_comes_back_with_its_erp_reference(
    client: TestClient[Any, Any],
    db: Conn,
    http_session: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
) -> None:
    async with enrolled_agent(http_session, base_url(client), "vendor-e2e", tmp_path) as agent:
        await add_items(db, "vendor-e2e", ["SKU-1", "SKU-2"])
        with running_worker(database_url, queues="order-sync", env=WORKER_ENV):
            created = await create_order(
                client,
                order_body("vendor-e2e", ["SKU-1", "SKU-2"]),
                **{"X-Correlation-ID": "e2e-order-1"},
            )
            order = await eventually(lambda: synced(client, created["id"]))

    [erp_order] = agent.erp.orders
    assert order["erpReference"] == erp_order.reference
    assert (order["status"], order["erpStatus"]) == ("synced", "created")
    assert order["syncJob"]["status"] == "completed"
    assert order["syncJob"]["attempts"] == 1
    assert erp_order.data["orderNumber"] == created["orderNumber"]
    assert [line["sku"] for line in erp_order.data["items"]] == ["SKU-1", "SKU-2"]
    assert erp_order.data["total"] == created["total"]
    [call] = agent.server.received
    assert (call.idempotency_key, call.correlation_id) == (order["syncJob"]["id"], "e2e-order-1")


async def test_an_order_answered_202_is_completed_by_the_agents_callback(
    client: TestClient[Any, Any],
    db: Conn,
    http_session: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
) -> None:
    async with enrolled_agent(http_session, base_url(client), "vendor-202", tmp_path) as agent:
        agent.server.behaviour.asynchronous = True
        agent.server.behaviour.callback_delay_seconds = 0.3
        await add_items(db, "vendor-202", ["SKU-1"])
        with running_worker(database_url, queues="order-sync", env=WORKER_ENV):
            created = await create_order(client, order_body("vendor-202"))

            async def awaiting() -> bool:
                order = await read_order(client, created["id"])
                return bool(order["syncJob"]["status"] == "awaiting_callback")

            await eventually(awaiting)  # recorded before the callback (sent 0.3 s later)
            order = await eventually(lambda: synced(client, created["id"]))

    [erp_order] = agent.erp.orders
    assert order["erpReference"] == erp_order.reference
    assert order["syncJob"]["status"] == "completed"
    assert [call.status for call in agent.server.received] == [202]


async def test_one_push_at_a_time_per_vendor_in_order_while_other_vendors_flow(
    client: TestClient[Any, Any],
    db: Conn,
    http_session: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
) -> None:
    url = base_url(client)
    async with (
        enrolled_agent(http_session, url, "vendor-slow", tmp_path) as slow,
        enrolled_agent(http_session, url, "vendor-fast", tmp_path) as fast,
    ):
        slow.server.behaviour.delay_seconds = 0.5
        for agent in (slow, fast):
            await add_items(db, agent.vendor_id, ["SKU-1"])
        slow_orders = [
            (await create_order(client, order_body("vendor-slow")))["id"] for _ in range(3)
        ]
        fast_orders = [
            (await create_order(client, order_body("vendor-fast")))["id"] for _ in range(3)
        ]
        with running_worker(database_url, queues="order-sync", env=WORKER_ENV):
            done: dict[str, dict[str, Any]] = {}
            for order_id in slow_orders + fast_orders:
                done[order_id] = await eventually(partial(synced, client, order_id))

    # The slow vendor's orders reached its ERP one at a time, in the order they were placed.
    assert slow.server.max_in_flight == 1
    assert [o.data["id"] for o in slow.erp.orders] == slow_orders
    assert [o.data["id"] for o in fast.erp.orders] == fast_orders
    # The fast vendor did not wait behind the slow one.
    synced_at = {o: datetime.fromisoformat(done[o]["erpSyncedAt"]) for o in done}
    assert max(synced_at[o] for o in fast_orders) < synced_at[slow_orders[1]]
