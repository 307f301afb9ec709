"""The agent's credentials on disk: one JSON file, owner-only, replaced atomically."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import tempfile
from pathlib import Path

from pydantic import Field, ValidationError

from restosync.errors import ConfigurationError
from restosync.models.agents import AgentToken, AgentUrl, ErpType, VendorId
from restosync.models.base import WireModel

logger = logging.getLogger(__name__)

FILE_MODE = 0o600


class CredentialsError(ConfigurationError):
    """The agent's credentials file is missing or invalid."""

    code = "agent_credentials"
    title = "Agent credentials"


def new_token() -> str:
    """A fresh agent token (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


class AgentCredentials(WireModel):
    """What the agent must keep between runs; the file is the only copy of the token."""

    vendor_id: VendorId
    token: AgentToken = Field(repr=False, description="Bearer the agent presents to restosync.")
    outbound_secret: str = Field(
        min_length=16, repr=False, description="Bearer restosync presents to the agent."
    )
    agent_url: AgentUrl
    erp_type: ErpType
    # A token offered in a rotation whose answer never arrived: the server may have it now.
    pending_token: AgentToken | None = Field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path) -> AgentCredentials:
        """Read the file; CredentialsError naming the path when it is missing or corrupt."""
        try:
            raw = path.read_bytes()
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise CredentialsError(
                f"No agent credentials at {path}: enrol the agent first (`restosync agent enrol`)."
            ) from None
        except OSError as exc:
            raise CredentialsError(
                f"Cannot read agent credentials at {path}: {exc.strerror}."
            ) from None
        if stat.S_IMODE(mode) & 0o077:
            logger.warning("agent credentials %s are readable by others: chmod 600 it", path)
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            # `from None`: the validation error quotes the input, which holds the token.
            raise CredentialsError(
                f"{path} does not hold valid agent credentials ({_describe(exc)}); "
                "restore it from a backup, or ask an admin to deregister the agent and enrol "
                "it again."
            ) from None

    def save(self, path: Path) -> None:
        """Write the file atomically (temp file, fsync, os.replace) with mode 0600."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.model_dump_json(indent=2, exclude_none=True).encode()
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as file:
                os.fchmod(file.fileno(), FILE_MODE)
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        _fsync_directory(path.parent)


def _describe(exc: ValidationError) -> str:
    """Where and what, never the offending values."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or 'file'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)[:3]
    ]
    return "; ".join(problems)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
