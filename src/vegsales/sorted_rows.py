"""Rows kept sorted by key, each with its rendered text, so a whole table renders with one join."""

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Rendered = TypeVar("Rendered", str, bytes)

Key = Any
"""A row's key: hashable and sortable (a tuple of strings, or a string); typing cannot say both."""

BULK = 64
"""Past this many new keys in one update, re-sorting beats inserting one by one."""


@dataclass(frozen=True, slots=True)
class Updated:
    replaced: list[Any | None]
    """The row each updated row replaced (None: it was new)."""
    positions: list[int] | None
    """Where each row now sits, when no row was new (none moved); None otherwise."""


class RenderedRows(Generic[Rendered]):
    def __init__(self, key: Callable[[Any], Key], render: Callable[[Any], Rendered]):
        self._key: Callable[[Any], Key] = key
        self._render: Callable[[Any], Rendered] = render
        self.rows: dict[Key, Any] = {}
        self._by_key: dict[Key, Rendered] = {}
        self.keys: list[Key] = []  # sorted ...
        self.rendered: list[Rendered] = []  # ... and side by side with the keys

    def update(self, rows: Sequence[Any], rendered: Sequence[Rendered] | None = None) -> "Updated":
        """Insert or replace rows by key (`rendered`: their texts, when the caller has them)."""
        texts = rendered if rendered is not None else [self._render(row) for row in rows]
        keys = [self._key(row) for row in rows]
        replaced, new_keys = [], []
        stored, by_key = self.rows, self._by_key
        for key, row, text in zip(keys, rows, texts, strict=True):
            before = stored.get(key)
            replaced.append(before)
            if before is None:
                new_keys.append(key)
            stored[key] = row
            by_key[key] = text
        if len(new_keys) > BULK:
            self.keys = sorted(stored)
            self.rendered = [by_key[key] for key in self.keys]
            return Updated(replaced, None)
        for key in new_keys:
            position = bisect.bisect_left(self.keys, key)
            self.keys.insert(position, key)
            self.rendered.insert(position, by_key[key])
        positions = [bisect.bisect_left(self.keys, key) for key in keys]
        for position, key in zip(positions, keys, strict=True):
            self.rendered[position] = by_key[key]
        return Updated(replaced, None if new_keys else positions)

    def remove(self, key: Key) -> Any:
        position = bisect.bisect_left(self.keys, key)
        del self.keys[position], self.rendered[position], self._by_key[key]
        return self.rows.pop(key)

    def clear(self) -> None:
        for part in (self.rows, self._by_key, self.keys, self.rendered):
            part.clear()

    def ordered_rows(self) -> list[Any]:
        return [self.rows[key] for key in self.keys]
