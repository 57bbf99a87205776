"""What the API serves besides the tables' own rows, computed from them: the quarantine as served, the
data-quality figures, and each vegetable's months and forecast. No HTTP here: these are the shapes the
endpoints answer (the API's output models, shown in /docs) and the functions that fill them."""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Literal

import orjson
from typing_extensions import TypedDict  # pydantic reads its field types on Python 3.11

from .forecast_types import Backtest, Forecast, ForecastMonth, TrainedOn
from .quality import VegetableQuality, rejected_for_its_name, rejected_names, vegetable_quality
from .quarantine import read_record, served_errors, served_record
from .records import FieldError, escaped_surrogates
from .rows import BronzeRow, GoldRow, RejectedRow, SilverRow, VersionRow
from .silver import silver_row
from .vegetables import Vocabulary

MonthKilos = tuple[str, float, bool]
"""(year_month, kilos, is_outlier): one month of a vegetable, as the forecast reads it."""


class ErrorBody(TypedDict):
    """Every error answer: a machine-readable code and what is wrong."""

    error: str
    message: str


class RawSale(TypedDict):
    """A bronze row as /get_raw_sales serves it: the record as received."""

    date: str
    vegetable: str
    kilo_sold: float


class WeeklySale(TypedDict):
    """A silver row as /get_weekly_sales serves it: a record's week under its canonical vegetable."""

    week_start: str
    date: str
    """As sent."""
    vegetable: str
    raw_vegetable: str
    """The name as sent."""
    kilo_sold: float


class RejectedSale(TypedDict):
    record_hash: str
    record: Any
    """The record as sent; its JSON text instead when `record_is_text`."""
    record_is_text: bool
    """Whether `record` is the record's JSON text (a string): when it is truncated (its first 10 KiB),
    or when a JSON reader could not take the record back (NaN or Infinity, a lone surrogate, nesting
    past 64 levels, an integer of over 4,300 digits)."""
    truncated: bool
    errors: list[FieldError]
    """The reasons the record was rejected, as the post's report gave them (records.FieldError)."""
    first_received: str
    last_received: str
    times: int


class RejectedSales(TypedDict):
    """The quarantine: `total` records kept, `dropped` so far to stay within the bound, newest first."""

    total: int
    dropped: int
    rows: list[RejectedSale]


class RejectedName(TypedDict):
    vegetable: str
    times: int


class FeedQuality(TypedDict):
    recent_records: int
    """How many records this process received lately (at most 1,000)."""
    recent_rejected_share: float | None
    most_rejected_names: list[RejectedName]
    warnings: dict[str, int]
    """Warnings about stored records since this process started, by code (see the post report)."""


class DataQuality(TypedDict):
    vegetables: list[VegetableQuality]
    feed: FeedQuality


class Resolved(TypedDict):
    name: str
    vegetable: str


class UnknownName(TypedDict):
    error: str
    message: str
    suggestions: list[str]


class VegetableForecast(TypedDict):
    vegetable: str
    model: str
    """Which model ran: ETS(M,Ad,M) season 12 from 24 months, simpler ones below."""
    trained_on: TrainedOn
    backtest: Backtest
    forecast: list[ForecastMonth]


class BronzeCounts(TypedDict):
    inserted: int
    updated: int
    deleted: int


class DataVersion(TypedDict):
    data_version: int
    committed_at: str
    """RFC 3339, UTC."""
    operation: str
    """post, replay, delete, init, rules or migrate."""
    request_id: str
    """The request that made it (the first, when posts that waited together shared one commit)."""
    request_ids: list[str]
    """Every request whose changes it holds."""
    bronze: BronzeCounts
    months_changed: int
    """Monthly rows whose kilos or outlier flag changed."""


class History(TypedDict):
    versions: list[DataVersion]


def history(rows: Iterable[VersionRow]) -> History:
    """The data versions as served, in the order given (the newest first)."""
    return History(
        versions=[
            DataVersion(
                data_version=row.data_version,
                committed_at=row.committed_at,
                operation=row.operation,
                request_id=row.request_ids.split(" ", 1)[0],
                request_ids=row.request_ids.split(),
                bronze=BronzeCounts(inserted=row.inserted, updated=row.updated, deleted=row.deleted),
                months_changed=row.months_changed,
            )
            for row in rows
        ]
    )


class Initialised(TypedDict):
    status: Literal["ok"]
    tables: list[str]


class Health(TypedDict):
    status: Literal["ok"]


