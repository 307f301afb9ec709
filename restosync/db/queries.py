"""Named SQL blocks loaded once from `db/queries/*.sql`.

A block starts with `-- name --`, followed by comment lines describing it, then the SQL
with `%(param)s` placeholders. Names are unique across all files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from typing import LiteralString

_BLOCK_START = re.compile(r"^-- ([a-z][a-z0-9_]*) --$", re.MULTILINE)


def parse_queries(text: str, source: str = "<string>") -> dict[str, LiteralString]:
    """Split one file's text into {name: sql}; raise on duplicates or empty blocks."""
    parts = _BLOCK_START.split(text)
    queries: dict[str, LiteralString] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.strip().splitlines() if not line.lstrip().startswith("--")]
        sql = "\n".join(lines).strip()
        if not sql:
            raise ValueError(f"{source}: query {name!r} is empty")
        if name in queries:
            raise ValueError(f"{source}: query {name!r} is defined twice")
        queries[name] = sql
    return queries


def load_queries() -> Mapping[str, LiteralString]:
    """All named queries of the package."""
    queries: dict[str, LiteralString] = {}
    folder = resources.files("restosync.db") / "queries"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        for name, sql in parse_queries(entry.read_text("utf-8"), entry.name).items():
            if name in queries:
                raise ValueError(f"{entry.name}: query {name!r} is already defined elsewhere")
            queries[name] = sql
    return queries


QUERIES: Mapping[str, LiteralString] = load_queries()
