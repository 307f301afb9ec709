"""Rejected rows: kept per key, listed for admins, and replayed without the agent resending."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.agents import ADMIN, enrol
from tests.ingest import (
    Conn,
    eventually,
    item,
    outcomes,
    push,
    rows_of,
    seed_mappings,
    stock,
    warehouse,
)

VENDOR = "vendor-rejections"


@pytest.fixture
async def agent(client: TestClient[Any, Any], db: Conn) -> str:
    await enrol(client, VENDOR)
    await seed_mappings(db, VENDOR)
    return VENDOR


async def _replay_jobs(db: Conn) -> list[dict[str, Any]]:
    return await rows_of(
        db,
        "SELECT queue_name, lock, args, status FROM procrastinate_jobs "
        "WHERE task_name = 'ingest:replay_rejections' ORDER BY id",
    )


async def test_admins_list_rejections_with_filters_and_pages(
    client: TestClient[Any, Any], agent: str
) -> None:
    await push(
        client,
        agent,
        "items",
        [item("SKU-1", erpUnitCode="KG"), item("SKU-2", erpUnitCode="KG"), item("SKU-3", name="")],
    )
    await push(client, agent, "stock", [stock("SKU-9", "W1")])
    response = await client.get(
        "/api/admin/rejections",
        params={"vendorId": agent, "entity": "items", "reason": "unmapped_unit", "limit": 1},
        headers=ADMIN,
    )
    page = await response.json()
    assert response.status == 200, page
    assert page["meta"] == {"page": 1, "limit": 1, "total": 2, "totalPages": 2}
    [row] = page["data"]
    assert row["entity"] == "items"
    assert row["reason"] == "unmapped_unit"
    assert (row["blockedByType"], row["blockedByCode"]) == ("unit", "KG")
    assert row["rawRow"]["erpUnitCode"] == "KG"
    assert row["seenCount"] == 1
    everything = await (await client.get("/api/admin/rejections", headers=ADMIN)).json()
    assert sorted((r["rowKey"], r["reason"]) for r in everything["data"]) == [
        ("SKU-1", "unmapped_unit"),
        ("SKU-2", "unmapped_unit"),
        ("SKU-3", "invalid"),
        ("SKU-9|W1", "unknown_item"),
    ]
    assert (await client.get("/api/admin/rejections")).status == 401


async def test_admin_replay_lands_rows_whose_mapping_a_dba_added(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    await push(
        client, agent, "items", [item("SKU-1", erpUnitCode="KG"), item("SKU-2", erpVatCode="X")]
    )
    await seed_mappings(db, agent, (("unit", "KG", "KGM", "Kilogram", None),))
    response = await client.post(
        "/api/admin/rejections/replay", json={"vendorId": agent, "entity": "items"}, headers=ADMIN
    )
    result = await response.json()
    assert response.status == 200, result
    assert result == {"vendorId": agent, "replayed": 2, "processed": 1, "skipped": 0, "failed": 1}
    [landed] = await rows_of(db, "SELECT sku, unit_code FROM items")
    assert (landed["sku"], landed["unit_code"]) == ("SKU-1", "KGM")
    rejections = await rows_of(db, "SELECT row_key, reason, seen_count FROM ingest_rejections")
    assert [tuple(r.values()) for r in rejections] == [("SKU-2", "unmapped_vat", 1)]
    [audit] = await rows_of(db, "SELECT action, target_type, target_id, details FROM audit_log")
    assert (audit["action"], audit["target_id"]) == ("rejections.replay", agent)
    assert audit["details"]["processed"] == 1
    assert await rows_of(db, "SELECT 1 FROM ingest_batches WHERE processed_count = 1") == []


async def test_an_item_landing_defers_the_replay_of_stock_waiting_for_it(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    await push(client, agent, "warehouses", [warehouse("W1")])
    await push(client, agent, "stock", [stock("SKU-1", "W1"), stock("SKU-2", "W1")])
    assert await _replay_jobs(db) == []
    await push(client, agent, "items", [item("SKU-1")], dry_run=True)
    assert await _replay_jobs(db) == []  # rolled back with the dry run

    await push(client, agent, "items", [item("SKU-1"), item("SKU-3")])

    [job] = await _replay_jobs(db)
    assert job["queue_name"] == "maintenance"
    assert job["lock"] == f"ingest-replay:{agent}"
    assert job["args"] == {
        "vendor_id": agent,
        "blocked_by_type": "item",
        "blocked_by_codes": ["SKU-1"],
    }


async def test_stock_waiting_for_a_warehouse_lands_when_it_arrives(
    client: TestClient[Any, Any], db: Conn, agent: str, worker: subprocess.Popen[bytes]
) -> None:
    await push(client, agent, "items", [item("SKU-1")])
    answer = await push(client, agent, "stock", [stock("SKU-1", "W1", 7, 2)])
    assert outcomes(answer) == [("SKU-1|W1", "failed", "unknown_warehouse")]

    await push(client, agent, "warehouses", [warehouse("W1")])

    async def landed() -> list[dict[str, Any]]:
        return await rows_of(db, "SELECT total_real_stock FROM items WHERE total_real_stock > 0")

    assert await eventually(landed) == [{"total_real_stock": Decimal(7)}]
    assert await rows_of(db, "SELECT 1 FROM ingest_rejections") == []


async def test_unmapped_item_lands_once_an_admin_adds_the_mapping(
    client: TestClient[Any, Any], db: Conn, agent: str, worker: subprocess.Popen[bytes]
) -> None:
    """SPEC §9 scenario 4, end to end: the agent never resends the row."""
    answer = await push(client, agent, "items", [item("SKU-1"), item("SKU-2", erpUnitCode="BOX")])
    assert outcomes(answer) == [("SKU-1", "processed", None), ("SKU-2", "failed", "unmapped_unit")]

    response = await client.post(
        "/api/admin/mappings",
        json={
            "vendorId": agent,
            "mappingType": "unit",
            "erpCode": "BOX",
            "restoCode": "BX",
            "restoLabel": "Box",
        },
        headers=ADMIN,
    )
    assert response.status == 201, await response.text()

    async def landed() -> list[dict[str, Any]]:
        return await rows_of(db, "SELECT sku, unit_code FROM items WHERE sku = 'SKU-2'")

    assert await eventually(landed) == [{"sku": "SKU-2", "unit_code": "BX"}]
    assert await rows_of(db, "SELECT 1 FROM ingest_rejections") == []
