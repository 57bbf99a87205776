"""Reads of an earlier data version: `as_of=N` (a version) or `as_of=<RFC 3339 time>` (the latest
version committed at or before it), answered from the row history (history.py)."""

import datetime as dt
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..asgi import ApiError
from ..history import oldest_kept, rows_as_of, utc_text
from ..json_bodies import JsonBodies
from ..rows import BronzeRow, GoldRow, SilverRow
from ..storage import Changes, Store
from .tables import monthly_table, raw_table, weekly_table

CACHED_VERSIONS = 8
"""Earlier versions kept rendered: a training job reads one version again and again."""
SNAPSHOT_EPOCH = -1
"""The epoch of an earlier version's tables: their ETags never match a current table's."""
VERSION_TEXT = "[0-9]{1,18}"
TIME_TEXT = (
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)"
    r"(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
AS_OF_PATTERN = f"^({VERSION_TEXT}|{TIME_TEXT.replace('[+-]', '[+ -]')})$"
"""What `as_of` takes, as the API's document says it (a `+` left unencoded in a URL arrives as a space)."""
_VERSION, _TIME = re.compile(VERSION_TEXT), re.compile(TIME_TEXT)
_SPACED_OFFSET = re.compile(r"(?<=[0-9]) ([0-9]{2}:[0-9]{2})$")
EXPECTED = "a data version (a whole number) or an RFC 3339 time such as 2026-12-06T10:00:00Z"


@dataclass(frozen=True)
class Snapshot:
    """The tables of one earlier data version, as the current ones are served."""

    version: int
    raw_sales: JsonBodies[BronzeRow]
    weekly_sales: JsonBodies[SilverRow]
    monthly_sales: JsonBodies[GoldRow]


def unchanging(rows: list[Any], version: int) -> Any:
    """A change feed that never changes: the rows of `version`."""
    cursor = (SNAPSHOT_EPOCH, version)

    def changes(since: Any) -> Changes[Any]:
        return Changes(cursor, [] if since == cursor else rows, since != cursor)

    return changes


class Snapshots:
    """Earlier versions of the tables, resolved from `as_of` values and cached by version."""

    def __init__(self, store: Store, history_days: int):
        self.store, self.history_days = store, history_days
        self._lock = threading.Lock()
        self._cached: OrderedDict[int, Snapshot] = OrderedDict()

    def version(self, as_of: str) -> int:
        """The data version an `as_of` value names: ApiError 400 when malformed, 404 when not yet
        committed, 410 when no longer kept."""
        store = self.store
        if _VERSION.fullmatch(as_of):
            version: int | None = int(as_of)
            current = store.data_version()
            if int(as_of) > current:
                raise ApiError(
                    404, "unknown_version", f"data version {as_of} is not committed; the current one is {current}"
                )
        else:
            version = store.version_at(utc_text(parse_time(as_of)))
        oldest = oldest_kept(store, self.history_days)
        if version is None or version < oldest:
            named = f"data version {version} is" if version is not None else f"the version current at {as_of} is"
            raise ApiError(
                410, "version_gone", f"{named} no longer kept; the oldest kept is {oldest}", extra={"oldest": oldest}
            )
        return version

    def of(self, as_of: str) -> Snapshot:
        """The tables as of the version `as_of` names (see version())."""
        version = self.version(as_of)
        with self._lock:
            if (cached := self._cached.get(version)) is not None:
                self._cached.move_to_end(version)
                return cached
        rows = rows_as_of(self.store.history(version), version)
        snapshot = Snapshot(
            version,
            raw_table(unchanging(rows.bronze, version)),
            weekly_table(unchanging(rows.silver, version)),
            monthly_table(unchanging(rows.gold, version)),
        )
        with self._lock:
            self._cached[version] = snapshot
            while len(self._cached) > CACHED_VERSIONS:
                self._cached.popitem(last=False)
        return snapshot


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 time (with its offset, Z or +hh:mm); ApiError 400 for anything else. A `+` left
    unencoded in a query string arrives as a space: read back as the `+` of an offset."""
    text = _SPACED_OFFSET.sub(r"+\1", text)
    if _TIME.fullmatch(text):
        try:
            return dt.datetime.fromisoformat(text.upper().replace(" ", "T"))
        except ValueError as error:
            raise ApiError(400, "invalid_parameter", f"as_of {text!r} is no real time: {error}") from None
    raise ApiError(400, "invalid_parameter", f"as_of must be {EXPECTED}, got {text!r}")
