"""The input record as received, and its validation, one record at a time."""

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from .tables import BronzeRow

MAX_KILOS = 1e12
"""Far above any real week, low enough that monthly sums can never overflow to infinity."""

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _calendar_date(value: Any) -> str:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a real calendar date") from None
    return value


def _number(value: Any) -> Any:
    # JSON true/false would otherwise pass as 1/0.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class SaleRecord(BaseModel):
    """One weekly sale: `date` is the first day of the 7-day week it covers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: Annotated[str, BeforeValidator(_calendar_date)] = Field(examples=["2020-01-27"])
    vegetable: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=100, pattern=r"\S")] = Field(
        examples=["Tomate"]
    )
    kilo_sold: Annotated[float, BeforeValidator(_number)] = Field(
        ge=0, le=MAX_KILOS, allow_inf_nan=False, examples=[70]
    )


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


def validate_record(item: Any) -> BronzeRow | list[FieldError]:
    """The record as a bronze row, or every reason it is not one."""
    if not isinstance(item, dict):
        return [FieldError("record", f"must be a JSON object, got {_json_type(item)}")]
    try:
        record = SaleRecord.model_validate(item)
    except ValidationError as error:
        return [_field_error(detail) for detail in error.errors(include_url=False)]
    return BronzeRow(record.date, record.vegetable, record.kilo_sold)


def _field_error(detail: dict) -> FieldError:
    field = ".".join(str(part) for part in detail["loc"]) or "record"
    message = detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "string_pattern_mismatch":
        message = "must contain at least one non-space character"
    return FieldError(field, message)


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
