"""Tables rendered as JSON arrays, kept current from the store's change feed.

A read asks the store only for rows written since the last read; an unchanged table costs one
tiny query. Each variant (all rows, or those a filter keeps) is kept as pieces of PIECE_ROWS
rows: a changed row re-renders only its piece, and each piece is gzip-compressed on its own and
cached, so after a post only the pieces that changed are compressed again (the technique of
pigz: deflate blocks ended with a sync flush concatenate into one valid stream). Compression and
CRC-32 are ISA-L's (python-isal): on these pieces, deflate takes a third of the time of the
standard library's zlib, for a smaller body, and the CRC a fifteenth (docs/decisions/008-gzip-library.md).
"""

import bisect
import math
import struct
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Generic

import orjson
from isal import isal_zlib

from .sorted_rows import RenderedRows
from .storage import Changes, Cursor
from .storage.base import Row

GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 1
"""Pieces are small and recompressed often: level 1 keeps ~5x compression at a third of the cost."""
PIECE_ROWS = 64
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, unknown OS
_FINAL_BLOCK = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS).flush()


def _deflate(piece: bytes) -> bytes:
    compressor = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS)
    return compressor.compress(piece) + compressor.flush(isal_zlib.Z_SYNC_FLUSH)


class Pieces:
    """A JSON array of rendered fragments, as pieces that concatenate into the array."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = [b"[]"]
        self._compressed: list[bytes | None] = [None]
        self._crcs: list[int] = []
        """The CRC-32 of the body up to the end of each piece, for the first pieces unchanged since
        it was computed: a changed piece costs the CRC of what follows it, not of the whole body."""
        self._body: bytes | None = None
        self._gzip: bytes | None = None
        self._size: int | None = None
        """The body's length, summed once a version: every whole-table read asks it."""

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
            same = next((i for i, packed in enumerate(self._compressed) if packed is None), count)
        else:
            for i in dirty:
                self._pieces[i] = self._piece(fragments, i, count)
                self._compressed[i] = None
            same = min(dirty, default=count)
        del self._crcs[same:]
        self._body = self._gzip = self._size = None

    @staticmethod
    def _piece(fragments: list[bytes], index: int, count: int) -> bytes:
        piece = (b"[" if index == 0 else b",") + b",".join(fragments[index * PIECE_ROWS : (index + 1) * PIECE_ROWS])
        return piece + b"]" if index == count - 1 else piece

    def size(self) -> int:
        if self._size is None:
            self._size = sum(map(len, self._pieces))
        return self._size

    def body(self) -> bytes:
        if self._body is None:
            self._body = b"".join(self._pieces)
        return self._body

    def gzip(self) -> bytes:
        if self._gzip is None:
            for i, piece in enumerate(self._pieces):
                if self._compressed[i] is None:
                    self._compressed[i] = _deflate(piece)
            crc = self._crcs[-1] if self._crcs else 0
            for piece in self._pieces[len(self._crcs) :]:
                crc = isal_zlib.crc32(piece, crc)
                self._crcs.append(crc)
            trailer = struct.pack("<II", crc, self.size() & 0xFFFFFFFF)
            self._gzip = b"".join([_GZIP_HEADER, *(piece or b"" for piece in self._compressed), _FINAL_BLOCK, trailer])
        return self._gzip


