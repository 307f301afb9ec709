"""Benchmark: ingest through HTTP against the same rows upserted by plain SQL (the floor).

    .venv/bin/python -m bench.ingest [--items 50000] [--warehouses 3] [--requests 300]
                                     [--batches 5] [--clients 2] [--database-url URL]
                                     [--no-analyze] [--no-checkpoint] [--in-process]

The server given by --database-url (default: TEST_DATABASE_URL, else DATABASE_URL) gets
a scratch database, dropped afterwards; with neither, an embedded PostgreSQL runs in a
temporary folder. The rows are the reference agent's simulated catalog
(`restosync.agent.catalog`: every §4.2 field, ~1 KB an item on the wire), pushed as the
agent pushes them (`restosync.agent.push.request_bodies`) to a `restosync serve` process
on a loopback port (agent token auth, mappings seeded, rate limits off). Bodies are built
before the clock starts: the server is measured, not the agent. The database is brought
to a running server's steady state first: another vendor's catalog, WAL segments made
ready and a CHECKPOINT (segments recycled, not zero-filled during a measured commit),
ANALYZE before each phase. In one run:

1. Incremental: `--requests` sequential `POST /api/sync/items` of 500 new items (a catalog
   of their own): p50, p99 (nearest rank: of 300, the 297th fastest) and the slowest.
2. Batch vs floor: `--batches` rounds of 5000 new items, `POST /api/sync/items/batch`
   against one `INSERT … SELECT FROM json_to_recordset … JOIN mappings … ON CONFLICT DO
   UPDATE` of the same rows for another vendor (same tables, one transaction each).
3. Sustained: all `--items` items, then their stock rows (`--warehouses` per item), in
   batch pages of 5000 from `--clients` concurrent clients; then the same items again
   (unchanged: all skipped); then every item changed (all updated, through the upsert).
   The same rows by plain SQL, page by page, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import os
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psycopg

from bench.common import (
    bench_database,
    machine,
    percentile,
    process_cpu_seconds,
    serving,
    serving_process,
)
from restosync.agent.catalog import MAPPINGS, Catalog, CatalogEntity, Row
from restosync.agent.client import AgentClient
from restosync.agent.credentials import AgentCredentials
from restosync.agent.push import BATCH_LIMITS, INCREMENTAL_LIMITS, PushLimits, request_bodies
from restosync.settings import load_settings

AGENT_SECRET = "bench-enrolment-" + secrets.token_hex(8)
API_SECRET = "i" * 32
PAGE = 5000
# WAL segments (16 MB) made ready before the measurements (`_checkpoint`): the incremental
# and batch phases write ≈ 180 MB.
WAL_SEGMENTS = 16
TARGETS = {
    "batch_ratio": 2.0,
    "items_per_s": 15_000,
    "stock_per_s": 15_000,
    "unchanged_per_s": 40_000,
    "p99_ms": 60.0,
}

# The floor: what a hand-written loader does with the same wire rows, in one statement.
# (wire field, column, type); unit/vat/family/subfamily are mapped by joins, the slug is
# the sku lowercased, the meta fields go to `extra` as the service stores them.
_ITEM_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("sku", "sku", "text"), ("erpId", "erp_id", "text"), ("name", "name", "text"),
    ("description", "description", "text"), ("barcode", "barcode", "text"),
    ("erpUnitCode", "erp_unit_code", "text"), ("erpVatCode", "erp_vat_code", "text"),
    ("erpFamilyCode", "erp_family_code", "text"),
    ("erpSubfamilyCode", "erp_subfamily_code", "text"),
    ("unitPrice", "unit_price", "numeric"), ("priceExclVat", "price_excl_vat", "numeric"),
    ("priceInclVat", "price_incl_vat", "numeric"), ("vatAmount", "vat_amount", "numeric"),
    ("catalogPrice", "catalog_price", "numeric"),
    ("purchasePrice", "purchase_price", "numeric"),
    ("minimumOrderQuantity", "minimum_order_quantity", "numeric"),
    ("currency", "currency", "text"), ("manageStock", "manage_stock", "boolean"),
    ("allowNegativeStock", "allow_negative_stock", "boolean"),
    ("stockBookingAllowed", "stock_booking_allowed", "boolean"),
    ("automaticStockBooking", "automatic_stock_booking", "boolean"),
    ("trackingMode", "tracking_mode", "text"),
    ("pickMovementDisallowedOnTotallyBookedItem",
     "pick_movement_disallowed_on_totally_booked_item", "boolean"),
    ("weight", "weight", "numeric"), ("weightUnit", "weight_unit", "text"),
    ("height", "height", "numeric"), ("width", "width", "numeric"),
    ("length", "length", "numeric"), ("dimensionUnit", "dimension_unit", "text"),
    ("itemsPerPackage", "items_per_package", "numeric"), ("brand", "brand", "text"),
    ("daysToShip", "days_to_ship", "integer"), ("shipPriceTtc", "ship_price_ttc", "numeric"),
    ("originCountryCode", "origin_country_code", "text"),
    ("isActive", "is_active", "boolean"), ("publishOnWeb", "publish_on_web", "boolean"),
    ("contentHash", "content_hash", "text"), ("lastSyncedAt", "last_synced_at", "timestamptz"),
)  # fmt: skip
_MAPPED = (
    "unit_code", "unit_label", "vat_code", "vat_label", "vat_rate", "family_code",
    "family_label", "subfamily_code", "subfamily_label",
)  # fmt: skip
_ITEM_TARGETS = ", ".join([c for _, c, _ in _ITEM_COLUMNS] + list(_MAPPED) + ["slug", "extra"])
FLOOR_ITEMS = f"""
INSERT INTO items (vendor_id, {_ITEM_TARGETS})
SELECT %(vendor_id)s, {", ".join(f'r."{w}"' for w, _, _ in _ITEM_COLUMNS)},
       u.resto_code, u.resto_label, v.resto_code, v.resto_label, v.vat_rate,
       f.resto_code, f.resto_label, sf.resto_code, sf.resto_label,
       lower(r."sku"),
       jsonb_strip_nulls(jsonb_build_object('meta_title', r."metaTitle",
           'meta_description', r."metaDescription", 'meta_keywords', r."metaKeywords"))
