"""The reference agent against the real app over loopback HTTP: enrol, rotate, heartbeat."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import psycopg
import pytest
from aiohttp.test_utils import TestClient
from psycopg.rows import DictRow

from restosync.agent.cli import ENROLMENT_SECRET_ENV, add_agent_commands
from restosync.agent.client import AgentApiError, AgentClient, parse_retry_after, retry_delay
from restosync.agent.credentials import AgentCredentials, CredentialsError
from restosync.settings import Settings
from restosync.web.app import create_app
from tests.agents import ADMIN, agent_headers, heartbeat_status
from tests.conftest import AGENT_SECRET
from tests.processes import BIN, process_env

Conn = psycopg.AsyncConnection[DictRow]
VENDOR = "vendor-ref"
AGENT_URL = "http://127.0.0.1:9100/agent"


class Exchange:
    """One request the agent made and what came back, as seen on the wire."""

    def __init__(self, path: str, headers: dict[str, str], status: int, answer: dict[str, str]):
        self.path = path
        self.headers = headers
        self.status = status
        self.answer = answer


@pytest.fixture
async def wire() -> AsyncIterator[tuple[aiohttp.ClientSession, list[Exchange]]]:
    """A real client session that records every exchange (no mock: a TraceConfig)."""
    seen: list[Exchange] = []

    async def on_end(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        seen.append(
            Exchange(
                params.url.path,
                dict(params.headers),
                params.response.status,
                dict(params.response.headers),
            )
        )

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, trace_configs=[trace]) as session:
        yield session, seen


@pytest.fixture
def session(wire: tuple[aiohttp.ClientSession, list[Exchange]]) -> aiohttp.ClientSession:
    return wire[0]


@pytest.fixture
def seen(wire: tuple[aiohttp.ClientSession, list[Exchange]]) -> list[Exchange]:
    return wire[1]


def _agent(server: TestClient[Any, Any], session: aiohttp.ClientSession, path: Path) -> AgentClient:
    return AgentClient(session, str(server.make_url("")), VENDOR, path, version="9.9.9")


async def _enrolled(
    server: TestClient[Any, Any], session: aiohttp.ClientSession, path: Path
) -> AgentClient:
    agent = _agent(server, session, path)
    await agent.enrol(AGENT_SECRET, AGENT_URL, "odoo", "1.2.3")
    return agent


async def _row(db: Conn) -> dict[str, Any] | None:
    cur = await db.execute(
        "SELECT agent_url, erp_type, version, auth_token_hash, outbound_secret, last_heartbeat "
        "FROM agent_registry WHERE vendor_id = %s",
        [VENDOR],
    )
    return await cur.fetchone()


def _heartbeats(seen: list[Exchange]) -> list[Exchange]:
    return [exchange for exchange in seen if exchange.path == "/api/agents/heartbeat"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _eventually(condition: Callable[[], bool], seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("condition not met in time")


class RecordingSleep:
    """Stands in for the wait between heartbeats: records it and stops after `limit` waits."""

    def __init__(self, stop: asyncio.Event, limit: int) -> None:
        self.stop = stop
        self.limit = limit
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) >= self.limit:
            self.stop.set()


# enrolment


async def test_enrol_saves_owner_only_credentials_and_the_server_keeps_a_bcrypt_hash(
    client: TestClient[Any, Any],
    session: aiohttp.ClientSession,
    seen: list[Exchange],
    db: Conn,
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent.json"
    registered = await _agent(client, session, path).enrol(AGENT_SECRET, AGENT_URL, "odoo", "1.2.3")

    stored = AgentCredentials.load(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (stored.vendor_id, stored.agent_url, stored.erp_type) == (VENDOR, AGENT_URL, "odoo")
    assert len(stored.token) >= 43
    assert stored.pending_token is None
    row = await _row(db)
    assert row is not None
    assert (row["agent_url"], row["erp_type"], row["version"]) == (AGENT_URL, "odoo", "1.2.3")
    hashed = row["auth_token_hash"]
    assert hashed.startswith("$2b$")
    assert int(hashed.split("$")[2]) >= 10
    assert stored.token not in hashed
    assert row["outbound_secret"] == stored.outbound_secret
    # The registration's answer is what was saved.
    assert registered.created is True
    assert stored.outbound_secret == registered.outbound_secret


async def test_every_request_names_the_vendor_and_carries_a_correlation_id(
    client: TestClient[Any, Any],
    session: aiohttp.ClientSession,
    seen: list[Exchange],
    tmp_path: Path,
) -> None:
    agent = await _enrolled(client, session, tmp_path / "agent.json")
    await agent.heartbeat()

    assert [exchange.path for exchange in seen] == ["/api/agents/register", "/api/agents/heartbeat"]
    for exchange in seen:
        assert exchange.headers["X-Vendor-ID"] == VENDOR
        assert exchange.answer["X-Correlation-ID"] == exchange.headers["X-Correlation-ID"]
    assert seen[0].headers["X-Correlation-ID"] != seen[1].headers["X-Correlation-ID"]


async def test_a_wrong_enrolment_secret_is_refused_and_leaves_nothing_behind(
    client: TestClient[Any, Any], session: aiohttp.ClientSession, db: Conn, tmp_path: Path
) -> None:
    path = tmp_path / "agent.json"
    agent = _agent(client, session, path)

    with pytest.raises(AgentApiError) as caught:
        await agent.enrol("not-the-enrolment-secret", AGENT_URL, "odoo")

    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    assert caught.value.detail
    assert await _row(db) is None
    assert not path.exists()


async def test_enrol_refuses_to_overwrite_existing_credentials(
    client: TestClient[Any, Any], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "agent.json"
    await _enrolled(client, session, path)
    before = path.read_bytes()

    with pytest.raises(CredentialsError, match="exists already"):
        await _agent(client, session, path).enrol(AGENT_SECRET, AGENT_URL, "odoo")
    assert path.read_bytes() == before


# heartbeats, rotation, URL change


async def test_heartbeat_is_acknowledged_and_recorded(
    client: TestClient[Any, Any], session: aiohttp.ClientSession, db: Conn, tmp_path: Path
) -> None:
    agent = await _enrolled(client, session, tmp_path / "agent.json")
    await db.execute(
        "UPDATE agent_registry SET last_heartbeat = now() - interval '1 hour' WHERE vendor_id = %s",
        [VENDOR],
    )

    ack = await agent.heartbeat()

    assert (ack.vendor_id, ack.status) == (VENDOR, "online")
    row = await _row(db)
    assert row is not None
    assert datetime.now(UTC) - row["last_heartbeat"] < timedelta(minutes=1)
    assert row["version"] == "9.9.9"  # the client's version, sent with each heartbeat


async def test_rotation_replaces_token_and_outbound_secret(
    client: TestClient[Any, Any], session: aiohttp.ClientSession, db: Conn, tmp_path: Path
) -> None:
    path = tmp_path / "agent.json"
    agent = await _enrolled(client, session, path)
    before = AgentCredentials.load(path)

    registered = await agent.rotate_token()

    after = AgentCredentials.load(path)
    assert after.token != before.token
    assert after.outbound_secret != before.outbound_secret
    assert after.outbound_secret == registered.outbound_secret
    assert after.pending_token is None
    assert registered.created is False
    assert await heartbeat_status(client, VENDOR, before.token) == 401
    assert await heartbeat_status(client, VENDOR, after.token) == 200
    assert (await agent.heartbeat()).status == "online"
    row = await _row(db)
    assert row is not None
    assert row["outbound_secret"] == after.outbound_secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_an_interrupted_rotation_is_finished_by_the_next_one(
    client: TestClient[Any, Any], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "agent.json"
    agent = await _enrolled(client, session, path)
    before = AgentCredentials.load(path)
    pending = "pending-token-whose-answer-was-lost"
    before.model_copy(update={"pending_token": pending}).save(path)
    # The server took the rotation, but its answer never reached the agent.
    response = await client.post(
        "/api/agents/register",
        json={"vendorId": VENDOR, "agentUrl": AGENT_URL, "erpType": "odoo", "authToken": pending},
        headers=agent_headers(VENDOR, before.token),
    )
    assert response.status == 200
    assert await heartbeat_status(client, VENDOR, before.token) == 401

    await agent.rotate_token()

    after = AgentCredentials.load(path)
    assert (after.token, after.pending_token) == (pending, None)
    assert after.outbound_secret != before.outbound_secret
    assert (await agent.heartbeat()).status == "online"


async def test_update_url_keeps_the_token(
    client: TestClient[Any, Any], session: aiohttp.ClientSession, db: Conn, tmp_path: Path
) -> None:
    path = tmp_path / "agent.json"
    agent = await _enrolled(client, session, path)
    before = AgentCredentials.load(path)

    await agent.update_url("http://127.0.0.1:9200/moved")

    after = AgentCredentials.load(path)
    assert after.token == before.token
    assert after.agent_url == "http://127.0.0.1:9200/moved"
    row = await _row(db)
    assert row is not None
    assert row["agent_url"] == "http://127.0.0.1:9200/moved"
    assert row["outbound_secret"] == after.outbound_secret
    assert (await agent.heartbeat()).status == "online"


# the heartbeat loop


async def test_heartbeat_loop_beats_until_the_stop_event(
    client: TestClient[Any, Any],
    session: aiohttp.ClientSession,
    seen: list[Exchange],
    tmp_path: Path,
) -> None:
    agent = await _enrolled(client, session, tmp_path / "agent.json")
    stop = asyncio.Event()
    loop = asyncio.create_task(agent.run_heartbeats(0.02, stop))
    await _eventually(lambda: len(_heartbeats(seen)) >= 4)
    stop.set()

    beats = await asyncio.wait_for(loop, timeout=5)

    assert beats >= 4
    assert beats == len(_heartbeats(seen))
    assert all(exchange.status == 200 for exchange in _heartbeats(seen))


async def test_heartbeat_loop_stops_at_once_during_a_long_interval(
    client: TestClient[Any, Any],
    session: aiohttp.ClientSession,
    seen: list[Exchange],
    tmp_path: Path,
) -> None:
    agent = await _enrolled(client, session, tmp_path / "agent.json")
    stop = asyncio.Event()
    loop = asyncio.create_task(agent.run_heartbeats(3600, stop))
    await _eventually(lambda: bool(_heartbeats(seen)))
    stop.set()

    assert await asyncio.wait_for(loop, timeout=1) == 1


async def test_heartbeat_loop_survives_429_and_waits_as_retry_after_says(
    aiohttp_client: Callable[..., Any],
    make_settings: Callable[..., Settings],
    session: aiohttp.ClientSession,
    seen: list[Exchange],
    tmp_path: Path,
) -> None:
    server = await aiohttp_client(create_app(make_settings(RATE_LIMIT_HEARTBEAT_PER_MINUTE=2)))
    agent = await _enrolled(server, session, tmp_path / "agent.json")
    stop = asyncio.Event()
    sleep = RecordingSleep(stop, limit=4)

    beats = await agent.run_heartbeats(0.01, stop, sleep=sleep)

    heartbeats = _heartbeats(seen)
    assert [exchange.status for exchange in heartbeats] == [200, 200, 429, 429]
    assert beats == 2
    retry_after = [float(exchange.answer["Retry-After"]) for exchange in heartbeats[2:]]
    # Whole seconds, at least one (a sliding window may ask for more than a minute).
    assert all(seconds >= 1 and seconds.is_integer() for seconds in retry_after)
    assert sleep.delays == [0.01, 0.01, *retry_after]


async def test_heartbeat_loop_backs_off_exponentially_while_unreachable(
    session: aiohttp.ClientSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "agent.json"
    token = "token-never-logged-0123456789"
    AgentCredentials(
        vendor_id=VENDOR,
        token=token,
        outbound_secret="outbound-secret-0123456789",
        agent_url=AGENT_URL,
        erp_type="odoo",
    ).save(path)
    agent = AgentClient(session, f"http://127.0.0.1:{_closed_port()}", VENDOR, path)
    stop = asyncio.Event()
    sleep = RecordingSleep(stop, limit=5)

    with caplog.at_level(logging.WARNING, logger="restosync.agent.client"):
        beats = await agent.run_heartbeats(
            30, stop, sleep=sleep, backoff_base_seconds=1, backoff_cap_seconds=5
        )

    assert beats == 0
    ceilings = [1, 2, 4, 5, 5]  # doubling from the base, capped; jitter in the upper half
    assert all(c / 2 <= d <= c for d, c in zip(sleep.delays, ceilings, strict=True))
    failures = [r for r in caplog.records if r.message.startswith("heartbeat failed")]
    assert len(failures) == 5
    assert "Cannot connect" in failures[0].message
    assert token not in caplog.text


async def test_heartbeat_loop_stops_on_a_refusal_retrying_cannot_fix(
    client: TestClient[Any, Any], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    agent = await _enrolled(client, session, tmp_path / "agent.json")
    response = await client.delete(f"/api/admin/agents/{VENDOR}", headers=ADMIN)
    assert response.status == 204
    stop = asyncio.Event()

    with pytest.raises(AgentApiError) as caught:
        await agent.run_heartbeats(0.01, stop, sleep=RecordingSleep(stop, limit=10))
    assert caught.value.status == 401


def test_retry_delay_honours_retry_after_but_never_beats_faster_than_the_interval() -> None:
    limited = AgentApiError(429, "rate_limited", "slow down", retry_after=7)
    assert retry_delay(limited, 1, interval=2, base=1, cap=60) == 7
    assert retry_delay(limited, 1, interval=30, base=1, cap=60) == 30
    unavailable = AgentApiError(503, "service_unavailable", "later")
    assert 30 <= retry_delay(unavailable, 7, interval=1, base=1, cap=60) <= 60


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    assert parse_retry_after("12") == 12
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    seconds = parse_retry_after(in_a_minute)
    assert seconds is not None
    assert 55 <= seconds <= 60
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# the `restosync agent` command


@pytest.fixture
def parser() -> argparse.ArgumentParser:
    """The top-level parser as restosync/cli.py builds it, with the agent commands added."""
    top = argparse.ArgumentParser(prog="restosync")
    add_agent_commands(top.add_subparsers(required=True))
    return top


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """Agent commands configure process logging; give the test run its own back.

    Ask for it after `client` and `capsys`, so it is undone before they are torn down.
    """
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.mark.parametrize(
    "command", [[], ["enrol"], ["rotate"], ["update-url"], ["heartbeat"], ["run"]]
)
def test_every_agent_command_has_help(
    parser: argparse.ArgumentParser, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["agent", *command, "--help"])
    assert exited.value.code == 0
    assert "usage: restosync agent" in capsys.readouterr().out


def test_the_enrolment_secret_comes_only_from_the_environment(
    parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["agent", "enrol", "--url", "http://x", "--secret", "s"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["agent", "enrol", "--help"])
    assert ENROLMENT_SECRET_ENV in capsys.readouterr().out


async def test_enrol_and_heartbeat_commands(
    client: TestClient[Any, Any],
    parser: argparse.ArgumentParser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    keep_logging: None,
) -> None:
    # The commands configure logging for the whole process, which the in-process server shares.
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    path = tmp_path / "agent.json"
    common = ["--url", str(client.make_url("")), "--credentials", str(path)]
    enrol = parser.parse_args(
        ["agent", "enrol", *common, "--vendor-id", VENDOR, "--agent-url", AGENT_URL,
         "--erp-type", "sage"]
    )  # fmt: skip

    monkeypatch.delenv(ENROLMENT_SECRET_ENV, raising=False)
    with pytest.raises(CredentialsError, match=ENROLMENT_SECRET_ENV):
        await asyncio.to_thread(enrol.run, enrol)

    monkeypatch.setenv(ENROLMENT_SECRET_ENV, AGENT_SECRET)
    assert await asyncio.to_thread(enrol.run, enrol) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = AgentCredentials.load(path).token

    for command in (["heartbeat"], ["rotate"], ["update-url", "--agent-url", AGENT_URL + "/2"]):
        args = parser.parse_args(["agent", *command, *common])
        assert await asyncio.to_thread(args.run, args) == 0
    assert AgentCredentials.load(path).token != token

    out, err = capsys.readouterr()
    assert "enrolled vendor vendor-ref" in out
    assert "token rotated" in out
    assert AGENT_SECRET not in out + err
    assert token not in out + err
    # A bad value or a refusal is a message and an exit status, not a traceback.
    bad_url = parser.parse_args(["agent", "update-url", *common, "--agent-url", "x"])
    assert await asyncio.to_thread(bad_url.run, bad_url) == 2
    assert "invalid value (agent_url: String should have at least 8" in capsys.readouterr().err
    again = parser.parse_args(["agent", "heartbeat", *common])
    AgentCredentials.load(path).model_copy(update={"token": "x" * 20}).save(path)
    assert await asyncio.to_thread(again.run, again) == 1
    assert "restosync refused: 401 unauthorized" in capsys.readouterr().err


@pytest.mark.slow
async def test_run_command_beats_until_sigterm(
    client: TestClient[Any, Any], session: aiohttp.ClientSession, db: Conn, tmp_path: Path
) -> None:
    path = tmp_path / "agent.json"
    await _enrolled(client, session, path)
    await db.execute("UPDATE agent_registry SET last_heartbeat = now() - interval '1 hour'")
    process = await asyncio.create_subprocess_exec(
        str(BIN / "restosync"), "agent", "run", "--interval", "0.1",
        "--url", str(client.make_url("")), "--credentials", str(path),
        env=process_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(200):
            row = await _row(db)
            assert row is not None
            if datetime.now(UTC) - row["last_heartbeat"] < timedelta(minutes=1):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the agent sent no heartbeat")
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), timeout=10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, err.decode()
    assert b"stopped after" in out
    assert int(out.split()[2]) >= 2
