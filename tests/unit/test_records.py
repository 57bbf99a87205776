import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vegsales.records import (
    MAX_BODY_DEPTH,
    MAX_RECORD_DEPTH,
    FieldError,
    NumberAsSent,
    TooDeep,
    json_as_sent,
    json_depth,
    nesting_depth,
    validate_record,
    validate_with_pydantic,
    week_start,
)
from vegsales.rows import BronzeRow

VALID = {"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 70}
NOTATIONS = (
    "write a calendar date YYYY-MM-DD, an ISO week YYYY-Www (or YYYY-Www-1), or a year and ISO week YYYY-WW or YYYYWW"
)
NAME_RULE = "a vegetable name holds only letters, spaces, hyphens, apostrophes and periods"


def with_(**changes) -> dict:
    return {**VALID, **changes}


def bronze(date: str, vegetable: str, kilos: float, week: str) -> BronzeRow:
    return BronzeRow(date, vegetable, kilos, week, "")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(VALID, bronze("2020-01-27", "Tomate", 70.0, "2020-01-27"), id="valid"),
        pytest.param(with_(kilo_sold="12.5"), bronze("2020-01-27", "Tomate", 12.5, "2020-01-27"), id="numeric_string"),
        pytest.param(with_(kilo_sold=0), bronze("2020-01-27", "Tomate", 0.0, "2020-01-27"), id="zero_kilos"),
        pytest.param(with_(date="2020-02-29"), bronze("2020-02-29", "Tomate", 70.0, "2020-02-29"), id="leap_day"),
        pytest.param(
            with_(vegetable=" tomatto "), bronze("2020-01-27", " tomatto ", 70.0, "2020-01-27"), id="raw_kept"
        ),
        pytest.param(with_(date="1900-01-01"), bronze("1900-01-01", "Tomate", 70.0, "1900-01-01"), id="first_date"),
        pytest.param(
            with_(date="2999-12-25"), bronze("2999-12-25", "Tomate", 70.0, "2999-12-25"), id="last_week_start"
        ),
        pytest.param(with_(date="2999-W52"), bronze("2999-W52", "Tomate", 70.0, "2999-12-23"), id="last_iso_week"),
        pytest.param(with_(kilo_sold=" 12.5 "), bronze("2020-01-27", "Tomate", 12.5, "2020-01-27"), id="spaced_text"),
        pytest.param(with_(kilo_sold="+3"), bronze("2020-01-27", "Tomate", 3.0, "2020-01-27"), id="plus_sign_text"),
        pytest.param(with_(kilo_sold="1e3"), bronze("2020-01-27", "Tomate", 1000.0, "2020-01-27"), id="exponent_text"),
        pytest.param(with_(kilo_sold=".5"), bronze("2020-01-27", "Tomate", 0.5, "2020-01-27"), id="point_first_text"),
        pytest.param(with_(date="20200127"), bronze("20200127", "Tomate", 70.0, "2020-01-27"), id="basic_calendar"),
        pytest.param(with_(date="2020-W05"), bronze("2020-W05", "Tomate", 70.0, "2020-01-27"), id="iso_week"),
        pytest.param(with_(date="2020W05"), bronze("2020W05", "Tomate", 70.0, "2020-01-27"), id="iso_week_basic"),
        pytest.param(with_(date="2020-W05-1"), bronze("2020-W05-1", "Tomate", 70.0, "2020-01-27"), id="iso_monday"),
        pytest.param(with_(date="2020-05"), bronze("2020-05", "Tomate", 70.0, "2020-01-27"), id="year_week"),
        pytest.param(with_(date="202005"), bronze("202005", "Tomate", 70.0, "2020-01-27"), id="year_week_text"),
        pytest.param(with_(date=202005), bronze("202005", "Tomate", 70.0, "2020-01-27"), id="year_week_integer"),
        pytest.param(with_(date="2020-W53"), bronze("2020-W53", "Tomate", 70.0, "2020-12-28"), id="week_53_exists"),
        pytest.param(with_(date="2021-W01"), bronze("2021-W01", "Tomate", 70.0, "2021-01-04"), id="iso_year_start"),
        pytest.param(with_(date="2026-W01"), bronze("2026-W01", "Tomate", 70.0, "2025-12-29"), id="week_1_in_december"),
        pytest.param(
            with_(vegetable="Pommes de terre"), bronze("2020-01-27", "Pommes de terre", 70.0, "2020-01-27"), id="spaces"
        ),
        pytest.param(
            with_(vegetable="chou-fleur"), bronze("2020-01-27", "chou-fleur", 70.0, "2020-01-27"), id="hyphen"
        ),
        pytest.param(
            with_(vegetable="Brussels-sprout"),
            bronze("2020-01-27", "Brussels-sprout", 70.0, "2020-01-27"),
            id="capital_hyphen",
        ),
        pytest.param(
            with_(vegetable="Tomate "), bronze("2020-01-27", "Tomate ", 70.0, "2020-01-27"), id="trailing_space"
        ),
        pytest.param(
            with_(vegetable="pois d'été"), bronze("2020-01-27", "pois d'été", 70.0, "2020-01-27"), id="apostrophe"
        ),
        pytest.param(with_(vegetable="st. john"), bronze("2020-01-27", "st. john", 70.0, "2020-01-27"), id="period"),
        pytest.param(
            with_(vegetable="tomate\u0301"),
            bronze("2020-01-27", "tomate\u0301", 70.0, "2020-01-27"),
            id="combining_accent",
        ),
        pytest.param(with_(vegetable="ПОМИДОР"), bronze("2020-01-27", "ПОМИДОР", 70.0, "2020-01-27"), id="cyrillic"),
    ],
)
def test_valid_records_become_bronze_rows_as_sent(item, expected):
    assert validate_record(item) == expected


