"""The per-row rules of ingest that need no database (SPEC §4.1 steps 3-6).

Validation, duplicates inside one request, and the checks against the stored version
of each row. Every row of a request ends with exactly one result in an `Outcome`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from restosync.models.ingest import (
    BlockedBy,
    Entity,
    FailReason,
    IngestResult,
    ItemRow,
    ItemTombstone,
    RowModel,
    RowResult,
    RowStatus,
    SkipReason,
    StockRow,
    StockTombstone,
    StoredVersion,
    Tombstone,
    WarehouseRow,
    WarehouseTombstone,
)
from restosync.models.problem import ProblemFieldError

MAX_KEY_PART = 100
MAX_DETAIL = 2000


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """What differs between items, stock and warehouses before the database is involved."""

    entity: Entity
    full: type[RowModel]
    tombstone: type[Tombstone]
    key_fields: tuple[str, ...]  # wire names of the key parts, joined with "|"

    def row_key(self, row: RowModel) -> str:
        """The sync key of a validated row."""
        return "|".join(str(getattr(row, _snake(name))) for name in self.key_fields)

    def raw_key(self, raw: dict[str, Any]) -> str | None:
        """The sync key of a row that failed validation, if its key parts are usable."""
        parts = [raw.get(name) for name in self.key_fields]
        if all(_usable_key_part(part) for part in parts):
            return "|".join(str(part) for part in parts)
        return None


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _usable_key_part(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    return 1 <= len(str(value)) <= MAX_KEY_PART


ITEMS = EntitySpec("items", ItemRow, ItemTombstone, ("sku",))
STOCK = EntitySpec("stock", StockRow, StockTombstone, ("itemSku", "erpWarehouseId"))
WAREHOUSES = EntitySpec("warehouses", WarehouseRow, WarehouseTombstone, ("erpWarehouseId",))
SPECS: dict[Entity, EntitySpec] = {spec.entity: spec for spec in (ITEMS, STOCK, WAREHOUSES)}


@dataclass(slots=True)
class Candidate:
    """A valid row still on its way through the pipeline."""

    index: int
    key: str
    raw: dict[str, Any]
    row: RowModel

    @property
    def tombstone(self) -> bool:
        """The row says `deleted: true`."""
        return isinstance(self.row, Tombstone)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A failed row to keep in ingest_rejections (latest version per key)."""

    key: str
    reason: FailReason
    detail: str | None
    raw: dict[str, Any]
    blocked_by_type: BlockedBy | None = None
    blocked_by_code: str | None = None


@dataclass(slots=True)
class Outcome:
    """The result of every row of one request, each set exactly once."""

    received: int
    results: list[RowResult | None] = field(init=False)
    rejections: list[Rejection] = field(default_factory=list)
    landed: list[Candidate] = field(default_factory=list)
    skipped_keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.results = [None] * self.received

    def processed(self, candidate: Candidate) -> None:
        """The row was written."""
        self._set(candidate.index, _result(candidate.key, "processed"))
        self.landed.append(candidate)

    def skipped(self, candidate: Candidate, reason: SkipReason) -> None:
        """The row needs no write."""
        self._set(candidate.index, _result(candidate.key, "skipped", reason))
        self.skipped_keys.append(candidate.key)

    def failed(
        self,
        candidate: Candidate,
        reason: FailReason,
        detail: str,
        blocked_by: tuple[BlockedBy, str] | None = None,
    ) -> None:
        """A valid row that cannot land (stale, unmapped, unknown item/warehouse)."""
        self._set(candidate.index, _result(candidate.key, "failed", reason))
        blocked_type, blocked_code = blocked_by or (None, None)
        self.rejections.append(
            Rejection(candidate.key, reason, detail, candidate.raw, blocked_type, blocked_code)
        )

    def invalid(
        self, index: int, key: str | None, raw: Any, errors: list[ProblemFieldError]
    ) -> None:
        """A row that failed validation; kept as a rejection when it has a usable key."""
        result = RowResult(
            identifier=key or f"#{index}", status="failed", reason="invalid", errors=errors
        )
        self._set(index, result)
        if key is not None and isinstance(raw, dict):
            detail = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors)
            self.rejections.append(Rejection(key, "invalid", detail[:MAX_DETAIL], raw))

    def result(self) -> IngestResult:
        """The answer: counts and results in request order."""
        results = [r for r in self.results if r is not None]
        if len(results) != self.received:
            raise RuntimeError("ingest left rows without a result")
        counts = {"processed": 0, "skipped": 0, "failed": 0}
        for r in results:
            counts[r.status] += 1
        return IngestResult(**counts, results=results)

    def _set(self, index: int, result: RowResult) -> None:
        if self.results[index] is not None:
            raise RuntimeError(f"ingest gave row {index} two results")
        self.results[index] = result


