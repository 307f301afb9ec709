"""SPEC §9 scenario 8 over real HTTP: drift → an admin trigger → a worker process repairs it."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from restosync.agent.catalog import MAPPINGS, Catalog, stock_key
from restosync.agent.erp import SimulatedErp
from restosync.agent.server import AgentServer
from tests.agents import ADMIN, enrol
from tests.ingest import Conn, eventually, push, seed_mappings
from tests.processes import running_worker
from tests.reconciliation import erp_side, postgres_side

VENDOR = "vendor-drift"


async def _events(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/admin/reconciliation/events", params={"vendorId": VENDOR}, headers=ADMIN
    )
    page = await response.json()
    data: list[dict[str, Any]] = page["data"]
    return data


async def test_drift_of_every_kind_is_found_and_fixed(
    client: TestClient[Any, Any], db: Conn, database_url: str
) -> None:
    catalog = Catalog.generate(40, warehouses=2, seed=11)
    secret: list[str] = []
    agent = AgentServer(SimulatedErp(), lambda: secret[0], catalog=catalog)
    url = await agent.start()
    try:
        secret.append((await enrol(client, VENDOR, url=url))["outboundSecret"])
        await seed_mappings(db, VENDOR, MAPPINGS)
        for entity in ("warehouses", "items", "stock"):
            answer = await push(client, VENDOR, entity, catalog.rows(entity), batch=True)
            assert answer["failed"] == 0, answer
        catalog.change_item("SKU-0000007", name="Changed in the ERP")
        catalog.remove_item("SKU-0000012")
        catalog.add_item("0-first-of-all", seed=1)
        catalog.add_item("~last-of-all", seed=2)
        catalog.set_stock(stock_key("SKU-0000030", "WH-01"), real=77)

        small = {"RECONCILIATION_LEAF_ROWS": "3", "RECONCILIATION_FANOUT": "4"}
        with running_worker(database_url, queues="reconciliation", env=small):
            response = await client.post(
                "/api/admin/reconciliation/trigger", json={"vendorId": VENDOR}, headers=ADMIN
            )
            assert response.status == 202
            [deferred] = (await response.json())["deferred"]
            assert deferred["jobId"] is not None

            async def both_resolved() -> list[dict[str, Any]] | None:
                events = await _events(client)
                resolved = [e for e in events if e["eventType"] in ("drift_resolved", "error")]
                return events if len(resolved) == 2 else None

            events = await eventually(both_resolved)
        assert events is not None
        by_kind = {(e["eventType"], e["entity"]): e for e in events}
        assert set(by_kind) == {
            ("drift_detected", "items"), ("drift_resolved", "items"),
            ("drift_detected", "stock"), ("drift_resolved", "stock"),
        }  # fmt: skip
        items = by_kind[("drift_detected", "items")]["summary"]["driftedKeys"]
        assert items == {
            "changed": ["SKU-0000007"],
            "missingInPostgres": ["0-first-of-all", "~last-of-all"],
            "missingInErp": ["SKU-0000012"],
        }
        assert by_kind[("drift_resolved", "stock")]["summary"]["after"]["verified"] is True
        for entity in ("items", "stock"):
            assert await postgres_side(db, VENDOR, entity) == erp_side(catalog, entity)
        assert agent.catalog_calls() > 4  # narrowed over levels (leaf rows 3, fan-out 4)
    finally:
        await agent.stop()


async def test_trigger_over_http_is_refused_without_the_admin_key(
    client: TestClient[Any, Any], http_session: aiohttp.ClientSession
) -> None:
    response = await http_session.post(
        str(client.make_url("/api/admin/reconciliation/trigger")), json={}
    )
    assert response.status == 401
    assert response.content_type == "application/problem+json"
