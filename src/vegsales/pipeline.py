"""ingest(store, rules, items): validate, write bronze, bring silver and gold up to date, and keep
every rejected record in quarantine. Also what start-up and replay do with stored data."""

import asyncio
import datetime as dt
import logging
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from itertools import compress, islice, pairwise
from operator import attrgetter, eq
from typing import Any, Literal

from anyio import to_thread

from .gold import gold_sales
from .history import HISTORY_FROM, Recorded
from .monthly import monthly_sales, months_of_week, weeks_overlapping
from .outliers import outlier_months
from .quarantine import MAX_REJECTED, errors_text, merged, read_record, rejected_row
from .records import MAX_BODY_DEPTH, TooDeep, WeekDate, json_as_sent, nesting_depth, validate_record, week_start
from .rows import BronzeKey, BronzeRow, GoldRow, RejectedRow, SilverRow, VersionRow, utc_now
from .silver import Accepted, FeedRules, Rejection, clean_record, clean_records, silver_sales
from .storage import Store, StoreBusy, WriteTransaction
from .vegetables import UnknownVegetable, Vocabulary, VocabularyError

log = logging.getLogger("vegsales")
OVERLAP_DAYS = 6
"""Two weeks of one raw name whose first days are 1 to 6 days apart count those days twice."""
LOOKUP_GAP_DAYS = 35
"""Posted weeks further apart than this are looked up separately (see _lookup_windows)."""


WarningCode = Literal["overlapping_weeks", "read_by_similarity", "other_spelling"]
"""Why a stored record is warned about: its week overlaps another of its name by 1 to 6 days; its
name was read as a vegetable by likeness, not as a listed name; its week of that vegetable is also
stored under another spelling. The first and the last count days twice in gold."""


@dataclass(frozen=True, slots=True)
class RecordWarning:
    index: int
    code: WarningCode
    message: str


@dataclass(slots=True)
class IngestReport:
    """What became of each record of a post: counts add up to `received`."""

    received: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[RecordWarning] = field(default_factory=list)
    data_version: int = 0
    """The version at which its changes are visible (the current one when it changed nothing)."""

    @property
    def stored_any(self) -> bool:
        return self.received == 0 or len(self.rejected) < self.received


@dataclass(slots=True)
class ReplayReport:
    """What a replay of the quarantine did: `replayed` records left it, as counted by the others."""

    replayed: int = 0
    still_rejected: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    data_version: int = 0


def ingest(
    store: Store,
    rules: FeedRules,
    items: Sequence[Any],
    wait: bool = True,
    received_at: str | None = None,
    max_rejected: int = MAX_REJECTED,
) -> IngestReport:
    """Store every valid record (the last one wins for a repeated key), quarantine the others, and
    report on each. With wait=False, raise StoreBusy (having stored nothing) if another writer
    holds the store; raise TooDeep (having stored nothing) if a record nests past MAX_BODY_DEPTH."""
    outcome = ingest_posts(store, rules, [items], wait, received_at, max_rejected)[0]
    if isinstance(outcome, TooDeep):
        raise outcome
    return outcome


def ingest_posts(
    store: Store,
    rules: FeedRules,
    posts: Sequence[Sequence[Any]],
    wait: bool = True,
    received_at: str | None = None,
    max_rejected: int = MAX_REJECTED,
    bodies: Sequence[bytes | None] = (),
    request_ids: Sequence[str] = (),
) -> list[IngestReport | TooDeep]:
    """Several posts in one transaction, applied in order as if sent one by one: one report each, or
    TooDeep for a post whose body nests past MAX_BODY_DEPTH (nothing of that post is stored).

    One write lock, one commit and one gold update serve them all. `bodies`, when given, are the
    posts' JSON texts, side by side: a rejected record is kept with its numbers as written there."""
    now = received_at or utc_now()
    outcomes: list[IngestReport | TooDeep] = []
    written: list[tuple[IngestReport, Accepted]] = []
    quarantined: list[RejectedRow] = []
    for number, items in enumerate(posts):
        accepted, rejected = clean_records(items, rules, now)
        if rejected:  # only a post with rejections can nest deep, or hold numbers orjson rounded
            body = bodies[number] if bodies else None
            if _nests_too_deep(items, rejected, body):
                outcomes.append(TooDeep())
                continue
            sent = _as_sent(items, body)
            quarantined += [rejected_row(sent[rejection.index], rejection.errors, now) for rejection in rejected]
        report = IngestReport(received=len(items), rejected=rejected, warnings=similarity_warnings(accepted, rules))
        outcomes.append(report)
        written.append((report, accepted))
    if quarantined or any(len(accepted) for _, accepted in written):
        with store.write(wait) as written_to:
            transaction = Recorded(written_to)
            months = apply_records(transaction, written)
            if quarantined:
                quarantine(transaction, quarantined, max_rejected)
            counts = (sum(r.inserted for r, _ in written), sum(r.updated for r, _ in written), 0)
            version = record_version(transaction, "post", counts, months, request_ids)
    else:
        version = store.data_version()
    for report, _ in written:
        report.data_version = version
    return outcomes


