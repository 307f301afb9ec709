"""Benchmark: reconciliation of 100,000 items with 10 drifted rows (SPEC §6.1).

    .venv/bin/python -m bench.reconcile [--items 100000] [--runs 3]

Uses DATABASE_URL when set (a scratch database is created and dropped on that server),
else an embedded PostgreSQL in a temporary folder. The ERP is the reference agent's
simulated catalog, served over loopback HTTP by `AgentServer`; Postgres is seeded with
the same catalog by one COPY (rows with the agent's content hashes, as ingest stores
them). Then, per run, 10 rows drift in the ERP (4 changed, 3 added of which one sorts
below and one above every key, 3 removed; the new items come with a stock row each, so
stock drifts by 3 rows too) and one reconciliation run of the vendor
(items and stock, the production code path and settings) is timed; agent calls are
counted by the agent server. Every run must end with both sides equal, and the run
after it must find nothing. Targets: <= 100 agent calls and <= 10 s per run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import time
from collections import Counter

import aiohttp
import psycopg

from bench.common import bench_database, machine
from restosync.agent.catalog import MAPPINGS, Catalog
from restosync.agent.erp import SimulatedErp
from restosync.agent.server import AgentServer
from restosync.db.pool import create_pool, open_pool, transaction
from restosync.services.ingest.context import IngestContext
from restosync.services.ingest.service import run_rows
from restosync.services.mappings import MappingResolver
from restosync.services.reconciliation import reconcile_vendor
from restosync.settings import Settings, load_settings

VENDOR = "bench-vendor"
SECRET = secrets.token_urlsafe(32)
MAX_CALLS = 100
MAX_SECONDS = 10.0
_RESTO = {erp: (resto, label, rate) for kind, erp, resto, label, rate in MAPPINGS}


def _seed(url: str, agent_url: str, catalog: Catalog) -> None:
    """The agent, the mappings and the catalog's items, as ingest would have stored them."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO agent_registry (vendor_id, agent_url, erp_type, auth_token_hash, "
            "outbound_secret) VALUES (%s, %s, 'custom', %s, %s)",
            [VENDOR, agent_url, "$2b$12$" + "x" * 53, SECRET],
        )
        for kind, erp, resto, label, rate in MAPPINGS:
            conn.execute(
                "INSERT INTO erp_code_mappings (vendor_id, mapping_type, erp_code, resto_code, "
                "resto_label, vat_rate) VALUES (%s, %s, %s, %s, %s, %s)",
                [VENDOR, kind, erp, resto, label, rate],
            )
        with conn.cursor().copy(
            "COPY items (vendor_id, sku, name, slug, erp_unit_code, erp_vat_code, unit_code, "
            "vat_code, vat_rate, unit_price, content_hash, last_synced_at) FROM STDIN"
        ) as copy:
            for row in catalog.rows("items"):
                unit, vat = _RESTO[row["erpUnitCode"]], _RESTO[row["erpVatCode"]]
                copy.write_row(
                    (VENDOR, row["sku"], row["name"], row["sku"].lower(), row["erpUnitCode"],
                     row["erpVatCode"], unit[0], vat[0], vat[2], row["unitPrice"],
                     row["contentHash"], row["lastSyncedAt"])
                )  # fmt: skip
        conn.execute("ANALYZE items")


async def _seed_warehouses(settings: Settings, catalog: Catalog) -> None:
    pool = create_pool(settings.database_url, max_size=2, name="bench-seed")
    await open_pool(pool)
    try:
        async with transaction(pool) as conn:
            ctx = IngestContext(conn, VENDOR, MappingResolver(pool, settings), None)
            await run_rows(ctx, "warehouses", catalog.rows("warehouses"))
    finally:
        await pool.close()


def _drift(catalog: Catalog, run: int) -> list[str]:
    """10 drifted rows of mixed kinds, different ones per run."""
    skus = sorted(catalog.items)
    step = len(skus) // 8
    changed = [skus[step * k + run] for k in (1, 3, 5, 7)]
    removed = [skus[step * k + 2 + run] for k in (2, 4, 6)]
    added = [f"AAA-{run}-below", f"SKU-0050000-{run}-new", f"zzz-{run}-above"]
    for sku in changed:
        catalog.change_item(sku, name=f"changed in run {run}")
    for sku in removed:
        catalog.remove_item(sku)
    for n, sku in enumerate(added):
        catalog.add_item(sku, seed=run * 10 + n)
    return [*changed, *removed, *added]


async def _equal(url: str, catalog: Catalog) -> bool:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT key, content_hash FROM v_reconciliation_items WHERE vendor_id = %s", [VENDOR]
        )
        ours = sorted(await cur.fetchall(), key=lambda r: r[0].encode())
    return ours == [(m["key"], m["contentHash"]) for m in catalog.manifest("items")]


async def _run(url: str, args: argparse.Namespace) -> bool:
    started = time.perf_counter()
    catalog = Catalog.generate(args.items, warehouses=1, seed=1, stocked_share=0)
    agent = AgentServer(SimulatedErp(), lambda: SECRET, catalog=catalog)
    agent_url = await agent.start()
    settings = load_settings(DATABASE_URL=url, API_SECRET="r" * 32, LOG_LEVEL="WARNING")
    _seed(url, agent_url, catalog)
    await _seed_warehouses(settings, catalog)
    print(f"seeded {args.items} items in {time.perf_counter() - started:.1f} s (not timed below)")
    print(
        f"leaf rows {settings.RECONCILIATION_LEAF_ROWS}, fan-out {settings.RECONCILIATION_FANOUT}"
    )
    pool = create_pool(url, max_size=4, name="bench")
    await open_pool(pool)
    ok = True
    try:
        async with aiohttp.ClientSession() as http:
            resolver = MappingResolver(pool, settings)
            for run in range(args.runs):
                drifted = _drift(catalog, run)
                agent.calls.clear()
                agent.catalog_seconds = 0.0
                t0 = time.perf_counter()
                outcome = await reconcile_vendor(pool, http, settings, resolver, VENDOR)
                seconds = time.perf_counter() - t0
                calls, agent_seconds = agent.catalog_calls(), agent.catalog_seconds
                per_path = dict(
                    Counter({p.removeprefix("/sync/"): n for p, n in agent.calls.items()})
                )
                found = [e.drifted for e in outcome.entities]
                fixed = [e.fixes.processed if e.fixes else 0 for e in outcome.entities]
                equal = await _equal(url, catalog)
                agent.calls.clear()
                again = await reconcile_vendor(pool, http, settings, resolver, VENDOR)
                clean = [e.event_type for e in again.entities] == ["full_checksum"] * 2
                expected = [len(drifted), 3]  # items; stock rows of the 3 new items
                good = found == fixed == expected and equal and clean
                good = good and calls <= MAX_CALLS and seconds <= MAX_SECONDS
                ok = ok and good
                print(
                    f"run {run + 1}: drifted items+stock found {found}, repaired {fixed}, "
                    f"{calls} agent calls {per_path}, {seconds:.2f} s (of which the reference "
                    f"agent computing answers {agent_seconds:.2f} s); "
                    f"sides equal: {equal}; next run: {agent.catalog_calls()} calls, "
                    f"no drift: {clean} -> {'OK' if good else 'MISSED TARGET'}"
                )
    finally:
        await pool.close()
        await agent.stop()
    return ok


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("restosync").setLevel(logging.ERROR)
    print(f"machine: {machine()}")
    with bench_database() as url:
        ok = await _run(url, args)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    asyncio.run(main())
