"""The input record as received, and its validation, one record at a time."""

import datetime as dt
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AllowInfNan,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from typing_extensions import TypedDict

from .rows import BronzeRow

MAX_KILOS = 1e12
"""Far above any real week, low enough that monthly sums can never overflow to infinity."""

FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
"""Every day of an accepted week falls in this range: catches typos such as 0202 or 20200, and keeps
date arithmetic (and gold months) in range."""
LAST_WEEK_START = LAST_DATE - dt.timedelta(days=6)

MAX_BODY_DEPTH = 512
"""Levels of arrays and objects a post's body may nest (its list, and the envelope, included): far
below Python's recursion limit (1,000), so that no reading or writing of a record can reach it."""
MAX_RECORD_DEPTH = 64
"""Levels a record may nest (a record object is one level) and still be served back as JSON; a
deeper one is rejected on its own, and kept in quarantine as its text."""

ErrorCode = Literal[
    "not_an_object",  # the record is not a JSON object
    "too_deep",  # it nests arrays and objects past MAX_RECORD_DEPTH (its only error)
    "missing",  # a field is missing
    "extra_field",  # a field besides date, vegetable, kilo_sold (or a key that is not text)
    "bad_date",  # date: not a notation of a real day or week, or not text or an integer
    "date_out_of_range",  # date: a week with a day outside FIRST_DATE .. LAST_DATE
    "bad_name",  # vegetable: not a string of 1 to 100 characters with a non-space
    "dirty_name",  # vegetable: a character the name rules refuse
    "unknown_vegetable",  # vegetable: no vegetable matches it
    "ambiguous_vegetable",  # vegetable: two vegetables match it equally well
    "bad_number",  # kilo_sold: not a finite number, nor text holding a plain decimal
    "out_of_range",  # kilo_sold: below 0 or above MAX_KILOS
    "unclassified",  # never given by validation: a quarantine row whose kept reason names none
]
"""Why a record was rejected, for machines: metrics, the quarantine's summaries and clients read this,
never the message, which may be reworded. Each validation error has exactly one."""
ERROR_CODES: tuple[ErrorCode, ...] = get_args(ErrorCode)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason a record is rejected: the field it concerns ("record" for the whole record), its
    code (for machines: stable) and a message (for people: may be reworded)."""

    field: str
    code: ErrorCode
    message: str


class NumberAsSent:
    """A JSON number that neither a double nor a 64-bit integer holds (1e400, 2**64, 400 digits) or
    that JSON does not have (NaN, Infinity, -Infinity), kept as its text: validation sees its nearest
    double, and a quarantined record is written back with the text as it was sent."""

    __slots__ = ("text", "value")

    def __init__(self, text: str):
        self.text, self.value = text, float(text)  # float() reads any length, and NaN and Infinity

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NumberAsSent) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"NumberAsSent({self.text!r})"


class TooDeep(ValueError):
    """JSON nesting arrays and objects deeper than a limit: a body past MAX_BODY_DEPTH is refused whole."""

    def __init__(self, limit: int = MAX_BODY_DEPTH):
        super().__init__(f"nests more than {limit} levels of arrays and objects")
        self.limit = limit


def _integer(text: str) -> int | NumberAsSent:
    # What orjson reads as an integer stays one; longer ones keep their digits (int() stops at 4,300).
    if len(text) <= 20 and -(2**63) <= (value := int(text)) < 2**64:
        return value
    return NumberAsSent(text)


def _float(text: str) -> float | NumberAsSent:
    value = float(text)
    return value if math.isfinite(value) else NumberAsSent(text)


def json_as_sent(text: str | bytes, max_depth: int = MAX_BODY_DEPTH) -> Any:
    """JSON that orjson refuses (NaN, Infinity, numbers beyond a double, lone surrogates, nesting past
    1,024), read by the standard library with every number kept as sent. Its nesting is measured first,
    without recursion: TooDeep past `max_depth`, so that the reader never meets the recursion limit;
    ValueError when it is not JSON."""
    if json_depth(text) > max_depth:
        raise TooDeep(max_depth)
    try:
        return json.loads(text, parse_float=_float, parse_int=_integer, parse_constant=NumberAsSent)
    except RecursionError:  # the caller's own stack was deep already
        raise TooDeep(max_depth) from None


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def json_depth(text: str | bytes) -> int:
    """How deep JSON text nests arrays and objects, from its brackets outside strings: no parsing, no
    recursion, each step in C. Text that is not JSON gets a figure too (its reader refuses it after)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    outside = _JSON_STRING.sub(b"", data)
    if (stray := outside.find(b'"')) >= 0:  # a string that never ends: no JSON after its quote
        outside = outside[:stray]
    return max(0, max(accumulate(map(_STEP.__getitem__, outside.translate(None, _NOT_BRACKETS))), default=0))


