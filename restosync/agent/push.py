"""Pushing the ERP's master data to restosync: warehouses, then items, then stock (SPEC §3.1, §4).

Two ways, both splitting rows into requests the server accepts:

- incremental (`push_rows`, `push_catalog`): `POST /api/sync/{entity}`, at most 500 rows
  and 5 MB per request; `push_catalog(changed_only=True)` sends only the rows whose
  `contentHash` differs from what restosync last acknowledged to this pusher;
- full snapshot (`push_snapshot`): `POST /api/sync/{entity}/batch`, at most 5000 rows and
  10 MB per page, each page carrying `snapshot: {id, page, last}` (a fresh id per
  snapshot, pages from 0, `last: true` on the final one), so that restosync retires the
  rows the snapshot did not contain.

Rate limits (429, honouring Retry-After), server errors (5xx) and network errors are
retried with the client's backoff (`retry_delay`), a bounded number of times; any other
refusal stops the push at once with `PushFailed`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from pydantic import BaseModel

from restosync.agent.catalog import Catalog, CatalogEntity, Row, content_hash, stock_key
from restosync.agent.client import (
    AgentApiError,
    AgentClient,
    TransientError,
    describe_failure,
    retry_delay,
)

logger = logging.getLogger(__name__)

# Stock rows name an item and a warehouse: those go first.
PUSH_ORDER: Final[tuple[CatalogEntity, ...]] = ("warehouses", "items", "stock")
SYNC_PATH = "/api/sync/{entity}"
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PushLimits:
    """The most one request may carry: rows, and bytes of serialized body."""

    max_rows: int
    max_bytes: int


# The server's defaults (INGEST_MAX_ROWS/BYTES, INGEST_BATCH_MAX_ROWS/BYTES).
INCREMENTAL_LIMITS: Final = PushLimits(max_rows=500, max_bytes=5 * 1024 * 1024)
BATCH_LIMITS: Final = PushLimits(max_rows=5000, max_bytes=10 * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class RequestBody:
    """One request's JSON body, ready to send, and the keys of the rows it carries."""

    payload: bytes
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RowFailure:
    """A row restosync refused, and why (`invalid` comes with field errors)."""

    entity: CatalogEntity
    identifier: str
    reason: str | None
    errors: tuple[str, ...] = ()


@dataclass
class PushSummary:
    """What a push did: requests answered, retries, row counts, and each refused row."""

    requests: int = 0
    retries: int = 0
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[RowFailure] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PushProgress:
    """Where a push stands after each answered request (for progress bars)."""

    entity: CatalogEntity
    rows_sent: int
    rows_total: int
    requests: int


OnProgress = Callable[[PushProgress], None]


class PushFailed(Exception):
    """A push stopped: a refusal retrying cannot fix, or retries exhausted.

    `summary` holds what the requests answered before it did.
    """

    def __init__(self, message: str, summary: PushSummary) -> None:
        super().__init__(message)
        self.summary = summary


class RowTooLarge(ValueError):
    """A single row serializes to more bytes than one request may carry."""


class PushedRow(BaseModel):
    """One row of restosync's answer (reasons kept as text: new ones must not break us)."""

    identifier: str
    status: str
    reason: str | None = None
    errors: list[dict[str, Any]] | None = None


class PushAnswer(BaseModel):
    """restosync's answer to a push: `{processed, skipped, failed, results}`."""

    processed: int
    skipped: int
    failed: int
    results: list[PushedRow]


def row_key(entity: CatalogEntity, row: Row) -> str:
    """The wire key of a row (SPEC §5.3): sku, itemSku|erpWarehouseId, or erpWarehouseId."""
    if entity == "items":
        return str(row["sku"])
    if entity == "stock":
        return stock_key(row["itemSku"], row["erpWarehouseId"])
    return str(row["erpWarehouseId"])


