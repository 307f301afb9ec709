"""JSON numbers of pushed rows are stored exactly as sent (issue 4: no Decimal on the way)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.agents import enrol
from tests.ingest import Conn, item, push, rows_of, seed_mappings

VENDOR = "vendor-numbers"
SENT: list[tuple[Any, str]] = [
    (4.2, "4.2"),
    (1e30, "1" + "0" * 30),
    (1e-30, "0." + "0" * 29 + "1"),
    (-0.0, "0.0"),
    (2**53 + 1, "9007199254740993"),
    ("4.20", "4.20"),
    ("1e3", "1000"),
    (0.1 + 0.2, "0.30000000000000004"),
]


async def test_json_numbers_are_stored_as_sent(client: TestClient[Any, Any], db: Conn) -> None:
    await enrol(client, VENDOR)
    await seed_mappings(db, VENDOR)
    rows = [item(f"SKU-{n}", unitPrice=value, weight=value) for n, (value, _) in enumerate(SENT)]
    answer = await push(client, VENDOR, "items", rows)
    assert answer["processed"] == len(SENT)
    stored = await rows_of(
        db,
        "SELECT unit_price::text AS price, weight::text AS weight FROM items "
        "WHERE vendor_id = %s ORDER BY sku",
        VENDOR,
    )
    assert [(r["price"], r["weight"]) for r in stored] == [(text, text) for _, text in SENT]
