"""LISTEN on a channel with a dedicated connection, reconnecting until cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

RECONNECT_DELAY_SECONDS = (0.5, 1.0, 2.0, 5.0)
KEEPALIVE_SECONDS = 15.0


async def listen(
    conninfo: str,
    channel: str,
    on_notify: Callable[[str], None],
    on_state: Callable[[bool], None],
) -> None:
    """Call `on_notify(payload)` for every NOTIFY; `on_state(listening)` as the feed comes and goes.

    Runs until cancelled. Between a lost connection and the next successful LISTEN,
    notifications may be missed, which is why callers are told through `on_state`.
    """
    failures = 0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, connect_timeout=5
            ) as conn:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                on_state(True)
                failures = 0
                while True:
                    async for notify in conn.notifies(timeout=KEEPALIVE_SECONDS):
                        on_notify(notify.payload)
                    # Quiet for a while: prove the connection is alive (a dead one raises).
                    await conn.execute("SELECT 1")
        except asyncio.CancelledError:
            on_state(False)
            raise
        except psycopg.Error as exc:
            on_state(False)
            delay = RECONNECT_DELAY_SECONDS[min(failures, len(RECONNECT_DELAY_SECONDS) - 1)]
            failures += 1
            logger.warning(
                "LISTEN %s lost (%s); retrying in %.1f s", channel, type(exc).__name__, delay
            )
            await asyncio.sleep(delay)
