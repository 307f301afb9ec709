"""The whole API fuzzed from its own OpenAPI document (schemathesis, bounded budget).

A real `restosync serve` process on a loopback port and its own database; every generated
request is sent with valid admin and agent credentials, so the fuzzer reaches the
handlers, not only the authentication. For every answer: no 5xx; every error is an
RFC 9457 problem document whose status matches; and a rejected (4xx) request changed
nothing in the database.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.result import Err

from restosync.web.openapi import build_openapi
from restosync.web.routes import ROUTES
from tests.conftest import AGENT_SECRET, API_SECRET
from tests.migrations.test_schema import SPEC_TABLES
from tests.pg import PgServer, cloned_database
from tests.processes import BIN, process_env, stop

VENDOR = "v-fuzz"
TOKEN = "fuzz-agent-token-0123456789abcdef"
EXAMPLES = 40  # per operation: the budget that keeps this file near half a minute
# Tables a request may write. Rate-limit counters are left out: counting a refused request
# is their job.
WATCHED = sorted(SPEC_TABLES | {"ingest_snapshots", "procrastinate_jobs"})
FINGERPRINT = "SELECT " + ", ".join(
    f"(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {table} AS t)"
    for table in WATCHED
)


@dataclass(frozen=True)
class Target:
    """The server under fuzzing and a connection to its database."""

    base_url: str
    db: psycopg.Connection[Any]

    def fingerprint(self) -> tuple[Any, ...]:
        """A digest of every watched table's rows."""
        row = self.db.execute(FINGERPRINT).fetchone()
        assert row is not None
        return tuple(row)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_live(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "restosync serve exited"
        try:
            if requests.get(f"{base_url}/health/live", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("restosync serve did not come up")


def _enrol(base_url: str) -> None:
    response = requests.post(
        f"{base_url}/api/agents/register",
        json={
            "vendorId": VENDOR,
            "agentUrl": "http://127.0.0.1:9/agent",
            "erpType": "sage",
            "authToken": TOKEN,
        },
        headers={"Authorization": f"Bearer {AGENT_SECRET}"},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text


@pytest.fixture(scope="module")
def target(pg_server: PgServer, template_database: str) -> Iterator[Target]:
    with cloned_database(pg_server, template_database) as url:
        port = _free_port()
        env = process_env(
            DATABASE_URL=url,
            API_SECRET=API_SECRET,
            AGENT_SECRET=AGENT_SECRET,
            HOST="127.0.0.1",
            PORT=str(port),
            RATE_LIMITS_ENABLED="false",
            AGENT_TOKEN_BCRYPT_ROUNDS="10",
            LOG_LEVEL="WARNING",
        )
        process = subprocess.Popen(
            [str(BIN / "restosync"), "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_live(base_url, process)
            _enrol(base_url)
            with psycopg.connect(url, autocommit=True) as db:
                yield Target(base_url, db)
        finally:
            stop(process)


# The document /api/openapi.json serves, built at collection time: one test per operation.
SCHEMA = schemathesis.openapi.from_dict(build_openapi(ROUTES))


def _operations() -> dict[str, Any]:
    """Every operation by label; a document schemathesis cannot read fails collection."""
    found: dict[str, Any] = {}
    for result in SCHEMA.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found[result.ok().label] = result.ok()
    return found


OPERATIONS = _operations()
HEADERS = {
    "X-API-Key": API_SECRET,
    "Authorization": f"Bearer {TOKEN}",
    "X-Vendor-ID": VENDOR,
}
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_5xx_every_error_a_problem_and_rejections_write_nothing(
    label: str, target: Target
) -> None:
    @FUZZ
    @given(case=OPERATIONS[label].as_strategy())
    def check(case: Any) -> None:
        _check(case, target)

    check()


def _check(case: Any, target: Target) -> None:
    before = target.fingerprint()
    response = case.call(base_url=target.base_url, headers=HEADERS, timeout=30)
    status = response.status_code
    where = (case.method, case.formatted_path, case.query, status, response.text[:300])
    assert status < 500, where
    if status >= 400:
        [content_type] = response.headers.get("content-type", [""])
        assert content_type.startswith("application/problem+json"), where
        problem = response.json()
        assert problem["status"] == status, where
        assert {"type", "title", "detail", "code"} <= problem.keys(), where
        assert target.fingerprint() == before, where
