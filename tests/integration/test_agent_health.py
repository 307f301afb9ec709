"""The agent-health task: transitions persisted, `agent_offline` alerted once per cooldown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import psycopg
from psycopg.rows import DictRow

from restosync.db.pool import Pool
from restosync.services.agent_health import persist_agent_health
from restosync.services.alerts import Alerter
from restosync.settings import Settings
from tests.conftest import FakeSlack
from tests.processes import running_worker

Conn = psycopg.AsyncConnection[DictRow]
BCRYPT_LIKE = "$2b$10$" + "x" * 53


async def _agent(db: Conn, vendor_id: str, seconds_ago: float) -> None:
    await db.execute(
        "INSERT INTO agent_registry (vendor_id, agent_url, erp_type, last_heartbeat, "
        "auth_token_hash, outbound_secret) "
        "VALUES (%s, 'http://127.0.0.1:9/', 'ebp', now() - make_interval(secs => %s), %s, %s)",
        [vendor_id, seconds_ago, BCRYPT_LIKE, "s" * 40],
    )


async def _statuses(db: Conn) -> dict[str, str]:
    cur = await db.execute("SELECT vendor_id, status FROM agent_registry ORDER BY vendor_id")
    return {row["vendor_id"]: row["status"] for row in await cur.fetchall()}


async def test_transitions_are_persisted_and_offline_alerted_once(
    db: Conn,
    pool: Pool,
    make_settings: Callable[..., Settings],
    http_session: aiohttp.ClientSession,
    slack: FakeSlack,
) -> None:
    settings = make_settings(
        HEARTBEAT_DEGRADED_SECONDS=1, HEARTBEAT_OFFLINE_SECONDS=2, SLACK_WEBHOOK_URL=slack.url
    )
    alerter = Alerter(pool, settings, http_session)
    await _agent(db, "fresh", 0)
    await _agent(db, "quiet", 1.5)
    await _agent(db, "gone", 10)

    transitions = await persist_agent_health(pool, settings, alerter)

    assert {(t.vendor_id, t.previous_status, t.status) for t in transitions} == {
        ("quiet", "online", "degraded"),
        ("gone", "online", "offline"),
    }
    assert await _statuses(db) == {"fresh": "online", "gone": "offline", "quiet": "degraded"}
    assert len(slack.received) == 1
    assert "gone" in str(slack.received[0].body)

    # Nothing changed: no transition, no alert.
    assert await persist_agent_health(pool, settings, alerter) == []
    # The agent comes back, then goes offline again within the cooldown: one alert only.
    await db.execute(
        "UPDATE agent_registry SET last_heartbeat = now(), status = 'online' "
        "WHERE vendor_id = 'gone'"
    )
    await db.execute(
        "UPDATE agent_registry SET last_heartbeat = now() - interval '1 minute' "
        "WHERE vendor_id = 'gone'"
    )
    again = await persist_agent_health(pool, settings, alerter)
    assert [(t.vendor_id, t.status) for t in again] == [("gone", "offline")]
    assert len(slack.received) == 1


async def test_the_periodic_task_runs_in_a_worker_process(
    db: Conn, database_url: str, slack: FakeSlack
) -> None:
    await _agent(db, "gone", 600)
    # The minute's tick is caught up as soon as the worker starts.
    env = {"SLACK_WEBHOOK_URL": slack.url, "PERIODIC_CATCH_UP_SECONDS": "60"}
    with running_worker(database_url, queues="maintenance", env=env):
        for _ in range(100):
            if (await _statuses(db))["gone"] == "offline":
                break
            await asyncio.sleep(0.1)
        for _ in range(50):
            if slack.received:
                break
            await asyncio.sleep(0.1)
    assert (await _statuses(db))["gone"] == "offline"
    assert len(slack.received) == 1
    body: Any = slack.received[0].body
    assert "gone" in str(body)
