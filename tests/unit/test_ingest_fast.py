"""The fast twins of item and stock rows (models.ingest_fast) against their pydantic models.

A twin may refuse a row the model takes (the model then validates it), never take one the
model refuses, and what it takes has the model's values: numbers as sent, equal to the
model's Decimals (`exact`), the same instant for `lastSyncedAt`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from restosync.models.ingest import VIRTUAL_TOLERANCE, ItemRow, RowModel, StockRow, exact
from restosync.models.ingest_fast import (
    FastRow,
    ItemFields,
    StockFields,
    virtual_is_real_minus_reserved,
)
from restosync.services.ingest.pipeline import ITEMS, STOCK, Outcome, validate_rows
from tests.unit.test_ingest_rows import item, stock

# Values of every JSON type, at the models' limits: lengths, bounds, formats.
EDGE_TEXTS = ["", "a", "EUR", "eur", "EU", "EURO", "EUR\n", " EUR", "é" * 3, "4.20", "true"]
EDGE_TEXTS += [
    "x" * n for n in (49, 50, 51, 63, 64, 65, 99, 100, 101, 254, 255, 256, 399, 400, 401)
]
EDGE_NUMBERS: list[Any] = [0, 1, -1, -0.0, 0.0, 1e-30, -1e-30, 1e308, -1e308, 4.2, 0.1, 3.0]
EDGE_NUMBERS += [100_000, 100_001, 2**63, 10**20, -(10**20)]
EDGE_TIMES = [
    "2026-12-01T00:00:00Z",
    "2026-12-01 00:00:00Z",
    "2026-12-01T00:00:00",
    "2026-12-01T00:00:00.5",
    "2026-12-01T00:00:00.123456+23:59",
    "2026-12-01T00:00:00.1234567Z",
    "2026-12-01T00:00:00-00:00",
    "2026-12-01T00:00:00+20:00",
    "2026-12-01t00:00:00z",
    "2026-12-01T00:00Z",
    "2026-12-01",
    "2026-02-30T00:00:00Z",
    "2026-12-01T24:00:00Z",
    "2026-12-01T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-01:00",
    "1700000000",
]
EDGES: list[Any] = [None, True, False, [], {}, *EDGE_TEXTS, *EDGE_NUMBERS, *EDGE_TIMES]
TEXTS = st.one_of(st.sampled_from(EDGE_TEXTS), st.text(max_size=8))
NUMBERS = st.one_of(
    st.sampled_from(EDGE_NUMBERS),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
)
TIMES = st.one_of(
    st.sampled_from(EDGE_TIMES),
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ).map(datetime.isoformat),
)
ITEM = item(unitPrice=4.2, weight=1, currency="EUR", daysToShip=3)
STOCK_ROW = stock(pump=2.5, stockValue=-3)
VALUES = st.one_of(st.none(), st.booleans(), TEXTS, NUMBERS, TIMES, st.just([]), st.just({}))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _rows(base: dict[str, Any], twin: type[FastRow]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` with some fields changed, removed, or also given by their snake_case name."""
    names = [_camel(n) for n in twin.__struct_fields__]
    snake = sorted(twin.snake_names)
    changed = st.dictionaries(st.sampled_from(names), VALUES, max_size=4)
    removed = st.sets(st.sampled_from(names), max_size=2)
    also_snake = st.dictionaries(st.sampled_from(snake), VALUES, max_size=1)
    return st.tuples(changed, removed, also_snake).map(
        lambda parts: {
            **{k: v for k, v in base.items() if k not in parts[1]},
            **parts[0],
            **parts[2],
        }
    )


def _same_value(fast: Any, slow: Any) -> bool:
    if isinstance(slow, Decimal):
        return isinstance(fast, int | float | Decimal) and exact(fast) == slow
    if isinstance(slow, datetime):
        return isinstance(fast, datetime) and fast == slow and fast.utcoffset() == slow.utcoffset()
    return type(fast) is type(slow) and fast == slow


def _compare(twin: type[FastRow], raw: dict[str, Any]) -> None:
    fast = twin.accept(raw)
    try:
        slow: RowModel | None = twin.model.model_validate(raw)
    except ValidationError:
        slow = None
    if fast is None:
        return  # refused: the model decides (taken or not)
    assert slow is not None, f"the twin took a row the model refuses: {raw!r}"
    for name in twin.__struct_fields__:
        value, expected = getattr(fast, name), getattr(slow, name)
        assert _same_value(value, expected), f"{name}: {value!r} != {expected!r} in {raw!r}"


@settings(max_examples=1500, deadline=None)
@given(_rows(ITEM, ItemFields))
def test_an_item_the_twin_takes_has_the_models_values(raw: dict[str, Any]) -> None:
    _compare(ItemFields, raw)


@settings(max_examples=1500, deadline=None)
@given(_rows(STOCK_ROW, StockFields))
def test_a_stock_row_the_twin_takes_has_the_models_values(raw: dict[str, Any]) -> None:
    _compare(StockFields, raw)


@pytest.mark.parametrize(("twin", "base"), [(ItemFields, ITEM), (StockFields, STOCK_ROW)])
def test_every_field_at_every_edge_value(twin: type[FastRow], base: dict[str, Any]) -> None:
    # Each field alone, with each edge value, then missing, then under its snake_case name.
    for name in twin.__struct_fields__:
        key = _camel(name)
        for value in EDGES:
            _compare(twin, {**base, key: value})
            _compare(twin, {**base, name: value})
        _compare(twin, {k: v for k, v in base.items() if k != key})


