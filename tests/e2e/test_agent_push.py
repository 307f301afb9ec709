"""The reference agent pushes its simulated ERP's catalog to the real app over loopback HTTP."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import subprocess
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from restosync.agent.catalog import MAPPINGS, Catalog, content_hash
from restosync.agent.cli import add_agent_commands
from restosync.agent.client import AgentClient
from restosync.agent.credentials import AgentCredentials
from restosync.agent.push import CatalogPusher, PushFailed, PushLimits, PushProgress
from restosync.settings import Settings
from restosync.web.app import create_app
from tests.conftest import AGENT_SECRET
from tests.ingest import Conn, eventually, rows_of, seed_mappings

VENDOR = "vendor-push"
AGENT_URL = "http://127.0.0.1:9/agent"


@dataclass
class Sent:
    """One request the agent sent, as seen on the wire."""

    path: str
    status: int
    correlation_id: str


@pytest.fixture
async def wire() -> AsyncIterator[tuple[aiohttp.ClientSession, list[Sent]]]:
    """A real client session that records every request (a TraceConfig, no mock)."""
    seen: list[Sent] = []

    async def on_end(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        seen.append(
            Sent(params.url.path, params.response.status, params.headers["X-Correlation-ID"])
        )

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, trace_configs=[trace]) as session:
        yield session, seen


@pytest.fixture
async def app_client(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> TestClient[Any, Any]:
    """The web app on a loopback port; rate limits off, the tests push many requests."""
    result: TestClient[Any, Any] = await aiohttp_client(
        create_app(make_settings(RATE_LIMITS_ENABLED=False))
    )
    return result


@pytest.fixture
async def agent(
    app_client: TestClient[Any, Any],
    wire: tuple[aiohttp.ClientSession, list[Sent]],
    db: Conn,
    tmp_path: Path,
) -> AgentClient:
    """The reference agent, enrolled through the API, with the catalog's codes mapped."""
    client = AgentClient(wire[0], str(app_client.make_url("")), VENDOR, tmp_path / "agent.json")
    await client.enrol(AGENT_SECRET, AGENT_URL, "sage")
    await seed_mappings(db, VENDOR, MAPPINGS)
    wire[1].clear()
    return client


def _syncs(seen: list[Sent]) -> list[str]:
    return [sent.path for sent in seen if sent.path.startswith("/api/sync/")]


async def _counts(db: Conn) -> tuple[int, int, int]:
    cur = await db.execute(
        "SELECT (SELECT count(*) FROM warehouses WHERE vendor_id = %(v)s) AS w, "
        "(SELECT count(*) FROM items WHERE vendor_id = %(v)s) AS i, "
        "(SELECT count(*) FROM stock WHERE vendor_id = %(v)s) AS s",
        {"v": VENDOR},
    )
    row = await cur.fetchone()
    assert row is not None
    return row["w"], row["i"], row["s"]


async def _versions(db: Conn) -> list[Any]:
    """Every row version (xmin) of the vendor's rows: unchanged means nothing was written."""
    return [
        row["v"]
        for row in await rows_of(
            db,
            "SELECT xmin::text AS v FROM items WHERE vendor_id = %s "
            "UNION ALL SELECT xmin::text FROM stock WHERE vendor_id = %s "
            "UNION ALL SELECT xmin::text FROM warehouses WHERE vendor_id = %s",
            VENDOR,
            VENDOR,
            VENDOR,
        )
    ]


def _expected_totals(catalog: Catalog) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in catalog.stock.values():
        totals[row["itemSku"]] += Decimal(str(row["realStock"]))
    return totals


async def _stored_totals(db: Conn) -> dict[str, Decimal]:
    rows = await rows_of(db, "SELECT sku, total_real_stock FROM items WHERE vendor_id = %s", VENDOR)
    return {row["sku"]: row["total_real_stock"] for row in rows}


# incremental pushes


