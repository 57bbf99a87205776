"""A store's schema as the database itself describes it (SQLite's sqlite_master, PostgreSQL's catalog):
what stores created or migrated by different releases are compared by."""

import sqlite3
from pathlib import Path
from typing import Any

import psycopg


def sqlite_schema(path: Path) -> list[list[Any]]:
    """Every table and index: [type, name, table, CREATE statement as SQLite keeps it], by name."""
    connection = sqlite3.connect(path)
    try:
        query = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
        return [list(row) for row in connection.execute(query)]
    finally:
        connection.close()


POSTGRES_CATALOG = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, coalesce(l.collname, '')
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_collation l ON l.oid = a.attcollation
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attnum > 0
          AND NOT a.attisdropped
        ORDER BY c.relname, a.attnum""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, replace(indexdef, current_schema() || '.', '')
        FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1, 2""",
}


def postgres_schema(url: str, schema: str) -> dict[str, list[list[Any]]]:
    """Every column (in table order: type, NOT NULL, collation), constraint and index of one schema."""
    with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}") as connection:
        return {
            part: [list(row) for row in connection.execute(query).fetchall()]
            for part, query in POSTGRES_CATALOG.items()
        }