def _result(
    identifier: str, status: RowStatus, reason: SkipReason | FailReason | None = None
) -> RowResult:
    # Built from values the pipeline itself chose: skip validation (thousands per request).
    return RowResult.model_construct(identifier=identifier, status=status, reason=reason)


def validate_rows(
    spec: EntitySpec, raw_rows: list[Any], outcome: Outcome, *, check_nul: bool = False
) -> list[Candidate]:
    """Validate each row alone; invalid rows fail with their field errors (step 3).

    `check_nul`: the body contains a `\\u0000` escape, which PostgreSQL cannot store in
    text or jsonb; only then is each row searched for one (it costs a walk of every value).
    """
    candidates: list[Candidate] = []
    for index, raw in enumerate(raw_rows):
        if not isinstance(raw, dict):
            outcome.invalid(index, None, raw, [ProblemFieldError(loc=[], msg="must be an object")])
            continue
        if check_nul and _has_nul(raw):
            errors = [ProblemFieldError(loc=[], msg="must not contain NUL characters (\\u0000)")]
            outcome.invalid(index, None, raw, errors)
            continue
        model = spec.tombstone if raw.get("deleted") is True else spec.full
        try:
            row = model.model_validate(raw)
        except ValidationError as exc:
            errors = [
                ProblemFieldError(loc=list(e["loc"]), msg=e["msg"])
                for e in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
            outcome.invalid(index, spec.raw_key(raw), raw, errors)
            continue
        candidates.append(Candidate(index, spec.row_key(row), raw, row))
    return candidates


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def drop_duplicates(candidates: list[Candidate], outcome: Outcome) -> list[Candidate]:
    """One row per key: the latest lastSyncedAt wins (the later one on a tie) (step 4)."""
    kept: dict[str, Candidate] = {}
    for candidate in candidates:
        previous = kept.get(candidate.key)
        if previous is None:
            kept[candidate.key] = candidate
        elif candidate.row.last_synced_at >= previous.row.last_synced_at:
            outcome.skipped(previous, "duplicate_in_request")
            kept[candidate.key] = candidate
        else:
            outcome.skipped(candidate, "duplicate_in_request")
    return sorted(kept.values(), key=lambda c: c.index)


def check_stored(
    candidates: Iterable[Candidate], stored: Mapping[str, StoredVersion], outcome: Outcome
) -> list[Candidate]:
    """Drop what needs no write (same hash) and what is older than stored (steps 5-6)."""
    survivors: list[Candidate] = []
    for candidate in candidates:
        current = stored.get(candidate.key)
        content_hash = getattr(candidate.row, "content_hash", None)
        if current is None:
            if candidate.tombstone:
                outcome.skipped(candidate, "not_found")
            else:
                survivors.append(candidate)
        elif content_hash == current.content_hash:
            outcome.skipped(candidate, "no_changes")
        elif candidate.row.last_synced_at < current.last_synced_at:
            outcome.failed(
                candidate,
                "stale_data",
                f"lastSyncedAt {candidate.row.last_synced_at.isoformat()} is older than the "
                f"stored {current.last_synced_at.isoformat()}",
            )
        elif candidate.tombstone and current.retired and content_hash is None:
            outcome.skipped(candidate, "no_changes")
        else:
            survivors.append(candidate)
    return survivors