_CONTAINERS = (dict, list, tuple)


def nesting_depth(value: Any, stop: int = MAX_BODY_DEPTH) -> int:
    """Levels of arrays and objects in a value (a scalar 0, {"a": [1]} 2), counted level by level
    (no recursion) up to stop + 1."""
    depth, level = 0, [value]
    while depth <= stop:
        containers = [item for item in level if isinstance(item, _CONTAINERS)]
        if not containers:
            return depth
        depth += 1
        level = [child for item in containers for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def scalars(value: Any) -> Iterator[Any]:
    """Every key and every value that is not an array or an object, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            stack.extend(item)
        else:
            yield item


_SURROGATE = re.compile("[\ud800-\udfff]")


def escaped_surrogates(text: str) -> str:
    """The text with each lone surrogate (which UTF-8 cannot hold) written as its JSON escape, \\ud800."""
    return text if text.isascii() else _SURROGATE.sub(lambda match: f"\\u{ord(match[0]):04x}", text)


WeekDate = Literal["start", "end"]
"""Whether a calendar date names the first or the last day of its 7-day week."""
WEEK_DATES: tuple[WeekDate, ...] = ("start", "end")

NOTATIONS = "a calendar date YYYY-MM-DD, an ISO week YYYY-Www (or YYYY-Www-1), or a year and ISO week YYYY-WW or YYYYWW"
# ASCII: \d and int() would also read other scripts' digits (fullwidth, Arabic-Indic).
_CALENDAR = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})", re.ASCII)
_ISO_WEEK = re.compile(r"(\d{4})-?[Ww](\d{2})(?:-?(\d))?", re.ASCII)
_YEAR_WEEK = re.compile(r"(\d{4})-?(\d{2})", re.ASCII)


@dataclass(frozen=True, slots=True)
class DateNotation:
    """What a `date` names: a calendar day, or the Monday of an ISO week."""

    day: dt.date
    calendar: bool


class BadDate(ValueError):
    """A `date` that names no week of the accepted range, with the code of the reason."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code


def read_date(text: str) -> DateNotation:
    """The day a `date` text names; BadDate, naming the accepted notations, if none."""
    reading = _date_reading(text)
    if isinstance(reading, tuple):
        raise BadDate(*reading)
    return reading


@lru_cache(maxsize=16_384)
def _date_reading(text: str) -> DateNotation | tuple[ErrorCode, str]:
    """What `text` names, or why it names nothing (code, message): dates repeat across records (one
    per week), good and bad, so each distinct text is read once."""
    try:
        return _read_date(text)
    except BadDate as error:
        return error.code, str(error)


def _read_date(text: str) -> DateNotation:
    if match := _CALENDAR.fullmatch(text):
        try:
            notation = DateNotation(dt.date(*map(int, match.groups())), calendar=True)
        except ValueError:
            raise BadDate("bad_date", f"{text!r} is not a real calendar date") from None
    elif match := _ISO_WEEK.fullmatch(text) or _YEAR_WEEK.fullmatch(text):
        year, week = int(match[1]), int(match[2])
        weekday = match[3] if match.re is _ISO_WEEK else None
        if weekday not in (None, "1"):
            raise BadDate(
                "bad_date",
                f"{text!r} names weekday {weekday} of a week: a week is written by its Monday (YYYY-Www-1) "
                "or with no weekday (YYYY-Www)",
            )
        if not FIRST_DATE.year <= year <= LAST_DATE.year:
            raise BadDate("date_out_of_range", f"{text!r} is outside {FIRST_DATE} .. {LAST_DATE}")
        weeks = dt.date(year, 12, 28).isocalendar().week  # the 28th of December is always in the last week
        if not 1 <= week <= weeks:
            raise BadDate(
                "bad_date", f"{text!r} is not a week: ISO year {year} has weeks 01 to {weeks}; write {NOTATIONS}"
            )
        notation = DateNotation(dt.date.fromisocalendar(year, week, 1), calendar=False)
    else:
        raise BadDate("bad_date", f"{text!r} is not a date or a week; write {NOTATIONS}")
    if not FIRST_DATE <= notation.day <= LAST_DATE:
        raise BadDate("date_out_of_range", f"{text!r} is outside {FIRST_DATE} .. {LAST_DATE}")
    return notation


@lru_cache(maxsize=16_384)
def week_start(text: str, week_date: WeekDate = "start") -> str:
    """The first day (ISO date) of the week a valid `date` text names."""
    notation = read_date(text)
    if notation.calendar and week_date == "end":
        return (notation.day - dt.timedelta(days=6)).isoformat()
    return notation.day.isoformat()


def _date_text(value: Any) -> str:
    # type() rather than isinstance(): JSON true/false must not pass as the integers 1/0.
    if type(value) is int:
        if not 100_000 <= value <= 999_999:
            raise BadDate("bad_date", f"the number {value} is not a year and week YYYYWW; write {NOTATIONS}")
        value = str(value)
    elif type(value) is not str:
        raise BadDate("bad_date", f"must be a date or a week, got {_json_type(value)}; write {NOTATIONS}")
    read_date(value)
    return str(value)


def _week_reading(date: str | int, week_date: WeekDate) -> tuple[str, FieldError | None]:
    """(first day of the week, None) for a valid date, else ("", why not)."""
    try:
        text = _date_text(date)
        start = week_start(text, week_date)
    except BadDate as error:
        return "", FieldError("date", error.code, str(error))
    if not FIRST_DATE.isoformat() <= start <= LAST_WEEK_START.isoformat():  # ISO dates: text order is time order
        end = dt.date.fromisoformat(start) + dt.timedelta(days=6)
        within = f"{FIRST_DATE} .. {LAST_DATE}"
        message = f"{text!r} names the week {start} .. {end}: every day of a week must fall within {within}"
        return "", FieldError("date", "date_out_of_range", message)
    return start, None


_APOSTROPHES_AND_PERIOD = "'\u2019."
_NAME_PUNCTUATION = str.maketrans("", "", " -" + _APOSTROPHES_AND_PERIOD)
_REFUSED = frozenset('=+@<>";,\\|')


@lru_cache(maxsize=65_536)
def _name_problem(name: str) -> str:
    """Why `name` is not a clean vegetable name ("" when it is); names repeat, so cached."""
    # Most names are letters and spaces: one C-speed check. The loop finds what else there is.
    if name.translate(_NAME_PUNCTUATION).isalpha():
        return ""
    for position, char in enumerate(name, 1):
        category = unicodedata.category(char)
        if category[0] in "LM" or category in ("Zs", "Pd") or char in _APOSTROPHES_AND_PERIOD:
            continue
        return (
            f"contains {_describe(char, category)} at position {position}: "
            "a vegetable name holds only letters, spaces, hyphens, apostrophes and periods"
        )
    return ""


def _describe(char: str, category: str) -> str:
    code = f"U+{ord(char):04X}"
    if category == "Cc":
        return f"a control character {code}"
    if category == "Cf":
        return f"an invisible format character {code} ({unicodedata.name(char, 'unnamed')})"
    if category in ("Zl", "Zp"):
        return f"a line or paragraph separator {code}"
    if category[0] == "N":
        return f"a digit {char!r}"
    if char in _REFUSED:
        return f"the character {char!r}"
    return f"the character {char!r} ({code})"


_NUMERIC_TEXT = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")
"""A number written out in a string: digits, a point, an exponent; not "1_000", "nan" or "inf",
which float() would read."""


def _kilos(value: Any) -> Any:
    if isinstance(value, bool):  # JSON true/false would otherwise pass as 1/0
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        if not _NUMERIC_TEXT.fullmatch(value):
            raise ValueError(f"{value!r} is not a number")
        return float(value)
    if isinstance(value, NumberAsSent):  # beyond a double: its nearest double, refused below by the range
        return value.value
    return value


_YEAR, _WEEK = r"(19\d\d|2\d\d\d)", r"(0[1-9]|[1-4]\d|5[0-3])"
DATE_SCHEMA = {
    "description": f"The week of sales: {NOTATIONS}. An integer is read as YYYYWW.",
    "anyOf": [
        {
            "type": "string",
            "pattern": rf"^{_YEAR}-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])$",
            "examples": ["2020-01-27"],
        },
        {
            "type": "string",
            "pattern": rf"^{_YEAR}-?[Ww]{_WEEK}(-?1)?$",
            "examples": ["2020-W05", "2020W05", "2020-W05-1"],
        },
        {"type": "string", "pattern": rf"^{_YEAR}-?{_WEEK}$", "examples": ["2020-05", "202005"]},
        {"type": "integer", "minimum": 190001, "maximum": 299953, "examples": [202005]},
    ],
}


KILOS_SCHEMA = {
    "description": f"Kilos sold that week, 0 to {MAX_KILOS:.0e}: a number, or a string holding one.",
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": MAX_KILOS},
        {"type": "string", "pattern": r"^\s*\+?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"},
    ],
    "examples": [70, "12.5"],
}