FROM json_to_recordset(%(rows)s::json) AS r (
    {", ".join(f'"{w}" {t}' for w, _, t in _ITEM_COLUMNS)},
    "metaTitle" text, "metaDescription" text, "metaKeywords" text
)
JOIN erp_code_mappings AS u ON u.vendor_id = %(vendor_id)s AND u.mapping_type = 'unit'
     AND u.erp_code = r."erpUnitCode"
JOIN erp_code_mappings AS v ON v.vendor_id = %(vendor_id)s AND v.mapping_type = 'vat'
     AND v.erp_code = r."erpVatCode"
LEFT JOIN erp_code_mappings AS f ON f.vendor_id = %(vendor_id)s
     AND f.mapping_type = 'family' AND f.erp_code = r."erpFamilyCode"
LEFT JOIN erp_code_mappings AS sf ON sf.vendor_id = %(vendor_id)s
     AND sf.mapping_type = 'subfamily' AND sf.erp_code = r."erpSubfamilyCode"
ON CONFLICT (vendor_id, sku) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _ITEM_TARGETS.split(", ") if c != "sku")}
WHERE items.content_hash IS DISTINCT FROM EXCLUDED.content_hash
"""
FLOOR_WAREHOUSES = """
INSERT INTO warehouses (vendor_id, erp_warehouse_id, code, name, address, city,
    postal_code, country, latitude, longitude, is_active, is_main, type,
    multi_location_enabled, content_hash, last_synced_at)
SELECT %(vendor_id)s, r."erpWarehouseId", r."code", r."name", r."address", r."city",
       r."postalCode", r."country", r."latitude", r."longitude", r."isActive", r."isMain",
       r."type", r."multiLocationEnabled", r."contentHash", r."lastSyncedAt"
