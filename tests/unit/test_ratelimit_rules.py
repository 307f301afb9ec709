"""The rate-limit rules come from the settings; Retry-After is whole seconds, at least 1."""

from __future__ import annotations

import pytest

from restosync.services.ratelimit import RateLimit, limits_from, retry_after
from restosync.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_specs() -> None:
    assert limits_from(load_settings()) == {
        "register": RateLimit("register", 10),
        "heartbeat": RateLimit("heartbeat", 120),
        "sync": RateLimit("sync", 30),
        "sync_batch": RateLimit("sync_batch", 5),
        "default": RateLimit("default", 600),
    }


def test_numbers_come_from_the_settings() -> None:
    settings = load_settings(
        RATE_LIMIT_REGISTER_PER_MINUTE=1,
        RATE_LIMIT_HEARTBEAT_PER_MINUTE=2,
        RATE_LIMIT_SYNC_PER_MINUTE=3,
        RATE_LIMIT_SYNC_BATCH_PER_MINUTE=4,
        RATE_LIMIT_DEFAULT_PER_MINUTE=5,
    )
    numbers = {name: rule.per_minute for name, rule in limits_from(settings).items()}
    assert numbers == {"register": 1, "heartbeat": 2, "sync": 3, "sync_batch": 4, "default": 5}


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_LIMIT_SYNC_BATCH_PER_MINUTE", "7")
    assert limits_from(load_settings())["sync_batch"].per_minute == 7


@pytest.mark.parametrize(("name", "per_minute"), [("", 5), ("sync", 0), ("sync", -1)])
def test_a_rule_that_could_never_pass_is_refused(name: str, per_minute: int) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit(name, per_minute)


@pytest.mark.parametrize(
    ("seconds", "header"), [(None, 1), (0.0, 1), (0.2, 1), (1.0, 1), (1.001, 2), (67.0, 67)]
)
def test_retry_after_rounds_up_to_whole_seconds(seconds: float | None, header: int) -> None:
    assert retry_after(seconds) == header