Operation = Literal["post", "replay", "delete", "init", "rules", "migrate"]


def record_version(
    transaction: Recorded,
    operation: Operation,
    counts: tuple[int, int, int],
    months_changed: int,
    request_ids: Iterable[str] = (),
    replaced: bool = False,
) -> int:
    """The transaction's data version, recorded in the history with the rows it wrote when it changed
    sales: bronze rows (inserted, updated, deleted) in `counts`, monthly rows changed, tables
    `replaced` whole."""
    inserted, updated, deleted = counts
    version = transaction.data_version()
    if inserted or updated or deleted or months_changed or replaced:
        ids = " ".join(request_id for request_id in request_ids if request_id)
        transaction.put_version(
            VersionRow(version, utc_now(), operation, ids, inserted, updated, deleted, months_changed)
        )
        transaction.put_history(transaction.history(version))
    return version


_ENVELOPE = re.compile(rb"\s*\{")


def _nests_too_deep(items: Sequence[Any], rejected: Sequence[Rejection], body: bytes | None) -> bool:
    """Whether a post's body nests past MAX_BODY_DEPTH: a record rejected as too deep (only those are
    measured), with the list and any {"data": ...} envelope around it, goes past."""
    around = 2 if body is not None and _ENVELOPE.match(body) else 1
    return any(
        rejection.errors[0].code == "too_deep" and nesting_depth(items[rejection.index]) + around > MAX_BODY_DEPTH
        for rejection in rejected
    )


_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_INTEGER = b"0" * 19
"""An integer beyond 64 bits has 19 digits or more (-9223372036854775809): orjson reads it as the
nearest double."""


def _as_sent(items: Sequence[Any], body: bytes | None) -> Sequence[Any]:
    """A post's records with every number as its body writes it: when the body holds a run of 19
    digits (each byte looked at in C), it is read again by the standard library, which keeps the
    integers that orjson rounded."""
    if body is None or _LONG_INTEGER not in body.translate(_DIGITS):
        return items
    try:
        payload = json_as_sent(body)
    except ValueError:
        return items
    records = payload.get("data") if isinstance(payload, dict) else payload
    return records if isinstance(records, list) and len(records) == len(items) else items


def copy_into(
    store: Store,
    rules: FeedRules,
    bronze: Sequence[BronzeRow],
    rejected: Sequence[RejectedRow] = (),
    max_rejected: int = MAX_REJECTED,
) -> IngestReport:
    """Another store's rows written into this one in one transaction: each bronze row read again
    with these rules, keeping the time it was received (the later value wins), and the other
    store's quarantine merged into this one's."""
    report = IngestReport(received=len(bronze))
    accepted, quarantined = Accepted(), list(rejected)
    for index, row in enumerate(bronze):
        item = {"date": row.date, "vegetable": row.vegetable, "kilo_sold": row.kilo_sold}
        checked = clean_record(item, rules, row.received_at)
        if isinstance(checked, list):
            report.rejected.append(Rejection(index, checked))
            quarantined.append(rejected_row(item, checked, row.received_at))
        else:
            accepted.add(index, *checked)
    with store.write() as written_to:
        transaction = Recorded(written_to)
        months = apply_records(transaction, [(report, accepted)])
        if quarantined:
            quarantine(transaction, quarantined, max_rejected)
        report.data_version = record_version(transaction, "migrate", (report.inserted, report.updated, 0), months)
    return report


@dataclass(frozen=True, slots=True)
class NotFound:
    index: int
    message: str


@dataclass(slots=True)
class DeleteReport:
    """What a deletion did: each key received was deleted, not found, or rejected (malformed)."""

    received: int
    deleted: int = 0
    not_found: list[NotFound] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    data_version: int = 0


