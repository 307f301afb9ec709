"""Inbound sync (SPEC §4): validate, deduplicate, map and upsert pushed rows, per request."""

from __future__ import annotations

from restosync.services.ingest.context import CodeResolver, IngestContext
from restosync.services.ingest.rejections import defer_replay, list_rejections
from restosync.services.ingest.service import (
    Push,
    ingest_push,
    replay_for_admin,
    replay_rejections,
    run_rows,
)
from restosync.services.ingest.snapshots import SnapshotOutcome, apply_snapshot

__all__ = [
    "CodeResolver",
    "IngestContext",
    "Push",
    "SnapshotOutcome",
    "apply_snapshot",
    "defer_replay",
    "ingest_push",
    "list_rejections",
    "replay_for_admin",
    "replay_rejections",
    "run_rows",
]
