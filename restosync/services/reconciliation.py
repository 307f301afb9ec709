"""Reconciliation runs (SPEC §6.1): compare, repair through the ingest pipeline, log events.

Per vendor, items then stock (stock rows need their items): `reconciliation_compare`
finds the drifted keys; changed rows and rows missing in Postgres are fetched from the
agent and run through the ingest pipeline (`run_rows`: validation, mapping, the agent's
own content hash, stale-data rule), rows missing in the ERP get a synthesized tombstone
through the same pipeline (deactivated items, also flagged obsolete; zeroed stock). The
ERP wins; rows the pipeline rejects (e.g. unmapped codes) are listed in the event and
kept in ingest_rejections like any pushed row, so a new mapping replays them.

Writes: nothing while comparing. Fixes are applied after the comparison, one
transaction per batch (`fetch_batch` fetched rows, or `apply_batch` tombstones). An
agent failure while comparing leaves Postgres unchanged; one while fetching leaves the
batches applied before it (each a correct ERP state) and nothing of the others. Either
way an `error` event says where it stopped; a run never ends silently as "no drift".

Events per entity: `full_checksum` (equal), or `drift_detected` then `drift_resolved`
(or `error`). `reconciliation_drift` is alerted when a run found drift.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from restosync.db import reconciliation as reconciliation_db
from restosync.db.pool import Connection, Pool, transaction
from restosync.db.reconciliation import RangeSummary, StoredKey
from restosync.logconfig import correlation_id_var, new_correlation_id
from restosync.models.alerts import Alert, AlertType
from restosync.models.ingest import IngestResult
from restosync.models.reconciliation import EventType, ReconciledEntity
from restosync.outbound.agents import AgentCallFailed, AgentTarget, HttpSession
from restosync.services.alerts import Alerter
from restosync.services.breakers import BreakerRegistry
from restosync.services.ingest.context import CodeResolver, IngestContext
from restosync.services.ingest.pipeline import SPECS
from restosync.services.ingest.service import run_rows
from restosync.services.reconciliation_compare import AgentSide, Drift, Tuning, compare
from restosync.settings import Settings

logger = logging.getLogger(__name__)

ENTITIES: tuple[ReconciledEntity, ...] = ("items", "stock")
MAX_LISTED_KEYS = 100
# The content hash of a synthesized tombstone: what every deletion stores (sql/0012).
DELETED_HASH = "deleted"
UNREACHABLE = frozenset({"offline", "deregistered"})


@dataclass(slots=True)
class Fixes:
    """What the pipeline did with the repairs of one entity."""

    fetched: int = 0
    gone: int = 0  # asked for, but no longer in the ERP when fetched
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def add(self, result: IngestResult) -> None:
        """Count one pipeline run."""
        self.processed += result.processed
        self.skipped += result.skipped
        self.failed += result.failed
        for row in result.results:
            if row.status == "failed" and len(self.rejected) < MAX_LISTED_KEYS:
                self.rejected.append({"key": row.identifier, "reason": row.reason})

    def summary(self) -> dict[str, Any]:
        """As recorded in the event."""
        return {
            "fetched": self.fetched,
            "goneBeforeFetch": self.gone,
            "processed": self.processed,
            "skipped": self.skipped,
            "failed": self.failed,
            "rejected": self.rejected,
        }


@dataclass(frozen=True, slots=True)
class EntityOutcome:
    """How one entity's reconciliation ended."""

    entity: ReconciledEntity
    event_type: EventType  # the last event written
    drifted: int = 0
    fixes: Fixes | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """A vendor's run: per entity, and the agent calls it made."""

    vendor_id: str
    entities: list[EntityOutcome]
    agent_calls: int

    @property
    def failed(self) -> bool:
        """Some entity ended with an error event."""
        return any(e.event_type == "error" for e in self.entities)


@dataclass(frozen=True, slots=True)
class _Run:
    """What every step of one run shares."""

    pool: Pool
    resolver: CodeResolver
    agent: AgentSide
    vendor_id: str
    tuning: Tuning
    correlation_id: str | None
    started: float = field(default_factory=time.perf_counter)

    def elapsed_ms(self) -> int:
        """Milliseconds since the step started."""
        return round((time.perf_counter() - self.started) * 1000)


def tuning_of(settings: Settings) -> Tuning:
    """The narrowing parameters of the settings."""
    return Tuning(
        leaf_rows=settings.RECONCILIATION_LEAF_ROWS, fanout=settings.RECONCILIATION_FANOUT
    )


