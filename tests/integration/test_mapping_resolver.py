"""The per-process mapping cache (one query per request, invalidated by NOTIFY everywhere),
and the replay deferred in the transaction of a mapping change."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import procrastinate
import psycopg
import pytest
from psycopg.rows import DictRow

from restosync.db.notifications import listen
from restosync.db.pool import Pool, connection
from restosync.models.mappings import CreateMapping, SeedMappings
from restosync.services import mappings
from restosync.services.audit import Actor
from restosync.services.mappings import MAPPINGS_CHANNEL, MappingResolver, ResolvedCode
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
    pool: Pool, make_settings: Callable[..., Settings], database_url: str, db: Conn
) -> AsyncIterator[MappingResolver]:
    """A listening resolver, as in a web process, over the mappings of `_seed`.

    Seeded before listening starts: the seed's own NOTIFYs must not race the test.
    """
    await _seed(db)
    resolver = MappingResolver(pool, make_settings(MAPPING_CACHE_MAX_PER_VENDOR=3))
    feed = asyncio.create_task(
        listen(database_url, MAPPINGS_CHANNEL, resolver.forget_vendor, resolver.set_listening)
    )
    for _ in range(250):
        if resolver.listening:
            break
        await asyncio.sleep(0.02)
    assert resolver.listening
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


async def _seen_within_a_second(
    resolver: MappingResolver, pool: Pool, key: tuple[str, str], vendor: str = "v1"
) -> dict[tuple[str, str], ResolvedCode]:
    deadline = time.monotonic() + 1.0
    while True:
        found, statements = await _resolve(resolver, pool, {key}, vendor)
        if statements or time.monotonic() > deadline:
            return found  # a query ran: the cached answer was dropped
        await asyncio.sleep(0.01)


async def test_a_change_by_plain_sql_is_seen_within_a_second(
    resolver: MappingResolver, pool: Pool, db: Conn
) -> None:
    found, _ = await _resolve(resolver, pool, {("unit", "L")})
    assert found == {}
    _, statements = await _resolve(resolver, pool, {("unit", "L")})
    assert statements == 0  # the negative answer is cached
    await db.execute(
        "INSERT INTO erp_code_mappings (vendor_id, mapping_type, erp_code, resto_code) "
        "VALUES ('v1', 'unit', 'L', 'litre')"
    )
    found = await _seen_within_a_second(resolver, pool, ("unit", "L"))
    assert found[("unit", "L")].resto_code == "litre"

    await db.execute("UPDATE erp_code_mappings SET is_active = false WHERE erp_code = 'L'")
    assert await _seen_within_a_second(resolver, pool, ("unit", "L")) == {}


async def test_a_truncate_drops_every_vendor(
    resolver: MappingResolver, pool: Pool, db: Conn
) -> None:
    await _resolve(resolver, pool, {("unit", "KG")}, vendor="v1")
    await _resolve(resolver, pool, {("unit", "KG")}, vendor="v2")
    await db.execute("TRUNCATE erp_code_mappings")
    assert await _seen_within_a_second(resolver, pool, ("unit", "KG"), "v1") == {}
    _, statements = await _resolve(resolver, pool, {("unit", "KG")}, vendor="v2")
    assert statements == 1


async def test_another_vendors_change_keeps_the_cache(
    resolver: MappingResolver, pool: Pool, db: Conn
) -> None:
    await _resolve(resolver, pool, {("unit", "KG")}, vendor="v1")
    await db.execute("UPDATE erp_code_mappings SET resto_code = 'k' WHERE vendor_id = 'v2'")
    await asyncio.sleep(0.2)
    _, statements = await _resolve(resolver, pool, {("unit", "KG")}, vendor="v1")
    assert statements == 0


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


async def test_the_least_recently_used_code_goes_first_and_vendors_do_not_compete(
    pool: Pool, make_settings: Callable[..., Settings], db: Conn
) -> None:
    await _seed(db)
    resolver = MappingResolver(pool, make_settings(MAPPING_CACHE_MAX_PER_VENDOR=2))
    resolver.set_listening(True)
    await _resolve(resolver, pool, {("unit", "KG"), ("vat", "T1")})
    await _resolve(resolver, pool, {("unit", "KG")})  # T1 is now the least recently used
    await _resolve(resolver, pool, {("unit", "X")})  # evicts T1
    for _ in range(3):  # another vendor's codes live in their own cache
        await _resolve(resolver, pool, {("unit", f"OTHER{_}")}, vendor="v2")
    _, statements = await _resolve(resolver, pool, {("unit", "KG"), ("unit", "X")})
    assert statements == 0
    found, statements = await _resolve(resolver, pool, {("vat", "T1")})
    assert statements == 1
    assert found[("vat", "T1")].vat_rate == Decimal(20)


async def test_an_answer_read_while_a_change_arrives_is_not_cached(
    pool: Pool, settings: Settings, db: Conn
) -> None:
    """The NOTIFY may be handled while the query runs: what was read may predate it."""
    await _seed(db)
    resolver = MappingResolver(pool, settings)
    resolver.set_listening(True)

    class ChangeArrivesDuringTheQuery(CountingConn):
        async def execute(self, *args: Any, **kwargs: Any) -> Any:
            result = await super().execute(*args, **kwargs)
            resolver.forget_vendor("v1")
            return result

    async with connection(pool) as conn:
        found = await resolver.resolve_many(
            ChangeArrivesDuringTheQuery(conn),  # type: ignore[arg-type]
            "v1",
            {("unit", "KG")},
        )
    assert found[("unit", "KG")].resto_code == "kg"
    _, statements = await _resolve(resolver, pool, {("unit", "KG")})
    assert statements == 1


async def test_a_resolved_code_is_immutable(pool: Pool, settings: Settings, db: Conn) -> None:
    await _seed(db)
    found, _ = await _resolve(MappingResolver(pool, settings), pool, {("unit", "KG")})
    with pytest.raises(dataclasses.FrozenInstanceError):
        found[("unit", "KG")].resto_code = "x"  # type: ignore[misc]


async def test_not_listening_never_serves_from_cache(
    pool: Pool, settings: Settings, db: Conn
) -> None:
    await _seed(db)
    resolver = MappingResolver(pool, settings)
    for _ in range(3):
        _, statements = await _resolve(resolver, pool, {("unit", "KG")})
        assert statements == 1


ACTOR = Actor(fingerprint="key:test", correlation_id="corr-1")


async def _replay_jobs(db: Conn) -> list[dict[str, Any]]:
    cur = await db.execute(
        "SELECT args FROM procrastinate_jobs WHERE task_name = 'ingest:replay_rejections' "
        "ORDER BY id"
    )
    return [row["args"] for row in await cur.fetchall()]


async def _reject(db: Conn, *rows: tuple[str, str, str, str]) -> None:
    """Rejected item rows: (vendor, sku, blocked_by_type, blocked_by_code)."""
    for vendor, sku, kind, code in rows:
        await db.execute(
            "INSERT INTO ingest_rejections (vendor_id, entity, row_key, reason, raw_row, "
            "blocked_by_type, blocked_by_code) VALUES (%s, 'items', %s, %s, '{}', %s, %s)",
            (vendor, sku, f"unmapped_{kind}" if kind in ("unit", "vat") else "invalid", kind, code),
        )


async def test_a_rolled_back_mapping_defers_nothing(
    pool: Pool, db: Conn, queue_app: procrastinate.App
) -> None:
    await _reject(db, ("v1", "SKU-1", "unit", "KG"), ("v1", "SKU-2", "unit", "BOOM"))
    # Fails at COMMIT, after the mapping, its audit row and its replay job were written.
    await db.execute(
        """
        CREATE FUNCTION test_refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.erp_code = 'BOOM' THEN RAISE EXCEPTION 'refused at commit'; END IF;
            RETURN NULL;
        END $$;
        CREATE CONSTRAINT TRIGGER test_refuse_boom AFTER INSERT ON erp_code_mappings
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse_boom();
        """
    )

    def unit(code: str) -> CreateMapping:
        return CreateMapping(vendor_id="v1", mapping_type="unit", erp_code=code, resto_code="u")

    with pytest.raises(psycopg.errors.RaiseException):
        await mappings.create_mapping(pool, ACTOR, unit("BOOM"))
    assert await _replay_jobs(db) == []
    cur = await db.execute("SELECT count(*) AS n FROM audit_log")
    assert (await cur.fetchone())["n"] == 0  # type: ignore[index]

    await mappings.create_mapping(pool, ACTOR, unit("KG"))
    assert await _replay_jobs(db) == [
        {"vendor_id": "v1", "blocked_by_type": "unit", "blocked_by_codes": ["KG"]}
    ]


async def test_a_seed_defers_one_replay_per_vendor_and_type_that_rows_wait_for(
    pool: Pool, db: Conn, queue_app: procrastinate.App
) -> None:
    await _reject(
        db,
        ("v1", "SKU-1", "unit", "KG"),
        ("v1", "SKU-2", "unit", "L"),
        ("v1", "SKU-3", "family", "F1"),
        ("v2", "SKU-1", "vat", "T1"),
        ("v2", "SKU-2", "unit", "INACTIVE"),
    )
    seed = SeedMappings.model_validate(
        {
            "mappings": [
                {"vendorId": "v1", "mappingType": "unit", "erpCode": c, "restoCode": c}
                for c in ("L", "KG", "UNUSED")
            ]
            + [
                {"vendorId": "v1", "mappingType": "family", "erpCode": "F1", "restoCode": "f"},
                {"vendorId": "v2", "mappingType": "vat", "erpCode": "T1", "restoCode": "t",
                 "vatRate": "5.5"},
                {"vendorId": "v2", "mappingType": "unit", "erpCode": "INACTIVE",
                 "restoCode": "i", "isActive": False},
            ]
        }
    )  # fmt: skip
    result = await mappings.seed_mappings(pool, ACTOR, seed)
    assert (result.created, result.updated) == (6, 0)
    assert await _replay_jobs(db) == [
        {"vendor_id": "v1", "blocked_by_type": "family", "blocked_by_codes": ["F1"]},
        {"vendor_id": "v1", "blocked_by_type": "unit", "blocked_by_codes": ["KG", "L"]},
        {"vendor_id": "v2", "blocked_by_type": "vat", "blocked_by_codes": ["T1"]},
    ]
