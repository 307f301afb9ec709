"""Enrolment, re-registration, token rotation and revocation across processes (SPEC §5.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient
from psycopg.rows import DictRow

from restosync.settings import Settings
from restosync.web.app import create_app
from tests.agents import agent_headers, enrol, heartbeat_status
from tests.conftest import AGENT_SECRET

Conn = psycopg.AsyncConnection[DictRow]
TOKEN_A = "token-of-vendor-a-0123456789"
TOKEN_B = "token-of-vendor-b-0123456789"


async def _agent_row(db: Conn, vendor_id: str) -> dict[str, Any] | None:
    cur = await db.execute(
        "SELECT agent_url, auth_token_hash, outbound_secret, deregistered_at "
        "FROM agent_registry WHERE vendor_id = %s",
        [vendor_id],
    )
    return await cur.fetchone()


@pytest.fixture
async def second_process(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> TestClient[Any, Any]:
    """Another web process on the same database (its own pool, cache and listener)."""
    other: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    return other


async def _eventually(check: Callable[[], Any], expected: Any, seconds: float = 5) -> Any:
    for _ in range(int(seconds / 0.05)):
        value = await check()
        if value == expected:
            return value
        await asyncio.sleep(0.05)
    return await check()


async def test_new_vendor_enrols_with_the_enrolment_secret(
    client: TestClient[Any, Any], db: Conn
) -> None:
    body = await enrol(client, "vendor-a", TOKEN_A)
    assert body["created"] is True
    assert body["status"] == "online"
    assert len(body["outboundSecret"]) >= 32
    row = await _agent_row(db, "vendor-a")
    assert row is not None
    assert row["auth_token_hash"].startswith("$2b$10$")  # bcrypt at the configured cost
    assert TOKEN_A not in row["auth_token_hash"]
    assert row["outbound_secret"] == body["outboundSecret"]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-secret", "Basic abc"])
async def test_enrolment_without_the_secret_is_refused(
    client: TestClient[Any, Any], db: Conn, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.post(
        "/api/agents/register",
        json={"vendorId": "v", "agentUrl": "http://h/", "erpType": "ebp", "authToken": "x" * 16},
        headers=headers,
    )
    assert response.status == 401
    assert await _agent_row(db, "v") is None


async def test_nobody_takes_over_another_vendor(client: TestClient[Any, Any], db: Conn) -> None:
    await enrol(client, "vendor-a", TOKEN_A)
    await enrol(client, "vendor-b", TOKEN_B)
    before = await _agent_row(db, "vendor-a")
    for bearer in (AGENT_SECRET, TOKEN_B):
        response = await client.post(
            "/api/agents/register",
            json={
                "vendorId": "vendor-a",
                "agentUrl": "http://attacker.example/",
                "erpType": "custom",
                "authToken": "attacker-token-0123456789",
            },
            headers={"Authorization": f"Bearer {bearer}"},
        )
        assert response.status == 401
    assert await _agent_row(db, "vendor-a") == before
    assert await heartbeat_status(client, "vendor-a", TOKEN_A) == 200


async def test_rotation_revokes_the_old_token_in_every_process(
    client: TestClient[Any, Any], second_process: TestClient[Any, Any]
) -> None:
    first = await enrol(client, "vendor-a", TOKEN_A)
    # Both processes verify, and so cache, the current token.
    assert await heartbeat_status(client, "vendor-a", TOKEN_A) == 200
    assert await heartbeat_status(second_process, "vendor-a", TOKEN_A) == 200

    new_token = "rotated-token-of-vendor-a-42"
    rotated = await enrol(client, "vendor-a", new_token, bearer=TOKEN_A)
    assert rotated["created"] is False
    assert rotated["outboundSecret"] != first["outboundSecret"]

    old_refused = await _eventually(
        lambda: heartbeat_status(second_process, "vendor-a", TOKEN_A), 401
    )
    assert old_refused == 401
    assert await heartbeat_status(client, "vendor-a", TOKEN_A) == 401
    assert await heartbeat_status(second_process, "vendor-a", new_token) == 200


async def test_a_vendors_token_on_another_vendors_data_is_forbidden(
    client: TestClient[Any, Any],
) -> None:
    await enrol(client, "vendor-a", TOKEN_A)
    await enrol(client, "vendor-b", TOKEN_B)
    assert await heartbeat_status(client, "vendor-a", TOKEN_A, body_vendor="vendor-b") == 403


async def test_deregistered_token_is_refused_at_once_everywhere(
    client: TestClient[Any, Any], second_process: TestClient[Any, Any]
) -> None:
    from tests.agents import ADMIN

    await enrol(client, "vendor-a", TOKEN_A)
    assert await heartbeat_status(second_process, "vendor-a", TOKEN_A) == 200
    response = await client.delete("/api/admin/agents/vendor-a", headers=ADMIN)
    assert response.status == 204
    assert await heartbeat_status(client, "vendor-a", TOKEN_A) == 401
    assert (
        await _eventually(lambda: heartbeat_status(second_process, "vendor-a", TOKEN_A), 401) == 401
    )


async def test_unknown_vendor_and_wrong_token_get_the_same_answer(
    client: TestClient[Any, Any],
) -> None:
    await enrol(client, "vendor-a", TOKEN_A)
    answers = []
    for vendor, token in (("nobody", TOKEN_A), ("vendor-a", "wrong-token-0123456789")):
        response = await client.post(
            "/api/agents/heartbeat", json={"vendorId": vendor}, headers=agent_headers(vendor, token)
        )
        body = await response.json()
        answers.append((response.status, body["code"], body["detail"]))
    assert (
        answers[0] == answers[1] == (401, "unauthorized", "Missing or invalid agent credentials.")
    )


async def test_a_deregistered_vendor_re_enrols_only_with_the_enrolment_secret(
    client: TestClient[Any, Any],
) -> None:
    from tests.agents import ADMIN

    await enrol(client, "vendor-a", TOKEN_A)
    await client.delete("/api/admin/agents/vendor-a", headers=ADMIN)
    back = await enrol(client, "vendor-a", "brand-new-token-0123456789")
    assert back["created"] is False
    assert await heartbeat_status(client, "vendor-a", "brand-new-token-0123456789") == 200


@pytest.mark.parametrize(
    "agent_url", ["ftp://files.example/", "http://user:pw@h.example/", "not a url"]
)
async def test_agent_url_must_be_plain_http(client: TestClient[Any, Any], agent_url: str) -> None:
    response = await client.post(
        "/api/agents/register",
        json={"vendorId": "v", "agentUrl": agent_url, "erpType": "ebp", "authToken": "x" * 16},
        headers={"Authorization": f"Bearer {AGENT_SECRET}"},
    )
    assert response.status == 422
    assert (await response.json())["errors"][0]["loc"] == ["agentUrl"]


async def test_allow_list_guards_agent_urls(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    app = create_app(make_settings(AGENT_URL_ALLOWED_HOSTS="agents.example.com"))
    guarded: TestClient[Any, Any] = await aiohttp_client(app)
    for url, status in (("http://127.0.0.1:8080/", 422), ("https://agents.example.com/x", 201)):
        response = await guarded.post(
            "/api/agents/register",
            json={"vendorId": "v", "agentUrl": url, "erpType": "ebp", "authToken": "x" * 16},
            headers={"Authorization": f"Bearer {AGENT_SECRET}"},
        )
        assert response.status == status, url


async def test_short_tokens_and_bad_bodies_are_rejected(client: TestClient[Any, Any]) -> None:
    headers = {"Authorization": f"Bearer {AGENT_SECRET}"}
    short = await client.post(
        "/api/agents/register",
        json={"vendorId": "v", "agentUrl": "http://h/", "erpType": "ebp", "authToken": "short"},
        headers=headers,
    )
    assert short.status == 422
    assert (await short.json())["errors"][0]["loc"] == ["authToken"]
    not_json = await client.post(
        "/api/agents/register",
        data=b"{nope",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert not_json.status == 400
    wrong_type = await client.post("/api/agents/register", data=b"x", headers=headers)
    assert wrong_type.status == 415
