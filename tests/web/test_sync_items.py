"""POST /api/sync/items[/batch] over real HTTP into real Postgres (SPEC §4, §9 scenarios 1-3)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from restosync.web.keys import POOL
from tests.agents import enrol
from tests.ingest import (
    Conn,
    at,
    eventually,
    item,
    outcomes,
    push,
    rows_of,
    seed_mappings,
    tombstone,
)

VENDOR = "vendor-items"


@pytest.fixture
async def agent(client: TestClient[Any, Any], db: Conn) -> str:
    await enrol(client, VENDOR)
    await seed_mappings(db, VENDOR)
    return VENDOR


async def test_agent_registers_pushes_items_and_they_are_in_postgres(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    rows = [item("SKU-1", name="Crème fraîche 1L", metaTitle="Fresh cream"), item("SKU-2")]
    answer = await push(client, agent, "items", rows)
    assert answer == {
        "processed": 2,
        "skipped": 0,
        "failed": 0,
        "results": [
            {"identifier": "SKU-1", "status": "processed"},
            {"identifier": "SKU-2", "status": "processed"},
        ],
    }
    [stored, _] = await rows_of(
        db,
        "SELECT sku, name, slug, unit_code, unit_label, vat_code, vat_rate, family_code, "
        "family_label, subfamily_code, unit_price, extra, is_active, content_hash, last_synced_at "
        "FROM items WHERE vendor_id = %s ORDER BY sku",
        agent,
    )
    assert stored["slug"] == "creme-fraiche-1l-sku-1"
    assert (stored["unit_code"], stored["unit_label"]) == ("U", "Unit")
    assert (stored["vat_code"], stored["vat_rate"]) == ("V20", Decimal(20))
    assert (stored["family_code"], stored["family_label"]) == ("F1", "Fresh products")
    assert stored["subfamily_code"] is None
    assert stored["unit_price"] == Decimal("12.50")
    assert stored["extra"] == {"meta_title": "Fresh cream"}
    assert stored["content_hash"] == rows[0]["contentHash"]
    assert stored["last_synced_at"].isoformat() == at(0)
    [batch] = await rows_of(
        db,
        "SELECT entity, mode, received_count, processed_count, skipped_count, failed_count, "
        "bytes, correlation_id, snapshot_id FROM ingest_batches",
    )
    assert batch["entity"] == "items"
    assert batch["mode"] == "incremental"
    assert (batch["received_count"], batch["processed_count"]) == (2, 2)
    assert batch["bytes"] > 0
    assert batch["correlation_id"]
    assert batch["snapshot_id"] is None


async def _item_versions(db: Conn) -> list[tuple[str, ...]]:
    """Each row's version: xmin/ctid change with a new version, xmax with a row lock too."""
    rows = await rows_of(
        db, "SELECT sku, xmin::text, xmax::text, ctid::text FROM items ORDER BY sku"
    )
    return [tuple(r.values()) for r in rows]


async def _table_stats(db: Conn, table: str) -> dict[str, int]:
    await db.execute("SELECT pg_stat_clear_snapshot()")
    [row] = await rows_of(
        db,
        "SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables "
        "WHERE relname = %s",
        table,
    )
    return dict(row)


async def _flushed_stats(client: TestClient[Any, Any], db: Conn, batches: int) -> bool:
    """Make the app's backends publish their statistics; True once `batches` pushes show.

    A backend publishes what it counted at most once a second, or 10 s later when idle;
    pg_stat_force_next_flush() makes each publish as soon as its statement ends.
    """
    pool = client.app[POOL]
    async with AsyncExitStack() as stack:
        for _ in range(pool.max_size):
            conn = await stack.enter_async_context(pool.connection())
            await conn.execute("SELECT pg_stat_force_next_flush()")
    return (await _table_stats(db, "ingest_batches"))["n_tup_ins"] >= batches


