"""Unknown query parameters are a 400 naming them: `remove_outlier=true` is a typo, not a silent full
answer. What each path takes is read from its endpoint's signature, so the expected lists here are read
from the signatures too (`signature_parameters`), and today's are pinned by hand (`TODAY`)."""

import asyncio
import inspect
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic.fields import FieldInfo

from support.servers import Server
from tests.conftest import one_sale_a_month, sale
from tests.raw_http import assert_error, exchange
from vegsales.api import create_app
from vegsales.guards import Security
from vegsales.http.query_check import QueryCheck, accepted_parameters
from vegsales.http.routes import ROUTES
from vegsales.storage.sqlite import SqliteStore

STATIC = Path(__file__).parents[2] / "src" / "vegsales" / "static"
TODAY = {
    "/post_sales": (),
    "/delete_sales": (),
    "/init_database": (),
    "/replay_rejected": (),
    "/get_data_quality": (),
    "/metrics": (),
    "/health": (),
    "/": (),
    "/dashboard": (),
    "/docs": (),
    "/redoc": (),
    "/get_rejected_sales": ("limit",),
    "/get_history": ("limit",),
    "/resolve_vegetable": ("name",),
    "/get_forecast": ("vegetable", "horizon", "remove_outliers", "as_of"),
    "/dashboard/chart.svg": ("vegetable", "remove_outliers", "forecast"),
    "/get_raw_sales": ("as_of",),
    "/get_monthly_sales": ("remove_outliers", "as_of"),
}
"""What each path took when the check was written (a path may take more since: at least these)."""
SERVED = [(method, route.path) for route in ROUTES for method in route.methods]
READS = [("GET", route.path) for route in ROUTES if "GET" in route.methods and not route.changes_data]  # HEAD too
CARROTS = one_sale_a_month("carrot", 27)  # 2010-01 .. 2012-03, the last month an outlier


def unknown(name_list: str, path: str, takes: list[str]) -> dict[str, str]:
    """The body of the 400 naming `name_list` on `path`, which takes `takes`."""
    tail = f"takes {', '.join(takes)}" if takes else "takes no query parameters"
    return {"error": "unknown_parameter", "message": f"unknown query {name_list}; {path} {tail}"}


def signature_parameters(app, method: str, path: str) -> list[str]:
    """The query parameters of the endpoint `app` serves at (method, path), read from its signature:
    every parameter (these endpoints take nothing else), by its Query alias when it has one."""
    (endpoint,) = [
        route.endpoint
        for route in app.api.routes
        if isinstance(route, APIRoute) and route.path == path and method in route.methods
    ]
    names = []
    for parameter in inspect.signature(endpoint).parameters.values():
        marks = (*getattr(parameter.annotation, "__metadata__", ()), parameter.default)
        alias = next((mark.alias for mark in marks if isinstance(mark, FieldInfo) and mark.alias), None)
        names.append(alias or parameter.name)
    return names


def monthly_rows(months: list[str], outlier: str | None = None) -> list[dict]:
    return [
        {"year_month": month, "vegetable": "carrot", "kilo_sold": 100_000.0 if month == outlier else 100.0,
         "is_outlier": month == outlier}
        for month in months
    ]  # fmt: skip


MONTHS = [f"{year}-{month:02d}" for year in (2010, 2011) for month in range(1, 13)] + ["2012-01", "2012-02"]


@pytest.fixture
def sqlite_client(tmp_path):
    with TestClient(create_app(SqliteStore(tmp_path / "sales.db"))) as client:
        yield client


@pytest.fixture
def stocked(sqlite_client):
    """A client whose store holds one record."""
    assert sqlite_client.post("/post_sales", json=[sale("2020-01-06", "Tomate", 7)]).status_code == 200
    return sqlite_client


def test_the_typo_remove_outlier_is_a_400_naming_it_and_what_the_path_takes(client):
    client.post("/post_sales", json=CARROTS)
    response = client.get("/get_monthly_sales?remove_outlier=true", headers={"X-Request-ID": "typo-1"})
    takes = signature_parameters(client.app, "GET", "/get_monthly_sales")
    assert response.status_code == 400
    assert response.json() == unknown("parameter 'remove_outlier'", "/get_monthly_sales", takes)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "typo-1"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("method", "path"), SERVED, ids=[f"{method} {path}" for method, path in SERVED])
