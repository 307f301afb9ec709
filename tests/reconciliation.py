"""Helpers for reconciliation tests: a vendor whose agent serves a Catalog, and Postgres's side."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, LiteralString

import aiohttp

from restosync.agent.catalog import MAPPINGS, Catalog
from restosync.agent.erp import SimulatedErp
from restosync.agent.server import AgentServer
from restosync.db.pool import Pool, transaction
from restosync.services.ingest.context import IngestContext
from restosync.services.ingest.service import run_rows
from restosync.services.mappings import MappingResolver
from restosync.services.reconciliation import RunOutcome, reconcile_vendor
from restosync.services.reconciliation_compare import Tuning
from restosync.settings import Settings
from tests.ingest import Conn, seed_mappings
from tests.reference_agents import BCRYPT_LIKE

# Small leaves and fan-out: even a catalog of a few dozen rows is narrowed over levels.
SMALL = Tuning(leaf_rows=2, fanout=3, fetch_batch=3, apply_batch=2)


@dataclass
class Vendor:
    """A vendor with a registered reference agent serving `catalog` (the ERP)."""

    vendor_id: str
    catalog: Catalog
    server: AgentServer
    pool: Pool
    http: aiohttp.ClientSession
    settings: Settings
    resolver: MappingResolver

    async def load(self, entities: tuple[str, ...] = ("warehouses", "items", "stock")) -> None:
        """Put the catalog's current rows into Postgres through the ingest pipeline."""
        async with transaction(self.pool) as conn:
            ctx = IngestContext(conn, self.vendor_id, self.resolver, None)
            for entity in entities:
                rows = self.catalog.rows(entity)  # type: ignore[arg-type]
                if rows:
                    result = (await run_rows(ctx, entity, rows)).result()  # type: ignore[arg-type]
                    assert result.failed == 0, result

    async def reconcile(self, tuning: Tuning = SMALL) -> RunOutcome:
        """One reconciliation run of this vendor."""
        return await reconcile_vendor(
            self.pool, self.http, self.settings, self.resolver, self.vendor_id, tuning=tuning
        )


@asynccontextmanager
async def vendor_with_catalog(
    db: Conn,
    pool: Pool,
    http: aiohttp.ClientSession,
    settings: Settings,
    catalog: Catalog,
    vendor_id: str = "vendor-r",
) -> AsyncIterator[Vendor]:
    """A registered agent serving `catalog` on loopback, with the catalog's mappings seeded."""
    secret = secrets.token_urlsafe(32)
    server = AgentServer(SimulatedErp(), lambda: secret, catalog=catalog)
    url = await server.start()
    await db.execute(
        "INSERT INTO agent_registry (vendor_id, agent_url, erp_type, auth_token_hash, "
        "outbound_secret) VALUES (%s, %s, 'custom', %s, %s)",
        [vendor_id, url, BCRYPT_LIKE, secret],
    )
    await seed_mappings(db, vendor_id, MAPPINGS)
    try:
        yield Vendor(
            vendor_id, catalog, server, pool, http, settings, MappingResolver(pool, settings)
        )
    finally:
        await server.stop()


_PRESENT: dict[str, LiteralString] = {
    "items": "SELECT key, content_hash FROM v_reconciliation_items WHERE vendor_id = %s",
    "stock": "SELECT key, content_hash FROM v_reconciliation_stock WHERE vendor_id = %s",
}


async def postgres_side(db: Conn, vendor_id: str, entity: str) -> list[tuple[str, str]]:
    """(key, contentHash) of the rows Postgres holds as present, in byte-wise key order."""
    cur = await db.execute(_PRESENT[entity], [vendor_id])
    rows = [(r["key"], r["content_hash"]) for r in await cur.fetchall()]
    return sorted(rows, key=lambda r: r[0].encode())


def erp_side(catalog: Catalog, entity: str) -> list[tuple[str, str]]:
    """(key, contentHash) of the ERP's rows, in byte-wise key order."""
    return [(m["key"], m["contentHash"]) for m in catalog.manifest(entity)]  # type: ignore[arg-type]


async def events_of(db: Conn, vendor_id: str) -> list[dict[str, Any]]:
    """The vendor's reconciliation events, oldest first."""
    cur = await db.execute(
        "SELECT event_type, entity, summary, details, duration_ms FROM reconciliation_events "
        "WHERE vendor_id = %s ORDER BY id",
        [vendor_id],
    )
    return await cur.fetchall()