async def test_same_data_twice_is_skipped_and_writes_no_row(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    rows = [item(f"SKU-{n}") for n in range(20)]
    await push(client, agent, "items", rows, batch=True)
    # The ingest_batches insert of a push is published with the rest of its statistics.
    assert await eventually(lambda: _flushed_stats(client, db, 1))
    versions, stats = await _item_versions(db), await _table_stats(db, "items")
    assert stats["n_tup_ins"] == 20

    answer = await push(client, agent, "items", rows, batch=True)

    assert (answer["processed"], answer["skipped"], answer["failed"]) == (0, 20, 0)
    assert {r["reason"] for r in answer["results"]} == {"no_changes"}
    assert await eventually(lambda: _flushed_stats(client, db, 2))
    assert await _item_versions(db) == versions  # no new row version, not even a lock
    assert await _table_stats(db, "items") == stats  # no insert, update or delete


async def test_a_changed_row_is_written_and_an_older_one_is_stale(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    await push(client, agent, "items", [item("SKU-1", minutes=10), item("SKU-2", minutes=10)])
    answer = await push(
        client,
        agent,
        "items",
        [item("SKU-1", minutes=5, name="Old name"), item("SKU-2", minutes=11, name="New name")],
    )
    assert outcomes(answer) == [("SKU-1", "failed", "stale_data"), ("SKU-2", "processed", None)]
    names = await rows_of(db, "SELECT sku, name FROM items ORDER BY sku")
    assert [r["name"] for r in names] == ["Item SKU-1", "New name"]
    [rejection] = await rows_of(
        db, "SELECT row_key, reason, detail, raw_row, blocked_by_type FROM ingest_rejections"
    )
    assert rejection["row_key"] == "SKU-1"
    assert rejection["reason"] == "stale_data"
    assert rejection["raw_row"]["name"] == "Old name"
    assert rejection["blocked_by_type"] is None


async def test_bad_rows_fail_alone_with_field_errors(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    rows: list[Any] = [
        item("OK-1"),
        item("BAD-1", unitPrice=-1, erpUnitCode="x" * 51),
        "not an object",
        item("OK-2", someUnknownField={"nested": True}),
    ]
    answer = await push(client, agent, "items", rows)
    assert (answer["processed"], answer["skipped"], answer["failed"]) == (2, 0, 2)
    bad = answer["results"][1]
    assert (bad["identifier"], bad["status"], bad["reason"]) == ("BAD-1", "failed", "invalid")
    assert sorted(e["loc"] for e in bad["errors"]) == [["erpUnitCode"], ["unitPrice"]]
    assert answer["results"][2]["identifier"] == "#2"
    skus = await rows_of(db, "SELECT sku FROM items ORDER BY sku")
    assert [r["sku"] for r in skus] == ["OK-1", "OK-2"]


async def test_duplicates_in_one_request_keep_the_latest(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    rows = [item("SKU-1", minutes=2, name="Latest"), item("SKU-1", minutes=1, name="Older")]
    answer = await push(client, agent, "items", rows)
    assert outcomes(answer) == [
        ("SKU-1", "processed", None),
        ("SKU-1", "skipped", "duplicate_in_request"),
    ]
    assert [r["name"] for r in await rows_of(db, "SELECT name FROM items")] == ["Latest"]


async def test_unmapped_codes_fail_the_item_and_the_others_land(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    rows = [
        item("SKU-1"),
        item("SKU-2", erpUnitCode="KG"),
        item("SKU-3", erpVatCode="TVA55"),
        item("SKU-4", erpFamilyCode="UNKNOWN", erpSubfamilyCode="NONE"),
    ]
    answer = await push(client, agent, "items", rows)
    assert outcomes(answer) == [
        ("SKU-1", "processed", None),
        ("SKU-2", "failed", "unmapped_unit"),
        ("SKU-3", "failed", "unmapped_vat"),
        ("SKU-4", "processed", None),  # family and subfamily are optional
    ]
    [optional] = await rows_of(
        db, "SELECT family_code, subfamily_code FROM items WHERE sku = 'SKU-4'"
    )
    assert optional == {"family_code": None, "subfamily_code": None}
    rejections = await rows_of(
        db,
        "SELECT row_key, reason, blocked_by_type, blocked_by_code, seen_count "
        "FROM ingest_rejections ORDER BY row_key",
    )
    assert [tuple(r.values()) for r in rejections] == [
        ("SKU-2", "unmapped_unit", "unit", "KG", 1),
        ("SKU-3", "unmapped_vat", "vat", "TVA55", 1),
    ]
    # Sent again: still rejected, counted; the row lands once it is fixed by the ERP.
    again = await push(client, agent, "items", [rows[1], item("SKU-3", minutes=1)])
    assert outcomes(again)[0] == ("SKU-2", "failed", "unmapped_unit")
    rejections = await rows_of(db, "SELECT row_key, seen_count FROM ingest_rejections")
    assert [(r["row_key"], r["seen_count"]) for r in rejections] == [("SKU-2", 2)]


async def test_item_tombstones_deactivate(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    await push(client, agent, "items", [item("SKU-1"), item("SKU-2")])
    answer = await push(
        client,
        agent,
        "items",
        [
            tombstone("items", "SKU-1"),
            tombstone("items", "MISSING"),
            item("SKU-2", minutes=1, name="x"),
        ],
    )
    assert outcomes(answer) == [
        ("SKU-1", "processed", None),
        ("MISSING", "skipped", "not_found"),
        ("SKU-2", "processed", None),
    ]
    active = await rows_of(db, "SELECT sku, is_active FROM items ORDER BY sku")
    assert [(r["sku"], r["is_active"]) for r in active] == [("SKU-1", False), ("SKU-2", True)]
    again = await push(client, agent, "items", [tombstone("items", "SKU-1", minutes=2)])
    assert outcomes(again) == [("SKU-1", "skipped", "no_changes")]
    # The item comes back in the ERP: a newer full row reactivates it.
    back = await push(client, agent, "items", [item("SKU-1", minutes=3)])
    assert outcomes(back) == [("SKU-1", "processed", None)]
    assert (await rows_of(db, "SELECT is_active FROM items WHERE sku = 'SKU-1'"))[0]["is_active"]


async def test_dry_run_answers_as_usual_and_leaves_nothing(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    rows = [item("SKU-1"), item("SKU-2", erpUnitCode="KG")]
    answer = await push(client, agent, "items", rows, dry_run=True)
    assert outcomes(answer) == [("SKU-1", "processed", None), ("SKU-2", "failed", "unmapped_unit")]
    for table in ("items", "ingest_batches", "ingest_rejections", "procrastinate_jobs"):
        assert await rows_of(db, f"SELECT 1 FROM {table}") == [], table
    # The same push for real writes what the dry run announced.
    assert outcomes(await push(client, agent, "items", rows)) == outcomes(answer)
