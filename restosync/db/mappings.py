"""Repository of erp_code_mappings."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from restosync.db.paging import fetch_page
from restosync.db.pool import Connection
from restosync.db.queries import QUERIES
from restosync.models.mappings import Mapping, MappingFilter, MappingGap, MappingType
from restosync.models.pagination import PageQuery

CodeKey = tuple[str, str]  # (mapping_type, erp_code)
VendorCodeKey = tuple[str, MappingType, str]  # (vendor_id, mapping_type, erp_code)


@dataclass(frozen=True, slots=True)
class ResolvedCode:
    """What an ERP code maps to."""

    resto_code: str
    resto_label: str | None
    vat_rate: Decimal | None


def _pairs(keys: list[CodeKey]) -> dict[str, list[str]]:
    return {"types": [k[0] for k in keys], "codes": [k[1] for k in keys]}


async def resolve(
    conn: Connection, vendor_id: str, keys: list[CodeKey]
) -> dict[CodeKey, ResolvedCode]:
    """The active mappings among `keys`, in one query."""
    cur = await conn.execute(QUERIES["resolve_codes"], {"vendor_id": vendor_id, **_pairs(keys)})
    return {
        (row["mapping_type"], row["erp_code"]): ResolvedCode(
            row["resto_code"], row["resto_label"], row["vat_rate"]
        )
        for row in await cur.fetchall()
    }


async def views(
    conn: Connection, filters: MappingFilter, page: PageQuery, *, mapping_id: UUID | None = None
) -> tuple[list[Mapping], int]:
    """One page of mappings and how many match."""
    params = {**filters.model_dump(by_alias=False), "id": mapping_id}
    rows, total = await fetch_page(conn, QUERIES["mapping_views"], params, page)
    return [Mapping.model_validate(row) for row in rows], total


async def insert(conn: Connection, **values: Any) -> UUID | None:
    """Create a mapping; None when its (vendor, type, code) exists."""
    cur = await conn.execute(QUERIES["insert_mapping"], values)
    row = await cur.fetchone()
    return row["id"] if row else None


async def update(conn: Connection, mapping_id: UUID, **values: Any) -> DictRow | None:
    """Change a mapping; None when it does not exist."""
    cur = await conn.execute(QUERIES["update_mapping"], {"id": mapping_id, **values})
    return await cur.fetchone()


async def delete(conn: Connection, mapping_id: UUID) -> DictRow | None:
    """Delete a mapping; None when it does not exist."""
    cur = await conn.execute(QUERIES["delete_mapping"], {"id": mapping_id})
    return await cur.fetchone()


async def seed(conn: Connection, rows: list[dict[str, Any]]) -> list[DictRow]:
    """Upsert many mappings in one statement; one row back per mapping."""
    cur = await conn.execute(QUERIES["seed_mappings"], {"rows": Jsonb(rows)})
    return await cur.fetchall()


async def gaps(conn: Connection, vendor_id: str) -> list[MappingGap]:
    """Unmapped codes blocking rejected rows."""
    cur = await conn.execute(QUERIES["mapping_gaps"], {"vendor_id": vendor_id})
    return [MappingGap.model_validate(row) for row in await cur.fetchall()]


async def rejected_codes(conn: Connection, keys: list[VendorCodeKey]) -> list[VendorCodeKey]:
    """Which of `keys` block rejected rows, in key order (one query)."""
    params = {
        "vendor_ids": [k[0] for k in keys],
        "types": [k[1] for k in keys],
        "codes": [k[2] for k in keys],
    }
    cur = await conn.execute(QUERIES["rejected_codes"], params)
    return [
        (row["vendor_id"], row["blocked_by_type"], row["blocked_by_code"])
        for row in await cur.fetchall()
    ]
