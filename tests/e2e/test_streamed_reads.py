"""Table reads past 10,000 rows are streamed, a piece at a time, on every backend: chunked, with
the same bytes (or rows) as the answer built whole, gzipped as one stream when asked."""

import csv
import gzip
import io

import orjson
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from tests.conftest import sale

NAMES = ("Tomate", "carotte", "Zanahoria", "Poire", "ail", "puerro")
ROWS = 12_060  # over STREAM_ROWS: two pieces and a bit


@pytest.fixture
def big(client: TestClient) -> TestClient:
    records = [
        sale(f"{1980 + week // 52}-W{week % 52 + 1:02d}", name, week + len(name) / 8)
        for week in range(ROWS // len(NAMES))
        for name in NAMES
    ]
    assert client.post("/post_sales", json=records).json()["inserted"] == ROWS
    return client


def test_a_big_selection_is_streamed_with_the_rows_a_whole_answer_has(big: TestClient):
    whole = big.get("/get_raw_sales")
    assert "content-length" in whole.headers  # the whole table as JSON: the cached body
    rows = whole.json()
    selected = big.get("/get_raw_sales", params={"from": "1980-W01"})  # every row, selected
    assert "content-length" not in selected.headers  # chunked: sent as it was made
    assert selected.content == whole.content
    as_csv = big.get("/get_raw_sales", params={"format": "csv"})
    assert "content-length" not in as_csv.headers
    parsed = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert parsed == [{**row, "kilo_sold": repr(row["kilo_sold"])} for row in rows]
    as_ndjson = big.get("/get_raw_sales", params={"format": "ndjson"})
    assert [orjson.loads(line) for line in as_ndjson.content.splitlines()] == rows
    as_parquet = big.get("/get_raw_sales", params={"format": "parquet"})
    assert pq.read_table(io.BytesIO(as_parquet.content)).to_pylist() == rows
    assert pq.ParquetFile(io.BytesIO(as_parquet.content)).num_row_groups == 2


def test_a_streamed_answer_is_gzipped_as_one_stream_and_a_head_sends_no_body(big: TestClient):
    plain = big.get("/get_weekly_sales", params={"format": "csv"})
    with big.stream(
        "GET", "/get_weekly_sales", params={"format": "csv"}, headers={"Accept-Encoding": "gzip"}
    ) as streamed:
        assert streamed.headers["content-encoding"] == "gzip"
        compressed = b"".join(streamed.iter_raw())
    assert gzip.decompress(compressed) == plain.content
    assert len(plain.content.splitlines()) == ROWS + 1
    head = big.head("/get_weekly_sales", params={"format": "csv"})
    assert (head.status_code, head.content, head.headers["content-type"]) == (200, b"", "text/csv; charset=utf-8")