class SaleRecord(TypedDict):
    """One weekly sale: `date` names the 7-day week it covers."""

    # pydantic checks the shape, types and ranges (compiled; a TypedDict validates twice as fast as
    # a model); validate_record() then reads `date` and checks `vegetable`, cached per value.
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    date: Annotated[StrictStr | StrictInt, WithJsonSchema(DATE_SCHEMA)]
    vegetable: Annotated[
        str,
        StringConstraints(strict=True, min_length=1, max_length=100, pattern=r"\S"),
        Field(
            examples=["Tomate"],
            description="Letters of any script, spaces, hyphens, apostrophes and periods: at least one non-space.",
        ),
    ]
    kilo_sold: Annotated[
        float,
        BeforeValidator(_kilos),
        AllowInfNan(False),
        Field(ge=0, le=MAX_KILOS),
        WithJsonSchema(KILOS_SCHEMA),
    ]


SALE_RECORD = TypeAdapter(SaleRecord)
_validate = SALE_RECORD.validator.validate_python  # the compiled validator itself, without the wrapper
_MESSAGES = {
    ("vegetable", "string_pattern_mismatch"): "must contain at least one non-space character",
    ("kilo_sold", "finite_number"): "must be a finite number",
}
_PYDANTIC_CODES: dict[str, ErrorCode] = {
    "missing": "missing",
    "extra_forbidden": "extra_field",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
}
"""pydantic's error types that name a code of their own, whatever the field."""
_FIELD_CODES: dict[str, ErrorCode] = {"date": "bad_date", "vegetable": "bad_name", "kilo_sold": "bad_number"}
"""The code of any other pydantic error of a field: its value is not of the field's kind (a type, a
length, the pattern, a number that is not finite or is text that is not a number). An error of the
record as a whole is a key pydantic cannot read as text (a lone surrogate): none of the three fields."""