async def test_a_catalog_pushed_incrementally_lands_in_postgres_in_allowed_requests(
    agent: AgentClient, wire: tuple[aiohttp.ClientSession, list[Sent]], db: Conn
) -> None:
    catalog = Catalog.generate(1200, 3)
    progress: list[PushProgress] = []

    summary = await CatalogPusher(agent, on_progress=progress.append).push_catalog(catalog)

    assert (summary.processed, summary.skipped, summary.failed) == (3 + 1200 + 3600, 0, 0)
    assert summary.failures == []
    # Warehouses, then items, then stock; at most 500 rows a request.
    assert _syncs(wire[1]) == (
        ["/api/sync/warehouses"] + ["/api/sync/items"] * 3 + ["/api/sync/stock"] * 8
    )
    assert summary.requests == 12
    assert [(p.entity, p.rows_sent) for p in progress][:5] == [
        ("warehouses", 3), ("items", 500), ("items", 1000), ("items", 1200), ("stock", 500)
    ]  # fmt: skip
    assert progress[-1] == PushProgress("stock", 3600, 3600, 12)
    assert await _counts(db) == (3, 1200, 3600)
    stored = await rows_of(
        db,
        "SELECT sku, name, content_hash, unit_code, vat_code, vat_rate, family_code, "
        "subfamily_code FROM items WHERE vendor_id = %s ORDER BY sku",
        VENDOR,
    )
    assert [(row["sku"], row["content_hash"]) for row in stored] == [
        (row["sku"], row["contentHash"]) for row in catalog.rows("items")
    ]
    assert (stored[0]["unit_code"], stored[0]["vat_code"], stored[0]["vat_rate"]) == (
        "KGM", "V20", Decimal(20)
    )  # fmt: skip
    assert (stored[1]["family_code"], stored[1]["subfamily_code"]) == ("F2", "SF2")
    assert await _stored_totals(db) == _expected_totals(catalog)


async def test_the_same_catalog_pushed_again_is_all_skipped_and_writes_nothing(
    agent: AgentClient, db: Conn
) -> None:
    catalog = Catalog.generate(1200, 3)
    await CatalogPusher(agent).push_catalog(catalog)
    before = await _versions(db)

    again = await CatalogPusher(agent).push_catalog(catalog)

    assert (again.processed, again.skipped, again.failed) == (0, 4803, 0)
    assert await _versions(db) == before


async def test_a_change_in_the_erp_is_the_only_row_processed(
    agent: AgentClient, wire: tuple[aiohttp.ClientSession, list[Sent]], db: Conn
) -> None:
    catalog = Catalog.generate(1200, 3)
    pusher = CatalogPusher(agent)
    await pusher.push_catalog(catalog)
    catalog.change_item("SKU-0000042", name="Tomates anciennes")
    catalog.set_stock("SKU-0000042|WH-01", 1000, 10)

    resent = await CatalogPusher(agent).push_catalog(catalog)

    assert (resent.processed, resent.skipped, resent.failed) == (2, 4801, 0)
    name = await rows_of(db, "SELECT name FROM items WHERE sku = %s", "SKU-0000042")
    assert name == [{"name": "Tomates anciennes"}]
    assert await _stored_totals(db) == _expected_totals(catalog)

    # A pusher that remembers what restosync acknowledged to it sends only what changed
    # since: SKU-0000042 and its stock row (which the other pusher delivered) and SKU-0000007.
    catalog.change_item("SKU-0000007", brand="Maison Martin")
    wire[1].clear()
    changes = await pusher.push_catalog(catalog, changed_only=True)

    assert _syncs(wire[1]) == ["/api/sync/items", "/api/sync/stock"]
    assert (changes.processed, changes.skipped, changes.failed) == (1, 2, 0)
    nothing = await pusher.push_catalog(catalog, changed_only=True)
    assert (nothing.requests, nothing.processed) == (0, 0)


async def test_requests_split_by_bytes_all_land(
    agent: AgentClient, wire: tuple[aiohttp.ClientSession, list[Sent]], db: Conn
) -> None:
    catalog = Catalog.generate(300, 1)
    row_bytes = max(len(orjson.dumps(row)) for row in catalog.rows("items"))
    limits = PushLimits(max_rows=500, max_bytes=row_bytes * 40)

    summary = await CatalogPusher(agent, limits=limits).push_catalog(catalog)

    assert _syncs(wire[1]).count("/api/sync/items") >= 300 // 40
    assert (summary.processed, summary.failed) == (1 + 300 + 300, 0)
    assert await _counts(db) == (1, 300, 300)


async def test_refused_rows_are_reported_with_their_reason_and_the_others_land(
    agent: AgentClient, db: Conn
) -> None:
    await db.execute(
        "DELETE FROM erp_code_mappings WHERE vendor_id = %s AND erp_code = 'TVA55'", [VENDOR]
    )
    catalog = Catalog.generate(10, 1)

    summary = await CatalogPusher(agent).push_catalog(catalog)

    odd = [f"SKU-{i:07d}" for i in range(1, 10, 2)]
    assert [(f.entity, f.identifier, f.reason) for f in summary.failures] == [
        *(("items", sku, "unmapped_vat") for sku in odd),
        *(("stock", f"{sku}|WH-00", "unknown_item") for sku in odd),
    ]
    assert (summary.processed, summary.failed) == (1 + 5 + 5, 10)
    assert await _counts(db) == (1, 5, 5)


