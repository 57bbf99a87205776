"""Schema migrations: one module per version, declaring what that version changed (a `Step`), which
every backend applies (sql.py, csv.py). A store is migrated one version at a time, in the
transaction that opens it; the current schema (created if missing) is then applied over the result."""

from collections.abc import Callable, Mapping

from ..base import StorageError
from ..schema import BRONZE_SALES, STORE_META, TABLES, Table
from . import to_v2, to_v3, to_v4, to_v5
from .step import NOW, Source, Step

__all__ = ["NOW", "SCHEMA_VERSION", "STEPS", "Source", "Step", "steps_from", "stored_version", "tables_at"]

STEPS = (to_v2.STEP, to_v3.STEP, to_v4.STEP, to_v5.STEP)
"""STEPS[i] brings a store of version i + 1 to version i + 2."""
SCHEMA_VERSION = len(STEPS) + 1
"""The version of the schema in storage/schema.py."""


def stored_version(has_table: Callable[[str], bool], settings: Callable[[], Mapping[str, str]]) -> int | None:
    """The schema version of a store, None for a new one: its schema_version setting, or 1 for a
    store of sales without settings (version 1 had none)."""
    if has_table(STORE_META.name):
        version = settings().get("schema_version", "")
        if not version.isdecimal():
            raise StorageError(f"its schema_version setting is {version!r}, not a version number")
        return int(version)
    return 1 if has_table(BRONZE_SALES.name) else None


def steps_from(version: int) -> list[tuple[int, Step]]:
    """The steps that bring a store of `version` up to SCHEMA_VERSION, one version at a time, each
    with the version it starts from. StorageError for a version this code does not know."""
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"it was written by a newer vegsales (schema version {version}, this one knows {SCHEMA_VERSION})"
        )
    if version < 1:
        raise StorageError(f"schema version {version} was never written by vegsales")
    return [(start, STEPS[start - 1]) for start in range(version, SCHEMA_VERSION)]


def tables_at(version: int) -> dict[str, Table]:
    """The tables of a store of `version`, by name."""
    tables = {table.name: table for table in TABLES}
    for step in reversed(STEPS[version - 1 :]):
        tables.update((table.name, table) for table in step.before)
        for name in step.created:
            del tables[name]
    return tables