class View(Generic[Row]):
    """The rows one variant of a table shows (all, or those `keep` accepts), rendered and sorted,
    with its pieces: a changed row re-renders the piece it sits in, an added or removed row (its
    followers move) every piece."""

    def __init__(self, key: Callable[[Row], Hashable], render: Callable[[Row], bytes], keep: Callable[[Row], bool]):
        self.key: Callable[[Row], Hashable] = key
        self.keep: Callable[[Row], bool] = keep
        self.rows: RenderedRows[bytes] = RenderedRows(key, render)
        self.pieces = Pieces()
        self._dirty: set[int] | None = None  # pieces to re-render; None: every piece
        self._stale = True

    def apply(self, changed: Sequence[Row], rendered: Sequence[bytes], reset: bool) -> None:
        """Take in rows written since the last apply, with their JSON (`rendered`, side by side)."""
        if reset:
            self.rows.clear()
            self._dirty, self._stale = None, True
        kept, texts, left = [], [], []
        for row, text in zip(changed, rendered, strict=True):
            if self.keep(row):
                kept.append(row)
                texts.append(text)
            elif (key := self.key(row)) in self.rows.rows:
                left.append(key)  # no longer shown: its followers move up
        for key in left:
            self.rows.remove(key)
        positions = self.rows.update(kept, texts).positions
        if left or positions is None:
            self._dirty = None
        elif self._dirty is not None:
            self._dirty.update(position // PIECE_ROWS for position in positions)
        self._stale = self._stale or bool(kept or left)

    def current(self) -> Pieces:
        if self._stale:
            self.pieces.update(self.rows.rendered, self._dirty)
            self._dirty, self._stale = set(), False
        return self.pieces


def _every_row(row: object) -> bool:
    return True


class JsonBodies(Generic[Row]):
    """One table's rows as cached JSON bytes, sorted by key, with optional filtered variants."""

    def __init__(
        self,
        changes: Callable[[Cursor | None], Changes[Row]],
        key: Callable[[Row], Hashable],
        variants: dict[str, Callable[[Row], bool]] | None = None,
        render: Callable[[Row], bytes] = orjson.dumps,
    ):
        self._changes: Callable[[Cursor | None], Changes[Row]] = changes
        self._render: Callable[[Row], bytes] = render
        self._cursor: Cursor | None = None
        filters = {"all": _every_row, **(variants or {})}
        self._views: dict[str, View[Row]] = {name: View(key, render, keep) for name, keep in filters.items()}
        self.lock = threading.RLock()
        """Held to refresh, or to read a version whole (ETag and body): threads of the app refresh too."""
        self._refreshed_at = -math.inf

    def refresh(self, asked: float | None = None) -> None:
        """Apply what was written since the last refresh, unless a refresh that began at or after
        `asked` (time.monotonic() when the caller needed the table current) already did."""
        with self.lock:
            started = time.monotonic()
            if asked is not None and self._refreshed_at >= asked:
                return  # it saw every write committed before `asked`
            changes = self._changes(self._cursor)
            self._cursor, self._refreshed_at = changes.cursor, started
            if changes.rows or changes.reset:
                # Once, whatever the number of views; each copied to its own size: orjson (3.12 and later)
                # returns bytes over-allocated by ~4 KB, which a million kept rows made 4.7 GB of memory.
                rendered = [bytes(memoryview(self._render(row))) for row in changes.rows]
                for view in self._views.values():
                    view.apply(changes.rows, rendered, changes.reset)

    def rows(self) -> list[Row]:
        """The rows as of the last refresh, in key order."""
        with self.lock:
            return self._views["all"].rows.ordered_rows()

    def select(
        self,
        low: Hashable,
        high: Hashable | None,
        variant: str = "all",
        keep: Callable[[Row], bool] | None = None,
        limit: int | None = None,
    ) -> tuple[list[Row], list[bytes], Hashable | None]:
        """A variant's rows with low <= key < high (None: no end) that `keep` accepts, in key order, at
        most `limit` of them, with their JSON, as of the last refresh; and the key of the last row
        returned when more rows follow it (else None). A bisection, then the rows looked at."""
        with self.lock:
            view = self._views[variant].rows
            keys, stored, texts = view.keys, view.rows, view.rendered
            position = bisect.bisect_left(keys, low)
            end = len(keys) if high is None else bisect.bisect_left(keys, high, lo=position)
            if keep is None and limit is None:
                found = keys[position:end]
                return [stored[key] for key in found], texts[position:end], None
            rows: list[Row] = []
            chosen: list[bytes] = []
            last = position
            for index in range(position, end):
                row = stored[keys[index]]
                if keep is not None and not keep(row):
                    continue
                if limit is not None and len(rows) == limit:  # one more row follows: a next page
                    return rows, chosen, keys[last]
                rows.append(row)
                chosen.append(texts[index])
                last = index
            return rows, chosen, None

    def cursor(self) -> Cursor | None:
        """The (epoch, data version) of the last refresh: it names the rows' state."""
        return self._cursor

    def data_version(self) -> int:
        """The data version the rows come from, as of the last refresh."""
        return (self._cursor or (0, 0))[1]

    def etag(self, variant: str = "all") -> str:
        # Weak: the gzip and identity encodings of one version share it (RFC 9110 8.8.1).
        epoch, seq = self._cursor or (0, 0)
        return f'W/"{epoch}.{seq}.{variant}"'

    def body(self, variant: str = "all", gzipped: bool = False) -> bytes:
        """The JSON array, gzip-compressed if asked; rendered once per version."""
        pieces = self._views[variant].current()
        return pieces.gzip() if gzipped else pieces.body()

    def worth_compressing(self, variant: str = "all") -> bool:
        return self._views[variant].current().size() >= GZIP_MIN_BYTES