def weekly_sale_json(row: SilverRow) -> bytes:
    """A silver row as served, in JSON."""
    try:
        return orjson.dumps(
            WeeklySale(
                week_start=row.week_start,
                date=row.date,
                vegetable=row.vegetable,
                raw_vegetable=row.raw_vegetable,
                kilo_sold=row.kilo_sold,
            )
        )
    except orjson.JSONEncodeError:  # a lone surrogate, in a row no post could store
        date, raw = escaped_surrogates(row.date), escaped_surrogates(row.raw_vegetable)
        sale = WeeklySale(
            week_start=row.week_start, date=date, vegetable=row.vegetable, raw_vegetable=raw, kilo_sold=row.kilo_sold
        )
        return orjson.dumps(sale)


def raw_sale_json(row: BronzeRow) -> bytes:
    """A bronze row as served, in JSON."""
    try:
        return orjson.dumps(RawSale(date=row.date, vegetable=row.vegetable, kilo_sold=row.kilo_sold))
    except orjson.JSONEncodeError:  # a row no post could store (a lone surrogate), written to the store directly
        date, vegetable = escaped_surrogates(row.date), escaped_surrogates(row.vegetable)
        return orjson.dumps(RawSale(date=date, vegetable=vegetable, kilo_sold=row.kilo_sold))


def rejected_sale(row: RejectedRow) -> RejectedSale:
    """A quarantine row as served: always JSON, whatever the row holds."""
    record, is_text = served_record(row)
    return RejectedSale(
        record_hash=escaped_surrogates(row.record_hash),
        record=record,
        record_is_text=is_text,
        truncated=row.truncated,
        errors=served_errors(row),
        first_received=escaped_surrogates(row.first_received),
        last_received=escaped_surrogates(row.last_received),
        times=row.times,
    )


def rejected_sales(rows: Iterable[RejectedRow], total: int, meta: dict[str, str]) -> RejectedSales:
    """The quarantine's newest rows as served, with how many it keeps and has dropped (from the store's meta)."""
    dropped = int(meta.get("rejected_dropped", "0"))
    return RejectedSales(total=total, dropped=dropped, rows=[rejected_sale(row) for row in rows])


def bronze_quality(bronze: Iterable[BronzeRow], vocabulary: Vocabulary) -> list[VegetableQuality]:
    """Per canonical vegetable: weeks stored, gaps and the latest week's robust z-score; rows whose
    name the vocabulary does not know are left out."""
    silver = [
        silver_row(row, vegetable) for row in bronze if isinstance(vegetable := vocabulary.resolve(row.vegetable), str)
    ]
    return vegetable_quality(silver)


def rejected_as_names(rows: Iterable[RejectedRow]) -> Iterator[tuple[Any, int]]:
    """(record, times) of the quarantined records rejected for their name: what the vocabulary may be
    missing. Rows that cannot be read back are left out."""
    for row in rows:
        if row.truncated or not rejected_for_its_name(served_errors(row)):
            continue
        try:
            yield read_record(row.record), row.times
        except ValueError:
            continue


def feed_quality(recent: Sequence[bool], rejected: Iterable[RejectedRow], warnings: dict[str, int]) -> FeedQuality:
    """The share of the last records received that were rejected (`recent`: whether each was), the
    vegetable names the quarantine holds most often, and the warnings by code."""
    names = rejected_names(rejected_as_names(rejected))
    return FeedQuality(
        recent_records=len(recent),
        recent_rejected_share=sum(recent) / len(recent) if recent else None,
        most_rejected_names=[RejectedName(vegetable=name, times=times) for name, times in names],
        warnings=warnings,
    )


def monthly_history(gold: Iterable[GoldRow], names: Iterable[str]) -> dict[str, list[MonthKilos]]:
    """Each named vegetable's months, in the gold table's order (none for a name it does not hold)."""
    months: dict[str, list[MonthKilos]] = {name: [] for name in names}
    for row in gold:
        if row.vegetable in months:
            months[row.vegetable].append((row.year_month, row.kilo_sold, row.is_outlier))
    return months


def vegetable_forecast(vegetable: str, answer: Forecast, data_version: int) -> VegetableForecast:
    """A vegetable's forecast as served, naming the data version it learnt from."""
    return VegetableForecast(
        vegetable=vegetable,
        model=answer.model,
        trained_on=replace(answer.trained_on, data_version=data_version),
        backtest=answer.backtest,
        forecast=list(answer.forecast),
    )