@pytest.mark.parametrize(
    ("date", "week_date", "expected"),
    [
        pytest.param("2020-01-27", "start", "2020-01-27", id="calendar_start"),
        pytest.param("2020-02-02", "end", "2020-01-27", id="calendar_end"),
        pytest.param("2020-01-03", "end", "2019-12-28", id="calendar_end_across_years"),
        pytest.param("2020-W05", "end", "2020-01-27", id="iso_week_ignores_week_date"),
        pytest.param("202005", "end", "2020-01-27", id="year_week_ignores_week_date"),
    ],
)
def test_the_week_a_date_names(date, week_date, expected):
    assert week_start(date, week_date) == expected


@pytest.mark.parametrize(
    ("item", "field", "code", "message"),
    [
        pytest.param([1, 2], "record", "not_an_object", "must be a JSON object, got an array", id="array"),
        pytest.param("x", "record", "not_an_object", "must be a JSON object, got a string", id="string"),
        pytest.param(None, "record", "not_an_object", "must be a JSON object, got null", id="null"),
        pytest.param({"vegetable": "Tomate", "kilo_sold": 1}, "date", "missing", "Field required", id="missing_date"),
        pytest.param(
            with_(brand_quality=3), "brand_quality", "extra_field", "Extra inputs are not permitted", id="extra_field"
        ),
        pytest.param(
            with_(date="2021-02-29"), "date", "bad_date", "'2021-02-29' is not a real calendar date", id="feb_29_2021"
        ),
        pytest.param(
            with_(date="2020-13-01"), "date", "bad_date", "'2020-13-01' is not a real calendar date", id="month_13"
        ),
        pytest.param(
            with_(date="not a date"),
            "date",
            "bad_date",
            f"'not a date' is not a date or a week; {NOTATIONS}",
            id="text",
        ),
        pytest.param(
            with_(date=None), "date", "bad_date", f"must be a date or a week, got null; {NOTATIONS}", id="null_date"
        ),
        pytest.param(
            with_(date=True), "date", "bad_date", f"must be a date or a week, got a boolean; {NOTATIONS}", id="bool"
        ),
        pytest.param(
            with_(date=2020.5), "date", "bad_date", f"must be a date or a week, got a number; {NOTATIONS}", id="float"
        ),
        pytest.param(
            with_(date="2020-1-27"),
            "date",
            "bad_date",
            f"'2020-1-27' is not a date or a week; {NOTATIONS}",
            id="unpadded",
        ),
        pytest.param(with_(date="2020-01-27T00:00"), "date", "bad_date", "is not a date or a week", id="datetime"),
        pytest.param(
            with_(date=20200127),
            "date",
            "bad_date",
            f"the number 20200127 is not a year and week YYYYWW; {NOTATIONS}",
            id="number_date",
        ),
        pytest.param(
            with_(date="2021-W53"),
            "date",
            "bad_date",
            f"'2021-W53' is not a week: ISO year 2021 has weeks 01 to 52; {NOTATIONS}",
            id="week_53_of_2021",
        ),
        pytest.param(
            with_(date="2020-W00"),
            "date",
            "bad_date",
            "'2020-W00' is not a week: ISO year 2020 has weeks 01 to 53",
            id="week_0",
        ),
        pytest.param(
            with_(date="202054"),
            "date",
            "bad_date",
            "'202054' is not a week: ISO year 2020 has weeks 01 to 53",
            id="w54",
        ),
        pytest.param(
            with_(date=202054),
            "date",
            "bad_date",
            "'202054' is not a week: ISO year 2020 has weeks 01 to 53",
            id="w54_integer",
        ),
        pytest.param(
            with_(date="2020-5"),
            "date",
            "bad_date",
            f"'2020-5' is not a date or a week; {NOTATIONS}",
            id="week_unpadded",
        ),
        pytest.param(
            with_(date="2020-W05-3"),
            "date",
            "bad_date",
            "'2020-W05-3' names weekday 3 of a week: a week is written by "
            "its Monday (YYYY-Www-1) or with no weekday (YYYY-Www)",
            id="wednesday",
        ),
        pytest.param(
            with_(date="9999-12-30"),
            "date",
            "date_out_of_range",
            "'9999-12-30' is outside 1900-01-01 .. 2999-12-31",
            id="year_9999",
        ),
        pytest.param(
            with_(date="0001-01-01"),
            "date",
            "date_out_of_range",
            "'0001-01-01' is outside 1900-01-01 .. 2999-12-31",
            id="year_1",
        ),
        pytest.param(
            with_(date="1899-12-31"),
            "date",
            "date_out_of_range",
            "is outside 1900-01-01 .. 2999-12-31",
            id="before_1900",
        ),
        pytest.param(
            with_(date="1899-W52"),
            "date",
            "date_out_of_range",
            "'1899-W52' is outside 1900-01-01 .. 2999-12-31",
            id="week_1899",
        ),
        pytest.param(
            with_(date="2020-01-27\x00"), "date", "bad_date", "'2020-01-27\\x00' is not a date or a week", id="nul_date"
        ),
        pytest.param(
            with_(vegetable=""), "vegetable", "bad_name", "String should have at least 1 character", id="empty_name"
        ),
        pytest.param(
            with_(vegetable="   "), "vegetable", "bad_name", "must contain at least one non-space", id="blank_name"
        ),
        pytest.param(with_(vegetable="x" * 101), "vegetable", "bad_name", "at most 100 characters", id="long_name"),
        pytest.param(with_(vegetable=5), "vegetable", "bad_name", "Input should be a valid string", id="number_name"),
        pytest.param(with_(vegetable=None), "vegetable", "bad_name", "Input should be a valid string", id="null_name"),
        pytest.param(
            with_(kilo_sold=True), "kilo_sold", "bad_number", "must be a number, not a boolean", id="bool_kilos"
        ),
        pytest.param(
            with_(kilo_sold=None), "kilo_sold", "bad_number", "Input should be a valid number", id="null_kilos"
        ),
        pytest.param(with_(kilo_sold="abc"), "kilo_sold", "bad_number", "'abc' is not a number", id="text_kilos"),
        pytest.param(with_(kilo_sold="12\x00"), "kilo_sold", "bad_number", "'12\\x00' is not a number", id="nul_kilos"),
        pytest.param(
            with_(kilo_sold=-5), "kilo_sold", "out_of_range", "greater than or equal to 0", id="negative_kilos"
        ),
        pytest.param(with_(kilo_sold="nan"), "kilo_sold", "bad_number", "'nan' is not a number", id="nan_string"),
        pytest.param(with_(kilo_sold="inf"), "kilo_sold", "bad_number", "'inf' is not a number", id="inf_string"),
        pytest.param(
            with_(kilo_sold="Infinity"), "kilo_sold", "bad_number", "'Infinity' is not a number", id="infinity_string"
        ),
        pytest.param(
            with_(kilo_sold="1_000"), "kilo_sold", "bad_number", "'1_000' is not a number", id="digit_grouping"
        ),
        pytest.param(
            with_(kilo_sold="0x10"), "kilo_sold", "bad_number", "'0x10' is not a number", id="hexadecimal_text"
        ),
        pytest.param(
            with_(kilo_sold="١٢"), "kilo_sold", "bad_number", "'١٢' is not a number", id="arabic_indic_digits"
        ),
        pytest.param(
            with_(kilo_sold="1e400"), "kilo_sold", "bad_number", "must be a finite number", id="text_beyond_a_double"
        ),
        pytest.param(
            with_(kilo_sold=NumberAsSent("1e400")),
            "kilo_sold",
            "bad_number",
            "must be a finite number",
            id="number_beyond_a_double",
        ),
        pytest.param(
            with_(kilo_sold=NumberAsSent("NaN")), "kilo_sold", "bad_number", "must be a finite number", id="nan_as_sent"
        ),
        pytest.param(
            with_(kilo_sold=NumberAsSent("18446744073709551616")),
            "kilo_sold",
            "out_of_range",
            "less than or equal to 1000000000000",
            id="two_to_the_64",
        ),
        pytest.param(
            with_(date=NumberAsSent("18446744073709551616")),
            "date",
            "bad_date",
            f"must be a date or a week, got a number; {NOTATIONS}",
            id="huge_integer_date",
        ),
        pytest.param(
            with_(date="\uff12\uff10\uff12\uff10-01-27"),
            "date",
            "bad_date",
            "-01-27' is not a date or a week",
            id="fullwidth_digits",
        ),
        pytest.param(
            with_(date="2999-12-31"),
            "date",
            "date_out_of_range",
            "'2999-12-31' names the week 2999-12-31 .. 3000-01-06: every day of a week must fall within "
            "1900-01-01 .. 2999-12-31",
            id="week_ending_in_3000",
        ),
        pytest.param(
            with_(date="2999-12-26"),
            "date",
            "date_out_of_range",
            "names the week 2999-12-26 .. 3000-01-01",
            id="last_day_in_3000",
        ),
        pytest.param(
            with_(kilo_sold=float("inf")), "kilo_sold", "bad_number", "must be a finite number", id="infinity"
        ),
        pytest.param(
            with_(kilo_sold=1e13), "kilo_sold", "out_of_range", "less than or equal to 1000000000000", id="absurd_kilos"
        ),
        pytest.param(
            with_(kilo_sold=[1]), "kilo_sold", "bad_number", "Input should be a valid number", id="list_kilos"
        ),
        pytest.param(
            {"\ud800": 1, "date": "2020-01-27", "vegetable": None, "kilo_sold": 1},
            "record",
            "extra_field",
            "Input should be a valid string, unable to parse raw data as a unicode string",
            id="surrogate_key_and_null_name",
        ),
    ],
)
def test_invalid_records_are_rejected_with_the_field_code_and_reason(item, field, code, message):
    errors = validate_record(item)
    assert isinstance(errors, list)
    assert any((e.field, e.code) == (field, code) and message in e.message for e in errors), errors


