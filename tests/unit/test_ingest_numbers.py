"""Numbers of pushed rows as sent (issue 4): the fast twins give the exact models' values."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from psycopg.adapt import PyFormat
from psycopg.postgres import adapters
from pydantic import ValidationError

from restosync.models.ingest import ItemRow, StockRow, exact
from restosync.models.ingest_fast import ItemFields, StockFields
from restosync.services.ingest.pipeline import ITEMS, STOCK, Outcome, validate_rows
from tests.unit.test_ingest_rows import item, stock

BOUNDARIES: list[Any] = [
    0,
    -0,
    0.0,
    -0.0,
    1e-30,
    1e30,
    4.2,
    0.1 + 0.2,
    10**40,
    2**53 + 1,
    1.0,
    123456.789,
]
# Strings: the twins refuse them; the exact model reads them (the scale is kept).
STRINGS: list[str] = ["1e3", "4.20", " 4.2 ", "4", "-0", "0.12345678901234567890123", "1E-30"]
REFUSED: list[tuple[Any, str]] = [
    (float("nan"), "Input should be a finite number"),
    (float("inf"), "Input should be a finite number"),
    (float("-inf"), "Input should be a finite number"),
    ("NaN", "Input should be a finite number"),
    (-1, "Input should be greater than or equal to 0"),
    (-1e-30, "Input should be greater than or equal to 0"),
    (True, "Decimal input should be an integer, float, string or Decimal object"),
    (False, "Decimal input should be an integer, float, string or Decimal object"),
    ("abc", "Input should be a valid decimal"),
]


def _copied_text(value: Any) -> bytes:
    """What psycopg writes for the value in a text COPY."""
    dumper = adapters.get_dumper(type(value), PyFormat.TEXT)(type(value))
    return bytes(dumper.upgrade(value, PyFormat.TEXT).dump(value) or b"")


@pytest.mark.parametrize("value", BOUNDARIES)
def test_a_number_as_sent_is_the_exact_models_decimal(value: Any) -> None:
    twin = ItemFields.accept(item(unitPrice=value))
    assert isinstance(twin, ItemFields)
    fast = twin.unit_price
    slow = ItemRow.model_validate(item(unitPrice=value)).unit_price
    assert fast is not None
    assert slow is not None
    assert exact(fast).as_tuple() == slow.as_tuple()  # same digits and exponent
    # PostgreSQL parses the COPY text into the same numeric (value and scale).
    assert (
        Decimal(_copied_text(fast).decode()).as_tuple()
        == Decimal(_copied_text(slow).decode()).as_tuple()
    )


def test_random_floats_as_sent_are_the_exact_models_decimals() -> None:
    rng = random.Random(4)
    values = [
        round(rng.uniform(0, 10 ** rng.randint(0, 12)), rng.randint(0, 6)) for _ in range(500)
    ]
    rows = [item(f"S{i}", unitPrice=v, weight=v) for i, v in enumerate(values)]
    fast = [twin for r in rows if isinstance(twin := ItemFields.accept(r), ItemFields)]
    assert len(fast) == len(rows)
    slow = [ItemRow.model_validate(r) for r in rows]
    assert [exact(f.unit_price).as_tuple() for f in fast if f.unit_price is not None] == [
        s.unit_price.as_tuple() for s in slow if s.unit_price is not None
    ]


@pytest.mark.parametrize("value", STRINGS)
def test_numbers_sent_as_strings_are_the_exact_models_decimals(value: str) -> None:
    slow = ItemRow.model_validate(item(unitPrice=value)).unit_price
    assert ItemFields.accept(item(unitPrice=value)) is None
    assert slow is not None
    outcome = Outcome(2)
    valid = validate_rows(ITEMS, [item("A", unitPrice=1.5), item("B", unitPrice=value)], outcome)
    prices = [c.row.unit_price for c in valid if isinstance(c.row, ItemFields)]
    assert [exact(p).as_tuple() for p in prices if p is not None] == [
        Decimal("1.5").as_tuple(),
        slow.as_tuple(),
    ]


@pytest.mark.parametrize(("value", "msg"), REFUSED)
def test_refused_numbers_fail_the_row_with_the_exact_models_error(value: Any, msg: str) -> None:
    outcome = Outcome(2)
    valid = validate_rows(ITEMS, [item("A", unitPrice=1.5), item("B", unitPrice=value)], outcome)
    assert [c.key for c in valid] == ["A"]
    failed = outcome.results[1]
    assert failed is not None
    assert (failed.identifier, failed.status, failed.reason) == ("B", "failed", "invalid")
    assert [(e.loc, e.msg) for e in failed.errors or []] == [(["unitPrice"], msg)]


@pytest.mark.parametrize(
    ("real", "reserved", "virtual"),
    [
        (0.0, 0.028, -0.029),  # 0.001 apart as decimals, a little more as floats
        (1.001, 0, 1.0),
        (0.3, 0.1, 0.199),
        (10, 3, 7.0005),
        (10, 3, 7.002),
        (10, 3, 8),
        (-2, 0, -2),
        (2**53 + 1, 0, 2**53),
        (10.5, 3, 7.4995),
    ],
)
def test_virtual_stock_check_is_the_exact_one(real: Any, reserved: Any, virtual: Any) -> None:
    row = stock(realStock=real, reservedQuantity=reserved, virtualStock=virtual)

    try:
        StockRow.model_validate(row)
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert (StockFields.accept(row) is not None) is accepted
    outcome = Outcome(1)
    assert bool(validate_rows(STOCK, [row], outcome)) is accepted
