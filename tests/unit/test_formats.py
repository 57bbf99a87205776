"""The table formats: every format read back (json, csv, ndjson, parquet) gives the rows written out
by hand, in the same order, for each table's shape; and the choice of format from ?format= and
the Accept header."""

import csv
import io
import subprocess
import sys

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vegsales.asgi import ApiError
from vegsales.http import formats
from vegsales.http.formats import CONTENT_TYPES, MONTHLY, RAW, WEEKLY, TableShape, chosen_format, rendered
from vegsales.reports import raw_sale_json
from vegsales.rows import BronzeRow, GoldRow, SilverRow

RECEIVED = "2026-01-05T10:00:00.000000Z"
AWKWARD_NAME = 'Pommes, "de" terre'
MULTILINE_NAME = "two\nlines\r\nhere"

RAW_ROWS = [
    BronzeRow("2020-01-27", "Tomate", 0.1 + 0.2, "2020-01-27", RECEIVED),
    BronzeRow("2020-W05", AWKWARD_NAME, 1e-300, "2020-01-27", RECEIVED),
    BronzeRow("202006", MULTILINE_NAME, 123456789.123456789, "2020-02-03", RECEIVED),
    BronzeRow("2020-02-10", "épinard ñame", 0.0, "2020-02-10", RECEIVED),
    BronzeRow("2020-02-17", "lone \ud800 surrogate", 70.0, "2020-02-17", RECEIVED),
]
RAW_EXPECTED = [
    {"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 0.30000000000000004},
    {"date": "2020-W05", "vegetable": 'Pommes, "de" terre', "kilo_sold": 1e-300},
    {"date": "202006", "vegetable": "two\nlines\r\nhere", "kilo_sold": 123456789.12345679},
    {"date": "2020-02-10", "vegetable": "épinard ñame", "kilo_sold": 0.0},
    # UTF-8 cannot hold a lone surrogate: every format writes the six characters of its JSON escape
    {"date": "2020-02-17", "vegetable": "lone \\ud800 surrogate", "kilo_sold": 70.0},
]

MONTHLY_ROWS = [
    GoldRow("2020-01", "tomato", 0.1 + 0.2, True),
    GoldRow("2020-01", "brussels sprout", 1e-300, False),
    GoldRow("2020-02", 'é, "ñ"\n', 123456789.123456789, True),
    GoldRow("2020-03", "carrot", 0.0, False),
]
MONTHLY_EXPECTED = [
    {"year_month": "2020-01", "vegetable": "tomato", "kilo_sold": 0.30000000000000004, "is_outlier": True},
    {"year_month": "2020-01", "vegetable": "brussels sprout", "kilo_sold": 1e-300, "is_outlier": False},
    {"year_month": "2020-02", "vegetable": 'é, "ñ"\n', "kilo_sold": 123456789.12345679, "is_outlier": True},
    {"year_month": "2020-03", "vegetable": "carrot", "kilo_sold": 0.0, "is_outlier": False},
]

# SilverRow's fields are in another order than the columns served: the shape decides the order.
WEEKLY_ROWS = [
    SilverRow("2020-01-27", "tomato", 0.1 + 0.2, "Tomate", "2020-01-27"),
    SilverRow("2020-01-27", "potato", 1e-300, AWKWARD_NAME, "2020-W05"),
    SilverRow("2020-02-03", "leek", 123456789.123456789, "poireau\n\ud83e\udd55", "202006"),
    SilverRow("2020-02-10", "spinach", 0.0, "épinard \udfff", "2020-02-10"),
]
WEEKLY_EXPECTED = [
    {
        "week_start": "2020-01-27",
        "date": "2020-01-27",
        "vegetable": "tomato",
        "raw_vegetable": "Tomate",
        "kilo_sold": 0.30000000000000004,
    },
    {
        "week_start": "2020-01-27",
        "date": "2020-W05",
        "vegetable": "potato",
        "raw_vegetable": 'Pommes, "de" terre',
        "kilo_sold": 1e-300,
    },
    {
        "week_start": "2020-02-03",
        "date": "202006",
        "vegetable": "leek",
        # a surrogate pair written as two code points is two lone surrogates, not a carrot emoji
        "raw_vegetable": "poireau\n\\ud83e\\udd55",
        "kilo_sold": 123456789.12345679,
    },
    {
        "week_start": "2020-02-10",
        "date": "2020-02-10",
        "vegetable": "spinach",
        "raw_vegetable": "épinard \\udfff",
        "kilo_sold": 0.0,
    },
]

TABLES = [
    pytest.param(RAW, RAW_ROWS, RAW_EXPECTED, id="raw"),
    pytest.param(MONTHLY, MONTHLY_ROWS, MONTHLY_EXPECTED, id="monthly"),
    pytest.param(WEEKLY, WEEKLY_ROWS, WEEKLY_EXPECTED, id="weekly"),
]
SHAPES = {"raw": (RAW, RAW_ROWS), "monthly": (MONTHLY, MONTHLY_ROWS), "weekly": (WEEKLY, WEEKLY_ROWS)}
FORMATS = ["json", "csv", "ndjson", "parquet"]
NAMES = {
    "raw": ["date", "vegetable", "kilo_sold"],
    "monthly": ["year_month", "vegetable", "kilo_sold", "is_outlier"],
    "weekly": ["week_start", "date", "vegetable", "raw_vegetable", "kilo_sold"],
}
KINDS = {"date": "text", "vegetable": "text", "year_month": "text", "week_start": "text", "raw_vegetable": "text"}
KINDS |= {"kilo_sold": "float", "is_outlier": "bool"}


# --- reading each format back, independently of the module --------------------------------------


def json_rows(body: bytes) -> list[dict]:
    return orjson.loads(body)


def ndjson_rows(body: bytes) -> list[dict]:
    assert body == b"" or body.endswith(b"\n")
    return [orjson.loads(line) for line in body.split(b"\n")[:-1]]


def csv_table(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline=""), strict=True))


