"""ERP code mappings: administration, and resolution through a per-process cache.

The cache holds, per vendor, up to MAPPING_CACHE_MAX_PER_VENDOR codes (least recently
used evicted) for MAPPING_CACHE_TTL_SECONDS, negative answers included. Any write to
erp_code_mappings NOTIFYs every process (triggers of sql/0007 and sql/0010), which drops
the vendor's entries; a process that is not listening does not use its cache at all.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from uuid import UUID

from cachetools import TTLCache

from restosync.db import mappings as mappings_db

# ResolvedCode is re-exported: callers of MappingResolver.resolve_many import it from here.
from restosync.db.mappings import CodeKey, VendorCodeKey
from restosync.db.mappings import ResolvedCode as ResolvedCode
from restosync.db.pool import Connection, Pool, connection, transaction
from restosync.errors import Conflict, FieldError, InvalidInput, NotFound
from restosync.models.mappings import (
    CreateMapping,
    Mapping,
    MappingFilter,
    MappingGaps,
    MappingType,
    SeedMappings,
    SeedResult,
    UpdateMapping,
)
from restosync.models.pagination import Page, PageMeta, PageQuery
from restosync.services import audit
from restosync.services.audit import Actor
from restosync.services.ingest.rejections import defer_replay
from restosync.settings import Settings

MAPPINGS_CHANNEL = "restosync_mappings"
# NOTIFY payload of a TRUNCATE (sql/0010): every vendor. No vendor id is empty.
ALL_VENDORS = ""


class _Absent(enum.Enum):
    """Not in the cache (a cached None is a negative answer: the code is not mapped)."""

    TOKEN = enum.auto()


_ABSENT = _Absent.TOKEN


class MappingResolver:
    """Resolves a request's ERP codes with at most one query (one per process)."""

    def __init__(self, pool: Pool, settings: Settings) -> None:
        self._pool = pool
        self._ttl = settings.MAPPING_CACHE_TTL_SECONDS
        self._max_per_vendor = settings.MAPPING_CACHE_MAX_PER_VENDOR
        self._caches: dict[str, TTLCache[CodeKey, ResolvedCode | None]] = {}
        self._generation: defaultdict[str, int] = defaultdict(int)
        self.listening = False

    async def resolve_many(
        self, conn: Connection, vendor_id: str, wanted: set[CodeKey]
    ) -> dict[CodeKey, ResolvedCode]:
        """The active mappings among `wanted` (one query at most); unmapped codes are absent.

        `conn` is the caller's: the lookup sees what its transaction sees.
        """
        cache = self._caches.get(vendor_id) if self.listening else None
        found: dict[CodeKey, ResolvedCode] = {}
        missing: list[CodeKey] = []
        for key in sorted(wanted):
            # One lookup, not `in` then `[]`: an entry may expire between the two.
            hit = _ABSENT if cache is None else cache.get(key, _ABSENT)
            if hit is _ABSENT:
                missing.append(key)
            elif hit is not None:
                found[key] = hit
        if not missing:
            return found
        # A NOTIFY handled while the query runs bumps the generation: what was read may
        # be older than the change, so it is returned but not cached.
        generation = self._generation[vendor_id]
        fetched = await mappings_db.resolve(conn, vendor_id, missing)
        found.update(fetched)
        if self.listening and self._generation[vendor_id] == generation:
            cache = self._caches.setdefault(vendor_id, TTLCache(self._max_per_vendor, self._ttl))
            for key in missing:
                cache[key] = fetched.get(key)
        return found

    def forget_vendor(self, vendor_id: str) -> None:
        """Drop a vendor's cached codes (its mappings changed); ALL_VENDORS drops every one."""
        if vendor_id == ALL_VENDORS:
            self._forget_all()
            return
        self._generation[vendor_id] += 1
        self._caches.pop(vendor_id, None)

    def set_listening(self, listening: bool) -> None:
        """Use the cache only while changes are being received."""
        if listening != self.listening:
            self._forget_all()
            self.listening = listening

    def _forget_all(self) -> None:
        for vendor_id in list(self._generation):
            self._generation[vendor_id] += 1
        self._caches.clear()


async def list_mappings(pool: Pool, filters: MappingFilter, page: PageQuery) -> Page[Mapping]:
    """Mappings in key order."""
    async with connection(pool) as conn:
        rows, total = await mappings_db.views(conn, filters, page)
    return Page[Mapping](data=rows, meta=PageMeta.of(page, total))


