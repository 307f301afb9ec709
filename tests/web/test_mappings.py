"""Mapping administration over HTTP: CRUD, bulk seed, gaps, audit, replay deferral."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient
from psycopg.rows import DictRow

from tests.agents import ADMIN

Conn = psycopg.AsyncConnection[DictRow]
UNIT = {"vendorId": "v1", "mappingType": "unit", "erpCode": "KG", "restoCode": "kg",
        "restoLabel": "Kilogram"}  # fmt: skip


async def _create(client: TestClient[Any, Any], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/admin/mappings", json=body, headers=ADMIN)
    created: dict[str, Any] = await response.json()
    assert response.status == 201, created
    return created


async def test_crud_round_trip_is_audited(client: TestClient[Any, Any], db: Conn) -> None:
    created = await _create(client, UNIT)
    assert (created["erpCode"], created["restoCode"], created["isActive"]) == ("KG", "kg", True)

    changed = await client.put(
        f"/api/admin/mappings/{created['id']}", json={"restoLabel": "kilo"}, headers=ADMIN
    )
    assert (await changed.json())["restoLabel"] == "kilo"
    listed = await (await client.get("/api/admin/mappings?vendorId=v1", headers=ADMIN)).json()
    assert [m["id"] for m in listed["data"]] == [created["id"]]
    gone = await client.delete(f"/api/admin/mappings/{created['id']}", headers=ADMIN)
    assert gone.status == 204
    assert (
        await client.delete(f"/api/admin/mappings/{created['id']}", headers=ADMIN)
    ).status == 404

    cur = await db.execute("SELECT action, target_id FROM audit_log ORDER BY id")
    actions = [(r["action"], r["target_id"]) for r in await cur.fetchall()]
    assert actions == [
        ("mapping.create", created["id"]),
        ("mapping.update", created["id"]),
        ("mapping.delete", created["id"]),
    ]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({**UNIT, "mappingType": "vat"}, 422),  # vat needs a rate
        ({**UNIT, "vatRate": 5.5}, 422),  # only vat has one
        ({**UNIT, "mappingType": "colour"}, 422),
        ({**UNIT, "erpCode": ""}, 422),
    ],
)
async def test_invalid_mappings_are_refused(
    client: TestClient[Any, Any], db: Conn, body: dict[str, Any], status: int
) -> None:
    response = await client.post("/api/admin/mappings", json=body, headers=ADMIN)
    assert response.status == status
    cur = await db.execute("SELECT count(*) AS n FROM erp_code_mappings")
    assert (await cur.fetchone())["n"] == 0  # type: ignore[index]


async def test_a_duplicate_is_a_conflict(client: TestClient[Any, Any]) -> None:
    await _create(client, UNIT)
    response = await client.post("/api/admin/mappings", json=UNIT, headers=ADMIN)
    assert response.status == 409


async def test_mappings_need_the_api_key(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/admin/mappings")).status == 401
    assert (await client.post("/api/admin/mappings", json=UNIT)).status == 401


async def test_seed_creates_then_updates_five_thousand(
    client: TestClient[Any, Any], db: Conn
) -> None:
    rows = [
        {"vendorId": "v1", "mappingType": "family", "erpCode": f"F{n:05}", "restoCode": f"f{n}"}
        for n in range(5000)
    ]
    first = await client.post("/api/admin/mappings/seed", json={"mappings": rows}, headers=ADMIN)
    assert await first.json() == {"created": 5000, "updated": 0}
    rows[0]["restoCode"] = "changed"
    again = await client.post("/api/admin/mappings/seed", json={"mappings": rows}, headers=ADMIN)
    assert await again.json() == {"created": 0, "updated": 5000}
    cur = await db.execute("SELECT resto_code FROM erp_code_mappings WHERE erp_code = 'F00000'")
    assert (await cur.fetchone())["resto_code"] == "changed"  # type: ignore[index]
    too_many = [*rows, {**rows[0], "erpCode": "extra"}]
    over = await client.post("/api/admin/mappings/seed", json={"mappings": too_many}, headers=ADMIN)
    assert over.status == 422


async def test_gaps_and_replay_of_the_rows_a_mapping_unblocks(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await db.execute(
        "INSERT INTO ingest_rejections (vendor_id, entity, row_key, reason, raw_row, "
        "blocked_by_type, blocked_by_code) VALUES "
        "('v1', 'items', 'SKU-1', 'unmapped_unit', '{}', 'unit', 'KG'), "
        "('v1', 'items', 'SKU-2', 'unmapped_unit', '{}', 'unit', 'KG'), "
        "('v1', 'items', 'SKU-3', 'unmapped_vat', '{}', 'vat', 'T1')"
    )
    gaps = await (await client.get("/api/admin/mappings/gaps?vendorId=v1", headers=ADMIN)).json()
    assert [(g["mappingType"], g["erpCode"], g["blockedRows"]) for g in gaps["data"]] == [
        ("unit", "KG", 2),
        ("vat", "T1", 1),
    ]
    await _create(client, UNIT)
    cur = await db.execute(
        "SELECT task_name, args FROM procrastinate_jobs "
        "WHERE task_name = 'ingest:replay_rejections'"
    )
    jobs = await cur.fetchall()
    assert [j["args"] for j in jobs] == [
        {"vendor_id": "v1", "blocked_by_type": "unit", "blocked_by_codes": ["KG"]}
    ]
    # A mapping nobody waits for defers nothing.
    await _create(client, {**UNIT, "erpCode": "L", "restoCode": "l"})
    cur = await db.execute("SELECT count(*) AS n FROM procrastinate_jobs")
    assert (await cur.fetchone())["n"] == 1  # type: ignore[index]