def csv_rows(body: bytes) -> list[dict]:
    header, *lines = csv_table(body)
    typed = {"text": str, "float": float, "bool": {"true": True, "false": False}.__getitem__}
    return [{name: typed[KINDS[name]](cell) for name, cell in zip(header, line, strict=True)} for line in lines]


def parquet_rows(body: bytes) -> list[dict]:
    return pq.read_table(pa.BufferReader(body)).to_pylist()


READERS = {"json": json_rows, "csv": csv_rows, "ndjson": ndjson_rows, "parquet": parquet_rows}


def column_names(body: bytes, format: str) -> list[str]:
    """The columns in the order the body writes them."""
    if format == "csv":
        return csv_table(body)[0]
    if format == "parquet":
        return pq.read_table(pa.BufferReader(body)).column_names
    rows = json_rows(body) if format == "json" else ndjson_rows(body)
    return list(rows[0])


# --- every format holds the same rows -----------------------------------------------------------


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize(("shape", "rows", "expected"), TABLES)
def test_every_format_reads_back_as_the_same_rows_in_the_same_order(shape, rows, expected, format):
    body = rendered(rows, shape, format)
    assert READERS[format](body) == expected
    assert READERS[format](body) == json_rows(rendered(rows, shape, "json"))


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("table", SHAPES)
def test_every_format_writes_the_columns_in_the_shapes_order(table, format):
    shape, rows = SHAPES[table]
    assert column_names(rendered(rows, shape, format), format) == NAMES[table]


def test_shapes_name_their_columns_in_order():
    assert RAW.names == ("date", "vegetable", "kilo_sold")
    assert MONTHLY.names == ("year_month", "vegetable", "kilo_sold", "is_outlier")
    assert WEEKLY.names == ("week_start", "date", "vegetable", "raw_vegetable", "kilo_sold")
    assert [column.kind for column in WEEKLY.columns] == ["text", "text", "text", "text", "float"]
    assert [column.kind for column in MONTHLY.columns] == ["text", "text", "float", "bool"]


def test_content_types():
    assert CONTENT_TYPES == {
        "json": "application/json",
        "csv": "text/csv; charset=utf-8",
        "ndjson": "application/x-ndjson",
        "parquet": "application/vnd.apache.parquet",
    }


# --- JSON: the bytes served before the other formats existed --------------------------------------


def test_raw_json_is_the_bytes_the_raw_read_serves():
    served = b"[" + b",".join(raw_sale_json(row) for row in RAW_ROWS) + b"]"
    assert rendered(RAW_ROWS, RAW, "json") == served


def test_monthly_json_is_the_bytes_the_monthly_read_serves():
    served = b"[" + b",".join(orjson.dumps(row) for row in MONTHLY_ROWS) + b"]"  # JsonBodies' default render
    assert rendered(MONTHLY_ROWS, MONTHLY, "json") == served


