"""Schema migrations of the SQL stores: one module per version, each bringing a store of the
version before it up to its own. A store is migrated step by step, in the transaction that opens it;
the current schema (created if missing) is then applied over the result."""

from types import ModuleType
from typing import Literal

from . import to_v2, to_v3

Dialect = Literal["sqlite", "postgres"]
STEPS: dict[int, ModuleType] = {1: to_v2, 2: to_v3}
"""The step from each version to the next."""


def scripts(version: int, dialect: Dialect) -> list[str]:
    """The scripts that bring a store of `version` up to the current one, in order."""
    return [getattr(STEPS[step], dialect.upper()) for step in range(version, len(STEPS) + 1)]
