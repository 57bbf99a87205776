"""What every Store must do; runs once per backend."""

import datetime as dt
import random
import threading

import pytest

from tests import oracle
from tests.conftest import RECEIVED, bronze, one_sale_a_month
from vegsales.pipeline import SyncReport, ingest, ingest_posts, sync_with_rules
from vegsales.rows import GoldRow, RejectedRow, SilverRow
from vegsales.silver import FeedRules
from vegsales.storage import StorageError, StoreBusy
from vegsales.vegetables import Vocabulary, VocabularyError

VOCABULARY = Vocabulary.load()
RULES = FeedRules(VOCABULARY)


def write(store, bronze=(), silver=(), gold=()):
    with store.write() as transaction:
        if bronze:
            transaction.put_bronze(list(bronze))
        if silver:
            transaction.put_silver(list(silver))
        if gold:
            transaction.put_gold(list(gold))


def test_new_store_is_empty(store):
    assert store.bronze_changes(None).rows == []
    assert store.gold_changes(None).rows == []
    store.check()


def test_bronze_rows_are_replaced_by_key(store):
    write(store, bronze=[bronze("2020-01-06", "Tomate", 1.0), bronze("2020-01-06", "tomatto", 2.0)])
    write(store, bronze=[bronze("2020-01-06", "Tomate", 3.5)])
    rows = sorted(store.bronze_changes(None).rows, key=lambda row: row.key)
    assert rows == [bronze("2020-01-06", "Tomate", 3.5), bronze("2020-01-06", "tomatto", 2.0)]


def test_bronze_between_returns_the_rows_of_those_names_in_those_weeks(store):
    rows = [
        bronze("2020-01-06", "Tomate", 1.25),
        bronze("2020-01-13", "Tomate", 2.0),
        bronze("2020-01-20", "Tomate", 3.0),
        bronze("2020-01-13", "tomate", 4.0),
        bronze("2020-01-13", "Poire", 5.0),
    ]
    write(store, bronze=rows)
    with store.write() as transaction:
        found = transaction.bronze_between({"Tomate", "tomate"}, "2020-01-07", "2020-01-20")
        many = transaction.bronze_between({f"name{i}" for i in range(40)} | {"Poire"}, "2020-01-01", "2020-12-31")
    assert sorted(found, key=lambda row: row.key) == [rows[1], rows[3], rows[2]]
    assert many == [rows[4]]


def test_silver_rows_are_filtered_and_sorted_by_date_then_raw_name(store):
    rows = [
        SilverRow("2020-01-13", "tomato", 1.0, "tomatto", "2020-01-13"),
        SilverRow("2020-01-06", "tomato", 2.0, "tomatto", "2020-01-06"),
        SilverRow("2020-01-06", "tomato", 3.0, "Tomate", "2020-01-06"),
        SilverRow("2020-01-06", "pear", 4.0, "Poire", "2020-01-06"),
        SilverRow("2020-02-03", "tomato", 5.0, "Tomate", "2020-02-03"),
    ]
    write(store, silver=rows)
    with store.write() as transaction:
        found = transaction.silver_rows("tomato", "2020-01-06", "2020-01-13")
    assert found == [rows[2], rows[1], rows[0]]


def test_gold_rows_are_replaced_by_month_and_vegetable(store):
    write(store, gold=[GoldRow("2020-01", "tomato", 1.0, False), GoldRow("2020-01", "pear", 2.0, False)])
    write(store, gold=[GoldRow("2020-01", "tomato", 9.0, True)])
    with store.write() as transaction:
        assert transaction.gold_rows("tomato") == {"2020-01": GoldRow("2020-01", "tomato", 9.0, True)}
    assert sorted(store.gold_changes(None).rows, key=lambda row: row.key) == [
        GoldRow("2020-01", "pear", 2.0, False),
        GoldRow("2020-01", "tomato", 9.0, True),
    ]


