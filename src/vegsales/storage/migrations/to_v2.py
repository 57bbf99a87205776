"""Version 2: bronze and silver keyed by the first day of the week, with the date as sent next to
it and (bronze) when it was received; the quarantine and the settings tables. Version 1 keyed them
by the date as sent, always the first day of its week."""

from ..schema import Column, Table, Type
from .step import NOW, Step

STEP = Step(
    created=("store_meta", "rejected_sales"),
    rebuilt={"bronze_sales": {"week_start": "date", "received_at": NOW}, "silver_sales": {"week_start": "date"}},
    before=(
        Table(
            "bronze_sales",
            (
                Column("date", Type.DATE),
                Column("vegetable", Type.ORDERED),
                Column("kilo_sold", Type.KILOS),
                Column("change_seq", Type.SEQ),
            ),
            key=("date", "vegetable"),
        ),
        Table(
            "silver_sales",
            (
                Column("date", Type.DATE),
                Column("vegetable", Type.ORDERED),
                Column("kilo_sold", Type.KILOS),
                Column("raw_vegetable", Type.ORDERED),
            ),
            key=("date", "raw_vegetable"),
        ),
    ),
    settings={"week_date": "start"},
)
