"""Full snapshots: batch pages whose last commit retires the rows the snapshot lacked."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from restosync.db.pool import Pool
from restosync.errors import ConfigurationError
from restosync.models.ingest import Entity
from restosync.services.alerts import Alerter
from restosync.services.ingest import SnapshotOutcome, apply_snapshot
from restosync.settings import Settings, load_settings
from tests.agents import agent_headers, enrol
from tests.ingest import (
    JSON,
    Conn,
    eventually,
    item,
    outcomes,
    push,
    rows_of,
    seed_mappings,
    stock,
    token_of,
    tombstone,
    warehouse,
)

VENDOR = "vendor-snapshots"
OTHER = "vendor-snapshots-other"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # Several batch pushes per test: past the 5/min batch limit of one agent.
    return make_settings(RATE_LIMITS_ENABLED=False)


@pytest.fixture
async def agents(client: TestClient[Any, Any], db: Conn) -> None:
    for vendor in (VENDOR, OTHER):
        await enrol(client, vendor)
        await seed_mappings(db, vendor)


async def page(
    client: TestClient[Any, Any],
    entity: str,
    rows: list[Any],
    snapshot: Any,
    *,
    vendor: str = VENDOR,
    batch: bool = True,
    dry_run: bool = False,
    expect: int = 200,
) -> dict[str, Any]:
    """POST one snapshot page as the vendor's agent; the JSON answer, asserting its status."""
    response = await client.post(
        f"/api/sync/{entity}" + ("/batch" if batch else ""),
        data=io.BytesIO(orjson.dumps({"vendorId": vendor, entity: rows, "snapshot": snapshot})),
        params={"dryRun": "true"} if dry_run else None,
        headers={**agent_headers(vendor, token_of(vendor)), **JSON},
    )
    body: dict[str, Any] = await response.json()
    assert response.status == expect, body
    return body


def snap(snapshot_id: str, number: int, *, last: bool = False, **extra: Any) -> dict[str, Any]:
    return {"id": snapshot_id, "page": number, "last": last, **extra}


async def run_job(
    pool: Pool, settings: Settings, entity: Entity, snapshot_id: str, share: float = 0.5
) -> SnapshotOutcome:
    """What the ingest:apply_snapshot task does, called directly."""
    return await apply_snapshot(
        pool,
        Alerter(pool, settings, None),
        share,
        vendor_id=VENDOR,
        entity=entity,
        snapshot_id=snapshot_id,
    )


async def snapshot_jobs(db: Conn) -> list[dict[str, Any]]:
    return await rows_of(
        db,
        "SELECT queue_name, lock, args FROM procrastinate_jobs "
        "WHERE task_name = 'ingest:apply_snapshot' ORDER BY id",
    )


async def items_state(db: Conn, vendor: str = VENDOR) -> dict[str, tuple[bool, bool]]:
    rows = await rows_of(
        db, "SELECT sku, is_active, is_obsolete FROM items WHERE vendor_id = %s", vendor
    )
    return {r["sku"]: (r["is_active"], r["is_obsolete"]) for r in rows}


