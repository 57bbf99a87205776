"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against a real server
loaded with the sample data: what a person sees, and nothing fetched from elsewhere."""

import os
import shutil
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.servers import ROOT, Server, request
from tests.e2e.test_cli import SAMPLE, run

CHROMIUM = os.environ.get("VEGSALES_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARTEFACTS = ROOT / "build" / "test-artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]  # fmt: skip

if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("no Chromium found (apt-get install chromium); these tests run in CI", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
expect = playwright.expect


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server("app_sql.py", "--db", str(tmp_path_factory.mktemp("dashboard") / "sales.db")) as running:
        assert run("import", SAMPLE, "--url", running.url).exit_code == 0
        yield running


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM, "CI must run the browser tests: .ci/run installs Debian's chromium"
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1100, "height": 1300})
    page = context.new_page()
    page.requests, page.problems = [], []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("console", lambda m: page.problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    yield page
    context.close()


def months_of(server, vegetable: str, remove_outliers: bool) -> list[list[str]]:
    _, rows = request(f"{server.url}/get_monthly_sales?remove_outliers={str(remove_outliers).lower()}")
    return [
        [r["year_month"], format_kilos(r["kilo_sold"]), "outlier" if r["is_outlier"] else ""]
        for r in rows
        if r["vegetable"] == vegetable
    ]


def format_kilos(value: float) -> str:
    """As the page writes them: en grouping, at most one decimal."""
    text = f"{round(value, 1):,.1f}"
    return text[:-2] if text.endswith(".0") else text


def table(page, selector: str) -> list[list[str]]:
    return page.locator(f"{selector} tbody tr").evaluate_all(
        "rows => rows.map(row => [...row.cells].map(cell => cell.textContent))"
    )


def test_the_carrot_chart_table_and_outlier_toggle(page, server):
    page.goto(server.url + "/")
    page.wait_for_selector("circle[data-month]")
    assert page.locator("circle[data-month]").count() == 48
    outlier = page.locator("circle.outlier[data-month]")
    assert (outlier.count(), outlier.get_attribute("data-month")) == (1, "2020-09")
    assert page.locator("svg .outlier-label").text_content() == "outlier Sep 2020"
    assert page.locator("#canonical").text_content() == "shown as: carrot"
    assert table(page, "#months") == months_of(server, "carrot", False)
    drawn = page.evaluate("performance.getEntriesByName('chart-drawn')[0].startTime")
    assert drawn < 3000  # ms from navigation to the chart (about 150-400 ms here when quiet)
    expect(page.locator("svg polygon.band80")).to_have_count(1, timeout=30_000)  # then the forecast's bands
    expect(page.locator("svg polygon.band95")).to_have_count(1)
    expect(page.locator("#forecast-note")).to_have_text("Forecast: ETS(M,Ad,M) season 12, trained on 48 months")
    assert page.locator("circle[data-month]").count() == 48
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "dashboard.png"), full_page=False)

    page.get_by_label("leave out outlier months").check()
    expect(page.locator("circle[data-month]")).to_have_count(47)
    assert page.locator("circle.outlier[data-month]").count() == 0
    assert table(page, "#months") == months_of(server, "carrot", True)
    assert not page.problems
    assert all(url.startswith(server.url + "/") for url in page.requests), page.requests


def test_any_spelling_is_shown_under_its_canonical_name(page, server):
    page.goto(server.url + "/dashboard")
    page.wait_for_selector("circle[data-month]")
    page.get_by_label("Vegetable (any spelling)").fill("Zanahoria")
    page.keyboard.press("Enter")
    expect(page.locator("#canonical")).to_have_text("shown as: carrot")
    page.get_by_label("Vegetable (any spelling)").fill("poireau")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#canonical")).to_have_text("shown as: leek")
    expect(page.locator("circle.outlier[data-month]")).to_have_attribute("data-month", "2023-01")
    page.get_by_label("Vegetable (any spelling)").fill("mango")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("unknown vegetable 'mango'")
    # The only console line: the browser's own note of the 404 that answered "mango".
    assert page.problems == ["Failed to load resource: the server responded with a status of 404 (Not Found)"]


def test_the_rejected_view_lists_the_samples_24_rejected_rows(page, server):
    page.goto(server.url + "/#rejected")
    page.wait_for_selector("#rejected tbody tr")
    rows = table(page, "#rejected")
    assert len(rows) == 24
    assert any('"2020-06-31"' in row[2] and "is not a real calendar date" in row[3] for row in rows)
    assert page.locator("#rejected-summary").text_content().startswith("24 of 24 rejected records shown")
    assert [row[0] for row in table(page, "#quality")] == [
        "brussels sprout", "cabbage", "carrot", "cauliflower", "garlic", "leek", "lettuce", "onion", "pear",
        "potato", "tomato", "zucchini",
    ]  # fmt: skip
    page.keyboard.press("Tab")  # the views are reachable with the keyboard
    assert page.evaluate("document.activeElement.textContent") == "Monthly sales"
    assert not page.problems
    assert all(url.startswith(server.url + "/") for url in page.requests), page.requests


def not_modified(server) -> float:
    """How many 304s the server answered for /get_monthly_sales (from its /metrics)."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "vegsales_http_requests_total"
        and sample.labels == {"route": "/get_monthly_sales", "method": "GET", "status": "304"}
    )


def test_a_refresh_of_unchanged_data_costs_a_304(page, server):
    page.goto(server.url + "/")
    page.wait_for_selector("circle[data-month]")
    before = not_modified(server)
    page.reload()
    page.wait_for_selector("circle[data-month]")
    assert not_modified(server) - before == 2  # both variants, revalidated by the browser's own cache
