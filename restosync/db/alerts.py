"""Alert cooldown slots in `alert_state`: claim, count a suppressed repeat, release."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from restosync.db.pool import Connection
from restosync.db.queries import QUERIES

# vendor_key of alerts about no single vendor: part of the primary key, so not NULL.
# Vendor ids are 1..100 characters, so it cannot collide with one.
GLOBAL_VENDOR_KEY = ""


def vendor_key(vendor_id: str | None) -> str:
    """The key column's value for a vendor id (GLOBAL_VENDOR_KEY for none)."""
    return GLOBAL_VENDOR_KEY if vendor_id is None else vendor_id


async def claim_alert_slot(
    conn: Connection,
    *,
    alert_type: str,
    vendor_id: str | None,
    details: Mapping[str, Any],
    cooldown_seconds: float,
) -> datetime | None:
    """The claim's timestamp when this caller may send the alert; None while cooling down."""
    cur = await conn.execute(
        QUERIES["claim_alert_slot"],
        {
            "alert_type": alert_type,
            "vendor_key": vendor_key(vendor_id),
            "details": Jsonb(dict(details)),
            "cooldown_seconds": float(cooldown_seconds),
        },
    )
    row = await cur.fetchone()
    if row is None:
        return None
    claimed_at: datetime = row["claimed_at"]
    return claimed_at


async def count_suppressed_alert(
    conn: Connection, *, alert_type: str, vendor_id: str | None
) -> None:
    """Count one raise held back by the cooldown."""
    await conn.execute(
        QUERIES["count_suppressed_alert"],
        {"alert_type": alert_type, "vendor_key": vendor_key(vendor_id)},
    )


async def release_alert_slot(
    conn: Connection, *, alert_type: str, vendor_id: str | None, claimed_at: datetime
) -> bool:
    """Give back the claim made at `claimed_at`; False when a newer claim holds the slot."""
    cur = await conn.execute(
        QUERIES["release_alert_slot"],
        {"alert_type": alert_type, "vendor_key": vendor_key(vendor_id), "claimed_at": claimed_at},
    )
    return await cur.fetchone() is not None
