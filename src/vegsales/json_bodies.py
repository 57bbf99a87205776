"""Tables rendered as JSON arrays, kept current from the store's change feed.

A read asks the store only for rows written since the last read; an unchanged table costs one
tiny query. The array is kept as pieces of PIECE_ROWS rows: a changed row re-renders only its
piece, and each piece is gzip-compressed on its own and cached, so after a post only the pieces
that changed are compressed again (the technique of pigz: deflate blocks ended with a sync
flush concatenate into one valid stream).
"""

import bisect
import struct
import zlib
from collections.abc import Callable, Hashable
from typing import Generic

import orjson

from .sorted_rows import RenderedRows
from .storage import Changes, Cursor
from .storage.base import Row

GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 1
"""Pieces are small and recompressed often: level 1 keeps ~5x compression at a third of the cost."""
PIECE_ROWS = 64
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, unknown OS
_FINAL_BLOCK = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS).flush()


def _deflate(piece: bytes) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)


class Pieces:
    """A JSON array of rendered fragments, as pieces that concatenate into the array."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = [b"[]"]
        self._compressed: list[bytes | None] = [None]
        self._body: bytes | None = None
        self._gzip: bytes | None = None

    def update(self, fragments: list[bytes], dirty: set[int] | None) -> None:
        """Re-render the pieces numbered in `dirty`, or all of them when it is None."""
        count = max(1, -(-len(fragments) // PIECE_ROWS))
        if dirty is None:
            old = dict(enumerate(zip(self._pieces, self._compressed, strict=True)))
            self._pieces = [self._piece(fragments, i, count) for i in range(count)]
            # A piece that came out the same keeps its compressed form.
            self._compressed = [
                old[i][1] if i in old and old[i][0] == piece else None for i, piece in enumerate(self._pieces)
            ]
        else:
            for i in dirty:
                self._pieces[i] = self._piece(fragments, i, count)
                self._compressed[i] = None
        self._body = self._gzip = None

    @staticmethod
    def _piece(fragments: list[bytes], index: int, count: int) -> bytes:
        piece = (b"[" if index == 0 else b",") + b",".join(fragments[index * PIECE_ROWS : (index + 1) * PIECE_ROWS])
        return piece + b"]" if index == count - 1 else piece

    def body(self) -> bytes:
        if self._body is None:
            self._body = b"".join(self._pieces)
        return self._body

    def gzip(self) -> bytes:
        if self._gzip is None:
            for i, piece in enumerate(self._pieces):
                if self._compressed[i] is None:
                    self._compressed[i] = _deflate(piece)
            body = self.body()
            trailer = struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF)
            self._gzip = b"".join([_GZIP_HEADER, *(piece or b"" for piece in self._compressed), _FINAL_BLOCK, trailer])
        return self._gzip


class JsonTable(Generic[Row]):
    """One table's rows as cached JSON bytes, sorted by key, with optional filtered variants."""

    def __init__(
        self,
        changes: Callable[[Cursor | None], Changes[Row]],
        key: Callable[[Row], Hashable],
        variants: dict[str, Callable[[Row], bool]] | None = None,
        render: Callable[[Row], bytes] = orjson.dumps,
    ):
        self._changes: Callable[[Cursor | None], Changes[Row]] = changes
        self._key: Callable[[Row], Hashable] = key
        self._rows: RenderedRows[bytes] = RenderedRows(key, render)
        self._filters: dict[str, Callable[[Row], bool]] = variants or {}
        self._cursor: Cursor | None = None
        self._pieces: dict[str, Pieces] = {name: Pieces() for name in ["all", *self._filters]}
        self._stale: set[str] = set(self._pieces)
        self._dirty: set[int] | None = None  # pieces of "all" to re-render; None: every piece

    def refresh(self) -> None:
        """Apply what was written since the last refresh."""
        changes = self._changes(self._cursor)
        self._cursor = changes.cursor
        if not changes.rows and not changes.reset:
            return
        if changes.reset:
            self._rows.clear()
            self._dirty = None
        replaced = self._rows.update(changes.rows)
        if self._dirty is not None:
            if any(before is None for before in replaced):
                self._dirty = None  # rows were inserted: every later row moved
            else:
                keys = self._rows.keys
                self._dirty.update(bisect.bisect_left(keys, self._key(row)) // PIECE_ROWS for row in changes.rows)
        self._stale = set(self._pieces)

    def rows(self) -> list[Row]:
        """The rows as of the last refresh, in key order."""
        return self._rows.ordered_rows()

    def etag(self, variant: str = "all") -> str:
        # Weak: the gzip and identity encodings of one version share it (RFC 9110 8.8.1).
        epoch, seq = self._cursor or (0, 0)
        return f'W/"{epoch}.{seq}.{variant}"'

    def _current(self, variant: str) -> Pieces:
        pieces = self._pieces[variant]
        if variant in self._stale:
            if variant == "all":
                pieces.update(self._rows.rendered, self._dirty)
                self._dirty = set()
            else:
                keep = self._filters[variant]
                rows = self._rows.ordered_rows()
                pieces.update([f for row, f in zip(rows, self._rows.rendered, strict=True) if keep(row)], None)
            self._stale.discard(variant)
        return pieces

    def body(self, variant: str = "all", gzipped: bool = False) -> bytes:
        """The JSON array, gzip-compressed if asked; rendered once per version."""
        pieces = self._current(variant)
        return pieces.gzip() if gzipped else pieces.body()

    def worth_compressing(self, variant: str = "all") -> bool:
        return len(self._current(variant).body()) >= GZIP_MIN_BYTES
