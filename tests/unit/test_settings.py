"""Settings: defaults of SPEC §8, and a bad value names its variable."""

from __future__ import annotations

import pytest

from restosync.errors import ConfigurationError
from restosync.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_seeds() -> None:
    settings = load_settings()
    assert settings.DATABASE_URL is None
    assert (settings.HOST, settings.PORT, settings.DATABASE_POOL_MAX) == ("127.0.0.1", 8080, 10)
    assert (settings.ORDER_SYNC_MAX_ATTEMPTS, settings.ORDER_SYNC_BACKOFF_BASE_SECONDS) == (5, 60)
    assert (settings.CALLBACK_TIMEOUT_SECONDS, settings.ORDER_SYNC_MAX_AGE_SECONDS) == (600, 86400)
    assert (settings.BREAKER_FAIL_MAX, settings.BREAKER_RESET_SECONDS) == (5, 60)
    assert (settings.HEARTBEAT_DEGRADED_SECONDS, settings.HEARTBEAT_OFFLINE_SECONDS) == (60, 300)
    assert settings.MAPPING_CACHE_MAX_PER_VENDOR == 10000
    assert settings.RATE_LIMITS_ENABLED is True
    assert settings.SWAGGER_ENABLED is False
    assert settings.CORS_ORIGINS == ()


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("RATE_LIMITS_ENABLED", "false")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.PORT == 9000
    assert settings.CORS_ORIGINS == ("https://a.example", "https://b.example")
    assert settings.RATE_LIMITS_ENABLED is False
    assert settings.LOG_LEVEL == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("API_SECRET", "too-short"),
        ("DATABASE_URL", "mysql://localhost/db"),
        ("ORDER_SYNC_MAX_ATTEMPTS", "0"),
        ("LOG_LEVEL", "LOUD"),
        ("RATE_LIMITS_ENABLED", "maybe"),
        ("HEARTBEAT_OFFLINE_SECONDS", "30"),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=rf"^{name}: "):
        load_settings()


def test_web_secrets_are_required_for_serving() -> None:
    with pytest.raises(ConfigurationError, match="API_SECRET: required, AGENT_SECRET: required"):
        load_settings().require_secrets()


def test_secret_values_include_the_database_password() -> None:
    settings = load_settings(
        DATABASE_URL="postgresql://app:s3cr3t-pw@db.example/restosync",
        API_SECRET="x" * 32,
        AGENT_SECRET="enrol-me-please",
    )
    assert set(settings.secret_values()) == {"x" * 32, "enrol-me-please", "s3cr3t-pw"}
    assert "x" * 32 not in repr(settings)
