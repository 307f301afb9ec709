"""Agent tokens: bcrypt at rest, verified off the event loop, remembered briefly in memory.

A verified token is cached under the SHA-256 of the token (never the token itself) for
AGENT_TOKEN_CACHE_SECONDS. Rotation and deregistration NOTIFY every process, which then
forgets that vendor's tokens; while a process is not listening (start-up, database
outage) it does not use its cache at all, so it can never honour a revoked token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections import defaultdict

import bcrypt
from cachetools import TTLCache

from restosync.db import agents as agents_db
from restosync.db.pool import Pool, connection
from restosync.errors import Unauthorized
from restosync.settings import Settings

logger = logging.getLogger(__name__)

CREDENTIALS_CHANNEL = "restosync_agent_credentials"
_CACHE_SIZE = 50_000


def _bcrypt_input(token: str) -> bytes:
    # bcrypt reads at most 72 bytes (and bcrypt ≥ 4.1 refuses more): hash long tokens first.
    return base64.b64encode(hashlib.sha256(token.encode()).digest())


def token_digest(token: str) -> str:
    """The cache key of a token: its SHA-256, so the cache holds no usable secret."""
    return hashlib.sha256(token.encode()).hexdigest()


def secrets_equal(given: str | None, expected: str) -> bool:
    """Constant-time comparison; a missing value takes the same path as a wrong one."""
    return hmac.compare_digest((given or "").encode(), expected.encode())


class AgentAuthenticator:
    """Verifies agent tokens for one process."""

    def __init__(self, pool: Pool, settings: Settings) -> None:
        self._pool = pool
        self._rounds = settings.AGENT_TOKEN_BCRYPT_ROUNDS
        self._cache: TTLCache[str, str] = TTLCache(_CACHE_SIZE, settings.AGENT_TOKEN_CACHE_SECONDS)
        self._digests_by_vendor: defaultdict[str, set[str]] = defaultdict(set)
        self._generation: defaultdict[str, int] = defaultdict(int)
        self._dummy_hash = bcrypt.hashpw(b"no such agent", bcrypt.gensalt(self._rounds))
        self.listening = False

    async def hash_token(self, token: str) -> str:
        """bcrypt hash of a new token (computed in a thread)."""
        salt = bcrypt.gensalt(self._rounds)
        hashed = await asyncio.to_thread(bcrypt.hashpw, _bcrypt_input(token), salt)
        return hashed.decode()

    async def check_hash(self, token: str, hashed: str | None) -> bool:
        """Whether `token` matches `hashed`; a missing hash costs the same time and fails."""
        target = hashed.encode() if hashed else self._dummy_hash
        matches = await asyncio.to_thread(bcrypt.checkpw, _bcrypt_input(token), target)
        return matches and hashed is not None

    async def authenticate(self, vendor_id: str, token: str | None) -> str:
        """The vendor whose agent presented `token`; Unauthorized otherwise (one answer for all)."""
        if not token:
            await self.check_hash("", None)
            raise Unauthorized("Missing or invalid agent credentials.")
        digest = token_digest(token)
        if self.listening and self._cache.get(digest) == vendor_id:
            return vendor_id
        generation = self._generation[vendor_id]
        async with connection(self._pool) as conn:
            creds = await agents_db.credentials(conn, vendor_id)
        active_hash = creds.auth_token_hash if creds and creds.deregistered_at is None else None
        if not await self.check_hash(token, active_hash):
            raise Unauthorized("Missing or invalid agent credentials.")
        if self.listening and self._generation[vendor_id] == generation:
            self._cache[digest] = vendor_id
            self._digests_by_vendor[vendor_id].add(digest)
        return vendor_id

    def forget(self, vendor_id: str) -> None:
        """Drop every cached token of a vendor (rotation, deregistration)."""
        self._generation[vendor_id] += 1
        for digest in self._digests_by_vendor.pop(vendor_id, set()):
            self._cache.pop(digest, None)

    def forget_all(self) -> None:
        """Drop the whole cache (the change feed was interrupted)."""
        for vendor_id in list(self._generation):
            self._generation[vendor_id] += 1
        self._cache.clear()
        self._digests_by_vendor.clear()

    def set_listening(self, listening: bool) -> None:
        """Use the cache only while credential changes are being received."""
        if listening != self.listening:
            self.forget_all()
            self.listening = listening
            logger.info("agent token cache %s", "enabled" if listening else "disabled")