async def reconcile_vendor(
    pool: Pool,
    http: HttpSession,
    settings: Settings,
    resolver: CodeResolver,
    vendor_id: str,
    *,
    breakers: BreakerRegistry | None = None,
    alerter: Alerter | None = None,
    tuning: Tuning | None = None,
    correlation_id: str | None = None,
) -> RunOutcome:
    """Reconcile a vendor's items and stock with its agent (see the module docstring)."""
    correlation_id = correlation_id or correlation_id_var.get() or new_correlation_id()
    async with transaction(pool) as conn:
        target = await reconciliation_db.target(
            conn,
            vendor_id,
            degraded_seconds=settings.HEARTBEAT_DEGRADED_SECONDS,
            offline_seconds=settings.HEARTBEAT_OFFLINE_SECONDS,
        )
        if target is None or target.agent_health in UNREACHABLE:
            why = "no agent registered" if target is None else f"agent {target.agent_health}"
            summary = {"agentCalls": 0}
            details = f"{why}: no call made"
            await _record(conn, vendor_id, "error", None, summary, correlation_id, details, 0)
            logger.error("reconciliation skipped: %s", why, extra={"vendor_id": vendor_id})
            return RunOutcome(vendor_id, [], 0)
    agent_target = AgentTarget(
        target.agent_url,
        target.outbound_secret,
        correlation_id,
        settings.AGENT_CALL_TIMEOUT_SECONDS,
    )
    agent = AgentSide(pool, http, vendor_id, agent_target, breakers, alerter)
    outcomes = []
    for entity in ENTITIES:
        run = _Run(pool, resolver, agent, vendor_id, tuning or tuning_of(settings), correlation_id)
        outcomes.append(await _reconcile_entity(run, entity))
    outcome = RunOutcome(vendor_id, outcomes, agent.calls)
    await _alert_drift(alerter, outcome)
    return outcome


async def _reconcile_entity(run: _Run, entity: ReconciledEntity) -> EntityOutcome:
    """Compare, then repair; every way out writes its event."""
    calls_before = run.agent.calls
    stage, fixes, drifted = "compare", None, 0
    try:
        comparison = await compare(run.pool, run.agent, run.vendor_id, entity, run.tuning)
        sides = _sides(comparison.postgres, comparison.agent)
        if comparison.drift is None:
            summary = {**sides, "agentCalls": run.agent.calls - calls_before}
            await _record_alone(run, "full_checksum", entity, summary)
            return EntityOutcome(entity, "full_checksum")
        drift = comparison.drift
        drifted = drift.total
        detected = {
            **sides,
            **_drift_summary(drift),
            "rangesCompared": comparison.ranges_compared,
            "leaves": comparison.leaves,
            "agentCalls": run.agent.calls - calls_before,
        }
        await _record_alone(run, "drift_detected", entity, detected)
        stage, fixes = "repair", Fixes()
        await _repair(run, entity, drift, fixes)
        return await _resolved(run, entity, drift, fixes, calls_before)
    except AgentCallFailed as exc:
        return await _failed(run, entity, stage, exc, calls_before, fixes, drifted)
    except Exception as exc:
        await _failed(run, entity, stage, exc, calls_before, fixes, drifted)
        raise


async def _resolved(
    run: _Run, entity: ReconciledEntity, drift: Drift, fixes: Fixes, calls_before: int
) -> EntityOutcome:
    after = await _checksums_after(run, entity)
    summary = {
        **_drift_summary(drift),
        "fixes": fixes.summary(),
        "after": after,
        "agentCalls": run.agent.calls - calls_before,
    }
    await _record_alone(run, "drift_resolved", entity, summary)
    logger.warning(
        "reconciliation repaired drift",
        extra={
            "vendor_id": run.vendor_id,
            "entity": entity,
            "drifted": drift.total,
            "processed": fixes.processed,
            "failed": fixes.failed,
        },
    )
    return EntityOutcome(entity, "drift_resolved", drift.total, fixes)


async def _repair(run: _Run, entity: ReconciledEntity, drift: Drift, fixes: Fixes) -> None:
    """Fetch and apply the ERP's rows, then retire the rows the ERP no longer has."""
    wanted = sorted([*drift.changed, *drift.missing_in_postgres], key=str.encode)
    spec = SPECS[entity]
    for keys in _batches(wanted, run.tuning.fetch_batch):
        asked = set(keys)
        rows = [
            row
            for row in await run.agent.rows(entity, keys)
            if isinstance(row, dict) and spec.raw_key(row) in asked
        ]
        fixes.fetched += len(rows)
        fixes.gone += len(asked) - len({spec.raw_key(row) for row in rows})
        await _apply(run, entity, rows, fixes)
    tombstones = [_tombstone(entity, row) for row in drift.missing_in_erp]
    for batch in _batches(tombstones, run.tuning.apply_batch):
        await _apply(run, entity, batch, fixes, obsolete=entity == "items")


