"""Several agents pushing overlapping rows at once: no deadlock, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from restosync.settings import Settings
from tests.agents import agent_headers, enrol
from tests.ingest import (
    Conn,
    item,
    rows_of,
    seed_mappings,
    stock,
    token_of,
    tombstone,
    warehouse,
)

VENDORS = ("vendor-a", "vendor-b", "vendor-c")
SKUS = [f"S{n:03d}" for n in range(100)]
WAREHOUSES = ["W1", "W2", "W3", "W4"]
VERSIONS = range(6)  # version k is sent at minute 10 + k; the last one must win
LAST = VERSIONS[-1]


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(RATE_LIMITS_ENABLED=False, DATABASE_POOL_MAX=8)


def _real(k: int, sku: str, wh: str) -> int:
    return 100 * k + SKUS.index(sku) + WAREHOUSES.index(wh)


def _requests(vendor: str, k: int, rng: random.Random) -> list[tuple[str, str, list[Any]]]:
    """Version k of every row of the vendor, in a shuffled order, with some tombstones."""
    minutes = 10 + k
    items: list[Any] = [item(sku, minutes=minutes, name=f"v{k}") for sku in SKUS]
    stocks: list[Any] = [
        stock(sku, wh, _real(k, sku, wh), 1, minutes=minutes) for sku in SKUS for wh in WAREHOUSES
    ]
    if k in (1, 2):  # tombstones of older versions: they must not win over version 3
        items[:5] = [tombstone("items", sku, minutes=minutes) for sku in SKUS[:5]]
        stocks[:8] = [
            tombstone("stock", f"{r['itemSku']}|{r['erpWarehouseId']}", minutes=minutes)
            for r in stocks[:8]
        ]
    whs = [warehouse(wh, minutes=minutes, city=f"c{k}") for wh in WAREHOUSES]
    for rows in (items, stocks, whs):
        rng.shuffle(rows)
    return [("items", "/batch", items), ("stock", "/batch", stocks), ("warehouses", "", whs)]


async def _post(
    client: TestClient[Any, Any], vendor: str, entity: str, suffix: str, rows: list[Any]
) -> dict[str, Any]:
    response = await client.post(
        f"/api/sync/{entity}{suffix}",
        json={"vendorId": vendor, entity: rows},
        headers=agent_headers(vendor, token_of(vendor)),
    )
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    return body


async def test_overlapping_pushes_of_several_agents(client: TestClient[Any, Any], db: Conn) -> None:
    for vendor in VENDORS:
        await enrol(client, vendor)
        await seed_mappings(db, vendor)
        await _post(client, vendor, "warehouses", "", [warehouse(wh) for wh in WAREHOUSES])
        await _post(client, vendor, "items", "/batch", [item(sku) for sku in SKUS])

    rng = random.Random(42)
    requests = [
        (vendor, *request)
        for vendor in VENDORS
        for k in VERSIONS
        for request in _requests(vendor, k, rng)
    ]
    rng.shuffle(requests)
    answers = await asyncio.gather(*(_post(client, *request) for request in requests))

    reasons = {r.get("reason") for a in answers for r in a["results"]}
    assert reasons <= {None, "stale_data", "no_changes", "not_found"}, reasons
    for vendor in VENDORS:
        await _assert_latest_versions_won(db, vendor)
    # Stock totals are the sums over all stock rows, for every item.
    assert (
        await rows_of(
            db,
            "SELECT i.sku FROM items i LEFT JOIN stock s ON s.item_id = i.id GROUP BY i.id "
            "HAVING (i.total_real_stock, i.total_virtual_stock, i.total_reserved_quantity) "
            "<> (coalesce(sum(s.real_stock), 0), coalesce(sum(s.virtual_stock), 0), "
            "coalesce(sum(s.reserved_quantity), 0))",
        )
        == []
    )


async def _assert_latest_versions_won(db: Conn, vendor: str) -> None:
    items = await rows_of(db, "SELECT sku, name, is_active FROM items WHERE vendor_id = %s", vendor)
    assert sorted(r["sku"] for r in items) == SKUS  # none lost, none doubled
    assert {(r["name"], r["is_active"]) for r in items} == {(f"v{LAST}", True)}
    rows = await rows_of(
        db,
        "SELECT i.sku, w.erp_warehouse_id AS wh, s.real_stock, s.reserved_quantity "
        "FROM stock s JOIN items i ON i.id = s.item_id JOIN warehouses w ON w.id = s.warehouse_id "
        "WHERE s.vendor_id = %s",
        vendor,
    )
    assert len(rows) == len(SKUS) * len(WAREHOUSES)
    assert all(r["real_stock"] == _real(LAST, r["sku"], r["wh"]) for r in rows)
    [total] = await rows_of(
        db, "SELECT sum(total_real_stock) AS real FROM items WHERE vendor_id = %s", vendor
    )
    expected = sum(_real(LAST, sku, wh) for sku in SKUS for wh in WAREHOUSES)
    assert total["real"] == Decimal(expected)
    cities = await rows_of(db, "SELECT city FROM warehouses WHERE vendor_id = %s", vendor)
    assert [r["city"] for r in cities] == [f"c{LAST}"] * len(WAREHOUSES)
