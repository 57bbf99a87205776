"""The quarantine's summaries read the codes of the reasons, never their messages."""

import pytest

from vegsales.quality import rejected_for_its_name, rejected_reasons


def reasons(*codes: str) -> list[dict[str, str]]:
    return [{"field": "f", "code": code, "message": "any words at all"} for code in codes]


@pytest.mark.parametrize(
    ("codes", "for_its_name"),
    [
        pytest.param(("unknown_vegetable",), True, id="unknown"),
        pytest.param(("ambiguous_vegetable",), True, id="ambiguous"),
        pytest.param(("dirty_name",), True, id="dirty"),
        pytest.param(("bad_date", "bad_name"), True, id="among_others"),
        pytest.param(("missing",), False, id="no_name_at_all"),
        pytest.param(("bad_date", "out_of_range"), False, id="other_fields"),
        pytest.param((), False, id="no_reasons"),
    ],
)
def test_a_record_is_rejected_for_its_name_by_the_codes_of_its_reasons(codes, for_its_name):
    assert rejected_for_its_name(reasons(*codes)) is for_its_name


def test_the_most_common_reasons_count_each_record_once_per_code_as_often_as_received():
    rejections = [
        (reasons("unknown_vegetable"), 5),
        (reasons("bad_date", "out_of_range"), 2),
        (reasons("missing", "missing", "missing"), 1),  # three fields missing: one record
        (reasons("bad_date"), 3),
        (reasons("out_of_range"), 1),
    ]
    assert rejected_reasons(rejections) == [
        ("bad_date", 5),
        ("unknown_vegetable", 5),
        ("out_of_range", 3),
        ("missing", 1),
    ]
    assert rejected_reasons(rejections, top=2) == [("bad_date", 5), ("unknown_vegetable", 5)]
    assert rejected_reasons([]) == []
