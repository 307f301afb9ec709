"""Order totals, computed server-side with Decimal (SPEC §3.2).

Per line: gross = quantity * unitPrice; lineSubtotal = gross * (100 - discountRate) / 100,
rounded to the cent; lineVat = lineSubtotal * vatRate / 100, rounded to the cent;
lineTotal = lineSubtotal + lineVat. Rounding is half-up (0.005 → 0.01), once per line.
The order's subtotal, VAT total and total are the sums of its lines, so they always add
up exactly. A line without vatRate takes its item's rate, one without unitCode its unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from restosync.db.orders import CatalogItem
from restosync.models.orders import OrderLine, OrderLineIn

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
# Quantities and prices have up to 15 digits each: their product needs 30, more than the
# default context's 28.
_PRECISION = 60


@dataclass(frozen=True)
class OrderTotals:
    """Sums over an order's lines."""

    subtotal: Decimal
    vat_total: Decimal
    total: Decimal


def round_money(value: Decimal) -> Decimal:
    """Half-up to 2 decimals."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def price_line(number: int, line: OrderLineIn, item: CatalogItem) -> OrderLine:
    """One priced line; `number` is its 1-based position."""
    vat_rate = line.vat_rate if line.vat_rate is not None else item.vat_rate
    discount_rate = line.discount_rate if line.discount_rate is not None else Decimal(0)
    with localcontext(prec=_PRECISION):
        gross = line.quantity * line.unit_price
        subtotal = round_money(gross * (HUNDRED - discount_rate) / HUNDRED)
        vat = round_money(subtotal * vat_rate / HUNDRED)
    return OrderLine(
        line_number=number,
        sku=line.sku,
        description=line.description,
        quantity=line.quantity,
        unit_price=line.unit_price,
        vat_rate=vat_rate,
        discount_rate=discount_rate,
        unit_code=line.unit_code if line.unit_code is not None else item.unit_code,
        line_subtotal=subtotal,
        line_vat=vat,
        line_total=subtotal + vat,
    )


def price_lines(
    lines: Sequence[OrderLineIn], catalog: Mapping[str, CatalogItem]
) -> list[OrderLine]:
    """Every line priced; each SKU must be in `catalog`."""
    return [price_line(number, line, catalog[line.sku]) for number, line in enumerate(lines, 1)]


def order_totals(lines: Sequence[OrderLine]) -> OrderTotals:
    """The order's sums (exact: each line is already rounded)."""
    subtotal = sum((line.line_subtotal for line in lines), Decimal(0))
    vat_total = sum((line.line_vat for line in lines), Decimal(0))
    return OrderTotals(subtotal=subtotal, vat_total=vat_total, total=subtotal + vat_total)