def test_json_bytes_written_out():
    rows = [RAW_ROWS[0], RAW_ROWS[4]]
    assert rendered(rows, RAW, "json") == (
        b'[{"date":"2020-01-27","vegetable":"Tomate","kilo_sold":0.30000000000000004},'
        b'{"date":"2020-02-17","vegetable":"lone \\\\ud800 surrogate","kilo_sold":70.0}]'
    )


def test_ndjson_bytes_written_out():
    rows = [MONTHLY_ROWS[0], MONTHLY_ROWS[2]]
    assert rendered(rows, MONTHLY, "ndjson") == (
        b'{"year_month":"2020-01","vegetable":"tomato","kilo_sold":0.30000000000000004,"is_outlier":true}\n'
        b'{"year_month":"2020-02","vegetable":"\xc3\xa9, \\"\xc3\xb1\\"\\n","kilo_sold":123456789.12345679,'
        b'"is_outlier":true}\n'
    )


# --- CSV --------------------------------------------------------------------------------------


def test_csv_bytes_written_out():
    assert rendered(RAW_ROWS, RAW, "csv") == (
        b"date,vegetable,kilo_sold\r\n"
        b"2020-01-27,Tomate,0.30000000000000004\r\n"
        b'2020-W05,"Pommes, ""de"" terre",1e-300\r\n'
        b'202006,"two\nlines\r\nhere",123456789.12345679\r\n'
        b"2020-02-10,\xc3\xa9pinard \xc3\xb1ame,0.0\r\n"
        b"2020-02-17,lone \\ud800 surrogate,70.0\r\n"
    )


def test_csv_booleans_are_true_and_false():
    assert rendered(MONTHLY_ROWS[:2], MONTHLY, "csv") == (
        b"year_month,vegetable,kilo_sold,is_outlier\r\n"
        b"2020-01,tomato,0.30000000000000004,true\r\n"
        b"2020-01,brussels sprout,1e-300,false\r\n"
    )


def test_csv_floats_read_back_as_the_same_floats():
    values = [0.1 + 0.2, 1e-300, 123456789.123456789, 0.0, 5e-324, 1.7976931348623157e308, 1 / 3, 70.0]
    rows = [GoldRow("2020-01", "tomato", value, False) for value in values]
    cells = [line[2] for line in csv_table(rendered(rows, MONTHLY, "csv"))[1:]]
    assert cells == [
        "0.30000000000000004",
        "1e-300",
        "123456789.12345679",
        "0.0",
        "5e-324",
        "1.7976931348623157e+308",
        "0.3333333333333333",
        "70.0",
    ]
    assert [float(cell) for cell in cells] == values


# --- Parquet ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "schema"),
    [
        pytest.param(
            "raw",
            [("date", pa.string()), ("vegetable", pa.string()), ("kilo_sold", pa.float64())],
            id="raw",
        ),
        pytest.param(
            "monthly",
            [
                ("year_month", pa.string()),
                ("vegetable", pa.string()),
                ("kilo_sold", pa.float64()),
                ("is_outlier", pa.bool_()),
            ],
            id="monthly",
        ),
        pytest.param(
            "weekly",
            [
                ("week_start", pa.string()),
                ("date", pa.string()),
                ("vegetable", pa.string()),
                ("raw_vegetable", pa.string()),
                ("kilo_sold", pa.float64()),
            ],
            id="weekly",
        ),
    ],
)
@pytest.mark.parametrize("empty", [pytest.param(False, id="rows"), pytest.param(True, id="empty")])
def test_parquet_columns_are_typed(table, schema, empty):
    shape, rows = SHAPES[table]
    read = pq.read_table(pa.BufferReader(rendered([] if empty else rows, shape, "parquet")))
    assert [(field.name, field.type) for field in read.schema] == schema
    assert [field.nullable for field in read.schema] == [False] * len(schema)
    assert read.num_rows == (0 if empty else len(rows))
    assert read.schema.pandas_metadata is None  # columns only: no index to drag along


def test_parquet_dates_are_strings_as_served():
    table = pq.read_table(pa.BufferReader(rendered(RAW_ROWS, RAW, "parquet")))
    assert table.column("date").to_pylist() == ["2020-01-27", "2020-W05", "202006", "2020-02-10", "2020-02-17"]


