"""Operational alerts (SPEC §6): their types and what one alert carries."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class AlertType(StrEnum):
    """Known alert types; the same type + vendor is sent at most once per cooldown.

    The database only checks the snake_case format, so adding a member needs no migration.
    """

    AGENT_OFFLINE = "agent_offline"
    DLQ_ENTRIES_FOUND = "dlq_entries_found"
    CIRCUIT_BREAKER_OPEN = "circuit_breaker_open"
    RECONCILIATION_DRIFT = "reconciliation_drift"
    # --- snapshots (issue 4): a full snapshot not applied (too many rows, or empty) ---
    SNAPSHOT_REFUSED = "snapshot_refused"
    # end of snapshots


class Alert(BaseModel):
    """One alert to raise: logged, and posted to Slack when a webhook is configured.

    `summary` and `details` end up in logs, in Slack and in `alert_state`: vendor ids,
    counts, states and durations only, never names, emails, phones, tokens or URLs.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: AlertType
    vendor_id: str | None = Field(
        default=None, min_length=1, max_length=100, description="None: not about one vendor."
    )
    summary: str = Field(min_length=1, max_length=500, description="One human-readable line.")
    details: dict[str, JsonValue] = Field(default_factory=dict)
