"""Safe by default: web pages cannot write or wipe, hosts are checked, tokens when set.

Each case sends the headers a browser (Chromium, Firefox) sends for that request."""

import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import sale
from vegsales.api import PAGE_POLICY, REDOC_POLICY, create_app
from vegsales.guards import Security
from vegsales.storage.sqlite import SqliteStore

SERVER = "http://127.0.0.1:8000"
EVIL = "http://evil.example"
RECORD = [sale("2020-01-06", "Tomate", 7)]


@pytest.fixture
def make_client(tmp_path):
    clients = []

    def make(**security) -> TestClient:
        app = create_app(SqliteStore(tmp_path / "sales.db"), security=Security(**security))
        client = TestClient(app, base_url=SERVER)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    """The client of a server on a loopback address: it answers to the loopback names only."""
    return make_client(allowed_hosts=Security.default_hosts("127.0.0.1"))


def stored(client) -> int:
    return len(client.get("/get_raw_sales").json())


# (method, path, headers, body): what a page of another site makes the browser send.
CROSS_SITE = {
    "img_src_init_database": ("GET", "/init_database", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors",
                              "Sec-Fetch-Dest": "image", "Referer": f"{EVIL}/"}, None),
    "form_post_text_plain": ("POST", "/post_sales", {"Origin": EVIL, "Sec-Fetch-Site": "cross-site",
                             "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document",
                             "Content-Type": "text/plain"}, b'[{"date":"2020-01-06","vegetable":"Poire"}]'),
    "form_post_urlencoded_init": ("POST", "/init_database", {"Origin": EVIL, "Sec-Fetch-Site": "cross-site",
                                  "Sec-Fetch-Mode": "navigate", "Content-Type": "application/x-www-form-urlencoded"},
                                  b"x=1"),
    "fetch_no_cors_post": ("POST", "/post_sales", {"Origin": EVIL, "Sec-Fetch-Site": "cross-site",
                           "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "empty", "Content-Type": "text/plain"},
                           b"[]"),
    "old_browser_form_post": ("POST", "/post_sales", {"Origin": EVIL, "Content-Type": "text/plain"}, b"[]"),
    "sandboxed_page_null_origin": ("POST", "/replay_rejected", {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
                                   None),
    "same_site_other_port": ("POST", "/init_database", {"Origin": "http://127.0.0.1:3000",
                             "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"}, None),
    "address_bar_init_database": ("GET", "/init_database", {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate",
                                  "Sec-Fetch-User": "?1", "Sec-Fetch-Dest": "document"}, None),
    "prefetched_init_database": ("GET", "/init_database", {"Sec-Purpose": "prefetch", "Sec-Fetch-Site": "none",
                                 "Sec-Fetch-Mode": "navigate"}, None),
    "fetch_no_cors_delete": ("POST", "/delete_sales", {"Origin": EVIL, "Sec-Fetch-Site": "cross-site",
                             "Sec-Fetch-Mode": "no-cors", "Content-Type": "text/plain"},
                             b'[{"date":"2020-01-06","vegetable":"Tomate"}]'),
    "trailing_slash_too": ("POST", "/post_sales/", {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}, b"[]"),
}  # fmt: skip


@pytest.mark.parametrize(("method", "path", "headers", "body"), CROSS_SITE.values(), ids=CROSS_SITE.keys())
def test_a_browser_request_from_another_site_that_changes_data_is_refused(client, method, path, headers, body):
    client.post("/post_sales", json=RECORD)
    response = client.request(method, path, headers=headers, content=body)
    assert response.status_code == 403
    assert response.json()["error"] == "cross_site_request"
    assert stored(client) == 1  # nothing written, nothing wiped


def test_the_refusal_says_why(client):
    response = client.post("/post_sales", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}, content=b"[]")
    assert response.json() == {
        "error": "cross_site_request",
        "message": "POST /post_sales changes data: a page of another site may not send it",
    }


