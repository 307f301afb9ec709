"""The audit log of admin mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from restosync.models.base import WireModel


class AuditEntry(WireModel):
    """One admin mutation."""

    id: int
    actor: str = Field(description="Fingerprint of the API key used (never the key).")
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    correlation_id: str | None
    created_at: datetime


class AuditFilter(WireModel):
    """Filters of the audit log list."""

    action: str | None = Field(default=None, max_length=100)
    target_type: str | None = Field(default=None, max_length=50)
    target_id: str | None = Field(default=None, max_length=255)
    actor: str | None = Field(default=None, max_length=128)
    since: datetime | None = None
    until: datetime | None = None
