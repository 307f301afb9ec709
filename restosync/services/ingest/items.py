"""Items: mapping of ERP codes, then one upsert and one tombstone statement per request."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from restosync.db import ingest as ingest_db
from restosync.models.ingest import ItemRow, ItemTombstone
from restosync.services.ingest.context import IngestContext, ResolvedCode, settle_writes
from restosync.services.ingest.pipeline import Candidate, Outcome, check_stored

MAX_SLUG = 400
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# Payload fields kept in items.extra (rarely queried e-commerce fields).
EXTRA_FIELDS = ("meta_title", "meta_description", "meta_keywords")
_NOT_COLUMNS = {"deleted", *EXTRA_FIELDS}


def make_slug(name: str, sku: str) -> str:
    """URL slug from name and sku: accents folded, lowercase, words joined by '-'."""
    folded = unicodedata.normalize("NFKD", f"{name} {sku}").encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", folded.lower()).strip("-")[:MAX_SLUG].strip("-") or "item"


async def apply_items(ctx: IngestContext, candidates: list[Candidate], outcome: Outcome) -> None:
    """Steps 5-8 for items: stored versions, mappings, writes."""
    stored = await ingest_db.stored_items(ctx.conn, ctx.vendor_id, [c.key for c in candidates])
    survivors = check_stored(candidates, stored, outcome)
    upserts = await _mapped([c for c in survivors if not c.tombstone], ctx, outcome)
    tombstones = [c for c in survivors if c.tombstone]
    if tombstones:
        # Two statements write items: lock the existing ones first, in key order.
        keys = sorted(c.key for c in [*(c for c, _ in upserts), *tombstones] if c.key in stored)
        await ingest_db.lock_rows(
            ctx.conn, "lock_items", {"vendor_id": ctx.vendor_id, "keys": keys}
        )
    written = await ingest_db.write_rows(
        ctx.conn, "upsert_items", ctx.vendor_id, [record for _, record in upserts]
    )
    retired = await ingest_db.write_rows(
        ctx.conn, "retire_items", ctx.vendor_id, [_tombstone_record(c) for c in tombstones]
    )
    await settle_writes(
        [c for c, _ in upserts] + tombstones,
        {row["sku"] for row in (*written, *retired)},
        outcome,
        lambda missed: ingest_db.stored_items(ctx.conn, ctx.vendor_id, [c.key for c in missed]),
    )


async def _mapped(
    rows: list[Candidate], ctx: IngestContext, outcome: Outcome
) -> list[tuple[Candidate, dict[str, Any]]]:
    """Rows whose unit and VAT codes map, with their column values; the others fail."""
    wanted: set[tuple[str, str]] = set()
    for candidate in rows:
        wanted.update(_codes(_item(candidate)))
    resolved = await ctx.resolver.resolve_many(ctx.conn, ctx.vendor_id, wanted) if wanted else {}
    mapped: list[tuple[Candidate, dict[str, Any]]] = []
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
) -> dict[str, Any]:
    """The row's column values (family and subfamily are optional: NULL when unmapped)."""
    family = resolved.get(("family", item.erp_family_code)) if item.erp_family_code else None
    subfamily = (
        resolved.get(("subfamily", item.erp_subfamily_code)) if item.erp_subfamily_code else None
    )
    record = item.model_dump(by_alias=False, exclude=_NOT_COLUMNS)
    record.update(
        slug=item.slug or make_slug(item.name, item.sku),
        unit_code=unit.resto_code,
        unit_label=unit.resto_label,
        vat_code=vat.resto_code,
        vat_label=vat.resto_label,
        vat_rate=vat.vat_rate,
        family_code=family.resto_code if family else None,
        family_label=family.resto_label if family else None,
        subfamily_code=subfamily.resto_code if subfamily else None,
        subfamily_label=subfamily.resto_label if subfamily else None,
        extra={
            name: getattr(item, name) for name in EXTRA_FIELDS if getattr(item, name) is not None
        },
    )
    return record


def _tombstone_record(candidate: Candidate) -> dict[str, Any]:
    row = candidate.row
    assert isinstance(row, ItemTombstone)
    return {"sku": row.sku, "content_hash": row.content_hash, "last_synced_at": row.last_synced_at}
