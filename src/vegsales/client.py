"""SalesClient: the service's endpoints as Python calls returning plain data.

from vegsales.client import SalesClient
with SalesClient("http://127.0.0.1:8000") as client:
    client.post([{"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 70}])
    months = client.monthly(remove_outliers=True)          # list of dicts
    frame = client.monthly(as_frame=True, vegetable="carrot", start="2021-01", end="2021-12")  # pandas.DataFrame
"""

from collections import Counter
from typing import Any

import httpx2 as httpx

DEFAULT_URL = "http://127.0.0.1:8000"


TABLE_PATHS = {"raw": "/get_raw_sales", "weekly": "/get_weekly_sales", "monthly": "/get_monthly_sales"}


def _pandas() -> Any:
    """pandas, for as_frame=True; a RuntimeError saying how to install it when it is missing."""
    try:
        import pandas  # type: ignore[import-untyped]  # optional, and without type stubs
    except ImportError:
        raise RuntimeError("as_frame=True needs pandas: pip install pandas") from None
    return pandas


def _has_pyarrow() -> bool:
    """Whether Parquet can be read here (pandas reads it with pyarrow)."""
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


class ServiceError(Exception):
    """The service answered 4xx/5xx; `report` holds its JSON reply (error body or post report)."""

    def __init__(self, status: int | None, report: Any, url: str, request_id: str | None = None):
        self.status, self.report, self.url, self.request_id = status, report, url, request_id
        """`request_id`: the service's X-Request-ID for the request, to find it in the service's logs."""
        suffix = f" (request id {request_id})" if request_id else ""
        super().__init__(f"{url} answered {status}: {describe(report)}{suffix}")


class ServiceUnreachable(ServiceError):
    """No answer at all: wrong URL, server down, timeout."""

    def __init__(self, url: str, reason: str):
        Exception.__init__(self, f"cannot reach the service at {url}: {reason}")
        self.status, self.report, self.url, self.request_id = None, None, url, None


def describe(report: Any) -> str:
    """An error answer or a post report in one line: a report names its rejections' codes, the most
    common first (`all 3 records rejected (bad_date 2, missing 1)`)."""
    if isinstance(report, dict) and "message" in report:
        return f"{report.get('error', 'error')}: {report['message']}"
    if isinstance(report, dict) and "rejected" in report:
        codes = Counter(
            str(error["code"])
            for rejection in report["rejected"]
            if isinstance(rejection, dict)
            for error in rejection.get("errors", ())
            if isinstance(error, dict) and "code" in error
        )
        reasons = ", ".join(f"{code} {count}" for code, count in codes.most_common())
        return f"all {report.get('received')} records rejected" + (f" ({reasons})" if reasons else "")
    return str(report)[:300]


