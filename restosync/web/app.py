"""The aiohttp application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import procrastinate
from aiohttp import web

from restosync import queue as shared_queue
from restosync.db.notifications import listen
from restosync.db.pool import create_pool, open_pool
from restosync.queue import QUEUES
from restosync.services.agent_auth import CREDENTIALS_CHANNEL, AgentAuthenticator
from restosync.services.mappings import MAPPINGS_CHANNEL, MappingResolver
from restosync.services.metrics import HttpMetrics
from restosync.services.ratelimit import RateLimiter, limits_from
from restosync.settings import Settings
from restosync.supervisor import Backoff
from restosync.web import auth, middleware, problems
from restosync.web.keys import (
    AGENT_AUTH,
    HTTP_METRICS,
    MAPPING_RESOLVER,
    OPENAPI_DOCUMENT,
    POOL,
    QUEUE_APP,
    RATE_LIMITER,
    RATE_LIMITS,
    ROUTE_TABLE,
    SETTINGS,
)
from restosync.web.openapi import render_openapi
from restosync.web.routes import ROUTES, add_routes

logger = logging.getLogger(__name__)

# Largest body any endpoint accepts (batch ingest, SPEC §3.1); endpoints check their own.
MAX_BODY_BYTES = 10 * 1024 * 1024

WorkerAppFactory = Callable[[Settings], procrastinate.App]


def create_app(
    settings: Settings,
    *,
    worker_app_factory: WorkerAppFactory | None = None,
    worker_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> web.Application:
    """The web application.

    With `worker_app_factory` (which returns the shared App with its tasks registered),
    it also runs a worker on every queue in this process: the all-in-one mode of `up`.
    """
    app = web.Application(
        middlewares=[
            middleware.correlation_middleware,
            middleware.metrics_middleware,
            problems.problem_middleware,
            middleware.cors_middleware,
            auth.access_middleware,
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SETTINGS] = settings
    app[HTTP_METRICS] = HttpMetrics()
    app[OPENAPI_DOCUMENT] = render_openapi(ROUTES)
    app[RATE_LIMITS] = limits_from(settings)
    app[ROUTE_TABLE] = add_routes(app)
    app.on_response_prepare.append(middleware.add_standard_headers)
    app.cleanup_ctx.append(_database_pool)
    app.cleanup_ctx.append(_agent_credentials)
    app.cleanup_ctx.append(_mapping_resolver)
    app.cleanup_ctx.append(_queue_app(worker_app_factory, worker_shutdown))
    return app


async def _database_pool(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    pool = create_pool(settings.database_url, max_size=settings.DATABASE_POOL_MAX, name="web")
    await open_pool(pool)
    app[POOL] = pool
    app[RATE_LIMITER] = RateLimiter(pool, enabled=settings.RATE_LIMITS_ENABLED)
    yield
    await pool.close()


async def _mapping_resolver(app: web.Application) -> AsyncIterator[None]:
    """The ERP code resolver, and the feed that drops its cache in every process."""
    resolver = MappingResolver(app[POOL], app[SETTINGS])
    app[MAPPING_RESOLVER] = resolver
    async with _feed(app, MAPPINGS_CHANNEL, resolver.forget_vendor, resolver.set_listening):
        yield


@contextlib.asynccontextmanager
async def _feed(
    app: web.Application,
    channel: str,
    on_notify: Callable[[str], None],
    on_state: Callable[[bool], None],
) -> AsyncIterator[None]:
    """LISTEN on `channel` in the background for the lifetime of the block."""
    task = asyncio.create_task(
        listen(app[SETTINGS].database_url, channel, on_notify=on_notify, on_state=on_state),
        name=f"feed-{channel}",
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _agent_credentials(app: web.Application) -> AsyncIterator[None]:
    """The token verifier, and the feed that revokes its cache in every process."""
    authenticator = await asyncio.to_thread(AgentAuthenticator, app[POOL], app[SETTINGS])
    app[AGENT_AUTH] = authenticator
    async with _feed(app, CREDENTIALS_CHANNEL, authenticator.forget, authenticator.set_listening):
        yield


def _queue_app(
    worker_app_factory: WorkerAppFactory | None,
    worker_shutdown: Callable[[], Awaitable[None]] | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def queue_app(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        if worker_app_factory is not None:
            queue = worker_app_factory(settings)
        else:
            shared_queue.bind_settings(settings)
            queue = shared_queue.app
        await queue.open_async()
        app[QUEUE_APP] = queue
        worker = None
        if worker_app_factory is not None:
            worker = asyncio.create_task(_run_worker(queue, settings), name="embedded-worker")
        yield
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            if worker_shutdown is not None:
                await worker_shutdown()
        await queue.close_async()

    return queue_app


async def _run_worker(queue: procrastinate.App, settings: Settings) -> None:
    """All-in-one mode: one worker on every queue, started again whenever it stops.

    procrastinate stops a worker, without raising, when its database connection drops
    (docs/faults.md); this loop is the worker's supervisor in `up`, with the backoff
    of `restosync worker`. Only cancellation (the app shutting down) ends it.
    """
    loop = asyncio.get_running_loop()
    backoff = Backoff()
    while True:
        started = loop.time()
        try:
            await queue.run_worker_async(
                queues=list(QUEUES),
                concurrency=settings.ORDER_SYNC_CONCURRENCY,
                install_signal_handlers=False,
                name="embedded",
            )
            reason = "stopped"
        except Exception:
            logger.exception("embedded worker failed")
            reason = "failed"
        delay = backoff.delay(loop.time() - started)
        logger.warning("embedded worker %s; starting it again in %.1f s", reason, delay)
        await asyncio.sleep(delay)
