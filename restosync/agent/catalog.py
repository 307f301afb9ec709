"""The simulated ERP's master data: warehouses, items and stock, as the agent sends them.

Rows are kept exactly as they go on the wire (camelCase, SPEC §4.2), each with its
`contentHash` (SHA-256 of the row's content, `lastSyncedAt` and the hash itself left out)
and the `lastSyncedAt` of its last change in the ERP. Keys follow the agent contract
(SPEC §5.3): an item's is its `sku`, a stock row's `itemSku|erpWarehouseId`, a
warehouse's its `erpWarehouseId`. Ranges and checksums compare keys byte-wise, as
PostgreSQL's `COLLATE "C"` does.

Drift can be injected (`change_item`, `remove_item`, `add_item`, `set_stock`, …): the ERP
changes without pushing, which is what reconciliation has to find.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

Row = dict[str, Any]
CatalogEntity = Literal["items", "stock", "warehouses"]
# Codes the simulated catalog uses; the service needs a mapping for each (see `MAPPINGS`).
MAPPINGS: tuple[tuple[str, str, str, str, float | None], ...] = (
    ("unit", "PCE", "U", "Unit", None),
    ("unit", "KG", "KGM", "Kilogram", None),
    ("vat", "TVA20", "V20", "Standard VAT", 20.0),
    ("vat", "TVA55", "V55", "Reduced VAT", 5.5),
    ("family", "FRESH", "F1", "Fresh products", None),
    ("family", "DRY", "F2", "Dry goods", None),
    ("subfamily", "VEG", "SF1", "Vegetables", None),
    ("subfamily", "PASTA", "SF2", "Pasta and rice", None),
)
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_NOT_CONTENT = frozenset({"contentHash", "lastSyncedAt"})


def content_hash(row: Row) -> str:
    """Lowercase hex SHA-256 of the row's content (sorted-key JSON, hash and sync time left out)."""
    content = {k: v for k, v in row.items() if k not in _NOT_CONTENT}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def range_checksum(pairs: Iterable[tuple[str, str]]) -> str:
    """SPEC §5.3: SHA-256 of `key:contentHash` per row in byte-wise key order, joined by `|`."""
    ordered = sorted(pairs, key=lambda pair: pair[0].encode())
    joined = "|".join(f"{key}:{digest}" for key, digest in ordered)
    return hashlib.sha256(joined.encode()).hexdigest()


def in_range(key: str, start: str | None, end: str | None) -> bool:
    """Whether `key` lies in the inclusive byte-wise range [start, end] (None: unbounded)."""
    raw = key.encode()
    return (start is None or raw >= start.encode()) and (end is None or raw <= end.encode())


def stock_key(item_sku: str, erp_warehouse_id: str) -> str:
    """The wire key of a stock row."""
    return f"{item_sku}|{erp_warehouse_id}"


class Catalog:
    """One vendor's master data in the ERP, with a clock that moves on every change."""

    def __init__(self) -> None:
        self.warehouses: dict[str, Row] = {}
        self.items: dict[str, Row] = {}
        self.stock: dict[str, Row] = {}
        self._ticks = 0

    # --- building -----------------------------------------------------------------

    @classmethod
    def generate(
        cls, items: int, warehouses: int = 3, *, seed: int = 0, stocked_share: float = 1.0
    ) -> Catalog:
        """A realistic catalog: `items` items (all §4.2 fields), stock in every warehouse.

        `stocked_share` of the items have a stock row in each warehouse.
        """
        rng = random.Random(seed)  # noqa: S311 (simulated data, not secrets)
        catalog = cls()
        for w in range(warehouses):
            catalog.put_warehouse(_warehouse(w))
        erp_ids = list(catalog.warehouses)
        for i in range(items):
            sku = f"SKU-{i:07d}"
            catalog.put_item(_item(sku, i, rng))
            if rng.random() < stocked_share:
                for erp_id in erp_ids:
                    catalog.put_stock(_stock(sku, erp_id, rng))
        return catalog

    def put_warehouse(self, row: Row) -> Row:
        """Create or replace a warehouse (hashed, stamped now)."""
        return self._put(self.warehouses, row["erpWarehouseId"], row)

    def put_item(self, row: Row) -> Row:
        """Create or replace an item (hashed, stamped now)."""
        return self._put(self.items, row["sku"], row)

    def put_stock(self, row: Row) -> Row:
        """Create or replace a stock row (hashed, stamped now); virtual = real - reserved."""
        virtual = _decimal(row["realStock"]) - _decimal(row["reservedQuantity"])
        row = {**row, "virtualStock": virtual}
        return self._put(self.stock, stock_key(row["itemSku"], row["erpWarehouseId"]), row)

    # --- drift: the ERP changes behind the service's back ----------------------------

    def change_item(self, sku: str, **fields: Any) -> Row:
        """Change an item's fields (a new hash and sync time)."""
        return self.put_item({**self._content(self.items[sku]), **fields})

    def remove_item(self, sku: str) -> None:
        """Delete an item and its stock rows from the ERP."""
        del self.items[sku]
        for key in [k for k, row in self.stock.items() if row["itemSku"] == sku]:
            del self.stock[key]

    def add_item(self, sku: str, seed: int = 0) -> Row:
        """A new item, with stock in every warehouse."""
        rng = random.Random(seed)  # noqa: S311 (simulated data, not secrets)
        row = self.put_item(_item(sku, seed, rng))
        for erp_id in self.warehouses:
            self.put_stock(_stock(sku, erp_id, rng))
        return row

    def set_stock(self, key: str, real: float, reserved: float = 0) -> Row:
        """Change a stock row's quantities."""
        row = {**self._content(self.stock[key]), "realStock": real, "reservedQuantity": reserved}
        return self.put_stock(row)

    def remove_stock(self, key: str) -> None:
        """Delete one stock row from the ERP."""
        del self.stock[key]

    # --- reading, as the agent contract asks -------------------------------------------

    def rows(self, entity: CatalogEntity) -> list[Row]:
        """Every row of an entity in byte-wise key order."""
        table = self._table(entity)
        return [table[key] for key in sorted(table, key=str.encode)]

    def manifest(
        self, entity: CatalogEntity, start: str | None = None, end: str | None = None
    ) -> list[dict[str, str]]:
        """`[{key, contentHash}]` of the rows in [start, end], in byte-wise key order."""
        table = self._table(entity)
        keys = sorted((k for k in table if in_range(k, start, end)), key=str.encode)
        return [{"key": key, "contentHash": table[key]["contentHash"]} for key in keys]

    def checksum(
        self, entity: CatalogEntity, start: str | None = None, end: str | None = None
    ) -> tuple[str, int]:
        """(checksum, count) of the rows in [start, end] (SPEC §5.3)."""
        manifest = self.manifest(entity, start, end)
        return range_checksum((m["key"], m["contentHash"]) for m in manifest), len(manifest)

    def fetch(self, entity: CatalogEntity, keys: Iterable[str]) -> list[Row]:
        """The rows of these keys that exist (unknown keys are left out)."""
        table = self._table(entity)
        return [table[key] for key in keys if key in table]

    def pages(self, entity: CatalogEntity, size: int) -> Iterator[list[Row]]:
        """The entity's rows in key order, `size` at a time."""
        rows = self.rows(entity)
        for start in range(0, len(rows), size):
            yield rows[start : start + size]

    # --- internals -----------------------------------------------------------------

    def _table(self, entity: CatalogEntity) -> dict[str, Row]:
        return {"items": self.items, "stock": self.stock, "warehouses": self.warehouses}[entity]

    def _put(self, table: dict[str, Row], key: str, row: Row) -> Row:
        self._ticks += 1
        content = self._content(row)
        stamped = {
            **content,
            "contentHash": content_hash(content),
            "lastSyncedAt": (_EPOCH + timedelta(seconds=self._ticks)).isoformat(),
        }
        table[key] = stamped
        return stamped

    @staticmethod
    def _content(row: Row) -> Row:
        return {k: v for k, v in row.items() if k not in _NOT_CONTENT}


