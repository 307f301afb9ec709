"""Reconciliation, first half: find the drifted keys of one entity (SPEC §5.3, §6.1).

The agent's checksum of the whole key space is compared with Postgres's. When they
differ, the key space is narrowed: a range whose two sides differ is split into up to
`fanout` sub-ranges at Postgres's keys (every step-th key of the range), which together
cover the whole range. The first sub-range starts where its parent starts and the last
ends where it ends, so from the root (unbounded both ways) keys below the smallest and
above the largest key of either side are always covered. Checksums and counts of both
sides are compared per sub-range, and only the differing ones are narrowed further.

A range is a leaf once either side has at most `leaf_rows` rows in it: the agent's
manifest of it (one call) is compared with Postgres's row by row. When Postgres has few
rows and the agent many, the manifest is large, but then most of its rows are drift.

Ranges are inclusive, keys compared byte-wise (UTF-8, `COLLATE "C"`). A split key `k`
ends its sub-range; the next one starts at `k + "\\x01"`, the smallest string above `k`
that a key can be (keys never contain NUL: PostgreSQL text cannot). So agent calls grow
with drifted keys x log(rows), and the Postgres side reads one REPEATABLE READ snapshot.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from restosync.db import reconciliation as reconciliation_db
from restosync.db.pool import Connection, Pool, transaction
from restosync.db.reconciliation import RangeSummary, StoredKey
from restosync.models.reconciliation import ManifestEntry, ReconciledEntity
from restosync.outbound import agents
from restosync.outbound.agents import AgentCallFailed, AgentTarget, HttpSession
from restosync.services.alerts import Alerter
from restosync.services.breakers import BreakerOpen, BreakerRegistry

EMPTY = RangeSummary(hashlib.sha256(b"").hexdigest(), 0)
# Smallest suffix that makes a larger key: keys cannot contain NUL.
_SUCCESSOR = "\x01"
TRANSIENT_STATUSES = frozenset({408, 429})
Result = TypeVar("Result")
KeyRange = tuple[str | None, str | None]


@dataclass(frozen=True, slots=True)
class Tuning:
    """How a comparison narrows and how a repair batches (settings give the defaults)."""

    leaf_rows: int = 2048
    fanout: int = 16
    fetch_batch: int = 500
    apply_batch: int = 1000


@dataclass(slots=True)
class Drift:
    """What differs in one entity: keys to fetch from the agent, rows gone from the ERP."""

    changed: list[str] = field(default_factory=list)
    missing_in_postgres: list[str] = field(default_factory=list)
    missing_in_erp: list[StoredKey] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Drifted keys of every kind."""
        return len(self.changed) + len(self.missing_in_postgres) + len(self.missing_in_erp)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Both sides of the whole key space, and the drift when they differ."""

    postgres: RangeSummary
    agent: RangeSummary
    drift: Drift | None
    ranges_compared: int = 0
    leaves: int = 0


class AgentSide:
    """The agent's answers for one run, each call counted and guarded by its breaker."""

    def __init__(
        self,
        pool: Pool,
        http: HttpSession,
        vendor_id: str,
        target: AgentTarget,
        breakers: BreakerRegistry | None = None,
        alerter: Alerter | None = None,
    ) -> None:
        self.calls = 0
        self._pool = pool
        self._http = http
        self._vendor_id = vendor_id
        self._target = target
        self._breakers = breakers
        self._alerter = alerter

    async def checksum(self, entity: ReconciledEntity, key_range: KeyRange) -> RangeSummary:
        """The agent's checksum and count of a range."""
        answer = await self._guarded(
            "checksum", lambda: agents.agent_checksum(self._http, self._target, entity, *key_range)
        )
        return RangeSummary(answer.checksum, answer.count)

    async def manifest(self, entity: ReconciledEntity, key_range: KeyRange) -> dict[str, str]:
        """The agent's `{key: contentHash}` of a range (every key checked to be in it)."""
        entries: list[ManifestEntry] = await self._guarded(
            "manifest", lambda: agents.agent_manifest(self._http, self._target, entity, *key_range)
        )
        outside = [e.key for e in entries if not in_range(e.key, key_range)]
        if outside:
            raise AgentCallFailed(
                f"{agents.MANIFEST_PATH}: {len(outside)} keys outside the range asked for",
                path=agents.MANIFEST_PATH,
                http_status=200,
            )
        return {e.key: e.content_hash for e in entries}

    async def rows(self, entity: ReconciledEntity, keys: list[str]) -> list[dict[str, Any]]:
        """The ERP's payloads of these keys (the ones it still has)."""
        if entity == "items":
            return await self._guarded(
                "items", lambda: agents.agent_items(self._http, self._target, keys)
            )
        return await self._guarded(
            "stock", lambda: agents.agent_stock(self._http, self._target, keys)
        )

    async def _guarded(self, api_type: str, call: Callable[[], Awaitable[Result]]) -> Result:
        self.calls += 1
        if self._breakers is None:
            return await call()

        async def answer_or_failure() -> Result | AgentCallFailed:
            try:
                return await call()
            except AgentCallFailed as exc:
                return exc

        try:
            result = await self._breakers.call(
                self._vendor_id, api_type, answer_or_failure, _counts_against_breaker
            )
        except BreakerOpen as exc:
            raise AgentCallFailed(f"{exc}: no call made", path=f"/sync/{api_type}") from None
        finally:
            await self._breakers.flush(self._pool, self._alerter)
        if isinstance(result, AgentCallFailed):
            raise result
        return result


