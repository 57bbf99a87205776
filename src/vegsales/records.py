"""The input record as received, and its validation, one record at a time."""

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal

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

from .tables import BronzeRow

MAX_KILOS = 1e12
"""Far above any real week, low enough that monthly sums can never overflow to infinity."""

FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
"""First days of weeks accepted: catches typos such as 0202 or 20200, and keeps date arithmetic in range."""

WeekDate = Literal["start", "end"]
"""Whether a calendar date names the first or the last day of its 7-day week."""
WEEK_DATES: tuple[WeekDate, ...] = ("start", "end")

NOTATIONS = "a calendar date YYYY-MM-DD, an ISO week YYYY-Www (or YYYY-Www-1), or a year and ISO week YYYY-WW or YYYYWW"
_CALENDAR = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
_ISO_WEEK = re.compile(r"(\d{4})-?[Ww](\d{2})(?:-?(\d))?")
_YEAR_WEEK = re.compile(r"(\d{4})-?(\d{2})")


@dataclass(frozen=True, slots=True)
class DateNotation:
    """What a `date` names: a calendar day, or the Monday of an ISO week."""

    day: dt.date
    calendar: bool


def read_date(text: str) -> DateNotation:
    """The day a `date` text names; ValueError, naming the accepted notations, if none."""
    reading = _date_reading(text)
    if isinstance(reading, str):
        raise ValueError(reading)
    return reading


@lru_cache(maxsize=16_384)
def _date_reading(text: str) -> DateNotation | str:
    """What `text` names, or why it names nothing: dates repeat across records (one per week),
    good and bad, so each distinct text is read once."""
    try:
        return _read_date(text)
    except ValueError as error:
        return str(error)


def _read_date(text: str) -> DateNotation:
    if match := _CALENDAR.fullmatch(text):
        try:
            notation = DateNotation(dt.date(*map(int, match.groups())), calendar=True)
        except ValueError:
            raise ValueError(f"{text!r} is not a real calendar date") from None
    elif match := _ISO_WEEK.fullmatch(text) or _YEAR_WEEK.fullmatch(text):
        year, week = int(match[1]), int(match[2])
        weekday = match[3] if match.re is _ISO_WEEK else None
        if weekday not in (None, "1"):
            raise ValueError(
                f"{text!r} names weekday {weekday} of a week: a week is written by its Monday (YYYY-Www-1) "
                "or with no weekday (YYYY-Www)"
            )
        if not FIRST_DATE.year <= year <= LAST_DATE.year:
            raise ValueError(f"{text!r} is outside {FIRST_DATE} .. {LAST_DATE}")
        weeks = dt.date(year, 12, 28).isocalendar().week  # the 28th of December is always in the last week
        if not 1 <= week <= weeks:
            raise ValueError(f"{text!r} is not a week: ISO year {year} has weeks 01 to {weeks}; write {NOTATIONS}")
        notation = DateNotation(dt.date.fromisocalendar(year, week, 1), calendar=False)
    else:
        raise ValueError(f"{text!r} is not a date or a week; write {NOTATIONS}")
    if not FIRST_DATE <= notation.day <= LAST_DATE:
        raise ValueError(f"{text!r} is outside {FIRST_DATE} .. {LAST_DATE}")
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
            raise ValueError(f"the number {value} is not a year and week YYYYWW; write {NOTATIONS}")
        value = str(value)
    elif type(value) is not str:
        raise ValueError(f"must be a date or a week, got {_json_type(value)}; write {NOTATIONS}")
    read_date(value)
    return str(value)


def _week_reading(date: str | int, week_date: WeekDate) -> tuple[str, str]:
    """(first day of the week, "") for a valid date, else ("", why not)."""
    try:
        return week_start(_date_text(date), week_date), ""
    except ValueError as error:
        return "", str(error)


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


def _not_boolean(value: Any) -> Any:
    # JSON true/false would otherwise pass as 1/0.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
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
        BeforeValidator(_not_boolean),
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


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


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
        return [FieldError("record", f"must be a JSON object, got {_json_type(item)}")]
    try:
        record = _validate(item)
    except ValidationError as error:
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
    if "date" in record and "date" not in failed and (problem := _week_reading(record["date"], week_date)[1]):
        errors.append(FieldError("date", problem))
    if "vegetable" in record and "vegetable" not in failed and (problem := _name_problem(record["vegetable"])):
        errors.append(FieldError("vegetable", problem))
    return errors


def _pydantic_errors(error: ValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    for detail in error.errors(include_url=False):
        if len(detail["loc"]) == 2 and detail["loc"][0] == "date":  # one message for both branches of str | int
            if not any(e.field == "date" for e in errors):
                got = _json_type(detail["input"])
                errors.append(FieldError("date", f"must be a date or a week, got {got}; write {NOTATIONS}"))
            continue
        field = ".".join(str(part) for part in detail["loc"]) or "record"
        message = _MESSAGES.get((field, detail["type"])) or detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "float_parsing":
            message = f"{detail['input']!r} is not a number"
        errors.append(FieldError(field, message))
    return errors


def _field_order(error: FieldError) -> int:
    return {"date": 0, "vegetable": 1, "kilo_sold": 2}.get(error.field, 3)


def _json_type(value: Any) -> str:
    names = {
        list: "an array",
        dict: "an object",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)
