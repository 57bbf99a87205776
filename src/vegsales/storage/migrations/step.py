"""What one schema version changed, declared once for every backend: sql.py and csv.py apply it."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from ..schema import Table


class Source(Enum):
    NOW = "now"
    """The time of the migration, as received_at holds it."""


NOW = Source.NOW


@dataclass(frozen=True)
class Step:
    """The changes that bring a store of the version before to this one, in the order applied."""

    created: tuple[str, ...] = ()
    """Tables this version added, created empty."""
    rebuilt: Mapping[str, Mapping[str, str | Source]] = field(default_factory=dict)
    """Tables rebuilt in their new shape (columns, key, indexes), each row copied over: per table, the
    columns whose value is not that of the old column of the same name, with where it comes from
    (an old column, or NOW)."""
    before: tuple[Table, ...] = ()
    """The rebuilt tables whose columns changed, as the version before kept them (the CSV files of
    that version are read by them); a table not here had the columns it has in the next version."""
    settings: Mapping[str, str] = field(default_factory=dict)
    """Settings this version added (the schema version is set by every step)."""

    def __post_init__(self) -> None:
        if not {table.name for table in self.before} <= set(self.rebuilt):
            raise ValueError("a table whose columns changed must be rebuilt")
