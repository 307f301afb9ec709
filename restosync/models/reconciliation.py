"""Reconciliation (SPEC §5.3, §6.1): what agents answer, events, and the admin endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from restosync.models.base import WireModel, examples

ReconciledEntity = Literal["items", "stock"]
EventType = Literal["full_checksum", "drift_detected", "drift_resolved", "error"]
VendorId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Checksum = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# Keys and hashes as an agent sends them; the ingest pipeline validates rows further.
WireKey = Annotated[str, StringConstraints(min_length=1, max_length=201)]
WireHash = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AgentChecksum(WireModel):
    """`/sync/checksum` answer: SHA-256 of `key:contentHash` joined by `|`, and the row count."""

    checksum: Checksum
    count: int = Field(ge=0)


class ManifestEntry(WireModel):
    """One row of a `/sync/manifest` answer."""

    key: WireKey
    content_hash: WireHash


class TriggerReconciliation(WireModel):
    """`POST /api/admin/reconciliation/trigger`: one vendor, or every active vendor."""

    model_config = examples({"vendorId": "vendor-1"}, {})

    vendor_id: VendorId | None = Field(
        default=None, description="Vendor to reconcile; every active vendor when absent."
    )


class DeferredRun(WireModel):
    """A reconciliation job deferred for one vendor."""

    vendor_id: str
    job_id: int | None = Field(
        description="procrastinate job id; null when a run of this vendor is already queued."
    )


class TriggerResult(WireModel):
    """What a trigger deferred."""

    deferred: list[DeferredRun]


class EventFilter(WireModel):
    """Filters of the reconciliation event log."""

    vendor_id: VendorId | None = None
    event_type: EventType | None = None


class ReconciliationEvent(WireModel):
    """One entry of `reconciliation_events`."""

    id: int
    vendor_id: str
    event_type: EventType
    entity: ReconciledEntity | None
    summary: dict[str, Any] = Field(
        description="Checksums and counts of both sides, drifted keys, fixes, agent calls."
    )
    details: str | None
    timestamp: datetime
    duration_ms: int | None
    correlation_id: str | None
