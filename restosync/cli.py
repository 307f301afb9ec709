"""The `restosync` command."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from restosync import __version__
from restosync.agent.cli import add_agent_commands
from restosync.agent.demo import add_demo_command
from restosync.db.migrate import apply_migrations
from restosync.embedded import EmbeddedPostgres, ensure_database
from restosync.errors import ConfigurationError
from restosync.logconfig import configure_logging
from restosync.settings import Settings, load_settings
from restosync.supervisor import WorkerSupervisor, worker_command
from restosync.web.app import create_app
from restosync.web.middleware import AccessLogger
from restosync.worker import check_worker_settings, configure_worker_app
from restosync.worker.resources import close_resources

logger = logging.getLogger("restosync.cli")
EMBEDDED_DATABASE = "restosync"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except ConfigurationError as exc:
        print(f"restosync: configuration error: {exc.detail}", file=sys.stderr)
        return 2
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="restosync",
        description="Sync between vendors' ERPs and the RestoMarket marketplace. "
        "Configuration comes from environment variables (see .env.example).",
    )
    parser.add_argument("--version", action="version", version=f"restosync {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    migrate = commands.add_parser(
        "migrate",
        help="apply pending database migrations (idempotent)",
        description="Apply the pending SQL migrations to DATABASE_URL; safe to run repeatedly.",
    )
    migrate.set_defaults(run=_migrate)

    serve = commands.add_parser(
        "serve",
        help="run the web process",
        description="Serve the HTTP API on HOST:PORT. Needs DATABASE_URL, API_SECRET and "
        "AGENT_SECRET. Jobs are run by separate `procrastinate worker` processes.",
    )
    serve.set_defaults(run=_serve)

    up = commands.add_parser(
        "up",
        help="all-in-one for a laptop: database, migrations, web and worker",
        description="Without DATABASE_URL, start an embedded PostgreSQL with its data under "
        "--data-dir; migrate; serve the API and run a worker on every queue in this process. "
        "Generates and prints dev secrets when API_SECRET/AGENT_SECRET are unset. Ctrl-C "
        "stops everything, the embedded database included.",
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("RESTOSYNC_DATA_DIR", ".restosync")),
        help="folder for the embedded database and dev secrets (default: %(default)s; "
        "env RESTOSYNC_DATA_DIR)",
    )
    up.set_defaults(run=_up)
    _add_worker_command(commands)
    add_agent_commands(commands)
    add_demo_command(commands)
    return parser


def _add_worker_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    worker = commands.add_parser(
        "worker",
        help="run a supervised `procrastinate worker` (started again when it stops)",
        description="Run `procrastinate --app=restosync.worker.app worker` and start it again, "
        "with a backoff, whenever it exits (it does when the database goes away). SIGTERM "
        "or Ctrl-C stops it gracefully. See docs/faults.md.",
    )
    worker.add_argument(
        "--queues", help="comma-separated queues to take jobs from (default: every queue)"
    )
    worker.add_argument(
        "--concurrency", type=int, help="jobs run at once (default: procrastinate's)"
    )
    worker.set_defaults(run=_worker)


def _worker(args: argparse.Namespace) -> int:
    settings = load_settings()  # a bad value stops here, naming the variable
    settings.database_url  # noqa: B018 - required: raises when DATABASE_URL is unset
    check_worker_settings(settings)  # once, not by each worker started (again, forever)
    configure_logging(settings.LOG_LEVEL, secrets=settings.secret_values())
    arguments = [f"--queues={args.queues}"] if args.queues else []
    if args.concurrency is not None:
        arguments.append(f"--concurrency={args.concurrency}")
    return WorkerSupervisor(worker_command(arguments)).run()


def _migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.LOG_LEVEL, secrets=settings.secret_values())
    applied = apply_migrations(settings.database_url)
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    settings.require_secrets()
    configure_logging(settings.LOG_LEVEL, secrets=settings.secret_values())
    _run(settings, all_in_one=False)
    return 0


def _up(args: argparse.Namespace) -> int:
    settings = load_settings()
    check_worker_settings(settings)  # before starting a database and the web process
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, object] = _dev_secrets(settings, data_dir)
    embedded = None
    if settings.DATABASE_URL is None:
        embedded = EmbeddedPostgres(data_dir / "pgdata")
        overrides["DATABASE_URL"] = ensure_database(embedded.start(), EMBEDDED_DATABASE)
    try:
        settings = load_settings(**overrides)
        configure_logging(settings.LOG_LEVEL, secrets=settings.secret_values())
        apply_migrations(settings.database_url)
        _print_banner(settings, data_dir, embedded is not None, sorted(overrides))
        _run(settings, all_in_one=True)
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _run(settings: Settings, *, all_in_one: bool) -> None:
    app = create_app(
        settings,
        worker_app_factory=configure_worker_app if all_in_one else None,
        worker_shutdown=close_resources if all_in_one else None,
    )
    app.on_startup.append(_freeze_heap)
    web.run_app(
        app,
        host=settings.HOST,
        port=settings.PORT,
        access_log_class=AccessLogger,
        print=None,
        shutdown_timeout=10,
    )


async def _freeze_heap(app: web.Application) -> None:
    """Leave what start-up made (modules, pydantic schemas, pools) out of every collection.

    A full collection walks every tracked object: with the start-up heap in it, each took
    tens of ms in the middle of a request (the 500-item ingest p99). Request garbage is
    still collected as before.
    """
    gc.collect()
    gc.freeze()


def _dev_secrets(settings: Settings, data_dir: Path) -> dict[str, object]:
    """Dev values for unset secrets, kept in the data folder so agents survive a restart."""
    path = data_dir / "dev-secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    generated = False
    for name in ("API_SECRET", "AGENT_SECRET"):
        if name not in stored:
            stored[name] = secrets.token_urlsafe(32)
            generated = True
    if generated:
        path.touch(mode=0o600)
        path.write_text(json.dumps(stored, indent=2))
    return {name: value for name, value in stored.items() if getattr(settings, name, None) is None}


def _print_banner(
    settings: Settings, data_dir: Path, embedded: bool, overridden: list[str]
) -> None:
    where = f"embedded PostgreSQL in {data_dir / 'pgdata'}" if embedded else "DATABASE_URL"
    lines = [
        f"restosync {__version__} is up: http://{settings.HOST}:{settings.PORT}",
        f"  health:      http://{settings.HOST}:{settings.PORT}/health",
        f"  openapi:     http://{settings.HOST}:{settings.PORT}/api/openapi.json",
        f"  database:    {where}",
    ]
    if "API_SECRET" in overridden:
        lines.append(f"  API_SECRET   (X-API-Key, dev value): {settings.API_SECRET}")
    if "AGENT_SECRET" in overridden:
        lines.append(f"  AGENT_SECRET (agent enrolment, dev value): {settings.AGENT_SECRET}")
    lines.append("Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