async def test_a_multi_page_items_snapshot_retires_exactly_the_items_it_lacked(
    client: TestClient[Any, Any], db: Conn, agents: None, pool: Pool, settings: Settings
) -> None:
    skus = [f"SKU-{n}" for n in range(1, 8)]
    await push(client, VENDOR, "items", [item(sku) for sku in skus])
    await push(client, OTHER, "items", [item("SKU-5")])
    await push(client, VENDOR, "items", [tombstone("items", "SKU-7")])
    [retired_before] = await rows_of(db, "SELECT xmin::text FROM items WHERE sku = 'SKU-7'")

    first = await page(
        client,
        "items",
        [item("SKU-1"), item("SKU-2", name="Renamed", minutes=1), item("SKU-3", name="")],
        snap("s1", 0),
    )
    assert outcomes(first) == [
        ("SKU-1", "skipped", "no_changes"),
        ("SKU-2", "processed", None),
        ("SKU-3", "failed", "invalid"),
    ]
    assert await snapshot_jobs(db) == []
    last = await page(client, "items", [item("SKU-4", erpUnitCode="KG")], snap("s1", 1, last=True))
    assert outcomes(last) == [("SKU-4", "failed", "unmapped_unit")]
    [job] = await snapshot_jobs(db)
    assert job["queue_name"] == "maintenance"
    assert job["lock"] == f"ingest-snapshot:{VENDOR}:items"
    assert {k: job["args"][k] for k in ("vendor_id", "entity", "snapshot_id")} == {
        "vendor_id": VENDOR,
        "entity": "items",
        "snapshot_id": "s1",
    }
    pages = await rows_of(
        db,
        "SELECT snapshot_page, snapshot_last, snapshot_keys FROM ingest_batches "
        "WHERE snapshot_id = 's1' ORDER BY id",
    )
    assert pages == [
        {"snapshot_page": 0, "snapshot_last": False, "snapshot_keys": ["SKU-1", "SKU-2", "SKU-3"]},
        {"snapshot_page": 1, "snapshot_last": True, "snapshot_keys": ["SKU-4"]},
    ]
    assert (await items_state(db))["SKU-5"] == (True, False)  # nothing until the job runs

    outcome = await run_job(pool, settings, "items", "s1")

    assert (outcome.status, outcome.removed) == ("applied", 2)
    assert await items_state(db) == {
        "SKU-1": (True, False),
        "SKU-2": (True, False),
        "SKU-3": (True, False),
        "SKU-4": (True, False),
        "SKU-5": (False, True),
        "SKU-6": (False, True),
        "SKU-7": (False, False),  # already inactive: not rewritten
    }
    assert await rows_of(db, "SELECT xmin::text FROM items WHERE sku = 'SKU-7'") == [retired_before]
    assert await items_state(db, OTHER) == {"SKU-5": (True, False)}
    [record] = await rows_of(
        db,
        "SELECT status, last_page, sent_keys, active_rows, missing_rows, removed_rows "
        "FROM ingest_snapshots WHERE snapshot_id = 's1'",
    )
    assert record == {
        "status": "applied",
        "last_page": 1,
        "sent_keys": 4,
        "active_rows": 6,
        "missing_rows": 2,
        "removed_rows": 2,
    }
    # A retried job does nothing; the retired item's content, pushed again, lands again.
    assert (await run_job(pool, settings, "items", "s1")).status == "done_before"
    assert outcomes(await push(client, VENDOR, "items", [item("SKU-5")])) == [
        ("SKU-5", "processed", None)
    ]
    assert (await items_state(db))["SKU-5"] == (True, False)


