"""Ingest (SPEC §4): the rows agents push, the per-row answer, rejections and replays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from restosync.models.base import WireModel, examples
from restosync.models.problem import ProblemFieldError

Entity = Literal["items", "stock", "warehouses"]
Mode = Literal["incremental", "batch"]
RowStatus = Literal["processed", "skipped", "failed"]
SkipReason = Literal["duplicate_in_request", "no_changes", "not_found"]
FailReason = Literal[
    "invalid", "stale_data", "unmapped_unit", "unmapped_vat", "unknown_item", "unknown_warehouse"
]
BlockedBy = Literal["unit", "vat", "family", "subfamily", "item", "warehouse"]


# The tzinfo pydantic gives every "…Z" time (one object): `is` costs a fifth of utcoffset().
_PYDANTIC_UTC = TypeAdapter(datetime).validate_python("2026-01-01T00:00:00Z").tzinfo


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC. Agents of the seed sometimes send local-less timestamps:
    they are UTC. Any offset ISO 8601 allows (up to ±23:59) is accepted, but PostgreSQL
    reads none past ±15:59 as text (COPY, JSON): so rows carry UTC from here on."""
    tz = value.tzinfo
    if tz is _PYDANTIC_UTC or tz is UTC:
        return value
    if tz is None:
        return value.replace(tzinfo=UTC)
    if not value.utcoffset():
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: a ValueError is a field error
        raise ValueError("the same instant in UTC is outside years 1-9999") from None


Timestamp = Annotated[datetime, AfterValidator(as_utc)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=100)]
OptionalKey = Annotated[str, StringConstraints(max_length=100)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Label = Annotated[str, StringConstraints(max_length=255)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=50)]
ShortText = Annotated[str, StringConstraints(max_length=50)]
ContentHash = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Amount = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
# Stock on hand may go below zero (items.allow_negative_stock), so no lower bound here.
SignedAmount = Annotated[Decimal, Field(allow_inf_nan=False)]
VIRTUAL_TOLERANCE = Decimal("0.001")
VIRTUAL_MISMATCH = "virtualStock must equal realStock - reservedQuantity (within 0.001)"


def virtual_matches(virtual: Decimal, real: Decimal, reserved: Decimal) -> bool:
    """The stock rule: virtual = real - reserved within 0.001 (Decimal's default context)."""
    return abs(virtual - (real - reserved)) <= VIRTUAL_TOLERANCE


