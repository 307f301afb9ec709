"""The per-row rules of ingest that need no database (SPEC §4.1 steps 3-6).

Validation, duplicates inside one request, and the checks against the stored version
of each row. Every row of a request ends with exactly one result in an `Outcome`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import Any, NamedTuple

from pydantic import TypeAdapter, ValidationError

from restosync.models.ingest import (
    BlockedBy,
    Entity,
    FailReason,
    IngestResult,
    ItemRow,
    ItemTombstone,
    PushAnswer,
    RowModel,
    RowOutcome,
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
from restosync.models.ingest_fast import RFC3339, TWINS, FastRow
from restosync.models.problem import ProblemFieldError

MAX_KEY_PART = 100
MAX_CONTENT_HASH = 64
MAX_DETAIL = 2000
# A validated row: the fast twin of its model (items, stock) or the pydantic model itself.
Row = RowModel | FastRow


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """What differs between items, stock and warehouses before the database is involved."""

    entity: Entity
    full: type[RowModel]
    tombstone: type[Tombstone]
    key_fields: tuple[str, ...]  # wire names of the key parts, joined with "|"
    _key_parts: Callable[[Row], Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Computed once: converting the names on every row cost more than validating keys.
        object.__setattr__(self, "_key_parts", attrgetter(*map(_snake, self.key_fields)))

    def row_key(self, row: Row) -> str:
        """The sync key of a validated row."""
        parts = self._key_parts(row)
        return parts if len(self.key_fields) == 1 else "|".join(parts)

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
    row: Row
    # lastSyncedAt as sent, when PostgreSQL reads that text as the validated instant (RFC
    # 3339 in UTC): COPY sends it as it is rather than formatting the datetime (≈ 2 µs).
    synced_text: str | None = None

    @property
    def tombstone(self) -> bool:
        """The row says `deleted: true`."""
        return isinstance(self.row, Tombstone)

    def synced_for_copy(self) -> datetime | str:
        """lastSyncedAt for a COPY row: the validated time, or the same instant as sent."""
        return self.synced_text or self.row.last_synced_at


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
    results: list[RowOutcome | None] = field(init=False)
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

    def unchanged(self, index: int, key: str) -> None:
        """A row found unchanged before validation (`skip_unchanged`): no_changes."""
        self._set(index, _result(key, "skipped", "no_changes"))
        self.skipped_keys.append(key)

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
        result = RowOutcome(key or f"#{index}", "failed", "invalid", errors)
        self._set(index, result)
        if key is not None and isinstance(raw, dict):
            detail = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors)
            self.rejections.append(Rejection(key, "invalid", detail[:MAX_DETAIL], raw))

    def answer(self) -> PushAnswer:
        """The answer: counts and results in request order."""
        results = [r for r in self.results if r is not None]
        if len(results) != self.received:
            raise RuntimeError("ingest left rows without a result")
        counts = Counter(r.status for r in results)
        return PushAnswer(counts["processed"], counts["skipped"], counts["failed"], results)

    def result(self) -> IngestResult:
        """The answer as a wire model (replays and reconciliation; pushes use `answer`)."""
        answer = self.answer()
        rows = [
            RowResult.model_construct(
                identifier=r.identifier, status=r.status, reason=r.reason, errors=r.errors
            )
            for r in answer.results
        ]
        return IngestResult(
            processed=answer.processed, skipped=answer.skipped, failed=answer.failed, results=rows
        )

    def _set(self, index: int, result: RowOutcome) -> None:
        if self.results[index] is not None:
            raise RuntimeError(f"ingest gave row {index} two results")
        self.results[index] = result


def _result(
    identifier: str, status: RowStatus, reason: SkipReason | FailReason | None = None
) -> RowOutcome:
    return RowOutcome(identifier, status, reason)


class Peek(NamedTuple):
    """A raw row's key, read without validating the row."""

    position: int  # index of the row in the request
    key: str
    parts: tuple[str, ...]
    raw: dict[str, Any]


def peek_rows(spec: EntitySpec, raw_rows: list[Any]) -> list[Peek]:
    """Rows that may be unchanged: key a plain string of a valid length, unique in the request.

    Any other form of key (numbers, which validation turns into text) goes through full
    validation. With a row whose key cannot be read at all, none is peeked: it might be a
    duplicate once validated. The rest of the row is read only if the key is stored
    (`skip_unchanged`): a new row costs no more here than its key.
    """
    seen: set[str] = set()
    repeated: set[str] = set()
    peeks: list[Peek] = []
    fields = spec.key_fields
    single = fields[0] if len(fields) == 1 else None  # items, warehouses: no join needed
    for index, raw in enumerate(raw_rows):
        if type(raw) is not dict:
            continue
        parts: tuple[Any, ...]
        if single is not None:
            part = raw.get(single)
            parts = (part,)
            loose = part if type(part) is str and 0 < len(part) <= MAX_KEY_PART else None
        else:
            parts = tuple(map(raw.get, fields))
            loose = "|".join(parts) if _plain_key(parts) else None
        if loose is not None:
            peeks.append(Peek(index, loose, parts, raw))
        else:
            loose = spec.raw_key(raw)  # e.g. a number, which validation turns into text
            if loose is None:
                return []
        key: str = loose
        if key in seen:
            repeated.add(key)
        seen.add(key)
    return [p for p in peeks if p.key not in repeated] if repeated else peeks


