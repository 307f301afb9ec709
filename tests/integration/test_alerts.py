"""Alerts: a log line and one Slack POST per cooldown, across processes; Slack failures contained.

A real local HTTP server stands in for Slack and records what it receives.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import psycopg
import pytest
from psycopg.rows import DictRow

from restosync.db import alerts as alerts_db
from restosync.db.pool import Pool, transaction
from restosync.models.alerts import Alert, AlertType
from restosync.services.alerts import Alerter
from restosync.settings import Settings
from tests.conftest import WEBHOOK_PATH, FakeSlack

Conn = psycopg.AsyncConnection[DictRow]
OFFLINE = Alert(
    type=AlertType.AGENT_OFFLINE,
    vendor_id="vendor-42",
    summary="Agent silent for 312 s",
    details={"seconds_since_heartbeat": 312, "status": "offline"},
)


@pytest.fixture
def alerter(
    pool: Pool,
    make_settings: Callable[..., Settings],
    http_session: aiohttp.ClientSession,
    slack: FakeSlack,
) -> Alerter:
    return Alerter(pool, make_settings(SLACK_WEBHOOK_URL=slack.url), http_session)


@pytest.fixture(autouse=True)
def _capture_alert_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="restosync.alerts")


async def _state(db: Conn, alert_type: str, vendor_key: str) -> dict[str, Any]:
    cur = await db.execute(
        "SELECT * FROM alert_state WHERE alert_type = %s AND vendor_key = %s",
        [alert_type, vendor_key],
    )
    row = await cur.fetchone()
    assert row is not None
    return dict(row)


def _alert_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "restosync.alerts" and r.levelno == level]


async def test_first_alert_is_logged_and_posted_once(
    alerter: Alerter, slack: FakeSlack, db: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    assert await alerter.raise_alert(OFFLINE) is True

    [line] = _alert_lines(caplog, logging.WARNING)
    assert line.__dict__["alert_type"] == "agent_offline"
    assert line.__dict__["vendor_id"] == "vendor-42"
    assert line.__dict__["details"] == {"seconds_since_heartbeat": 312, "status": "offline"}
    assert "Agent silent for 312 s" in line.getMessage()
    [request] = slack.received
    assert request.path == WEBHOOK_PATH
    assert request.content_type == "application/json"
    assert request.body == {
        "text": "[agent_offline] (vendor vendor-42) Agent silent for 312 s",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": ":rotating_light: *agent_offline* · vendor `vendor-42`\n"
                    "Agent silent for 312 s",
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": '```{\n  "seconds_since_heartbeat": 312,\n  "status": "offline"\n}```',
                },
            },
        ],
    }
    state = await _state(db, "agent_offline", "vendor-42")
    assert state["sent_count"] == 1
    assert state["suppressed_count"] == 0
    assert state["last_sent_at"] is not None
    assert state["last_details"] == {"seconds_since_heartbeat": 312, "status": "offline"}


async def test_a_repeat_within_the_cooldown_is_suppressed_and_counted(
    alerter: Alerter, slack: FakeSlack, db: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    assert await alerter.raise_alert(OFFLINE) is True
    assert await alerter.raise_alert(OFFLINE) is False
    assert await alerter.raise_alert(OFFLINE) is False

    assert len(slack.received) == 1
    assert len(_alert_lines(caplog, logging.WARNING)) == 1
    state = await _state(db, "agent_offline", "vendor-42")
    assert (state["sent_count"], state["suppressed_count"]) == (1, 2)
    assert state["last_suppressed_at"] is not None


async def test_another_vendor_another_type_and_a_global_alert_each_go_out(
    alerter: Alerter, slack: FakeSlack, db: Conn
) -> None:
    assert await alerter.raise_alert(OFFLINE) is True
    other_vendor = OFFLINE.model_copy(update={"vendor_id": "vendor-43"})
    other_type = OFFLINE.model_copy(update={"type": AlertType.CIRCUIT_BREAKER_OPEN})
    no_vendor = Alert(type=AlertType.DLQ_ENTRIES_FOUND, summary="3 unresolved DLQ entries")

    assert await alerter.raise_alert(other_vendor) is True
    assert await alerter.raise_alert(other_type) is True
    assert await alerter.raise_alert(no_vendor) is True
    assert await alerter.raise_alert(no_vendor) is False

    assert len(slack.received) == 4
    assert slack.received[3].body["text"] == "[dlq_entries_found] 3 unresolved DLQ entries"
    assert len(slack.received[3].body["blocks"]) == 1
    state = await _state(db, "dlq_entries_found", alerts_db.GLOBAL_VENDOR_KEY)
    assert (state["sent_count"], state["suppressed_count"]) == (1, 1)


async def test_the_alert_goes_out_again_once_the_cooldown_has_passed(
    alerter: Alerter, slack: FakeSlack, db: Conn
) -> None:
    assert await alerter.raise_alert(OFFLINE) is True
    age_row = "UPDATE alert_state SET last_sent_at = now() - make_interval(mins => %s)"

    await db.execute(age_row, [29])  # the default cooldown is 30 min
    assert await alerter.raise_alert(OFFLINE) is False
    await db.execute(age_row, [31])
    assert await alerter.raise_alert(OFFLINE) is True

    assert len(slack.received) == 2
    state = await _state(db, "agent_offline", "vendor-42")
    assert (state["sent_count"], state["suppressed_count"]) == (2, 1)


async def test_the_cooldown_comes_from_the_settings(
    pool: Pool,
    make_settings: Callable[..., Settings],
    http_session: aiohttp.ClientSession,
    slack: FakeSlack,
) -> None:
    settings = make_settings(SLACK_WEBHOOK_URL=slack.url, ALERT_COOLDOWN_SECONDS=1)
    alerter = Alerter(pool, settings, http_session)

    assert await alerter.raise_alert(OFFLINE) is True
    assert await alerter.raise_alert(OFFLINE) is False
    await asyncio.sleep(1.1)
    assert await alerter.raise_alert(OFFLINE) is True
    assert len(slack.received) == 2


async def test_two_processes_raising_the_same_alert_at_once_post_it_once(
    make_pool: Callable[[], Awaitable[Pool]],
    make_settings: Callable[..., Settings],
    http_session: aiohttp.ClientSession,
    slack: FakeSlack,
    db: Conn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(SLACK_WEBHOOK_URL=slack.url)
    first = Alerter(await make_pool(), settings, http_session)
    second = Alerter(await make_pool(), settings, http_session)

    results = await asyncio.gather(
        *(alerter.raise_alert(OFFLINE) for _ in range(4) for alerter in (first, second))
    )

    assert sorted(results) == [False] * 7 + [True]
    assert len(slack.received) == 1
    assert len(_alert_lines(caplog, logging.WARNING)) == 1
    state = await _state(db, "agent_offline", "vendor-42")
    assert (state["sent_count"], state["suppressed_count"]) == (1, 7)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{WEBHOOK_PATH}"


@pytest.mark.parametrize(
    ("failure", "logged"),
    [
        ("status_500", "answered HTTP 500"),
        ("timeout", "did not answer within 0.2 s"),
        ("unreachable", "unreachable: ClientConnectorError"),
    ],
)
async def test_a_failed_post_is_logged_without_the_url_and_releases_the_claim(
    failure: str,
    logged: str,
    pool: Pool,
    make_settings: Callable[..., Settings],
    http_session: aiohttp.ClientSession,
    slack: FakeSlack,
    db: Conn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    webhook_url = _closed_port_url() if failure == "unreachable" else slack.url
    alerter = Alerter(pool, make_settings(SLACK_WEBHOOK_URL=webhook_url), http_session)
    alerter.slack_timeout_seconds = 0.2
    slack.status = 500 if failure == "status_500" else 200
    slack.delay = 1.0 if failure == "timeout" else 0.0

    assert await alerter.raise_alert(OFFLINE) is True

    assert len(_alert_lines(caplog, logging.WARNING)) == 1
    [error] = _alert_lines(caplog, logging.ERROR)
    assert logged in error.getMessage()
    for text in [caplog.text, *(str(vars(record)) for record in caplog.records)]:
        assert webhook_url not in text
        assert WEBHOOK_PATH not in text
    state = await _state(db, "agent_offline", "vendor-42")
    assert state["last_sent_at"] is None
    assert (state["sent_count"], state["failed_count"]) == (0, 1)
    assert state["last_failed_at"] is not None

    # Slack is back: the next raise is not held back by the failed one.
    alerter = Alerter(pool, make_settings(SLACK_WEBHOOK_URL=slack.url), http_session)
    slack.status, slack.delay = 200, 0.0
    posted_before = len(slack.received)
    assert await alerter.raise_alert(OFFLINE) is True
    assert len(slack.received) == posted_before + 1
    state = await _state(db, "agent_offline", "vendor-42")
    assert (state["sent_count"], state["failed_count"]) == (1, 1)


async def test_without_a_webhook_alerts_are_only_logged_and_still_cooled_down(
    pool: Pool,
    settings: Settings,
    http_session: aiohttp.ClientSession,
    slack: FakeSlack,
    db: Conn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert settings.SLACK_WEBHOOK_URL is None
    alerter = Alerter(pool, settings, http_session)

    assert await alerter.raise_alert(OFFLINE) is True
    assert await alerter.raise_alert(OFFLINE) is False

    assert slack.received == []
    assert len(_alert_lines(caplog, logging.WARNING)) == 1
    state = await _state(db, "agent_offline", "vendor-42")
    assert (state["sent_count"], state["suppressed_count"]) == (1, 1)


async def test_a_webhook_without_a_session_logs_only(
    pool: Pool, make_settings: Callable[..., Settings], slack: FakeSlack
) -> None:
    alerter = Alerter(pool, make_settings(SLACK_WEBHOOK_URL=slack.url), None)

    assert await alerter.raise_alert(OFFLINE) is True
    assert slack.received == []


async def test_secrets_in_an_alert_are_masked_everywhere(
    alerter: Alerter,
    slack: FakeSlack,
    settings: Settings,
    db: Conn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert settings.API_SECRET is not None
    leaky = OFFLINE.model_copy(
        update={
            "summary": f"agent rejected key {settings.API_SECRET}",
            "details": {"token": "tok-123", "hint": "Authorization: Bearer abc.def"},
        }
    )

    assert await alerter.raise_alert(leaky) is True

    for leaked in (settings.API_SECRET, "tok-123", "abc.def"):
        assert leaked not in str(slack.received[0].body)
        assert leaked not in str(vars(_alert_lines(caplog, logging.WARNING)[0]))
    state = await _state(db, "agent_offline", "vendor-42")
    assert state["last_details"]["token"] == "***"


async def test_a_release_leaves_a_newer_claim_alone(pool: Pool, db: Conn) -> None:
    key: dict[str, Any] = {"alert_type": "reconciliation_drift", "vendor_id": None}
    async with transaction(pool) as conn:
        first = await alerts_db.claim_alert_slot(conn, **key, details={}, cooldown_seconds=1)
    assert first is not None
    await db.execute("UPDATE alert_state SET last_sent_at = now() - interval '1 hour'")
    async with transaction(pool) as conn:
        second = await alerts_db.claim_alert_slot(conn, **key, details={}, cooldown_seconds=1)
        assert second is not None
        assert await alerts_db.release_alert_slot(conn, **key, claimed_at=first) is False
        assert await alerts_db.release_alert_slot(conn, **key, claimed_at=second) is True


async def test_the_database_refuses_a_malformed_alert_type(db: Conn) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        await db.execute(
            "INSERT INTO alert_state (alert_type, vendor_key) VALUES ('Agent-Offline', '')"
        )
