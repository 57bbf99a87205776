"""Cached JSON renderings must always equal a fresh rendering, in both encodings."""

import gzip
import json
import random
import subprocess
import sys

import pytest

from vegsales import json_bodies
from vegsales.json_bodies import PIECE_ROWS, JsonBodies
from vegsales.rows import GoldRow
from vegsales.storage import Changes


class FakeFeed:
    """A change feed over an in-memory table, as a store would serve it."""

    def __init__(self) -> None:
        self.rows: dict[tuple, tuple[GoldRow, int]] = {}
        self.epoch, self.seq = 1, 0

    def write(self, rows: list[GoldRow]) -> None:
        self.seq += 1
        for row in rows:
            self.rows[row.key] = (row, self.seq)

    def empty(self) -> None:
        self.rows.clear()
        self.epoch += 1

    def __call__(self, since):
        cursor = (self.epoch, self.seq)
        if since is None or since[0] != self.epoch:
            return Changes(cursor, [row for row, _ in self.rows.values()], True)
        return Changes(cursor, [row for row, seq in self.rows.values() if seq > since[1]], False)


def expected(feed: FakeFeed, keep=lambda row: True) -> list[dict]:
    rows = sorted((row for row, _ in feed.rows.values()), key=lambda row: row.key)
    return [
        {"year_month": r.year_month, "vegetable": r.vegetable, "kilo_sold": r.kilo_sold, "is_outlier": r.is_outlier}
        for r in rows
        if keep(r)
    ]


def check(table: JsonBodies, feed: FakeFeed) -> None:
    table.refresh()
    for variant, keep in (("all", lambda row: True), ("clean", lambda row: not row.is_outlier)):
        body = table.body(variant)
        assert json.loads(body) == expected(feed, keep)
        assert gzip.decompress(table.body(variant, gzipped=True)) == body


@pytest.mark.parametrize("seed", range(8))
def test_renderings_follow_random_updates_inserts_and_resets(seed):
    rng = random.Random(seed)
    feed = FakeFeed()
    table = JsonBodies(feed, key=lambda row: row.key, variants={"clean": lambda row: not row.is_outlier})
    check(table, feed)
    months = [f"20{y:02d}-{m:02d}" for y in range(20, 24) for m in range(1, 13)]
    for step in range(60):
        action = rng.random()
        if action < 0.05:
            feed.empty()
        else:
            count = rng.choice([1, 1, 2, 3, PIECE_ROWS, PIECE_ROWS + 1, 200])
            feed.write(
                [
                    GoldRow(
                        rng.choice(months),
                        rng.choice(["tomato", "pear", "leek"]),
                        rng.random() * 1e3,
                        rng.random() < 0.1,
                    )
                    for _ in range(count)
                ]
            )
        if step % 3:
            check(table, feed)  # sometimes two writes between reads
    check(table, feed)


@pytest.mark.parametrize("count", [0, 1, PIECE_ROWS - 1, PIECE_ROWS, PIECE_ROWS + 1, 3 * PIECE_ROWS])
def test_piece_boundaries_render_valid_arrays(count):
    feed = FakeFeed()
    feed.write([GoldRow(f"2020-{i:06d}", "tomato", float(i), False) for i in range(count)])
    table = JsonBodies(feed, key=lambda row: row.key, variants={"clean": lambda row: not row.is_outlier})
    check(table, feed)
    if count:
        feed.write([GoldRow("2020-000000", "tomato", 42.0, True)])  # an update: one piece re-rendered
        check(table, feed)


def test_an_unchanged_table_keeps_its_version_and_bytes():
    feed = FakeFeed()
    feed.write([GoldRow("2020-01", "tomato", 1.0, False)])
    table = JsonBodies(feed, key=lambda row: row.key)
    table.refresh()
    body, etag = table.body(), table.etag()
    table.refresh()
    assert table.body() is body
    assert table.etag() == etag


def test_an_update_recompresses_only_its_piece_in_every_variant(monkeypatch):
    """A row updated in place costs one piece per variant it shows in, not the whole table."""
    feed = FakeFeed()
    feed.write([GoldRow(f"2020-{i:06d}", "tomato", float(i), i % 10 == 0) for i in range(4 * PIECE_ROWS)])
    table = JsonBodies(feed, key=lambda row: row.key, variants={"clean": lambda row: not row.is_outlier})
    check(table, feed)
    compressed: list[bytes] = []
    original = json_bodies._deflate
    monkeypatch.setattr(json_bodies, "_deflate", lambda piece: compressed.append(piece) or original(piece))
    feed.write([GoldRow(f"2020-{3 * PIECE_ROWS + 1:06d}", "tomato", 7.5, False)])  # kept by both variants
    check(table, feed)
    assert len(compressed) == 2  # the last piece of "all", and the piece of "clean" it sits in
    assert all(b'"kilo_sold":7.5' in piece for piece in compressed)
    compressed.clear()
    feed.write([GoldRow(f"2020-{3 * PIECE_ROWS + 1:06d}", "tomato", 7.5, True)])  # leaves "clean"
    check(table, feed)
    # "all": its piece; "clean" (230 rows, 4 pieces): the row's piece (the third) and the last, whose rows moved
    assert len(compressed) == 1 + 2


def test_a_table_of_many_rows_keeps_each_rendering_at_its_own_size():
    """orjson (3.12 and later) returns bytes whose memory is over-allocated by ~4 KB: kept one per row,
    a million rows took 4.7 GB. The table keeps a copy of each at its size: 100,000 rows stay far
    below what the over-allocated ones take (~450 MB), measured in a process of their own."""
    # VmHWM, this program's peak: ru_maxrss would also count the forked test process's size.
    script = """
from vegsales.json_bodies import JsonBodies
from vegsales.reports import raw_sale_json
from vegsales.rows import BronzeRow
from vegsales.storage import Changes
rows = [BronzeRow("2020-01-06", f"name{i}", 1.5, "2020-01-06", "t") for i in range(100_000)]
table = JsonBodies(lambda since: Changes((1, 1), rows, since is None), key=lambda r: r.key, render=raw_sale_json)
table.refresh()
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) // 1024)
"""
    answer = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert int(answer.stdout) < 200, f"{answer.stdout.strip()} MB for 100,000 rows"
