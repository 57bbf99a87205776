"""A rejected record as the quarantine keeps it (its JSON text) and serves it back."""

import orjson
import pytest

from vegsales.quarantine import _written, record_text, served_record
from vegsales.records import NumberAsSent, json_as_sent
from vegsales.tables import RejectedRow


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
