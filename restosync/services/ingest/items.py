"""Items: mapping of ERP codes, then one upsert and one tombstone statement per request."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from operator import attrgetter
from typing import Any

from restosync.db import ingest as ingest_db
from restosync.models.ingest import ItemRow, ItemTombstone, StoredVersion
from restosync.services.ingest.context import (
    IngestContext,
    ResolvedCode,
    lookup_stored,
    settle_writes,
    stored_for,
)
from restosync.services.ingest.pipeline import Candidate, Outcome, check_stored

MAX_SLUG = 400
# ASCII characters other than [a-z0-9] become spaces; split/join then makes each run one
# "-" (what re.sub("[^a-z0-9]+", "-") and strip("-") did, in a third less time).
_NOT_SLUG = str.maketrans(
    {chr(c): " " for c in range(128) if not ("a" <= chr(c) <= "z" or "0" <= chr(c) <= "9")}
)
# Payload fields kept in items.extra (rarely queried e-commerce fields).
EXTRA_FIELDS = ("meta_title", "meta_description", "meta_keywords")
# The row's own values, in the column order of `copy_items` (the mapped values follow);
# the meta fields are staged as columns and gathered into `extra` by `upsert_items`.
_COPIED_FIELDS = (
    "sku", "erp_id", "name", "description", "barcode", "erp_unit_code", "erp_vat_code",
    "erp_family_code", "erp_subfamily_code", "unit_price", "price_excl_vat",
    "price_incl_vat", "vat_amount", "catalog_price", "purchase_price",
    "minimum_order_quantity", "currency", "manage_stock", "allow_negative_stock",
    "stock_booking_allowed", "automatic_stock_booking", "tracking_mode",
    "pick_movement_disallowed_on_totally_booked_item", "weight", "weight_unit", "height",
    "width", "length", "dimension_unit", "items_per_package", "brand", "days_to_ship",
    "ship_price_ttc", "origin_country_code", *EXTRA_FIELDS, "is_active", "publish_on_web",
    "content_hash", "last_synced_at",
)  # fmt: skip
_MAPPED_FIELDS = (
    "slug", "unit_code", "unit_label", "vat_code", "vat_label", "vat_rate", "family_code",
    "family_label", "subfamily_code", "subfamily_label",
)  # fmt: skip
if ingest_db.copy_columns("items") != (*_COPIED_FIELDS, *_MAPPED_FIELDS):
    raise RuntimeError("items: `_record` no longer matches the columns of copy_items")
_COPIED = attrgetter(*_COPIED_FIELDS)


def make_slug(name: str, sku: str) -> str:
    """URL slug from name and sku: accents folded, lowercase, words joined by '-'."""
    text = f"{name} {sku}"
    folded = (
        text
        if text.isascii()
        else unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    )
    return "-".join(folded.lower().translate(_NOT_SLUG).split())[:MAX_SLUG].strip("-") or "item"


async def lookup_items(
    ctx: IngestContext, keys: list[tuple[str, ...]]
) -> dict[str, StoredVersion | None]:
    """Stored versions of these items (None when there is none), by sku."""
    return await lookup_stored(ctx, ingest_db.stored_items, [sku for (sku,) in keys])


async def apply_items(
    ctx: IngestContext,
    candidates: list[Candidate],
    outcome: Outcome,
    known: Mapping[str, StoredVersion | None],
) -> None:
    """Steps 5-8 for items: stored versions (those not `known` yet), mappings, writes."""
    stored = await stored_for(ctx, ingest_db.stored_items, candidates, known)
    survivors = check_stored(candidates, stored, outcome)
    upserts = await _mapped([c for c in survivors if not c.tombstone], ctx, outcome)
    tombstones = [c for c in survivors if c.tombstone]
    if tombstones:
        # Two statements write items: lock the existing ones first, in key order.
        keys = sorted(c.key for c in [*(c for c, _ in upserts), *tombstones] if c.key in stored)
        await ingest_db.lock_rows(
            ctx.conn, "lock_items", {"vendor_id": ctx.vendor_id, "keys": keys}
        )
    written: list[tuple[Any, ...]] = []
    if upserts:
        records = [record for _, record in upserts]  # in key order: see `_mapped`
        await ingest_db.stage_rows(ctx.conn, "items", records)
        written = await ingest_db.write_staged(ctx.conn, "upsert_items", ctx.vendor_id)
    retired = await ingest_db.write_rows(
        ctx.conn, "retire_items", ctx.vendor_id, [_tombstone_record(c) for c in tombstones]
    )
    await settle_writes(
        [c for c, _ in upserts] + tombstones,
        {sku for (sku,) in written} | {row["sku"] for row in retired},
        outcome,
        lambda missed: ingest_db.stored_items(ctx.conn, ctx.vendor_id, [c.key for c in missed]),
    )


async def _mapped(
    rows: list[Candidate], ctx: IngestContext, outcome: Outcome
) -> list[tuple[Candidate, tuple[Any, ...]]]:
    """Rows whose unit and VAT codes map, with their column values; the others fail."""
    wanted: set[tuple[str, str]] = set()
    for candidate in rows:
        wanted.update(_codes(_item(candidate)))
    resolved = await ctx.resolver.resolve_many(ctx.conn, ctx.vendor_id, wanted) if wanted else {}
    mapped: list[tuple[Candidate, tuple[Any, ...]]] = []
    for candidate in sorted(rows, key=lambda c: c.key):
        item = _item(candidate)
        unit = resolved.get(("unit", item.erp_unit_code))
        vat = resolved.get(("vat", item.erp_vat_code))
        if unit is None:
            detail = f"no active unit mapping for ERP code {item.erp_unit_code!r}"
            outcome.failed(candidate, "unmapped_unit", detail, ("unit", item.erp_unit_code))
        elif vat is None or vat.vat_rate is None:
            detail = f"no active vat mapping for ERP code {item.erp_vat_code!r}"
            outcome.failed(candidate, "unmapped_vat", detail, ("vat", item.erp_vat_code))
        else:
            mapped.append((candidate, _record(item, unit, vat, resolved)))
    return mapped


def _item(candidate: Candidate) -> ItemRow:
    assert isinstance(candidate.row, ItemRow)
    return candidate.row


def _codes(item: ItemRow) -> list[tuple[str, str]]:
    codes = [("unit", item.erp_unit_code), ("vat", item.erp_vat_code)]
    if item.erp_family_code:
        codes.append(("family", item.erp_family_code))
    if item.erp_subfamily_code:
        codes.append(("subfamily", item.erp_subfamily_code))
    return codes


def _record(
    item: ItemRow,
    unit: ResolvedCode,
    vat: ResolvedCode,
    resolved: Mapping[tuple[str, str], ResolvedCode],
) -> tuple[Any, ...]:
    """The row's `copy_items` values, `_MAPPED_FIELDS` last (unmapped family: None)."""
    family = resolved.get(("family", item.erp_family_code)) if item.erp_family_code else None
    subfamily = (
        resolved.get(("subfamily", item.erp_subfamily_code)) if item.erp_subfamily_code else None
    )
    return (
        *_COPIED(item),
        item.slug or make_slug(item.name, item.sku),
        unit.resto_code,
        unit.resto_label,
        vat.resto_code,
        vat.resto_label,
        vat.vat_rate,
        family.resto_code if family else None,
        family.resto_label if family else None,
        subfamily.resto_code if subfamily else None,
        subfamily.resto_label if subfamily else None,
    )


def _tombstone_record(candidate: Candidate) -> dict[str, Any]:
    row = candidate.row
    assert isinstance(row, ItemTombstone)
    return {"sku": row.sku, "content_hash": row.content_hash, "last_synced_at": row.last_synced_at}