def test_the_twins_take_the_common_case() -> None:
    # Otherwise everything would go to pydantic and the property tests prove little.
    assert isinstance(ItemFields.accept(item(unitPrice=4.2, daysToShip=2)), ItemFields)
    assert isinstance(
        StockFields.accept(stock(realStock=1.5, virtualStock=1.5, reservedQuantity=0)), StockFields
    )


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"unitPrice": "4.20"}, "a number as text"),
        ({"erpVatCode": 20}, "a number where text is expected (pydantic makes it text)"),
        ({"isActive": "true"}, "a boolean as text"),
        ({"daysToShip": 3.0}, "an integral float"),
        ({"lastSyncedAt": "2026-12-01T00:00:00.1234567Z"}, "more than six digits"),
        ({"unit_price": 1}, "a field by its snake_case name"),
    ],
)
def test_what_the_twin_refuses_the_model_validates(overrides: dict[str, Any], why: str) -> None:
    raw = item(**overrides)
    assert ItemFields.accept(raw) is None, why
    outcome = Outcome(1)
    [candidate] = validate_rows(ITEMS, [raw], outcome)
    # Made a twin from the model's values, so that the writes see one type.
    assert isinstance(candidate.row, ItemFields)
    slow = ItemRow.model_validate(raw)
    for name in ItemFields.__struct_fields__:
        assert getattr(candidate.row, name) == getattr(slow, name)


@pytest.mark.parametrize(
    ("twin", "spec", "raw"),
    [
        (StockFields, STOCK, stock(realStock=10**400, reservedQuantity=0.5, virtualStock=1.5)),
        (StockFields, STOCK, stock(realStock=10**400, virtualStock=10**400 - 3)),
        (ItemFields, ITEMS, item(unitPrice=10**400)),
    ],
)
def test_integers_past_64_bits_are_read_as_the_model_reads_them(
    twin: type[FastRow], spec: Any, raw: dict[str, Any]
) -> None:
    # Not from JSON (orjson reads them as floats), but from Python: a replayed row. Mixed
    # with a float, one overflowed the float arithmetic of the virtualStock check (a 500).
    _compare(twin, raw)  # taken with the model's values, or refused
    outcome = Outcome(1)
    valid = validate_rows(spec, [raw], outcome)
    try:
        twin.model.model_validate(raw)
    except ValidationError:
        assert valid == []
    else:
        assert [type(c.row) for c in valid] == [twin]


def test_a_stock_row_the_twin_refuses_is_still_a_twin() -> None:
    raw = stock(realStock="10", virtualStock="7", reservedQuantity="3")
    assert StockFields.accept(raw) is None
    [candidate] = validate_rows(STOCK, [raw], Outcome(1))
    assert isinstance(candidate.row, StockFields)
    assert candidate.row.real_stock == StockRow.model_validate(raw).real_stock == Decimal(10)


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(NUMBERS, st.floats(min_value=-1000, max_value=1000)),
    st.one_of(NUMBERS, st.floats(min_value=-1000, max_value=1000)),
    st.one_of(st.floats(min_value=-0.0025, max_value=0.0025), st.sampled_from([0.001, 0.0011])),
)
def test_the_virtual_stock_check_decides_as_the_decimals(
    real: float, reserved: float, off: float
) -> None:
    if not all(math.isfinite(v) for v in (real, reserved)):
        return
    virtual = (real - reserved) + off
    if not math.isfinite(virtual):
        return
    expected = abs(exact(virtual) - (exact(real) - exact(reserved))) <= VIRTUAL_TOLERANCE
    assert virtual_is_real_minus_reserved(virtual, real, reserved) is expected


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(st.integers(), st.sampled_from([10**27 - 1, 10**27, 10**28, 10**30, -(10**29)])),
    st.one_of(st.integers(), st.sampled_from([0, 3, 10**27, 10**29])),
    st.integers(min_value=-2, max_value=2),
)
def test_the_virtual_stock_check_of_ints_decides_as_the_models_decimals(
    real: int, reserved: int, off: int
) -> None:
    # The model computes in Decimal's default 28 digits: past them it rounds, and refuses.
    virtual = real - reserved + off
    expected = abs(exact(virtual) - (exact(real) - exact(reserved))) <= VIRTUAL_TOLERANCE
    assert virtual_is_real_minus_reserved(virtual, real, reserved) is expected


@pytest.mark.parametrize(
    ("sent", "as_text"),
    [
        ("2026-03-01T10:00:00Z", True),
        ("2026-03-01 10:00:00.123456+00:00", True),
        ("2026-03-01T10:00:00", False),  # PostgreSQL would read it in its session time zone
        ("2026-03-01T10:00:00-00:00", False),
        ("2026-03-01T11:00:00+01:00", False),
        ("2026-03-01T10:00:00.1234567Z", False),  # pydantic's: truncated, PostgreSQL rounds
    ],
)
def test_only_times_postgresql_reads_as_the_same_instant_go_to_copy_as_sent(
    sent: str, as_text: bool
) -> None:
    [candidate] = validate_rows(ITEMS, [item(lastSyncedAt=sent)], Outcome(1))
    assert candidate.synced_for_copy() == (sent if as_text else candidate.row.last_synced_at)
    assert (candidate.synced_text is not None) is as_text
