"""Sales files as spreadsheets write them: the file's bytes -> records with the line each starts on,
or an error a person can act on.

Pure: no file, no network. Handled here: a BOM, an encoding other than UTF-8 (named by the caller),
`,` `;` or tab as the separator (read from the header line), headers in English, French or Spanish
in any case, and with `;` the decimal comma and the thousands space of French and Spanish exports.
Everything else is kept as read: the service validates each record and reports it by line.
"""

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

COLUMNS = ("date", "vegetable", "kilo_sold")
"""The three fields of a record, in the order the service names them."""
HEADER_NAMES: dict[str, tuple[str, ...]] = {
    "date": ("date", "semaine", "fecha"),
    "vegetable": ("vegetable", "légume", "legume", "verdura", "producto"),
    "kilo_sold": ("kilo_sold", "kilos", "kg", "ventes"),
}
"""The header names each column is found by (compared without case or accents); `--columns` names others."""
SEPARATORS = (",", ";", "\t")
"""The separators told apart on the header line; on a tie, the first."""
OFFERED_ENCODINGS = ("cp1252", "latin-1")
"""What an error offers when a file is not UTF-8: Windows spreadsheets in Western Europe save cp1252,
which differs from latin-1 only by the printable characters it puts at 0x80-0x9F (€, œ, the curly quotes)."""
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
"""A BOM names its encoding: Excel's "CSV UTF-8" starts with the UTF-8 one, its "Unicode text" with UTF-16's."""

# A number as written with `;` as separator: a decimal comma and/or thousands grouped by a space, a
# no-break space or a narrow no-break space (what French spreadsheets put there). Groups must be of three
# digits, so "12 34" is not read as 1234 but kept as read, for the service to reject.
_EUROPEAN_NUMBER = re.compile(r"\s*([+-]?)(\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+)(?:,(\d+))?\s*")
_THOUSANDS = re.compile(r"[ \u00a0\u202f]")
_FIRST_LINE = re.compile(r"[^\r\n]*\S[^\r\n]*")


class SalesFileError(Exception):
    """A file that cannot be read as sales; the message says why and what to do."""


class MalformedLine(SalesFileError):
    """A line the CSV reader cannot split into the header's fields: an unclosed quote, a wrong count."""

    def __init__(self, line: int, reason: str):
        self.line = line
        super().__init__(f"line {line}: {reason}")


class Sale(NamedTuple):
    line: int
    """The line the record starts on, counted from 1 (the header's line included)."""
    record: dict[str, str | float]


@dataclass(frozen=True)
class SalesFile:
    """A sales file decoded, its separator and columns found; `sales()` reads its records."""

    text: str
    encoding: str
    separator: str
    header: tuple[str, ...]
    positions: dict[str, int]
    """Each of COLUMNS -> its index in the header."""

    @property
    def ignored_columns(self) -> tuple[str, ...]:
        used = set(self.positions.values())
        return tuple(name for index, name in enumerate(self.header) if index not in used)

    @property
    def lines(self) -> int:
        """The file's physical lines (for a progress bar: the last sale's line is at most this)."""
        return self.text.count("\n") + (not self.text.endswith("\n"))

    def sales(self) -> Iterator[Sale]:
        """Each record with its line; raises MalformedLine on reaching a line that cannot be split."""
        kilos = european_number if self.separator == ";" else _as_read
        date, vegetable, kilo_sold = (self.positions[column] for column in COLUMNS)
        records = _records(self.text, self.separator)
        next(records)  # the header
        for start, end, row in records:
            self._check_shape(row, start, end)
            yield Sale(start, {"date": row[date], "vegetable": row[vegetable], "kilo_sold": kilos(row[kilo_sold])})

    def _check_shape(self, row: list[str], start: int, end: int) -> None:
        # A quote left open makes the reader join the following lines into one record: a field of the
        # three never holds a line break, so that, or a wrong count, is how it shows.
        if len(row) != len(self.header):
            over = f", over lines {start} to {end}: a quote left open?" if end > start else ""
            raise MalformedLine(start, f"{len(row)} fields where the header has {len(self.header)}{over}")
        if end > start and any("\n" in row[i] or "\r" in row[i] for i in self.positions.values()):
            raise MalformedLine(start, f"a quoted field runs from line {start} to line {end}: a quote left open?")


