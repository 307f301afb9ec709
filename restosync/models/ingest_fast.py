"""Fast twins of the pushed item and stock rows (issue 4): msgspec Structs.

`ItemRow` and `StockRow` (pydantic, models.ingest) define what a row is and give its field
errors; validating an item with them costs ≈ 11 µs, most of a push's Python. The twins
here (≈ 3 µs) take only the common case: JSON types as the field's own type (strings as
strings, numbers as numbers, booleans as booleans), an RFC 3339 `lastSyncedAt` of at most
six fractional digits, camelCase keys. What a twin takes, the pydantic model takes too and
makes the same values of, except that numbers stay as sent (an int or a float, whose text
in COPY is that of the model's Decimal: `exact`). What a twin refuses goes to the model,
whose answer (the row, or its errors) stands: so a twin may refuse more, never less
(tests/unit/test_ingest_fast.py compares them on generated rows).

Their fields are the models' fields, checked at import (names, defaults, required).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticUndefined

from restosync.models.ingest import (
    VIRTUAL_MISMATCH,
    ItemRow,
    RowModel,
    StockRow,
    as_utc,
    exact,
    virtual_matches,
)

# The timestamps a twin reads (any other form goes to pydantic): RFC 3339 with at most six
# fractional digits, which pydantic and msgspec read as the same instant (past six digits
# pydantic truncates, msgspec rounds).
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)
_MAX = sys.float_info.max  # a float bound refuses inf (and nan fails every comparison)

# The constraints of the types of models.ingest, in msgspec's terms.
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
OptionalKey = Annotated[str, msgspec.Meta(max_length=100)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Label = Annotated[str, msgspec.Meta(max_length=255)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
ShortText = Annotated[str, msgspec.Meta(max_length=50)]
ContentHash = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=400)]
Barcode = Annotated[str, msgspec.Meta(max_length=100)]
# pydantic's Rust regex reads `$` as the end of the text; Python's as before a final "\n".
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{3}\Z")]
DaysToShip = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
Amount = Annotated[int, msgspec.Meta(ge=0)] | Annotated[float, msgspec.Meta(ge=0, le=_MAX)]
SignedAmount = int | Annotated[float, msgspec.Meta(ge=-_MAX, le=_MAX)]


class FastRow(msgspec.Struct, kw_only=True, rename="camel"):
    """A row a twin took: the model's fields, numbers as sent, `lastSyncedAt` in UTC."""

    model: ClassVar[type[RowModel]]
    # Keys pydantic would also read (populate_by_name): a row using one goes to pydantic.
    snake_names: ClassVar[frozenset[str]]

    last_synced_at: datetime
    deleted: Literal[False] = False
    content_hash: ContentHash

    def __post_init__(self) -> None:
        self.last_synced_at = as_utc(self.last_synced_at)

    @classmethod
    def accept(cls, raw: Mapping[str, Any]) -> FastRow | None:
        """The row, if this twin takes it; None: validate it with `model`."""
        synced = raw.get("lastSyncedAt")
        if type(synced) is not str or not RFC3339.fullmatch(synced):
            return None
        if not cls.snake_names.isdisjoint(raw):
            return None
        try:
            return msgspec.convert(raw, cls)
        # An int past 64 bits (from Python, e.g. a replayed row) overflows a float here.
        except (msgspec.ValidationError, ArithmeticError):
            return None

    @classmethod
    def of_model(cls, row: BaseModel) -> FastRow:
        """A row the model validated (numbers as Decimals), as this type."""
        return cls(**{name: getattr(row, name) for name in cls.__struct_fields__})


