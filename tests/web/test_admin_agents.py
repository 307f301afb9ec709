"""Admin access: the API key, agent administration and its audit trail."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient
from psycopg.rows import DictRow

from restosync.services.audit import key_fingerprint
from tests.agents import ADMIN, enrol
from tests.conftest import API_SECRET

Conn = psycopg.AsyncConnection[DictRow]
ADMIN_READS = ["/api/admin/agents", "/api/admin/agents/vendor-a", "/api/admin/audit"]


@pytest.mark.parametrize("path", ADMIN_READS)
@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": API_SECRET[:-1] + "x"}]
)
async def test_missing_or_wrong_key_is_401(
    client: TestClient[Any, Any], path: str, headers: dict[str, str]
) -> None:
    response = await client.get(path, headers=headers)
    assert response.status == 401
    assert (await response.json())["detail"] == "Missing or invalid X-API-Key."


async def test_agents_are_listed_with_live_health_and_no_secrets(
    client: TestClient[Any, Any], db: Conn
) -> None:
    for vendor in ("vendor-a", "vendor-b", "vendor-c"):
        await enrol(client, vendor)
    await db.execute(
        "UPDATE agent_registry SET last_heartbeat = now() - interval '2 minutes' "
        "WHERE vendor_id = 'vendor-b'"
    )
    await db.execute(
        "UPDATE agent_registry SET last_heartbeat = now() - interval '10 minutes' "
        "WHERE vendor_id = 'vendor-c'"
    )
    response = await client.get("/api/admin/agents", headers=ADMIN)
    body = await response.json()
    assert response.status == 200
    assert [(a["vendorId"], a["status"]) for a in body["data"]] == [
        ("vendor-a", "online"),
        ("vendor-b", "degraded"),
        ("vendor-c", "offline"),
    ]
    assert body["meta"] == {"page": 1, "limit": 50, "total": 3, "totalPages": 1}
    text = await response.text()
    for forbidden in ("authTokenHash", "outboundSecret", "$2b$", "token-of-"):
        assert forbidden not in text

    offline = await (await client.get("/api/admin/agents?status=offline", headers=ADMIN)).json()
    assert [a["vendorId"] for a in offline["data"]] == ["vendor-c"]
    second = await (await client.get("/api/admin/agents?limit=2&page=2", headers=ADMIN)).json()
    assert [a["vendorId"] for a in second["data"]] == ["vendor-c"]
    assert second["meta"]["totalPages"] == 2
    beyond = await (await client.get("/api/admin/agents?limit=2&page=5", headers=ADMIN)).json()
    assert beyond == {"data": [], "meta": {"page": 5, "limit": 2, "total": 3, "totalPages": 2}}


@pytest.mark.parametrize("query", ["limit=101", "page=0", "status=asleep", "limit=x"])
async def test_bad_list_parameters_are_422(client: TestClient[Any, Any], query: str) -> None:
    response = await client.get(f"/api/admin/agents?{query}", headers=ADMIN)
    assert response.status == 422


async def test_unknown_agent_is_404(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/admin/agents/nobody", headers=ADMIN)
    assert response.status == 404
    assert (await client.put("/api/admin/agents/nobody", json={}, headers=ADMIN)).status == 404
    assert (await client.delete("/api/admin/agents/nobody", headers=ADMIN)).status == 404


async def _audit(db: Conn) -> list[dict[str, Any]]:
    cur = await db.execute(
        "SELECT actor, action, target_type, target_id, details, correlation_id "
        "FROM audit_log ORDER BY id"
    )
    return await cur.fetchall()


async def test_every_admin_mutation_is_audited_with_the_key_fingerprint(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await enrol(client, "vendor-a")
    update = await client.put(
        "/api/admin/agents/vendor-a",
        json={"agentUrl": "https://erp.vendor-a.example/agent"},
        headers={**ADMIN, "X-Correlation-ID": "change-1"},
    )
    assert update.status == 200
    assert (await update.json())["agentUrl"] == "https://erp.vendor-a.example/agent"
    assert (await client.delete("/api/admin/agents/vendor-a", headers=ADMIN)).status == 204

    rows = await _audit(db)
    assert [(r["action"], r["target_id"]) for r in rows] == [
        ("agent.update", "vendor-a"),
        ("agent.deregister", "vendor-a"),
    ]
    assert {r["actor"] for r in rows} == {key_fingerprint(API_SECRET)}
    assert rows[0]["details"] == {"agentUrl": "https://erp.vendor-a.example/agent"}
    assert rows[0]["correlation_id"] == "change-1"
    assert API_SECRET not in str(rows)


async def test_a_refused_mutation_writes_no_audit_row(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await enrol(client, "vendor-a")
    response = await client.put(
        "/api/admin/agents/vendor-a", json={"agentUrl": "gopher://x"}, headers=ADMIN
    )
    assert response.status == 422
    assert await _audit(db) == []


async def test_audit_log_is_paginated_and_filtered(client: TestClient[Any, Any]) -> None:
    for vendor in ("vendor-a", "vendor-b"):
        await enrol(client, vendor)
        await client.put(f"/api/admin/agents/{vendor}", json={"erpType": "odoo"}, headers=ADMIN)
    await client.delete("/api/admin/agents/vendor-a", headers=ADMIN)

    everything = await (await client.get("/api/admin/audit", headers=ADMIN)).json()
    assert [e["action"] for e in everything["data"]] == [
        "agent.deregister",
        "agent.update",
        "agent.update",
    ]
    assert everything["meta"]["total"] == 3
    updates = await (
        await client.get("/api/admin/audit?action=agent.update&limit=1", headers=ADMIN)
    ).json()
    assert len(updates["data"]) == 1
    assert updates["meta"]["total"] == 2
    of_b = await (await client.get("/api/admin/audit?targetId=vendor-b", headers=ADMIN)).json()
    assert [e["targetId"] for e in of_b["data"]] == ["vendor-b"]