@pytest.mark.parametrize(
    ("name", "what"),
    [
        pytest.param("carrot\n", "a control character U+000A at position 7", id="newline"),
        pytest.param("Carrot\t", "a control character U+0009 at position 7", id="tab"),
        pytest.param("car\x00rot", "a control character U+0000 at position 4", id="nul"),
        pytest.param("carrot\x7f", "a control character U+007F at position 7", id="delete"),
        pytest.param("carrot\x85", "a control character U+0085 at position 7", id="c1_next_line"),
        pytest.param(
            "\u200bcarrot", "an invisible format character U+200B (ZERO WIDTH SPACE) at position 1", id="zwsp"
        ),
        pytest.param(
            "\ufeffcarrot", "an invisible format character U+FEFF (ZERO WIDTH NO-BREAK SPACE) at position 1", id="bom"
        ),
        pytest.param(
            "carrot\u202e",
            "an invisible format character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 7",
            id="bidi_override",
        ),
        pytest.param("car\u2028rot", "a line or paragraph separator U+2028 at position 4", id="line_separator"),
        pytest.param("car\u2029rot", "a line or paragraph separator U+2029 at position 4", id="paragraph_separator"),
        pytest.param("carrot2", "a digit '2' at position 7", id="digit"),
        pytest.param("carrot²", "a digit '²' at position 7", id="superscript_digit"),
        pytest.param("=A1+tomato", "the character '=' at position 1", id="formula"),
        pytest.param("+tomato", "the character '+' at position 1", id="plus"),
        pytest.param("@tomato", "the character '@' at position 1", id="at"),
        pytest.param("<b>tomato</b>", "the character '<' at position 1", id="markup"),
        pytest.param("tomato>", "the character '>' at position 7", id="greater_than"),
        pytest.param('to"mato', "the character '\"' at position 3", id="double_quote"),
        pytest.param("tomato;", "the character ';' at position 7", id="semicolon"),
        pytest.param("tomato, red", "the character ',' at position 7", id="comma"),
        pytest.param("to\\mato", "the character '\\\\' at position 3", id="backslash"),
        pytest.param("tomato|x", "the character '|' at position 7", id="pipe"),
        pytest.param("tomato & co", "the character '&' (U+0026) at position 8", id="ampersand"),
        pytest.param("tomato 🍅", "the character '🍅' (U+1F345) at position 8", id="emoji"),
    ],
)
def test_dirty_names_are_rejected_naming_the_character_and_its_position(name, what):
    assert validate_record(with_(vegetable=name)) == [
        FieldError("vegetable", "dirty_name", f"contains {what}: {NAME_RULE}")
    ]


