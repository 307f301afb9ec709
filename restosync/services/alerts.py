"""Operational alerts (SPEC §6): a log line and a Slack post, at most once per cooldown."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from restosync.db import alerts as alerts_db
from restosync.db.pool import Pool, transaction
from restosync.errors import DatabaseUnavailable
from restosync.logconfig import mask_text, mask_value
from restosync.models.alerts import Alert
from restosync.outbound.slack import (
    SLACK_TIMEOUT_SECONDS,
    HttpSession,
    SlackWebhookFailed,
    post_to_slack,
)
from restosync.settings import Settings

# Operators filter on this name; it is part of the interface (docs/alerts.md).
logger = logging.getLogger("restosync.alerts")


class Alerter:
    """Raises alerts: a WARNING on `restosync.alerts`, then a POST to SLACK_WEBHOOK_URL when set.

    The same alert (type + vendor) goes out at most once per ALERT_COOLDOWN_SECONDS, in
    every process together: the right to send is claimed in one statement on
    `alert_state` in a short transaction of its own, and only the winner logs and posts,
    after that transaction has committed. Repeats are counted there, not logged at WARNING.

    A failed POST (error status, timeout, network) is logged without the webhook URL and
    never raised; the log line still counts as the alert. The claim is then released, so
    the next raise (the periodic checks raise again within minutes) logs and posts again:
    Slack is the channel people watch, and a transient Slack failure should not silence
    an alert for a whole cooldown. The price during a Slack outage is one log line and one
    bounded POST attempt per raise. A database outage while claiming raises
    DatabaseUnavailable (nothing is logged: without the claim, no cooldown would hold).
    """

    # Per POST; an attribute rather than an argument so tests can shorten it.
    slack_timeout_seconds: float = SLACK_TIMEOUT_SECONDS

    def __init__(self, pool: Pool, settings: Settings, session: HttpSession | None) -> None:
        self._pool = pool
        self._cooldown_seconds = settings.ALERT_COOLDOWN_SECONDS
        self._webhook_url = settings.SLACK_WEBHOOK_URL
        self._session = session
        self._secrets = settings.secret_values()
        if self._webhook_url and session is None:
            logger.warning("SLACK_WEBHOOK_URL is set but no HTTP session was given: log only")

    async def raise_alert(self, alert: Alert) -> bool:
        """True when this call sent the alert (Slack failures included), False when suppressed."""
        alert = self._scrubbed(alert)
        fields = _log_fields(alert)
        claimed_at = await self._claim(alert)
        if claimed_at is None:
            logger.debug("alert %s suppressed by cooldown", alert.type.value, extra=fields)
            return False
        logger.warning("alert %s: %s", alert.type.value, alert.summary, extra=fields)
        if self._webhook_url and self._session is not None:
            await self._post(self._session, self._webhook_url, alert, claimed_at)
        return True

    def _scrubbed(self, alert: Alert) -> Alert:
        # Callers should pass no secrets; this catches configured ones and token-like values.
        return alert.model_copy(
            update={
                "summary": mask_text(alert.summary, self._secrets),
                "details": mask_value("details", alert.details, self._secrets),
            }
        )

    async def _claim(self, alert: Alert) -> datetime | None:
        async with transaction(self._pool) as conn:
            claimed_at = await alerts_db.claim_alert_slot(
                conn,
                alert_type=alert.type.value,
                vendor_id=alert.vendor_id,
                details=alert.details,
                cooldown_seconds=self._cooldown_seconds,
            )
            if claimed_at is None:
                await alerts_db.count_suppressed_alert(
                    conn, alert_type=alert.type.value, vendor_id=alert.vendor_id
                )
        return claimed_at

    async def _post(
        self, session: HttpSession, webhook_url: str, alert: Alert, claimed_at: datetime
    ) -> None:
        try:
            await post_to_slack(
                session, webhook_url, alert, timeout_seconds=self.slack_timeout_seconds
            )
        except Exception as exc:
            # Delivery is a side channel: it must never fail the work that raised the alert.
            # Only our own errors are known not to quote the URL; others give their kind.
            reason = exc.detail if isinstance(exc, SlackWebhookFailed) else type(exc).__name__
            logger.error(
                "alert %s not delivered to Slack: %s",
                alert.type.value,
                mask_text(reason, self._secrets),
                extra=_log_fields(alert, with_details=False),
            )
            await self._release(alert, claimed_at)

    async def _release(self, alert: Alert, claimed_at: datetime) -> None:
        try:
            async with transaction(self._pool) as conn:
                await alerts_db.release_alert_slot(
                    conn,
                    alert_type=alert.type.value,
                    vendor_id=alert.vendor_id,
                    claimed_at=claimed_at,
                )
        except DatabaseUnavailable:
            logger.warning(
                "alert %s: claim kept (database unavailable), next post after the cooldown",
                alert.type.value,
                extra=_log_fields(alert, with_details=False),
            )


def _log_fields(alert: Alert, *, with_details: bool = True) -> dict[str, Any]:
    fields: dict[str, Any] = {"alert_type": alert.type.value, "vendor_id": alert.vendor_id}
    if with_details:
        fields["details"] = alert.details
    return fields
