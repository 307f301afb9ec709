"""Hand-written hostile input that fuzzing from the OpenAPI document does not produce:
NUL characters, deep JSON, invalid UTF-8, wrong content types, header injection and SQL
metacharacters. Each is a clear 4xx problem (or stored verbatim) and a refusal writes
nothing."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.agents import ADMIN, enrol
from tests.ingest import JSON, item, push, rows_of, seed_mappings, token_of
from tests.orders import Conn, add_items, order_body

VENDOR = "v-hostile"
SQL_METACHARACTERS = "x'); DROP TABLE items; -- \\ % _ $1 \" ; /* */"


async def _counts(db: Conn) -> dict[str, int]:
    rows = await rows_of(
        db,
        "SELECT (SELECT count(*) FROM erp_code_mappings) AS mappings, "
        "(SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM items) AS items, "
        "(SELECT count(*) FROM audit_log) AS audits",
    )
    return dict(rows[0])


def _mapping(code: str) -> dict[str, Any]:
    return {
        "vendorId": VENDOR,
        "mappingType": "unit",
        "erpCode": code,
        "restoCode": "U",
        "restoLabel": "Unit",
    }


async def test_nul_characters_are_refused_in_bodies_and_query_strings(
    client: TestClient[Any, Any], db: Conn
) -> None:
    before = await _counts(db)
    body = orjson.dumps(_mapping("PCE\u0000"))
    response = await client.post(
        "/api/admin/mappings", data=io.BytesIO(body), headers={**ADMIN, **JSON}
    )
    problem = await response.json()
    assert response.status == 422, problem
    assert problem["errors"] == [
        {"loc": ["erpCode"], "msg": "must not contain NUL characters (\\u0000)"}
    ]

    response = await client.get("/api/admin/dlq", params={"vendorId": "v\u0000"}, headers=ADMIN)
    problem = await response.json()
    assert response.status == 422, problem
    assert problem["errors"][0]["loc"] == ["query", "vendorId"]
    assert await _counts(db) == before


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"[" * 5000 + b"]" * 5000, 400),  # deeper than any parser should follow
        (b'{"vendorId": "\xff\xfe"}', 400),  # not UTF-8
        (b'{"vendorId": "a"', 400),  # truncated
        (b"[]", 400),  # not an object
    ],
    ids=["deep", "invalid-utf8", "truncated", "array"],
)
async def test_malformed_bodies_are_400_problems(
    client: TestClient[Any, Any], db: Conn, raw: bytes, status: int
) -> None:
    before = await _counts(db)
    response = await client.post(
        "/api/admin/mappings", data=io.BytesIO(raw), headers={**ADMIN, **JSON}
    )
    assert response.status == status
    assert response.content_type == "application/problem+json"
    assert await _counts(db) == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_wrong_content_types_are_415(
    client: TestClient[Any, Any], db: Conn, content_type: str
) -> None:
    before = await _counts(db)
    response = await client.post(
        "/api/orders",
        data=orjson.dumps(order_body(VENDOR)),
        headers={**ADMIN, "Content-Type": content_type},
    )
    assert response.status == 415
    assert (await response.json())["code"] == "unsupported_media_type"
    assert await _counts(db) == before


async def test_a_correlation_id_cannot_inject_headers_or_log_lines(
    client: TestClient[Any, Any],
) -> None:
    hostile = "abc\tdef<script>" + "x" * 500
    response = await client.get("/health/live", headers={"X-Correlation-ID": hostile})
    echoed = response.headers["X-Correlation-ID"]
    assert echoed != hostile
    assert "\t" not in echoed
    assert "<" not in echoed
    assert len(echoed) <= 128


async def test_sql_metacharacters_are_data_in_every_string_field(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await enrol(client, VENDOR, token_of(VENDOR))
    await seed_mappings(db, VENDOR)
    row = item("SKU-'1", name=SQL_METACHARACTERS, description=SQL_METACHARACTERS)
    answer = await push(client, VENDOR, "items", [row])
    assert answer["processed"] == 1, answer
    [stored] = await rows_of(db, "SELECT sku, name, description FROM items")
    assert stored == {
        "sku": "SKU-'1",
        "name": SQL_METACHARACTERS,
        "description": SQL_METACHARACTERS,
    }

    await add_items(db, VENDOR, ["SKU-2"])
    body = order_body(VENDOR, ["SKU-2"], customerNotes=SQL_METACHARACTERS)
    response = await client.post("/api/orders", json=body, headers=ADMIN)
    assert response.status == 201, await response.text()
    [order] = await rows_of(db, "SELECT customer_notes FROM orders")
    assert order["customer_notes"] == SQL_METACHARACTERS

    response = await client.get(
        "/api/admin/mappings", params={"vendorId": SQL_METACHARACTERS}, headers=ADMIN
    )
    assert response.status == 200
    assert (await response.json())["data"] == []
