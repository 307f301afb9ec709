"""Periodic schedules: SPEC §6 by default; PERIODIC_SCHEDULES replaces them, validated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import restosync.worker  # noqa: F401 - registers every task on the shared App
from restosync import cli
from restosync.errors import ConfigurationError
from restosync.queue import app
from restosync.worker.tasks import apply_schedules

SPEC_SCHEDULES = {
    "maintenance:agent_health": "* * * * *",
    "maintenance:recover_stalled_jobs": "* * * * *",
    "maintenance:requeue_callback_timeouts": "* * * * *",
    "maintenance:dlq_alert": "*/15 * * * *",
    "maintenance:cleanup_sync_jobs": "0 2 * * *",
    "maintenance:cleanup_reconciliation_events": "0 3 * * 0",
    "maintenance:cleanup_resolved_dlq": "0 4 * * 6",
}


def _crons() -> dict[str, str]:
    return {name: task.cron for (name, _), task in app.periodic_registry.periodic_tasks.items()}


@pytest.fixture(autouse=True)
def _registered_schedules() -> Iterator[None]:
    apply_schedules(app, {})
    yield
    apply_schedules(app, {})


def test_defaults_are_the_spec_schedules() -> None:
    assert SPEC_SCHEDULES.items() <= _crons().items()


def test_overrides_replace_only_the_named_tasks_and_can_be_undone() -> None:
    apply_schedules(app, {"cleanup_sync_jobs": "30 3 * * *", "dlq_alert": "* * * * * */2"})
    crons = _crons()
    assert crons["maintenance:cleanup_sync_jobs"] == "30 3 * * *"
    assert crons["maintenance:dlq_alert"] == "* * * * * */2"
    assert crons["maintenance:agent_health"] == "* * * * *"

    apply_schedules(app, {})
    assert SPEC_SCHEDULES.items() <= _crons().items()


def test_unknown_periodic_id_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="PERIODIC_SCHEDULES: unknown periodic id nope"):
        apply_schedules(app, {"nope": "* * * * *"})


def test_invalid_cron_names_the_task() -> None:
    with pytest.raises(ConfigurationError, match="PERIODIC_SCHEDULES: dlq_alert: invalid cron"):
        apply_schedules(app, {"dlq_alert": "every day"})
    assert _crons()["maintenance:dlq_alert"] == "*/15 * * * *"


def test_drift_detection_is_hourly() -> None:
    assert _crons()["reconciliation:detect_drift"] == "0 * * * *"


def test_the_catch_up_window_is_the_periodic_deferrers_max_delay() -> None:
    from restosync.settings import load_settings
    from restosync.worker import configure_worker_app

    settings = load_settings(DATABASE_URL="postgresql://u@/db", PERIODIC_CATCH_UP_SECONDS=42)
    assert configure_worker_app(settings).periodic_defaults == {"max_delay": 42}
    with pytest.raises(ConfigurationError, match="PERIODIC_CATCH_UP_SECONDS"):
        load_settings(DATABASE_URL="postgresql://u@/db", PERIODIC_CATCH_UP_SECONDS=0)


def test_the_worker_command_refuses_a_bad_schedule_once_before_starting_workers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before, each supervised worker failed on it with a traceback, and was started again
    # every few seconds, forever.
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/never-reached")
    monkeypatch.setenv("PERIODIC_SCHEDULES", '{"nope": "* * * * *"}')
    started: list[object] = []
    monkeypatch.setattr(cli, "WorkerSupervisor", started.append)
    assert cli.main(["worker"]) == 2
    assert "configuration error: PERIODIC_SCHEDULES: unknown periodic id nope" in (
        capsys.readouterr().err
    )
    assert started == []


def test_up_refuses_a_bad_schedule_before_starting_a_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PERIODIC_SCHEDULES", '{"cleanup_sync_jobs": "every night"}')
    started: list[object] = []
    monkeypatch.setattr(cli, "EmbeddedPostgres", started.append)
    assert cli.main(["up", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "PERIODIC_SCHEDULES: cleanup_sync_jobs: invalid cron 'every night'" in err
    assert started == []