async def test_a_stock_snapshot_zeroes_the_rows_it_lacked_and_keeps_item_totals(
    client: TestClient[Any, Any], db: Conn, agents: None, pool: Pool, settings: Settings
) -> None:
    await push(client, VENDOR, "warehouses", [warehouse("W1"), warehouse("W2")])
    await push(client, VENDOR, "items", [item(sku) for sku in ("A", "B", "C", "D")])
    rows = [stock("A", "W1", 5, 1), stock("A", "W2", 7, 2), stock("B", "W1", 3, 0)]
    rows += [stock("C", "W2", 4, 1), stock("D", "W1", 0, 0)]
    await push(client, VENDOR, "stock", rows)
    await push(client, OTHER, "warehouses", [warehouse("W2")])
    await push(client, OTHER, "items", [item("C")])
    await push(client, OTHER, "stock", [stock("C", "W2", 9, 0)])
    [zero_before] = await rows_of(db, "SELECT s.xmin::text FROM stock s WHERE real_stock = 0")

    await page(client, "stock", [stock("A", "W1", 5, 1)], snap("st", 0))
    await page(client, "stock", [stock("B", "W1", 6, 1, minutes=1)], snap("st", 1, last=True))
    outcome = await run_job(pool, settings, "stock", "st")

    assert (outcome.status, outcome.removed) == ("applied", 2)
    quantities = await rows_of(
        db,
        "SELECT s.vendor_id, i.sku, w.erp_warehouse_id AS wh, s.real_stock, s.reserved_quantity "
        "FROM stock s JOIN items i ON i.id = s.item_id JOIN warehouses w ON w.id = s.warehouse_id "
        "ORDER BY s.vendor_id, i.sku, w.erp_warehouse_id",
    )
    assert [(r["vendor_id"] == VENDOR, r["sku"], r["wh"], r["real_stock"]) for r in quantities] == [
        (True, "A", "W1", 5),
        (True, "A", "W2", 0),
        (True, "B", "W1", 6),
        (True, "C", "W2", 0),
        (True, "D", "W1", 0),
        (False, "C", "W2", 9),
    ]
    assert await rows_of(
        db,
        "SELECT s.xmin::text FROM stock s WHERE s.item_id = (SELECT id FROM items WHERE sku = 'D')",
    ) == [zero_before]
    totals = await rows_of(
        db,
        "SELECT i.vendor_id, i.sku, i.total_real_stock, i.total_virtual_stock, "
        "i.total_reserved_quantity, i.is_active FROM items i ORDER BY i.vendor_id, i.sku",
    )
    assert [
        (r["sku"], r["total_real_stock"], r["total_virtual_stock"], r["total_reserved_quantity"])
        for r in totals
        if r["vendor_id"] == VENDOR
    ] == [("A", 5, 4, 1), ("B", 6, 5, 1), ("C", 0, 0, 0), ("D", 0, 0, 0)]
    assert all(r["is_active"] for r in totals)  # items are another entity: untouched
    mismatched = await rows_of(
        db,
        "SELECT i.sku FROM items i JOIN stock s ON s.item_id = i.id GROUP BY i.id "
        "HAVING i.total_real_stock <> sum(s.real_stock) "
        "OR i.total_reserved_quantity <> sum(s.reserved_quantity)",
    )
    assert mismatched == []
    assert [r["total_real_stock"] for r in totals if r["vendor_id"] == OTHER] == [Decimal(9)]


async def test_a_warehouse_snapshot_deactivates_the_warehouses_it_lacked(
    client: TestClient[Any, Any], db: Conn, agents: None, pool: Pool, settings: Settings
) -> None:
    await push(client, VENDOR, "warehouses", [warehouse(w) for w in ("W1", "W2", "W3")])
    await push(client, OTHER, "warehouses", [warehouse("W3")])
    await push(client, VENDOR, "items", [item("A")])

    await page(client, "warehouses", [warehouse("W1"), warehouse("W2")], snap("w", 0, last=True))
    outcome = await run_job(pool, settings, "warehouses", "w")

    assert (outcome.status, outcome.removed) == ("applied", 1)
    active = await rows_of(
        db, "SELECT vendor_id, erp_warehouse_id, is_active FROM warehouses ORDER BY 1, 2"
    )
    assert [(r["vendor_id"], r["erp_warehouse_id"], r["is_active"]) for r in active] == [
        (VENDOR, "W1", True),
        (VENDOR, "W2", True),
        (VENDOR, "W3", False),
        (OTHER, "W3", True),
    ]
    assert await items_state(db) == {"A": (True, False)}


async def test_the_cap_refuses_a_snapshot_that_removes_too_much_and_force_applies_it(
    client: TestClient[Any, Any], db: Conn, agents: None, pool: Pool, settings: Settings
) -> None:
    await push(client, VENDOR, "items", [item(f"SKU-{n}") for n in range(1, 5)])

    await page(client, "items", [item("SKU-1")], snap("cut", 0, last=True))
    refused = await run_job(pool, settings, "items", "cut")

    assert refused.status == "refused"
    assert "3 of 4" in str(refused.refusal_reason)
    assert all(active for active, _ in (await items_state(db)).values())
    [record] = await rows_of(
        db,
        "SELECT status, missing_rows, removed_rows, max_removal_share, refusal_reason "
        "FROM ingest_snapshots WHERE snapshot_id = 'cut'",
    )
    assert (record["status"], record["missing_rows"], record["removed_rows"]) == ("refused", 3, 0)
    assert record["max_removal_share"] == Decimal("0.5")
    [alert] = await rows_of(
        db, "SELECT vendor_key, last_details FROM alert_state WHERE alert_type = 'snapshot_refused'"
    )
    assert alert["vendor_key"] == VENDOR
    assert alert["last_details"]["missing_rows"] == 3
    # Under a larger cap the same snapshot would pass; forced, it passes whatever the cap.
    await page(client, "items", [item("SKU-1")], snap("cut-2", 0, last=True, force=True))
    forced = await run_job(pool, settings, "items", "cut-2", share=0.0)
    assert (forced.status, forced.removed) == ("applied", 3)
    assert {sku for sku, (active, _) in (await items_state(db)).items() if active} == {"SKU-1"}