class ItemFields(FastRow, kw_only=True, rename="camel"):
    """Twin of `ItemRow`."""

    model = ItemRow

    sku: Key
    name: Name
    description: str | None = None
    erp_id: OptionalKey | None = None
    slug: Slug | None = None
    barcode: Barcode | None = None
    erp_unit_code: Code
    erp_vat_code: Code
    erp_family_code: ShortText | None = None
    erp_subfamily_code: ShortText | None = None
    unit_price: Amount | None = None
    price_excl_vat: Amount | None = None
    price_incl_vat: Amount | None = None
    vat_amount: Amount | None = None
    catalog_price: Amount | None = None
    purchase_price: Amount | None = None
    minimum_order_quantity: Amount | None = None
    currency: Currency = "EUR"
    manage_stock: bool = True
    allow_negative_stock: bool = False
    stock_booking_allowed: bool = False
    automatic_stock_booking: bool = False
    tracking_mode: ShortText | None = None
    pick_movement_disallowed_on_totally_booked_item: bool = False
    weight: Amount | None = None
    weight_unit: ShortText | None = None
    height: Amount | None = None
    width: Amount | None = None
    length: Amount | None = None
    dimension_unit: ShortText | None = None
    items_per_package: Amount | None = None
    meta_title: str | None = None
    meta_description: str | None = None
    meta_keywords: str | None = None
    brand: Label | None = None
    days_to_ship: DaysToShip | None = None
    ship_price_ttc: Amount | None = None
    origin_country_code: ShortText | None = None
    is_active: bool = True
    publish_on_web: bool = True


class StockFields(FastRow, kw_only=True, rename="camel"):
    """Twin of `StockRow` (and of its virtualStock check)."""

    model = StockRow

    item_sku: Key
    erp_warehouse_id: Key
    real_stock: SignedAmount
    virtual_stock: SignedAmount
    reserved_quantity: Amount
    ordered_quantity: Amount = 0
    incoming_quantity: Amount = 0
    pump: Amount | None = None
    stock_value: SignedAmount | None = None
    min_stock: Amount | None = None
    max_stock: Amount | None = None
    stock_to_order_threshold: Amount | None = None
    last_synced_from: OptionalKey | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not virtual_is_real_minus_reserved(
            self.virtual_stock, self.real_stock, self.reserved_quantity
        ):
            raise ValueError(VIRTUAL_MISMATCH)


def virtual_is_real_minus_reserved(virtual: float, real: float, reserved: float) -> bool:
    """StockRow's check (within 0.001, on the Decimals of the numbers as sent), sped up.

    Between ints, "within 0.001" is "equal" (below 10**27, where the Decimals' 28 digits
    are exact too; past it, the model's rounding decides). With floats, the float
    difference is within `slack` of the Decimals' (each number is within half an ulp of
    its shortest repr, and two subtractions round): far from the tolerance it decides;
    near it, the Decimals do, as the model computes them. Decimals (a row `of_model`)
    take that path too.
    """
    if type(virtual) is int and type(real) is int and type(reserved) is int:
        if max(abs(virtual), abs(real), abs(reserved)) < _EXACT_INTS:
            return virtual == real - reserved
    elif type(virtual) is float or type(real) is float or type(reserved) is float:
        difference = abs(virtual - (real - reserved))
        slack = 16 * math.ulp(max(abs(virtual), abs(real), abs(reserved)))
        if difference + slack < _TOLERANCE_BELOW:
            return True
        if difference - slack > _TOLERANCE_ABOVE:
            return False
    return virtual_matches(exact(virtual), exact(real), exact(reserved))


_EXACT_INTS = 10**27
# Margins around the tolerance (0.001) within which the floats do not decide.
_TOLERANCE_BELOW = 0.0009
_TOLERANCE_ABOVE = 0.0011


TWINS: dict[type[RowModel], type[FastRow]] = {ItemRow: ItemFields, StockRow: StockFields}


def _check(twin: type[FastRow]) -> None:
    """The twin has the model's fields, defaults and required fields."""
    fields = twin.model.model_fields
    info = msgspec.structs.fields(twin)
    if {f.name for f in info} != set(fields):
        raise RuntimeError(f"{twin.__name__} no longer has the fields of {twin.model.__name__}")
    for f in info:
        model_default = fields[f.name].default
        default = None if f.default is msgspec.NODEFAULT else f.default
        if (model_default is PydanticUndefined) != (f.required) or (
            not f.required and default != model_default
        ):
            raise RuntimeError(f"{twin.__name__}.{f.name}: not the default of the model")
        if f.encode_name != to_camel(f.name):
            raise RuntimeError(f"{twin.__name__}.{f.name}: not the model's camelCase key")
    twin.snake_names = frozenset(f.name for f in info if f.name != f.encode_name)


for _twin in TWINS.values():
    _check(_twin)