def test_negative_zero_is_stored_as_zero():
    row = validate_record(with_(kilo_sold=-0.0))
    assert math.copysign(1.0, row.kilo_sold) == 1.0


def test_every_problem_of_a_record_is_reported():
    errors = validate_record({"date": "2021-02-29", "kilo_sold": -1, "brand_quality": "A"})
    assert sorted(e.field for e in errors) == ["brand_quality", "date", "kilo_sold", "vegetable"]
    assert FieldError("vegetable", "missing", "Field required") in errors


def test_the_received_time_is_kept_on_the_row():
    assert validate_record(VALID, "end", "2026-01-01T00:00:00.000000Z") == BronzeRow(
        "2020-01-27", "Tomate", 70.0, "2020-01-21", "2026-01-01T00:00:00.000000Z"
    )


# Each field usual half the time and anything the other half, so that every rule meets both.
DATES = st.one_of(
    st.sampled_from(["2020-01-27", "2020-W05", "202005", "20200127", "2020-W53"]) | st.sampled_from([202005, 202053]),
    st.sampled_from(["2021-W53", "2021-02-29", "2020-5", "1899-12-31", "2020-W05-3", 20200127, 190000, True, None]),
    st.integers(min_value=-1, max_value=10**9) | st.text(max_size=12) | st.floats(),
)
NAMES = st.one_of(
    st.sampled_from(["Tomate", " tomatto ", "chou-fleur", "Pommes de terre", "x" * 100, "pois d'été"]),
    st.sampled_from(["   ", "", "x" * 101, "carrot\n", "\u2000", "\u2000\u3000", "\x1c", "\u200b", "a1", "=a"]),
    st.text(max_size=110) | st.integers() | st.none(),
)
KILOS = st.one_of(
    st.floats(min_value=0, max_value=1e12) | st.integers(min_value=0, max_value=10**12),
    st.sampled_from([-0.0, -1, 1e12 + 1, 10**12 + 1, float("nan"), float("inf"), True, False, None, "12.5", "x"]),
    st.floats() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=8),
)
FIELDS = st.sampled_from(["date", "vegetable", "kilo_sold", "Date", "extra"])
RECORDS = st.fixed_dictionaries({"date": DATES, "vegetable": NAMES, "kilo_sold": KILOS}) | st.dictionaries(
    FIELDS, st.one_of(DATES, NAMES, KILOS), max_size=4
)


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(RECORDS, st.sampled_from(["start", "end"]))
def test_the_shortcut_for_usual_records_agrees_with_pydantic(item, week_date):
    assert validate_record(item, week_date) == validate_with_pydantic(item, week_date)


