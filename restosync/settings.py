"""Settings from the environment, validated once at start-up (SPEC §8)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from restosync.errors import ConfigurationError

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
PositiveSeconds = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(ge=1)]
CommaList = Annotated[tuple[str, ...], NoDecode]

MIN_API_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Every variable of SPEC §8; names are part of the operators' interface."""

    model_config = SettingsConfigDict(
        case_sensitive=True, frozen=True, extra="ignore", env_ignore_empty=True
    )

    DATABASE_URL: str | None = None
    DATABASE_POOL_MAX: PositiveInt = 10
    HOST: str = "127.0.0.1"
    PORT: Annotated[int, Field(ge=0, le=65535)] = 8080
    API_SECRET: str | None = Field(default=None, repr=False)
    AGENT_SECRET: str | None = Field(default=None, repr=False)
    CORS_ORIGINS: CommaList = ()
    LOG_LEVEL: LogLevel = "INFO"
    SWAGGER_ENABLED: bool = False
    SLACK_WEBHOOK_URL: str | None = Field(default=None, repr=False)
    ORDER_SYNC_CONCURRENCY: PositiveInt = 5
    RECONCILIATION_CONCURRENCY: PositiveInt = 2
    ORDER_SYNC_MAX_ATTEMPTS: PositiveInt = 5
    ORDER_SYNC_BACKOFF_BASE_SECONDS: PositiveSeconds = 60
    CALLBACK_TIMEOUT_SECONDS: PositiveSeconds = 600
    ORDER_SYNC_MAX_AGE_SECONDS: PositiveSeconds = 86400
    AGENT_CALL_TIMEOUT_SECONDS: PositiveSeconds = 30
    BREAKER_FAIL_MAX: PositiveInt = 5
    BREAKER_RESET_SECONDS: PositiveSeconds = 60
    HEARTBEAT_DEGRADED_SECONDS: PositiveSeconds = 60
    HEARTBEAT_OFFLINE_SECONDS: PositiveSeconds = 300
    MAPPING_CACHE_TTL_SECONDS: PositiveSeconds = 300
    MAPPING_CACHE_MAX_PER_VENDOR: PositiveInt = 10000
    RATE_LIMITS_ENABLED: bool = True
    AGENT_URL_ALLOWED_HOSTS: CommaList = ()
    # Rate limits (SPEC §3.1), requests per minute: register per client IP, the others per
    # agent; DEFAULT applies to every other endpoint, per client IP.
    RATE_LIMIT_REGISTER_PER_MINUTE: PositiveInt = 10
    RATE_LIMIT_HEARTBEAT_PER_MINUTE: PositiveInt = 120
    RATE_LIMIT_SYNC_PER_MINUTE: PositiveInt = 30
    RATE_LIMIT_SYNC_BATCH_PER_MINUTE: PositiveInt = 5
    RATE_LIMIT_DEFAULT_PER_MINUTE: PositiveInt = 600
    # bcrypt cost of stored agent tokens (SPEC §5.1: at least 10).
    AGENT_TOKEN_BCRYPT_ROUNDS: Annotated[int, Field(ge=10, le=16)] = 12
    # How long a verified agent token is remembered in memory (rotation and
    # deregistration drop it at once in every process).
    AGENT_TOKEN_CACHE_SECONDS: PositiveSeconds = 60
    # The same alert (type + vendor) is sent at most once per this period.
    ALERT_COOLDOWN_SECONDS: PositiveSeconds = 1800
    # Seconds without a heartbeat after which a worker counts as dead and its
    # `doing` jobs are retried by the stalled-job recovery task.
    WORKER_STALLED_SECONDS: PositiveSeconds = 60
    # How often a worker polls when no NOTIFY arrives (locks released, retries due).
    WORKER_POLL_SECONDS: PositiveSeconds = 1.0
    # --- Ingest (issue 4) ---
    # Rows and body bytes one push may carry (SPEC §3.1): POST /api/sync/{entity} and its
    # /batch variant. Past them the push is refused with 413 (bytes decided from
    # Content-Length before reading, else while reading, never buffering past the limit).
    INGEST_MAX_ROWS: PositiveInt = 500
    INGEST_MAX_BYTES: PositiveInt = 5 * 1024 * 1024
    INGEST_BATCH_MAX_ROWS: PositiveInt = 5000
    INGEST_BATCH_MAX_BYTES: PositiveInt = 10 * 1024 * 1024
    # --- snapshots (issue 4) ---
    # A full snapshot that would retire more than this share (0..1) of a vendor's active
    # rows of an entity is refused unless its last page says `force` (an empty one always is).
    SNAPSHOT_MAX_REMOVAL_SHARE: Annotated[float, Field(ge=0, le=1)] = 0.5
    # end of snapshots
    # --- end of ingest ---
    # --- Orders: the outbound push (issue 5) ---
    # While a vendor's agent is offline a push waits this long before looking again
    # (no call, no attempt used), until ORDER_SYNC_MAX_AGE_SECONDS after the order.
    ORDER_SYNC_POSTPONE_SECONDS: PositiveSeconds = 60
    # --- end of orders ---
    # --- Reconciliation (issue 6) ---
    # Narrowing (docs/reconciliation.md): a differing key range is split into at most
    # FANOUT sub-ranges until one side holds at most LEAF_ROWS rows; then manifests are
    # compared. With 100,000 items and 10 drifted rows: about 70 agent calls.
    RECONCILIATION_LEAF_ROWS: PositiveInt = 2048
    RECONCILIATION_FANOUT: Annotated[int, Field(ge=2, le=256)] = 16
    # --- end of reconciliation ---
    # --- Maintenance: retention and schedules (issue 6) ---
    # Retention of SPEC §6 (docs/operations.md, "Periodic work and retention"): completed
    # sync jobs, failed/dead/pending ones, resolved dead letters, reconciliation events,
    # finished maintenance/reconciliation queue jobs. Live work is never deleted.
    SYNC_JOB_RETENTION_COMPLETED_SECONDS: PositiveSeconds = 86400
    SYNC_JOB_RETENTION_FAILED_SECONDS: PositiveSeconds = 7 * 86400
    DLQ_RESOLVED_RETENTION_SECONDS: PositiveSeconds = 30 * 86400
    RECONCILIATION_EVENT_RETENTION_SECONDS: PositiveSeconds = 30 * 86400
    QUEUE_JOB_RETENTION_SECONDS: PositiveSeconds = 86400
    # JSON object {periodic id: cron} replacing the SPEC §6 schedules of periodic tasks,
    # e.g. {"cleanup_sync_jobs": "30 3 * * *"}; a sixth cron field counts seconds.
    PERIODIC_SCHEDULES: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    # A periodic tick missed while no worker ran (deploy, outage) is still run by the next
    # worker to start if it is at most this old (procrastinate's periodic max_delay). It
    # also bounds how late a running worker may wake for a tick, hence at least 1 s.
    PERIODIC_CATCH_UP_SECONDS: Annotated[float, Field(ge=1)] = 600
    # --- end of maintenance ---

    @field_validator("CORS_ORIGINS", "AGENT_URL_ALLOWED_HOSTS", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    # maintenance (issue 6)
    @field_validator("PERIODIC_SCHEDULES", mode="before")
    @classmethod
    def _json_object(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                raise ValueError('must be a JSON object: {"<periodic id>": "<cron>"}') from None
        return value

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("API_SECRET")
    @classmethod
    def _long_api_secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < MIN_API_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_API_SECRET_LENGTH} characters")
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("HEARTBEAT_OFFLINE_SECONDS")
    @classmethod
    def _offline_after_degraded(cls, value: float, info: object) -> float:
        degraded = getattr(info, "data", {}).get("HEARTBEAT_DEGRADED_SECONDS")
        if degraded is not None and value <= degraded:
            raise ValueError("must be greater than HEARTBEAT_DEGRADED_SECONDS")
        return value

    @property
    def database_url(self) -> str:
        """The database URL; raises when it is not configured."""
        if self.DATABASE_URL is None:
            raise ConfigurationError("DATABASE_URL: not set")
        return self.DATABASE_URL

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret value, for masking in logs."""
        password = urlsplit(self.DATABASE_URL).password if self.DATABASE_URL else None
        candidates = (self.API_SECRET, self.AGENT_SECRET, self.SLACK_WEBHOOK_URL, password)
        return tuple(value for value in candidates if value)

    def require_secrets(self) -> None:
        """Fail unless the secrets the web process needs are set."""
        missing = [name for name in ("API_SECRET", "AGENT_SECRET") if getattr(self, name) is None]
        if missing:
            raise ConfigurationError(", ".join(f"{name}: required" for name in missing))


def load_settings(**overrides: object) -> Settings:
    """Read the environment; any invalid variable raises ConfigurationError naming it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigurationError(problems) from None
