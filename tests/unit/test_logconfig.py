"""Secret masking and correlation ids in log records."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from restosync.logconfig import (
    MASK,
    clean_correlation_id,
    configure_logging,
    correlation,
    mask_text,
    mask_value,
)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("INFO", secrets=["configured-secret-value"])
    stream = io.StringIO()
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_free_text_credentials_are_masked() -> None:
    text = "Authorization: Bearer abc.def token=t0k3n api_key: k3y password='pw'"
    masked = mask_text(text)
    for secret in ("abc.def", "t0k3n", "k3y", "pw'"):
        assert secret not in masked
    assert masked.count(MASK) == 4


def test_known_secret_values_are_masked_anywhere() -> None:
    assert mask_text("prefix-S3CRET-suffix", ["S3CRET"]) == f"prefix-{MASK}-suffix"


def test_structured_values_under_sensitive_keys_are_masked() -> None:
    value = {"vendor": "v1", "authToken": "abc", "nested": {"X-API-Key": "k", "n": 3}}
    assert mask_value("extra", value) == {
        "vendor": "v1",
        "authToken": MASK,
        "nested": {"X-API-Key": MASK, "n": 3},
    }


def test_log_lines_are_json_with_correlation_id_and_no_secret(log_stream: io.StringIO) -> None:
    logger = logging.getLogger("restosync.test")
    with correlation("req-42"):
        logger.info("calling with configured-secret-value", extra={"agent_token": "tok"})
        try:
            raise RuntimeError("failed with configured-secret-value")
        except RuntimeError:
            logger.exception("boom")
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert [line["correlation_id"] for line in lines] == ["req-42", "req-42"]
    assert lines[0]["agent_token"] == MASK
    assert "configured-secret-value" not in log_stream.getvalue()
    assert "RuntimeError" in lines[1]["exc_info"]


@pytest.mark.parametrize(
    ("candidate", "kept"),
    [("abc-123", True), ("a" * 129, False), ("has space", False), ("x\r\nInjected: 1", False)],
)
def test_only_harmless_correlation_ids_are_kept(candidate: str, kept: bool) -> None:
    assert (clean_correlation_id(candidate) == candidate) is kept