def delete_sales(store: Store, rules: FeedRules, items: Sequence[Any], request_id: str = "") -> DeleteReport:
    """Take back the bronze rows these keys name ({"date", "vegetable"}: any notation of the week,
    the raw name exactly; a `kilo_sold` is allowed and ignored), from bronze and silver, and bring
    gold up to date: silver and gold are rebuilt from the bronze rows kept, in one transaction, one
    data version. A deleted row stays readable as of the versions before."""
    report = DeleteReport(received=len(items))
    wanted: dict[BronzeKey, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        checked = validate_record({**item, "kilo_sold": 0} if isinstance(item, dict) else item, rules.week_date)
        if isinstance(checked, list):
            report.rejected.append(Rejection(index, checked))
        else:
            wanted[checked.key].append(index)
    if not wanted:
        report.data_version = store.data_version()
        return report
    with store.write() as written_to:
        transaction = Recorded(written_to)
        bronze = transaction.bronze_rows()
        found = {row.key for row in bronze} & wanted.keys()
        for key in wanted.keys() - found:
            message = _not_found(key, bronze, rules.vocabulary)
            report.not_found += [NotFound(index, message) for index in wanted[key]]
        report.not_found.sort(key=attrgetter("index"))
        if found:
            kept = [row for row in bronze if row.key not in found]
            silver = silver_sales(kept, rules.vocabulary)
            transaction.replace_tables(kept, silver, gold_sales(monthly_sales(silver)))
        report.deleted = len(found)
        report.data_version = record_version(
            transaction, "delete", (0, 0, len(found)), transaction.months_changed, [request_id]
        )
    return report


def _not_found(key: BronzeKey, bronze: Iterable[BronzeRow], vocabulary: Vocabulary) -> str:
    """Why a key names no stored row, with the spellings of its vegetable stored for that week."""
    week, name = key
    message = f"no record of {name!r} is stored for the week of {week}"
    vegetable = vocabulary.resolve(name)
    if isinstance(vegetable, UnknownVegetable):
        return message
    spellings = sorted(
        row.vegetable for row in bronze if row.week_start == week and vocabulary.resolve(row.vegetable) == vegetable
    )
    if spellings:
        message += f"; stored for that week as {vegetable}: {', '.join(map(repr, spellings))}"
    return message


def init_store(store: Store, request_id: str = "") -> int:
    """Empty every table, the history included; the data versions go on (a number never names two
    states). The history starts again with this one."""
    store.init()
    with store.write() as transaction:
        version = record_version(Recorded(transaction), "init", (0, 0, 0), 0, [request_id], replaced=True)
        transaction.set_meta(HISTORY_FROM, str(version))
        return version


Spellings = dict[BronzeKey, list[str]]
"""Per changed row's key: the other raw names of its vegetable stored for its week."""


def apply_records(transaction: WriteTransaction, posts: Sequence[tuple[IngestReport, Accepted]]) -> int:
    """Write accepted records in order, counting what each did in its post's report.

    A record older than the stored value of its key (a replayed one) does not replace it: the
    value received last wins. A post's overlap warnings name the weeks stored before it or sent
    with it, never those of a later post of the batch. Returns how many monthly rows changed."""
    rows = [row for _, accepted in posts for row in accepted.rows]
    if not rows:
        return 0
    current = {
        (row.week_start, row.vegetable): row  # a row's key, without the property call: a bulk post makes 100,000
        for names, first, last in _lookup_windows(rows)
        for row in transaction.bronze_between(names, first, last)
    }
    changed: dict[BronzeKey, SilverRow] = {}
    introduced: dict[BronzeKey, int] = {}  # keys new to the store: the number of the post that brought each
    for number, (report, accepted) in enumerate(posts):
        inserted = updated = 0
        for row, vegetable in zip(accepted.rows, accepted.vegetables, strict=True):
            key = (row.week_start, row.vegetable)
            before = current.get(key)
            if before is None:
                inserted += 1
                introduced[key] = number
            elif (before.kilo_sold, before.date) == (row.kilo_sold, row.date) or before.received_at > row.received_at:
                continue
            else:
                updated += 1
            current[key] = row
            changed[key] = SilverRow(row.week_start, vegetable, row.kilo_sold, row.vegetable, row.date)
        report.inserted += inserted
        report.updated += updated
        report.unchanged += len(accepted.rows) - inserted - updated
    suspects = _names_with_overlapping_weeks(current)  # keys are only added: the last state has every overlap
    for number, (report, accepted) in enumerate(posts):
        seen = partial(_seen_by, current, introduced, number)
        overlaps = [_overlap_warning(i, row, seen) for i, row, _ in accepted if row.vegetable in suspects]
        if any(overlaps):
            report.warnings.extend(filter(None, overlaps))
            report.warnings.sort(key=lambda warning: warning.index)  # stable: a record's own warnings keep their order
    if not changed:
        return 0
    transaction.put_bronze([current[key] for key in changed])
    months_changed, spellings = put_silver_and_gold(transaction, list(changed.values()))
    if spellings:
        for report, accepted in posts:
            if warnings := _spelling_warnings(accepted, spellings, current):
                report.warnings = sorted(report.warnings + warnings, key=lambda warning: warning.index)
    return months_changed


def _spelling_warnings(
    accepted: Accepted, spellings: Spellings, current: dict[BronzeKey, BronzeRow]
) -> list[RecordWarning]:
    """A warning for each record of the post stored under a week that holds other spellings of its
    vegetable: the row stored for a key is found among the post's records by identity (a later
    record of the key may have replaced it), without a Python pass over the thousands of records
    of a bulk post."""
    index_of = dict(zip(map(id, accepted.rows), accepted.indexes, strict=True))
    warnings = [
        _spelling_warning(index, current[key], others)
        for key, others in spellings.items()
        if (index := index_of.get(id(current[key]))) is not None
    ]
    return sorted(warnings, key=attrgetter("index"))


def _spelling_warning(index: int, row: BronzeRow, others: list[str]) -> RecordWarning:
    stored = ", ".join(map(repr, others))
    verb, counted = ("is", "both count") if len(others) == 1 else ("are", "all count")
    return RecordWarning(
        index,
        "other_spelling",
        f"{row.vegetable!r} for the week of {row.week_start}: {stored} {verb} stored for that week too; "
        f"{counted} in gold",
    )


def similarity_warnings(accepted: Accepted, rules: FeedRules) -> list[RecordWarning]:
    """A warning for each record whose name was read as a vegetable by likeness to a listed name:
    `Kail` read as garlic may be kale. Each distinct name of the post is looked at once."""
    similarity = rules.vocabulary.similarity
    similar = {name: found for name in {row.vegetable for row in accepted.rows} if (found := similarity(name))}
    if not similar:
        return []
    return [
        RecordWarning(index, "read_by_similarity", f"{name!r} was read as {vegetable} (similarity {score:.2f})")
        for index, row, _ in accepted
        if (name := row.vegetable) in similar
        for vegetable, score in (similar[name],)
    ]


def _lookup_windows(rows: Iterable[BronzeRow]) -> list[tuple[set[str], str, str]]:
    """The stored rows a write needs: every stretch of posted weeks less than LOOKUP_GAP_DAYS apart
    with its names, widened by the overlap days. A bulk post of consecutive weeks is one lookup; a
    batch of small posts scattered over years is one small lookup each, not all their history."""
    names_by_week: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        names_by_week[row.week_start].add(row.vegetable)
    stretches: list[tuple[set[str], str, str]] = []  # (names, first week, last week)
    for week, names in sorted(names_by_week.items()):
        if stretches and _ordinal(week) - _ordinal(stretches[-1][2]) < LOOKUP_GAP_DAYS:
            joined, first, _ = stretches.pop()
            names = joined | names
        else:
            first = week
        stretches.append((names, first, week))
    return [(names, _shifted(first, -OVERLAP_DAYS), _shifted(last, OVERLAP_DAYS)) for names, first, last in stretches]


def _names_with_overlapping_weeks(rows: Collection[BronzeKey]) -> set[str]:
    """Raw names with two weeks 1 to 6 days apart: one sort per name instead of 12 lookups a record.
    Only the weeks that have another week 1 to 6 days away are looked at: usually none (every week
    starts on a Monday, say), and then no name either."""
    days = sorted(map(_ordinal, {week for week, _ in rows}))
    near = {day for earlier, later in pairwise(days) if 0 < later - earlier <= OVERLAP_DAYS for day in (earlier, later)}
    if not near:
        return set()
    days_by_name: dict[str, list[int]] = defaultdict(list)
    for week, name in rows:
        if (day := _ordinal(week)) in near:
            days_by_name[name].append(day)
    suspects = set()
    for name, its_days in days_by_name.items():
        its_days.sort()
        if any(0 < later - earlier <= OVERLAP_DAYS for earlier, later in pairwise(its_days)):
            suspects.add(name)
    return suspects


@lru_cache(maxsize=16_384)
def _ordinal(day: str) -> int:
    return dt.date.fromisoformat(day).toordinal()


def _seen_by(
    current: dict[BronzeKey, BronzeRow], introduced: dict[BronzeKey, int], number: int, key: BronzeKey
) -> bool:
    """Whether post `number` of a batch, sent alone, would find `key` stored (with its own records)."""
    return key in current and introduced.get(key, number) <= number


def _overlap_warning(index: int, row: BronzeRow, seen: Callable[[BronzeKey], bool]) -> RecordWarning | None:
    start, name = row.key
    overlaps = [
        f"{other} ({_days(OVERLAP_DAYS + 1 - abs(days))})" for days, other in _neighbours(start) if seen((other, name))
    ]
    if not overlaps:
        return None
    return RecordWarning(
        index,
        "overlapping_weeks",
        f"the week of {start} overlaps the stored week of {', '.join(overlaps)} of {name!r}: "
        "those days are counted twice",
    )


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


@lru_cache(maxsize=16_384)
def _neighbours(week: str) -> tuple[tuple[int, str], ...]:
    """The first days of weeks overlapping the week starting on `week`, with their offsets."""
    return tuple((days, _shifted(week, days)) for days in range(-OVERLAP_DAYS, OVERLAP_DAYS + 1) if days != 0)


@lru_cache(maxsize=16_384)
def _shifted(day: str, days: int) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=days)).isoformat()


