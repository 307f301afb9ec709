"""SPEC §9 acceptance scenarios over real HTTP, real PostgreSQL, a real `procrastinate
worker` process and the reference agent (restosync.agent) on loopback.

Scenarios with an end-to-end test of their own elsewhere in tests/e2e:

| § 9 | test |
| --- | --- |
| 1, 2 | test_agent_push.py: a catalog pushed lands; pushed again, all skipped, no row version |
| 5 | test_orders_sync.py: ERP reference at once (200) and by callback (202) |
| 6, 7 | test_dlq_breakers.py: agent down → breaker → DLQ; DLQ retry → delivered |
| 8 | test_reconciliation_e2e.py: drift of every kind found and fixed |
| 12 | test_orders_failures.py, test_faults.py: worker killed mid-push → once per key |

This module covers 3, 4, 9, 10 and 11 the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from restosync.agent.catalog import Catalog
from restosync.agent.client import AgentApiError, AgentClient
from restosync.agent.push import CatalogPusher, PushFailed
from restosync.settings import Settings
from tests.agents import ADMIN
from tests.conftest import AGENT_SECRET
from tests.ingest import eventually, rows_of, seed_mappings
from tests.orders import WORKER_ENV, Conn, base_url
from tests.processes import running_worker
from tests.reference_agents import RunningAgent, enrolled_agent

pytestmark = pytest.mark.slow
VENDOR = "v-acceptance"
OTHER = "v-acceptance-other"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(RATE_LIMIT_SYNC_BATCH_PER_MINUTE=3)


@pytest.fixture
async def agent(
    client: TestClient[Any, Any], http_session: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[RunningAgent]:
    async with enrolled_agent(http_session, base_url(client), VENDOR, tmp_path) as running:
        yield running


def _pusher(agent: RunningAgent) -> CatalogPusher:
    assert agent.client is not None
    return CatalogPusher(agent.client, max_attempts=1)


async def test_3_an_older_version_of_a_row_is_refused_as_stale(
    agent: RunningAgent, db: Conn
) -> None:
    await seed_mappings(db, VENDOR)
    catalog = Catalog()
    old = catalog.put_item({"sku": "SKU-1", "name": "Old", "erpUnitCode": "PCE",
                            "erpVatCode": "TVA20"})  # fmt: skip
    new = catalog.put_item({**old, "name": "New"})
    pusher = _pusher(agent)
    assert (await pusher.push_rows("items", [new])).processed == 1

    summary = await pusher.push_rows("items", [old])  # sent late, e.g. by a stuck retry
    assert [(f.identifier, f.reason) for f in summary.failures] == [("SKU-1", "stale_data")]
    assert await rows_of(db, "SELECT name FROM items") == [{"name": "New"}]


async def test_4_an_unmapped_code_lands_once_the_mapping_is_added_without_a_resend(
    client: TestClient[Any, Any], agent: RunningAgent, db: Conn, database_url: str
) -> None:
    await seed_mappings(db, VENDOR)
    catalog = Catalog()
    catalog.put_item({"sku": "SKU-1", "name": "Mapped", "erpUnitCode": "PCE",
                      "erpVatCode": "TVA20"})  # fmt: skip
    catalog.put_item({"sku": "SKU-2", "name": "Boxed", "erpUnitCode": "BOX",
                      "erpVatCode": "TVA20"})  # fmt: skip
    summary = await _pusher(agent).push_catalog(catalog)
    assert (summary.processed, summary.failed) == (1, 1)
    assert [(f.identifier, f.reason) for f in summary.failures] == [("SKU-2", "unmapped_unit")]

    with running_worker(database_url, queues="maintenance", env=WORKER_ENV):
        response = await client.post(
            "/api/admin/mappings",
            json={
                "vendorId": VENDOR,
                "mappingType": "unit",
                "erpCode": "BOX",
                "restoCode": "BX",
                "restoLabel": "Box",
            },
            headers=ADMIN,
        )
        assert response.status == 201, await response.text()

        async def landed() -> Any:
            return await rows_of(db, "SELECT sku, unit_code FROM items WHERE sku = 'SKU-2'")

        assert await eventually(landed) == [{"sku": "SKU-2", "unit_code": "BX"}]
    assert await rows_of(db, "SELECT count(*) AS n FROM ingest_rejections") == [{"n": 0}]


async def test_9_health_shows_every_subsystem(
    client: TestClient[Any, Any], agent: RunningAgent, database_url: str
) -> None:
    assert agent.client is not None
    await agent.client.heartbeat()
    with running_worker(database_url, env=WORKER_ENV):
        response = await client.get("/health")
        health = await response.json()
    assert response.status == 200, health
    assert health["database"]["status"] == "up"
    assert set(health["queues"]) == {"order-sync", "reconciliation", "maintenance"}
    assert health["workers"]["alive"] >= 1
    assert (health["agents"]["online"], health["agents"]["total"]) == (1, 1)


async def test_10_past_the_rate_limit_the_agent_is_told_to_wait(agent: RunningAgent) -> None:
    assert agent.client is not None
    pusher = _pusher(agent)
    catalog = Catalog()
    catalog.put_warehouse({"erpWarehouseId": "WH-1", "name": "Main", "code": "W1"})
    for _ in range(3):  # RATE_LIMIT_SYNC_BATCH_PER_MINUTE
        await pusher.push_snapshot(catalog, ["warehouses"])
    with pytest.raises(PushFailed, match="429") as refused:
        await pusher.push_snapshot(catalog, ["warehouses"])
    cause = refused.value.__cause__
    assert isinstance(cause, AgentApiError)
    assert cause.status == 429
    assert cause.retry_after is not None
    # The sliding-window counter (docs/rate-limits.md) may ask for more than a minute:
    # when the window is full, until the next one and the carried count has decayed,
    # i.e. before the end of the window after the current one.
    assert 0 < cause.retry_after < 2 * 60


async def test_11_foreign_deregistered_and_unproven_tokens_are_refused(
    client: TestClient[Any, Any],
    agent: RunningAgent,
    http_session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    assert agent.client is not None
    async with enrolled_agent(http_session, base_url(client), OTHER, tmp_path) as other:
        assert other.client is not None
        # A vendor's token on another vendor's data.
        borrowed = AgentClient(http_session, base_url(client), OTHER, agent.client.credentials_path)
        with pytest.raises(Exception, match="holds the credentials of vendor"):
            await borrowed.heartbeat()
        response = await client.post(
            "/api/agents/heartbeat",
            json={"vendorId": OTHER},
            headers={"Authorization": f"Bearer {agent.token}", "X-Vendor-ID": OTHER},
        )
        assert response.status in (401, 403)

        # Re-registration without the current token (the enrolment secret is not enough).
        response = await client.post(
            "/api/agents/register",
            json={
                "vendorId": OTHER,
                "agentUrl": "http://127.0.0.1:9/x",
                "erpType": "sage",
                "authToken": "a-new-token-for-a-takeover-0123",
            },
            headers={"Authorization": f"Bearer {AGENT_SECRET}"},
        )
        assert response.status == 401

        # A deregistered agent's token stops working at once.
        await other.client.heartbeat()
        response = await client.delete(f"/api/admin/agents/{OTHER}", headers=ADMIN)
        assert response.status in (200, 204)
        with pytest.raises(AgentApiError) as refused:
            await other.client.heartbeat()
        assert refused.value.status == 401
    await agent.client.heartbeat()  # the other vendor's agent is unaffected