# full snapshots


async def test_a_snapshot_is_pushed_in_pages_and_retires_what_the_erp_no_longer_has(
    agent: AgentClient,
    wire: tuple[aiohttp.ClientSession, list[Sent]],
    db: Conn,
    worker: subprocess.Popen[bytes],
) -> None:
    catalog = Catalog.generate(2500, 2)
    pusher = CatalogPusher(agent, batch_limits=PushLimits(max_rows=1000, max_bytes=10 << 20))

    first = await pusher.push_snapshot(catalog)

    assert (first.processed, first.failed) == (2 + 2500 + 5000, 0)
    assert _syncs(wire[1]) == (
        ["/api/sync/warehouses/batch"] + ["/api/sync/items/batch"] * 3
        + ["/api/sync/stock/batch"] * 5
    )  # fmt: skip
    pages = await rows_of(
        db,
        "SELECT entity, snapshot_id, snapshot_page, snapshot_last FROM ingest_batches "
        "WHERE vendor_id = %s ORDER BY id",
        VENDOR,
    )
    assert [(p["entity"], p["snapshot_page"], p["snapshot_last"]) for p in pages] == [
        ("warehouses", 0, True),
        *(("items", n, n == 2) for n in range(3)),
        *(("stock", n, n == 4) for n in range(5)),
    ]
    ids = {entity: {p["snapshot_id"] for p in pages if p["entity"] == entity} for entity in
           ("warehouses", "items", "stock")}  # fmt: skip
    assert all(len(one) == 1 and None not in one for one in ids.values())
    assert len(set().union(*ids.values())) == 3  # a fresh id per snapshot

    catalog.remove_item("SKU-0000100")
    second = await pusher.push_snapshot(catalog)
    assert second.failed == 0

    async def retired() -> list[Any]:
        return await rows_of(
            db,
            "SELECT i.is_active, i.is_obsolete, i.total_real_stock, "
            "array_agg(s.real_stock ORDER BY s.warehouse_id) AS stock "
            "FROM items AS i JOIN stock AS s ON s.item_id = i.id "
            "WHERE i.vendor_id = %s AND i.sku = %s AND NOT i.is_active "
            # Items and stock are retired by two jobs: wait for both.
            "GROUP BY i.id HAVING bool_and(s.real_stock = 0)",
            VENDOR,
            "SKU-0000100",
        )

    assert await eventually(retired) == [
        {"is_active": False, "is_obsolete": True, "total_real_stock": 0, "stock": [0, 0]}
    ]
    still = await rows_of(
        db, "SELECT count(*) AS n FROM items WHERE vendor_id = %s AND is_active", VENDOR
    )
    assert still == [{"n": 2499}]


# backoff, against a real HTTP peer that misbehaves on purpose


@dataclass
class FlakyIngest:
    """An ingest endpoint answering the statuses in `script` first, then 200."""

    script: list[tuple[int, dict[str, str]]]
    bodies: list[bytes] = field(default_factory=list)
    correlation_ids: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        self.correlation_ids.append(request.headers["X-Correlation-ID"])
        if self.script:
            status, headers = self.script.pop(0)
            problem = {"title": "t", "status": status, "detail": "scripted", "code": f"s{status}"}
            return web.json_response(
                problem, status=status, headers=headers, content_type="application/problem+json"
            )
        rows = orjson.loads(self.bodies[-1])["items"]
        results = [{"identifier": row["sku"], "status": "processed"} for row in rows]
        answer = {"processed": len(rows), "skipped": 0, "failed": 0, "results": results}
        return web.json_response(answer)


