"""The periodic agent-health task: persist status transitions, alert on agents going offline."""

from __future__ import annotations

import logging

from restosync.db import agents as agents_db
from restosync.db.agents import HealthTransition
from restosync.db.pool import Pool, transaction
from restosync.models.alerts import Alert, AlertType
from restosync.services.agents import thresholds
from restosync.services.alerts import Alerter
from restosync.settings import Settings

logger = logging.getLogger(__name__)


async def persist_agent_health(
    pool: Pool, settings: Settings, alerter: Alerter
) -> list[HealthTransition]:
    """Write every agent's live health where it changed; raise `agent_offline` for the lost ones."""
    async with transaction(pool) as conn:
        transitions = await agents_db.persist_health(conn, thresholds(settings))
    for change in transitions:
        logger.info(
            "agent health changed",
            extra={
                "vendor_id": change.vendor_id,
                "previous_status": change.previous_status,
                "status": change.status,
            },
        )
        if change.status == "offline":
            await alerter.raise_alert(
                Alert(
                    type=AlertType.AGENT_OFFLINE,
                    vendor_id=change.vendor_id,
                    summary=f"Agent of vendor {change.vendor_id} is offline.",
                    details={
                        "previousStatus": change.previous_status,
                        "lastHeartbeat": change.last_heartbeat.isoformat(),
                    },
                )
            )
    return transitions