def test_a_failed_transaction_leaves_nothing(store):
    with pytest.raises(RuntimeError, match="boom"), store.write() as transaction:
        transaction.put_bronze([bronze("2020-01-06", "Tomate", 1.0)])
        raise RuntimeError("boom")
    assert store.bronze_changes(None).rows == []


def test_change_feed_returns_only_rows_written_after_the_cursor(store):
    write(store, bronze=[bronze("2020-01-06", "Tomate", 1.0)])
    first = store.bronze_changes(None)
    assert first.reset
    write(store, bronze=[bronze("2020-01-13", "Tomate", 2.0)])
    second = store.bronze_changes(first.cursor)
    assert (second.reset, second.rows) == (False, [bronze("2020-01-13", "Tomate", 2.0)])
    assert second.cursor != first.cursor
    third = store.bronze_changes(second.cursor)
    assert (third.cursor, third.rows, third.reset) == (second.cursor, [], False)


def test_a_transaction_that_writes_nothing_keeps_the_cursor(store):
    cursor = store.bronze_changes(None).cursor
    with store.write() as transaction:
        transaction.bronze_between({"Tomate"}, "2020-01-06", "2020-01-06")
    assert store.bronze_changes(cursor).cursor == cursor


def test_init_empties_every_table_and_resets_change_feeds(store):
    write(
        store,
        bronze=[bronze("2020-01-06", "Tomate", 1.0)],
        silver=[SilverRow("2020-01-06", "tomato", 1.0, "Tomate", "2020-01-06")],
        gold=[GoldRow("2020-01", "tomato", 1.0, False)],
    )
    cursor = store.gold_changes(None).cursor
    store.init()
    changes = store.gold_changes(cursor)
    assert (changes.reset, changes.rows) == (True, [])
    assert store.bronze_changes(None).rows == []
    with store.write() as transaction:
        assert transaction.silver_rows("tomato", "2000-01-01", "2100-01-01") == []


def test_data_survive_reopening_the_store(make_store):
    first = make_store()
    write(first, bronze=[bronze("2020-01-06", "Tomate", 1.5)])
    first.close()
    assert make_store().bronze_changes(None).rows == [bronze("2020-01-06", "Tomate", 1.5)]


def test_a_closed_store_raises_storage_error(make_store):
    store = make_store()
    store.close()
    with pytest.raises(StorageError):
        store.check()


def test_incremental_gold_equals_the_posted_weeks_prorated_by_hand(store):
    rng = random.Random(7)
    canonical = {
        "Tomate": "tomato", "tomatto": "tomato", "Poire": "pear", "peer": "pear", "carrots": "carrot",
        "Zanahoria": "carrot", "ail": "garlic", "Pommes de terre": "potato", "chou-fleur": "cauliflower",
    }  # fmt: skip
    names = list(canonical)[:7]  # of the random sales; potato and cauliflower sell once a month
    weeks = [f"2019-12-{d}" for d in (23, 30)] + [f"2020-{m:02d}-{d:02d}" for m in (1, 2, 3) for d in (3, 13, 26)]
    # potato's last month is an outlier (5.39 standard deviations); cauliflower's is not (4.48)
    monthly = one_sale_a_month("Pommes de terre", 31) + one_sale_a_month("chou-fleur", 22)
    rng.shuffle(monthly)
    posted: dict[tuple[str, str], float] = {}
    for number in range(40):
        batch = [
            {"date": rng.choice(weeks), "vegetable": rng.choice(names), "kilo_sold": rng.uniform(0, 500)}
            for _ in range(rng.randint(1, 6))
        ] + monthly[number::40]
        ingest(store, RULES, batch)
        posted.update(((record["date"], record["vegetable"]), record["kilo_sold"]) for record in batch)
    expected = oracle.gold((date, canonical[name], kilos) for (date, name), kilos in posted.items())
    oracle.assert_gold_equals(sorted(store.gold_changes(None).rows, key=lambda row: row.key), expected)
    assert [(month, vegetable) for month, vegetable, _, outlier in expected if outlier] == [("2012-07", "potato")]
    assert len(expected) > 60


