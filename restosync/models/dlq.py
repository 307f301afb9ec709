"""Admin views of sync jobs and dead letters, and the DLQ actions (SPEC §3.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from restosync.models.base import WireModel, examples
from restosync.models.orders import SyncJobStatus

VendorId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Operation = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,49}$")]


class SyncJobFilter(WireModel):
    """Filters of the sync job list."""

    vendor_id: VendorId | None = None
    status: SyncJobStatus | None = None
    operation: Operation | None = None


class SyncJobStatusView(WireModel):
    """Where one sync job stands (GET /api/admin/sync-status/{jobId})."""

    id: UUID = Field(description="Sync job id: the Idempotency-Key sent to the agent.")
    vendor_id: str
    operation: str
    status: SyncJobStatus
    attempts: int
    max_attempts: int
    next_retry_at: datetime | None
    error_message: str | None
    erp_reference: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class SyncJobView(SyncJobStatusView):
    """A sync job with what it sends and which queue job runs it."""

    order_id: UUID | None
    procrastinate_job_id: int | None
    correlation_id: str | None
    error_stack: str | None
    payload: dict[str, Any]


class DlqFilter(WireModel):
    """Filters of the dead-letter list: open entries unless `resolved=true`."""

    vendor_id: VendorId | None = None
    operation: Operation | None = None
    resolved: bool = False


class DlqEntry(WireModel):
    """Work that failed for good, with enough to re-run it."""

    id: UUID
    original_job_id: UUID | None
    procrastinate_job_id: int | None
    task_name: str
    queue: str
    vendor_id: str
    operation: str
    payload: dict[str, Any]
    failure_reason: str
    failure_stack: str | None
    attempt_count: int
    last_attempt_at: datetime | None
    resolved: bool
    resolved_at: datetime | None
    resolved_by: str | None = Field(description="Fingerprint of the admin key (never the key).")
    resolution: Literal["retried", "resolved"] | None
    retry_job_id: UUID | None = Field(description="The sync job created by the retry.")
    created_at: datetime


class DlqRetried(WireModel):
    """One dead letter re-enqueued."""

    entry_id: UUID
    vendor_id: str
    retry_job_id: UUID = Field(description="The new sync job.")
    procrastinate_job_id: int


class BulkRetry(WireModel):
    """Which open dead letters to retry; every given filter must match."""

    model_config = examples(
        {
            "vendorId": "vendor-1",
            "operation": "create_order",
            "since": "2026-11-30T00:00:00Z",
            "until": "2026-12-01T00:00:00Z",
        }
    )

    vendor_id: VendorId | None = None
    operation: Operation | None = None
    since: datetime | None = Field(default=None, description="Entries created at or after.")
    until: datetime | None = Field(default=None, description="Entries created before.")

    @model_validator(mode="after")
    def _ordered(self) -> BulkRetry:
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class BulkRetryResult(WireModel):
    """What a bulk retry re-enqueued."""

    retried: int = Field(description="How many entries were re-enqueued.")
    entries: list[DlqRetried]
