"""Repository of circuit_breakers: the shared view of every worker process's breakers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import orjson

from restosync.db.pool import Connection
from restosync.db.queries import QUERIES
from restosync.models.breakers import BreakerView

BREAKERS_CHANNEL = "restosync_breakers"


class BreakerState(NamedTuple):
    """One breaker's state as a process saw it change."""

    vendor_id: str
    api_type: str
    state: str
    failure_count: int
    opened_at: datetime | None


async def record(conn: Connection, states: Sequence[BreakerState]) -> None:
    """Upsert the latest state of each breaker (one row per vendor and API type)."""
    latest = {(s.vendor_id, s.api_type): s for s in states}
    if not latest:
        return
    rows = list(latest.values())
    await conn.execute(
        QUERIES["record_breaker_states"],
        {
            "vendor_ids": [s.vendor_id for s in rows],
            "api_types": [s.api_type for s in rows],
            "states": [s.state for s in rows],
            "failure_counts": [s.failure_count for s in rows],
            "opened_ats": [s.opened_at for s in rows],
        },
    )


async def views(conn: Connection) -> list[BreakerView]:
    """Every breaker reported, the ones not closed first."""
    cur = await conn.execute(QUERIES["breaker_views"])
    return [BreakerView.model_validate(row) for row in await cur.fetchall()]


async def reset(conn: Connection, vendor_id: str, api_type: str | None) -> list[BreakerView]:
    """Close breakers in the shared view and NOTIFY every process (at commit)."""
    params = {"vendor_id": vendor_id, "api_type": api_type}
    cur = await conn.execute(QUERIES["reset_breakers"], params)
    closed = [BreakerView.model_validate(row) for row in await cur.fetchall()]
    payload = orjson.dumps({"vendorId": vendor_id, "apiType": api_type}).decode()
    await conn.execute(QUERIES["notify_breaker_reset"], {"payload": payload})
    return closed
