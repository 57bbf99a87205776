"""What a client error says, from the service's answer."""

import pytest

from vegsales.client import describe


@pytest.mark.parametrize(
    ("report", "line"),
    [
        pytest.param(
            {
                "received": 3,
                "rejected": [
                    {"index": 0, "errors": [{"field": "date", "code": "bad_date", "message": "a"}]},
                    {"index": 1, "errors": [{"field": "kilo_sold", "code": "missing", "message": "b"}]},
                    {"index": 2, "errors": [{"field": "date", "code": "bad_date", "message": "c"}]},
                ],
            },
            "all 3 records rejected (bad_date 2, missing 1)",
            id="post_report_by_code",
        ),
        pytest.param(
            {"received": 1, "rejected": [{"index": 0, "errors": [{"field": "date", "message": "x"}]}]},
            "all 1 records rejected",
            id="a_server_without_codes",
        ),
        pytest.param({"error": "invalid_body", "message": "not a list"}, "invalid_body: not a list", id="error"),
    ],
)
def test_a_refused_answer_is_described_in_one_line(report, line):
    assert describe(report) == line
