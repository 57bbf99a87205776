"""A rejected record as the quarantine keeps it (its JSON text) and serves it back."""

import orjson
import pytest

from vegsales.quarantine import _written, record_text, rejected_row, served_errors, served_record
from vegsales.records import FieldError, NumberAsSent, json_as_sent
from vegsales.rows import RejectedRow


def nested(levels: int, inner: object = 1) -> object:
    value = inner
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("item", "text"),
    [
        pytest.param({"date": "2020-01-06", "kilo_sold": 1.5}, '{"date":"2020-01-06","kilo_sold":1.5}', id="plain"),
        pytest.param({"vegetable": "é\ud800"}, '{"vegetable":"é\\ud800"}', id="lone_surrogate_in_a_value"),
        pytest.param({"\udfff": "\n\x00"}, '{"\\udfff":"\\n\\u0000"}', id="lone_surrogate_in_a_key"),
        pytest.param(
            [NumberAsSent("NaN"), NumberAsSent("Infinity"), NumberAsSent("-Infinity"), NumberAsSent("1e400")],
            "[NaN,Infinity,-Infinity,1e400]",
            id="numbers_json_has_not",
        ),
        pytest.param({"x": 2**64}, '{"x":18446744073709551616}', id="integer_beyond_64_bits"),
        pytest.param({"x": 10**5000}, '{"x":1' + "0" * 5000 + "}", id="integer_past_str_digits"),
        pytest.param({"x": nested(300)}, '{"x":' + "[" * 300 + "1" + "]" * 300 + "}", id="past_orjson_depth"),
        pytest.param(
            [NumberAsSent("NaN"), "\ud800", nested(300, "é")],
            '[NaN,"\\ud800",' + "[" * 300 + '"é"' + "]" * 300 + "]",
            id="everything_at_once",
        ),
        pytest.param(nested(5000), "[" * 5000 + "1" + "]" * 5000, id="past_the_recursion_limit"),
    ],
)
def test_a_record_is_kept_as_compact_json_text_with_numbers_and_surrogates_as_sent(item, text):
    assert record_text(item) == text
    assert _written(item) == text  # the writer without recursion writes the same text


def test_a_record_read_from_a_body_is_written_back_as_it_was_sent():
    body = b'{"a":[NaN , 1e400,\n18446744073709551616,"\\ud800\\u00e9",-0.0, 1.0E2]}'
    assert record_text(json_as_sent(body)) == '{"a":[NaN,1e400,18446744073709551616,"\\ud800é",-0.0,100.0]}'


def row(record: str, truncated: bool = False) -> RejectedRow:
    return RejectedRow("0" * 32, record, truncated, "[]", "", "", 1)


@pytest.mark.parametrize(
    ("record", "truncated", "served_as_text"),
    [
        pytest.param('{"a":1}', False, False, id="plain"),
        pytest.param('{"a":18446744073709551617}', False, False, id="integer_beyond_64_bits"),
        pytest.param('{"a":1e400}', False, False, id="beyond_a_double"),
        pytest.param('{"a":-1' + "0" * 4299 + "}", False, False, id="4300_digits"),
        pytest.param('{"a":1' + "0" * 4300 + "}", False, True, id="4301_digits"),
        pytest.param('{"a":1' + "0" * 4300 + ".5}", False, False, id="a_long_decimal"),
        pytest.param('{"a":NaN}', False, True, id="nan"),
        pytest.param('{"a":-Infinity}', False, True, id="minus_infinity"),
        pytest.param('{"a":"\\ud800"}', False, True, id="lone_surrogate"),
        pytest.param('{"a":"\\ud83d\\ude00"}', False, False, id="surrogate_pair"),
        pytest.param("[" * 64 + "]" * 64, False, False, id="64_levels"),
        pytest.param("[" * 65 + "]" * 65, False, True, id="65_levels"),
        pytest.param("[" * 2000 + "]" * 2000, False, True, id="2000_levels"),
        pytest.param("not JSON", False, True, id="not_json"),
        pytest.param('{"a":1}', True, True, id="truncated"),
    ],
)
def test_a_kept_record_is_served_as_json_when_any_reader_takes_it_back_else_as_its_text(
    record, truncated, served_as_text
):
    served, is_text = served_record(row(record, truncated))
    assert is_text is served_as_text
    assert orjson.dumps(served) == (orjson.dumps(record) if served_as_text else record.encode())


