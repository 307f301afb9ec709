"""Query-plan regression: ingest's lookups probe the unique indexes, statistics or not.

The test database is fresh from the template and never analyzed (the test server runs
with autovacuum off), as a vendor's tables are right after a first bulk load. With
`sku = ANY(keys)` the planner then filtered all the vendor's rows, and hash-joined all
its items and stock (docs/PERFORMANCE.md, "Ingest").
"""

from __future__ import annotations

from typing import Any, LiteralString

import psycopg
from psycopg.rows import DictRow

from restosync.db.queries import QUERIES

VENDOR = "plan-vendor"
ROWS = 20_000
KEYS = 500
UNIQUE_INDEXES = {
    "items": "uq_items_vendor_id_sku",
    "warehouses": "uq_warehouses_vendor_id_erp_warehouse_id",
    "stock": "uq_stock_vendor_id_warehouse_id_item_id",
}


async def _load(db: psycopg.AsyncConnection[DictRow]) -> None:
    await db.execute(
        """
        INSERT INTO warehouses (vendor_id, erp_warehouse_id, code, name, content_hash,
                                last_synced_at)
        SELECT %(vendor)s, 'WH-' || n, 'C' || n, 'Warehouse ' || n, 'h', now()
        FROM generate_series(0, 2) AS n
        """,
        {"vendor": VENDOR},
    )
    await db.execute(
        """
        INSERT INTO items (vendor_id, sku, name, slug, erp_unit_code, erp_vat_code, unit_code,
                           vat_code, vat_rate, content_hash, last_synced_at)
        SELECT %(vendor)s, 'SKU-' || n, 'Item ' || n, 'item-' || n, 'U', 'V', 'U', 'V', 20,
               'h', now()
        FROM generate_series(1, %(rows)s) AS n
        """,
        {"vendor": VENDOR, "rows": ROWS},
    )
    await db.execute(
        """
        INSERT INTO stock (vendor_id, warehouse_id, item_id, real_stock, virtual_stock,
                           reserved_quantity, content_hash, last_synced_at)
        SELECT %(vendor)s, w.id, i.id, 1, 1, 0, 'h', now()
        FROM items AS i CROSS JOIN warehouses AS w
        WHERE i.vendor_id = %(vendor)s AND w.vendor_id = %(vendor)s
        """,
        {"vendor": VENDOR},
    )


async def _scans(
    db: psycopg.AsyncConnection[DictRow], query: LiteralString, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every plan node that reads one of the ingest tables."""
    cur = await db.execute("EXPLAIN (FORMAT JSON) " + QUERIES[query], params)
    row = await cur.fetchone()
    assert row is not None
    nodes: list[dict[str, Any]] = []
    pending = [row["QUERY PLAN"][0]["Plan"]]
    while pending:
        node = pending.pop()
        pending.extend(node.get("Plans", []))
        if node.get("Relation Name") in UNIQUE_INDEXES:
            nodes.append(node)
    return nodes


def _summary(scans: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(s["Relation Name"], s["Node Type"], s.get("Index Name")) for s in scans]


def _probes_unique_index(node: dict[str, Any]) -> bool:
    return node["Node Type"] in {"Index Scan", "Index Only Scan"} and (
        node.get("Index Name") == UNIQUE_INDEXES[node["Relation Name"]]
    )


async def test_stored_items_probes_the_unique_index_without_statistics(
    db: psycopg.AsyncConnection[DictRow],
) -> None:
    await _load(db)
    keys = [f"SKU-{n}" for n in range(1, KEYS + 1)]
    scans = await _scans(db, "stored_items", {"vendor_id": VENDOR, "keys": keys})
    assert [s["Relation Name"] for s in scans] == ["items"]
    assert all(_probes_unique_index(s) for s in scans), _summary(scans)


async def test_stored_stock_probes_the_unique_indexes_without_statistics(
    db: psycopg.AsyncConnection[DictRow],
) -> None:
    await _load(db)
    params = {
        "vendor_id": VENDOR,
        "item_skus": [f"SKU-{n}" for n in range(1, KEYS + 1)],
        "erp_warehouse_ids": [f"WH-{n % 3}" for n in range(1, KEYS + 1)],
    }
    scans = await _scans(db, "stored_stock", params)
    assert sorted(s["Relation Name"] for s in scans) == ["items", "stock", "warehouses"]
    # A vendor's few warehouses may be read whole (here: a one-page table); the large
    # tables must be probed per key.
    large = [s for s in scans if s["Relation Name"] != "warehouses"]
    assert all(_probes_unique_index(s) for s in large), _summary(scans)


async def test_stored_stock_probes_each_item_and_warehouse_once(
    db: psycopg.AsyncConnection[DictRow],
) -> None:
    await _load(db)
    # Three warehouses per item, as an agent sends them: 3 x 100 keys, 100 items.
    skus = [f"SKU-{n}" for n in range(1, 101) for _ in range(3)]
    params = {
        "vendor_id": VENDOR,
        "item_skus": skus,
        "erp_warehouse_ids": [f"WH-{n}" for _ in range(1, 101) for n in range(3)],
    }
    cur = await db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + QUERIES["stored_stock"], params)
    row = await cur.fetchone()
    assert row is not None
    loops: dict[str, int] = {}
    pending = [row["QUERY PLAN"][0]["Plan"]]
    while pending:
        node = pending.pop()
        pending.extend(node.get("Plans", []))
        if (name := node.get("Relation Name")) in UNIQUE_INDEXES:
            loops[name] = loops.get(name, 0) + node["Actual Loops"]
    assert loops == {"items": 100, "warehouses": 3, "stock": 300}
    found = await db.execute(QUERIES["stored_stock"], params)
    rows = await found.fetchall()
    assert sorted((r["item_sku"], r["erp_warehouse_id"]) for r in rows) == sorted(
        zip(skus, params["erp_warehouse_ids"], strict=True)
    )
    assert all(r["item_id"] and r["warehouse_id"] and r["content_hash"] == "h" for r in rows)


async def test_stored_warehouses_probes_the_unique_index_without_statistics(
    db: psycopg.AsyncConnection[DictRow],
) -> None:
    await _load(db)
    scans = await _scans(db, "stored_warehouses", {"vendor_id": VENDOR, "keys": ["WH-1"]})
    assert [s["Relation Name"] for s in scans] == ["warehouses"]
    # Either unique index starts with vendor_id: on a table this small both cost the same.
    assert all(s["Node Type"] in {"Index Scan", "Index Only Scan"} for s in scans), _summary(scans)
