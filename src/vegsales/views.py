"""Tables rendered as JSON arrays, kept current from the store's change feed.

A read asks the store only for rows written since the last read and re-renders just those rows;
an unchanged table costs one tiny query. The array is cut into pieces of PIECE_ROWS rows, each
gzip-compressed on its own and cached, so after a post only the pieces that changed are
compressed again (the technique of pigz: deflate blocks ended with a sync flush concatenate
into one valid stream).
"""

import struct
import zlib
from collections.abc import Callable, Hashable
from typing import Generic

import orjson

from .rendered import RenderedRows
from .storage import Changes, Cursor
from .storage.base import Row

GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 1
"""Pieces are small and recompressed often: level 1 keeps ~5x compression at a third of the cost."""
PIECE_ROWS = 64
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, unknown OS
_FINAL_BLOCK = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS).flush()


def _deflate_piece(piece: bytes) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)


class _Rendering:
    """One variant of a table at one version: its pieces, whole body and gzip body."""

    def __init__(self, fragments: list[bytes]):
        pieces = [b",".join(fragments[i : i + PIECE_ROWS]) for i in range(0, len(fragments), PIECE_ROWS)]
        self.pieces = [b"," + piece for piece in pieces]
        if self.pieces:
            self.pieces[0] = b"[" + pieces[0]
            self.pieces[-1] += b"]"
        else:
            self.pieces = [b"[]"]
        self.body = b"".join(self.pieces)
        self.compressed: list[bytes] | None = None
        self.gzip: bytes | None = None

    def gzipped(self, previous: "_Rendering | None") -> bytes:
        if self.gzip is None:
            old_pieces, old_compressed = [], []
            if previous is not None and previous.compressed is not None:
                old_pieces, old_compressed = previous.pieces, previous.compressed
            self.compressed = [
                old_compressed[i] if i < len(old_pieces) and old_pieces[i] == piece else _deflate_piece(piece)
                for i, piece in enumerate(self.pieces)
            ]
            trailer = struct.pack("<II", zlib.crc32(self.body), len(self.body) & 0xFFFFFFFF)
            self.gzip = b"".join([_GZIP_HEADER, *self.compressed, _FINAL_BLOCK, trailer])
        return self.gzip


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
        self._current: dict[str, _Rendering] = {}
        self._previous: dict[str, _Rendering] = {}

    def refresh(self) -> None:
        """Apply what was written since the last refresh."""
        changes = self._changes(self._cursor)
        if changes.reset:
            self._rows.clear()
        self._rows.update(changes.rows)
        if changes.cursor != self._cursor or changes.rows:
            self._previous.update(self._current)
            self._current = {}
        self._cursor = changes.cursor

    def etag(self, variant: str = "all") -> str:
        # Weak: the gzip and identity encodings of one version share it (RFC 9110 8.8.1).
        epoch, seq = self._cursor or (0, 0)
        return f'W/"{epoch}.{seq}.{variant}"'

    def _rendering(self, variant: str) -> _Rendering:
        rendering = self._current.get(variant)
        if rendering is None:
            if variant == "all":
                fragments = self._rows.rendered
            else:
                keep = self._variants[variant]
                rows = self._rows.ordered_rows()
                fragments = [fragment for row, fragment in zip(rows, self._rows.rendered, strict=True) if keep(row)]
            rendering = self._current[variant] = _Rendering(fragments)
        return rendering

    def body(self, variant: str = "all", gzipped: bool = False) -> bytes:
        """The JSON array, gzip-compressed if asked; rendered once per version."""
        rendering = self._rendering(variant)
        return rendering.gzipped(self._previous.get(variant)) if gzipped else rendering.body

    def worth_compressing(self, variant: str = "all") -> bool:
        return len(self._rendering(variant).body) >= GZIP_MIN_BYTES
