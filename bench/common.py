"""What every benchmark needs: a throwaway database, the web app on a port, the machine."""

from __future__ import annotations

import math
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import psycopg
from aiohttp import web

from restosync.db.migrate import apply_migrations
from restosync.embedded import EmbeddedPostgres, database_url, ensure_database
from restosync.settings import Settings
from restosync.web.app import create_app


@contextmanager
def bench_database(server_url: str | None = None) -> Iterator[str]:
    """A migrated database of its own on `server_url` or DATABASE_URL's server (else an
    embedded one), dropped afterwards."""
    folder, embedded = None, None
    server_url = server_url or os.environ.get("DATABASE_URL")
    if server_url is None:
        folder = Path(tempfile.mkdtemp(prefix="rs-bench-"))
        embedded = EmbeddedPostgres(folder / "pgdata")
        server_url = embedded.start()
    name = f"rs_bench_{secrets.token_hex(4)}"
    url = ensure_database(server_url, name)
    try:
        apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(database_url(server_url, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if embedded is not None:
            embedded.stop()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[web.Application, str]]:
    """The full web app on a free loopback port: the app and its base URL."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextmanager
def serving_process(env: Mapping[str, str], timeout: float = 30) -> Iterator[tuple[str, int]]:
    """`restosync serve` in a process of its own on a free loopback port: (base URL, pid).

    As in production, the server's heap holds only the server: not the bench's rows, whose
    garbage collections would otherwise be the server's.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    base = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "restosync"), "serve"]
    environment = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port)}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(  # noqa: S603 (our own command, no shell)
            command, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(base):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"restosync serve did not start: {log.read()[-3000:]!r}")
                time.sleep(0.1)
            yield base, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least `q` of all samples at
    or below it (p99 of 100 samples is the 99th smallest: one sample may be slower)."""
    if not samples or not 0 < q <= 1:
        raise ValueError("percentile of no samples, or q outside (0, 1]")
    ordered = sorted(samples)
    return ordered[math.ceil(q * len(ordered) - 1e-9) - 1]


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU a process has used so far (Linux `/proc`); None when unknown."""
    if pid is None:
        return None
    try:
        # After "(comm)": state, then fields 4-13; utime and stime are fields 14 and 15.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _healthy(base: str) -> bool:
    try:
        live = f"{base}/health/live"  # http on loopback, built above
        with urllib.request.urlopen(live, timeout=2) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except OSError:
        return False


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """`<cpu>, <n> cores, Python <version>`, for the first line of a benchmark's output."""
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"