_SILVER_ORDER = attrgetter("week_start", "raw_vegetable")
"""The order silver rows are summed in (see monthly_sales): the order of their key."""
_WEEK_START = attrgetter("week_start")
FEW_CHANGED = 8
"""Changed rows of a vegetable looked up one by one for other spellings (see _other_spellings)."""
READ_BEFORE_ROWS = 100
"""Past this many changed silver rows, a write reads the stored weeks it recomputes before writing
the rows, rather than reading back thousands of rows it has just written."""


def put_silver_and_gold(transaction: WriteTransaction, changed: Sequence[SilverRow]) -> tuple[int, Spellings]:
    """Write the changed silver rows, recompute the months their weeks fall in, then the outlier
    flags of their vegetables; how many monthly rows changed, and the other spellings stored for
    the weeks of changed rows (both count in gold)."""
    if len(changed) > READ_BEFORE_ROWS:
        return _put_bulk_silver_and_gold(transaction, changed)
    transaction.put_silver(changed)
    months_by_vegetable: dict[str, set[str]] = defaultdict(set)
    for row in changed:
        months_by_vegetable[row.vegetable].update(months_of_week(row.week_start))
    months_changed, spellings = 0, {}
    for vegetable, months in months_by_vegetable.items():
        weeks = _stored_weeks(transaction, vegetable, months)
        months_changed += refresh_gold(transaction, vegetable, months, weeks)
        spellings.update(_other_spellings(weeks, changed))
    return months_changed, spellings