FROM json_to_recordset(%(rows)s::json) AS r ("erpWarehouseId" text, "code" text,
    "name" text, "address" text, "city" text, "postalCode" text, "country" text,
    "latitude" numeric, "longitude" numeric, "isActive" boolean, "isMain" boolean,
    "type" smallint, "multiLocationEnabled" boolean, "contentHash" text,
    "lastSyncedAt" timestamptz)
ON CONFLICT (vendor_id, erp_warehouse_id) DO NOTHING
"""
# Stock: keys resolved by joins and upserted; then (same transaction) the totals of the
# items touched recomputed from their stock rows, as the schema requires.
FLOOR_STOCK = (
    "CREATE TEMP TABLE IF NOT EXISTS floor_touched (item_id uuid) ON COMMIT DELETE ROWS",
    """
WITH written AS (
    INSERT INTO stock (vendor_id, item_id, warehouse_id, real_stock, virtual_stock,
        reserved_quantity, ordered_quantity, incoming_quantity, pump, stock_value,
        min_stock, max_stock, stock_to_order_threshold, last_synced_from, content_hash,
        last_synced_at)
    SELECT %(vendor_id)s, i.id, w.id, r."realStock", r."virtualStock",
           r."reservedQuantity", r."orderedQuantity", r."incomingQuantity", r."pump",
           r."stockValue", r."minStock", r."maxStock", r."stockToOrderThreshold",
           r."lastSyncedFrom", r."contentHash", r."lastSyncedAt"
    FROM json_to_recordset(%(rows)s::json) AS r ("itemSku" text, "erpWarehouseId" text,
        "realStock" numeric, "virtualStock" numeric, "reservedQuantity" numeric,
        "orderedQuantity" numeric, "incomingQuantity" numeric, "pump" numeric,
        "stockValue" numeric, "minStock" numeric, "maxStock" numeric,
        "stockToOrderThreshold" numeric, "lastSyncedFrom" text, "contentHash" text,
        "lastSyncedAt" timestamptz)
    JOIN items AS i ON i.vendor_id = %(vendor_id)s AND i.sku = r."itemSku"
    JOIN warehouses AS w ON w.vendor_id = %(vendor_id)s
         AND w.erp_warehouse_id = r."erpWarehouseId"
    ON CONFLICT (vendor_id, warehouse_id, item_id) DO UPDATE SET
        real_stock = EXCLUDED.real_stock, virtual_stock = EXCLUDED.virtual_stock,
        reserved_quantity = EXCLUDED.reserved_quantity,
        content_hash = EXCLUDED.content_hash, last_synced_at = EXCLUDED.last_synced_at
    WHERE stock.content_hash IS DISTINCT FROM EXCLUDED.content_hash
    RETURNING item_id
)
INSERT INTO floor_touched SELECT DISTINCT item_id FROM written
""",
    """
UPDATE items AS i
SET total_real_stock = t.real, total_virtual_stock = t.virtual,
    total_reserved_quantity = t.reserved
FROM (SELECT s.item_id, sum(s.real_stock) AS real, sum(s.virtual_stock) AS virtual,
             sum(s.reserved_quantity) AS reserved
      FROM stock AS s WHERE s.item_id IN (SELECT item_id FROM floor_touched)
      GROUP BY s.item_id) AS t
WHERE i.id = t.item_id
""",
)
FLOOR_SQL: dict[CatalogEntity, tuple[str, ...]] = {
    "items": (FLOOR_ITEMS,),
    "warehouses": (FLOOR_WAREHOUSES,),
    "stock": FLOOR_STOCK,
}


@dataclass
class Agent:
    """An enrolled vendor: what its requests carry."""

    vendor_id: str
    headers: dict[str, str]


async def _enrol(
    session: aiohttp.ClientSession, base: str, folder: Path, vendor_id: str, url: str
) -> Agent:
    """Enrol through the API (the reference agent) and seed the catalog's mappings."""
    path = folder / f"{vendor_id}.json"
    await AgentClient(session, base, vendor_id, path).enrol(
        AGENT_SECRET, "http://127.0.0.1:9/agent", "custom"
    )
    await _seed_mappings(url, vendor_id)
    token = AgentCredentials.load(path).token
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Vendor-ID": vendor_id,
        "Content-Type": "application/json",
    }
    return Agent(vendor_id, headers)


