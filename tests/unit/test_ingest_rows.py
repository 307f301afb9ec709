"""The per-row rules of ingest that need no database (SPEC §4.1 steps 3-6, §4.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from restosync.models.ingest import ItemRow, ItemTombstone, StoredVersion, exact
from restosync.models.ingest_fast import ItemFields, StockFields
from restosync.services.ingest.context import settle_writes
from restosync.services.ingest.items import make_slug
from restosync.services.ingest.pipeline import (
    ITEMS,
    STOCK,
    WAREHOUSES,
    Candidate,
    Outcome,
    check_stored,
    drop_duplicates,
    validate_rows,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def item(sku: str = "SKU-1", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sku": sku,
        "name": "Crème fraîche 1L",
        "erpUnitCode": "U",
        "erpVatCode": "TVA20",
        "contentHash": f"hash-{sku[:20]}",
        "lastSyncedAt": T0.isoformat(),
    }
    row.update(overrides)
    return row


def stock(sku: str = "SKU-1", warehouse: str = "W1", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "itemSku": sku,
        "erpWarehouseId": warehouse,
        "realStock": 10,
        "virtualStock": 7,
        "reservedQuantity": 3,
        "contentHash": f"hash-{sku}-{warehouse}",
        "lastSyncedAt": T0.isoformat(),
    }
    row.update(overrides)
    return row


def results(outcome: Outcome) -> list[tuple[str, str, str | None]]:
    return [(r.identifier, r.status, r.reason) for r in outcome.result().results]


def test_a_bad_row_fails_alone_with_its_field_errors() -> None:
    rows = [item("A"), item("B", name="", unitPrice=-1), item("C")]
    outcome = Outcome(len(rows))
    valid = validate_rows(ITEMS, rows, outcome)
    assert [c.key for c in valid] == ["A", "C"]
    failed = outcome.results[1]
    assert failed is not None
    assert (failed.identifier, failed.status, failed.reason) == ("B", "failed", "invalid")
    assert {tuple(e.loc) for e in failed.errors or []} == {("name",), ("unitPrice",)}
    assert outcome.rejections[0].key == "B"
    assert outcome.rejections[0].reason == "invalid"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sku", "x" * 101),
        ("erpId", "x" * 101),
        ("name", "x" * 256),
        ("erpUnitCode", "x" * 51),
        ("erpFamilyCode", "x" * 51),
        ("contentHash", "x" * 65),
        ("purchasePrice", "-0.01"),
        ("minimumOrderQuantity", -1),
        ("currency", "EURO"),
        ("lastSyncedAt", "yesterday"),
        ("contentHash", None),
    ],
)
def test_item_limits_of_the_seed(field: str, value: Any) -> None:
    outcome = Outcome(1)
    assert validate_rows(ITEMS, [item(**{field: value})], outcome) == []
    result = outcome.results[0]
    assert result is not None
    assert result.reason == "invalid"
    assert [e.loc for e in result.errors or []] == [[field]]


def test_unknown_fields_are_ignored_and_numbers_accepted_as_codes() -> None:
    outcome = Outcome(1)
    [candidate] = validate_rows(ITEMS, [item(colour="blue", erpVatCode=20)], outcome)
    assert isinstance(candidate.row, ItemFields)
    assert candidate.row.erp_vat_code == "20"


def test_non_object_rows_and_unusable_keys_fail_without_a_rejection() -> None:
    rows: list[Any] = [42, {**item(), "sku": None}, ["a"]]
    outcome = Outcome(len(rows))
    assert validate_rows(ITEMS, rows, outcome) == []
    assert [r.identifier for r in outcome.result().results] == ["#0", "#1", "#2"]
    assert outcome.rejections == []


def test_nul_characters_fail_the_row_when_the_body_has_one() -> None:
    rows = [item("A", description="a\x00b"), item("B")]
    outcome = Outcome(len(rows))
    assert [c.key for c in validate_rows(ITEMS, rows, outcome, check_nul=True)] == ["B"]
    first = outcome.results[0]
    assert first is not None
    assert (first.identifier, first.reason) == ("#0", "invalid")


def test_rows_validated_in_one_call_come_back_in_request_order_as_one_by_one() -> None:
    tomb = {"deleted": True, "lastSyncedAt": T0.isoformat()}
    rows = [item("A"), {**tomb, "sku": "B"}, item("C", unitPrice="1.50"), {**tomb, "sku": "A"}]
    outcome = Outcome(len(rows))
    valid = validate_rows(ITEMS, rows, outcome)
    assert [(c.index, c.key, c.tombstone) for c in valid] == [
        (0, "A", False),
        (1, "B", True),
        (2, "C", False),
        (3, "A", True),
    ]
    one_by_one = [(ItemTombstone if r.get("deleted") else ItemRow).model_validate(r) for r in rows]
    # Items are their fast twins (an ItemRow's fields, JSON numbers as sent).
    assert [type(c.row) for c in valid] == [ItemFields, ItemTombstone, ItemFields, ItemTombstone]
    for candidate, model in zip(valid, one_by_one, strict=True):
        for name, value in model:
            assert getattr(candidate.row, name) == value
    # Same lastSyncedAt: the later row of the request wins, whatever its model.
    assert [c.index for c in drop_duplicates(valid, outcome)] == [1, 2, 3]


def test_a_tombstone_needs_only_its_key_and_time() -> None:
    outcome = Outcome(2)
    rows = [{"sku": "A", "deleted": True, "lastSyncedAt": T0.isoformat()}, item(deleted=False)]
    tomb, full = validate_rows(ITEMS, rows, outcome)
    assert isinstance(tomb.row, ItemTombstone)
    assert tomb.tombstone
    assert isinstance(full.row, ItemFields)
    assert not full.tombstone


def test_duplicates_keep_the_latest_last_synced_at() -> None:
    later = (T0 + timedelta(minutes=1)).isoformat()
    rows = [item("A", lastSyncedAt=later, name="new"), item("A", name="old"), item("B")]
    outcome = Outcome(len(rows))
    kept = drop_duplicates(validate_rows(ITEMS, rows, outcome), outcome)
    assert [(c.index, c.key) for c in kept] == [(0, "A"), (2, "B")]
    assert outcome.results[1] is not None
    assert outcome.results[1].reason == "duplicate_in_request"


def test_duplicates_with_the_same_time_keep_the_last_one_sent() -> None:
    rows = [item("A", name="first"), item("A", name="second")]
    outcome = Outcome(len(rows))
    [kept] = drop_duplicates(validate_rows(ITEMS, rows, outcome), outcome)
    assert kept.index == 1


def test_same_hash_is_skipped_and_older_is_stale() -> None:
    rows = [item("SAME"), item("OLD"), item("NEW"), item("NEWER")]
    stored = {
        "SAME": StoredVersion("hash-SAME", T0 + timedelta(days=1), retired=False),
        "OLD": StoredVersion("other", T0 + timedelta(seconds=1), retired=False),
        "NEWER": StoredVersion("other", T0, retired=False),
    }
    outcome = Outcome(len(rows))
    survivors = check_stored(validate_rows(ITEMS, rows, outcome), stored, outcome)
    assert [c.key for c in survivors] == ["NEW", "NEWER"]
    assert outcome.results[0] is not None
    assert outcome.results[0].reason == "no_changes"
    assert outcome.results[1] is not None
    assert outcome.results[1].reason == "stale_data"
    assert outcome.rejections[0].reason == "stale_data"
    assert outcome.rejections[0].blocked_by_type is None


def test_tombstones_against_what_is_stored() -> None:
    def tomb(sku: str, **extra: Any) -> dict[str, Any]:
        return {"sku": sku, "deleted": True, "lastSyncedAt": T0.isoformat(), **extra}

    rows = [tomb("MISSING"), tomb("GONE"), tomb("LIVE"), tomb("GONE2", contentHash="h2")]
    stored = {
        "GONE": StoredVersion("h", T0, retired=True),
        "LIVE": StoredVersion("h", T0, retired=False),
        "GONE2": StoredVersion("h", T0, retired=True),
    }
    outcome = Outcome(len(rows))
    survivors = check_stored(validate_rows(ITEMS, rows, outcome), stored, outcome)
    assert [c.key for c in survivors] == ["LIVE", "GONE2"]
    assert [r.reason if r else None for r in outcome.results[:2]] == ["not_found", "no_changes"]


@pytest.mark.parametrize(
    ("real", "virtual", "reserved", "ok"),
    [
        (10, 7, 3, True),
        ("10.5", "7.4995", 3, True),  # within 0.001
        (10, 8, 3, False),
        (2, -3, 5, True),  # more reserved than on hand: virtual goes negative
        (-2, -2, 0, True),  # negative stock allowed by the ERP
        (10, 10, -1, False),  # reserved is a quantity: never negative
    ],
)
def test_virtual_stock_is_real_minus_reserved(
    real: Any, virtual: Any, reserved: Any, ok: bool
) -> None:
    row = stock(realStock=real, virtualStock=virtual, reservedQuantity=reserved)
    outcome = Outcome(1)
    valid = validate_rows(STOCK, [row], outcome)
    assert bool(valid) is ok
    if ok:
        assert isinstance(valid[0].row, StockFields)
        assert exact(valid[0].row.virtual_stock) == Decimal(str(virtual))
    else:
        assert results(outcome) == [("SKU-1|W1", "failed", "invalid")]


def test_stock_key_is_item_sku_bar_warehouse() -> None:
    outcome = Outcome(1)
    [candidate] = validate_rows(STOCK, [stock("S", "W9")], outcome)
    assert candidate.key == "S|W9"


def test_warehouse_rules() -> None:
    def warehouse(**overrides: Any) -> dict[str, Any]:
        row = {
            "erpWarehouseId": "W1",
            "name": "Main",
            "code": "MAIN",
            "contentHash": "h",
            "lastSyncedAt": T0.isoformat(),
        }
        return {**row, **overrides}

    rows = [warehouse(), warehouse(latitude=91), warehouse(type=2), warehouse(country="FRA")]
    outcome = Outcome(len(rows))
    assert len(validate_rows(WAREHOUSES, rows, outcome)) == 1
    assert [r.reason if r else None for r in outcome.results] == [None] + ["invalid"] * 3


def test_naive_timestamps_are_utc() -> None:
    outcome = Outcome(1)
    [candidate] = validate_rows(ITEMS, [item(lastSyncedAt="2026-01-01T00:00:00")], outcome)
    assert candidate.row.last_synced_at == T0


def test_naive_and_offset_timestamps_become_the_same_instant_in_utc() -> None:
    rows = [
        item("A", lastSyncedAt="2026-01-01T00:00:00Z"),
        item("B", lastSyncedAt="2026-01-01T01:30:00+01:30"),
        item("C", lastSyncedAt="2025-12-31T00:00:00-23:59"),  # past PostgreSQL's ±15:59
    ]
    outcome = Outcome(3)
    a, b, c = (candidate.row.last_synced_at for candidate in validate_rows(ITEMS, rows, outcome))
    assert a == b == T0
    assert c == T0 - timedelta(minutes=1)
    assert {a.utcoffset(), b.utcoffset(), c.utcoffset()} == {timedelta(0)}


def test_slug_folds_accents() -> None:
    assert make_slug("Crème fraîche 1L", "SKU-1") == "creme-fraiche-1l-sku-1"
    assert make_slug("日本", "") == "item"
    assert len(make_slug("a" * 255, "b" * 100)) <= 400


@pytest.mark.parametrize(
    ("name", "sku", "slug"),
    [
        ("TOMATES Cerises", "SKU-1", "tomates-cerises-sku-1"),  # ASCII: lowercased
        ("--Thé  vert__bio!!", "", "the-vert-bio"),  # runs of others: one "-", none at ends
        ("Œuf ½ douzaine", "X", "uf-12-douzaine-x"),  # NFKD: ½ is 1, U+2044, 2; no Œ in ASCII
        ("ﬁlet", "A/B", "filet-a-b"),  # ligature folded
        ("-", "-", "item"),
    ],
)
def test_slug_is_ascii_words_joined_by_dashes(name: str, sku: str, slug: str) -> None:
    assert make_slug(name, sku) == slug


def test_a_long_slug_is_cut_and_never_ends_with_a_dash() -> None:
    slug = make_slug("ab " * 200, "")
    assert len(slug) <= 400
    assert slug.startswith("ab-ab")
    assert not slug.endswith("-")


def test_every_row_gets_exactly_one_result() -> None:
    outcome = Outcome(2)
    [candidate] = validate_rows(ITEMS, [item("A")], Outcome(1))
    outcome.skipped(candidate, "no_changes")
    with pytest.raises(RuntimeError):
        outcome.processed(candidate)
    with pytest.raises(RuntimeError):
        outcome.result()


async def test_rows_a_concurrent_push_changed_are_classified_again() -> None:
    rows = [item("WRITTEN"), item("SAME"), item("NEWER"), item("LOST")]
    outcome = Outcome(len(rows))
    candidates = validate_rows(ITEMS, rows, outcome)
    now_stored = {
        "SAME": StoredVersion("hash-SAME", T0, retired=False),
        "NEWER": StoredVersion("other", T0 + timedelta(hours=1), retired=False),
    }

    async def reread(missed: list[Candidate]) -> dict[str, StoredVersion]:
        return {c.key: now_stored[c.key] for c in missed if c.key in now_stored}

    await settle_writes(candidates[:3], {"WRITTEN"}, outcome, reread)
    assert [r.reason if r else None for r in outcome.results[:3]] == [
        None,
        "no_changes",
        "stale_data",
    ]
    assert [c.key for c in outcome.landed] == ["WRITTEN"]
    with pytest.raises(RuntimeError, match="neither written nor skipped: LOST"):
        await settle_writes(candidates[3:], set(), outcome, reread)


def test_empty_optional_codes_mean_none_sent() -> None:
    outcome = Outcome(1)
    [candidate] = validate_rows(
        ITEMS, [item(erpFamilyCode="", erpSubfamilyCode="", erpId="")], outcome
    )
    assert isinstance(candidate.row, ItemFields)
    assert candidate.row.erp_family_code == ""


@pytest.mark.parametrize("sent", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_whose_utc_instant_is_out_of_range_fails_its_row(sent: str) -> None:
    outcome = Outcome(2)
    valid = validate_rows(ITEMS, [item("A", lastSyncedAt=sent), item("B")], outcome)
    assert [c.key for c in valid] == ["B"]
    failed = outcome.results[0]
    assert failed is not None
    assert (failed.identifier, failed.reason) == ("A", "invalid")
    assert [(e.loc, e.msg) for e in failed.errors or []] == [
        (["lastSyncedAt"], "Value error, the same instant in UTC is outside years 1-9999")
    ]