def test_a_writer_that_will_not_wait_is_told_the_store_is_busy(make_store):
    store = make_store()
    started, release = threading.Event(), threading.Event()

    def hold():
        with store.write() as transaction:
            transaction.put_bronze([bronze("2020-01-06", "Tomate", 1.0)])
            started.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    started.wait(10)
    try:
        with pytest.raises(StoreBusy), store.write(wait=False):
            pass
    finally:
        release.set()
        thread.join()
    with store.write(wait=False) as transaction:
        transaction.put_bronze([bronze("2020-01-13", "Tomate", 2.0)])
    assert len(store.bronze_changes(None).rows) == 2


def test_a_changed_vocabulary_rebuilds_silver_and_gold_from_bronze(store, tmp_path):
    records = [{"date": "2020-01-06", "vegetable": "tomatoe", "kilo_sold": 70},
               {"date": "2020-01-06", "vegetable": "Poire", "kilo_sold": 7}]  # fmt: skip
    ingest(store, RULES, records, received_at=RECEIVED)
    assert sync_with_rules(store, RULES).renamed == []
    assert sync_with_rules(store, RULES) == SyncReport()  # nothing changed since
    cursor = store.gold_changes(None).cursor
    path = tmp_path / "vocabulary.toml"
    path.write_text('"cherry tomato" = ["tomatoe"]\npear = ["poire"]\n', encoding="utf-8")
    vocabulary = Vocabulary.load(path)
    assert sync_with_rules(store, FeedRules(vocabulary)).renamed == ["tomatoe"]
    expected = [GoldRow("2020-01", "cherry tomato", 70.0, False), GoldRow("2020-01", "pear", 7.0, False)]
    assert sorted(store.gold_changes(None).rows, key=lambda row: row.key) == expected
    assert store.gold_changes(cursor).reset
    assert sorted(store.bronze_changes(None).rows, key=lambda row: row.key) == [
        bronze("2020-01-06", "Poire", 7.0),
        bronze("2020-01-06", "tomatoe", 70.0),
    ]
    with store.write() as transaction:
        assert transaction.silver_names() == {"tomatoe": "cherry tomato", "Poire": "pear"}


def test_a_vocabulary_that_lost_a_stored_name_is_refused(store, tmp_path):
    ingest(store, RULES, [{"date": "2020-01-06", "vegetable": "Poire", "kilo_sold": 7}])
    path = tmp_path / "vocabulary.toml"
    path.write_text('tomato = ["tomate"]\n', encoding="utf-8")
    with pytest.raises(VocabularyError, match="no longer recognises 'Poire'"):
        sync_with_rules(store, FeedRules(Vocabulary.load(path)))
    with store.write() as transaction:
        assert transaction.silver_names() == {"Poire": "pear"}