def test_reads_from_other_sites_and_same_origin_writes_are_served(client):
    headers = {"Origin": SERVER, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
    assert client.post("/post_sales", json=RECORD, headers=headers).status_code == 200
    read = client.get("/get_raw_sales", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"})
    assert read.status_code == 200
    assert "access-control-allow-origin" not in read.headers  # no CORS: the other page cannot read it


def test_scripts_keep_working_without_browser_headers(client):
    assert client.post("/post_sales", json=RECORD).json()["inserted"] == 1
    form = client.post("/post_sales", content=b"[]", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (form.status_code, form.json()["received"]) == (200, 0)  # a script's content type is not a page's form
    assert client.get("/init_database").json()["status"] == "ok"
    assert stored(client) == 0


def test_an_allowed_origin_gets_cors_answers_and_may_write(make_client):
    client = make_client(allowed_origins=("http://dash.example",))
    preflight = client.options(
        "/post_sales",
        headers={
            "Origin": "http://dash.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
            "Sec-Fetch-Mode": "cors",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://dash.example"
    assert set(preflight.headers["access-control-allow-methods"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    headers = {"Origin": "http://dash.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
    response = client.post("/post_sales", json=RECORD, headers=headers)
    assert (response.status_code, response.json()["inserted"]) == (200, 1)
    assert response.headers["access-control-allow-origin"] == "http://dash.example"
    monthly = client.get("/get_monthly_sales", headers=headers)
    assert monthly.headers["access-control-allow-origin"] == "http://dash.example"
    assert "etag" in monthly.headers["access-control-expose-headers"].lower()
    other = client.post("/post_sales", json=RECORD, headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert other.status_code == 403


def test_a_preflight_without_allowed_origins_gets_no_cors_grant(client):
    preflight = client.options("/post_sales", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["allow"] == "OPTIONS, POST"
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost", "LOCALHOST:9", "[::1]:8000", "127.0.0.1"])
def test_loopback_names_are_served(client, host):
    assert client.get("/health", headers={"Host": host}).status_code == 200


ANSWERS_TO = "this server answers to 127.0.0.1, localhost, [::1]"


@pytest.mark.parametrize(
    ("host", "message"),
    [("evil.example", "this server does not answer to evil.example: it answers to 127.0.0.1, localhost, [::1]"),
     ("evil.example:8000", "this server does not answer to evil.example: it answers to 127.0.0.1, localhost, [::1]"),
     ("127.0.0.1.nip.io:8000",
      "this server does not answer to 127.0.0.1.nip.io: it answers to 127.0.0.1, localhost, [::1]"),
     ("[::2]:8000", "this server does not answer to [::2]: it answers to 127.0.0.1, localhost, [::1]"),
     ("", f"the request names no host (an empty Host header): {ANSWERS_TO}"),
     ("127.0.0.1:8000@evil.example",
      f"the Host header 127.0.0.1:8000@evil.example is not a host name with an optional port: {ANSWERS_TO}"),
     ("localhost:8000:80", f"the Host header localhost:8000:80 is not a host name with an optional port: {ANSWERS_TO}"),
     ("x" * 120, f"this server does not answer to {'x' * 100}...: it answers to 127.0.0.1, localhost, [::1]"),
     ("@" * 120, f"the Host header {'@' * 100}... is not a host name with an optional port: {ANSWERS_TO}")],
    ids=["name", "name_and_port", "rebound_name", "other_ip_literal", "empty", "userinfo", "two_ports", "long_name",
         "long_malformed"],
)  # fmt: skip
def test_another_host_gets_400_dns_rebinding_cannot_reach_the_api(client, host, message):
    for method, path in [("GET", "/get_raw_sales"), ("POST", "/post_sales"), ("GET", "/health")]:
        response = client.request(method, path, headers={"Host": host}, json=RECORD if method == "POST" else None)
        assert response.status_code == 400
        assert response.json() == {"error": "invalid_host", "message": message}
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-request-id"]
    assert stored(client) == 0


@pytest.mark.parametrize("second", ["evil.example", "127.0.0.1:8000"])
def test_two_host_headers_get_400_on_every_address(make_client, second):
    for client in (make_client(allowed_hosts=Security.default_hosts("127.0.0.1")), make_client()):
        response = client.get("/health", headers=[("Host", "127.0.0.1:8000"), ("Host", second)])
        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_host",
            "message": "the request has more than one Host header: HTTP/1.1 allows one",
        }


def test_other_repeated_headers_are_served(client):
    response = client.get("/health", headers=[("Accept", "text/html"), ("Accept", "application/json")])
    assert response.status_code == 200


def test_a_malformed_host_gets_400_on_every_address(make_client):
    response = make_client().get("/health", headers={"Host": "sales.example@evil.example"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_host",
        "message": "the Host header sales.example@evil.example is not a host name with an optional port",
    }


def test_the_allowed_hosts_are_named_in_the_refusal(make_client):
    client = make_client(allowed_hosts=("Sales.Example", "sales.internal"))
    assert client.get("/health", headers={"Host": "SALES.example:443"}).status_code == 200
    response = client.get("/health", headers={"Host": "127.0.0.1:8000"})
    assert response.json()["message"] == (
        "this server does not answer to 127.0.0.1: it answers to sales.example, sales.internal"
    )


@pytest.mark.parametrize("host", ["sales.internal:8000", "", "10.0.0.7", "app_1:8000", "[fe80::1%25eth0]:8000"])
def test_without_an_allow_list_any_host_is_served(make_client, host):
    assert make_client().get("/health", headers={"Host": host}).status_code == 200


def test_the_write_token_guards_posts_and_the_admin_token_everything_that_changes_data(make_client):
    client = make_client(write_token="w-secret", admin_token="a-secret")
    bearer = lambda token: {"Authorization": f"Bearer {token}"}  # noqa: E731
    refused = client.post("/post_sales", json=RECORD)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="vegsales"'
    assert refused.json() == {
        "error": "unauthorized",
        "message": "POST /post_sales needs a write token: Authorization: Bearer <token>",
    }
    assert client.post("/post_sales", json=RECORD, headers=bearer("w-secret-not")).status_code == 401
    assert client.post("/post_sales", json=RECORD, headers={"Authorization": "Basic w-secret"}).status_code == 401
    assert client.post("/post_sales", json=RECORD, headers=bearer("w-secret")).json()["inserted"] == 1
    assert client.post("/post_sales", json=RECORD, headers=bearer("a-secret")).json()["unchanged"] == 1
    admin_only = [("POST", "/init_database"), ("GET", "/init_database"), ("POST", "/replay_rejected")]
    for method, path in [*admin_only, ("POST", "/delete_sales")]:
        assert client.request(method, path, headers=bearer("w-secret"), json=RECORD).status_code == 401
        assert client.request(method, path, json=RECORD).status_code == 401
    assert stored(client) == 1  # reads need no token
    deleted = client.post("/delete_sales", json=RECORD, headers=bearer("a-secret")).json()
    assert (deleted["deleted"], stored(client)) == (1, 0)
    client.post("/post_sales", json=RECORD, headers=bearer("w-secret"))
    assert client.post("/replay_rejected", headers=bearer("a-secret")).status_code == 200
    assert client.post("/init_database", headers=bearer("a-secret")).status_code == 200
    assert stored(client) == 0


def test_an_admin_token_alone_leaves_posts_open(make_client):
    client = make_client(admin_token="a-secret")
    assert client.post("/post_sales", json=RECORD).status_code == 200
    assert client.post("/init_database").status_code == 401


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_pages_work_offline_and_carry_a_content_security_policy(client, page):
    response = client.get(page)
    assert response.status_code == 200
    assert re.findall(r"https?://", response.text) == []  # no CDN, no web fonts, no validator badge
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert assets and all(asset.startswith(("/static-offline-docs/", "/static/")) for asset in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200
    assert "<script>" not in response.text and "<style>" not in response.text  # scripts and styles from files only
    policy = response.headers["content-security-policy"]
    assert policy == (REDOC_POLICY if page == "/redoc" else PAGE_POLICY)
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in client.get("/get_raw_sales").headers  # JSON needs none
