"""`restosync worker`: a `procrastinate worker` process, started again whenever it stops.

procrastinate 3.10 stops a worker when one of its side tasks loses the database (the
LISTEN connection, the heartbeat): it finishes its running jobs, unregisters once the
database answers again, and the process exits with status 0. Nothing restarts it
unless something supervises it. This supervisor does, with a backoff, so a database
restart or failover needs no operator; a platform supervisor (compose `restart:`,
systemd, Kubernetes) remains the safety net for the supervisor itself.

SIGTERM or SIGINT is passed on to the worker, which stops gracefully (its running jobs
finish); then the supervisor exits with the worker's status.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

logger = logging.getLogger(__name__)

WORKER_APP = "restosync.worker.app"


def worker_command(arguments: Sequence[str]) -> list[str]:
    """The `procrastinate worker` command line for this interpreter, with `arguments`."""
    return [sys.executable, "-m", "procrastinate", f"--app={WORKER_APP}", "worker", *arguments]


@dataclass
class Backoff:
    """Restart delays: `first` seconds, doubled on each quick exit, at most `longest`.

    A worker that ran for `healthy_after` seconds or more starts the series again.
    """

    first: float = 1.0
    longest: float = 30.0
    healthy_after: float = 60.0
    _next: float = 0.0

    def delay(self, ran_for: float) -> float:
        """Seconds to wait before starting again a worker that ran for `ran_for` seconds."""
        if ran_for >= self.healthy_after or self._next == 0.0:
            self._next = self.first
        current = self._next
        self._next = min(self._next * 2, self.longest)
        return current


class WorkerSupervisor:
    """Run `command` until asked to stop; start it again, after a backoff, when it exits."""

    def __init__(self, command: Sequence[str], backoff: Backoff | None = None) -> None:
        self.command = list(command)
        self.backoff = backoff or Backoff()
        self.restarts = 0
        self._stopping = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._signalled: subprocess.Popen[bytes] | None = None

    def run(self) -> int:
        """Supervise until SIGTERM/SIGINT; the worker's last exit status."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        status = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            # Its own session: a Ctrl-C in the terminal reaches the worker once, through us.
            self._child = subprocess.Popen(self.command, start_new_session=True)  # noqa: S603
            if self._stopping.is_set() and self._signalled is not self._child:
                self._child.send_signal(signal.SIGTERM)  # the signal came while it started
            status = _exit_status(self._child.wait())
            if self._stopping.is_set():
                break
            delay = self.backoff.delay(time.monotonic() - started)
            self.restarts += 1
            logger.warning(
                "worker exited (status %s); starting it again in %.1f s",
                status,
                delay,
                extra={"exit_status": status, "restart_delay_seconds": delay},
            )
            self._stopping.wait(delay)
        return status

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping.set()
        child = self._child
        if child is not None and child.poll() is None:
            self._signalled = child  # so `run` does not signal it a second time
            child.send_signal(signum)


def _exit_status(returncode: int) -> int:
    """A shell's exit status: a child killed by signal N is 128 + N."""
    return returncode if returncode >= 0 else 128 - returncode
