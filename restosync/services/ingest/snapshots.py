"""Full snapshots (SPEC §4.1): batch pages that together say which rows the ERP has.

Each page records every key it carried (ingest_batches.snapshot_keys). The commit of the
last page defers, in its own transaction, a job on queue `maintenance` that deactivates
(items, warehouses) or zeroes (stock) the vendor's active rows no page carried, unless
they are more than SNAPSHOT_MAX_REMOVAL_SHARE of its active rows (or the snapshot is
empty) and the last page did not say `force`. docs/ingest.md, "Full snapshots".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import JsonValue

from restosync import queue
from restosync.db import ingest as ingest_db
from restosync.db.ingest import SnapshotCounts
from restosync.db.pool import Connection, Pool, transaction
from restosync.errors import Conflict
from restosync.models.alerts import Alert, AlertType
from restosync.models.ingest import Entity, SnapshotPage
from restosync.services.alerts import Alerter
from restosync.services.ingest.pipeline import Outcome

logger = logging.getLogger(__name__)

SnapshotStatus = Literal["applied", "refused", "done_before"]
_MAX_LISTED_PAGES = 10


@dataclass(frozen=True, slots=True)
class SnapshotOutcome:
    """What the job did with one snapshot."""

    status: SnapshotStatus  # done_before: not pending any more (a retried job)
    counts: SnapshotCounts | None = None
    removed: int = 0
    refusal_reason: str | None = None


def snapshot_lock(vendor_id: str, entity: Entity) -> str:
    """procrastinate lock of the snapshot jobs of one vendor and entity: one at a time."""
    return f"ingest-snapshot:{vendor_id}:{entity}"


def page_keys(outcome: Outcome) -> list[str]:
    """Every key the page carried, whatever became of its row (sorted, distinct).

    A row sent is a row the ERP has, even if it failed here. Only invalid rows without a
    usable key are missing: they cannot name a stored row anyway.
    """
    keys = {c.key for c in outcome.landed}
    keys.update(outcome.skipped_keys)
    keys.update(r.key for r in outcome.rejections)
    return sorted(keys)


async def check_page(conn: Connection, vendor_id: str, entity: Entity, page: SnapshotPage) -> bool:
    """409 for a page the snapshot cannot take; True when it resends the completed last page.

    A last page needs pages 0..N before it committed. Once the last page committed, the
    snapshot is closed: only that same last page may come again (a retry after a lost
    answer), and it defers nothing.
    """
    state = await ingest_db.snapshot_state(conn, vendor_id, entity, page.id)
    done = state.completed_last_page
    if done is not None:
        if page.last and page.page == done:
            return True
        raise Conflict(
            f"Snapshot {page.id!r} of {entity} is complete (its last page, {done}, "
            "committed); send a new snapshot with a new id."
        )
    if page.last:
        missing = sorted(set(range(page.page)) - set(state.pages))
        if missing:
            listed = ", ".join(str(n) for n in missing[:_MAX_LISTED_PAGES])
            more = ", …" if len(missing) > _MAX_LISTED_PAGES else ""
            raise Conflict(
                f"Snapshot {page.id!r} of {entity}: pages {listed}{more} have not committed; "
                "send them before the last page."
            )
    return False


async def complete(
    conn: Connection,
    vendor_id: str,
    entity: Entity,
    page: SnapshotPage,
    correlation_id: str | None,
) -> None:
    """The last page commits: record the snapshot and defer its job, in this transaction."""
    created = await ingest_db.complete_snapshot(
        conn,
        vendor_id=vendor_id,
        entity=entity,
        snapshot_id=page.id,
        last_page=page.page,
        forced=page.force,
        correlation_id=correlation_id,
    )
    if not created:
        return  # the same last page, sent twice at once: the first one deferred the job
    await queue.app.configure_task(
        queue.TASK_APPLY_SNAPSHOT,
        connection=conn,
        queue=queue.QUEUE_MAINTENANCE,
        lock=snapshot_lock(vendor_id, entity),
    ).defer_async(
        vendor_id=vendor_id, entity=entity, snapshot_id=page.id, correlation_id=correlation_id
    )


async def apply_snapshot(
    pool: Pool,
    alerter: Alerter | None,
    max_removal_share: float,
    *,
    vendor_id: str,
    entity: Entity,
    snapshot_id: str,
) -> SnapshotOutcome:
    """Retire the rows a complete snapshot lacks, or refuse to; recorded in ingest_snapshots."""
    async with transaction(pool) as conn:
        pending = await ingest_db.lock_pending_snapshot(conn, vendor_id, entity, snapshot_id)
        if pending is None:
            return SnapshotOutcome("done_before")
        row_id, forced = pending
        counts = await ingest_db.count_missing_from_snapshot(conn, vendor_id, entity, snapshot_id)
        reason = None if forced else refusal_reason(counts, max_removal_share)
        removed = 0
        if reason is None and counts.missing_rows:
            removed = await ingest_db.retire_missing_from_snapshot(
                conn, vendor_id, entity, snapshot_id
            )
        outcome = SnapshotOutcome(
            "refused" if reason else "applied", counts, removed, refusal_reason=reason
        )
        await ingest_db.finish_snapshot(
            conn,
            row_id,
            status=outcome.status,
            sent_keys=counts.sent_keys,
            active_rows=counts.active_rows,
            missing_rows=counts.missing_rows,
            removed_rows=removed,
            max_removal_share=max_removal_share,
            refusal_reason=reason,
        )
    await _report(outcome, alerter, vendor_id, entity, snapshot_id, forced=forced)
    return outcome


def refusal_reason(counts: SnapshotCounts, max_removal_share: float) -> str | None:
    """Why a snapshot (not forced) must not be applied; None when it may."""
    if counts.active_rows == 0 or counts.missing_rows == 0:
        return None
    if counts.sent_keys == 0:
        return f"empty snapshot: it would retire all {counts.active_rows} active rows"
    if counts.missing_rows > max_removal_share * counts.active_rows:
        return (
            f"it would retire {counts.missing_rows} of {counts.active_rows} active rows, "
            f"more than SNAPSHOT_MAX_REMOVAL_SHARE={max_removal_share:g}"
        )
    return None


async def _report(
    outcome: SnapshotOutcome,
    alerter: Alerter | None,
    vendor_id: str,
    entity: Entity,
    snapshot_id: str,
    *,
    forced: bool,
) -> None:
    assert outcome.counts is not None
    fields: dict[str, JsonValue] = {
        "vendor_id": vendor_id,
        "entity": entity,
        "snapshot_id": snapshot_id,
        "forced": forced,
        "sent_keys": outcome.counts.sent_keys,
        "active_rows": outcome.counts.active_rows,
        "missing_rows": outcome.counts.missing_rows,
        "removed_rows": outcome.removed,
    }
    if outcome.status == "applied":
        logger.info("ingest snapshot applied", extra=fields)
        return
    logger.warning("ingest snapshot refused: %s", outcome.refusal_reason, extra=fields)
    if alerter is not None:
        await alerter.raise_alert(
            Alert(
                type=AlertType.SNAPSHOT_REFUSED,
                vendor_id=vendor_id,
                summary=f"{entity} snapshot refused: {outcome.refusal_reason}",
                details={k: v for k, v in fields.items() if k != "vendor_id"},
            )
        )