def test_every_served_path_refuses_an_unknown_parameter_and_does_nothing(stocked, method, path):
    raw = stocked.get("/get_raw_sales").json()
    body = b'[{"date": "2020-01-13", "vegetable": "Tomate", "kilo_sold": 1}]' if method == "POST" else None
    response = stocked.request(method, f"{path}?zz_unknown=1", content=body)
    assert response.status_code == 400
    takes = signature_parameters(stocked.app, method, path)
    assert response.json() == unknown("parameter 'zz_unknown'", path, takes)
    assert stocked.get("/get_raw_sales").json() == raw  # nothing posted, deleted or emptied


def test_the_accepted_parameters_are_those_of_the_endpoints_signatures(sqlite_client):
    app = sqlite_client.app
    for method, path in SERVED:
        declared = signature_parameters(app, method, path)
        assert set(TODAY.get(path, ())) <= set(declared), path
        response = sqlite_client.request(method, f"{path}?zz=1")
        assert response.json()["message"].endswith(
            f"{path} takes {', '.join(declared)}" if declared else f"{path} takes no query parameters"
        )
    assert signature_parameters(app, "GET", "/init_database") == []
    assert signature_parameters(app, "GET", "/get_forecast") == ["vegetable", "horizon", "remove_outliers", "as_of"]


def test_a_parameter_added_to_a_signature_is_accepted_without_listing_it_anywhere():
    api = FastAPI()

    def page(after: Annotated[str | None, Query()] = None) -> str | None:
        return after

    @api.get("/rows")
    async def rows(
        limit: int = 10,
        from_: Annotated[str | None, Query(alias="from")] = None,
        after: Annotated[str | None, Depends(page)] = None,
    ) -> dict:
        return {"limit": limit, "from": from_, "after": after}

    client = TestClient(QueryCheck(api, accepted_parameters(api, frozenset())))
    assert client.get("/rows?limit=1&from=2020-01&after=x").json() == {"limit": 1, "from": "2020-01", "after": "x"}
    response = client.get("/rows?from_=2020-01")
    assert response.status_code == 400
    assert response.json() == unknown("parameter 'from_'", "/rows", ["limit", "from", "after"])


def test_several_unknown_parameters_are_named_once_each_sorted(sqlite_client):
    query = "zeta=1&Alpha=2&b%C3%A9ta=&beta&alpha=3&zeta=4&remove_outliers=true"
    response = sqlite_client.get(f"/get_monthly_sales?{query}")
    takes = signature_parameters(sqlite_client.app, "GET", "/get_monthly_sales")
    named = "parameters 'Alpha', 'alpha', 'beta', 'béta', 'zeta'"
    assert (response.status_code, response.json()) == (400, unknown(named, "/get_monthly_sales", takes))


def test_past_ten_unknown_names_the_rest_are_counted_and_long_names_cut(sqlite_client):
    names = "&".join(f"a{number:02d}=1" for number in range(12))
    response = sqlite_client.get(f"/health?{names}&{'x' * 150}=1")
    quoted = ", ".join(f"'a{number:02d}'" for number in range(10))
    assert response.json() == unknown(f"parameters {quoted} and 3 more", "/health", [])
    response = sqlite_client.get(f"/health?{'x' * 150}=1")
    assert response.json() == unknown(f"parameter '{'x' * 100}...'", "/health", [])


def test_known_parameters_still_work_with_their_exact_answers(client):
    client.post("/post_sales", json=CARROTS)  # version 1
    client.post("/post_sales", json=[sale("2020-01-06", "Tomate", 7), sale("2020-02-03", "Tomate", 7)])  # 2
    client.post("/post_sales", json=[sale("2020-01-06", "mango", 1)])
    client.post("/post_sales", json=[sale("2020-01-13", "papaya", 2)])
    assert client.get("/get_monthly_sales?remove_outliers=true").json()[:26] == monthly_rows(MONTHS)
    assert len(client.get("/get_monthly_sales?remove_outliers=true").json()) == 28  # 26 carrot, 2 tomato
    everything = client.get("/get_monthly_sales?remove_outliers=false").json()
    assert everything[:27] == monthly_rows([*MONTHS, "2012-03"], outlier="2012-03")
    assert client.get("/get_monthly_sales?remove_outliers=true&as_of=1").json() == monthly_rows(MONTHS)
    assert client.get("/get_raw_sales?as_of=1").json() == [
        sale(record["date"], "carrot", 100_000.0 if record["date"] == "2012-03-01" else 100.0) for record in CARROTS
    ]
    rejected = client.get("/get_rejected_sales?limit=1").json()
    assert (rejected["total"], [row["record"] for row in rejected["rows"]]) == (2, [sale("2020-01-13", "papaya", 2)])
    assert [version["data_version"] for version in client.get("/get_history?limit=1").json()["versions"]] == [2]
    assert client.get("/resolve_vegetable?name=Zanahoria").json() == {"name": "Zanahoria", "vegetable": "carrot"}
    forecast = client.get("/get_forecast?vegetable=Tomate&horizon=3&remove_outliers=true&as_of=2")
    reason = "tomato: 2 months of history (2020-01 to 2020-02): at least 3 are needed"
    assert (forecast.status_code, forecast.json()) == (422, {"error": "not_enough_history", "message": reason})
    chart = client.get("/dashboard/chart.svg?vegetable=carrot&remove_outliers=true&forecast=false")
    assert (chart.status_code, chart.headers["content-type"]) == (200, "image/svg+xml")


