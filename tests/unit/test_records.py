import math

import pytest

from vegsales.records import FieldError, validate_record
from vegsales.tables import BronzeRow

VALID = {"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 70}


def with_(**changes) -> dict:
    return {**VALID, **changes}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(VALID, BronzeRow("2020-01-27", "Tomate", 70.0), id="valid"),
        pytest.param(with_(kilo_sold="12.5"), BronzeRow("2020-01-27", "Tomate", 12.5), id="numeric_string"),
        pytest.param(with_(kilo_sold=0), BronzeRow("2020-01-27", "Tomate", 0.0), id="zero_kilos"),
        pytest.param(with_(date="2020-02-29"), BronzeRow("2020-02-29", "Tomate", 70.0), id="leap_day"),
        pytest.param(with_(vegetable=" tomatto "), BronzeRow("2020-01-27", " tomatto ", 70.0), id="raw_kept"),
        pytest.param(with_(date="1900-01-01"), BronzeRow("1900-01-01", "Tomate", 70.0), id="first_date"),
        pytest.param(with_(date="2999-12-31"), BronzeRow("2999-12-31", "Tomate", 70.0), id="last_date"),
    ],
)
def test_valid_records_become_bronze_rows_as_sent(item, expected):
    assert validate_record(item) == expected


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        pytest.param([1, 2], "record", "must be a JSON object, got an array", id="array"),
        pytest.param("x", "record", "must be a JSON object, got a string", id="string"),
        pytest.param(None, "record", "must be a JSON object, got null", id="null"),
        pytest.param({"vegetable": "Tomate", "kilo_sold": 1}, "date", "Field required", id="missing_date"),
        pytest.param(with_(brand_quality=3), "brand_quality", "Extra inputs are not permitted", id="extra_field"),
        pytest.param(with_(date="2021-02-29"), "date", "'2021-02-29' is not a real calendar date", id="feb_29_2021"),
        pytest.param(with_(date="2020-13-01"), "date", "'2020-13-01' is not a real calendar date", id="month_13"),
        pytest.param(with_(date="not a date"), "date", "must be a date written YYYY-MM-DD", id="not_a_date"),
        pytest.param(with_(date=None), "date", "must be a date written YYYY-MM-DD", id="null_date"),
        pytest.param(with_(date="2020-1-27"), "date", "must be a date written YYYY-MM-DD", id="unpadded_date"),
        pytest.param(with_(date="20200127"), "date", "must be a date written YYYY-MM-DD", id="basic_iso_date"),
        pytest.param(with_(date="2020-01-27T00:00"), "date", "must be a date written YYYY-MM-DD", id="datetime"),
        pytest.param(with_(date=20200127), "date", "must be a date written YYYY-MM-DD", id="number_date"),
        pytest.param(
            with_(date="9999-12-30"), "date", "'9999-12-30' is outside 1900-01-01 .. 2999-12-31", id="year_9999"
        ),
        pytest.param(with_(date="0001-01-01"), "date", "'0001-01-01' is outside 1900-01-01 .. 2999-12-31", id="year_1"),
        pytest.param(with_(date="1899-12-31"), "date", "is outside 1900-01-01 .. 2999-12-31", id="before_1900"),
        pytest.param(with_(vegetable=""), "vegetable", "String should have at least 1 character", id="empty_name"),
        pytest.param(with_(vegetable="   "), "vegetable", "must contain at least one non-space", id="blank_name"),
        pytest.param(with_(vegetable="x" * 101), "vegetable", "at most 100 characters", id="long_name"),
        pytest.param(with_(vegetable=5), "vegetable", "Input should be a valid string", id="number_name"),
        pytest.param(with_(vegetable=None), "vegetable", "Input should be a valid string", id="null_name"),
        pytest.param(with_(kilo_sold=True), "kilo_sold", "must be a number, not a boolean", id="bool_kilos"),
        pytest.param(with_(kilo_sold=None), "kilo_sold", "Input should be a valid number", id="null_kilos"),
        pytest.param(with_(kilo_sold="abc"), "kilo_sold", "'abc' is not a number", id="text_kilos"),
        pytest.param(with_(kilo_sold=-5), "kilo_sold", "greater than or equal to 0", id="negative_kilos"),
        pytest.param(with_(kilo_sold="nan"), "kilo_sold", "must be a finite number", id="nan_string"),
        pytest.param(with_(kilo_sold=float("inf")), "kilo_sold", "must be a finite number", id="infinity"),
        pytest.param(with_(kilo_sold=1e13), "kilo_sold", "less than or equal to 1000000000000", id="absurd_kilos"),
        pytest.param(with_(kilo_sold=[1]), "kilo_sold", "Input should be a valid number", id="list_kilos"),
    ],
)
def test_invalid_records_are_rejected_with_the_field_and_reason(item, field, message):
    errors = validate_record(item)
    assert isinstance(errors, list)
    assert any(e.field == field and message in e.message for e in errors), errors


def test_negative_zero_is_stored_as_zero():
    row = validate_record(with_(kilo_sold=-0.0))
    assert math.copysign(1.0, row.kilo_sold) == 1.0


def test_every_problem_of_a_record_is_reported():
    errors = validate_record({"date": "2021-02-29", "kilo_sold": -1, "brand_quality": "A"})
    assert sorted(e.field for e in errors) == ["brand_quality", "date", "kilo_sold", "vegetable"]
    assert FieldError("vegetable", "Field required") in errors
