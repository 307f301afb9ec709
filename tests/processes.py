"""Real processes for the tests: `procrastinate worker` and `restosync` commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg

BIN = Path(sys.executable).parent


def process_env(**values: str) -> dict[str, str]:
    """The current environment without restosync's variables, plus `values`."""
    env = {k: v for k, v in os.environ.items() if k not in _RESTOSYNC_VARIABLES}
    env.update(values)
    return env


_RESTOSYNC_VARIABLES = {
    "DATABASE_URL",
    "API_SECRET",
    "AGENT_SECRET",
    "PORT",
    "HOST",
    "RESTOSYNC_DATA_DIR",
}


def _newest_worker_id(database_url: str) -> int:
    """Workers register with increasing ids: a higher one means a new worker is up."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM procrastinate_workers").fetchone()
    return int(row[0]) if row else 0


@contextmanager
def running_worker(
    database_url: str,
    *,
    queues: str = "order-sync,reconciliation,maintenance",
    env: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> Iterator[subprocess.Popen[bytes]]:
    """A `procrastinate worker` process on the test database, ready when yielded."""
    before = _newest_worker_id(database_url)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [
                str(BIN / "procrastinate"),
                "--app=restosync.worker.app",
                "worker",
                f"--queues={queues}",
            ],
            env=process_env(
                **{
                    "DATABASE_URL": database_url,
                    "WORKER_POLL_SECONDS": "0.2",
                    "PERIODIC_CATCH_UP_SECONDS": "3",  # see tests/conftest.py make_settings
                    **(env or {}),
                }
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while _newest_worker_id(database_url) <= before:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"worker did not start: {log.read().decode()[-3000:]}")
                time.sleep(0.1)
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal a process and wait for it; kill it if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.returncode
