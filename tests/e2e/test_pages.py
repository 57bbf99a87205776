"""The pages under their Content-Security-Policy, in a real browser: the docs, ReDoc and the
dashboard run only the server's own scripts, and nothing the policy refuses is needed to draw them."""

# ruff: noqa: F811 - the tests take as arguments the fixtures imported from the dashboard's tests
import urllib.request

import pytest

from tests.e2e.test_dashboard import browser, page, server  # noqa: F401

STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
REDOC = STRICT.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
SVG = "default-src 'none'; frame-ancestors 'none'"


def headers_of(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return {name.lower(): value for name, value in response.headers.items()}


@pytest.mark.parametrize(
    ("path", "policy"),
    [("/docs", STRICT), ("/dashboard", STRICT), ("/", STRICT), ("/redoc", REDOC),
     ("/dashboard/chart.svg?vegetable=carrot", SVG)],
)  # fmt: skip
def test_each_document_is_served_with_its_policy(server, path, policy):
    headers = headers_of(server.url + path)
    assert headers["content-security-policy"] == policy
    assert (headers["x-content-type-options"], len(headers["x-request-id"])) == ("nosniff", 32)
    if policy != SVG:
        assert (headers["x-frame-options"], headers["referrer-policy"]) == ("DENY", "no-referrer")


def test_swagger_ui_draws_every_operation_under_the_strict_policy(page, server):
    page.goto(server.url + "/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").evaluate_all("nodes => nodes.map(n => n.textContent)")
    assert {"/post_sales", "/get_raw_sales", "/get_monthly_sales"} <= set(paths)
    assert [problem for problem in page.problems if "Content Security Policy" in problem] == []
    assert all(url.startswith(server.url) for url in page.requests)


def test_redoc_draws_the_api_under_its_policy(page, server):
    page.goto(server.url + "/redoc")
    page.wait_for_selector("text=get_monthly_sales", timeout=20_000)
    refused = [problem for problem in page.problems if "Content Security Policy" in problem]
    # ReDoc's badge would come from Redocly's CDN: the policy refuses it, and the page needs nothing else.
    refused_url = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert [problem.split("'")[1] for problem in refused] == [refused_url]
    # Chromium reports the refused badge as a request too, one that never left (refused above).
    assert [url for url in page.requests if not url.startswith((server.url, "blob:"))] == [refused_url]


def test_an_inline_script_is_refused_on_the_pages(page, server):
    """The policy is enforced, not only sent: a script written into the page does not run."""
    page.goto(server.url + "/dashboard")
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.injected = true'; document.head.appendChild(s); }""")
    assert page.evaluate("() => window.injected === true") is False
    assert any("Content Security Policy" in problem for problem in page.problems)