class RecordingSleep:
    """Records the waits asked for (without waiting them: the peer is scripted)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def flaky(
    aiohttp_server: Callable[..., Any], tmp_path: Path
) -> AsyncIterator[tuple[FlakyIngest, AgentClient]]:
    fake = FlakyIngest(script=[])
    app = web.Application()
    app.router.add_post("/api/sync/items", fake.handle)
    server: TestServer = await aiohttp_server(app, host="127.0.0.1")
    path = tmp_path / "agent.json"
    AgentCredentials(
        vendor_id=VENDOR,
        token="t" * 43,
        outbound_secret="o" * 43,
        agent_url=AGENT_URL,
        erp_type="sage",
    ).save(path)
    async with aiohttp.ClientSession() as session:
        yield fake, AgentClient(session, str(server.make_url("")), VENDOR, path)


ITEMS = Catalog.generate(3, 1).rows("items")


async def test_a_rate_limit_is_waited_out_as_told_and_a_server_error_backed_off(
    flaky: tuple[FlakyIngest, AgentClient],
) -> None:
    fake, client = flaky
    fake.script = [(429, {"Retry-After": "7"}), (503, {}), (502, {})]
    sleep = RecordingSleep()
    pusher = CatalogPusher(client, sleep=sleep, backoff_base_seconds=0.25)

    summary = await pusher.push_rows("items", ITEMS)

    assert (summary.requests, summary.retries, summary.processed) == (1, 3, 3)
    assert sleep.delays[0] == 7.0
    # Exponential in the number of failures in a row (the 429 was the first), jittered.
    assert 0.25 <= sleep.delays[1] <= 0.5
    assert 0.5 <= sleep.delays[2] <= 1.0
    assert len(fake.bodies) == 4
    assert len(set(fake.bodies)) == 1  # the same request again
    assert len(set(fake.correlation_ids)) == 1


async def test_rows_without_a_content_hash_get_one_computed(
    flaky: tuple[FlakyIngest, AgentClient],
) -> None:
    fake, client = flaky
    bare = {"sku": "SKU-X", "name": "Sel de Guérande", "lastSyncedAt": "2026-03-01T08:00:00Z"}

    await CatalogPusher(client).push_rows("items", [bare, ITEMS[0]])

    sent = orjson.loads(fake.bodies[0])["items"]
    assert sent[0] == {**bare, "contentHash": content_hash(bare)}
    assert sent[1] == ITEMS[0]


async def test_retries_are_bounded_then_a_clear_error(
    flaky: tuple[FlakyIngest, AgentClient],
) -> None:
    fake, client = flaky
    fake.script = [(503, {})] * 10
    pusher = CatalogPusher(client, max_attempts=3, sleep=RecordingSleep())

    with pytest.raises(PushFailed, match=r"items request 0 \(3 rows\).* failed 3 times.*503"):
        await pusher.push_rows("items", ITEMS)

    assert len(fake.bodies) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 413, 422])
async def test_a_refusal_other_than_429_is_never_retried(
    flaky: tuple[FlakyIngest, AgentClient], status: int
) -> None:
    fake, client = flaky
    fake.script = [(status, {})]
    sleep = RecordingSleep()

    with pytest.raises(PushFailed, match=f"refused: {status} s{status}: scripted") as caught:
        await CatalogPusher(client, sleep=sleep).push_rows("items", ITEMS)

    assert len(fake.bodies) == 1
    assert sleep.delays == []
    assert caught.value.summary.requests == 0


async def test_connection_errors_are_retried_then_reported(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "agent.json"
    AgentCredentials(
        vendor_id=VENDOR, token="t" * 43, outbound_secret="o" * 43, agent_url=AGENT_URL,
        erp_type="sage",
    ).save(path)  # fmt: skip
    sleep = RecordingSleep()
    async with aiohttp.ClientSession() as session:
        client = AgentClient(session, f"http://127.0.0.1:{port}", VENDOR, path)
        pusher = CatalogPusher(client, max_attempts=2, sleep=sleep)

        with pytest.raises(PushFailed, match=r"failed 2 times.*ClientConnectorError"):
            await pusher.push_rows("items", ITEMS)

    assert len(sleep.delays) == 1


# the command


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """Agent commands configure process logging; give the test run its own back."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


async def test_push_command_pushes_a_generated_catalog(
    agent: AgentClient,
    app_client: TestClient[Any, Any],
    db: Conn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    keep_logging: None,
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    top = argparse.ArgumentParser(prog="restosync")
    add_agent_commands(top.add_subparsers(required=True))
    common = ["--url", str(app_client.make_url("")), "--credentials", str(agent.credentials_path)]

    args = top.parse_args(["agent", "push", *common, "--items", "20", "--warehouses", "2"])
    assert await asyncio.to_thread(args.run, args) == 0
    again = top.parse_args(["agent", "push", *common, "--items", "20", "--warehouses", "2"])
    assert await asyncio.to_thread(again.run, again) == 0

    out = capsys.readouterr().out
    assert "3 request(s), 0 retried: 62 processed, 0 skipped, 0 failed" in out
    assert "3 request(s), 0 retried: 0 processed, 62 skipped, 0 failed" in out
    assert await _counts(db) == (2, 20, 40)
