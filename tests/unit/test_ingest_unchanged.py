"""The unchanged-row fast path: which raw rows are compared by hash before validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from restosync.models.ingest import StoredVersion
from restosync.services.ingest.pipeline import (
    ITEMS,
    STOCK,
    Outcome,
    peek_rows,
    skip_unchanged,
    validate_rows,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def item(sku: str = "SKU-1", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sku": sku,
        "name": "Item",
        "erpUnitCode": "U",
        "erpVatCode": "V",
        "contentHash": f"hash-{sku}",
        "lastSyncedAt": T0.isoformat(),
    }
    row.update(overrides)
    return row


def test_a_row_with_the_stored_hash_is_no_changes_and_not_validated() -> None:
    rows = [item("A"), item("B")]
    stored = {"A": StoredVersion("hash-A", T0, retired=False), "B": None}
    outcome = Outcome(len(rows))
    done = skip_unchanged(peek_rows(ITEMS, rows), stored, outcome)
    assert done == {0}
    assert [c.key for c in validate_rows(ITEMS, rows, outcome, done=done)] == ["B"]
    result = outcome.results[0]
    assert result is not None
    assert (result.identifier, result.status, result.reason) == ("A", "skipped", "no_changes")
    assert outcome.skipped_keys == ["A"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"sku": 12},  # a number: validated first (it becomes "12")
        {"sku": "x" * 101},
        {"contentHash": "x" * 65},
        {"contentHash": 7},
        {"lastSyncedAt": "yesterday"},
        {"lastSyncedAt": "2026-13-01T00:00:00Z"},
        {"lastSyncedAt": 1767225600},
        {"deleted": True},
        {"deleted": "no"},
    ],
)
def test_rows_not_plainly_well_formed_go_through_validation(overrides: dict[str, Any]) -> None:
    row = {**item("A"), **overrides}
    sent = row.get("contentHash")
    stored = {"A": StoredVersion(sent if isinstance(sent, str) else "hash-A", T0, False)}
    assert skip_unchanged(peek_rows(ITEMS, [row]), stored, Outcome(1)) == set()


def test_keys_sent_twice_are_left_to_the_duplicate_rule() -> None:
    rows = [item("A"), item("A"), item("B"), {"sku": "B", "deleted": True, "lastSyncedAt": "x"}]
    assert [p.key for p in peek_rows(ITEMS, rows)] == []
    numeric = [item("12"), {**item("x"), "sku": 12}]  # the same key once validated
    assert [p.key for p in peek_rows(ITEMS, numeric)] == []


def test_a_row_without_a_usable_key_stops_the_fast_path() -> None:
    assert peek_rows(ITEMS, [item("A"), {"sku": None}]) == []
    assert [p.key for p in peek_rows(ITEMS, [item("A"), 42])] == ["A"]


def test_stock_keys_have_two_parts() -> None:
    row = {
        "itemSku": "S",
        "erpWarehouseId": "W",
        "contentHash": "h",
        "lastSyncedAt": "2026-01-01 00:00:00",
    }
    [peek] = peek_rows(STOCK, [row])
    assert (peek.key, peek.parts) == ("S|W", ("S", "W"))


def test_the_answer_serializes_like_the_wire_model() -> None:
    rows = [item("A"), item("B", name="")]
    outcome = Outcome(len(rows))
    skip_unchanged(peek_rows(ITEMS, rows), {"A": StoredVersion("hash-A", T0, False)}, outcome)
    validate_rows(ITEMS, rows, outcome, done={0})
    answer = orjson.loads(outcome.answer().json())
    assert answer == orjson.loads(outcome.result().model_dump_json(exclude_none=True))
    assert answer["results"][0] == {"identifier": "A", "status": "skipped", "reason": "no_changes"}
    assert [e["loc"] for e in answer["results"][1]["errors"]] == [["name"]]
