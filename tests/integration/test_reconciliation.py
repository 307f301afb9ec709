"""Reconciliation against real Postgres and a reference agent on loopback (SPEC §5.3, §6.1)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import procrastinate
import pytest

from restosync.agent.catalog import Catalog, range_checksum, stock_key
from restosync.db import reconciliation as reconciliation_db
from restosync.db.pool import Pool, transaction
from restosync.outbound import agents
from restosync.outbound.agents import AgentCallFailed, AgentTarget
from restosync.queue import QUEUE_RECONCILIATION, TASK_RECONCILE_VENDOR
from restosync.services import reconciliation_jobs
from restosync.services.reconciliation_compare import Tuning
from restosync.settings import Settings
from restosync.worker.resources import close_resources
from tests.ingest import Conn, rows_of
from tests.reconciliation import Vendor, erp_side, events_of, postgres_side, vendor_with_catalog
from tests.reference_agents import BCRYPT_LIKE

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.fixture
async def vendor(
    db: Conn, pool: Pool, http_session: aiohttp.ClientSession, settings: Settings
) -> AsyncIterator[Vendor]:
    """A vendor whose ERP has 30 items in 2 warehouses, loaded into Postgres as they are."""
    catalog = Catalog.generate(30, warehouses=2, seed=7)
    async with vendor_with_catalog(db, pool, http_session, settings, catalog) as running:
        await running.load()
        yield running


async def assert_converged(db: Conn, vendor: Vendor) -> None:
    for entity in ("items", "stock"):
        assert await postgres_side(db, vendor.vendor_id, entity) == erp_side(vendor.catalog, entity)


async def assert_second_run_is_clean(db: Conn, vendor: Vendor) -> None:
    before = len(await events_of(db, vendor.vendor_id))
    outcome = await vendor.reconcile()
    assert [e.event_type for e in outcome.entities] == ["full_checksum", "full_checksum"]
    events = (await events_of(db, vendor.vendor_id))[before:]
    assert [(e["event_type"], e["entity"]) for e in events] == [
        ("full_checksum", "items"),
        ("full_checksum", "stock"),
    ]


# --- the checksum contract ------------------------------------------------------------


def test_checksum_vectors_of_the_contract() -> None:
    assert range_checksum([]) == EMPTY_SHA256
    # Byte-wise order: 'B' (0x42) < 'a' (0x61) < 'é' (0xC3 0xA9) < '日' (0xE6 ...).
    rows = [("é", "h3"), ("a", "h2"), ("日本", "h4"), ("B", "h1")]
    expected = hashlib.sha256("B:h1|a:h2|é:h3|日本:h4".encode()).hexdigest()
    assert range_checksum(rows) == expected


async def test_postgres_computes_the_same_checksum_as_the_agent(
    db: Conn, pool: Pool, http_session: aiohttp.ClientSession, settings: Settings
) -> None:
    catalog = Catalog()
    for n, sku in enumerate(["a", "B", "é", "Z", "ß", "日本", "a|b", "a-b", "A", "~x", "e"]):
        catalog.add_item(sku, seed=n)
    async with vendor_with_catalog(db, pool, http_session, settings, catalog) as vendor:
        await vendor.load(("items",))
        async with transaction(pool) as conn:
            empty = await reconciliation_db.checksum(conn, vendor.vendor_id, "stock")
            assert (empty.checksum, empty.count) == (EMPTY_SHA256, 0)
            for start, end in [(None, None), ("B", "a"), ("a", None), (None, "Z"), ("é", "é")]:
                ours = await reconciliation_db.checksum(conn, vendor.vendor_id, "items", start, end)
                assert (ours.checksum, ours.count) == catalog.checksum("items", start, end)
        assert [key for key, _ in await postgres_side(db, vendor.vendor_id, "items")] == [
            "A", "B", "Z", "a", "a-b", "a|b", "e", "~x", "ß", "é", "日本",
        ]  # fmt: skip


async def test_stock_keys_sort_as_whole_strings(
    db: Conn, pool: Pool, http_session: aiohttp.ClientSession, settings: Settings
) -> None:
    catalog = Catalog.generate(0, warehouses=1)
    for n, sku in enumerate(["SKU-1", "SKU-10", "SKU-1a"]):
        catalog.add_item(sku, seed=n)
    async with vendor_with_catalog(db, pool, http_session, settings, catalog) as vendor:
        await vendor.load()
        # '0' (0x30) < '|' (0x7C) < 'a' (0x61 is below '|' too): whole-string byte order.
        keys = [key for key, _ in await postgres_side(db, vendor.vendor_id, "stock")]
        assert keys == ["SKU-10|WH-00", "SKU-1a|WH-00", "SKU-1|WH-00"]
        async with transaction(pool) as conn:
            ours = await reconciliation_db.checksum(conn, vendor.vendor_id, "stock")
        assert (ours.checksum, ours.count) == catalog.checksum("stock")


# --- drift found and repaired -------------------------------------------------------------


async def test_no_drift_is_one_call_per_entity(db: Conn, vendor: Vendor) -> None:
    outcome = await vendor.reconcile()
    assert [e.event_type for e in outcome.entities] == ["full_checksum", "full_checksum"]
    assert outcome.agent_calls == vendor.server.catalog_calls() == 2
    (items, _) = await events_of(db, vendor.vendor_id)
    assert items["summary"]["postgres"] == items["summary"]["agent"]
    assert items["summary"]["agent"]["count"] == 30


async def test_item_drift_of_every_kind_is_repaired(db: Conn, vendor: Vendor) -> None:
    catalog = vendor.catalog
    catalog.change_item("SKU-0000003", name="Renamed in the ERP")
    catalog.change_item("SKU-0000017", unitPrice=99.5)
    catalog.remove_item("SKU-0000010")
    catalog.add_item("AAA-below-every-key", seed=1)
    catalog.add_item("zzz-above-every-key", seed=2)
    catalog.add_item("SKU-0000010x", seed=3)

    outcome = await vendor.reconcile()

    await assert_converged(db, vendor)
    items = outcome.entities[0]
    assert (items.event_type, items.drifted) == ("drift_resolved", 6)
    assert outcome.agent_calls == vendor.server.catalog_calls()
    events = await events_of(db, vendor.vendor_id)
    detected, resolved = events[0], events[1]
    assert (detected["event_type"], detected["entity"]) == ("drift_detected", "items")
    assert detected["summary"]["driftedKeys"] == {
        "changed": ["SKU-0000003", "SKU-0000017"],
        "missingInPostgres": ["AAA-below-every-key", "SKU-0000010x", "zzz-above-every-key"],
        "missingInErp": ["SKU-0000010"],
    }
    assert detected["summary"]["postgres"]["count"] == 30
    assert detected["summary"]["agent"]["count"] == 32
    assert resolved["event_type"] == "drift_resolved"
    assert resolved["summary"]["fixes"]["processed"] == 6
    assert resolved["summary"]["after"]["verified"] is True
    assert resolved["duration_ms"] >= 0
    [gone] = await rows_of(
        db, "SELECT is_active, is_obsolete, name FROM items WHERE sku = 'SKU-0000010'"
    )
    assert (gone["is_active"], gone["is_obsolete"]) == (False, True)
    [renamed] = await rows_of(db, "SELECT name FROM items WHERE sku = 'SKU-0000003'")
    assert renamed["name"] == "Renamed in the ERP"
    await assert_second_run_is_clean(db, vendor)


async def test_stock_drift_of_every_kind_is_repaired(db: Conn, vendor: Vendor) -> None:
    catalog = vendor.catalog
    catalog.set_stock(stock_key("SKU-0000005", "WH-01"), real=1234, reserved=4)
    catalog.remove_stock(stock_key("SKU-0000006", "WH-00"))
    catalog.remove_stock(stock_key("SKU-0000000", "WH-00"))  # the smallest key
    catalog.remove_stock(stock_key("SKU-0000029", "WH-01"))  # the largest key

    outcome = await vendor.reconcile()

    await assert_converged(db, vendor)
    stock = outcome.entities[1]
    assert (stock.event_type, stock.drifted) == ("drift_resolved", 4)
    [zeroed] = await rows_of(
        db,
        "SELECT s.real_stock, s.content_hash FROM stock s JOIN items i ON i.id = s.item_id "
        "JOIN warehouses w ON w.id = s.warehouse_id "
        "WHERE i.sku = 'SKU-0000006' AND w.erp_warehouse_id = 'WH-00'",
    )
    assert (zeroed["real_stock"], zeroed["content_hash"]) == (0, "deleted")
    [item] = await rows_of(db, "SELECT total_real_stock FROM items WHERE sku = 'SKU-0000005'")
    assert (
        item["total_real_stock"]
        == 1234 + catalog.stock[stock_key("SKU-0000005", "WH-00")]["realStock"]
    )
    # Rows come back to the ERP: the zeroed row is present again after the next run.
    catalog.put_stock({"itemSku": "SKU-0000006", "erpWarehouseId": "WH-00", "realStock": 3,
                       "reservedQuantity": 0})  # fmt: skip
    catalog.add_item("0-below", seed=4)  # new item + stock keys below every key
    await vendor.reconcile()
    await assert_converged(db, vendor)
    await assert_second_run_is_clean(db, vendor)


async def test_empty_postgres_gets_the_whole_erp(
    db: Conn, pool: Pool, http_session: aiohttp.ClientSession, settings: Settings
) -> None:
    catalog = Catalog.generate(25, warehouses=2, seed=3)
    async with vendor_with_catalog(db, pool, http_session, settings, catalog) as vendor:
        await vendor.load(("warehouses",))
        outcome = await vendor.reconcile()
        assert [(e.entity, e.drifted) for e in outcome.entities] == [("items", 25), ("stock", 50)]
        await assert_converged(db, vendor)
        await assert_second_run_is_clean(db, vendor)


async def test_empty_erp_retires_everything(db: Conn, vendor: Vendor) -> None:
    for sku in list(vendor.catalog.items):
        vendor.catalog.remove_item(sku)
    outcome = await vendor.reconcile()
    assert [(e.entity, e.drifted) for e in outcome.entities] == [("items", 30), ("stock", 60)]
    await assert_converged(db, vendor)
    [counts] = await rows_of(
        db,
        "SELECT count(*) FILTER (WHERE is_active) AS active, "
        "count(*) FILTER (WHERE is_obsolete) AS obsolete, sum(total_real_stock) AS stock "
        "FROM items",
    )
    assert (counts["active"], counts["obsolete"], counts["stock"]) == (0, 30, 0)
    await assert_second_run_is_clean(db, vendor)


async def test_agent_calls_grow_with_drift_not_with_size(
    db: Conn, pool: Pool, http_session: aiohttp.ClientSession, settings: Settings
) -> None:
    catalog = Catalog.generate(600, warehouses=1, seed=5, stocked_share=0)
    async with vendor_with_catalog(db, pool, http_session, settings, catalog) as vendor:
        await vendor.load()
        catalog.change_item("SKU-0000321", name="changed")
        outcome = await vendor.reconcile(Tuning(leaf_rows=8, fanout=4))
        await assert_converged(db, vendor)
        # log4(600 / 8) ~ 3 levels of 4 checksums, a manifest, a fetch, the checks.
        assert outcome.agent_calls == vendor.server.catalog_calls() <= 20
        assert vendor.server.calls[agents.MANIFEST_PATH] == 1


# --- failures ---------------------------------------------------------------------------


async def test_agent_failing_mid_comparison_changes_nothing(db: Conn, vendor: Vendor) -> None:
    vendor.catalog.change_item("SKU-0000003", name="changed")
    vendor.catalog.remove_item("SKU-0000020")
    before = [await postgres_side(db, vendor.vendor_id, e) for e in ("items", "stock")]
    vendor.server.behaviour.catalog_fail_status = 503
    vendor.server.behaviour.catalog_fail_after = 4

    outcome = await vendor.reconcile()

    assert [e.event_type for e in outcome.entities] == ["error", "error"]
    assert [await postgres_side(db, vendor.vendor_id, e) for e in ("items", "stock")] == before
    events = await events_of(db, vendor.vendor_id)
    assert [(e["event_type"], e["entity"]) for e in events] == [
        ("error", "items"),
        ("error", "stock"),
    ]
    assert events[0]["summary"]["stage"] == "compare"
    assert events[0]["summary"]["httpStatus"] == 503
    assert "HTTP 503" in events[0]["details"]
    # The agent recovers: the next run repairs everything.
    vendor.server.behaviour.catalog_fail_status = None
    await vendor.reconcile()
    await assert_converged(db, vendor)


async def test_agent_failing_to_send_rows_leaves_the_rest_unchanged(
    db: Conn, vendor: Vendor
) -> None:
    vendor.catalog.change_item("SKU-0000003", name="changed")
    vendor.catalog.remove_item("SKU-0000020")
    before = await postgres_side(db, vendor.vendor_id, "items")
    vendor.server.behaviour.catalog_fail_status = 500
    vendor.server.behaviour.catalog_fail_paths = (agents.FETCH_ITEMS_PATH,)

    outcome = await vendor.reconcile()

    assert outcome.entities[0].event_type == "error"
    assert await postgres_side(db, vendor.vendor_id, "items") == before
    types = [(e["event_type"], e["entity"]) for e in await events_of(db, vendor.vendor_id)]
    assert types[:2] == [("drift_detected", "items"), ("error", "items")]


async def test_rows_the_pipeline_rejects_are_reported(db: Conn, vendor: Vendor) -> None:
    vendor.catalog.change_item("SKU-0000004", erpUnitCode="LITRE")
    outcome = await vendor.reconcile()
    items = outcome.entities[0]
    assert items.fixes is not None
    assert items.fixes.failed == 1
    resolved = (await events_of(db, vendor.vendor_id))[1]
    assert resolved["summary"]["fixes"]["rejected"] == [
        {"key": "SKU-0000004", "reason": "unmapped_unit"}
    ]
    assert resolved["summary"]["after"]["verified"] is False
    [rejection] = await rows_of(db, "SELECT row_key, reason FROM ingest_rejections")
    assert (rejection["row_key"], rejection["reason"]) == ("SKU-0000004", "unmapped_unit")


async def test_an_offline_agent_is_not_called(db: Conn, vendor: Vendor) -> None:
    await db.execute("UPDATE agent_registry SET last_heartbeat = now() - interval '1 hour'")
    outcome = await vendor.reconcile()
    assert outcome.entities == []
    assert vendor.server.catalog_calls() == 0
    [event] = await events_of(db, vendor.vendor_id)
    assert (event["event_type"], event["details"]) == ("error", "agent offline: no call made")


# --- the agent's endpoints and the client -----------------------------------------------


def _target(vendor: Vendor, secret: str | None = None) -> AgentTarget:
    real = vendor.server._outbound_secret()
    return AgentTarget(vendor.server.url, secret or real, "corr-1", 5.0)


async def test_agent_endpoints_answer_the_contract(vendor: Vendor) -> None:
    http, target = vendor.http, _target(vendor)
    whole = await agents.agent_checksum(http, target, "items")
    assert (whole.checksum, whole.count) == vendor.catalog.checksum("items")
    part = await agents.agent_manifest(http, target, "stock", "SKU-0000002|", "SKU-0000003|~")
    assert [m.key for m in part] == [
        "SKU-0000002|WH-00", "SKU-0000002|WH-01", "SKU-0000003|WH-00", "SKU-0000003|WH-01",
    ]  # fmt: skip
    rows = await agents.agent_items(http, target, ["SKU-0000001", "unknown"])
    assert [r["sku"] for r in rows] == ["SKU-0000001"]
    stock = await agents.agent_stock(http, target, ["SKU-0000001|WH-01"])
    assert stock == [vendor.catalog.stock["SKU-0000001|WH-01"]]
    assert vendor.server.calls[agents.CHECKSUM_PATH] == 1
    assert vendor.server.catalog_calls() == 4


async def test_agent_endpoints_refuse_unsigned_and_malformed_calls(vendor: Vendor) -> None:
    with pytest.raises(AgentCallFailed, match="HTTP 401") as refused:
        await agents.agent_checksum(vendor.http, _target(vendor, "x" * 43), "items")
    assert refused.value.http_status == 401
    async with vendor.http.post(vendor.server.url + agents.CHECKSUM_PATH, json={}) as response:
        assert response.status == 401
    with pytest.raises(AgentCallFailed, match="HTTP 400"):
        await agents.agent_checksum(vendor.http, _target(vendor), "warehouses")


async def test_client_reports_answers_of_the_wrong_shape(
    aiohttp_server: Any, http_session: aiohttp.ClientSession
) -> None:
    from aiohttp import web

    async def wrong(request: web.Request) -> web.Response:
        answers: dict[str, Any] = {
            agents.CHECKSUM_PATH: {"checksum": "not-hex", "count": 1},
            agents.MANIFEST_PATH: [{"key": "a"}],
            agents.FETCH_ITEMS_PATH: {"items": []},
        }
        return web.json_response(answers[request.path])

    app = web.Application()
    for path in (agents.CHECKSUM_PATH, agents.MANIFEST_PATH, agents.FETCH_ITEMS_PATH):
        app.router.add_post(path, wrong)
    server = await aiohttp_server(app, host="127.0.0.1")
    target = AgentTarget(str(server.make_url("")), "s" * 43, "corr-2", 5.0)
    with pytest.raises(AgentCallFailed, match=r"unexpected answer.*checksum"):
        await agents.agent_checksum(http_session, target, "items")
    with pytest.raises(AgentCallFailed, match=r"unexpected answer.*contentHash"):
        await agents.agent_manifest(http_session, target, "items")
    with pytest.raises(AgentCallFailed, match="unexpected answer"):
        await agents.agent_items(http_session, target, ["a"])
    await server.close()
    with pytest.raises(AgentCallFailed, match="connection failed"):
        await agents.agent_checksum(http_session, target, "items")


# --- as queue jobs --------------------------------------------------------------------


async def test_hourly_detection_defers_and_runs_one_job_per_active_vendor(
    db: Conn, vendor: Vendor, queue_app: procrastinate.App
) -> None:
    vendor.catalog.change_item("SKU-0000001", name="changed")
    await db.execute(
        "INSERT INTO agent_registry (vendor_id, agent_url, erp_type, auth_token_hash, "
        "outbound_secret, status, deregistered_at) "
        "VALUES ('gone', 'http://127.0.0.1:9', 'custom', %s, %s, 'deregistered', now())",
        [BCRYPT_LIKE, "s" * 43],
    )
    try:
        deferred = await reconciliation_jobs.defer_all_vendors(vendor.pool, queue_app)
        assert [(d.vendor_id, d.job_id is not None) for d in deferred] == [(vendor.vendor_id, True)]
        await queue_app.run_worker_async(
            queues=[QUEUE_RECONCILIATION], wait=False, install_signal_handlers=False
        )
    finally:
        await close_resources()
    [job] = await rows_of(
        db, "SELECT status::text AS status FROM procrastinate_jobs WHERE task_name = %s",
        TASK_RECONCILE_VENDOR,
    )  # fmt: skip
    assert job["status"] == "succeeded"
    await assert_converged(db, vendor)
    types = [e["event_type"] for e in await events_of(db, vendor.vendor_id)]
    assert types == ["drift_detected", "drift_resolved", "full_checksum"]
    [alert] = await rows_of(db, "SELECT alert_type, vendor_key FROM alert_state")
    assert (alert["alert_type"], alert["vendor_key"]) == ("reconciliation_drift", vendor.vendor_id)


async def test_a_failed_run_fails_its_job(
    db: Conn, vendor: Vendor, queue_app: procrastinate.App
) -> None:
    vendor.server.behaviour.catalog_fail_status = 500
    try:
        await reconciliation_jobs.defer_all_vendors(vendor.pool, queue_app)
        await queue_app.run_worker_async(
            queues=[QUEUE_RECONCILIATION], wait=False, install_signal_handlers=False
        )
    finally:
        await close_resources()
    [job] = await rows_of(
        db, "SELECT status::text AS status FROM procrastinate_jobs WHERE task_name = %s",
        TASK_RECONCILE_VENDOR,
    )  # fmt: skip
    assert job["status"] == "failed"
    assert [e["event_type"] for e in await events_of(db, vendor.vendor_id)] == ["error", "error"]
