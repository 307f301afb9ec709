"""Pages of rows from queries that select `count(*) OVER () AS total`."""

from __future__ import annotations

from typing import Any, LiteralString

from psycopg.rows import DictRow

from restosync.db.pool import Connection
from restosync.models.pagination import PageQuery


async def fetch_page(
    conn: Connection, query: LiteralString, params: dict[str, Any], page: PageQuery
) -> tuple[list[DictRow], int]:
    """The rows of one page and the total number of rows over all pages."""
    cur = await conn.execute(query, {**params, "limit": page.limit, "offset": page.offset})
    rows = await cur.fetchall()
    if rows:
        return rows, int(rows[0]["total"])
    if page.offset == 0:
        return [], 0
    # Past the last page: the window count is lost with the rows, ask for the first row.
    cur = await conn.execute(query, {**params, "limit": 1, "offset": 0})
    first = await cur.fetchone()
    return [], int(first["total"]) if first else 0