async def create_mapping(pool: Pool, actor: Actor, new: CreateMapping) -> Mapping:
    """Create a mapping (audited); rows rejected for want of it are replayed."""
    async with transaction(pool) as conn:
        mapping_id = await mappings_db.insert(conn, **new.model_dump(by_alias=False))
        if mapping_id is None:
            raise Conflict(
                f"A {new.mapping_type} mapping of {new.erp_code!r} exists for this vendor; "
                "change it with PUT."
            )
        await _audit(conn, actor, "mapping.create", str(mapping_id), new.model_dump(mode="json"))
        if new.is_active:
            await _replay_unblocked(conn, [(new.vendor_id, new.mapping_type, new.erp_code)])
        return await _one(conn, mapping_id)


async def update_mapping(
    pool: Pool, actor: Actor, mapping_id: UUID, change: UpdateMapping
) -> Mapping:
    """Change a mapping (audited); replays rows waiting for it when it is active."""
    async with transaction(pool) as conn:
        current = await _one(conn, mapping_id)
        if change.vat_rate is not None and current.mapping_type != "vat":
            raise InvalidInput(errors=(FieldError(("vatRate",), "only vat mappings have one"),))
        row = await mappings_db.update(conn, mapping_id, **change.model_dump(by_alias=False))
        assert row is not None
        details = change.model_dump(mode="json", exclude_none=True)
        await _audit(conn, actor, "mapping.update", str(mapping_id), details)
        if row["is_active"]:
            await _replay_unblocked(
                conn, [(row["vendor_id"], row["mapping_type"], row["erp_code"])]
            )
        return await _one(conn, mapping_id)


async def delete_mapping(pool: Pool, actor: Actor, mapping_id: UUID) -> None:
    """Delete a mapping (audited)."""
    async with transaction(pool) as conn:
        row = await mappings_db.delete(conn, mapping_id)
        if row is None:
            raise NotFound(f"No mapping {mapping_id}.")
        details: dict[str, object] = {k: row[k] for k in ("vendor_id", "mapping_type", "erp_code")}
        await _audit(conn, actor, "mapping.delete", str(mapping_id), details)


async def seed_mappings(pool: Pool, actor: Actor, seed: SeedMappings) -> SeedResult:
    """Create or replace many mappings in one statement (audited); replays what they unblock."""
    rows = [m.model_dump(by_alias=False, mode="json") for m in seed.mappings]
    keys = {(r["vendor_id"], r["mapping_type"], r["erp_code"]) for r in rows}
    if len(keys) != len(rows):
        raise InvalidInput("The same vendorId, mappingType and erpCode appear twice.")
    async with transaction(pool) as conn:
        written = await mappings_db.seed(conn, rows)
        created = sum(1 for r in written if r["created"])
        result = SeedResult(created=created, updated=len(written) - created)
        details = {**result.model_dump(), "vendor_ids": sorted({k[0] for k in keys})}
        await _audit(conn, actor, "mapping.seed", None, details)
        active = [
            (r["vendor_id"], r["mapping_type"], r["erp_code"]) for r in written if r["is_active"]
        ]
        await _replay_unblocked(conn, active)
    return result


async def mapping_gaps(pool: Pool, vendor_id: str) -> MappingGaps:
    """A vendor's unmapped codes with the rejected rows each one blocks."""
    async with connection(pool) as conn:
        return MappingGaps(vendor_id=vendor_id, data=await mappings_db.gaps(conn, vendor_id))


async def _one(conn: Connection, mapping_id: UUID) -> Mapping:
    rows, _ = await mappings_db.views(
        conn, MappingFilter(), PageQuery(page=1, limit=1), mapping_id=mapping_id
    )
    if not rows:
        raise NotFound(f"No mapping {mapping_id}.")
    return rows[0]


async def _replay_unblocked(conn: Connection, keys: list[VendorCodeKey]) -> None:
    """Defer, in this transaction, one replay per (vendor, type) of the rows these codes unblock.

    One query finds the codes rows wait for; nothing is deferred when none do.
    """
    if not keys:
        return
    blocked: defaultdict[tuple[str, MappingType], list[str]] = defaultdict(list)
    for vendor_id, mapping_type, code in await mappings_db.rejected_codes(conn, keys):
        blocked[(vendor_id, mapping_type)].append(code)
    for (vendor_id, mapping_type), codes in blocked.items():  # key order, from the query
        await defer_replay(conn, vendor_id, mapping_type, codes)


async def _audit(
    conn: Connection, actor: Actor, action: str, target_id: str | None, details: dict[str, object]
) -> None:
    await audit.record(
        conn,
        actor,
        action,
        target_type="mapping",
        target_id=target_id,
        details=details,
    )