class RowModel(WireModel):
    """A pushed row: camelCase, unknown keys ignored, numbers accepted where text is expected."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    last_synced_at: Timestamp


class ItemRow(RowModel):
    """An item as the agent sends it (SPEC §4.2)."""

    deleted: Literal[False] = False
    content_hash: ContentHash
    sku: Key
    name: Name
    description: str | None = None
    erp_id: OptionalKey | None = None
    slug: Annotated[str, StringConstraints(min_length=1, max_length=400)] | None = None
    barcode: Annotated[str, StringConstraints(max_length=100)] | None = None
    erp_unit_code: Code
    erp_vat_code: Code
    erp_family_code: ShortText | None = None  # "" or null: no family
    erp_subfamily_code: ShortText | None = None
    unit_price: Amount | None = None
    price_excl_vat: Amount | None = None
    price_incl_vat: Amount | None = None
    vat_amount: Amount | None = None
    catalog_price: Amount | None = None
    purchase_price: Amount | None = None
    minimum_order_quantity: Amount | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] = "EUR"
    manage_stock: bool = True
    allow_negative_stock: bool = False
    stock_booking_allowed: bool = False
    automatic_stock_booking: bool = False
    tracking_mode: ShortText | None = None
    pick_movement_disallowed_on_totally_booked_item: bool = False
    weight: Amount | None = None
    weight_unit: ShortText | None = None
    height: Amount | None = None
    width: Amount | None = None
    length: Amount | None = None
    dimension_unit: ShortText | None = None
    items_per_package: Amount | None = None
    meta_title: str | None = None
    meta_description: str | None = None
    meta_keywords: str | None = None
    brand: Label | None = None
    days_to_ship: Annotated[int, Field(ge=0, le=100_000)] | None = None
    ship_price_ttc: Amount | None = None
    origin_country_code: ShortText | None = None
    is_active: bool = True
    publish_on_web: bool = True


class StockRow(RowModel):
    """Stock of one item in one warehouse as the agent sends it (SPEC §4.2)."""

    deleted: Literal[False] = False
    content_hash: ContentHash
    item_sku: Key
    erp_warehouse_id: Key
    real_stock: SignedAmount
    virtual_stock: SignedAmount
    reserved_quantity: Amount
    ordered_quantity: Amount = Decimal(0)
    incoming_quantity: Amount = Decimal(0)
    pump: Amount | None = None
    stock_value: SignedAmount | None = None
    min_stock: Amount | None = None
    max_stock: Amount | None = None
    stock_to_order_threshold: Amount | None = None
    last_synced_from: OptionalKey | None = None

    @model_validator(mode="after")
    def _virtual_is_real_minus_reserved(self) -> StockRow:
        if not virtual_matches(self.virtual_stock, self.real_stock, self.reserved_quantity):
            raise ValueError(VIRTUAL_MISMATCH)
        return self


def exact(value: Decimal | float) -> Decimal:
    """The Decimal pydantic makes of a JSON number (a float by its shortest repr, as sent).

    The fast twins of the rows (models.ingest_fast) keep numbers as sent: an int, or a float
    whose shortest repr is the very text psycopg writes for it in COPY.
    """
    return value if isinstance(value, Decimal) else Decimal(str(value))


class WarehouseRow(RowModel):
    """A warehouse as the agent sends it (SPEC §4.2)."""

    deleted: Literal[False] = False
    content_hash: ContentHash
    erp_warehouse_id: Key
    name: Name
    code: Code
    address: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")] | None = None
    state: str | None = None
    latitude: Annotated[Decimal, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    longitude: Annotated[Decimal, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None
    is_active: bool = True
    is_main: bool = False
    type: Literal[0, 1] = 0
    multi_location_enabled: bool = False
    last_inventory_date: Timestamp | None = None


class Tombstone(RowModel):
    """`deleted: true`: the row is gone in the ERP (the hash is optional on a tombstone)."""

    deleted: Literal[True]
    content_hash: ContentHash | None = None


class ItemTombstone(Tombstone):
    """An item deleted in the ERP: it is deactivated."""

    sku: Key


class StockTombstone(Tombstone):
    """A stock row deleted in the ERP: its quantities are zeroed."""

    item_sku: Key
    erp_warehouse_id: Key


class WarehouseTombstone(Tombstone):
    """A warehouse deleted in the ERP: it is deactivated."""

    erp_warehouse_id: Key


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """What a pushed row is compared with: the stored version of its key."""

    content_hash: str
    last_synced_at: datetime
    retired: bool  # already what a tombstone makes it (inactive, or zeroed)


# Request bodies, for the OpenAPI document (the handler reads rows one by one, so that a
# bad row fails alone instead of failing the request).
# Examples of the OpenAPI document (one row each, as the reference agent sends them).
_ITEM = {
    "sku": "SKU-0000001",
    "name": "Tomates cerises 1 kg",
    "erpUnitCode": "KG",
    "erpVatCode": "TVA55",
    "erpFamilyCode": "FRESH",
    "unitPrice": "4.20",
    "priceInclVat": "4.43",
    "isActive": True,
    "contentHash": "9f2c4e0b7a1d3c5e8f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6",
    "lastSyncedAt": "2026-12-01T06:00:00Z",
}
_STOCK = {
    "itemSku": "SKU-0000001",
    "erpWarehouseId": "WH-00",
    "realStock": "120",
    "reservedQuantity": "20",
    "virtualStock": "100",
    "contentHash": "1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c69f2c4e0b",
    "lastSyncedAt": "2026-12-01T06:00:00Z",
}
_WAREHOUSE = {
    "erpWarehouseId": "WH-00",
    "name": "Entrepôt Rungis",
    "code": "W00",
    "city": "Rungis",
    "country": "FR",
    "isMain": True,
    "contentHash": "7a1d3c5e8f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c69f2c4e0b",
    "lastSyncedAt": "2026-12-01T06:00:00Z",
}
_TOMBSTONE = {"sku": "SKU-0000002", "deleted": True, "lastSyncedAt": "2026-12-01T06:00:00Z"}
_SNAPSHOT = {"id": "5f0c2d1e-snapshot-2026-12-01", "page": 0, "last": True}


class PushEnvelope(WireModel):
    """What every push carries besides its rows."""

    vendor_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class PushItems(PushEnvelope):
    """Items to upsert (or tombstones)."""

    model_config = examples({"vendorId": "vendor-1", "items": [_ITEM, _TOMBSTONE]})

    items: list[ItemRow | ItemTombstone]


class PushStock(PushEnvelope):
    """Stock rows to upsert (or tombstones)."""

    model_config = examples({"vendorId": "vendor-1", "stock": [_STOCK]})

    stock: list[StockRow | StockTombstone]


class PushWarehouses(PushEnvelope):
    """Warehouses to upsert (or tombstones)."""

    model_config = examples({"vendorId": "vendor-1", "warehouses": [_WAREHOUSE]})

    warehouses: list[WarehouseRow | WarehouseTombstone]


# Full snapshots (issue 4) -------------------------------------------------------------
MAX_SNAPSHOT_PAGE = 100_000


class SnapshotPage(WireModel):
    """`snapshot` of a /batch push: this page of a full snapshot (docs/ingest.md)."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="Chosen by the agent, shared by every page of one snapshot; new per snapshot."
    )
    page: Annotated[int, Field(ge=0, le=MAX_SNAPSHOT_PAGE, strict=True)] = Field(
        description="Page number, from 0; pages 0..N must all commit before the last one."
    )
    last: Annotated[bool, Field(strict=True)] = Field(
        description="The final page: its commit defers the job that retires absent rows."
    )
    force: Annotated[bool, Field(strict=True)] = Field(
        default=False,
        description="On the last page: apply even past SNAPSHOT_MAX_REMOVAL_SHARE, or empty.",
    )


