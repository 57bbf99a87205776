from tests.conftest import bronze
from vegsales.pipeline import _lookup_windows


def test_weeks_less_than_35_days_apart_share_one_lookup_widened_by_the_overlap_days():
    rows = [
        bronze("2020-01-06", "Tomate", 1),
        bronze("2020-02-03", "Poire", 1),  # 28 days later: the same lookup
        bronze("2020-01-06", "Poire", 1),
        bronze("2023-05-01", "Tomate", 1),  # years later: its own
        bronze("2023-06-05", "Tomate", 1),  # 35 days later: its own
    ]
    assert _lookup_windows(rows) == [
        ({"Tomate", "Poire"}, "2019-12-31", "2020-02-09"),
        ({"Tomate"}, "2023-04-25", "2023-05-07"),
        ({"Tomate"}, "2023-05-30", "2023-06-11"),
    ]


def test_no_rows_need_no_lookup():
    assert _lookup_windows([]) == []