def _other_spellings(weeks: Sequence[SilverRow], changed: Sequence[SilverRow]) -> Spellings:
    """For each changed row among `weeks` (one vegetable's, in key order: the rows of a week side by
    side): the other raw names of its week, found by bisection. Of more than a few rows (a bulk
    post's), only those of weeks of two rows or more are looked up, picked by C-level maps: a
    Python loop over them all cost a bulk post 2 % more instructions."""
    starts = list(map(_WEEK_START, weeks))
    if len(changed) > FEW_CHANGED:
        doubled = set(compress(starts, map(eq, starts, islice(starts, 1, None))))
        changed = list(compress(changed, map(doubled.__contains__, map(_WEEK_START, changed))))
    spellings: Spellings = {}
    for row in changed:
        first = bisect_left(starts, row.week_start)
        last = bisect_right(starts, row.week_start, first)
        if last - first > 1:
            names = [weeks[index].raw_vegetable for index in range(first, last)]
            if row.raw_vegetable in names:
                spellings[row.key] = [name for name in names if name != row.raw_vegetable]
    return spellings


def _put_bulk_silver_and_gold(transaction: WriteTransaction, changed: Sequence[SilverRow]) -> tuple[int, Spellings]:
    """put_silver_and_gold() of many rows: the weeks are read before the write, and the changed rows
    take the place of the stored ones of their keys."""
    rows_by_vegetable: dict[str, list[SilverRow]] = defaultdict(list)
    for row in changed:
        rows_by_vegetable[row.vegetable].append(row)
    months_by_vegetable: dict[str, set[str]] = {}
    stored: dict[str, list[SilverRow]] = {}
    # Vegetable by vegetable, each one's rows by week and raw name: the order of the silver key, in
    # which the store writes them quickest.
    for vegetable, rows in sorted(rows_by_vegetable.items()):
        rows.sort(key=_SILVER_ORDER)
        months = {month for week in {row.week_start for row in rows} for month in months_of_week(week)}
        months_by_vegetable[vegetable] = months
        stored[vegetable] = _stored_weeks(transaction, vegetable, months)
    transaction.put_silver([row for vegetable in months_by_vegetable for row in rows_by_vegetable[vegetable]])
    months_changed, spellings = 0, {}
    for vegetable, months in months_by_vegetable.items():
        weeks = _with_changed(stored[vegetable], rows_by_vegetable[vegetable])
        months_changed += refresh_gold(transaction, vegetable, months, weeks)
        spellings.update(_other_spellings(weeks, rows_by_vegetable[vegetable]))
    return months_changed, spellings