def _too_deep(depth: int) -> FieldError:
    """A record nesting past MAX_RECORD_DEPTH (its only error); its post is refused whole when the
    body nests past MAX_BODY_DEPTH."""
    levels = f"more than {MAX_BODY_DEPTH}" if depth > MAX_BODY_DEPTH else str(depth)
    return FieldError("record", "too_deep", f"nests {levels} levels of arrays and objects; at most {MAX_RECORD_DEPTH}")


def validate_record(item: Any, week_date: WeekDate = "start", received_at: str = "") -> BronzeRow | list[FieldError]:
    """The record as a bronze row received at `received_at`, or every reason it is not one."""
    if type(item) is dict and len(item) == 3:
        # The usual record (three fields, numeric kilos) in a third of pydantic's time: only what
        # surely passes every check below is taken here; anything else goes through pydantic.
        # tests/unit/test_records.py holds this path equal to pydantic's on generated records.
        date, name, kilos = item.get("date"), item.get("vegetable"), item.get("kilo_sold")
        if (
            (type(kilos) is float or type(kilos) is int)
            and 0 <= kilos <= MAX_KILOS
            and (type(date) is str or type(date) is int)
            and type(name) is str
            and (week := _QUICK_WEEK[week_date](date))
            and _quick_name(name)
        ):
            return BronzeRow(date if type(date) is str else str(date), name, kilos + 0.0, week, received_at)
    return validate_with_pydantic(item, week_date, received_at)


