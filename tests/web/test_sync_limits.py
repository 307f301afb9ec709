"""Ingest request limits and malformed pushes: 413, 400, 415, 422, 403 (SPEC §3.1, §4.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from restosync.settings import Settings
from tests.agents import agent_headers, enrol
from tests.ingest import (
    Conn,
    item,
    rows_of,
    seed_mappings,
    token_of,
)

VENDOR = "vendor-limits"
HEADERS = agent_headers(VENDOR, token_of(VENDOR))


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        INGEST_MAX_ROWS=3,
        INGEST_MAX_BYTES=4096,
        INGEST_BATCH_MAX_ROWS=5,
        INGEST_BATCH_MAX_BYTES=16384,
    )


@pytest.fixture
async def agent(client: TestClient[Any, Any], db: Conn) -> str:
    await enrol(client, VENDOR)
    await seed_mappings(db, VENDOR)
    return VENDOR


async def _problem(response: Any, status: int) -> dict[str, Any]:
    body: dict[str, Any] = await response.json(content_type=None)
    assert response.status == status, body
    assert response.content_type == "application/problem+json"
    return body


async def _nothing_written(db: Conn) -> None:
    for table in ("items", "ingest_batches", "ingest_rejections"):
        assert await rows_of(db, f"SELECT 1 FROM {table}") == [], table


def _body(rows: int, padding: int = 0) -> bytes:
    items = [item(f"SKU-{n}", description="x" * padding) for n in range(rows)]
    return orjson.dumps({"vendorId": VENDOR, "items": items})


async def test_too_many_bytes_by_content_length(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    body = _body(2, padding=3000)
    assert len(body) > 4096
    response = await client.post(
        "/api/sync/items", data=body, headers={**HEADERS, "Content-Type": "application/json"}
    )
    problem = await _problem(response, 413)
    assert problem["detail"] == "The request body is larger than 4096 bytes."
    await _nothing_written(db)


async def test_too_many_bytes_in_a_chunked_body(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"vendorId": "vendor-limits", "items": ['
        for _ in range(1000):  # 1000 KiB if it were all read
            sent += 1
            yield b'"' + b"x" * 1022 + b'",'
        yield b"1]}"

    response = await client.post(
        "/api/sync/items", data=chunks(), headers={**HEADERS, "Content-Type": "application/json"}
    )
    assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
    problem = await _problem(response, 413)
    assert "4096 bytes" in problem["detail"]
    await _nothing_written(db)


async def test_batch_endpoints_have_their_own_larger_limits(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    body = _body(4, padding=1000)
    assert 4096 < len(body) < 16384
    headers = {**HEADERS, "Content-Type": "application/json"}
    assert (await client.post("/api/sync/items", data=body, headers=headers)).status == 413
    response = await client.post("/api/sync/items/batch", data=body, headers=headers)
    assert response.status == 200, await response.text()
    [batch] = await rows_of(db, "SELECT mode, received_count, bytes FROM ingest_batches")
    assert batch == {"mode": "batch", "received_count": 4, "bytes": len(body)}


async def test_too_many_rows(client: TestClient[Any, Any], db: Conn, agent: str) -> None:
    response = await client.post(
        "/api/sync/items", data=_body(4), headers={**HEADERS, "Content-Type": "application/json"}
    )
    problem = await _problem(response, 413)
    assert problem["detail"] == (
        "The request carries 4 items rows; this endpoint accepts at most 3 per request."
    )
    response = await client.post(
        "/api/sync/items/batch",
        data=_body(6),
        headers={**HEADERS, "Content-Type": "application/json"},
    )
    assert "at most 5 per request" in (await _problem(response, 413))["detail"]
    await _nothing_written(db)


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b'{"vendorId": "vendor-limits", "items": [', 400, "The request body is not valid JSON."),
        (b'[{"sku": "A"}]', 400, "The request body must be a JSON object."),
        (b'{"items": []}', 400, "The request body must carry vendorId (a string)."),
        (b'{"vendorId": 42, "items": []}', 400, "The request body must carry vendorId (a string)."),
        (
            b'{"vendorId": "vendor-limits"}',
            400,
            "The request body must carry 'items': a list of rows.",
        ),
        (
            b'{"vendorId": "vendor-limits", "items": {"sku": "A"}}',
            400,
            "The request body must carry 'items': a list of rows.",
        ),
        (b'{"vendorId": "", "items": []}', 422, "The request body failed validation."),
    ],
)
async def test_malformed_pushes(
    client: TestClient[Any, Any], db: Conn, agent: str, body: bytes, status: int, detail: str
) -> None:
    response = await client.post(
        "/api/sync/items", data=body, headers={**HEADERS, "Content-Type": "application/json"}
    )
    assert (await _problem(response, status))["detail"] == detail
    await _nothing_written(db)


async def test_only_json_is_accepted(client: TestClient[Any, Any], db: Conn, agent: str) -> None:
    response = await client.post("/api/sync/stock", data=b"vendorId=x", headers=HEADERS)
    await _problem(response, 415)


async def test_another_vendors_rows_are_forbidden(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    await enrol(client, "vendor-other")
    response = await client.post(
        "/api/sync/items",
        json={"vendorId": "vendor-other", "items": [item("SKU-1")]},
        headers=HEADERS,
    )
    assert "not the authenticated agent's vendor" in (await _problem(response, 403))["detail"]
    response = await client.post(
        "/api/sync/items",
        json={"vendorId": VENDOR, "items": [item("SKU-1")]},
        headers=agent_headers(VENDOR, token_of("vendor-other")),
    )
    await _problem(response, 401)
    await _nothing_written(db)


async def test_pushes_are_rate_limited_per_agent(
    client: TestClient[Any, Any], db: Conn, agent: str
) -> None:
    statuses = []
    for _ in range(6):
        response = await client.post(
            "/api/sync/items/batch", json={"vendorId": VENDOR, "items": []}, headers=HEADERS
        )
        statuses.append(response.status)
    assert statuses == [200] * 5 + [429]  # RATE_LIMIT_SYNC_BATCH_PER_MINUTE = 5
    assert response.headers["Retry-After"]
