"""`restosync worker`'s supervisor: backoff, restarts, and stopping on a signal (real
child processes, no database)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from restosync.supervisor import Backoff, worker_command
from tests.processes import BIN, process_env


def test_backoff_doubles_on_quick_exits_up_to_its_cap_and_starts_over_after_a_healthy_run() -> None:
    backoff = Backoff(first=1, longest=5, healthy_after=60)
    assert [backoff.delay(ran_for=0.5) for _ in range(5)] == [1, 2, 4, 5, 5]
    assert backoff.delay(ran_for=120) == 1
    assert backoff.delay(ran_for=1) == 2


def test_worker_command_runs_procrastinate_on_restosyncs_app() -> None:
    command = worker_command(["--queues=order-sync"])
    assert command[1:] == [
        "-m",
        "procrastinate",
        "--app=restosync.worker.app",
        "worker",
        "--queues=order-sync",
    ]


SUPERVISE = """
import sys
from restosync.supervisor import Backoff, WorkerSupervisor
child = [sys.executable, "-c", sys.argv[1]]
sys.exit(WorkerSupervisor(child, Backoff(first=0.05, longest=0.2)).run())
"""


def _supervise(child_code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", SUPERVISE, child_code])


def _wait_for_lines(path: Path, count: int, timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} lines in {path}")


def test_a_worker_that_exits_is_started_again(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    supervisor = _supervise(f"open({str(starts)!r}, 'a').write('start\\n')")
    try:
        assert len(_wait_for_lines(starts, 3)) >= 3
    finally:
        supervisor.send_signal(signal.SIGTERM)
        # The last child's status: 0, or killed by the forwarded SIGTERM if it was running.
        assert supervisor.wait(timeout=20) in (0, 128 + signal.SIGTERM)


def test_sigterm_reaches_the_worker_and_its_status_is_the_supervisors(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    child = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))\n"
        f"open({str(ready)!r}, 'w').write('up\\n')\n"
        "time.sleep(60)\n"
    )
    supervisor = _supervise(child)
    _wait_for_lines(ready, 1)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=20) == 3


def test_restosync_worker_without_a_database_names_the_variable() -> None:
    result = subprocess.run(
        [str(BIN / "restosync"), "worker"],
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "DATABASE_URL: not set" in result.stderr