def _decimal(value: Any) -> float:
    return round(float(value), 3)


def _warehouse(n: int) -> Row:
    return {
        "erpWarehouseId": f"WH-{n:02d}",
        "name": f"Entrepôt {n:02d}",
        "code": f"W{n:02d}",
        "address": f"{10 + n} rue du Marché",
        "city": "Rungis",
        "postalCode": "94150",
        "country": "FR",
        "latitude": 48.75 + n / 100,
        "longitude": 2.35 + n / 100,
        "isActive": True,
        "isMain": n == 0,
        "type": 0,
        "multiLocationEnabled": False,
    }


def _item(sku: str, n: int, rng: random.Random) -> Row:
    fresh = n % 2 == 0
    price = round(rng.uniform(0.5, 80), 2)
    vat = 20.0 if fresh else 5.5
    return {
        "sku": sku,
        "name": f"{'Tomates cerises' if fresh else 'Penne rigate'} {n} — lot {rng.randint(1, 999)}",
        "description": "Qualité restauration, traçabilité lot par lot.",
        "erpId": f"ERP-{n:07d}",
        "barcode": f"{3_000_000_000_000 + n:013d}",
        "erpUnitCode": "KG" if fresh else "PCE",
        "erpVatCode": "TVA20" if fresh else "TVA55",
        "erpFamilyCode": "FRESH" if fresh else "DRY",
        "erpSubfamilyCode": "VEG" if fresh else "PASTA",
        "unitPrice": price,
        "priceExclVat": price,
        "priceInclVat": round(price * (1 + vat / 100), 2),
        "vatAmount": round(price * vat / 100, 2),
        "catalogPrice": round(price * 1.1, 2),
        "purchasePrice": round(price * 0.7, 2),
        "minimumOrderQuantity": 1,
        "currency": "EUR",
        "manageStock": True,
        "allowNegativeStock": False,
        "stockBookingAllowed": True,
        "automaticStockBooking": False,
        "trackingMode": "lot",
        "pickMovementDisallowedOnTotallyBookedItem": False,
        "weight": round(rng.uniform(0.1, 25), 3),
        "weightUnit": "kg",
        "height": 20,
        "width": 30,
        "length": 40,
        "dimensionUnit": "cm",
        "itemsPerPackage": 6,
        "metaTitle": f"Acheter {sku} en gros",
        "metaDescription": "Grossiste pour restaurants.",
        "metaKeywords": "grossiste,restaurant,chr",
        "brand": "Maison Dupont",
        "daysToShip": rng.randint(1, 5),
        "shipPriceTtc": 9.9,
        "originCountryCode": "FR",
        "isActive": True,
        "publishOnWeb": True,
    }


def _stock(sku: str, erp_warehouse_id: str, rng: random.Random) -> Row:
    real = rng.randint(0, 500)
    return {
        "itemSku": sku,
        "erpWarehouseId": erp_warehouse_id,
        "realStock": real,
        "reservedQuantity": rng.randint(0, real // 4) if real else 0,
        "orderedQuantity": rng.randint(0, 50),
        "incomingQuantity": rng.randint(0, 50),
        "pump": round(rng.uniform(0.5, 50), 2),
        "stockValue": round(real * rng.uniform(0.5, 50), 2),
        "minStock": 10,
        "maxStock": 1000,
        "stockToOrderThreshold": 20,
        "lastSyncedFrom": "simulated-erp",
    }
