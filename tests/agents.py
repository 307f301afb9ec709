"""Helpers for tests that enrol agents over HTTP."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import AGENT_SECRET, API_SECRET

ADMIN = {"X-API-Key": API_SECRET}


def agent_headers(vendor_id: str, token: str) -> dict[str, str]:
    """What an agent sends to authenticate."""
    return {"Authorization": f"Bearer {token}", "X-Vendor-ID": vendor_id}


async def enrol(
    client: TestClient[Any, Any],
    vendor_id: str,
    token: str | None = None,
    *,
    url: str = "http://127.0.0.1:9/agent",
    bearer: str = AGENT_SECRET,
) -> dict[str, Any]:
    """Enrol (or re-register) a vendor; returns the answer, asserting success."""
    response = await client.post(
        "/api/agents/register",
        json={
            "vendorId": vendor_id,
            "agentUrl": url,
            "erpType": "sage",
            "authToken": token or f"token-of-{vendor_id}-0123456789",
            "version": "1.0.0",
        },
        headers={"Authorization": f"Bearer {bearer}"},
    )
    body: dict[str, Any] = await response.json()
    assert response.status in (200, 201), body
    return body


async def heartbeat_status(
    client: TestClient[Any, Any], vendor_id: str, token: str, body_vendor: str | None = None
) -> int:
    """Status of a heartbeat with these credentials."""
    response = await client.post(
        "/api/agents/heartbeat",
        json={"vendorId": body_vendor or vendor_id},
        headers=agent_headers(vendor_id, token),
    )
    return response.status
