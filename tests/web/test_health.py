"""The probes over real HTTP against a real database."""

from __future__ import annotations

from typing import Any

import procrastinate
from aiohttp.test_utils import TestClient


async def test_live_answers_without_touching_anything(client: TestClient[Any, Any]) -> None:
    response = await client.get("/health/live")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_ready_reports_every_subsystem(client: TestClient[Any, Any]) -> None:
    response = await client.get("/health")
    body = await response.json()
    assert response.status == 200
    assert body["database"]["status"] == "up"
    assert set(body["queues"]) >= {"order-sync", "reconciliation", "maintenance"}
    assert body["workers"] == {"alive": 0, "registered": 0, "stalledAfterSeconds": 60.0}
    assert body["agents"] == {"online": 0, "degraded": 0, "offline": 0, "total": 0}
    assert body["status"] == "degraded"  # no worker is running


async def test_ready_sees_a_running_worker(
    client: TestClient[Any, Any], worker: procrastinate.App
) -> None:
    import asyncio

    for _ in range(50):
        body = await (await client.get("/health")).json()
        if body["workers"]["alive"]:
            break
        await asyncio.sleep(0.1)
    assert body["workers"]["alive"] == 1
    assert body["status"] == "ok"