async def _apply(
    run: _Run,
    entity: ReconciledEntity,
    rows: list[dict[str, Any]],
    fixes: Fixes,
    *,
    obsolete: bool = False,
) -> None:
    if not rows:
        return
    async with transaction(run.pool) as conn:
        ctx = IngestContext(conn, run.vendor_id, run.resolver, run.correlation_id)
        # check_nul: agent answers are not the web layer's; NUL would fail the transaction.
        outcome = await run_rows(ctx, entity, rows, check_nul=True)
        if obsolete:
            retired = [c.key for c in outcome.landed]
            await reconciliation_db.mark_items_obsolete(conn, run.vendor_id, retired)
    fixes.add(outcome.result())


def _tombstone(entity: ReconciledEntity, row: StoredKey) -> dict[str, Any]:
    """`deleted: true` for a row gone from the ERP, as of the version stored (never stale)."""
    common = {
        "deleted": True,
        "contentHash": DELETED_HASH,
        "lastSyncedAt": row.last_synced_at.isoformat(),
    }
    if entity == "items":
        return {"sku": row.key, **common}
    return {"itemSku": row.item_sku, "erpWarehouseId": row.erp_warehouse_id, **common}


async def _checksums_after(run: _Run, entity: ReconciledEntity) -> dict[str, Any]:
    """Both whole-space checksums after the repair (equal unless rows were rejected)."""
    try:
        theirs = await run.agent.checksum(entity, (None, None))
    except AgentCallFailed as exc:
        return {"verified": None, "error": exc.detail}
    async with transaction(run.pool) as conn:
        ours = await reconciliation_db.checksum(conn, run.vendor_id, entity)
    return {**_sides(ours, theirs), "verified": ours == theirs}


async def _failed(
    run: _Run,
    entity: ReconciledEntity,
    stage: str,
    exc: Exception,
    calls_before: int,
    fixes: Fixes | None = None,
    drifted: int = 0,
) -> EntityOutcome:
    if isinstance(exc, AgentCallFailed):
        message = exc.detail
    else:
        message = f"internal error: {type(exc).__name__}"
    summary: dict[str, Any] = {"stage": stage, "agentCalls": run.agent.calls - calls_before}
    if isinstance(exc, AgentCallFailed):
        summary.update(path=exc.path, httpStatus=exc.http_status)
    if fixes is not None:
        summary["fixesBeforeFailure"] = fixes.summary()
    try:
        await _record_alone(run, "error", entity, summary, details=f"{stage}: {message}")
    except Exception:
        logger.exception("could not record a reconciliation error event")
    logger.error(
        "reconciliation failed: %s",
        message,
        extra={"vendor_id": run.vendor_id, "entity": entity, "stage": stage},
    )
    return EntityOutcome(entity, "error", drifted, fixes, message)


def _sides(ours: RangeSummary, theirs: RangeSummary) -> dict[str, Any]:
    return {
        "postgres": {"checksum": ours.checksum, "count": ours.count},
        "agent": {"checksum": theirs.checksum, "count": theirs.count},
    }


def _drift_summary(drift: Drift) -> dict[str, Any]:
    gone = [row.key for row in drift.missing_in_erp]
    return {
        "drifted": {
            "total": drift.total,
            "changed": len(drift.changed),
            "missingInPostgres": len(drift.missing_in_postgres),
            "missingInErp": len(gone),
        },
        "driftedKeys": {
            "changed": _listed(drift.changed),
            "missingInPostgres": _listed(drift.missing_in_postgres),
            "missingInErp": _listed(gone),
        },
    }


def _listed(keys: list[str]) -> list[str]:
    return sorted(keys, key=str.encode)[:MAX_LISTED_KEYS]


def _batches(values: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


async def _record_alone(
    run: _Run,
    event_type: EventType,
    entity: ReconciledEntity | None,
    summary: dict[str, Any],
    *,
    details: str | None = None,
) -> None:
    async with transaction(run.pool) as conn:
        await _record(
            conn,
            run.vendor_id,
            event_type,
            entity,
            summary,
            run.correlation_id,
            details,
            run.elapsed_ms(),
        )


async def _record(
    conn: Connection,
    vendor_id: str,
    event_type: EventType,
    entity: ReconciledEntity | None,
    summary: dict[str, Any],
    correlation_id: str | None,
    details: str | None,
    duration_ms: int,
) -> None:
    await reconciliation_db.record_event(
        conn,
        vendor_id=vendor_id,
        event_type=event_type,
        entity=entity,
        summary=summary,
        details=details,
        duration_ms=duration_ms,
        correlation_id=correlation_id,
    )


async def _alert_drift(alerter: Alerter | None, outcome: RunOutcome) -> None:
    drifted = {e.entity: e.drifted for e in outcome.entities if e.drifted}
    if alerter is None or not drifted:
        return
    total = sum(drifted.values())
    await alerter.raise_alert(
        Alert(
            type=AlertType.RECONCILIATION_DRIFT,
            vendor_id=outcome.vendor_id,
            summary=f"Reconciliation found {total} drifted rows for vendor {outcome.vendor_id}",
            details={"drifted": drifted, "agentCalls": outcome.agent_calls},  # type: ignore[dict-item]
        )
    )