def test_a_url_encoded_name_is_the_parameter_it_decodes_to(sqlite_client):
    sqlite_client.post("/post_sales", json=CARROTS)
    assert sqlite_client.get("/get_monthly_sales?remove%5Foutliers=true").json() == monthly_rows(MONTHS)
    assert sqlite_client.get("/get_monthly_sales?%72emove_outliers=true").json() == monthly_rows(MONTHS)
    response = sqlite_client.get("/get_monthly_sales?remove%20outliers=true")
    takes = signature_parameters(sqlite_client.app, "GET", "/get_monthly_sales")
    assert response.json() == unknown("parameter 'remove outliers'", "/get_monthly_sales", takes)


BOOLEAN = "remove_outliers must be true or false, got ''"
NOT_INTEGER = "query.limit: Input should be a valid integer, unable to parse string as an integer"
AS_OF = "as_of must be a data version (a whole number) or an RFC 3339 time such as 2026-12-06T10:00:00Z, got ''"
BLANKS = {
    "/get_monthly_sales?remove_outliers=": ("invalid_parameter", BOOLEAN),
    "/get_monthly_sales?remove_outliers": ("invalid_parameter", BOOLEAN),
    "/get_raw_sales?as_of=": ("invalid_parameter", AS_OF),
    "/get_rejected_sales?limit=": ("invalid_request", NOT_INTEGER),
    "/resolve_vegetable?name=": ("invalid_request", "query.name: String should have at least 1 character"),
}  # fmt: skip


@pytest.mark.parametrize(("url", "answer"), BLANKS.items(), ids=BLANKS.keys())
def test_a_blank_value_of_a_known_parameter_is_the_endpoints_own_400(sqlite_client, url, answer):
    response = sqlite_client.get(url)
    assert (response.status_code, response.json()) == (400, {"error": answer[0], "message": answer[1]})


def test_a_repeated_known_parameter_is_left_to_the_endpoint(sqlite_client):
    assert sqlite_client.get("/get_monthly_sales?remove_outliers=true&remove_outliers=true").json() == []
    assert sqlite_client.get("/get_history?limit=1&limit=2").json() == {"versions": []}


@pytest.mark.parametrize(
    "url", ["/nope?x=1", "/get_monthly_salez?remove_outliers=true", "/static/nope.js?v=1", "/get_monthly_sales/x?y=1"]
)
def test_an_unknown_path_is_still_a_404(sqlite_client, url):
    response = sqlite_client.get(url)
    assert (response.status_code, response.json()) == (404, {"error": "not_found", "message": "Not Found"})


FILES = ["/static/dashboard.js?v=1", "/static/dashboard.css?v=2026-12-01&x", "/static-offline-docs/swagger-ui.css?v=3"]


@pytest.mark.parametrize("url", FILES)
def test_files_are_served_whatever_their_cache_busting_query(sqlite_client, url):
    response = sqlite_client.get(url)
    assert response.status_code == 200
    if url.startswith("/static/"):
        assert response.content == (STATIC / url.split("?")[0].removeprefix("/static/")).read_bytes()


def test_the_openapi_document_is_served_whatever_its_query(sqlite_client):
    response = sqlite_client.get("/openapi.json?v=1")
    assert (response.status_code, response.json()["info"]["title"]) == (200, "vegsales")


@pytest.mark.parametrize(("method", "path"), READS, ids=[path for _, path in READS])
def test_head_is_checked_as_get_and_answers_the_400_without_body(sqlite_client, method, path):
    get = sqlite_client.get(f"{path}?zz=1")
    head = sqlite_client.head(f"{path}?zz=1")
    assert (head.status_code, head.content) == (400, b"")
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
    assert head.headers["content-type"] == "application/json"
    assert "x-request-id" in head.headers