def _plain_key(parts: tuple[Any, ...]) -> bool:
    for part in parts:  # noqa: SIM110 (a loop, not all(<generator>): a third of the time)
        if type(part) is not str or not 0 < len(part) <= MAX_KEY_PART:
            return False
    return True


def skip_unchanged(
    peeks: list[Peek], stored: Mapping[str, StoredVersion | None], outcome: Outcome
) -> set[int]:
    """Peeked rows with the stored hash are no_changes, unvalidated (step 5).

    The hash is the agent's word that the content is the stored (valid) version, so the
    other fields are not validated: this is what makes an unchanged resend cheap. Only a
    plainly well-formed row is taken at its word: a string hash, an RFC 3339 time, not a
    tombstone; any other goes through full validation.
    Returns the indexes of the rows that got their result here.
    """
    done: set[int] = set()
    for peek in peeks:
        current = stored.get(peek.key)
        if current is not None and _unchanged(peek.raw, current.content_hash):
            outcome.unchanged(peek.position, peek.key)
            done.add(peek.position)
    return done


def _unchanged(raw: dict[str, Any], stored_hash: str) -> bool:
    content_hash = raw.get("contentHash")
    synced = raw.get("lastSyncedAt")
    return (
        type(content_hash) is str
        and content_hash == stored_hash
        and len(content_hash) <= MAX_CONTENT_HASH
        and raw.get("deleted", False) is False
        and type(synced) is str
        and RFC3339.fullmatch(synced) is not None
        and _is_time(synced)
    )


def _is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:  # e.g. month 13
        return False
    return True


def validate_rows(
    spec: EntitySpec,
    raw_rows: list[Any],
    outcome: Outcome,
    *,
    check_nul: bool = False,
    done: Container[int] = (),
) -> list[Candidate]:
    """Validate the rows; invalid rows fail alone, with their field errors (step 3).

    `check_nul`: the body contains a `\\u0000` escape, which PostgreSQL cannot store in
    text or jsonb; only then is each row searched for one (it costs a walk of every value).
    `done`: indexes of rows that already have their result (`skip_unchanged`).
    Returns the valid rows in request order.
    """
    groups: dict[type[RowModel], list[tuple[int, dict[str, Any]]]] = {
        spec.full: [],
        spec.tombstone: [],
    }
    for index, raw in enumerate(raw_rows):
        if index in done:
            continue
        if not isinstance(raw, dict):
            outcome.invalid(index, None, raw, [ProblemFieldError(loc=[], msg="must be an object")])
        elif check_nul and _has_nul(raw):
            errors = [ProblemFieldError(loc=[], msg="must not contain NUL characters (\\u0000)")]
            outcome.invalid(index, None, raw, errors)
        else:
            groups[spec.tombstone if raw.get("deleted") is True else spec.full].append((index, raw))
    candidates: list[Candidate] = []
    for model, group in groups.items():
        if group:
            candidates += _validate_group(spec, model, group, outcome)
    if groups[spec.tombstone] and groups[spec.full]:
        candidates.sort(key=attrgetter("index"))
    return candidates


@cache
def _list_of(model: type[RowModel]) -> TypeAdapter[list[RowModel]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _validate_group(
    spec: EntitySpec,
    model: type[RowModel],
    group: list[tuple[int, dict[str, Any]]],
    outcome: Outcome,
) -> list[Candidate]:
    """Rows of one model: by its fast twin if it has one, else in one pydantic-core call.

    A row the twin refuses is validated by the model (models.ingest_fast), then made a twin.
    Without a twin, one pydantic call for the whole list saves the per-call overhead; when
    it raises, each row is validated alone so that its errors are its own.
    """
    twin = TWINS.get(model)
    if twin is not None:
        return [c for index, raw in group if (c := _validate_twin(spec, twin, index, raw, outcome))]
    try:
        rows = _list_of(model).validate_python([raw for _, raw in group])
    except ValidationError:  # row by row, for each row's own errors
        return [c for index, raw in group if (c := _validate_one(spec, model, index, raw, outcome))]
    return [
        Candidate(index, spec.row_key(row), raw, row)
        for (index, raw), row in zip(group, rows, strict=True)
    ]


_UTC_SUFFIXES = ("Z", "+00:00")


def _validate_twin(
    spec: EntitySpec, twin: type[FastRow], index: int, raw: dict[str, Any], outcome: Outcome
) -> Candidate | None:
    row = twin.accept(raw)
    if row is not None:
        synced: str = raw["lastSyncedAt"]  # RFC 3339: `accept` read it
        text = synced if synced.endswith(_UTC_SUFFIXES) else None
        return Candidate(index, spec.row_key(row), raw, row, text)
    candidate = _validate_one(spec, twin.model, index, raw, outcome)
    if candidate is not None:
        assert isinstance(candidate.row, RowModel)
        candidate.row = twin.of_model(candidate.row)
    return candidate


def _validate_one(
    spec: EntitySpec, model: type[RowModel], index: int, raw: dict[str, Any], outcome: Outcome
) -> Candidate | None:
    try:
        row = model.model_validate(raw)
    except ValidationError as exc:
        errors = [
            ProblemFieldError(loc=list(e["loc"]), msg=e["msg"])
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        outcome.invalid(index, spec.raw_key(raw), raw, errors)
        return None
    return Candidate(index, spec.row_key(row), raw, row)


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
