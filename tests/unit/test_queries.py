"""The named-query loader."""

from __future__ import annotations

import pytest

from restosync.db.queries import QUERIES, parse_queries


def test_blocks_are_split_by_name_and_comments_dropped() -> None:
    text = "-- first --\n-- what it does\nSELECT 1\n\n-- second --\nSELECT %(x)s\n"
    assert parse_queries(text) == {"first": "SELECT 1", "second": "SELECT %(x)s"}


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        parse_queries("-- q --\nSELECT 1\n-- q --\nSELECT 2\n")


def test_empty_blocks_are_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        parse_queries("-- q --\n-- only a comment\n")


def test_package_queries_are_loaded() -> None:
    assert {"ping", "queue_depth_by_queue_and_status", "workers_seen"} <= set(QUERIES)