# --- empty tables -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "format", "body"),
    [
        pytest.param(RAW, "json", b"[]", id="raw_json"),
        pytest.param(MONTHLY, "json", b"[]", id="monthly_json"),
        pytest.param(RAW, "ndjson", b"", id="raw_ndjson"),
        pytest.param(WEEKLY, "ndjson", b"", id="weekly_ndjson"),
        pytest.param(RAW, "csv", b"date,vegetable,kilo_sold\r\n", id="raw_csv_header_only"),
        pytest.param(MONTHLY, "csv", b"year_month,vegetable,kilo_sold,is_outlier\r\n", id="monthly_csv_header_only"),
        pytest.param(
            WEEKLY, "csv", b"week_start,date,vegetable,raw_vegetable,kilo_sold\r\n", id="weekly_csv_header_only"
        ),
    ],
)
def test_an_empty_table(shape, format, body):
    assert rendered([], shape, format) == body


# --- choosing the format ------------------------------------------------------------------------

NEGOTIATION = [
    pytest.param(None, None, "json", id="no_accept_header"),
    pytest.param(None, "", "json", id="empty_accept_header"),
    pytest.param(None, "*/*", "json", id="anything"),
    pytest.param(None, "application/json", "json", id="json"),
    pytest.param(None, "text/csv", "csv", id="csv"),
    pytest.param(None, "TEXT/CSV", "csv", id="types_ignore_case"),
    pytest.param(None, "text/csv; charset=utf-8", "csv", id="parameters_other_than_q_ignored"),
    pytest.param(None, "text/csv;header=present;q=0.5, application/xml", "csv", id="q_after_other_parameters"),
    pytest.param(None, "application/x-ndjson", "ndjson", id="ndjson"),
    pytest.param(None, "application/vnd.apache.parquet", "parquet", id="parquet"),
    pytest.param(None, "application/x-parquet", "parquet", id="parquet_older_name"),
    pytest.param(None, "text/*", "csv", id="text_wildcard"),
    pytest.param(None, "application/*", "json", id="application_wildcard_prefers_json"),
    pytest.param(None, "application/json;q=0.5, text/csv", "csv", id="higher_q_wins"),
    pytest.param(None, "text/csv;q=0.5, application/json;q=0.9", "json", id="higher_q_wins_listed_second"),
    pytest.param(None, "application/json; q=0.5 , text/csv ; q=0.4", "json", id="spaces_around_parameters"),
    pytest.param(None, "text/csv, application/json", "csv", id="equal_q_first_listed"),
    pytest.param(None, "application/json, text/csv", "json", id="equal_q_first_listed_json"),
    pytest.param(None, "*/*, text/csv", "csv", id="named_before_wildcard_at_equal_q"),
    pytest.param(None, "*/*;q=0.1, application/x-ndjson", "ndjson", id="named_above_wildcard"),
    pytest.param(None, "text/csv;q=0.001", "csv", id="lowest_q_still_accepts"),
    pytest.param(None, "application/json;q=0, */*", "csv", id="q0_refuses_json_wildcard_takes_next"),
    pytest.param(None, "application/json;q=0, text/csv;q=0, */*", "ndjson", id="q0_refuses_two"),
    pytest.param(None, "application/*;q=0, */*", "csv", id="q0_wildcard_refuses_its_types"),
    pytest.param(None, "text/*;q=0, */*;q=0.5", "json", id="q0_text_wildcard"),
    pytest.param(None, "application/json;q=0.0, text/csv;q=1.0", "csv", id="q_with_decimals"),
    pytest.param(
        None, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "json", id="a_browsers_header"
    ),
    pytest.param("csv", "application/json", "csv", id="format_parameter_overrides_accept"),
    pytest.param("json", "text/html", "json", id="format_parameter_overrides_an_unacceptable_accept"),
    pytest.param("ndjson", "text/csv;q=1, application/x-ndjson;q=0", "ndjson", id="format_parameter_overrides_q0"),
    pytest.param("parquet", None, "parquet", id="format_parameter_parquet"),
    pytest.param("json", None, "json", id="format_parameter_json"),
]


@pytest.mark.parametrize(("format_parameter", "accept", "expected"), NEGOTIATION)
def test_chosen_format(format_parameter, accept, expected):
    assert chosen_format(format_parameter, accept) == expected


NOT_ACCEPTABLE = (
    "the Accept header allows none of the types served: application/json, text/csv, application/x-ndjson, "
    "application/vnd.apache.parquet, application/x-parquet (or ?format=json|csv|ndjson|parquet)"
)