def test_posts_written_together_are_reported_one_by_one_in_order(store):
    first = [{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 1}, 42]
    second = [
        {"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 2},
        {"date": "2020-01-13", "vegetable": "Poire", "kilo_sold": 3},
    ]
    third = [{"date": "2020-01-13", "vegetable": "Poire", "kilo_sold": 3}]
    reports = ingest_posts(store, RULES, [first, second, [], third], received_at=RECEIVED)
    assert [(r.received, r.inserted, r.updated, r.unchanged, len(r.rejected)) for r in reports] == [
        (2, 1, 0, 0, 1),
        (2, 1, 1, 0, 0),
        (0, 0, 0, 0, 0),
        (1, 0, 0, 1, 0),
    ]
    assert sorted(store.bronze_changes(None).rows, key=lambda row: row.key) == [
        bronze("2020-01-06", "Tomate", 2.0),
        bronze("2020-01-13", "Poire", 3.0),
    ]
    assert sorted(store.gold_changes(None).rows, key=lambda row: row.key) == [
        GoldRow("2020-01", "pear", 3.0, False),
        GoldRow("2020-01", "tomato", 2.0, False),
    ]


def test_posts_written_together_years_apart_get_the_reports_and_warnings_each_would_alone(store):
    def sale(date, vegetable, kilos):
        return {"date": date, "vegetable": vegetable, "kilo_sold": kilos}

    ingest(store, RULES, [sale("2020-01-06", "Tomate", 1), sale("2023-05-01", "Tomate", 2)], received_at=RECEIVED)
    posts = [
        [sale("2020-01-07", "Tomate", 3)],  # overlaps 2020-01-06
        [sale("2023-05-01", "Tomate", 2)],  # as stored (the later post's 2023-05-03 is not yet)
        [sale("2021-06-07", "Poire", 4)],
        [sale("2023-05-03", "Tomate", 5), sale("2023-05-01", "Tomate", 6)],  # overlaps, then an update
    ]
    reports = ingest_posts(store, RULES, posts, received_at=RECEIVED)
    assert [
        (r.inserted, r.updated, r.unchanged, [(w.index, w.code, w.message) for w in r.warnings]) for r in reports
    ] == [
        (
            1,
            0,
            0,
            [
                (
                    0,
                    "overlapping_weeks",
                    "the week of 2020-01-07 overlaps the stored week of 2020-01-06 (6 days) of 'Tomate': "
                    "those days are counted twice",
                )
            ],
        ),
        (0, 0, 1, []),
        (1, 0, 0, []),
        (
            1,
            1,
            0,
            [
                (
                    0,
                    "overlapping_weeks",
                    "the week of 2023-05-03 overlaps the stored week of 2023-05-01 (5 days) of 'Tomate': "
                    "those days are counted twice",
                ),
                (
                    1,
                    "overlapping_weeks",
                    "the week of 2023-05-01 overlaps the stored week of 2023-05-03 (5 days) of 'Tomate': "
                    "those days are counted twice",
                ),
            ],
        ),
    ]
    assert sorted(store.bronze_changes(None).rows, key=lambda row: row.key) == [
        bronze("2020-01-06", "Tomate", 1.0),
        bronze("2020-01-07", "Tomate", 3.0),
        bronze("2021-06-07", "Poire", 4.0),
        bronze("2023-05-01", "Tomate", 6.0),
        bronze("2023-05-03", "Tomate", 5.0),
    ]


def spelling_warning(name: str, week: str, others: str, verb: str = "is", counted: str = "both") -> str:
    return f"{name!r} for the week of {week}: {others} {verb} stored for that week too; {counted} count in gold"


@pytest.mark.parametrize("bulk", [False, True], ids=["small", "bulk"])
def test_other_spellings_are_warned_on_the_record_stored_in_posts_written_together(store, bulk):
    """A small post, and one of more than READ_BEFORE_ROWS rows (its weeks read before the write)."""

    def sale(date, vegetable, kilos):
        return {"date": date, "vegetable": vegetable, "kilo_sold": kilos}

    ingest(store, RULES, [sale("2021-03-01", "carotte", 10), sale("2021-06-07", "tomato", 1)], received_at=RECEIVED)
    mondays = (dt.date(2010, 1, 4) + dt.timedelta(weeks=week) for week in range(101))
    padding = [sale(monday.isoformat(), "Poire", 1) for monday in mondays]  # past READ_BEFORE_ROWS with the rest
    posts = [
        [sale("2021-03-01", "carrot", 5), sale("2021-06-07", "Tomate", 2), sale("2021-03-01", "carrot", 6)],
        [sale("2021-03-01", "carrot", 6), *(padding * bulk), sale("2021-W09", "Zanahoria", 7)],
    ]
    reports = ingest_posts(store, RULES, posts, received_at=RECEIVED)
    # Computed once the batch is written: the first post's carrot meets the second post's Zanahoria too.
    assert [[(w.index, w.code, w.message) for w in report.warnings] for report in reports] == [
        [
            (1, "other_spelling", spelling_warning("Tomate", "2021-06-07", "'tomato'")),
            (2, "other_spelling", spelling_warning("carrot", "2021-03-01", "'Zanahoria', 'carotte'", "are", "all")),
        ],
        [
            (
                1 + 101 * bulk,
                "other_spelling",
                spelling_warning("Zanahoria", "2021-03-01", "'carotte', 'carrot'", "are", "all"),
            )
        ],
    ]
    assert [(r.inserted, r.updated, r.unchanged) for r in reports] == [(2, 1, 0), (1 + 101 * bulk, 0, 1)]


def rejected(record_hash: str, last: str, times: int = 1) -> RejectedRow:
    return RejectedRow(record_hash, '{"a":1}', False, "[]", "2026-01-01T00:00:00.000000Z", last, times)


def test_quarantine_rows_are_kept_by_hash_and_trimmed_least_recent_first(store):
    day = "2026-01-0{}T00:00:00.000000Z".format
    rows = [rejected("b", day(3)), rejected("a", day(2)), rejected("c", day(2)), rejected("d", day(4), times=5)]
    with store.write() as transaction:
        transaction.put_rejected(rows)
        assert transaction.rejected_rows({"a", "d", "zz"}) == {"a": rows[1], "d": rows[3]}
    assert store.rejected_sales(limit=10) == ([rows[3], rows[0], rows[2], rows[1]], 4)
    with store.write() as transaction:
        assert transaction.trim_rejected(keep=2) == 2
        assert transaction.trim_rejected(keep=2) == 0
        transaction.delete_rejected(["d", "nothing"])
    assert store.rejected_sales(limit=1) == ([rows[0]], 1)


def test_settings_are_kept_and_a_failed_transaction_keeps_the_old_ones(make_store):
    store = make_store()
    with store.write() as transaction:
        transaction.set_meta("week_date", "end")
    with pytest.raises(RuntimeError), store.write() as transaction:
        transaction.set_meta("week_date", "start")
        transaction.put_rejected([rejected("a", RECEIVED)])
        raise RuntimeError
    assert store.meta()["week_date"] == "end"
    assert store.rejected_sales(limit=10) == ([], 0)
    store.close()
    assert make_store().meta() == {"schema_version": "5", "week_date": "end"}


def test_a_new_week_date_re_keys_bronze_and_the_later_record_of_a_week_wins(store):
    ingest(store, RULES, [sale("2020-02-02", "Tomate", 70), sale("2020-02-09", "Poire", 1)], received_at=RECEIVED)
    ingest(store, RULES, [sale("2020-W05", "Tomate", 5)], received_at="2026-01-02T00:00:00.000000Z")
    assert sync_with_rules(store, RULES).week_date_changed is None
    cursor = store.bronze_changes(None).cursor
    report = sync_with_rules(store, FeedRules(VOCABULARY, "end"))
    assert report.week_date_changed == "start -> end"
    assert report.superseded == [bronze("2020-02-02", "Tomate", 70.0, "2020-01-27")]
    assert store.bronze_changes(cursor).reset
    assert sorted(store.bronze_changes(None).rows, key=lambda row: row.key) == [
        bronze("2020-W05", "Tomate", 5.0, "2020-01-27", "2026-01-02T00:00:00.000000Z"),
        bronze("2020-02-09", "Poire", 1.0, "2020-02-03"),
    ]
    assert sorted(store.gold_changes(None).rows, key=lambda row: row.key) == [
        GoldRow("2020-01", "tomato", 5 * 5 / 7, False),
        GoldRow("2020-02", "pear", 1.0, False),
        GoldRow("2020-02", "tomato", 5 * 2 / 7, False),
    ]
    assert store.meta()["week_date"] == "end"


def sale(date, vegetable, kilos) -> dict:
    return {"date": date, "vegetable": vegetable, "kilo_sold": kilos}