def request_bodies(
    vendor_id: str,
    entity: CatalogEntity,
    rows: Sequence[Row],
    limits: PushLimits,
    *,
    snapshot_id: str | None = None,
    force: bool = False,
) -> list[RequestBody]:
    """The rows split into request bodies within `limits`, in order; snapshot pages if an id.

    A snapshot of no rows is still one (empty, last) page: the ERP has none of them.
    `force` goes on the last page (restosync then applies it past its safety cap).
    """
    encoded = [orjson.dumps(row) for row in rows]
    prefix = b'{"vendorId":' + orjson.dumps(vendor_id) + b',"' + entity.encode() + b'":['
    # Room for the longest suffix any page can get (its number at most the row count).
    most = max(len(rows), 1)
    widest = max(
        len(_suffix(snapshot_id, most, last=False)),
        len(_suffix(snapshot_id, most, last=True, force=force)),
    )
    groups = _group(encoded, limits, len(prefix) + widest)
    if not groups and snapshot_id is not None:
        groups = [range(0)]
    keys = [row_key(entity, row) for row in rows]
    return [
        RequestBody(
            prefix
            + b",".join(encoded[i] for i in group)
            + _suffix(snapshot_id, page, last=page == len(groups) - 1, force=force),
            tuple(keys[i] for i in group),
        )
        for page, group in enumerate(groups)
    ]


def with_hashes(rows: Sequence[Row]) -> list[Row]:
    """The rows, each with its `contentHash` (computed for the rows that lack one)."""
    return [
        row if row.get("contentHash") else {**row, "contentHash": content_hash(row)} for row in rows
    ]


def _group(encoded: Sequence[bytes], limits: PushLimits, overhead: int) -> list[range]:
    """Consecutive runs of rows, each ≤ max_rows and ≤ max_bytes once wrapped and comma-joined."""
    groups: list[range] = []
    start, size = 0, overhead
    for index, row in enumerate(encoded):
        if overhead + len(row) > limits.max_bytes:
            raise RowTooLarge(
                f"Row {index} serializes to {len(row)} bytes: no request of at most "
                f"{limits.max_bytes} bytes can carry it."
            )
        added = len(row) + (index > start)  # a comma before every row but the first
        if index - start == limits.max_rows or size + added > limits.max_bytes:
            groups.append(range(start, index))
            start, size, added = index, overhead, len(row)
        size += added
    if start < len(encoded):
        groups.append(range(start, len(encoded)))
    return groups


def _suffix(snapshot_id: str | None, page: int, *, last: bool, force: bool = False) -> bytes:
    if snapshot_id is None:
        return b"]}"
    snapshot: dict[str, object] = {"id": snapshot_id, "page": page, "last": last}
    if last and force:
        snapshot["force"] = True
    return b'],"snapshot":' + orjson.dumps(snapshot) + b"}"