def _counts_against_breaker(result: object) -> bool:
    """Transient failures open the breaker; a well-formed refusal (other 4xx) does not."""
    if not isinstance(result, AgentCallFailed):
        return False
    status = result.http_status
    return status is None or status >= 500 or status in TRANSIENT_STATUSES


def in_range(key: str, key_range: KeyRange) -> bool:
    """Whether `key` is in the inclusive byte-wise range (None: unbounded)."""
    start, end = key_range
    raw = key.encode()
    return (start is None or raw >= start.encode()) and (end is None or raw <= end.encode())


async def compare(
    pool: Pool, agent: AgentSide, vendor_id: str, entity: ReconciledEntity, tuning: Tuning
) -> Comparison:
    """Compare one entity of a vendor with its agent; the drifted keys when they differ."""
    theirs = await agent.checksum(entity, (None, None))
    async with transaction(pool) as conn:
        await reconciliation_db.begin_snapshot(conn)
        ours = await reconciliation_db.checksum(conn, vendor_id, entity)
        if ours == theirs:
            return Comparison(ours, theirs, None)
        await reconciliation_db.copy_keys(conn, vendor_id, entity)
        narrowing = _Narrowing(conn, agent, entity, tuning)
        await narrowing.run(ours, theirs)
    return Comparison(ours, theirs, narrowing.drift, narrowing.compared, narrowing.leaves)


class _Narrowing:
    """One comparison's walk down the differing ranges, inside the snapshot."""

    def __init__(
        self, conn: Connection, agent: AgentSide, entity: ReconciledEntity, tuning: Tuning
    ) -> None:
        self.drift = Drift()
        self.compared = 0
        self.leaves = 0
        self._conn = conn
        self._agent = agent
        self._entity = entity
        self._tuning = tuning

    async def run(self, ours: RangeSummary, theirs: RangeSummary) -> None:
        """Narrow from the whole key space down to the leaves, comparing those."""
        pending: list[tuple[KeyRange, RangeSummary, RangeSummary]] = [((None, None), ours, theirs)]
        while pending:
            key_range, ours, theirs = pending.pop()
            self.compared += 1
            if ours == theirs:
                continue
            children = None
            if min(ours.count, theirs.count) > self._tuning.leaf_rows:
                children = await self._split(key_range, ours.count)
            if not children:
                await self._compare_leaf(key_range)
                continue
            for child, child_ours in children:
                pending.append((child, child_ours, await self._agent.checksum(self._entity, child)))

    async def _split(
        self, key_range: KeyRange, count: int
    ) -> list[tuple[KeyRange, RangeSummary]] | None:
        """Sub-ranges covering the range, with Postgres's side of each (None: cannot split)."""
        parts = max(2, min(self._tuning.fanout, math.ceil(count / self._tuning.leaf_rows)))
        start, end = key_range
        keys = await reconciliation_db.split_keys(
            self._conn, start, end, step=math.ceil(count / parts), total=count
        )
        keys = sorted(set(keys), key=str.encode)
        if not keys:
            return None
        bounds = [key + _SUCCESSOR for key in keys]
        ranges: list[KeyRange] = list(zip([start, *bounds], [*keys, end], strict=True))
        sums = await reconciliation_db.bucket_checksums(self._conn, start, end, bounds)
        children = [(r, sums.get(i, EMPTY)) for i, r in enumerate(ranges)]
        if any(summary.count == count for _, summary in children):
            return None  # duplicate keys only (a stock key can be ambiguous): compare rows
        return children

    async def _compare_leaf(self, key_range: KeyRange) -> None:
        self.leaves += 1
        theirs = await self._agent.manifest(self._entity, key_range)
        ours = {row.key: row for row in await reconciliation_db.manifest(self._conn, *key_range)}
        for key, content_hash in theirs.items():
            stored = ours.get(key)
            if stored is None:
                self.drift.missing_in_postgres.append(key)
            elif stored.content_hash != content_hash:
                self.drift.changed.append(key)
        self.drift.missing_in_erp.extend(row for key, row in ours.items() if key not in theirs)