def _stored_weeks(transaction: WriteTransaction, vegetable: str, months: Collection[str]) -> list[SilverRow]:
    """The vegetable's silver rows of the weeks that fall in `months`, in key order.

    Each stretch of consecutive months is read on its own: posts of a batch scattered over years read
    their weeks, not all the years between. A week read for one stretch touches no month of another
    (those would have joined it): summed together, each month gets the sum of its stretch, bit for bit."""
    return [
        row
        for first_month, last_month in _month_stretches(months)
        for row in transaction.silver_rows(
            vegetable, weeks_overlapping(first_month)[0], weeks_overlapping(last_month)[1]
        )
    ]


def _with_changed(stored: list[SilverRow], changed: list[SilverRow]) -> list[SilverRow]:
    """Stored silver rows with the changed ones in place of those of their keys (each list, and the
    result, in key order)."""
    if not stored:
        return changed
    keys = set(map(_SILVER_ORDER, changed))
    return sorted([row for row in stored if _SILVER_ORDER(row) not in keys] + changed, key=_SILVER_ORDER)


def refresh_gold(transaction: WriteTransaction, vegetable: str, months: Collection[str], weeks: list[SilverRow]) -> int:
    """Recompute the vegetable's `months` from its `weeks` (every silver row of them, in key order),
    then its outlier flags; how many of its monthly rows changed."""
    recomputed = {month: kilos for (month, _), kilos in monthly_sales(weeks).items() if month in months}
    stored = transaction.gold_rows(vegetable)
    kilos_by_month = {month: row.kilo_sold for month, row in stored.items()}
    kilos_by_month.update(recomputed)
    outliers = outlier_months(kilos_by_month)
    changed_rows = [  # the recomputed months whose kilos or flag moved, then the others whose flag did
        GoldRow(month, vegetable, kilos, month in outliers)
        for month, kilos in recomputed.items()
        if (old := stored.get(month)) is None or (old.kilo_sold, old.is_outlier) != (kilos, month in outliers)
    ]
    changed_rows += [
        GoldRow(month, vegetable, row.kilo_sold, not row.is_outlier)
        for month, row in stored.items()
        if row.is_outlier != (month in outliers) and month not in recomputed
    ]
    transaction.put_gold(changed_rows)
    return len(changed_rows)


def _month_stretches(months: Iterable[str]) -> list[tuple[str, str]]:
    """Runs of consecutive calendar months, as (first, last)."""
    stretches: list[tuple[str, str]] = []
    for month in sorted(months):
        if stretches and month == _next_month(stretches[-1][1]):
            stretches[-1] = (stretches[-1][0], month)
        else:
            stretches.append((month, month))
    return stretches