class PushItemsBatch(PushItems):
    """Items of a full push, possibly one page of a snapshot."""

    model_config = examples({"vendorId": "vendor-1", "items": [_ITEM], "snapshot": _SNAPSHOT})

    snapshot: SnapshotPage | None = None


class PushStockBatch(PushStock):
    """Stock rows of a full push, possibly one page of a snapshot."""

    model_config = examples({"vendorId": "vendor-1", "stock": [_STOCK], "snapshot": _SNAPSHOT})

    snapshot: SnapshotPage | None = None


class PushWarehousesBatch(PushWarehouses):
    """Warehouses of a full push, possibly one page of a snapshot."""

    model_config = examples(
        {"vendorId": "vendor-1", "warehouses": [_WAREHOUSE], "snapshot": _SNAPSHOT}
    )

    snapshot: SnapshotPage | None = None


# end of snapshots ---------------------------------------------------------------------


class SyncQuery(WireModel):
    """Query string of a push."""

    dry_run: bool = Field(
        default=False, description="Run the whole pipeline, answer as usual, then roll back."
    )


class RowResult(WireModel):
    """What became of one row."""

    identifier: str = Field(description="Key of the row (sku, itemSku|erpWarehouseId, …).")
    status: RowStatus
    reason: SkipReason | FailReason | None = None
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="Field errors of an invalid row."
    )


class IngestResult(WireModel):
    """The answer to a push: counts and one result per row, in request order."""

    processed: int = Field(description="Rows written.")
    skipped: int
    failed: int
    results: list[RowResult]


@dataclass(slots=True)  # not frozen: that makes construction several times slower
class RowOutcome:
    """What became of one row, as the pipeline records it (a `RowResult` without pydantic).

    A push answers thousands of these: building pydantic objects for them cost more than
    validating the rows, so they stay plain until serialized (`PushAnswer.json`).
    """

    identifier: str
    status: RowStatus
    reason: SkipReason | FailReason | None = None
    errors: list[ProblemFieldError] | None = None

    def wire(self) -> dict[str, Any]:
        """As in `RowResult` on the wire (camelCase, None left out)."""
        out: dict[str, Any] = {"identifier": self.identifier, "status": self.status}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.errors is not None:
            out["errors"] = [e.model_dump(by_alias=True) for e in self.errors]
        return out


@dataclass(frozen=True, slots=True)
class PushAnswer:
    """The answer to a push (the `IngestResult` document), serialized without pydantic."""

    processed: int
    skipped: int
    failed: int
    results: list[RowOutcome]

    def json(self) -> bytes:
        """The `IngestResult` JSON document."""
        return orjson.dumps(
            {
                "processed": self.processed,
                "skipped": self.skipped,
                "failed": self.failed,
                "results": [r.wire() for r in self.results],
            }
        )


# Rejections and their replay -----------------------------------------------------------


class RejectionFilter(WireModel):
    """Filters of the rejection list."""

    vendor_id: str | None = None
    entity: Entity | None = None
    reason: FailReason | None = None


class RejectionView(WireModel):
    """A rejected row, its latest version, and why."""

    id: UUID
    vendor_id: str
    entity: Entity
    row_key: str
    reason: FailReason
    detail: str | None
    raw_row: dict[str, Any]
    blocked_by_type: BlockedBy | None
    blocked_by_code: str | None
    correlation_id: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    seen_count: int


class ReplayRequest(WireModel):
    """Re-run a vendor's rejected rows now."""

    model_config = examples({"vendorId": "vendor-1", "entity": "items"}, {"vendorId": "vendor-1"})

    vendor_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    entity: Entity | None = None


class ReplayResult(WireModel):
    """Outcome of a replay of rejected rows."""

    vendor_id: str
    replayed: int = Field(description="Rejected rows re-run.")
    processed: int
    skipped: int
    failed: int