class SalesClient:
    """A connection to a running vegsales service."""

    def __init__(self, url: str = DEFAULT_URL, timeout: float = 60.0, token: str | None = None):
        """`token`: the service's write or admin token, sent as `Authorization: Bearer`, when it has one."""
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)
        except httpx.InvalidURL as error:
            raise ServiceUnreachable(self.url, f"invalid URL ({error})") from None

    def post(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Post sales records; returns the report (counts and rejections)."""
        return self._object("POST", "/post_sales", json=records)

    def raw(
        self,
        as_frame: bool = False,
        as_of: int | str | None = None,
        vegetable: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> Any:
        """Bronze rows as received: list of dicts, or a DataFrame. `vegetable` (any spelling: every
        raw spelling of it), `start`/`end` (weeks, inclusive) filter; `as_of` (a data version or an
        RFC 3339 time) reads an earlier version."""
        return self._rows("/get_raw_sales", as_frame, as_of=as_of, vegetable=vegetable, start=start, end=end)

    def weekly(
        self,
        as_frame: bool = False,
        as_of: int | str | None = None,
        vegetable: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> Any:
        """Silver: each record's week under its canonical vegetable (week_start, date, vegetable,
        raw_vegetable, kilo_sold), filtered and versioned as raw()."""
        return self._rows("/get_weekly_sales", as_frame, as_of=as_of, vegetable=vegetable, start=start, end=end)

    def monthly(
        self,
        remove_outliers: bool = False,
        as_frame: bool = False,
        as_of: int | str | None = None,
        vegetable: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> Any:
        """Gold rows (monthly kilos per vegetable): list of dicts, or a DataFrame (`is_outlier` bool,
        `year_month` text). `start`/`end` are months YYYY-MM, inclusive."""
        return self._rows(
            "/get_monthly_sales",
            as_frame,
            remove_outliers="true" if remove_outliers else "false",
            as_of=as_of,
            vegetable=vegetable,
            start=start,
            end=end,
        )

    def export(
        self,
        table: str,
        format: str = "csv",
        as_of: int | str | None = None,
        vegetable: str | None = None,
        start: str | None = None,
        end: str | None = None,
        remove_outliers: bool = False,
    ) -> bytes:
        """A table ("raw", "weekly" or "monthly") as the file the service writes: csv, ndjson,
        parquet or json, filtered as raw() is."""
        params = {"format": format, "as_of": as_of, "vegetable": vegetable, "from": start, "to": end}
        if remove_outliers:
            params["remove_outliers"] = "true"
        query = {name: str(value) for name, value in params.items() if value is not None}
        return self._bytes("GET", TABLE_PATHS[table], params=query)

    def _rows(self, path: str, as_frame: bool, start: str | None, end: str | None, **params: Any) -> Any:
        """A table read's rows, as dicts or (as_frame) a DataFrame, read as Parquet when pyarrow is
        installed: its columns come typed, and the body is a tenth of the JSON."""
        query = {name: str(value) for name, value in {**params, "from": start, "to": end}.items() if value is not None}
        if as_frame and _has_pyarrow():
            return self._frame(self._bytes("GET", path, params={**query, "format": "parquet"}))
        return self._table(self._call("GET", path, params=query), as_frame)

    def delete(self, keys: list[dict[str, Any]]) -> dict[str, Any]:
        """Take stored records back by key ({"date", "vegetable"} as sent); returns the report
        (received, deleted, not_found, rejected, data_version)."""
        return self._object("POST", "/delete_sales", json=keys)

    def rejected(self, limit: int = 1000) -> dict[str, Any]:
        """The quarantine: {"total", "dropped", "rows": [...]}, the most recently received first."""
        return self._object("GET", "/get_rejected_sales", params={"limit": limit})

    def forecast(
        self,
        vegetable: str | None = None,
        horizon: int = 12,
        remove_outliers: bool = False,
        as_frame: bool = False,
        as_of: int | str | None = None,
    ) -> Any:
        """The forecast of one vegetable (any spelling), or a list of every vegetable's, from the data
        as of a version or time when given; with as_frame, a DataFrame of the forecast months
        (vegetable, year_month, kilo_sold, lower_80 ... upper_95)."""
        params: dict[str, Any] = {"horizon": horizon, "remove_outliers": "true" if remove_outliers else "false"}
        if vegetable is not None:
            params["vegetable"] = vegetable
        if as_of is not None:
            params["as_of"] = str(as_of)
        answer = self._call("GET", "/get_forecast", params=params)
        if not as_frame:
            return answer
        answers = [answer] if isinstance(answer, dict) else answer
        rows = [{"vegetable": a["vegetable"], **month} for a in answers for month in a["forecast"]]
        frame = self._table(rows, as_frame=True)
        # What each forecast learnt from, and how it fared, by vegetable: beside the numbers, as pandas keeps them.
        frame.attrs["trained_on"] = {a["vegetable"]: a["trained_on"] for a in answers}
        frame.attrs["backtest"] = {a["vegetable"]: a["backtest"] for a in answers}
        frame.attrs["model"] = {a["vegetable"]: a["model"] for a in answers}
        return frame

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The data versions kept, the newest first (each: data_version, committed_at, operation,
        request_id, request_ids, bronze counts, months_changed)."""
        versions: list[dict[str, Any]] = self._object("GET", "/get_history", params={"limit": limit})["versions"]
        return versions

    def quality(self) -> dict[str, Any]:
        """Data quality: per vegetable (weeks, gaps, the latest week's robust z-score) and for the feed."""
        return self._object("GET", "/get_data_quality")

    def replay_rejected(self) -> dict[str, Any]:
        """Check every quarantined record again; those now valid are stored."""
        return self._object("POST", "/replay_rejected")

    def init_database(self) -> dict[str, Any]:
        """Create the tables, or empty them."""
        return self._object("POST", "/init_database")

    def health(self) -> dict[str, Any]:
        return self._object("GET", "/health")

    def _object(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        body = self._call(method, path, **options)
        if not isinstance(body, dict):
            raise ServiceError(200, body, f"{method} {self.url}{path} (expected a JSON object)")
        return body

    def _call(self, method: str, path: str, **options: Any) -> Any:
        response = self._response(method, path, **options)
        try:
            return response.json()
        except ValueError:
            return response.text

    def _bytes(self, method: str, path: str, **options: Any) -> bytes:
        return self._response(method, path, **options).content

    def _response(self, method: str, path: str, **options: Any) -> httpx.Response:
        """The answer; ServiceError for a 4xx or 5xx, ServiceUnreachable when there is none."""
        try:
            response = self._http.request(method, path, **options)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise ServiceUnreachable(self.url, str(error) or type(error).__name__) from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            request_id = response.headers.get("x-request-id")
            raise ServiceError(response.status_code, body, f"{method} {self.url}{path}", request_id)
        return response

    @staticmethod
    def _frame(parquet: bytes) -> Any:
        """A DataFrame of a Parquet body (typed columns: text, float64, bool)."""
        import io

        return _pandas().read_parquet(io.BytesIO(parquet))

    @staticmethod
    def _table(rows: list[dict[str, Any]], as_frame: bool) -> Any:
        return _pandas().DataFrame(rows) if as_frame else rows

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "SalesClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