@pytest.mark.parametrize(
    ("date", "week_date", "error"),
    [
        pytest.param("1900-01-01", "start", "", id="first_day_starts_a_week"),
        pytest.param("2999-12-25", "start", "", id="last_week_ends_on_the_last_day"),
        pytest.param("2999-12-26", "start", "'2999-12-26' names the week 2999-12-26 .. 3000-01-01", id="one_day_past"),
        pytest.param("1900-01-07", "end", "", id="first_week_ending"),
        pytest.param("1900-01-06", "end", "'1900-01-06' names the week 1899-12-31 .. 1900-01-06", id="one_day_before"),
        pytest.param("2999-12-31", "end", "", id="last_day_ends_a_week"),
        pytest.param("1900-W01", "start", "", id="first_iso_week_starts_on_1900_01_01"),
    ],
)
def test_a_week_is_accepted_only_when_its_seven_days_are_in_range(date, week_date, error):
    checked = validate_record(with_(date=date), week_date)
    if not error:
        assert isinstance(checked, BronzeRow)
    else:
        assert checked == [
            FieldError(
                "date", "date_out_of_range", f"{error}: every day of a week must fall within 1900-01-01 .. 2999-12-31"
            )
        ]


def nested(levels: int, inner=1):
    """`inner` inside `levels` arrays."""
    value = inner
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(with_(x=nested(MAX_RECORD_DEPTH - 1)), "extra", id="at_the_limit"),  # the object is one level
        pytest.param(with_(x=nested(MAX_RECORD_DEPTH)), "nests 65 levels", id="one_past_the_limit"),
        pytest.param(nested(MAX_RECORD_DEPTH + 1), "nests 65 levels", id="an_array_record"),
        pytest.param(with_(x=nested(100)), "nests 101 levels", id="deep"),
        pytest.param(with_(x=nested(5000)), "nests more than 512 levels", id="past_any_body"),
    ],
)
def test_a_record_nesting_past_the_limit_is_rejected_with_one_reason(item, expected):
    errors = validate_record(item)
    if expected == "extra":
        assert errors == [FieldError("x", "extra_field", "Extra inputs are not permitted")]
    else:
        assert errors == [FieldError("record", "too_deep", f"{expected} of arrays and objects; at most 64")]


