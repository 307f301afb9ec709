"""Admin endpoints of ERP code mappings (X-API-Key; every mutation audited)."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from restosync.errors import NotFound
from restosync.models.mappings import (
    CreateMapping,
    GapQuery,
    MappingFilter,
    SeedMappings,
    UpdateMapping,
)
from restosync.models.pagination import PageQuery
from restosync.services import mappings
from restosync.web.keys import ACTOR, POOL
from restosync.web.requests import parse_body, parse_query
from restosync.web.responses import model_response

# A bulk seed of 5000 mappings is about 1.5 MB of JSON.
SEED_MAX_BYTES = 4 * 1024 * 1024


def _mapping_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["id"])
    except ValueError:
        raise NotFound("No such mapping.") from None


async def list_mappings(request: web.Request) -> web.Response:
    """Mappings, filtered and paginated."""
    page = await mappings.list_mappings(
        request.app[POOL], parse_query(request, MappingFilter), parse_query(request, PageQuery)
    )
    return model_response(page)


async def create_mapping(request: web.Request) -> web.Response:
    """Create a mapping; rows rejected for want of it are re-processed."""
    body = await parse_body(request, CreateMapping)
    return model_response(
        await mappings.create_mapping(request.app[POOL], request[ACTOR], body), status=201
    )


async def update_mapping(request: web.Request) -> web.Response:
    """Change what a mapping maps to."""
    body = await parse_body(request, UpdateMapping)
    mapping = await mappings.update_mapping(
        request.app[POOL], request[ACTOR], _mapping_id(request), body
    )
    return model_response(mapping)


async def delete_mapping(request: web.Request) -> web.Response:
    """Delete a mapping."""
    await mappings.delete_mapping(request.app[POOL], request[ACTOR], _mapping_id(request))
    return web.Response(status=204)


async def seed_mappings(request: web.Request) -> web.Response:
    """Create or replace up to 5000 mappings in one transaction."""
    body = await parse_body(request, SeedMappings, max_bytes=SEED_MAX_BYTES)
    return model_response(await mappings.seed_mappings(request.app[POOL], request[ACTOR], body))


async def mapping_gaps(request: web.Request) -> web.Response:
    """A vendor's unmapped ERP codes, with how many rejected rows each blocks."""
    query = parse_query(request, GapQuery)
    return model_response(await mappings.mapping_gaps(request.app[POOL], query.vendor_id))
