"""A CSV line as the store writes it is the line Python's csv.writer writes, quoting included."""

import random

from vegsales.rows import HistoryRow
from vegsales.storage.csv_format import csv_line, history_line, written_line

ALPHABET = "ab ,\"\r\n\t\\'é\x1f{}[]:"


def test_every_line_is_the_writer_s_own():
    rng = random.Random(20261207)
    for _ in range(20_000):
        fields = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 5))]
        assert csv_line(fields) == written_line(fields), fields


def test_a_json_field_is_quoted_with_its_quotes_doubled():
    assert csv_line([7, "sales", "0", '{"a":[1,"b"]}']) == '7,sales,0,"{""a"":[1,""b""]}"\n'
    assert csv_line(["a\rb", "c"]) == "a\rb,c\n"  # the writer quotes no lone \r: its line end is \n


def test_a_history_line_is_the_writer_s_own():
    rng = random.Random(20261208)
    for _ in range(20_000):
        table, part, values = ("".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 8))) for _ in range(3))
        row = HistoryRow(rng.randint(0, 10**12), table, part, rng.choice(['{"a":[1,"b,c"]}', values]))
        assert history_line(row) == written_line([row.data_version, table, part, row.row_values]), row