def validate_with_pydantic(
    item: Any, week_date: WeekDate = "start", received_at: str = ""
) -> BronzeRow | list[FieldError]:
    """validate_record() without its shortcut: every record through pydantic."""
    if not isinstance(item, dict):
        if isinstance(item, list) and (depth := nesting_depth(item)) > MAX_RECORD_DEPTH:
            return [_too_deep(depth)]
        return [FieldError("record", "not_an_object", f"must be a JSON object, got {_json_type(item)}")]
    try:
        record = _validate(item)
    except ValidationError as error:
        # A valid record is flat: only a rejected one can nest, so only these are measured.
        if (depth := nesting_depth(item)) > MAX_RECORD_DEPTH:
            return [_too_deep(depth)]
        errors = _pydantic_errors(error)
        return sorted(errors + _content_errors(item, {e.field for e in errors}, week_date), key=_field_order)
    date, name = record["date"], record["vegetable"]
    week = _QUICK_WEEK[week_date](date)
    if not week or _name_problem(name):
        return _content_errors(record, set(), week_date)
    # 0.0, not -0.0: the stored value reads back as a plain zero.
    return BronzeRow(date if type(date) is str else str(date), name, record["kilo_sold"] + 0.0, week, received_at)


def _quick_week_function(week_date: WeekDate) -> Callable[[str | int], str]:
    # One cache per week_date: lru_cache keys a single str or int argument by itself, the fastest.
    @lru_cache(maxsize=16_384)
    def quick_week(date: str | int) -> str:
        return _week_reading(date, week_date)[0]

    return quick_week


_QUICK_WEEK = {week_date: _quick_week_function(week_date) for week_date in WEEK_DATES}


@lru_cache(maxsize=65_536)
def _quick_name(name: str) -> bool:
    return 0 < len(name) <= 100 and not name.isspace() and not _name_problem(name)


def _content_errors(record: dict[str, Any], failed: set[str], week_date: WeekDate) -> list[FieldError]:
    """What is wrong with `date` and `vegetable` beyond their types (fields in `failed` are skipped)."""
    errors = []
    if "date" in record and "date" not in failed and (bad_date := _week_reading(record["date"], week_date)[1]):
        errors.append(bad_date)
    # pydantic may have refused the record as a whole (a key holding a lone surrogate) without
    # reaching the fields: a name is only read if it is text.
    name = record.get("vegetable")
    if isinstance(name, str) and "vegetable" not in failed and (problem := _name_problem(name)):
        errors.append(FieldError("vegetable", "dirty_name", problem))
    return errors


def _pydantic_errors(error: ValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    for detail in error.errors(include_url=False):
        kind = detail["type"]
        if len(detail["loc"]) == 2 and detail["loc"][0] == "date":  # one message for both branches of str | int
            if not any(e.field == "date" for e in errors):
                got = _json_type(detail["input"])
                errors.append(FieldError("date", "bad_date", f"must be a date or a week, got {got}; write {NOTATIONS}"))
            continue
        field = ".".join(str(part) for part in detail["loc"]) or "record"
        code = _PYDANTIC_CODES.get(kind) or _FIELD_CODES.get(field, "extra_field")
        message = _MESSAGES.get((field, kind)) or detail["msg"].removeprefix("Value error, ")
        if kind == "float_parsing":
            message = f"{detail['input']!r} is not a number"
        # A key or message may hold a lone surrogate: the report and the quarantine must encode.
        errors.append(FieldError(escaped_surrogates(field), code, escaped_surrogates(message)))
    return errors


def _field_order(error: FieldError) -> int:
    return {"date": 0, "vegetable": 1, "kilo_sold": 2}.get(error.field, 3)


def _json_type(value: Any) -> str:
    if isinstance(value, NumberAsSent):
        return "a number"
    names = {
        list: "an array",
        dict: "an object",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)
