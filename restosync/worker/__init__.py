"""Worker processes: `procrastinate --app=restosync.worker.app worker --queues=…`.

Importing this package registers every task on the shared App. `app` is configured
from the environment on first access, so importing has no other side effect.
"""

from __future__ import annotations

from typing import Any

import procrastinate

from restosync import queue
from restosync.errors import ConfigurationError
from restosync.logconfig import configure_logging
from restosync.settings import Settings, load_settings
from restosync.worker.ingest_tasks import ingest_tasks  # ingest (issue 4)
from restosync.worker.middleware import bind_correlation_id
from restosync.worker.order_tasks import order_tasks
from restosync.worker.reconciliation_tasks import reconciliation_tasks  # reconciliation (issue 6)
from restosync.worker.tasks import (  # schedules (issue 6)
    apply_schedules,
    check_schedules,
    maintenance_tasks,
)

queue.app.add_tasks_from(maintenance_tasks, namespace="maintenance")
queue.app.add_tasks_from(ingest_tasks, namespace="ingest")  # ingest (issue 4)
queue.app.add_tasks_from(order_tasks, namespace="orders")
queue.app.add_tasks_from(reconciliation_tasks, namespace="reconciliation")  # issue 6
_configured = False


def check_worker_settings(settings: Settings) -> None:
    """ConfigurationError for settings no worker could start with (PERIODIC_SCHEDULES),
    so that a command says so once, rather than each worker it starts failing on them."""
    check_schedules(queue.app, settings.PERIODIC_SCHEDULES)


def configure_worker_app(settings: Settings) -> procrastinate.App:
    """The shared App with every task registered and the worker defaults of `settings`."""
    queue.bind_settings(settings)
    options = queue.worker_options(settings)
    options["worker_middleware"] = [bind_correlation_id]
    options["additional_context"] = {"settings": settings}
    queue.app.worker_defaults = options
    apply_schedules(queue.app, settings.PERIODIC_SCHEDULES)  # maintenance (issue 6)
    queue.app.periodic_defaults = {"max_delay": settings.PERIODIC_CATCH_UP_SECONDS}
    return queue.app


def __getattr__(name: str) -> Any:
    if name != "app":
        raise AttributeError(name)
    global _configured
    if not _configured:
        try:
            settings = load_settings()
            configure_worker_app(settings)
        except ConfigurationError as exc:
            raise SystemExit(f"restosync worker: configuration error: {exc.detail}") from None
        configure_logging(settings.LOG_LEVEL, secrets=settings.secret_values())
        _configured = True
    return queue.app
