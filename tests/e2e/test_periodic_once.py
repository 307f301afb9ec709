"""Periodic tasks with two real worker processes: every tick of every task runs exactly once.

Both workers run procrastinate's periodic deferrer and both try to defer each tick;
procrastinate_periodic_defers is unique on (task, periodic_id, timestamp), so one wins.
PERIODIC_SCHEDULES puts every periodic task on a two-second cron (a sixth cron field
counts seconds) so that many ticks pass in a few seconds; production keeps SPEC §6's.
"""

from __future__ import annotations

from contextlib import ExitStack

import orjson
import procrastinate

from tests.orders import Conn
from tests.processes import running_worker
from tests.reference_agents import eventually

EVERY_TWO_SECONDS = "* * * * * */2"
TICKS = 3


def _periodic_ids(app: procrastinate.App) -> dict[str, str]:
    """{task name: periodic id} of every periodic task the workers run."""
    return dict(app.periodic_registry.periodic_tasks.keys())


async def _ticks_run(db: Conn) -> dict[str, int]:
    """Distinct periodic timestamps whose job succeeded, per task."""
    rows = await (
        await db.execute(
            "SELECT task_name, count(DISTINCT args ->> 'timestamp') AS ticks "
            "FROM procrastinate_jobs WHERE status = 'succeeded' AND args ? 'timestamp' "
            "GROUP BY task_name"
        )
    ).fetchall()
    return {row["task_name"]: int(row["ticks"]) for row in rows}


async def test_each_tick_runs_once_with_two_workers(
    queue_app: procrastinate.App, db: Conn, database_url: str
) -> None:
    periodic = _periodic_ids(queue_app)
    assert len(periodic) >= 7  # the SPEC §6 table
    schedules = orjson.dumps(dict.fromkeys(periodic.values(), EVERY_TWO_SECONDS)).decode()
    env = {"PERIODIC_SCHEDULES": schedules}

    async def every_task_ticked() -> bool:
        ticks = await _ticks_run(db)
        return all(ticks.get(name, 0) >= TICKS for name in periodic)

    with ExitStack() as workers:
        for _ in range(2):
            workers.enter_context(running_worker(database_url, env=env))
        alive = await (
            await db.execute("SELECT count(*) AS n FROM procrastinate_workers")
        ).fetchone()
        assert alive is not None
        assert alive["n"] == 2
        await eventually(every_task_ticked, within=40, interval=0.5)

    duplicates = await (
        await db.execute(
            "SELECT task_name, args ->> 'timestamp' AS tick, count(*) AS jobs "
            "FROM procrastinate_jobs WHERE args ? 'timestamp' "
            "GROUP BY 1, 2 HAVING count(*) > 1"
        )
    ).fetchall()
    assert duplicates == []
    failed = await (
        await db.execute(
            "SELECT task_name, status::text FROM procrastinate_jobs "
            "WHERE status NOT IN ('succeeded', 'todo', 'doing')"
        )
    ).fetchall()
    assert failed == []
    # The last deferral of each task is recorded once, for its latest tick.
    defers = await (
        await db.execute(
            "SELECT task_name, count(*) AS n FROM procrastinate_periodic_defers GROUP BY 1"
        )
    ).fetchall()
    assert {row["task_name"] for row in defers} == set(periodic)
    assert all(row["n"] == 1 for row in defers)
