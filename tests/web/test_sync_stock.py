"""POST /api/sync/stock and /warehouses: key resolution, item totals, tombstones (SPEC §4)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.agents import enrol
from tests.ingest import (
    Conn,
    item,
    outcomes,
    push,
    rows_of,
    seed_mappings,
    stock,
    tombstone,
    warehouse,
)

VENDOR = "vendor-stock"


@pytest.fixture
async def agent(client: TestClient[Any, Any], db: Conn) -> str:
    await enrol(client, VENDOR)
    await seed_mappings(db, VENDOR)
    await push(client, VENDOR, "warehouses", [warehouse("W1"), warehouse("W2")])
    await push(client, VENDOR, "items", [item("SKU-1"), item("SKU-2")])
    return VENDOR


async def totals(db: Conn, sku: str) -> tuple[Decimal, Decimal, Decimal]:
    [row] = await rows_of(
        db,
        "SELECT total_real_stock, total_virtual_stock, total_reserved_quantity "
        "FROM items WHERE sku = %s",
        sku,
    )
    return row["total_real_stock"], row["total_virtual_stock"], row["total_reserved_quantity"]


async def test_stock_lands_and_item_totals_are_the_sums_over_all_warehouses(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    answer = await push(
        client,
        agent,
        "stock",
        [
            stock("SKU-1", "W1", 10, 2, pump="3.5"),
            stock("SKU-1", "W2", 5.5, 1),
            stock("SKU-2", "W1", 4, 0),
        ],
    )
    assert answer["processed"] == 3
    assert await totals(db, "SKU-1") == (Decimal("15.5"), Decimal("12.5"), Decimal(3))
    assert await totals(db, "SKU-2") == (Decimal(4), Decimal(4), Decimal(0))
    # One warehouse changes: the totals still cover the row that was not sent.
    await push(client, agent, "stock", [stock("SKU-1", "W2", 1, 1, minutes=1)])
    assert await totals(db, "SKU-1") == (Decimal(11), Decimal(8), Decimal(3))
    [row] = await rows_of(
        db,
        "SELECT s.pump, s.real_stock, w.erp_warehouse_id FROM stock s "
        "JOIN warehouses w ON w.id = s.warehouse_id JOIN items i ON i.id = s.item_id "
        "WHERE i.sku = 'SKU-1' AND w.erp_warehouse_id = 'W1'",
    )
    assert (row["pump"], row["real_stock"]) == (Decimal("3.5"), Decimal(10))


async def test_unknown_keys_and_bad_virtual_stock_fail_alone(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    bad_virtual = {**stock("SKU-2", "W2"), "virtualStock": 99}
    answer = await push(
        client,
        agent,
        "stock",
        [stock("NOPE", "W1"), stock("SKU-1", "W9"), bad_virtual, stock("SKU-1", "W1")],
    )
    assert outcomes(answer) == [
        ("NOPE|W1", "failed", "unknown_item"),
        ("SKU-1|W9", "failed", "unknown_warehouse"),
        ("SKU-2|W2", "failed", "invalid"),
        ("SKU-1|W1", "processed", None),
    ]
    assert answer["results"][2]["errors"][0]["msg"].endswith("(within 0.001)")
    rejections = await rows_of(
        db,
        "SELECT row_key, reason, blocked_by_type, blocked_by_code FROM ingest_rejections "
        "WHERE entity = 'stock' ORDER BY row_key",
    )
    assert [tuple(r.values()) for r in rejections] == [
        ("NOPE|W1", "unknown_item", "item", "NOPE"),
        ("SKU-1|W9", "unknown_warehouse", "warehouse", "W9"),
        ("SKU-2|W2", "invalid", None, None),
    ]


async def test_unchanged_and_stale_stock(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    await push(client, agent, "stock", [stock("SKU-1", "W1", minutes=5)])
    answer = await push(
        client,
        agent,
        "stock",
        [stock("SKU-1", "W1", minutes=5), stock("SKU-1", "W1", 3, 1, minutes=2)],
    )
    # The duplicate with the latest time is kept, and it is the stored version.
    assert outcomes(answer) == [
        ("SKU-1|W1", "skipped", "no_changes"),
        ("SKU-1|W1", "skipped", "duplicate_in_request"),
    ]
    stale = await push(client, agent, "stock", [stock("SKU-1", "W1", 3, 1, minutes=2)])
    assert outcomes(stale) == [("SKU-1|W1", "failed", "stale_data")]
    assert await totals(db, "SKU-1") == (Decimal(10), Decimal(8), Decimal(2))


async def test_stock_tombstones_zero_the_row_and_the_totals(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    await push(client, agent, "stock", [stock("SKU-1", "W1", 10, 2), stock("SKU-1", "W2", 4, 1)])
    answer = await push(
        client,
        agent,
        "stock",
        [
            tombstone("stock", "SKU-1|W1"),
            tombstone("stock", "SKU-2|W1"),
            stock("SKU-1", "W2", 6, 1, minutes=1),
        ],
    )
    assert outcomes(answer) == [
        ("SKU-1|W1", "processed", None),
        ("SKU-2|W1", "skipped", "not_found"),
        ("SKU-1|W2", "processed", None),
    ]
    [zeroed] = await rows_of(
        db,
        "SELECT real_stock, virtual_stock, reserved_quantity, ordered_quantity, "
        "incoming_quantity FROM stock s JOIN warehouses w ON w.id = s.warehouse_id "
        "WHERE w.erp_warehouse_id = 'W1'",
    )
    assert set(zeroed.values()) == {Decimal(0)}
    assert await totals(db, "SKU-1") == (Decimal(6), Decimal(5), Decimal(1))


async def test_warehouses_update_deactivate_and_keep_codes_unique(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    answer = await push(
        client,
        agent,
        "warehouses",
        [
            warehouse("W1", minutes=1, city="Lyon", country="FR", latitude="45.76", type=1),
            warehouse("W3", code="W2"),  # W2's code
            warehouse("W4", code="NEW"),
            warehouse("W5", code="NEW"),  # same code as W4 in this request
            tombstone("warehouses", "W2"),
        ],
    )
    assert outcomes(answer) == [
        ("W1", "processed", None),
        ("W3", "failed", "invalid"),
        ("W4", "failed", "invalid"),
        ("W5", "failed", "invalid"),
        ("W2", "processed", None),
    ]
    assert answer["results"][1]["errors"] == [
        {"loc": ["code"], "msg": "code 'W2' is already used by warehouse 'W2'"}
    ]
    rows = await rows_of(
        db,
        "SELECT erp_warehouse_id, city, country, latitude, type, is_active FROM warehouses "
        "ORDER BY erp_warehouse_id",
    )
    assert [tuple(r.values()) for r in rows] == [
        ("W1", "Lyon", "FR", Decimal("45.76"), 1, True),
        ("W2", None, None, None, 0, False),
    ]


async def test_sync_times_with_far_offsets_are_stored_as_their_instant(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    # ISO 8601 allows offsets up to ±23:59; PostgreSQL reads none past ±15:59 as text,
    # which is how COPY and the JSON statements carry them. Each write path, once.
    far = "2026-03-01T00:00:00.25+20:00"  # 2026-02-28T04:00:00.25Z
    pushed = [
        ("warehouses", {**warehouse("W3"), "lastSyncedAt": far}),
        ("items", {**item("SKU-3"), "lastSyncedAt": far}),
        ("stock", {**stock("SKU-3", "W3"), "lastSyncedAt": far}),
        ("items", {**tombstone("items", "SKU-2"), "lastSyncedAt": "2026-03-01T00:00:00-23:59"}),
    ]
    for entity, row in pushed:
        answer = await push(client, agent, entity, [row])
        assert [o[1:] for o in outcomes(answer)] == [("processed", None)], (entity, answer)
    stored = await rows_of(
        db,
        "SELECT 'w' AS t, last_synced_at FROM warehouses WHERE erp_warehouse_id = 'W3' "
        "UNION ALL SELECT 'i:' || sku, last_synced_at FROM items WHERE sku IN ('SKU-2', 'SKU-3') "
        "UNION ALL SELECT 's', s.last_synced_at FROM stock AS s JOIN items AS i "
        "ON i.id = s.item_id WHERE i.sku = 'SKU-3' ORDER BY 1",
    )
    instant = datetime(2026, 2, 28, 4, 0, 0, 250_000, tzinfo=UTC)
    assert [(r["t"], r["last_synced_at"]) for r in stored] == [
        ("i:SKU-2", datetime(2026, 3, 1, 23, 59, tzinfo=UTC)),
        ("i:SKU-3", instant),
        ("s", instant),
        ("w", instant),
    ]


async def test_sync_times_in_every_accepted_form_are_stored_as_their_instant(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    # RFC 3339 times in UTC travel to COPY as sent; any other form as the validated
    # datetime (pydantic truncates past six fractional digits). Items and stock, each form.
    forms = {
        "2026-03-01T10:00:00Z": datetime(2026, 3, 1, 10, tzinfo=UTC),
        "2026-03-01T10:00:00.5Z": datetime(2026, 3, 1, 10, 0, 0, 500_000, tzinfo=UTC),
        "2026-03-01 10:00:00.123456+00:00": datetime(2026, 3, 1, 10, 0, 0, 123_456, tzinfo=UTC),
        "2026-03-01T10:00:00": datetime(2026, 3, 1, 10, tzinfo=UTC),  # no offset: UTC
        "2026-03-01T11:00:00+01:00": datetime(2026, 3, 1, 10, tzinfo=UTC),
        "2026-03-01T10:00:00.1234567Z": datetime(2026, 3, 1, 10, 0, 0, 123_456, tzinfo=UTC),
        "2026-03-01t10:00:00z": datetime(2026, 3, 1, 10, tzinfo=UTC),
    }
    await push(client, agent, "warehouses", [warehouse("W7")])
    skus = [f"SKU-T{n}" for n in range(len(forms))]
    items = [{**item(sku), "lastSyncedAt": sent} for sku, sent in zip(skus, forms, strict=True)]
    stock_rows = [
        {**stock(sku, "W7"), "lastSyncedAt": sent} for sku, sent in zip(skus, forms, strict=True)
    ]
    for entity, rows in (("items", items), ("stock", stock_rows)):
        answer = await push(client, agent, entity, rows)
        assert {o[1] for o in outcomes(answer)} == {"processed"}, answer
    stored = await rows_of(
        db,
        "SELECT i.sku, i.last_synced_at AS item_time, s.last_synced_at AS stock_time "
        "FROM items AS i JOIN stock AS s ON s.item_id = i.id WHERE i.sku = ANY(%s) "
        "ORDER BY i.sku",
        skus,
    )
    expected = list(forms.values())
    assert [r["item_time"] for r in stored] == expected
    assert [r["stock_time"] for r in stored] == expected
