"""Items: mapping of ERP codes, then one insert or upsert and one tombstone statement per
request."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Literal

import orjson

from restosync.db import ingest as ingest_db
from restosync.models.ingest import BlockedBy, ItemTombstone, StoredVersion
from restosync.models.ingest_fast import ItemFields
from restosync.services.ingest.context import (
    IngestContext,
    ResolvedCode,
    lookup_stored,
    settle_writes,
    stored_for,
)
from restosync.services.ingest.pipeline import Candidate, Outcome, check_stored

MAX_SLUG = 400
# Bytes of the ASCII text: A-Z lowercased, [a-z0-9] kept, every other byte a space;
# split/join then makes each run one "-" (what re.sub("[^a-z0-9]+", "-") and strip("-")
# did). On bytes, translate is a table lookup in C: half the time of str.lower/translate.
_SLUG_BYTES = bytes(
    c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256)
)
# Payload fields kept in items.extra (rarely queried e-commerce fields).
EXTRA_FIELDS = ("meta_title", "meta_description", "meta_keywords")
# The row's own values, in the column order of `copy_items` (lastSyncedAt, from
# `Candidate.synced_for_copy`, and the mapped values follow); the meta fields are staged
# as columns and gathered into `extra` by `upsert_items`.
_COPIED_FIELDS = (
    "sku", "erp_id", "name", "description", "barcode", "erp_unit_code", "erp_vat_code",
    "erp_family_code", "erp_subfamily_code", "unit_price", "price_excl_vat",
    "price_incl_vat", "vat_amount", "catalog_price", "purchase_price",
    "minimum_order_quantity", "currency", "manage_stock", "allow_negative_stock",
    "stock_booking_allowed", "automatic_stock_booking", "tracking_mode",
    "pick_movement_disallowed_on_totally_booked_item", "weight", "weight_unit", "height",
    "width", "length", "dimension_unit", "items_per_package", "brand", "days_to_ship",
    "ship_price_ttc", "origin_country_code", *EXTRA_FIELDS, "is_active", "publish_on_web",
    "content_hash",
)  # fmt: skip
_MAPPED_FIELDS = (
    "slug", "unit_code", "unit_label", "vat_code", "vat_label", "vat_rate", "family_code",
    "family_label", "subfamily_code", "subfamily_label",
)  # fmt: skip
if ingest_db.copy_columns("items") != (*_COPIED_FIELDS, "last_synced_at", *_MAPPED_FIELDS):
    raise RuntimeError("items: `_mapped` no longer matches the columns of copy_items")
_COPIED = attrgetter(*_COPIED_FIELDS)  # of an ItemFields
# `insert_new_items` takes the same values but the meta fields, gathered into `extra` last.
_INSERTED_FIELDS = tuple(name for name in _COPIED_FIELDS if name not in EXTRA_FIELDS)
if ingest_db.copy_columns("items", new=True) != (
    "vendor_id", *_INSERTED_FIELDS, "last_synced_at", *_MAPPED_FIELDS, "extra",
):  # fmt: skip
    raise RuntimeError("items: `_inserted` no longer matches the columns of insert_new_items")
_INSERTED = attrgetter(*_INSERTED_FIELDS)
_META = attrgetter(*EXTRA_FIELDS)


def make_slug(name: str, sku: str) -> str:
    """URL slug from name and sku: accents folded, lowercase, words joined by '-'."""
    text = f"{name} {sku}"
    folded = (
        text.encode("ascii")
        if text.isascii()
        else unicodedata.normalize("NFKD", text).encode("ascii", "ignore")
    )
    slug = b"-".join(folded.translate(_SLUG_BYTES).split())[:MAX_SLUG].strip(b"-")
    return slug.decode("ascii") or "item"


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
        keys = sorted(
            c.key for c in [*(m.candidate for m in upserts), *tombstones] if c.key in stored
        )
        await ingest_db.lock_rows(
            ctx.conn, "lock_items", {"vendor_id": ctx.vendor_id, "keys": keys}
        )
    written: list[tuple[Any, ...]] = []
    # Only new items (a first load, new products): inserted as they are.
    new = bool(upserts) and not tombstones and all(m.candidate.key not in stored for m in upserts)
    if new and await ingest_db.insert_new_rows(
        ctx.conn, "items", _inserted(ctx.vendor_id, upserts)
    ):
        written = [(m.candidate.key,) for m in upserts]
    elif upserts:
        await ingest_db.stage_rows(ctx.conn, "items", _staged(upserts))
        written = await ingest_db.write_staged(ctx.conn, "upsert_items", ctx.vendor_id)
    retired = await ingest_db.write_rows(
        ctx.conn, "retire_items", ctx.vendor_id, [_tombstone_record(c) for c in tombstones]
    )
    await settle_writes(
        [m.candidate for m in upserts] + tombstones,
        {sku for (sku,) in written} | {row["sku"] for row in retired},
        outcome,
        lambda missed: ingest_db.stored_items(ctx.conn, ctx.vendor_id, [c.key for c in missed]),
    )


# The ERP codes of an item that map (unit, vat, family, subfamily).
Codes = tuple[str, str, str | None, str | None]
_CODES = attrgetter("erp_unit_code", "erp_vat_code", "erp_family_code", "erp_subfamily_code")


@dataclass(frozen=True, slots=True)
class Unmapped:
    """Why items with these codes cannot land."""

    reason: Literal["unmapped_unit", "unmapped_vat"]
    detail: str
    blocked_by: tuple[BlockedBy, str]


@dataclass(slots=True)  # not frozen: its __init__ costs a third (one per item)
class Mapped:
    """An item whose codes map, with what its stored row takes beyond its own fields."""

    candidate: Candidate
    item: ItemFields
    slug: str
    codes: tuple[Any, ...]  # `_MAPPED_FIELDS` after the slug


async def _mapped(rows: list[Candidate], ctx: IngestContext, outcome: Outcome) -> list[Mapped]:
    """Rows whose unit and VAT codes map, in key order; the others fail.

    A request's items share a few code combinations: each is resolved once.
    """
    ordered = sorted(rows, key=attrgetter("key"))
    items = [_item(c) for c in ordered]
    codes: list[Codes] = [_CODES(item) for item in items]
    combos = set(codes)
    wanted = {code for combo in combos for code in _wanted(combo)}
    resolved = await ctx.resolver.resolve_many(ctx.conn, ctx.vendor_id, wanted) if wanted else {}
    mapping = {combo: _mapping(combo, resolved) for combo in combos}
    mapped: list[Mapped] = []
    for candidate, item, combo in zip(ordered, items, codes, strict=True):
        found = mapping[combo]
        if isinstance(found, Unmapped):
            outcome.failed(candidate, found.reason, found.detail, found.blocked_by)
        else:
            mapped.append(
                Mapped(candidate, item, item.slug or make_slug(item.name, item.sku), found)
            )
    return mapped


def _staged(rows: list[Mapped]) -> list[tuple[Any, ...]]:
    """The `copy_items` records of mapped items."""
    return [(*_COPIED(m.item), m.candidate.synced_for_copy(), m.slug, *m.codes) for m in rows]


def _inserted(vendor_id: str, rows: list[Mapped]) -> list[tuple[Any, ...]]:
    """The `insert_new_items` records of mapped items."""
    return [
        (vendor_id, *_INSERTED(m.item), m.candidate.synced_for_copy(), m.slug, *m.codes,
         _extra(m.item))
        for m in rows
    ]  # fmt: skip


def _extra(item: ItemFields) -> str:
    """`items.extra` of an item as JSON: its meta fields that are not null (as upsert_items
    stores them). Written out field by field: a third of the time of a comprehension."""
    title, description, keywords = _META(item)
    extra = {}
    if title is not None:
        extra["meta_title"] = title
    if description is not None:
        extra["meta_description"] = description
    if keywords is not None:
        extra["meta_keywords"] = keywords
    return orjson.dumps(extra).decode() if extra else "{}"


if EXTRA_FIELDS != ("meta_title", "meta_description", "meta_keywords"):
    raise RuntimeError("items: `_extra` no longer names every field of EXTRA_FIELDS")


def _item(candidate: Candidate) -> ItemFields:
    assert isinstance(candidate.row, ItemFields)
    return candidate.row


def _wanted(codes: Codes) -> list[tuple[str, str]]:
    unit, vat, family, subfamily = codes
    wanted = [("unit", unit), ("vat", vat)]
    if family:
        wanted.append(("family", family))
    if subfamily:
        wanted.append(("subfamily", subfamily))
    return wanted


def _mapping(
    codes: Codes, resolved: Mapping[tuple[str, str], ResolvedCode]
) -> tuple[Any, ...] | Unmapped:
    """The mapped `copy_items` values of items with these codes (`_MAPPED_FIELDS` after
    the slug; an unmapped family: None), or why they cannot land."""
    unit_code, vat_code, family_code, subfamily_code = codes
    unit = resolved.get(("unit", unit_code))
    vat = resolved.get(("vat", vat_code))
    if unit is None:
        detail = f"no active unit mapping for ERP code {unit_code!r}"
        return Unmapped("unmapped_unit", detail, ("unit", unit_code))
    if vat is None or vat.vat_rate is None:
        detail = f"no active vat mapping for ERP code {vat_code!r}"
        return Unmapped("unmapped_vat", detail, ("vat", vat_code))
    family = resolved.get(("family", family_code)) if family_code else None
    subfamily = resolved.get(("subfamily", subfamily_code)) if subfamily_code else None
    return (
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