class CatalogPusher:
    """Pushes one vendor's catalog through an enrolled `AgentClient`, within the server's limits."""

    def __init__(
        self,
        client: AgentClient,
        *,
        limits: PushLimits = INCREMENTAL_LIMITS,
        batch_limits: PushLimits = BATCH_LIMITS,
        max_attempts: int = 5,
        backoff_base_seconds: float = 0.5,
        backoff_cap_seconds: float = 30.0,
        on_progress: OnProgress | None = None,
        sleep: Sleep = asyncio.sleep,
        dry_run: bool = False,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.client = client
        self.limits = limits
        self.batch_limits = batch_limits
        self.max_attempts = max_attempts
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.on_progress = on_progress
        self.dry_run = dry_run
        self._sleep = sleep
        # contentHash per key that restosync holds (processed, or skipped as unchanged).
        self.acknowledged: dict[CatalogEntity, dict[str, str]] = {e: {} for e in PUSH_ORDER}

    async def push_rows(
        self, entity: CatalogEntity, rows: Sequence[Row], summary: PushSummary | None = None
    ) -> PushSummary:
        """Incremental push of these rows of one entity, ≤ `limits` per request.

        A row without a `contentHash` gets one computed over its content (`content_hash`).
        """
        summary = summary if summary is not None else PushSummary()
        rows = with_hashes(rows)
        bodies = request_bodies(self.client.vendor_id, entity, rows, self.limits)
        await self._send_all(entity, SYNC_PATH.format(entity=entity), rows, bodies, summary)
        return summary

    async def push_catalog(self, catalog: Catalog, *, changed_only: bool = False) -> PushSummary:
        """Incremental push of warehouses, items, stock (if `changed_only`: unacknowledged rows)."""
        summary = PushSummary()
        for entity in PUSH_ORDER:
            rows = catalog.rows(entity)
            if changed_only:
                rows = self._unacknowledged(entity, rows)
            await self.push_rows(entity, rows, summary)
        return summary

    async def push_snapshot(
        self,
        catalog: Catalog,
        entities: Iterable[CatalogEntity] = PUSH_ORDER,
        *,
        force: bool = False,
    ) -> PushSummary:
        """Full snapshot of each entity (in push order), in batch pages ≤ `batch_limits`.

        `force` asks restosync to apply it even past its safety cap (use with care).
        """
        summary = PushSummary()
        wanted = set(entities)
        for entity in (e for e in PUSH_ORDER if e in wanted):
            rows = with_hashes(catalog.rows(entity))
            snapshot_id = str(uuid.uuid4())
            bodies = request_bodies(
                self.client.vendor_id,
                entity,
                rows,
                self.batch_limits,
                snapshot_id=snapshot_id,
                force=force,
            )
            logger.info(
                "pushing a snapshot",
                extra={"entity": entity, "snapshot_id": snapshot_id, "pages": len(bodies)},
            )
            path = SYNC_PATH.format(entity=entity) + "/batch"
            await self._send_all(entity, path, rows, bodies, summary)
        return summary

    def _unacknowledged(self, entity: CatalogEntity, rows: Sequence[Row]) -> list[Row]:
        known = self.acknowledged[entity]
        return [row for row in rows if known.get(row_key(entity, row)) != row.get("contentHash")]

    async def _send_all(
        self,
        entity: CatalogEntity,
        path: str,
        rows: Sequence[Row],
        bodies: Sequence[RequestBody],
        summary: PushSummary,
    ) -> None:
        hashes = {row_key(entity, row): row.get("contentHash") for row in rows}
        sent = 0
        for number, body in enumerate(bodies):
            answer = await self._send(entity, path, number, body, summary)
            self._record(entity, answer, hashes, summary)
            sent += len(body.keys)
            if self.on_progress is not None:
                self.on_progress(PushProgress(entity, sent, len(rows), summary.requests))

    async def _send(
        self,
        entity: CatalogEntity,
        path: str,
        number: int,
        body: RequestBody,
        summary: PushSummary,
    ) -> PushAnswer:
        """One request, retried on 429, 5xx and network errors; PushFailed otherwise."""
        if self.dry_run:
            path += "?dryRun=true"
        correlation_id = str(uuid.uuid4())  # the same for every attempt: one trail in the logs
        for attempt in range(1, self.max_attempts + 1):
            try:
                answer = await self.client.post_json(path, body.payload, PushAnswer, correlation_id)
            except (AgentApiError, *TransientError) as exc:
                what = f"{entity} request {number} ({len(body.keys)} rows) to {path}"
                if not _worth_retrying(exc):
                    raise PushFailed(f"{what} refused: {describe_failure(exc)}", summary) from exc
                if attempt == self.max_attempts:
                    raise PushFailed(
                        f"{what} failed {attempt} times, giving up: {describe_failure(exc)}",
                        summary,
                    ) from exc
                await self._back_off(exc, attempt, what, correlation_id)
                summary.retries += 1
            else:
                summary.requests += 1
                return answer
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _back_off(self, exc: Exception, attempt: int, what: str, correlation_id: str) -> None:
        delay = retry_delay(exc, attempt, 0.0, self.backoff_base_seconds, self.backoff_cap_seconds)
        logger.warning(
            "%s failed (%s); attempt %d in %.2f s",
            what,
            describe_failure(exc),
            attempt + 1,
            delay,
            extra={"vendor_id": self.client.vendor_id, "correlation_id": correlation_id},
        )
        await self._sleep(delay)

    def _record(
        self,
        entity: CatalogEntity,
        answer: PushAnswer,
        hashes: Mapping[str, Any],
        summary: PushSummary,
    ) -> None:
        summary.processed += answer.processed
        summary.skipped += answer.skipped
        summary.failed += answer.failed
        known = self.acknowledged[entity]
        for result in answer.results:
            if result.status == "failed":
                summary.failures.append(
                    RowFailure(entity, result.identifier, result.reason, _errors(result))
                )
            elif not self.dry_run and (
                result.status == "processed" or result.reason == "no_changes"
            ):
                digest = hashes.get(result.identifier)
                if isinstance(digest, str):
                    known[result.identifier] = digest


def _worth_retrying(exc: BaseException) -> bool:
    """429, 5xx and network trouble may pass; any other answer will not change by itself."""
    if isinstance(exc, AgentApiError):
        return exc.status == 429 or exc.status >= 500
    return True


def _errors(result: PushedRow) -> tuple[str, ...]:
    return tuple(
        f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', '')}"
        for error in result.errors or ()
    )