@pytest.mark.parametrize(
    "accept",
    [
        pytest.param("text/html", id="unknown_type"),
        pytest.param("text/html, image/*", id="unknown_type_and_wildcard"),
        pytest.param("application/xml", id="unknown_application_type"),
        pytest.param("*/*;q=0", id="q0_everything"),
        pytest.param("application/json;q=0", id="q0_the_only_type"),
        pytest.param("text/csv;q=0, text/*", id="q0_named_type_beats_its_wildcard"),
        pytest.param("application/json;q=abc", id="unreadable_q"),
        pytest.param("application/json;q=1.5", id="q_above_1"),
        pytest.param("json", id="no_slash"),
    ],
)
def test_no_acceptable_type_is_406_naming_the_types_served(accept):
    with pytest.raises(ApiError) as raised:
        chosen_format(None, accept)
    assert (raised.value.status, raised.value.error, raised.value.message) == (406, "not_acceptable", NOT_ACCEPTABLE)


@pytest.mark.parametrize(
    ("value", "accept"),
    [
        pytest.param("xml", None, id="unknown"),
        pytest.param("CSV", None, id="upper_case"),
        pytest.param("", None, id="empty"),
        pytest.param("xml", "application/json", id="unknown_with_an_acceptable_accept"),
    ],
)
def test_an_unknown_format_parameter_is_400_naming_the_formats(value, accept):
    with pytest.raises(ApiError) as raised:
        chosen_format(value, accept)
    expected = f"format must be one of json, csv, ndjson, parquet, got {value!r}"
    assert (raised.value.status, raised.value.error, raised.value.message) == (400, "invalid_parameter", expected)


# --- without pyarrow ----------------------------------------------------------------------------

NO_PYARROW = "Parquet needs pyarrow, which this server lacks: pip install 'vegsales[parquet]'"


@pytest.fixture
def without_pyarrow(monkeypatch):
    """A server where `import pyarrow` fails."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    formats._arrow.cache_clear()
    yield
    formats._arrow.cache_clear()


@pytest.mark.parametrize(
    ("format_parameter", "accept"),
    [
        pytest.param("parquet", None, id="format_parameter"),
        pytest.param(None, "application/vnd.apache.parquet", id="accept"),
        pytest.param(None, "application/x-parquet, text/csv;q=0", id="accept_older_name"),
    ],
)
def test_parquet_without_pyarrow_is_406_naming_the_extra(without_pyarrow, format_parameter, accept):
    with pytest.raises(ApiError) as raised:
        chosen_format(format_parameter, accept)
    assert (raised.value.status, raised.value.error, raised.value.message) == (406, "not_acceptable", NO_PYARROW)


def test_without_pyarrow_the_next_acceptable_format_is_served(without_pyarrow):
    assert chosen_format(None, "application/vnd.apache.parquet, application/json;q=0.5") == "json"
    assert chosen_format(None, "*/*") == "json"
    assert rendered(MONTHLY_ROWS, MONTHLY, "csv").startswith(b"year_month,vegetable,kilo_sold,is_outlier\r\n")


def test_without_pyarrow_406_names_the_types_served_then(without_pyarrow):
    with pytest.raises(ApiError) as raised:
        chosen_format(None, "text/html")
    assert raised.value.message == (
        "the Accept header allows none of the types served: application/json, text/csv, application/x-ndjson "
        "(or ?format=json|csv|ndjson)"
    )


def test_without_pyarrow_rendering_parquet_is_406(without_pyarrow):
    with pytest.raises(ApiError) as raised:
        rendered(RAW_ROWS, RAW, "parquet")
    assert (raised.value.status, raised.value.message) == (406, NO_PYARROW)


def test_the_module_does_not_import_pyarrow():
    script = (
        "import sys; import vegsales.http.formats as f; "
        "print('pyarrow' in sys.modules, f.chosen_format(None, 'text/csv'), 'pyarrow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout == "False csv False\n"


def test_a_shape_of_its_own():
    """Any row object works: a column is a name, a kind and how to read the value."""
    shape = TableShape((formats.Column("name", "text", str.upper), formats.Column("size", "float", len)))
    assert rendered(["ab", "c"], shape, "csv") == b"name,size\r\nAB,2.0\r\nC,1.0\r\n"
    assert rendered(["ab", "c"], shape, "json") == b'[{"name":"AB","size":2.0},{"name":"C","size":1.0}]'
    assert parquet_rows(rendered(["ab", "c"], shape, "parquet")) == [
        {"name": "AB", "size": 2.0},
        {"name": "C", "size": 1.0},
    ]