def kept(errors: str) -> RejectedRow:
    return RejectedRow("0" * 32, '{"a":1}', False, errors, "", "", 1)


def test_a_rejection_is_kept_with_its_code_and_served_as_it_was_given():
    errors = [FieldError("date", "bad_date", "'2021-02-29' is not a real calendar date")]
    row = rejected_row({"date": "2021-02-29"}, errors, "2026-01-01T00:00:00.000000Z")
    assert orjson.loads(row.errors) == [
        {"field": "date", "code": "bad_date", "message": "'2021-02-29' is not a real calendar date"}
    ]
    assert served_errors(row) == orjson.loads(row.errors)


NAME_RULE = "a vegetable name holds only letters, spaces, hyphens, apostrophes and periods"
NOT_TEXT = "Input should be a valid string, unable to parse raw data as a unicode string"


@pytest.mark.parametrize(
    ("field", "message", "code"),
    [
        pytest.param("record", "must be a JSON object, got a number", "not_an_object", id="not_an_object"),
        pytest.param("record", "nests 65 levels of arrays and objects; at most 64", "too_deep", id="too_deep"),
        pytest.param("record", NOT_TEXT, "extra_field", id="key_that_is_not_text"),
        pytest.param("record", "something no version wrote", "unclassified", id="unknown_record_reason"),
        pytest.param("kilo_sold", "Field required", "missing", id="missing"),
        pytest.param("brand", "Extra inputs are not permitted", "extra_field", id="extra_field"),
        pytest.param("date", "'2021-02-29' is not a real calendar date", "bad_date", id="bad_date"),
        pytest.param("date", "'1899-12-31' is outside 1900-01-01 .. 2999-12-31", "date_out_of_range", id="outside"),
        pytest.param(
            "date",
            "'2999-12-31' names the week 2999-12-31 .. 3000-01-06: every day of a week must fall within "
            "1900-01-01 .. 2999-12-31",
            "date_out_of_range",
            id="week_past_the_range",
        ),
        pytest.param("vegetable", "String should have at least 1 character", "bad_name", id="bad_name"),
        pytest.param("vegetable", NOT_TEXT, "bad_name", id="name_that_is_not_text"),
        pytest.param(
            "vegetable", f"contains a control character U+000A at position 7: {NAME_RULE}", "dirty_name", id="dirty"
        ),
        pytest.param(
            "vegetable", "unknown vegetable 'mango'; closest: mushroom (60%)", "unknown_vegetable", id="unknown"
        ),
        pytest.param(
            "vegetable",
            "'totatoes' matches several vegetables equally well: tomato (88%), potato (88%)",
            "ambiguous_vegetable",
            id="ambiguous",
        ),
        pytest.param("kilo_sold", "'abc' is not a number", "bad_number", id="bad_number"),
        pytest.param("kilo_sold", "Input should be less than or equal to 1000000000000", "out_of_range", id="range"),
    ],
)
def test_a_reason_kept_before_reasons_had_codes_is_served_with_the_code_it_meant(field, message, code):
    row = kept(orjson.dumps([{"field": field, "message": message}]).decode())
    assert served_errors(row) == [{"field": field, "code": code, "message": message}]


@pytest.mark.parametrize(
    ("errors", "served"),
    [
        pytest.param("not JSON", [("record", "unclassified", "not JSON")], id="not_json"),
        pytest.param('{"field":"date"}', [("record", "unclassified", '{"field":"date"}')], id="not_a_list"),
        pytest.param('["x",1]', [("record", "unclassified", '"x"'), ("record", "unclassified", "1")], id="not_objects"),
        pytest.param(
            '[{"field":"date","code":"no_such_code","message":"Field required"}]',
            [("date", "missing", "Field required")],
            id="code_of_no_version",
        ),
        pytest.param('[{"code":"bad_date"}]', [("record", "bad_date", "")], id="no_field_nor_message"),
    ],
)
def test_reasons_that_cannot_be_read_are_still_served_each_with_a_code(errors, served):
    assert served_errors(kept(errors)) == [{"field": f, "code": c, "message": m} for f, c, m in served]