async def test_an_empty_snapshot_is_refused_unless_forced(
    client: TestClient[Any, Any], db: Conn, agents: None, pool: Pool, settings: Settings
) -> None:
    await push(client, VENDOR, "items", [item("SKU-1"), item("SKU-2")])

    await page(client, "items", [], snap("empty", 0, last=True))
    refused = await run_job(pool, settings, "items", "empty", share=1.0)

    assert refused.status == "refused"
    assert str(refused.refusal_reason).startswith("empty snapshot")
    assert all(active for active, _ in (await items_state(db)).values())
    await page(client, "items", [], snap("empty-2", 0, last=True, force=True))
    assert (await run_job(pool, settings, "items", "empty-2", share=1.0)).removed == 2


async def test_rows_created_after_the_snapshot_began_are_not_retired(
    client: TestClient[Any, Any], db: Conn, agents: None, pool: Pool, settings: Settings
) -> None:
    await push(client, VENDOR, "items", [item("SKU-1"), item("SKU-2"), item("SKU-3")])
    await page(client, "items", [item("SKU-1"), item("SKU-2")], snap("race", 0))
    await push(client, VENDOR, "items", [item("NEW")])  # created in the ERP meanwhile
    await page(client, "items", [], snap("race", 1, last=True))

    assert (await run_job(pool, settings, "items", "race")).removed == 1
    assert {s for s, (active, _) in (await items_state(db)).items() if not active} == {"SKU-3"}


async def test_a_dry_run_last_page_defers_and_records_nothing(
    client: TestClient[Any, Any], db: Conn, agents: None
) -> None:
    await push(client, VENDOR, "items", [item("SKU-1"), item("SKU-2")])
    answer = await page(client, "items", [item("SKU-1")], snap("dry", 0, last=True), dry_run=True)

    assert outcomes(answer) == [("SKU-1", "skipped", "no_changes")]
    assert await snapshot_jobs(db) == []
    assert await rows_of(db, "SELECT 1 FROM ingest_snapshots") == []
    assert await rows_of(db, "SELECT 1 FROM ingest_batches WHERE snapshot_id IS NOT NULL") == []


async def test_a_last_page_whose_transaction_rolls_back_defers_nothing(
    client: TestClient[Any, Any], db: Conn, agents: None
) -> None:
    await push(client, VENDOR, "items", [item("SKU-1"), item("SKU-2")])
    # A check that fails at COMMIT, after the job was deferred in the same transaction.
    await db.execute(
        "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
    )
    await db.execute(
        "CREATE CONSTRAINT TRIGGER test_refuse AFTER INSERT ON ingest_snapshots "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse()"
    )

    await page(client, "items", [item("SKU-3")], snap("rb", 0, last=True), expect=500)

    assert await snapshot_jobs(db) == []
    assert await rows_of(db, "SELECT 1 FROM ingest_snapshots") == []
    assert await rows_of(db, "SELECT sku FROM items WHERE sku = 'SKU-3'") == []


async def test_a_snapshot_on_an_incremental_endpoint_is_refused(
    client: TestClient[Any, Any], db: Conn, agents: None
) -> None:
    problem = await page(
        client, "items", [item("SKU-1")], snap("inc", 0, last=True), batch=False, expect=400
    )

    assert "/batch" in problem["detail"]
    assert await rows_of(db, "SELECT 1 FROM items") == []
    assert await rows_of(db, "SELECT 1 FROM ingest_batches") == []