async def _seed_mappings(url: str, vendor_id: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for mapping_type, erp_code, resto_code, label, rate in MAPPINGS:
            await conn.execute(
                "INSERT INTO erp_code_mappings (vendor_id, mapping_type, erp_code, resto_code, "
                "resto_label, vat_rate) VALUES (%s, %s, %s, %s, %s, %s)",
                [vendor_id, mapping_type, erp_code, resto_code, label, rate],
            )


async def _post(
    session: aiohttp.ClientSession, base: str, agent: Agent, path: str, body: bytes
) -> dict[str, Any]:
    async with session.post(base + path, data=io.BytesIO(body), headers=agent.headers) as r:
        answer: dict[str, Any] = await r.json()
        assert r.status == 200, answer
    return answer


async def _post_all(
    session: aiohttp.ClientSession,
    base: str,
    agent: Agent,
    path: str,
    bodies: list[bytes],
    clients: int,
) -> tuple[float, dict[str, int]]:
    """Seconds to send every body from `clients` concurrent clients, and the row counts."""
    queue = list(reversed(bodies))
    counts = {"processed": 0, "skipped": 0, "failed": 0}

    async def client() -> None:
        while queue:
            answer = await _post(session, base, agent, path, queue.pop())
            for name in counts:
                counts[name] += answer[name]

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, counts


def _bodies(
    agent: Agent, entity: CatalogEntity, rows: list[Row], limits: PushLimits
) -> list[bytes]:
    return [b.payload for b in request_bodies(agent.vendor_id, entity, rows, limits)]


async def _floor(url: str, vendor_id: str, entity: CatalogEntity, pages: list[bytes]) -> float:
    """Seconds to upsert the pages (JSON arrays) by plain SQL, one transaction each."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        started = time.perf_counter()
        for page in pages:
            async with conn.transaction():
                for statement in FLOOR_SQL[entity]:
                    await conn.execute(statement, {"vendor_id": vendor_id, "rows": page.decode()})
        return time.perf_counter() - started


def _pages(rows: list[Row], size: int = PAGE) -> list[bytes]:
    return [orjson.dumps(rows[i : i + size]) for i in range(0, len(rows), size)]


# The measured server's CPU seconds so far, None when unknown (`_server`).
Cpu = Callable[[], float | None]


class Results:
    """Every measurement, printed as one table at the end."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str, str]] = []

    def add(self, name: str, value: str, floor: str = "", target: str = "") -> None:
        self.lines.append((name, value, floor, target))
        print(f"  {name:<46} {value:>16} {floor:>16} {target}", flush=True)

    def table(self) -> str:
        rows = ["| measurement | HTTP | plain SQL floor | target |", "| --- | --- | --- | --- |"]
        rows += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.lines]
        return "\n".join(rows)


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


async def _authenticated(session: aiohttp.ClientSession, base: str, agent: Agent) -> None:
    """One push of nothing: the agent's token is verified (bcrypt, ≈ 0.25 s of the server's
    CPU) and cached before any measured request."""
    empty = b'{"vendorId":' + orjson.dumps(agent.vendor_id) + b',"warehouses":[]}'
    await _post(session, base, agent, "/api/sync/warehouses", empty)


async def _incremental(
    session: aiohttp.ClientSession,
    base: str,
    agent: Agent,
    rows: list[Row],
    out: Results,
    cpu: Cpu,
) -> None:
    bodies = _bodies(agent, "items", rows, INCREMENTAL_LIMITS)
    samples = []
    cpu_before = cpu()
    for body in bodies:
        started = time.perf_counter()
        await _post(session, base, agent, "/api/sync/items", body)
        samples.append((time.perf_counter() - started) * 1000)
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    out.add(f"500-item incremental request p50 (n={len(samples)})", f"{p50:.1f} ms")
    ok = p99 <= TARGETS["p99_ms"]
    out.add("500-item incremental request p99", f"{p99:.1f} ms", "",
            f"≤ 60 ms: {_verdict(ok)}")  # fmt: skip
    out.add("500-item incremental request, slowest", f"{max(samples):.1f} ms")
    out.add("incremental items/s (1 client)", f"{500 * len(samples) / sum(samples) * 1000:,.0f}")
    _cpu_per_row(out, "500-item requests", _spent(cpu_before, cpu()), 500 * len(samples))


