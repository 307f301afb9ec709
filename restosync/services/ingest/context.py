"""What every step of one ingest transaction shares, and the end of each write."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from restosync.db.pool import Connection
from restosync.models.ingest import StoredVersion
from restosync.services.ingest.pipeline import Candidate, Outcome, check_stored

# db.ingest.stored_items / stored_warehouses: stored versions by key, one query.
FetchStored = Callable[[Connection, str, list[str]], Awaitable[dict[str, StoredVersion]]]


class ResolvedCode(Protocol):
    """A mapped ERP code (see services/mappings.py)."""

    @property
    def resto_code(self) -> str: ...

    @property
    def resto_label(self) -> str | None: ...

    @property
    def vat_rate(self) -> Decimal | None: ...


class CodeResolver(Protocol):
    """Resolves every ERP code of a request at once (services/mappings.MappingResolver)."""

    async def resolve_many(
        self, conn: Connection, vendor_id: str, wanted: set[tuple[str, str]]
    ) -> Mapping[tuple[str, str], ResolvedCode]: ...


@dataclass(frozen=True, slots=True)
class IngestContext:
    """One ingest run: its transaction's connection, whose rows, and how it was started."""

    conn: Connection
    vendor_id: str
    resolver: CodeResolver
    correlation_id: str | None
    replay: bool = False  # re-running stored rejections rather than serving a push


# What is stored now for rows a concurrent push changed meanwhile, by key.
Reread = Callable[[list[Candidate]], Awaitable[Mapping[str, StoredVersion]]]


async def settle_writes(
    attempted: list[Candidate], written: set[str], outcome: Outcome, reread: Reread
) -> None:
    """Rows written are processed; the others were changed meanwhile by a concurrent push.

    Those are classified again against what is stored now (no_changes or stale_data).
    A row neither written nor explained that way is a bug, and fails the request.
    """
    missed: list[Candidate] = []
    for candidate in attempted:
        if candidate.key in written:
            outcome.processed(candidate)
        else:
            missed.append(candidate)
    if not missed:
        return
    current = await reread(missed)
    unexplained = check_stored(missed, current, outcome)
    if unexplained:
        keys = ", ".join(c.key for c in unexplained[:5])
        raise RuntimeError(f"ingest: rows neither written nor skipped: {keys}")


async def lookup_stored(
    ctx: IngestContext, fetch: FetchStored, keys: list[str]
) -> dict[str, StoredVersion | None]:
    """The stored version of every key (None when there is none), in one query."""
    stored = await fetch(ctx.conn, ctx.vendor_id, keys)
    return {key: stored.get(key) for key in keys}


async def stored_for(
    ctx: IngestContext,
    fetch: FetchStored,
    candidates: list[Candidate],
    known: Mapping[str, StoredVersion | None],
) -> dict[str, StoredVersion]:
    """The candidates' stored versions: those already `known`, the others read now."""
    stored = {c.key: v for c in candidates if (v := known.get(c.key)) is not None}
    missing = [c.key for c in candidates if c.key not in known]
    if missing:
        stored.update(await fetch(ctx.conn, ctx.vendor_id, missing))
    return stored