@pytest.mark.parametrize(
    ("value", "depth"),
    [
        pytest.param(1, 0, id="scalar"),
        pytest.param({}, 1, id="empty_object"),
        pytest.param({"a": [1, {"b": []}]}, 4, id="mixed"),
        pytest.param([[1], [[2]], 3], 3, id="uneven"),
        pytest.param(nested(100_000), 513, id="counted_up_to_the_stop"),
    ],
)
def test_nesting_depth_of_values(value, depth):
    assert nesting_depth(value) == depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        pytest.param(b"1", 0, id="scalar"),
        pytest.param(b'[{"a": [1]}, []]', 3, id="mixed"),
        pytest.param(b'["[[[[", "\\"[[", {"]": "{{"}]', 2, id="brackets_in_strings"),
        pytest.param(b'["abc[[[[', 1, id="unterminated_string"),
        pytest.param(b"[" * 100_000, 100_000, id="deep_and_unbalanced"),
        pytest.param('{"\u00e9": ["é"]}', 2, id="text"),
    ],
)
def test_json_depth_of_texts(text, depth):
    assert json_depth(text) == depth


def test_json_as_sent_keeps_every_number_as_sent():
    text = b"[NaN, Infinity, -Infinity, 1e400, 18446744073709551616, 18446744073709551615, -9223372036854775808, 1.5]"
    assert json_as_sent(text) == [
        NumberAsSent("NaN"),
        NumberAsSent("Infinity"),
        NumberAsSent("-Infinity"),
        NumberAsSent("1e400"),
        NumberAsSent("18446744073709551616"),
        18446744073709551615,
        -9223372036854775808,
        1.5,
    ]
    assert json_as_sent(b"[1" + b"0" * 5000 + b"]") == [NumberAsSent("1" + "0" * 5000)]  # past int()'s 4,300 digits


def test_json_as_sent_refuses_nesting_past_the_limit_without_a_recursion_error():
    assert json_as_sent(b"[" * MAX_BODY_DEPTH + b"]" * MAX_BODY_DEPTH) == nested(MAX_BODY_DEPTH - 1, [])
    with pytest.raises(TooDeep, match="nests more than 512 levels"):
        json_as_sent(b"[" * (MAX_BODY_DEPTH + 1) + b"]" * (MAX_BODY_DEPTH + 1))
    with pytest.raises(TooDeep):
        json_as_sent(b"[" * 100_000)
