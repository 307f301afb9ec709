"""Alerts posted to a Slack incoming webhook.

The webhook URL is a secret (whoever holds it can post to the channel): it never appears
in an error raised here, and aiohttp's own exception messages, which quote it, are dropped.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from restosync.errors import RestosyncError
from restosync.models.alerts import Alert

# What callers hand in; services name it from here, as they never import aiohttp themselves.
HttpSession = aiohttp.ClientSession

SLACK_TIMEOUT_SECONDS = 10.0
# Slack rejects a section text over 3000 characters; leave room for the code fence.
_MAX_DETAILS_CHARS = 2900
# Enough of an error body to read Slack's reason (`invalid_payload`, `no_service`, …).
_MAX_ERROR_BODY_BYTES = 200


class SlackWebhookFailed(RestosyncError):
    """The Slack webhook did not accept the alert."""

    code = "slack_webhook_failed"
    title = "Slack webhook failed"


def _escape(text: str) -> str:
    # The three characters Slack's mrkdwn wants escaped.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(alert: Alert) -> dict[str, Any]:
    """The incoming-webhook body: `text` (notifications, fallback) and blocks."""
    about = f" (vendor {_escape(alert.vendor_id)})" if alert.vendor_id is not None else ""
    vendor = f" · vendor `{_escape(alert.vendor_id)}`" if alert.vendor_id is not None else ""
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f":rotating_light: *{alert.type}*{vendor}\n{_escape(alert.summary)}",
            },
        }
    ]
    if alert.details:
        rendered = orjson.dumps(alert.details, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        text = _escape(rendered.decode())
        if len(text) > _MAX_DETAILS_CHARS:
            text = text[: _MAX_DETAILS_CHARS - 1] + "…"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{text}```"}})
    return {"text": f"[{alert.type}]{about} {_escape(alert.summary)}", "blocks": blocks}


async def post_to_slack(
    session: aiohttp.ClientSession,
    webhook_url: str,
    alert: Alert,
    *,
    timeout_seconds: float = SLACK_TIMEOUT_SECONDS,
) -> None:
    """POST the alert to the webhook; SlackWebhookFailed (without the URL) unless it answers 2xx."""
    try:
        async with session.post(
            webhook_url,
            json=slack_message(alert),
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            allow_redirects=False,
        ) as response:
            if not 200 <= response.status < 300:
                body = await response.content.read(_MAX_ERROR_BODY_BYTES)
                reason = body.decode("utf-8", errors="replace").strip()
                raise SlackWebhookFailed(
                    f"Slack webhook answered HTTP {response.status}: {reason!r}"
                )
    except TimeoutError:
        raise SlackWebhookFailed(
            f"Slack webhook did not answer within {timeout_seconds:g} s"
        ) from None
    except aiohttp.ClientError as exc:
        # The message of a ClientError names the URL: keep only its kind.
        raise SlackWebhookFailed(f"Slack webhook unreachable: {type(exc).__name__}") from None
