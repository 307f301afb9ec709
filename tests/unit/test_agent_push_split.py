"""Splitting pushes into requests the server accepts (rows and bytes), snapshot pages."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from restosync.agent.catalog import Catalog
from restosync.agent.push import (
    BATCH_LIMITS,
    INCREMENTAL_LIMITS,
    PushLimits,
    RowTooLarge,
    request_bodies,
    row_key,
)

VENDOR = "vendor-split"


def _decoded(bodies: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(body.payload) for body in bodies]


def test_rows_are_split_by_row_count_in_order_and_none_is_lost() -> None:
    rows = Catalog.generate(1201, 1).rows("items")

    bodies = request_bodies(VENDOR, "items", rows, INCREMENTAL_LIMITS)

    decoded = _decoded(bodies)
    assert [len(body["items"]) for body in decoded] == [500, 500, 201]
    assert [row for body in decoded for row in body["items"]] == rows
    assert all(body["vendorId"] == VENDOR and "snapshot" not in body for body in decoded)
    assert [key for body in bodies for key in body.keys] == [row["sku"] for row in rows]


def test_rows_are_split_by_serialized_size_and_every_body_fits() -> None:
    rows = Catalog.generate(300, 1).rows("items")
    row_bytes = max(len(orjson.dumps(row)) for row in rows)
    limits = PushLimits(max_rows=500, max_bytes=row_bytes * 20)

    bodies = request_bodies(VENDOR, "items", rows, limits)

    assert len(bodies) >= 300 // 20
    assert all(len(body.payload) <= limits.max_bytes for body in bodies)
    assert [row for body in _decoded(bodies) for row in body["items"]] == rows
    # Greedy: each body but the last could not have taken the next row.
    for body, following in itertools.pairwise(bodies):
        first_next = orjson.dumps(orjson.loads(following.payload)["items"][0])
        assert len(body.payload) + 1 + len(first_next) > limits.max_bytes


def test_a_body_exactly_at_the_byte_limit_is_allowed() -> None:
    rows = [{"erpWarehouseId": f"W{i}", "name": "n", "code": "c"} for i in range(4)]
    whole = request_bodies(VENDOR, "warehouses", rows, INCREMENTAL_LIMITS)[0].payload

    bodies = request_bodies(VENDOR, "warehouses", rows, PushLimits(10, len(whole)))
    too_small = request_bodies(VENDOR, "warehouses", rows, PushLimits(10, len(whole) - 1))

    assert [body.payload for body in bodies] == [whole]
    assert len(too_small) == 2


def test_a_row_too_large_for_any_request_is_refused_before_sending() -> None:
    rows = [{"sku": "BIG", "description": "x" * 2000}]

    with pytest.raises(RowTooLarge, match="2"):
        request_bodies(VENDOR, "items", rows, PushLimits(500, 1000))


def test_snapshot_pages_carry_one_id_numbered_from_zero_last_on_the_final_page() -> None:
    catalog = Catalog.generate(11_000, 1, stocked_share=0)
    rows = catalog.rows("items")

    bodies = request_bodies(VENDOR, "items", rows, BATCH_LIMITS, snapshot_id="snap-1")

    decoded = _decoded(bodies)
    assert [body["snapshot"] for body in decoded] == [
        {"id": "snap-1", "page": 0, "last": False},
        {"id": "snap-1", "page": 1, "last": False},
        {"id": "snap-1", "page": 2, "last": True},
    ]
    assert [len(body["items"]) for body in decoded] == [5000, 5000, 1000]
    assert all(len(body.payload) <= BATCH_LIMITS.max_bytes for body in bodies)


@pytest.mark.parametrize("force", [False, True])
def test_snapshot_pages_respect_the_byte_limit_with_the_snapshot_field_included(
    force: bool,
) -> None:
    rows = Catalog.generate(200, 1).rows("items")
    limits = PushLimits(max_rows=5000, max_bytes=len(orjson.dumps(rows[:10])) + 40)

    bodies = request_bodies(VENDOR, "items", rows, limits, snapshot_id="a" * 36, force=force)

    assert len(bodies) > 10
    assert all(len(body.payload) <= limits.max_bytes for body in bodies)
    assert [row for body in _decoded(bodies) for row in body["items"]] == rows


def test_force_goes_on_the_last_page_only() -> None:
    rows = Catalog.generate(20, 1).rows("items")
    limits = PushLimits(max_rows=8, max_bytes=BATCH_LIMITS.max_bytes)

    bodies = request_bodies(VENDOR, "items", rows, limits, snapshot_id="f", force=True)

    assert [body["snapshot"] for body in _decoded(bodies)] == [
        {"id": "f", "page": 0, "last": False},
        {"id": "f", "page": 1, "last": False},
        {"id": "f", "page": 2, "last": True, "force": True},
    ]


def test_an_empty_snapshot_is_one_empty_last_page_and_an_empty_push_no_request() -> None:
    snapshot = request_bodies(VENDOR, "stock", [], BATCH_LIMITS, snapshot_id="s")

    assert _decoded(snapshot) == [
        {"vendorId": VENDOR, "stock": [], "snapshot": {"id": "s", "page": 0, "last": True}}
    ]
    assert request_bodies(VENDOR, "stock", [], INCREMENTAL_LIMITS) == []


def test_row_keys_follow_the_agent_contract() -> None:
    catalog = Catalog.generate(1, 1)

    assert row_key("items", catalog.rows("items")[0]) == "SKU-0000000"
    assert row_key("stock", catalog.rows("stock")[0]) == "SKU-0000000|WH-00"
    assert row_key("warehouses", catalog.rows("warehouses")[0]) == "WH-00"
