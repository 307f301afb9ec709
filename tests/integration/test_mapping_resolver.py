"""The per-process mapping cache: one query per request, invalidated by NOTIFY everywhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import DictRow

from restosync.db.mappings import ResolvedCode
from restosync.db.notifications import listen
from restosync.db.pool import Pool, connection
from restosync.services.mappings import MAPPINGS_CHANNEL, MappingResolver
from restosync.settings import Settings

Conn = psycopg.AsyncConnection[DictRow]


class CountingConn:
    """Counts the statements a resolver runs on a real connection."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.statements = 0

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.statements += 1
        return await self.conn.execute(*args, **kwargs)


async def _seed(db: Conn) -> None:
    await db.execute(
        "INSERT INTO erp_code_mappings (vendor_id, mapping_type, erp_code, resto_code, vat_rate) "
        "VALUES ('v1', 'unit', 'KG', 'kg', NULL), ('v1', 'vat', 'T1', 'std', 20), "
        "('v2', 'unit', 'KG', 'kilo', NULL)"
    )


@pytest.fixture
async def resolver(
    pool: Pool, make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[MappingResolver]:
    """A listening resolver, as in a web process."""
    resolver = MappingResolver(pool, make_settings(MAPPING_CACHE_MAX_PER_VENDOR=3))
    feed = asyncio.create_task(
        listen(database_url, MAPPINGS_CHANNEL, resolver.forget_vendor, resolver.set_listening)
    )
    for _ in range(100):
        if resolver.listening:
            break
        await asyncio.sleep(0.02)
    yield resolver
    feed.cancel()
    await asyncio.gather(feed, return_exceptions=True)


async def _resolve(
    resolver: MappingResolver, pool: Pool, wanted: set[tuple[str, str]], vendor: str = "v1"
) -> tuple[dict[tuple[str, str], ResolvedCode], int]:
    async with connection(pool) as conn:
        counting = CountingConn(conn)
        found = await resolver.resolve_many(counting, vendor, wanted)  # type: ignore[arg-type]
    return dict(found), counting.statements


async def test_many_codes_one_query_then_none(
    resolver: MappingResolver, pool: Pool, db: Conn
) -> None:
    await _seed(db)
    wanted = {("unit", "KG"), ("vat", "T1"), ("unit", "NOPE")}
    found, statements = await _resolve(resolver, pool, wanted)
    assert statements == 1
    assert set(found) == {("unit", "KG"), ("vat", "T1")}
    assert found[("vat", "T1")].vat_rate == Decimal(20)
    again, statements = await _resolve(resolver, pool, wanted)
    assert statements == 0  # negative answers are cached too
    assert again == found
    other, _ = await _resolve(resolver, pool, {("unit", "KG")}, vendor="v2")
    assert other[("unit", "KG")].resto_code == "kilo"


async def test_a_change_by_plain_sql_is_seen_at_once(
    resolver: MappingResolver, pool: Pool, db: Conn
) -> None:
    await _seed(db)
    found, _ = await _resolve(resolver, pool, {("unit", "L")})
    assert found == {}
    await db.execute(
        "INSERT INTO erp_code_mappings (vendor_id, mapping_type, erp_code, resto_code) "
        "VALUES ('v1', 'unit', 'L', 'litre')"
    )
    for _ in range(100):
        found, _ = await _resolve(resolver, pool, {("unit", "L")})
        if found:
            break
        await asyncio.sleep(0.02)
    assert found[("unit", "L")].resto_code == "litre"


async def test_the_cache_is_bounded_per_vendor_and_expires(
    pool: Pool, make_settings: Callable[..., Settings], db: Conn
) -> None:
    await _seed(db)
    resolver = MappingResolver(
        pool, make_settings(MAPPING_CACHE_MAX_PER_VENDOR=2, MAPPING_CACHE_TTL_SECONDS=0.2)
    )
    resolver.set_listening(True)
    await _resolve(resolver, pool, {("unit", "A"), ("unit", "B"), ("unit", "C")})
    _, statements = await _resolve(resolver, pool, {("unit", "A"), ("unit", "B"), ("unit", "C")})
    assert statements == 1  # only two of three fit
    _, statements = await _resolve(resolver, pool, {("unit", "C")})
    assert statements == 0
    await asyncio.sleep(0.3)
    _, statements = await _resolve(resolver, pool, {("unit", "C")})
    assert statements == 1  # expired


async def test_not_listening_never_serves_from_cache(
    pool: Pool, settings: Settings, db: Conn
) -> None:
    await _seed(db)
    resolver = MappingResolver(pool, settings)
    for _ in range(3):
        _, statements = await _resolve(resolver, pool, {("unit", "KG")})
        assert statements == 1
