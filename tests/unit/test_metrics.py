"""The rejection metric counts by code: rewording a message changes no label."""

import pytest

from vegsales import records
from vegsales.metrics import Metrics
from vegsales.pipeline import IngestReport
from vegsales.silver import FeedRules, clean_records
from vegsales.vegetables import UnknownVegetable

RULES = FeedRules()


def nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


RECORDS = [
    {"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 1},
    {"date": "2020-01-27", "vegetable": "mango", "kilo_sold": 1},
    {"date": "2020-01-27", "vegetable": "totatoes", "kilo_sold": 1},
    {"date": "2020-01-27", "vegetable": "carrot\n", "kilo_sold": 1},
    {"date": "2020-01-27", "vegetable": "Tomate"},
    {"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 1, "brand": "A"},
    {"date": "1899-12-31", "vegetable": "Tomate", "kilo_sold": -1},
    [[[[1]]]],
    {"x": nested(64)},
]
EXPECTED = {
    ("vegetable", "unknown_vegetable"): 1,
    ("vegetable", "ambiguous_vegetable"): 1,
    ("vegetable", "dirty_name"): 1,
    ("kilo_sold", "missing"): 1,
    ("other", "extra_field"): 1,
    ("date", "date_out_of_range"): 1,
    ("kilo_sold", "out_of_range"): 1,
    ("record", "not_an_object"): 1,
    ("record", "too_deep"): 1,
}


def rejection_counts(items: list) -> dict[tuple[str, str], float]:
    metrics = Metrics()
    accepted, rejected = clean_records(items, RULES)
    metrics.observe_post(IngestReport(received=len(items), inserted=len(accepted), rejected=rejected))
    return {
        (sample.labels["field"], sample.labels["reason"]): sample.value
        for family in metrics.registry.collect()
        if family.name == "vegsales_rejections"
        for sample in family.samples
        if sample.name == "vegsales_rejections_total"
    }


def test_rejections_are_counted_by_field_and_code():
    assert rejection_counts(RECORDS) == EXPECTED


def test_reworded_messages_leave_the_labels_as_they_were(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(UnknownVegetable, "message", property(lambda self: "no such vegetable"))
    monkeypatch.setattr(records, "_name_problem", lambda name: "" if name.isalpha() else "refused")
    pydantic_errors = records._pydantic_errors

    def reworded(error):
        return [records.FieldError(e.field, e.code, f"reworded: {e.field}") for e in pydantic_errors(error)]

    monkeypatch.setattr(records, "_pydantic_errors", reworded)
    monkeypatch.setattr(records, "_too_deep", lambda depth: records.FieldError("record", "too_deep", "too deep"))
    _, rejected = clean_records(RECORDS, RULES)
    messages = {error.message for rejection in rejected for error in rejection.errors}
    assert "Field required" not in messages and "no such vegetable" in messages  # the messages did change
    assert rejection_counts(RECORDS) == EXPECTED
