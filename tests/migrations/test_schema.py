"""The schema built from sql/: every SPEC §2 table, commented and indexed; re-applying: no-op."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import DictRow, dict_row

from restosync.db.migrate import apply_migrations, migrations_dir, pending_migrations
from tests.pg import PgServer, cloned_database

SPEC_TABLES = {
    "agent_registry",
    "erp_code_mappings",
    "warehouses",
    "items",
    "stock",
    "orders",
    "order_items",
    "sync_jobs",
    "dead_letter_queue",
    "reconciliation_events",
    "ingest_batches",
    "ingest_rejections",
    "audit_log",
    "circuit_breakers",
}
PROCRASTINATE_TABLES = {
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
}
Conn = psycopg.Connection[DictRow]
DBA_VIEWS = {"v_sync_job_overview", "v_dlq_open", "v_agent_health", "v_queue_depth"}


@pytest.fixture(scope="module")
def schema(pg_server: PgServer, template_database: str) -> Iterator[Conn]:
    with (
        cloned_database(pg_server, template_database) as url,
        psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn,
    ):
        yield conn


def _names(conn: Conn, query: str) -> set[str]:
    return {row["name"] for row in conn.execute(query).fetchall()}


def test_every_table_of_the_spec_exists(schema: Conn) -> None:
    tables = _names(schema, "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
    assert tables >= SPEC_TABLES | PROCRASTINATE_TABLES


def test_every_restosync_table_and_view_is_commented(schema: Conn) -> None:
    uncommented = _names(
        schema,
        """
        SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v')
          AND c.relname NOT LIKE 'procrastinate%' AND c.relname NOT LIKE '\\_yoyo%'
          AND c.relname NOT LIKE 'yoyo%'
          AND obj_description(c.oid, 'pg_class') IS NULL
        """,
    )
    assert uncommented == set()


def test_status_columns_are_commented(schema: Conn) -> None:
    uncommented = _names(
        schema,
        """
        SELECT c.table_name || '.' || c.column_name AS name
        FROM information_schema.columns c
        JOIN pg_class t ON t.relname = c.table_name AND t.relkind = 'r'
        WHERE c.table_schema = 'public'
          AND (c.column_name IN ('status', 'payload')
               OR (c.table_name = 'circuit_breakers' AND c.column_name = 'state'))
          AND c.table_name NOT LIKE 'procrastinate%'
          AND col_description(t.oid, c.ordinal_position::int) IS NULL
        """,
    )
    assert uncommented == set()


def test_every_foreign_key_is_indexed(schema: Conn) -> None:
    unindexed = _names(
        schema,
        """
        SELECT con.conrelid::regclass::text || '(' || con.conname || ')' AS name
        FROM pg_constraint con
        WHERE con.contype = 'f'
          AND con.conrelid::regclass::text NOT LIKE 'procrastinate%'
          AND NOT EXISTS (
              SELECT 1 FROM pg_index i
              WHERE i.indrelid = con.conrelid
                AND (i.indkey::int2[])[0:array_length(con.conkey, 1) - 1] = con.conkey
          )
        """,
    )
    assert unindexed == set()


def test_dba_views_exist_and_answer(schema: Conn) -> None:
    views = _names(schema, "SELECT viewname AS name FROM pg_views WHERE schemaname = 'public'")
    assert views >= DBA_VIEWS
    for view in sorted(DBA_VIEWS):
        schema.execute(f"SELECT * FROM {view} LIMIT 1")


def test_reapplying_is_a_no_op(pg_server: PgServer, template_database: str) -> None:
    with cloned_database(pg_server, template_database) as url:
        assert pending_migrations(url) == []
        assert apply_migrations(url) == []


def test_fresh_database_gets_every_migration_in_order(pg_server: PgServer) -> None:
    janitor = pg_server.janitor("rs_migrate_fresh_" + str(id(pg_server) % 100000))
    janitor.init()
    try:
        url = pg_server.url(janitor.dbname)
        files = sorted(p.stem for p in migrations_dir().glob("*.sql"))
        assert pending_migrations(url) == files
        assert apply_migrations(url) == files
        assert apply_migrations(url) == []
    finally:
        janitor.drop()


def test_procrastinate_schema_is_the_pinned_versions(schema: Conn) -> None:
    """The frozen copy must match the installed procrastinate (bump both together)."""
    import importlib.metadata
    from importlib import resources

    version = importlib.metadata.version("procrastinate")
    frozen = migrations_dir() / f"0001.procrastinate-{version}.sql"
    assert frozen.is_file(), f"no frozen schema for procrastinate {version}"
    installed = (resources.files("procrastinate") / "sql" / "schema.sql").read_text("utf-8")
    assert installed.strip() in frozen.read_text("utf-8")