@lru_cache(maxsize=4096)
def _next_month(year_month: str) -> str:
    year, month = int(year_month[:4]), int(year_month[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def quarantine(transaction: WriteTransaction, rejected: Sequence[Any], max_rejected: int) -> None:
    """Keep rejected records (once each, counted), then drop the least recent past `max_rejected`."""
    stored = transaction.rejected_rows({row.record_hash for row in rejected})
    transaction.put_rejected(merged(rejected, stored))
    dropped = transaction.trim_rejected(max_rejected)
    if dropped:
        total = int(transaction.meta().get("rejected_dropped", "0")) + dropped
        transaction.set_meta("rejected_dropped", str(total))


def replay_rejected(store: Store, rules: FeedRules) -> ReplayReport:
    """Check every quarantined record again: those now valid are stored (the value received last
    wins) and leave quarantine; the others keep their place, with today's reasons."""
    with store.write() as written_to:
        transaction = Recorded(written_to)
        report, months = _replay(transaction, rules)
        report.data_version = record_version(transaction, "replay", (report.inserted, report.updated, 0), months)
        return report


def _replay(transaction: WriteTransaction, rules: FeedRules) -> tuple[ReplayReport, int]:
    """What a replay of the quarantine did, and how many monthly rows it changed."""
    quarantined = sorted(transaction.all_rejected(), key=lambda row: (row.last_received, row.record_hash))
    now_valid = Accepted()
    replayed: list[str] = []
    reasons_changed: list[Any] = []
    for row in quarantined:
        # A truncated record, or one that cannot be read back, stays as it is, for a person to look at.
        try:
            checked = [] if row.truncated else clean_record(read_record(row.record), rules, row.last_received)
        except ValueError:
            checked = []
        if isinstance(checked, tuple):
            now_valid.add(len(now_valid), *checked)
            replayed.append(row.record_hash)
        elif checked and (errors := errors_text(checked)) != row.errors:
            row.errors = errors
            reasons_changed.append(row)
    report = IngestReport(received=len(now_valid))
    months = apply_records(transaction, [(report, now_valid)])
    if replayed:
        transaction.delete_rejected(replayed)
    if reasons_changed:
        transaction.put_rejected(reasons_changed)
    replay = ReplayReport(
        len(replayed), len(quarantined) - len(replayed), report.inserted, report.updated, report.unchanged
    )
    return replay, months


@dataclass(slots=True)
class SyncReport:
    """What start-up did to bring a store in line with the rules it is served with."""

    renamed: list[str] = field(default_factory=list)
    week_date_changed: str | None = None
    superseded: list[BronzeRow] = field(default_factory=list)
    replay: ReplayReport | None = None


def sync_with_rules(store: Store, rules: FeedRules) -> SyncReport:
    """Bring stored data in line with `rules`, in one transaction, if they changed since the last start.

    A new `week_date` re-keys bronze (a calendar date names another week) and rebuilds silver
    and gold; a vocabulary that cleans a stored raw name differently rebuilds silver and gold;
    either, or any change of the rules, replays the quarantine. Refuses (VocabularyError) when a
    stored name is no longer recognised at all: its records could not be kept in silver.
    """
    report = SyncReport()
    with store.write() as written_to:
        transaction = Recorded(written_to)
        meta = transaction.meta()
        stored_week_date = meta.get("week_date", rules.week_date)
        if meta.get("rules") == rules.fingerprint and stored_week_date == rules.week_date:
            return report
        report.renamed = renamed_names(transaction.silver_names(), rules.vocabulary)
        bronze = None
        if stored_week_date != rules.week_date:
            report.week_date_changed = f"{stored_week_date} -> {rules.week_date}"
            bronze, report.superseded = rekeyed(transaction.bronze_rows(), rules.week_date)
        replaced = bronze is not None or bool(report.renamed)
        gold: list[GoldRow] = []
        if replaced:
            rows = bronze if bronze is not None else transaction.bronze_rows()
            silver = silver_sales(rows, rules.vocabulary)
            gold = gold_sales(monthly_sales(silver))
            transaction.replace_tables(bronze, silver, gold)
        report.replay, months = _replay(transaction, rules)
        counts = (report.replay.inserted, report.replay.updated, 0)
        operation: Operation = "rules" if replaced else "replay"
        report.replay.data_version = record_version(transaction, operation, counts, months + len(gold), (), replaced)
        transaction.set_meta("week_date", rules.week_date)
        transaction.set_meta("rules", rules.fingerprint)
    return report


def renamed_names(silver_names: dict[str, str], vocabulary: Vocabulary) -> list[str]:
    """Stored raw names the vocabulary now cleans differently; VocabularyError if it lost any."""
    changed = {raw: old for raw, old in silver_names.items() if vocabulary.resolve(raw) != old}
    lost = sorted(raw for raw in changed if isinstance(vocabulary.resolve(raw), UnknownVegetable))
    if lost:
        raise VocabularyError(
            f"the vocabulary no longer recognises {', '.join(map(repr, lost))}, used by stored records: add them back"
        )
    return sorted(changed)


def rekeyed(bronze: Iterable[BronzeRow], week_date: WeekDate) -> tuple[list[BronzeRow], list[BronzeRow]]:
    """Bronze rows under the week their `date` names with `week_date`; where two rows now name the
    same week, the one received last is kept and the other returned as superseded."""
    kept: dict[BronzeKey, BronzeRow] = {}
    superseded = []
    for row in sorted(bronze, key=lambda row: (row.received_at, row.date)):
        row = BronzeRow(row.date, row.vegetable, row.kilo_sold, week_start(row.date, week_date), row.received_at)
        if (before := kept.get(row.key)) is not None:
            superseded.append(before)
        kept[row.key] = row
    return list(kept.values()), superseded


INLINE_RECORDS = 100
"""Up to this many records, a post to a store with a quick commit is written on the event loop."""
BATCH_RECORDS = 10_000
"""At most this many records of waiting posts share one transaction."""
GROUP_COMMIT_SECONDS = 0.002
"""Under load, how long a small post waits for others to share its transaction, on a store with a
quick commit: more posts share each commit (fewer pages written per post)."""

Waiting = list[tuple[Sequence[Any], bytes | None, str, "asyncio.Future[IngestReport]"]]
"""Posts waiting to be written: each one's records, body, request id, and the future of its report."""
"""Posts waiting to be written: each one's records, the body they were read from, and its answer."""


class PostWriter:
    """The write policy: how posts reach the store, chosen by what a write costs there.

    Posts that wait together are written together (group commit): each post is validated and
    reported on its own, but one transaction (one lock, one commit, one gold update) serves them
    all, and each post is answered once that commit is done. A store whose writes wait on I/O
    (fsyncs, database round trips) gets one writer thread fed with the posts that wait. On a store
    with a quick commit, small posts are written on the event loop, without a hop to a thread: those
    that arrive in one turn of the loop are written together, and under load, those that arrive
    within GROUP_COMMIT_SECONDS of the first one waiting.
    Big posts, and small ones while another process holds the store, go to a worker thread so that
    reads go on meanwhile.
    """

    def __init__(self, store: Store, rules: FeedRules, max_rejected: int = MAX_REJECTED):
        self.store, self.rules, self.max_rejected = store, rules, max_rejected
        self._inline: Waiting = []  # small posts for the next turn of the loop
        self._last_batch = 0  # posts in the last batch written on the loop
        self._waiting: Waiting = []  # posts for the writer thread
        self._writing = False
        self._task: asyncio.Task[None] | None = None  # referenced, so that it is not collected mid-write

    async def ingest(self, items: Sequence[Any], body: bytes | None = None, request_id: str = "") -> IngestReport:
        """Store a post's valid records, quarantine the others; its report, once they are committed.
        `body` is the JSON the records were read from (see ingest_posts); raises TooDeep, having
        stored nothing, when it nests past MAX_BODY_DEPTH."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IngestReport] = loop.create_future()
        if self.store.writes_wait_on_io or len(items) > INLINE_RECORDS:
            self._waiting.append((items, body, request_id, future))
            if not self._writing:
                self._writing = True
                self._task = loop.create_task(self._write_waiting())
        else:
            self._inline.append((items, body, request_id, future))
            if len(self._inline) == 1:
                # Under load (the last commit served several posts), wait a little for more; a lone
                # client is answered in the next turn of the loop, without waiting.
                loop.call_later(GROUP_COMMIT_SECONDS if self._last_batch > 1 else 0, self._write_inline)
        return await future

    async def replay_rejected(self) -> ReplayReport:
        return await to_thread.run_sync(replay_rejected, self.store, self.rules)

    def _write_inline(self) -> None:
        batch, self._inline = self._inline, []
        self._last_batch = len(batch)
        try:
            posts, bodies, ids = _posts(batch)
            self._settle(
                batch, ingest_posts(self.store, self.rules, posts, False, None, self.max_rejected, bodies, ids)
            )
        except StoreBusy:  # another process is writing: wait for it in the writer thread, not here
            self._waiting.extend(batch)
            if not self._writing:
                self._writing = True
                self._task = asyncio.get_running_loop().create_task(self._write_waiting())
        except Exception as error:
            self._fail(batch, error)

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                batch: Waiting = []
                size = 0
                while self._waiting and (not batch or size + len(self._waiting[0][0]) <= BATCH_RECORDS):
                    batch.append(self._waiting.pop(0))
                    size += len(batch[-1][0])
                posts, bodies, ids = _posts(batch)
                write = partial(
                    ingest_posts,
                    self.store,
                    self.rules,
                    posts,
                    max_rejected=self.max_rejected,
                    bodies=bodies,
                    request_ids=ids,
                )
                try:
                    self._settle(batch, await to_thread.run_sync(write))
                except Exception as error:
                    self._fail(batch, error)
        finally:
            self._writing = False

    @staticmethod
    def _settle(batch: Waiting, outcomes: list[IngestReport | TooDeep]) -> None:
        for (_, _, _, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its client went away
                continue
            if isinstance(outcome, TooDeep):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    @staticmethod
    def _fail(batch: Waiting, error: Exception) -> None:
        """Every post of the batch gets the error: nothing of it was stored."""
        for *_, future in batch:
            if not future.done():
                future.set_exception(error)


def _posts(batch: Waiting) -> tuple[list[Sequence[Any]], list[bytes | None], list[str]]:
    """The records of each post of a batch, its body and its request id, side by side."""
    return [post[0] for post in batch], [post[1] for post in batch], [post[2] for post in batch]
