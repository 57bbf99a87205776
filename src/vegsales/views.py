"""Tables rendered as JSON arrays, kept current from the store's change feed.

A read asks the store only for rows written since the last read, re-renders just those rows,
and re-joins the cached fragments; an unchanged table costs one tiny query and no rendering.
"""

import gzip
from collections.abc import Callable, Hashable
from typing import Generic

import orjson

from .rendered import RenderedRows
from .storage import Changes, Cursor
from .storage.base import Row

GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 1
"""Level 1 compresses these repetitive arrays ~10x at a fraction of level 6's cost."""


class JsonTable(Generic[Row]):
    """One table's rows as cached JSON bytes, sorted by key, with optional filtered variants."""

    def __init__(
        self,
        changes: Callable[[Cursor | None], Changes[Row]],
        key: Callable[[Row], Hashable],
        variants: dict[str, Callable[[Row], bool]] | None = None,
    ):
        self._changes = changes
        self._rows: RenderedRows[bytes] = RenderedRows(key, orjson.dumps)
        self._variants = variants or {}
        self._cursor: Cursor | None = None
        self._bodies: dict[tuple[str, bool], bytes] = {}

    def refresh(self) -> None:
        """Apply what was written since the last refresh."""
        changes = self._changes(self._cursor)
        if changes.reset:
            self._rows.clear()
        self._rows.update(changes.rows)
        if changes.cursor != self._cursor or changes.rows:
            self._bodies.clear()
        self._cursor = changes.cursor

    def etag(self, variant: str = "all") -> str:
        # Weak: the gzip and identity encodings of one version share it (RFC 9110 8.8.1).
        epoch, seq = self._cursor or (0, 0)
        return f'W/"{epoch}.{seq}.{variant}"'

    def body(self, variant: str = "all", gzipped: bool = False) -> bytes:
        """The JSON array (gzip-compressed if asked), rendered once per version."""
        cached = self._bodies.get((variant, gzipped))
        if cached is None:
            if gzipped:
                cached = gzip.compress(self.body(variant), GZIP_LEVEL, mtime=0)
            elif variant == "all":
                cached = b"[" + b",".join(self._rows.rendered) + b"]"
            else:
                keep = self._variants[variant]
                rows = self._rows.ordered_rows()
                fragments = [fragment for row, fragment in zip(rows, self._rows.rendered, strict=True) if keep(row)]
                cached = b"[" + b",".join(fragments) + b"]"
            self._bodies[(variant, gzipped)] = cached
        return cached

    def worth_compressing(self, variant: str = "all") -> bool:
        return len(self.body(variant)) >= GZIP_MIN_BYTES