async def _batch_vs_floor(
    session: aiohttp.ClientSession,
    base: str,
    url: str,
    agent: Agent,
    floor_vendor: str,
    rows: list[Row],
    rounds: int,
    out: Results,
    cpu: Cpu,
) -> None:
    http, floor, server = [], [], []  # server: CPU seconds of each request
    for r in range(rounds):
        chunk = rows[r * PAGE : (r + 1) * PAGE]
        body = _bodies(agent, "items", chunk, BATCH_LIMITS)[0]
        started, cpu_before = time.perf_counter(), cpu()
        await _post(session, base, agent, "/api/sync/items/batch", body)
        http.append(time.perf_counter() - started)
        server.append(_spent(cpu_before, cpu()))
        floor.append(await _floor(url, floor_vendor, "items", _pages(chunk)))
    h, f = statistics.median(http) * 1000, statistics.median(floor) * 1000
    ok = h / f <= TARGETS["batch_ratio"]
    out.add(f"5000-item batch, new items (median of {rounds})", f"{h:.0f} ms", f"{f:.0f} ms",
            f"≤ 2x floor: {h / f:.2f}x {_verdict(ok)}")  # fmt: skip
    used = None if None in server else sum(s for s in server if s is not None)
    _cpu_per_row(out, "5000-item batches", used, PAGE * rounds)


async def _sustained(
    session: aiohttp.ClientSession,
    base: str,
    url: str,
    agent: Agent,
    floor_vendor: str,
    catalog: Catalog,
    clients: int,
    out: Results,
    cpu: Cpu,
) -> None:
    items, stock, warehouses = (
        catalog.rows("items"),
        catalog.rows("stock"),
        catalog.rows("warehouses"),
    )
    await _post_all(session, base, agent, "/api/sync/warehouses/batch",
                    _bodies(agent, "warehouses", warehouses, BATCH_LIMITS), 1)  # fmt: skip
    await _floor(url, floor_vendor, "warehouses", _pages(warehouses))
    runs: tuple[tuple[CatalogEntity, list[Row], str, str], ...] = (
        ("items", items, "items_per_s", "items/s"),
        ("stock", stock, "stock_per_s", "stock rows/s"),
    )
    for entity, rows, target, key in runs:
        seconds, counts, spent = await _push_batches(session, base, agent, entity, rows,
                                                     clients, cpu)  # fmt: skip
        assert counts["processed"] == len(rows), counts
        floor = await _floor(url, floor_vendor, entity, _pages(rows))
        rate, floor_rate = len(rows) / seconds, len(rows) / floor
        ok = rate >= TARGETS[target]
        out.add(f"{key} sustained ({len(rows):,} new, {clients} clients)", f"{rate:,.0f}",
                f"{floor_rate:,.0f}", f"≥ {TARGETS[target]:,.0f}: {_verdict(ok)}")  # fmt: skip
        _cpu_per_row(out, f"sustained {entity}", spent, len(rows))
    seconds, counts, spent = await _push_batches(session, base, agent, "items", items, clients, cpu)
    assert counts["skipped"] == len(items), counts
    rate = len(items) / seconds
    ok = rate >= TARGETS["unchanged_per_s"]
    out.add(f"unchanged resend items/s ({len(items):,}, all skipped)", f"{rate:,.0f}", "",
            f"≥ 40,000: {_verdict(ok)}")  # fmt: skip
    _cpu_per_row(out, "unchanged resend", spent, len(items))
    # Every item changed (as a day of ERP edits would): all go through the upsert.
    changed = [catalog.change_item(row["sku"], name=f"{row['name']} (new)") for row in items]
    seconds, counts, spent = await _push_batches(session, base, agent, "items", changed,
                                                 clients, cpu)  # fmt: skip
    assert counts["processed"] == len(changed), counts
    floor = await _floor(url, floor_vendor, "items", _pages(changed))
    out.add(f"changed resend items/s ({len(changed):,}, all updated)",
            f"{len(changed) / seconds:,.0f}", f"{len(changed) / floor:,.0f}")  # fmt: skip
    _cpu_per_row(out, "changed resend", spent, len(changed))


