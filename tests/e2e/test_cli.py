"""The `restosync` command as operators run it: real processes, real ports, real signals."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.processes import BIN, process_env, stop

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_healthy(
    base: str, process: subprocess.Popen[bytes], timeout: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "restosync up exited early"
        try:
            status, body = _get_json(f"{base}/health")
        except OSError:
            time.sleep(0.2)
            continue
        workers = body.get("workers") or {}
        if status == 200 and isinstance(workers, dict) and workers.get("alive"):
            return body
        time.sleep(0.2)
    raise AssertionError("restosync up did not become healthy")


@contextmanager
def restosync_up(data_dir: Path, port: int) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    output = data_dir.parent / f"up-{port}.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "restosync"), "up", "--data-dir", str(data_dir)],
            env=process_env(PORT=str(port), LOG_LEVEL="WARNING"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process, output
        finally:
            stop(process)


def _postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def _alive(pid: int) -> bool:
    """Running (a zombie left for a non-reaping init to collect does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rs-up-") as folder:
        yield Path(folder) / "data"


def test_up_serves_on_embedded_postgres_and_stops_it_on_sigterm(data_dir: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with restosync_up(data_dir, port) as (process, output):
        body = _wait_healthy(base, process)
        assert body["database"]["status"] == "up"
        banner = output.read_text()
        secrets = json.loads((data_dir / "dev-secrets.json").read_text())
        assert base in banner
        assert secrets["API_SECRET"] in banner
        assert secrets["AGENT_SECRET"] in banner
        postmaster = _postmaster_pid(data_dir)
        assert postmaster is not None
        assert _alive(postmaster)
        assert stop(process) == 0
    assert _postmaster_pid(data_dir) is None
    assert not _alive(postmaster)
    assert "Traceback" not in output.read_text()


def test_up_adopts_the_server_left_by_a_killed_run(data_dir: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with restosync_up(data_dir, port) as (process, _):
        _wait_healthy(base, process)
        first_secrets = (data_dir / "dev-secrets.json").read_text()
        stop(process, signal.SIGKILL)
    orphan = _postmaster_pid(data_dir)
    assert orphan is not None
    assert _alive(orphan), "SIGKILL leaves PostgreSQL running"

    with restosync_up(data_dir, port) as (process, _):
        _wait_healthy(base, process)
        assert _postmaster_pid(data_dir) == orphan  # adopted, not started twice
        assert (data_dir / "dev-secrets.json").read_text() == first_secrets
        assert stop(process) == 0
    assert not _alive(orphan)


def test_migrate_is_idempotent(database_url: str) -> None:
    env = process_env(DATABASE_URL=database_url)
    result = subprocess.run(
        [str(BIN / "restosync"), "migrate"], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "applied 0 migration(s)"


@pytest.mark.parametrize(
    ("command", "env", "message"),
    [
        (["serve"], {"DATABASE_URL": "postgresql://x@/db"}, "API_SECRET: required"),
        (["serve"], {"API_SECRET": "short"}, "API_SECRET: must be at least 32 characters"),
        (["migrate"], {}, "DATABASE_URL: not set"),
        (["up"], {"PORT": "http"}, "PORT: "),
    ],
)
def test_bad_configuration_stops_with_a_message_naming_the_variable(
    command: list[str], env: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [str(BIN / "restosync"), *command],
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_worker_with_bad_configuration_names_the_variable() -> None:
    result = subprocess.run(
        [str(BIN / "procrastinate"), "--app=restosync.worker.app", "worker"],
        env=process_env(DATABASE_URL="mysql://nope"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DATABASE_URL: must be a postgresql:// URL" in result.stderr


@pytest.mark.parametrize("command", [[], ["migrate"], ["serve"], ["up"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = subprocess.run(
        [str(BIN / "restosync"), *command, "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: restosync" in result.stdout
