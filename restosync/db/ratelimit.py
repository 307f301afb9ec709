"""Rate-limit counters in `rate_limit_counters` (sliding-window counter, one row per key)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from restosync.db.pool import Connection
from restosync.db.queries import QUERIES


@dataclass(frozen=True, slots=True)
class HitOutcome:
    """What one counted request did to its counter."""

    accepted: bool
    # Seconds until a request of this key is accepted again; None when accepted.
    retry_after_seconds: float | None
    current_count: int
    previous_count: int
    rejected_count: int
    window_start: datetime


async def hit(
    conn: Connection,
    *,
    limit_name: str,
    identity: str,
    window_limit: int,
    window_seconds: int = 60,
    at: datetime | None = None,
) -> HitOutcome:
    """Count one request of (limit_name, identity) unless it passes window_limit; one statement.

    `at` replaces the database clock (tests); None means the database's now().
    """
    cur = await conn.execute(
        QUERIES["hit_rate_limit"],
        {
            "limit_name": limit_name,
            "identity": identity,
            "window_limit": window_limit,
            "window_seconds": window_seconds,
            "at": at,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return HitOutcome(**row)


async def prune(conn: Connection) -> int:
    """Delete the counters whose windows are all over; return how many."""
    cur = await conn.execute(QUERIES["prune_rate_limits"])
    row = await cur.fetchone()
    assert row is not None
    return int(row["pruned"])