async def _push_batches(
    session: aiohttp.ClientSession,
    base: str,
    agent: Agent,
    entity: CatalogEntity,
    rows: list[Row],
    clients: int,
    cpu: Cpu,
) -> tuple[float, dict[str, int], float | None]:
    """Rows pushed in batch pages from `clients` clients: seconds, row counts, and the
    server's CPU seconds meanwhile (bodies built before the clock starts)."""
    bodies = _bodies(agent, entity, rows, BATCH_LIMITS)
    cpu_before = cpu()
    seconds, counts = await _post_all(
        session, base, agent, f"/api/sync/{entity}/batch", bodies, clients
    )
    return seconds, counts, _spent(cpu_before, cpu())


def _spent(before: float | None, after: float | None) -> float | None:
    """CPU seconds between two readings of `Cpu` (None when unknown)."""
    return None if before is None or after is None else after - before


def _cpu_per_row(out: Results, phase: str, seconds: float | None, rows: int) -> None:
    """The server process's CPU per row in a phase: its own work, without the waits."""
    if seconds is not None and rows:
        out.add(f"server CPU per row: {phase}", f"{seconds / rows * 1e6:.1f} µs")


async def _analyze(url: str) -> None:
    """What autovacuum's ANALYZE gives a running database: statistics for the planner."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "ANALYZE items, stock, warehouses, erp_code_mappings, ingest_rejections, ingest_batches"
        )


async def _checkpoint(url: str, segments: int = WAL_SEGMENTS) -> None:
    """What a running server's checkpoints give: WAL segments recycled, not created.

    On a fresh cluster every 16 MB of WAL makes one commit wait for a new segment to be
    written full of zeros (≈ 25-45 ms here: every 37th 500-item request on a fresh embedded
    server). A server that has run for a while renames the segments its checkpoints no
    longer need: `segments` switches to a new segment (each made now, not while measured),
    then a CHECKPOINT, leave that many ready for the run.
    """
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for _ in range(segments):
            # A switch needs WAL written since the last one: a message, no table.
            await conn.execute("SELECT pg_logical_emit_message(false, 'restosync-bench', '')")
            await conn.execute("SELECT pg_switch_wal()")
        await conn.execute("CHECKPOINT")


async def _resident(url: str, items: int, warehouses: int) -> None:
    """Another vendor's catalog already in the database (plain SQL), so tables are not empty."""
    catalog = Catalog.generate(items, warehouses, seed=1)
    await _seed_mappings(url, "resident")
    for entity in ("warehouses", "items", "stock"):
        await _floor(url, "resident", entity, _pages(catalog.rows(entity)))