def read_sales_file(
    data: bytes, separator: str | None = None, encoding: str | None = None, columns: Mapping[str, str] | None = None
) -> SalesFile:
    """The file decoded and its header read; raises SalesFileError when either fails.

    `separator`, `encoding` and `columns` (a column of COLUMNS -> its name in the header) override
    what is found; records are read only by `SalesFile.sales()`, so a malformed line stops there."""
    named = dict(columns or {})
    text, used_encoding = decoded(data, encoding)
    first = _FIRST_LINE.search(text)
    if first is None:
        raise SalesFileError("the file is empty: expected a header line (date, vegetable, kilo_sold) and sales")
    chosen = separator or detect_separator(first.group(), named)
    header = next((row for _, _, row in _records(text, chosen)), None)
    if header is None:
        raise SalesFileError(f"the file holds no header line, only empty fields and {chosen!r}")
    return SalesFile(text, used_encoding, chosen, tuple(header), column_positions(header, named))


def decoded(data: bytes, encoding: str | None) -> tuple[str, str]:
    """The text and the encoding it was read with: `encoding`, else the one a BOM names, else UTF-8."""
    chosen = encoding or next((name for bom, name in BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(chosen)
    except LookupError:
        raise SalesFileError(f"unknown encoding {encoding!r} (for instance {', '.join(OFFERED_ENCODINGS)})") from None
    except UnicodeDecodeError as error:
        raise not_decodable(data, chosen, error) from None
    return text.removeprefix("\ufeff"), chosen  # a BOM left by an explicit "utf-8" is not part of the header


def not_decodable(data: bytes, encoding: str, error: UnicodeDecodeError) -> SalesFileError:
    """The error for a file that is not in `encoding`: its line, the bytes, and the line as cp1252 reads it."""
    line = data.count(b"\n", 0, error.start) + 1
    begins = data.rfind(b"\n", 0, error.start) + 1
    ends = data.find(b"\n", error.start)
    preview = data[begins : ends if ends >= 0 else len(data)].rstrip(b"\r").decode(OFFERED_ENCODINGS[0], "replace")
    offered = " or ".join(f"--encoding {name}" for name in OFFERED_ENCODINGS)
    return SalesFileError(
        f"line {line} is not {encoding} (byte {data[error.start]:#04x}); read as {OFFERED_ENCODINGS[0]} it is "
        f"{preview!r}: if that is right, import it again with {offered} (or the encoding it was saved in)"
    )


def detect_separator(header_line: str, columns: Mapping[str, str]) -> str:
    """The separator of SEPARATORS that splits the header line into the most known columns, then fields.

    The header is the one line whose content is known, so it decides: csv.Sniffer counts characters
    over sample lines and, when two separators are equally regular (`Semaine;Produit, variété;Ventes`),
    takes `,`; its dialect also guesses no `""` escape when the sample holds none."""

    def score(separator: str) -> tuple[int, int]:
        names = next(csv.reader([header_line], delimiter=separator))
        return sum(bool(found) for found in _matches(names, columns).values()), len(names)

    best = max(SEPARATORS, key=score)  # max keeps the first of equals: `,` before `;` before tab
    if score(best)[1] < 2:
        raise SalesFileError(
            f"cannot tell the separator: the header line {header_line!r} holds no comma, semicolon or tab "
            "between column names; name it with --sep"
        )
    return best


def column_positions(header: list[str], columns: Mapping[str, str]) -> dict[str, int]:
    """Each of COLUMNS -> its index in `header`; raises SalesFileError when one is missing or found twice."""
    matches = _matches(header, columns)
    for column, found in matches.items():
        if len(found) > 1:
            twice = " and ".join(repr(header[i]) for i in found)
            raise SalesFileError(
                f"the header has {twice} for {column}: name the one to read with --columns {column}=NAME"
            )
    missing = [column for column, found in matches.items() if not found]
    if missing:
        raise SalesFileError(_missing_columns(header, missing, columns))
    return {column: found[0] for column, found in matches.items()}


def _matches(header: Iterable[str], columns: Mapping[str, str]) -> dict[str, list[int]]:
    names = [_comparable(name) for name in header]
    wanted = {
        column: {_comparable(columns[column])} if column in columns else {_comparable(n) for n in HEADER_NAMES[column]}
        for column in COLUMNS
    }
    return {column: [i for i, name in enumerate(names) if name in wanted[column]] for column in COLUMNS}


def _missing_columns(header: list[str], missing: list[str], columns: Mapping[str, str]) -> str:
    expected = "; ".join(
        f"{column}: the column {columns[column]!r} named by --columns"
        if column in columns
        else f"{column}: {', '.join(HEADER_NAMES[column])}"
        for column in missing
    )
    hint = ",".join(f"{column}=NAME" for column in missing)
    return (
        f"the header ({', '.join(header)}) lacks {', '.join(missing)} (expected, in any case, {expected}); "
        f"name the columns with --columns {hint}"
    )


def _comparable(name: str) -> str:
    """A header name without case, accents or surrounding spaces: `Légume ` and `LEGUME` are one name."""
    decomposed = unicodedata.normalize("NFKD", name.strip().casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def european_number(cell: str) -> str | float:
    """`310,5` -> 310.5 and `1 200` -> 1200.0; any other cell as read (the service reads `310.5` itself)."""
    match = _EUROPEAN_NUMBER.fullmatch(cell)
    if match is None:
        return cell
    sign, whole, fraction = match.groups()
    if fraction is None and whole.isdigit():  # plain digits: nothing to translate
        return cell
    return float(f"{sign}{_THOUSANDS.sub('', whole)}.{fraction or '0'}")


def _as_read(cell: str) -> str:
    return cell


def _records(text: str, separator: str) -> Iterator[tuple[int, int, list[str]]]:
    """(first line, last line, fields) of each record but blank ones and a spreadsheet's empty rows
    (`;;`), which are skipped but counted; a record the reader cannot split raises MalformedLine."""
    # strict: a quote closed before something other than a separator, or never closed, is an error
    # rather than a field silently holding the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _unreadable(start, reader.line_num, error) from None
        if any(row):
            yield start, reader.line_num, row
        start = reader.line_num + 1


def _unreadable(start: int, end: int, error: csv.Error) -> MalformedLine:
    if str(error) == "unexpected end of data":
        return MalformedLine(start, f"a quote opened on line {start} is never closed (it runs to the end, line {end})")
    if end > start:
        return MalformedLine(
            start, f"a quoted field runs from line {start} to line {end}: a quote left open? ({error})"
        )
    return MalformedLine(start, f"a field goes on after its closing quote ({error})")


def column_names(option: str) -> dict[str, str]:
    """`date=Semaine du,kilo_sold=Poids` (the `--columns` option) -> {"date": "Semaine du", "kilo_sold": "Poids"}."""
    named: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in option.split(","))):
        column, equals, name = pair.partition("=")
        column = column.strip()
        if not equals or column not in COLUMNS or not name.strip():
            raise SalesFileError(f"{pair!r}: write COLUMN=NAME, COLUMN one of {', '.join(COLUMNS)}")
        if column in named:
            raise SalesFileError(f"{column} is named twice")
        named[column] = name.strip()
    return named


def separator_named(option: str) -> str:
    """The `--sep` option -> the character: `tab` or `\\t` for a tab, else any one character."""
    if option.lower() in ("tab", "\\t"):
        return "\t"
    if len(option) != 1 or option in '\r\n"':
        raise SalesFileError(f"{option!r}: the separator is one character (`,` `;` `tab` ...), not a quote or newline")
    return option


def in_chunks(sales: Iterable[Sale], size: int) -> Iterator[list[Sale]]:
    """The sales in lists of `size` (the last shorter); the sales before a malformed line come out
    before its MalformedLine, so that everything before the line can be posted."""
    chunk: list[Sale] = []
    try:
        for sale in sales:
            chunk.append(sale)
            if len(chunk) == size:
                yield chunk
                chunk = []
    except MalformedLine:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk
