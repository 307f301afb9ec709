"""Order totals with Decimal, half-up per line; the idempotency fingerprint; order numbers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from restosync.db.orders import CatalogItem
from restosync.models.orders import CreateOrder, OrderLineIn
from restosync.services.order_totals import order_totals, price_line, price_lines, round_money
from restosync.services.orders import new_order_number, request_fingerprint

ITEM = CatalogItem(sku="A", id=uuid.uuid4(), vat_rate=Decimal("20"), unit_code="KG")


def _line(**fields: object) -> OrderLineIn:
    return OrderLineIn.model_validate({"sku": "A", "quantity": 1, "unitPrice": 1, **fields})


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("0.005", "0.01"),
        ("0.004999", "0.00"),
        ("2.675", "2.68"),  # 2.675 is not representable as a float; as a Decimal it is exact
        ("1.125", "1.13"),
        ("1.135", "1.14"),
    ],
)
def test_money_is_rounded_half_up_to_the_cent(value: str, rounded: str) -> None:
    assert round_money(Decimal(value)) == Decimal(rounded)


def test_a_line_is_discounted_then_taxed_each_rounded_once() -> None:
    line = price_line(1, _line(quantity="3", unitPrice="9.99", discountRate="10"), ITEM)
    # 29.97 * 0.9 = 26.973 -> 26.97; 26.97 * 20 % = 5.394 -> 5.39.
    assert (line.line_subtotal, line.line_vat, line.line_total) == (
        Decimal("26.97"),
        Decimal("5.39"),
        Decimal("32.36"),
    )
    assert (line.vat_rate, line.discount_rate, line.unit_code) == (
        Decimal("20"),
        Decimal("10"),
        "KG",
    )


def test_the_lines_own_rates_and_unit_win_over_the_items() -> None:
    line = price_line(1, _line(unitPrice="100", vatRate="5.5", unitCode="BOX"), ITEM)
    assert (line.line_vat, line.vat_rate, line.unit_code) == (
        Decimal("5.50"),
        Decimal("5.5"),
        "BOX",
    )
    free = price_line(1, _line(unitPrice="100", vatRate="0", discountRate="100"), ITEM)
    assert (free.line_subtotal, free.line_vat, free.line_total) == (Decimal(0),) * 3


def test_large_amounts_keep_every_digit() -> None:
    quantity, price = "99999999999.9999", "12345678901.2345"
    line = price_line(1, _line(quantity=quantity, unitPrice=price), ITEM)
    # The exact product in integers (10^-8 units), rounded half-up to the cent.
    exact = int(quantity.replace(".", "")) * int(price.replace(".", ""))
    cents = (exact + 500_000) // 1_000_000
    assert line.line_subtotal == Decimal(cents).scaleb(-2)


def test_order_totals_are_the_sums_of_rounded_lines() -> None:
    lines = price_lines([_line(unitPrice="0.333", quantity=1)] * 3, {"A": ITEM})
    assert [line.line_number for line in lines] == [1, 2, 3]
    totals = order_totals(lines)
    # Each line: 0.33 + 0.07 VAT; the order is the sum of the lines, not 0.999 rounded.
    assert (totals.subtotal, totals.vat_total, totals.total) == (
        Decimal("0.99"),
        Decimal("0.21"),
        Decimal("1.20"),
    )


def test_float_artefacts_are_refused_rather_than_rounded() -> None:
    with pytest.raises(ValueError, match="digits"):
        _line(unitPrice=0.1 + 0.2)


def _order(**fields: object) -> CreateOrder:
    body = {"vendorId": "v", "items": [{"sku": "A", "quantity": 2, "unitPrice": "10"}]}
    return CreateOrder.model_validate({**body, **fields})


def test_the_fingerprint_ignores_formatting_but_not_content() -> None:
    same = _order(items=[{"unitPrice": 10.0, "sku": "A", "quantity": "2.00"}], customerId=None)
    assert request_fingerprint(_order()) == request_fingerprint(same)
    assert request_fingerprint(_order()) != request_fingerprint(_order(customerId="c"))
    assert len(request_fingerprint(_order())) == 64


def test_generated_order_numbers_carry_the_day_and_64_random_bits() -> None:
    number = new_order_number(datetime(2026, 3, 1, tzinfo=UTC))
    assert number.startswith("RS-20260301-")
    assert len(number.rsplit("-", 1)[1]) == 16
    assert new_order_number() != new_order_number()
