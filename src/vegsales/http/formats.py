"""The formats a table read answers in: JSON (the default), CSV, NDJSON and Parquet, chosen by
`?format=` or the Accept header. Every format holds the same rows, in the same order, with the
same columns in the same order (a table's `TableShape`).

pyarrow (Parquet) is optional and takes a fifth of a second to import: it is imported on the first
Parquet request, never when this module is.
"""

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from operator import attrgetter
from typing import Any, Literal, get_args

import orjson

from ..asgi import ApiError
from ..records import escaped_surrogates

Format = Literal["json", "csv", "ndjson", "parquet"]
FORMATS: tuple[Format, ...] = get_args(Format)
"""Every format, in the order preferred when the client accepts several equally (JSON first)."""
_FORMAT_NAMES: dict[str, Format] = {format: format for format in FORMATS}

CONTENT_TYPES: dict[Format, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}

MEDIA_TYPES: dict[str, Format] = {
    "application/json": "json",
    "text/csv": "csv",
    "application/x-ndjson": "ndjson",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",  # the older, unregistered name, still sent
}
"""The media types an Accept header may name, each with the format it asks for."""

PARQUET_EXTRA = "pip install 'vegsales[parquet]'"

ColumnKind = Literal["text", "float", "bool"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    """text, float or bool: Parquet's string, double and bool; CSV's text, repr() and true/false."""
    value: Callable[[Any], Any]
    """The column's value of a row object."""


@dataclass(frozen=True)
class TableShape:
    """A table's columns, in the order every format writes them."""

    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


def _columns(*columns: tuple[str, ColumnKind]) -> tuple[Column, ...]:
    """Columns read from the row's attributes of the same names."""
    return tuple(Column(name, kind, attrgetter(name)) for name, kind in columns)


RAW = TableShape(_columns(("date", "text"), ("vegetable", "text"), ("kilo_sold", "float")))
"""Bronze rows (rows.BronzeRow) as /get_raw_sales serves them: the date and name as sent."""
MONTHLY = TableShape(
    _columns(("year_month", "text"), ("vegetable", "text"), ("kilo_sold", "float"), ("is_outlier", "bool"))
)
"""Gold rows (rows.GoldRow)."""
WEEKLY = TableShape(
    _columns(
        ("week_start", "text"),
        ("date", "text"),
        ("vegetable", "text"),
        ("raw_vegetable", "text"),
        ("kilo_sold", "float"),
    )
)
"""Silver rows (rows.SilverRow): the week's first day, the date as sent, the canonical and the sent name."""


# --- choosing the format ---------------------------------------------------------------------------


def chosen_format(format_parameter: str | None, accept: str | None) -> Format:
    """The format to answer in: `?format=` when given, else the best the Accept header allows
    (RFC 9110 12.5.1: each type weighed by its most specific media range; JSON without a header).

    400 invalid_parameter for an unknown `?format=`; 406 not_acceptable when the Accept header
    allows no format served, or asks for Parquet only on a server without pyarrow."""
    if format_parameter is not None:
        chosen = _FORMAT_NAMES.get(format_parameter)
        if chosen is None:
            allowed = ", ".join(FORMATS)
            raise ApiError(400, "invalid_parameter", f"format must be one of {allowed}, got {format_parameter!r}")
        if chosen == "parquet" and not parquet_available():
            raise _parquet_unavailable()
        return chosen
    if accept is None or not accept.strip():
        return "json"
    acceptable = accepted_formats(accept)
    for format in acceptable:
        if format != "parquet" or parquet_available():
            return format
    if acceptable:  # Parquet alone
        raise _parquet_unavailable()
    served = [format for format in FORMATS if format != "parquet" or parquet_available()]
    types = [media for media, format in MEDIA_TYPES.items() if format in served]
    raise ApiError(
        406,
        "not_acceptable",
        f"the Accept header allows none of the types served: {', '.join(types)} (or ?format={'|'.join(served)})",
    )


@lru_cache(maxsize=256)  # clients repeat their header: parsed once each
def accepted_formats(accept: str) -> tuple[Format, ...]:
    """The formats an Accept header allows (q > 0), the preferred first: by q-value, then those
    named over those a wildcard lets in, then in the header's order, then JSON, CSV, NDJSON, Parquet.

    A format's q is that of the most specific media range matching one of its types (the highest
    of equally specific ones). Media type parameters other than q (`charset=utf-8`,
    `header=present`) do not change a match; an unreadable q counts as 0."""
    ranges = [_media_range(part) for part in accept.split(",") if part.strip()]
    ranked = []
    for rank, format in enumerate(FORMATS):
        matches = [
            (specificity, q, -position)
            for media, format_of in MEDIA_TYPES.items()
            if format_of == format
            for position, (media_range, q) in enumerate(ranges)
            if (specificity := _specificity(media_range, media)) >= 0
        ]
        if matches:
            specificity, q, position = max(matches)
            if q > 0:
                ranked.append(((-q, -specificity, -position, rank), format))
    return tuple(format for _, format in sorted(ranked))


def _specificity(media_range: str, media: str) -> int:
    """2 when the range names the type, 1 for its type/*, 0 for */*; -1 when it does not match."""
    if media_range == media:
        return 2
    if media_range == media.partition("/")[0] + "/*":
        return 1
    return 0 if media_range == "*/*" else -1


def _media_range(part: str) -> tuple[str, float]:
    """(type/subtype in lower case, q) of one element of an Accept header."""
    media, *parameters = part.split(";")
    q = 1.0
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                q = 0.0
            if not 0.0 <= q <= 1.0:  # also NaN
                q = 0.0
    return "".join(media.split()).lower(), q


def _parquet_unavailable() -> ApiError:
    return ApiError(406, "not_acceptable", f"Parquet needs pyarrow, which this server lacks: {PARQUET_EXTRA}")


@cache
def _arrow() -> Any:
    """pyarrow, with pyarrow.parquet imported (its first call imports them); None when not installed."""
    try:
        import pyarrow  # type: ignore[import-untyped]  # optional, and without type stubs
        import pyarrow.parquet  # type: ignore[import-untyped]
    except ImportError:
        return None
    return pyarrow


def parquet_available() -> bool:
    """Whether pyarrow can be imported, which Parquet needs."""
    return _arrow() is not None


# --- rendering -------------------------------------------------------------------------------------


def rendered(rows: Sequence[Any], shape: TableShape, format: Format) -> bytes:
    """The rows in that format, with the shape's columns in its order.

    json: an array of objects, the bytes the JSON reads serve (orjson); ndjson: one such object a
    line, each line ended by \\n; csv: a header line then one line a row, RFC 4180 (\\r\\n, quotes
    only where needed), floats as repr() writes them (the shortest text read back as the same
    float), booleans true and false; parquet: typed columns (string, double, bool), none null.

    A lone surrogate (which UTF-8 cannot hold) in a text value is written as its JSON escape, the
    six characters \\ud800, in every format: as the JSON reads have always served it."""
    if format == "json":
        return _json(rows, shape)
    if format == "ndjson":
        return _ndjson(rows, shape)
    if format == "csv":
        return _csv(rows, shape)
    if format == "parquet":
        return _parquet(rows, shape)
    raise ValueError(f"unknown format {format!r}")


def _columns_of(rows: Sequence[Any], shape: TableShape, escaped: bool = True) -> list[list[Any]]:
    """Each column's values, in row order: floats and booleans as such (a float column's 2 is 2.0
    in every format), text with lone surrogates `escaped`. Column by column: one map() a column
    costs less than a loop a row."""
    columns = []
    for column in shape.columns:
        values = list(map(column.value, rows))
        if column.kind == "float":
            values = list(map(float, values))
        elif column.kind == "bool":
            values = list(map(bool, values))
        elif escaped and not "".join(values).isascii():
            values = [escaped_surrogates(value) for value in values]
        columns.append(values)
    return columns


def _objects(rows: Sequence[Any], shape: TableShape, escaped: bool) -> list[dict[str, Any]]:
    names = shape.names
    return [dict(zip(names, values, strict=True)) for values in zip(*_columns_of(rows, shape, escaped), strict=True)]


def _json(rows: Sequence[Any], shape: TableShape) -> bytes:
    try:
        return orjson.dumps(_objects(rows, shape, escaped=False))
    except orjson.JSONEncodeError:  # a lone surrogate, which orjson refuses: a row no post could store
        return orjson.dumps(_objects(rows, shape, escaped=True))


def _ndjson(rows: Sequence[Any], shape: TableShape) -> bytes:
    try:
        lines = list(map(orjson.dumps, _objects(rows, shape, escaped=False)))
    except orjson.JSONEncodeError:
        lines = list(map(orjson.dumps, _objects(rows, shape, escaped=True)))
    return b"\n".join(lines) + b"\n" if lines else b""


PIECE_ROWS = 10_000
"""Rows a piece of a streamed answer holds (pieces())."""


def pieces(rows: Sequence[Any], shape: TableShape, format: Format) -> Iterator[bytes]:
    """The rows in that format, as rendered() writes them, in pieces of PIECE_ROWS rows: the answer
    is sent as it is made, never whole in memory (a Parquet row group a piece)."""
    if format == "parquet":
        yield from _parquet_pieces(rows, shape)
        return
    for start in range(0, max(len(rows), 1), PIECE_ROWS):
        part = rows[start : start + PIECE_ROWS]
        if format == "csv":
            yield _csv(part, shape, header=start == 0)
        elif format == "ndjson":
            yield _ndjson(part, shape)
        else:
            body = _json(part, shape)[1:-1]
            yield (b"[" if start == 0 else b",") + body if body else b"["
    if format == "json":
        yield b"]"


def _csv(rows: Sequence[Any], shape: TableShape, header: bool = True) -> bytes:
    columns = _columns_of(rows, shape)
    for index, column in enumerate(shape.columns):
        if column.kind == "float":
            columns[index] = list(map(repr, columns[index]))
        elif column.kind == "bool":
            columns[index] = ["true" if value else "false" for value in columns[index]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # quotes a field holding , " \r or \n; doubles "
    if header:
        writer.writerow(shape.names)
    writer.writerows(zip(*columns, strict=True))
    return buffer.getvalue().encode()


_ARROW_TYPES: dict[ColumnKind, str] = {"text": "string", "float": "float64", "bool": "bool_"}
"""Each column kind's pyarrow type, by the name of its factory (pyarrow is imported on first use)."""


def parquet_schema(shape: TableShape) -> Any:
    """The shape's columns as a pyarrow schema: string, double and bool, none nullable."""
    pa = _arrow()
    if pa is None:
        raise _parquet_unavailable()
    return pa.schema(
        [pa.field(column.name, getattr(pa, _ARROW_TYPES[column.kind])(), nullable=False) for column in shape.columns]
    )


def _parquet_pieces(rows: Sequence[Any], shape: TableShape) -> Iterator[bytes]:
    """A Parquet file written a row group of PIECE_ROWS rows at a time, each piece the bytes written
    since the last."""
    schema = parquet_schema(shape)  # raises first when pyarrow is missing
    pa = _arrow()
    sink = io.BytesIO()
    with pa.parquet.ParquetWriter(sink, schema) as writer:
        for start in range(0, len(rows), PIECE_ROWS):
            part = rows[start : start + PIECE_ROWS]
            arrays = [
                pa.array(values, type=field.type)
                for values, field in zip(_columns_of(part, shape), schema, strict=True)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            yield sink.getvalue()
            sink.seek(0)
            sink.truncate()
    yield sink.getvalue()  # the footer


def _parquet(rows: Sequence[Any], shape: TableShape) -> bytes:
    schema = parquet_schema(shape)  # raises first when pyarrow is missing
    pa = _arrow()
    arrays = [pa.array(values, type=field.type) for values, field in zip(_columns_of(rows, shape), schema, strict=True)]
    sink = pa.BufferOutputStream()
    pa.parquet.write_table(pa.Table.from_arrays(arrays, schema=schema), sink)
    return bytes(sink.getvalue().to_pybytes())
