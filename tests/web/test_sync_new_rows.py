"""Rows none of whose keys is stored: COPY straight into the table (db.ingest.insert_new_rows).

The same rows must land as the upsert lands them, and a key that a concurrent push inserts
meanwhile must send the request down the upsert path, losing nothing and failing nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient
from psycopg.rows import dict_row

from restosync.db import ingest as ingest_db
from tests.agents import enrol
from tests.ingest import Conn, at, item, outcomes, push, rows_of, seed_mappings, stock, warehouse

FAST, UPSERTED = "vendor-new-rows", "vendor-upserted"

# Every kind of value the insert must store as the upsert does: meta fields (gathered into
# `extra`: none, some, an empty string), nulls, numbers, time forms, texts to escape.
ROWS = [
    item("SKU-1", metaTitle=None),
    item("SKU-2", metaDescription="Line one\nline\ttwo \\ end", metaKeywords=""),
    item(
        "SKU-3",
        name='Crème "brûlée" 1/2',
        description="Back\\slash",
        barcode="3760001",
        unitPrice=0.1,
        weight="1E+3",
        daysToShip=0,
        isActive=False,
        currency="usd",
        slug="given-slug",
    ),
    {**item("SKU-4", erpFamilyCode=None, metaTitle=None), "lastSyncedAt": "2026-03-01T10:00:00"},
    {**item("SKU-5"), "lastSyncedAt": "2026-03-01T09:00:00.123456+01:00"},
]

COLUMNS = (
    "sku, erp_id, name, description, slug, barcode, erp_unit_code, erp_vat_code, "
    "erp_family_code, erp_subfamily_code, unit_code, unit_label, vat_code, vat_label, vat_rate, "
    "family_code, family_label, subfamily_code, subfamily_label, unit_price, price_excl_vat, "
    "price_incl_vat, vat_amount, catalog_price, purchase_price, minimum_order_quantity, "
    "currency, manage_stock, allow_negative_stock, stock_booking_allowed, "
    "automatic_stock_booking, tracking_mode, pick_movement_disallowed_on_totally_booked_item, "
    "weight, weight_unit, height, width, length, dimension_unit, items_per_package, brand, "
    "days_to_ship, ship_price_ttc, origin_country_code, extra, is_active, publish_on_web, "
    "is_obsolete, total_real_stock, total_virtual_stock, total_reserved_quantity, content_hash, "
    "last_synced_at"
)


@pytest.fixture
async def agents(client: TestClient[Any, Any], db: Conn) -> None:
    for vendor in (FAST, UPSERTED):
        await enrol(client, vendor)
        await seed_mappings(db, vendor)


async def _written_in_a_savepoint(db: Conn, vendor: str, sku: str) -> bool:
    """Whether the item was written in a subtransaction of its push (the insert's savepoint),
    not by the push's own transaction (which wrote its ingest_batches row)."""
    [row] = await rows_of(
        db,
        "SELECT i.xmin::text <> b.xmin::text AS sub FROM items i, ingest_batches b "
        "WHERE i.vendor_id = %s AND i.sku = %s AND b.vendor_id = i.vendor_id "
        "ORDER BY b.id DESC LIMIT 1",
        vendor,
        sku,
    )
    return bool(row["sub"])


@pytest.mark.usefixtures("agents")
async def test_new_items_are_stored_as_the_upsert_stores_them(
    client: TestClient[Any, Any], db: Conn
) -> None:
    answer = await push(client, FAST, "items", ROWS)
    assert answer["processed"] == len(ROWS)
    # One of the keys stored already: the whole request goes through the upsert.
    await push(client, UPSERTED, "items", [item("SKU-1", minutes=-5, name="Older")])
    answer = await push(client, UPSERTED, "items", ROWS)
    assert answer["processed"] == len(ROWS)

    assert await _written_in_a_savepoint(db, FAST, "SKU-3")
    assert not await _written_in_a_savepoint(db, UPSERTED, "SKU-3")
    query = f"SELECT {COLUMNS} FROM items WHERE vendor_id = %s ORDER BY sku"
    inserted = await rows_of(db, query, FAST)
    upserted = await rows_of(db, query, UPSERTED)
    assert inserted == upserted
    extras = {row["sku"]: row["extra"] for row in inserted}
    assert extras == {
        "SKU-1": {},
        "SKU-2": {
            "meta_title": "Buy SKU-2",
            "meta_description": "Line one\nline\ttwo \\ end",
            "meta_keywords": "",
        },
        "SKU-3": {"meta_title": "Buy SKU-3"},
        "SKU-4": {},
        "SKU-5": {"meta_title": "Buy SKU-5"},
    }
    assert inserted[2]["name"] == 'Crème "brûlée" 1/2'


async def _waiting_for_a_lock(db: Conn) -> bool:
    rows = await rows_of(
        db,
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'",
    )
    return bool(rows)


_NEW_ITEM = (
    "INSERT INTO items (vendor_id, sku, name, slug, erp_unit_code, erp_vat_code, unit_code, "
    "vat_code, vat_rate, content_hash, last_synced_at) "
    "VALUES (%s, %s, %s, 'other', 'PCE', 'TVA20', 'U', 'V20', 20, 'other-hash', %s)"
)


async def _push_meanwhile(
    client: TestClient[Any, Any],
    db: Conn,
    database_url: str,
    entity: str,
    rows: list[Any],
    insert: tuple[str, list[Any]],
) -> dict[str, Any]:
    """Push rows while another transaction has inserted one of their keys: the push does
    not see it, its insert waits for it; the other transaction commits, then the answer."""
    async with await psycopg.AsyncConnection.connect(database_url) as other:
        await other.execute(*insert)
        pushing = asyncio.create_task(push(client, FAST, entity, rows))
        for _ in range(200):
            if await _waiting_for_a_lock(db) or pushing.done():
                break
            await asyncio.sleep(0.05)
        assert not pushing.done()
        await other.commit()
        return await pushing


@pytest.mark.usefixtures("agents")
async def test_an_item_inserted_meanwhile_sends_the_push_to_the_upsert(
    client: TestClient[Any, Any], db: Conn, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="restosync.db.ingest")
    rows = [item("SKU-1"), item("SKU-2", minutes=5), item("SKU-3")]
    # A concurrent push's insert of SKU-2, an older version, not committed yet.
    insert = (_NEW_ITEM, [FAST, "SKU-2", "Concurrent", at(0)])
    answer = await _push_meanwhile(client, db, database_url, "items", rows, insert)
    assert outcomes(answer) == [
        ("SKU-1", "processed", None),
        ("SKU-2", "processed", None),
        ("SKU-3", "processed", None),
    ]
    assert "a concurrent push inserted some of these items keys first" in caplog.text
    stored = await rows_of(
        db, "SELECT sku, name, content_hash FROM items WHERE vendor_id = %s ORDER BY sku", FAST
    )
    assert [(r["sku"], r["name"], r["content_hash"]) for r in stored] == [
        (row["sku"], row["name"], row["contentHash"]) for row in rows
    ]


@pytest.mark.usefixtures("agents")
async def test_a_newer_item_inserted_meanwhile_makes_the_pushed_one_stale(
    client: TestClient[Any, Any], db: Conn, database_url: str
) -> None:
    rows = [item("SKU-1"), item("SKU-2")]
    insert = (_NEW_ITEM, [FAST, "SKU-1", "Newer", at(30)])
    answer = await _push_meanwhile(client, db, database_url, "items", rows, insert)
    assert outcomes(answer) == [
        ("SKU-1", "failed", "stale_data"),
        ("SKU-2", "processed", None),
    ]
    stored = await rows_of(
        db, "SELECT sku, name FROM items WHERE vendor_id = %s ORDER BY sku", FAST
    )
    assert [(r["sku"], r["name"]) for r in stored] == [("SKU-1", "Newer"), ("SKU-2", "Item SKU-2")]


@pytest.mark.usefixtures("agents")
async def test_a_stock_row_inserted_meanwhile_sends_the_push_to_the_upsert(
    client: TestClient[Any, Any], db: Conn, database_url: str
) -> None:
    await push(client, FAST, "warehouses", [warehouse("W1"), warehouse("W2")])
    await push(client, FAST, "items", [item("SKU-1"), item("SKU-2")])
    rows = [
        stock("SKU-1", "W1", 10, 2, minutes=5),
        stock("SKU-1", "W2", 3, 1),
        stock("SKU-2", "W1", 4, 0),
    ]
    insert = (
        "INSERT INTO stock (vendor_id, item_id, warehouse_id, real_stock, virtual_stock, "
        "reserved_quantity, content_hash, last_synced_at) "
        "SELECT %s, i.id, w.id, 99, 99, 0, 'other-hash', %s FROM items i, warehouses w "
        "WHERE i.vendor_id = %s AND i.sku = 'SKU-1' AND w.vendor_id = i.vendor_id "
        "AND w.erp_warehouse_id = 'W1'",
        [FAST, at(0), FAST],
    )
    answer = await _push_meanwhile(client, db, database_url, "stock", rows, insert)
    assert answer["processed"] == 3
    stored = await rows_of(
        db,
        "SELECT i.sku, w.erp_warehouse_id, s.real_stock::float8 AS real, s.content_hash "
        "FROM stock s JOIN items i ON i.id = s.item_id JOIN warehouses w ON w.id = s.warehouse_id "
        "ORDER BY 1, 2",
    )
    assert [(r["sku"], r["erp_warehouse_id"], r["real"], r["content_hash"]) for r in stored] == [
        (row["itemSku"], row["erpWarehouseId"], row["realStock"], row["contentHash"])
        for row in rows
    ]
    totals = await rows_of(
        db,
        "SELECT sku, total_real_stock::float8 AS t FROM items WHERE vendor_id = %s ORDER BY sku",
        FAST,
    )
    assert [(r["sku"], r["t"]) for r in totals] == [("SKU-1", 13.0), ("SKU-2", 4.0)]


async def test_the_insert_refuses_to_run_outside_a_transaction(database_url: str) -> None:
    # Its savepoint would then be a transaction of its own, committed at once.
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        with pytest.raises(RuntimeError, match="inside the caller's transaction"):
            await ingest_db.insert_new_rows(conn, "items", [])