async def _run(url: str, args: argparse.Namespace) -> Results:
    env = {
        "DATABASE_URL": url,
        "API_SECRET": API_SECRET,
        "AGENT_SECRET": AGENT_SECRET,
        "RATE_LIMITS_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    catalog = Catalog.generate(args.items, args.warehouses)
    items = catalog.rows("items")
    # The incremental requests' items: a catalog of their own (the same generator, another
    # seed), so that --requests is not bounded by --items.
    incremental = Catalog.generate(args.requests * 500, 0, seed=2).rows("items")
    mean = statistics.fmean(len(orjson.dumps(row)) for row in items[:1000])
    print(
        f"catalog: {len(items):,} items (~{mean:.0f} bytes each on the wire), "
        f"{len(catalog.stock):,} stock rows, and {len(incremental):,} items for the "
        f"incremental requests, generated in {time.perf_counter() - started:.1f} s"
    )
    # The clients' own rows (millions of objects) out of their collections: a full one
    # took ~100 ms, inside whichever request it fell in.
    gc.collect()
    gc.freeze()
    out = Results()
    folder = Path(tempfile.mkdtemp(prefix="rs-bench-agents-"))
    timeout = aiohttp.ClientTimeout(total=300)
    try:
        async with (
            _server(args, env) as (base, cpu),
            aiohttp.ClientSession(timeout=timeout) as session,
        ):
            agents = [await _enrol(session, base, folder, f"bench-{n}", url) for n in range(3)]
            for agent in agents:
                await _authenticated(session, base, agent)
            for vendor in ("floor-batch", "floor-sustained"):
                await _seed_mappings(url, vendor)
            await _resident(url, args.resident_items, args.warehouses)
            if args.checkpoint:
                await _checkpoint(url)
            stats = _analyze if args.analyze else _no_analyze
            print(f"  {'measurement':<46} {'HTTP':>16} {'plain SQL':>16} target")
            await stats(url)
            await _incremental(session, base, agents[0], incremental, out, cpu)
            await stats(url)
            await _batch_vs_floor(
                session, base, url, agents[1], "floor-batch", items, args.batches, out, cpu
            )
            await stats(url)
            await _sustained(
                session, base, url, agents[2], "floor-sustained", catalog, args.clients, out, cpu
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return out


@asynccontextmanager
async def _server(
    args: argparse.Namespace, env: dict[str, str]
) -> AsyncIterator[tuple[str, Callable[[], float | None]]]:
    """The server measured: `restosync serve` in its own process, or (--in-process) the
    app in this one, beside the bench's rows and clients; its base URL, and its CPU
    seconds so far (None in process: the clients' CPU would be counted too)."""
    if args.in_process:
        async with serving(load_settings(**env)) as (_, base):
            yield base, lambda: None
    else:
        with serving_process(env) as (base, pid):
            yield base, partial(process_cpu_seconds, pid)


async def _no_analyze(url: str) -> None:
    return None


async def _autovacuum(url: str) -> str:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (await conn.execute("SHOW autovacuum")).fetchone()
        version = await (await conn.execute("SHOW server_version")).fetchone()
    assert row is not None
    assert version is not None
    return f"PostgreSQL {version[0]}, autovacuum {row[0]}"


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--warehouses", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300, help="500-item requests timed")
    parser.add_argument("--batches", type=int, default=5, help="5000-item rounds vs floor")
    parser.add_argument("--clients", type=int, default=2, help="concurrent sustained clients")
    parser.add_argument(
        "--resident-items", type=int, default=20_000, help="another vendor's items loaded first"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="serve the app in the bench's own process (as before 2026-12-01) rather than "
        "a `restosync serve` process",
    )
    parser.add_argument(
        "--no-checkpoint",
        dest="checkpoint",
        action="store_false",
        help="no WAL segments made ready and no CHECKPOINT after loading the resident "
        "catalog (segments are then created during the measurements, as on a fresh cluster)",
    )
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="do not ANALYZE before each phase (stale planner statistics, as right after a "
        "bulk load or on a server with autovacuum off)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL"),
        help="PostgreSQL server to create the scratch database on (default: "
        "TEST_DATABASE_URL, DATABASE_URL, else an embedded server)",
    )
    args = parser.parse_args()
    if args.items < args.batches * PAGE:
        parser.error("--items must cover --batches x 5000")

    with bench_database(args.database_url) as url:
        print(f"machine: {machine()}; {await _autovacuum(url)}")
        print(
            f"ANALYZE before each phase: {'yes' if args.analyze else 'no'}; "
            f"WAL segments ready and CHECKPOINT after the resident load: "
            f"{WAL_SEGMENTS if args.checkpoint else 'no'}; "
            f"server: {'in process' if args.in_process else 'restosync serve process'}"
        )
        print(f"load average at start: {_load()}")
        results = await _run(url, args)
        print(f"load average at end: {_load()} (other processes share the machine)")
        print()
        print(results.table())


if __name__ == "__main__":
    asyncio.run(main())