@pytest.mark.parametrize(
    ("snapshot", "loc"),
    [
        ("s1", ["snapshot"]),
        ({"id": "", "page": 0, "last": True}, ["snapshot", "id"]),
        ({"id": "x" * 101, "page": 0, "last": True}, ["snapshot", "id"]),
        ({"id": "s", "page": -1, "last": True}, ["snapshot", "page"]),
        ({"id": "s", "page": "1", "last": True}, ["snapshot", "page"]),
        ({"id": "s", "page": 0, "last": "yes"}, ["snapshot", "last"]),
        ({"id": "s", "page": 0}, ["snapshot", "last"]),
        ({"id": "s", "page": 0, "last": True, "force": 1}, ["snapshot", "force"]),
    ],
)
async def test_a_malformed_snapshot_is_a_422_and_writes_nothing(
    client: TestClient[Any, Any], db: Conn, agents: None, snapshot: Any, loc: list[str]
) -> None:
    problem = await page(client, "items", [item("SKU-1")], snapshot, expect=422)

    assert loc in [error["loc"] for error in problem["errors"]]
    assert await rows_of(db, "SELECT 1 FROM items") == []


async def test_pages_missing_before_the_last_one_are_a_409(
    client: TestClient[Any, Any], db: Conn, agents: None
) -> None:
    await page(client, "items", [item("SKU-1")], snap("gap", 0))
    problem = await page(client, "items", [item("SKU-3")], snap("gap", 2, last=True), expect=409)

    assert "pages 1 have not committed" in problem["detail"]
    assert await rows_of(db, "SELECT sku FROM items WHERE sku = 'SKU-3'") == []
    assert await snapshot_jobs(db) == []
    # A page resent is recorded again (the snapshot holds the union of its pages' keys).
    await page(client, "items", [item("SKU-2")], snap("gap", 1))
    await page(client, "items", [item("SKU-2")], snap("gap", 1))
    await page(client, "items", [item("SKU-3")], snap("gap", 2, last=True))
    assert len(await snapshot_jobs(db)) == 1


async def test_a_complete_snapshot_takes_its_last_page_again_but_no_other(
    client: TestClient[Any, Any], db: Conn, agents: None
) -> None:
    await page(client, "items", [item("SKU-1")], snap("done", 0))
    await page(client, "items", [item("SKU-2")], snap("done", 1, last=True))

    resent = await page(client, "items", [item("SKU-2")], snap("done", 1, last=True))
    assert outcomes(resent) == [("SKU-2", "skipped", "no_changes")]
    assert len(await snapshot_jobs(db)) == 1
    problem = await page(client, "items", [item("SKU-3")], snap("done", 2), expect=409)
    assert "is complete" in problem["detail"]
    await page(client, "items", [item("SKU-3")], snap("done", 2, last=True), expect=409)
    await page(client, "items", [item("SKU-3")], snap("done", 0), expect=409)
    assert await rows_of(db, "SELECT sku FROM items WHERE sku = 'SKU-3'") == []
    # The same id names another snapshot for another entity.
    await page(client, "warehouses", [warehouse("W1")], snap("done", 0, last=True))
    assert len(await snapshot_jobs(db)) == 2


async def test_a_real_worker_applies_the_snapshot(
    client: TestClient[Any, Any], db: Conn, agents: None, worker: subprocess.Popen[bytes]
) -> None:
    await push(client, VENDOR, "items", [item("SKU-1"), item("SKU-2"), item("SKU-3")])
    await page(client, "items", [item("SKU-1"), item("SKU-2")], snap("live", 0, last=True))

    async def finished() -> list[dict[str, Any]]:
        return await rows_of(
            db, "SELECT status, removed_rows FROM ingest_snapshots WHERE status <> 'pending'"
        )

    assert await eventually(finished) == [{"status": "applied", "removed_rows": 1}]
    assert (await items_state(db))["SKU-3"] == (False, True)


@pytest.mark.parametrize("value", ["-0.1", "1.5", "half"])
def test_the_cap_setting_is_a_share_between_0_and_1(value: str) -> None:
    assert load_settings(SNAPSHOT_MAX_REMOVAL_SHARE="1").SNAPSHOT_MAX_REMOVAL_SHARE == 1.0
    with pytest.raises(ConfigurationError, match=r"^SNAPSHOT_MAX_REMOVAL_SHARE: "):
        load_settings(SNAPSHOT_MAX_REMOVAL_SHARE=value)
