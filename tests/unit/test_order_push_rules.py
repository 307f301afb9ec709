"""What an agent's answer means for a push, the backoff, the retry policy, and signing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from procrastinate.jobs import Job

from restosync.agent.server import is_authentic
from restosync.outbound.agents import AgentResponse, signature, signed_headers
from restosync.services.order_sync import (
    PushFailed,
    RetryPush,
    VerdictKind,
    backoff_seconds,
    classify,
)
from restosync.settings import load_settings
from restosync.worker.order_tasks import PushRetryStrategy

SECRET = "outbound-secret-0123456789abcdef"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, {"erpReference": "ERP-1"}, VerdictKind.COMPLETED),
        (201, {"erpReference": "ERP-1"}, VerdictKind.COMPLETED),
        (200, {}, VerdictKind.PERMANENT),
        (200, {"erpReference": "  "}, VerdictKind.PERMANENT),
        (204, None, VerdictKind.PERMANENT),
        (202, None, VerdictKind.ACCEPTED),
        (408, None, VerdictKind.TRANSIENT),
        (429, None, VerdictKind.TRANSIENT),
        (500, None, VerdictKind.TRANSIENT),
        (503, None, VerdictKind.TRANSIENT),
        (400, None, VerdictKind.PERMANENT),
        (401, None, VerdictKind.PERMANENT),
        (404, None, VerdictKind.PERMANENT),
        (409, None, VerdictKind.PERMANENT),
        (422, None, VerdictKind.PERMANENT),
        (301, None, VerdictKind.PERMANENT),
        (None, None, VerdictKind.TRANSIENT),
    ],
)
def test_answers_are_classified_as_the_spec_says(
    status: int | None, body: dict[str, Any] | None, kind: VerdictKind
) -> None:
    verdict = classify(AgentResponse(status, body, None if status else "no answer within 30 s"))
    assert verdict.kind is kind


def test_a_completed_verdict_carries_the_reference_and_erp_status() -> None:
    verdict = classify(AgentResponse(200, {"erpReference": " ERP-9 ", "erpStatus": "booked"}))
    assert (verdict.erp_reference, verdict.erp_status) == ("ERP-9", "booked")
    assert classify(AgentResponse(None, None, "connection failed (X)")).message == (
        "agent unreachable: connection failed (X)"
    )


def test_backoff_doubles_from_the_base() -> None:
    settings = load_settings(ORDER_SYNC_BACKOFF_BASE_SECONDS=60)
    assert [backoff_seconds(settings, n) for n in (1, 2, 3, 4, 5)] == [60, 120, 240, 480, 960]


def test_only_requested_retries_and_shutdowns_are_retried() -> None:
    strategy = PushRetryStrategy()
    job = Job(id=1, queue="order-sync", lock="vendor:v", queueing_lock=None, task_name="t")
    at = datetime(2030, 1, 1, tzinfo=UTC)

    retry = strategy.get_retry_decision(exception=RetryPush("503", retry_at=at), job=job)
    assert retry is not None
    assert (retry.retry_at, retry.lock) == (at, None)  # None keeps the vendor's lock
    shutdown = strategy.get_retry_decision(exception=asyncio.CancelledError(), job=job)
    assert shutdown is not None
    assert strategy.get_retry_decision(exception=PushFailed("422"), job=job) is None
    assert strategy.get_retry_decision(exception=ValueError("bug"), job=job) is None


def test_the_signature_is_an_hmac_of_timestamp_dot_body() -> None:
    body = b'{"syncJobId":"j"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, "1700000000", body) == f"v1={expected}"


def test_the_reference_agent_accepts_exactly_what_restosync_signs() -> None:
    body = b'{"syncJobId":"j","orderData":{}}'
    now = time.time()
    headers = signed_headers(SECRET, body, correlation_id="c", idempotency_key="j")
    assert headers["Idempotency-Key"] == "j"
    assert headers["Authorization"] == f"Bearer {SECRET}"
    assert is_authentic(SECRET, headers, body, now=now)

    assert not is_authentic(SECRET, headers, body + b" ", now=now)  # body changed
    assert not is_authentic("another-secret-0123456789abcdef", headers, body, now=now)
    assert not is_authentic(SECRET, {**headers, "Authorization": "Bearer x"}, body, now=now)
    assert not is_authentic(SECRET, headers, body, now=now + 301)  # stale
    assert not is_authentic(SECRET, headers, body, now=now - 301)  # from the future
    stale = signed_headers(SECRET, body, correlation_id="c", timestamp=int(now) - 3600)
    assert not is_authentic(SECRET, stale, body, now=now)
