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
    """409, not 422: the body is valid, the state refuses it (change it with PUT)."""
    await _create(client, UNIT)
    response = await client.post("/api/admin/mappings", json=UNIT, headers=ADMIN)
    assert response.status == 409
    assert (await response.json())["code"] == "conflict"


async def test_changes_to_what_does_not_exist_or_cannot_be(
    client: TestClient[Any, Any], db: Conn
) -> None:
    unknown = "/api/admin/mappings/00000000-0000-0000-0000-000000000000"
    assert (await client.put(unknown, json={"restoCode": "x"}, headers=ADMIN)).status == 404
    assert (await client.put("/api/admin/mappings/nope", json={}, headers=ADMIN)).status == 404
    assert (await client.delete("/api/admin/mappings/nope", headers=ADMIN)).status == 404
    created = await _create(client, UNIT)
    url = f"/api/admin/mappings/{created['id']}"
    refused = await client.put(url, json={"restoCode": "g", "vatRate": 5}, headers=ADMIN)
    assert refused.status == 422  # only vat mappings have a rate
    cur = await db.execute("SELECT resto_code, vat_rate FROM erp_code_mappings")
    assert await cur.fetchall() == [{"resto_code": "kg", "vat_rate": None}]
    cur = await db.execute("SELECT action FROM audit_log")
    assert [r["action"] for r in await cur.fetchall()] == ["mapping.create"]


async def test_the_list_filters(client: TestClient[Any, Any]) -> None:
    await _create(client, UNIT)
    await _create(client, {**UNIT, "erpCode": "L", "restoCode": "l", "isActive": False})
    await _create(client, {**UNIT, "mappingType": "vat", "erpCode": "T1", "vatRate": "5.5"})
    await _create(client, {**UNIT, "vendorId": "v2"})

    async def codes(query: str) -> list[tuple[str, str, str]]:
        page = await (await client.get(f"/api/admin/mappings?{query}", headers=ADMIN)).json()
        return [(m["vendorId"], m["mappingType"], m["erpCode"]) for m in page["data"]]

    assert await codes("vendorId=v1&mappingType=unit") == [
        ("v1", "unit", "KG"),
        ("v1", "unit", "L"),
    ]
    assert await codes("vendorId=v1&isActive=false") == [("v1", "unit", "L")]
    assert await codes("erpCode=KG") == [("v1", "unit", "KG"), ("v2", "unit", "KG")]
    listed = await (await client.get("/api/admin/mappings?limit=1&page=2", headers=ADMIN)).json()
    assert listed["meta"]["total"] == 4
    assert [m["erpCode"] for m in listed["data"]] == ["L"]
    vat = await codes("mappingType=vat")
    assert vat == [("v1", "vat", "T1")]
    assert (await client.get("/api/admin/mappings?mappingType=colour", headers=ADMIN)).status == 422


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
    cur = await db.execute("SELECT action, details FROM audit_log ORDER BY id")
    assert await cur.fetchall() == [
        {
            "action": "mapping.seed",
            "details": {"created": 5000, "updated": 0, "vendor_ids": ["v1"]},
        },
        {
            "action": "mapping.seed",
            "details": {"created": 0, "updated": 5000, "vendor_ids": ["v1"]},
        },
    ]


@pytest.mark.parametrize(
    "mappings",
    [
        [UNIT, {**UNIT, "restoCode": "other"}],  # the same key twice
        [UNIT, {**UNIT, "erpCode": "T1", "mappingType": "vat"}],  # vat without a rate
        [],
    ],
)
async def test_a_bad_seed_writes_nothing(
    client: TestClient[Any, Any], db: Conn, mappings: list[dict[str, Any]]
) -> None:
    response = await client.post(
        "/api/admin/mappings/seed", json={"mappings": mappings}, headers=ADMIN
    )
    assert response.status == 422
    cur = await db.execute(
        "SELECT (SELECT count(*) FROM erp_code_mappings) + (SELECT count(*) FROM audit_log) AS n"
    )
    assert (await cur.fetchone())["n"] == 0  # type: ignore[index]


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
    gaps = await (await client.get("/api/admin/mappings/gaps?vendorId=v1", headers=ADMIN)).json()
    assert [g["erpCode"] for g in gaps["data"]] == ["T1"]  # mapped: no longer a gap
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


async def test_gaps_need_a_vendor(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/admin/mappings/gaps", headers=ADMIN)).status == 422
    assert (await client.get("/api/admin/mappings/gaps?vendorId=v1")).status == 401
    empty = await client.get("/api/admin/mappings/gaps?vendorId=nobody", headers=ADMIN)
    assert await empty.json() == {"vendorId": "nobody", "data": []}