def test_head_with_known_parameters_is_served(sqlite_client):
    assert sqlite_client.head("/get_monthly_sales?remove_outliers=true&as_of=0").status_code == 200
    assert sqlite_client.head("/get_history?limit=1").status_code == 200


def test_a_method_the_path_does_not_serve_stays_a_405_and_options_answers_allow(stocked):
    assert stocked.post("/get_monthly_sales?zz=1").status_code == 405
    assert stocked.head("/init_database?zz=1").status_code == 405  # no HEAD on a GET that empties the store
    options = stocked.options("/get_monthly_sales?zz=1")
    assert (options.status_code, options.headers["allow"]) == (204, "GET, HEAD, OPTIONS")
    assert len(stocked.get("/get_raw_sales").json()) == 1


def test_a_trailing_slash_names_the_path_without_it(sqlite_client):
    response = sqlite_client.get("/get_monthly_sales/?remove_outlier=true")
    takes = signature_parameters(sqlite_client.app, "GET", "/get_monthly_sales")
    assert response.json() == unknown("parameter 'remove_outlier'", "/get_monthly_sales", takes)


def test_the_guards_refuse_first(tmp_path):
    security = Security(allowed_hosts=("127.0.0.1",), admin_token="s3cret")
    app = create_app(SqliteStore(tmp_path / "s.db"), security=security)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.post("/post_sales", json=[sale("2020-01-06", "Tomate", 7)])
        assert client.get("/init_database?zz=1").status_code == 401
        authorised = client.get("/init_database?zz=1", headers={"Authorization": "Bearer s3cret"})
        assert (authorised.status_code, authorised.json()["error"]) == (400, "unknown_parameter")
        assert len(client.get("/get_raw_sales").json()) == 1
        other_host = client.get("/get_monthly_sales?zz=1", headers={"Host": "evil.example"})
        assert (other_host.status_code, other_host.json()["error"]) == (400, "invalid_host")


def test_each_verdict_is_the_paths_own_however_many_queries_were_seen(sqlite_client):
    for number in range(300):  # past the verdicts kept
        assert sqlite_client.get(f"/get_history?limit={number + 1}").status_code == 200
    assert sqlite_client.get("/get_history?limit=1").status_code == 200
    long = "&".join(["limit=1"] * 50)  # past the length of the queries kept: judged each time
    for _ in range(2):
        assert sqlite_client.get(f"/get_history?{long}").status_code == 200
        assert sqlite_client.get(f"/get_history?{long}&zz=1").json()["error"] == "unknown_parameter"
    refused = sqlite_client.get("/get_data_quality?limit=1")
    assert (refused.status_code, refused.json()) == (400, unknown("parameter 'limit'", "/get_data_quality", []))
    assert sqlite_client.get("/get_history?limit=1").status_code == 200


def test_the_400_to_head_goes_out_without_its_body_below_any_server(tmp_path):
    """Whatever the server does with a HEAD's body: the layer sends none, and the GET's length."""
    app = create_app(SqliteStore(tmp_path / "s.db"))

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    def answer(method: str) -> tuple[int, bytes, bytes]:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": method, "path": "/get_monthly_sales", "query_string": b"zz=1",
                 "headers": [(b"host", b"127.0.0.1")], "http_version": "1.1", "scheme": "http"}  # fmt: skip
        asyncio.run(app(scope, receive, send))
        start, body = sent
        return start["status"], dict(start["headers"])[b"content-length"], body["body"]

    status, length, body = answer("GET")
    assert (status, length) == (400, str(len(body)).encode())
    assert answer("HEAD") == (400, length, b"")
    app.close()


def test_a_real_server_checks_the_query_of_an_absolute_form_target_too(tmp_path):
    with Server("app_sql.py", "--db", str(tmp_path / "sales.db")) as server:
        target, host = f"http://localhost:{server.port}", b"Host: evil.example\r\nConnection: close\r\n"
        refused = exchange(
            server.port, f"GET {target}/health?x=1 HTTP/1.1\r\nX-Request-ID: q-1\r\n".encode() + host + b"\r\n"
        )
        assert_error(refused, 400, unknown("parameter 'x'", "/health", []), request_id="q-1")
        served = exchange(server.port, f"GET {target}/get_history?limit=1 HTTP/1.1\r\n".encode() + host + b"\r\n")
        assert (served.status, served.body) == (200, {"versions": []})
