"""The input record as received, and its validation, one record at a time."""

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

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


@lru_cache(maxsize=16_384)
def read_date(text: str) -> DateNotation:
    """The day a `date` text names; ValueError, naming the accepted notations, if none.

    Dates repeat across records (one per week), so each distinct text is read once."""
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
    return value


_APOSTROPHES_AND_PERIOD = "'\u2019."
_NAME_PUNCTUATION = str.maketrans("", "", " -" + _APOSTROPHES_AND_PERIOD)
_REFUSED = frozenset('=+@<>";,\\|')


@lru_cache(maxsize=65_536)
def _clean_name(name: str) -> str:
    # Most names are letters and spaces: one C-speed check. The loop finds what else there is.
    if name.translate(_NAME_PUNCTUATION).isalpha():
        return name
    for position, char in enumerate(name, 1):
        category = unicodedata.category(char)
        if category[0] in "LM" or category in ("Zs", "Pd") or char in _APOSTROPHES_AND_PERIOD:
            continue
        raise ValueError(
            f"contains {_describe(char, category)} at position {position}: "
            "a vegetable name holds only letters, spaces, hyphens, apostrophes and periods"
        )
    return name


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


DATE_SCHEMA = {
    "description": f"The week of sales: {NOTATIONS}. An integer is read as YYYYWW.",
    "anyOf": [
        {"type": "string", "pattern": r"^\d{4}-?\d{2}-?\d{2}$", "examples": ["2020-01-27", "20200127"]},
        {"type": "string", "pattern": r"^\d{4}-?[Ww]\d{2}(-?1)?$", "examples": ["2020-W05", "2020W05", "2020-W05-1"]},
        {"type": "string", "pattern": r"^\d{4}-?\d{2}$", "examples": ["2020-05", "202005"]},
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


class SaleRecord(BaseModel):
    """One weekly sale: `date` names the 7-day week it covers."""

    # The checks are pydantic's own (compiled) wherever one exists; the others are cached per value.
    model_config = ConfigDict(extra="forbid", frozen=True)

    date: Annotated[str, PlainValidator(_date_text), WithJsonSchema(DATE_SCHEMA)]
    vegetable: Annotated[
        str,
        StringConstraints(strict=True, min_length=1, max_length=100, pattern=r"\S"),
        AfterValidator(_clean_name),
    ] = Field(
        examples=["Tomate"],
        description="Letters of any script, spaces, hyphens, apostrophes and periods: at least one non-space.",
    )
    kilo_sold: Annotated[float, BeforeValidator(_not_boolean), WithJsonSchema(KILOS_SCHEMA)] = Field(
        ge=0, le=MAX_KILOS, allow_inf_nan=False
    )


_validate = SaleRecord.__pydantic_validator__.validate_python
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
    if not isinstance(item, dict):
        return [FieldError("record", f"must be a JSON object, got {_json_type(item)}")]
    try:
        record = _validate(item)
    except ValidationError as error:
        return [_field_error(detail) for detail in error.errors(include_url=False)]
    # 0.0, not -0.0: the stored value reads back as a plain zero.
    kilos = record.kilo_sold + 0.0
    return BronzeRow(record.date, record.vegetable, kilos, week_start(record.date, week_date), received_at)


def _field_error(detail: Any) -> FieldError:
    field = ".".join(str(part) for part in detail["loc"]) or "record"
    message = _MESSAGES.get((field, detail["type"])) or detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "float_parsing":
        message = f"{detail['input']!r} is not a number"
    return FieldError(field, message)


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
