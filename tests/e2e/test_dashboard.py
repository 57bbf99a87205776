"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against a real server
loaded with the sample data: what a person sees, and nothing fetched from elsewhere."""

import csv
import io
import os
import shutil
import urllib.request
from pathlib import Path

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


def monthly(server, vegetable: str, remove_outliers: bool, start: str = "", end: str = "") -> list[dict]:
    """The vegetable's rows of /get_monthly_sales from `start` to `end` (YYYY-MM, inclusive; "" an open end)."""
    _, rows = request(f"{server.url}/get_monthly_sales?remove_outliers={str(remove_outliers).lower()}")
    return [
        r
        for r in rows
        if r["vegetable"] == vegetable
        and (not start or r["year_month"] >= start)
        and (not end or r["year_month"] <= end)
    ]


def months_of(server, vegetable: str, remove_outliers: bool, start: str = "", end: str = "") -> list[list[str]]:
    return [
        [r["year_month"], format_kilos(r["kilo_sold"]), "outlier" if r["is_outlier"] else ""]
        for r in monthly(server, vegetable, remove_outliers, start, end)
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


def month_list(start: str, end: str) -> list[str]:
    """Every month from `start` to `end`, inclusive."""
    first, last = (int(m[:4]) * 12 + int(m[5:]) - 1 for m in (start, end))
    return [f"{i // 12}-{i % 12 + 1:02d}" for i in range(first, last + 1)]


def points_shown(page) -> list[str]:
    return page.locator("circle[data-month]").evaluate_all(
        "points => points.filter(p => p.checkVisibility()).map(p => p.dataset.month)"
    )


def set_range(page, start: str, end: str) -> None:
    page.get_by_label("From (month)").fill(start)
    page.get_by_label("to (month)").fill(end)


def test_a_month_range_restricts_the_table_chart_and_caption(page, server):
    page.goto(server.url + "/dashboard")
    page.wait_for_selector("circle[data-month]")
    set_range(page, "2020-07", "2020-12")
    expect(page.locator("#months tbody tr")).to_have_count(6)
    months = ["2020-07", "2020-08", "2020-09", "2020-10", "2020-11", "2020-12"]
    assert [row[0] for row in table(page, "#months")] == months
    assert table(page, "#months") == months_of(server, "carrot", False, "2020-07", "2020-12")
    assert page.locator("#chart-caption").text_content() == (
        "6 months of carrot, 2020-07 to 2020-12; outlier months: 2020-09"
    )
    assert points_shown(page) == months
    assert page.locator("svg .outlier-label").is_visible()
    # The sales line is cut at the first and last months of the range.
    clip = page.locator("#range-clip rect")
    left, width = float(clip.get_attribute("x")), float(clip.get_attribute("width"))
    first, last = (float(page.locator(f"circle[data-month='{m}']").get_attribute("cx")) for m in ("2020-07", "2020-12"))
    assert (abs(left - first) < 0.2, abs(left + width - last) < 0.2) == (True, True)
    assert page.locator("polyline.sales").get_attribute("clip-path") == "url(#range-clip)"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "dashboard-range.png"), full_page=False)

    page.get_by_label("From (month)").fill("")  # an open start: from the first month
    expect(page.locator("#months tbody tr")).to_have_count(12)
    assert [row[0] for row in table(page, "#months")] == month_list("2020-01", "2020-12")
    assert page.locator("#chart-caption").text_content() == (
        "12 months of carrot, up to 2020-12; outlier months: 2020-09"
    )
    assert points_shown(page) == month_list("2020-01", "2020-12")

    set_range(page, "2023-10", "")  # an open end: to the last month, the forecast after it kept
    expect(page.locator("#months tbody tr")).to_have_count(3)
    assert table(page, "#months") == months_of(server, "carrot", False, "2023-10")
    assert page.locator("#chart-caption").text_content() == "3 months of carrot, from 2023-10; no outlier month"
    expect(page.locator("svg polygon.band80")).to_have_count(1, timeout=30_000)
    assert points_shown(page) == ["2023-10", "2023-11", "2023-12"]  # the chart with the forecast, clipped too
    assert page.locator("svg polygon.band80").get_attribute("clip-path") == "url(#range-clip)"

    page.get_by_label("to (month)").fill("")
    page.get_by_label("From (month)").fill("")
    expect(page.locator("#months tbody tr")).to_have_count(48)
    assert table(page, "#months") == months_of(server, "carrot", False)
    assert len(points_shown(page)) == 48
    assert not page.problems


def downloaded(page) -> bytes:
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    assert info.value.suggested_filename == "monthly_sales.csv"
    return Path(info.value.path()).read_bytes()


def assert_csv_is(data: bytes, rows: list[dict]) -> None:
    """The file holds exactly `rows`, in order, every kilo to the last digit of its double."""
    text = data.decode()
    assert text.startswith("year_month,vegetable,kilo_sold,is_outlier\r\n")
    assert text.endswith("\r\n") and text.count("\n") == text.count("\r\n") == len(rows) + 1
    header, *records = csv.reader(io.StringIO(text, newline=""))
    assert header == ["year_month", "vegetable", "kilo_sold", "is_outlier"]
    assert [[r[0], r[1], float(r[2]), r[3]] for r in records] == [
        [r["year_month"], r["vegetable"], r["kilo_sold"], "true" if r["is_outlier"] else "false"] for r in rows
    ]
    # Python's shortest repr is JavaScript's for numbers from 1e-4 to 1e16, less a trailing ".0".
    assert all(1e-4 <= r["kilo_sold"] < 1e16 for r in rows)
    assert [r[2] for r in records] == [repr(r["kilo_sold"]).removesuffix(".0") for r in rows]


def test_the_download_is_the_csv_of_the_months_shown(page, server):
    page.goto(server.url + "/dashboard")
    page.wait_for_selector("circle[data-month]")
    set_range(page, "2020-06", "2021-02")
    expect(page.locator("#months tbody tr")).to_have_count(9)
    data = downloaded(page)
    expected = monthly(server, "carrot", False, "2020-06", "2021-02")
    assert [r["year_month"] for r in expected] == month_list("2020-06", "2021-02")
    assert_csv_is(data, expected)
    assert b"\r\n2020-09,carrot," in data and data.count(b",true\r\n") == 1

    page.get_by_label("leave out outlier months").check()
    expect(page.locator("#months tbody tr")).to_have_count(8)
    data = downloaded(page)
    assert_csv_is(data, monthly(server, "carrot", True, "2020-06", "2021-02"))
    assert b"2020-09" not in data and b",true" not in data

    page.get_by_label("leave out outlier months").uncheck()
    page.get_by_label("Vegetable (any spelling)").fill("tomatto")
    page.keyboard.press("Enter")
    expect(page.locator("#canonical")).to_have_text("shown as: tomato")
    set_range(page, "2022-05", "")
    expect(page.locator("#months tbody tr")).to_have_count(20)
    data = downloaded(page)
    expected = monthly(server, "tomato", False, "2022-05")
    assert [r["year_month"] for r in expected] == month_list("2022-05", "2023-12")
    assert [r["year_month"] for r in expected if r["is_outlier"]] == ["2022-07"]
    assert_csv_is(data, expected)
    assert [row[0] for row in table(page, "#months")] == month_list("2022-05", "2023-12")
    assert not page.problems
    assert all(url.startswith((server.url + "/", f"blob:{server.url}/")) for url in page.requests), page.requests


def test_a_range_that_ends_before_it_starts_shows_a_message_and_no_months(page, server):
    page.goto(server.url + "/dashboard")
    page.wait_for_selector("circle[data-month]")
    set_range(page, "2022-06", "2021-03")
    expect(page.locator("#range-message")).to_have_text(
        'No months to show: from 2022-06 is after to 2021-03. Pick a "from" month no later than the "to" month.'
    )
    expect(page.locator("#chart")).to_be_hidden()
    expect(page.locator("#months")).to_be_hidden()
    assert table(page, "#months") == []
    assert page.locator("#chart-caption").text_content() == ""
    expect(page.get_by_role("button", name="Download CSV")).to_be_disabled()
    assert page.get_by_label("From (month)").get_attribute("aria-invalid") == "true"

    page.get_by_label("to (month)").fill("2022-08")
    expect(page.locator("#range-message")).to_have_text("")
    expect(page.locator("#months tbody tr")).to_have_count(3)
    assert table(page, "#months") == months_of(server, "carrot", False, "2022-06", "2022-08")
    assert points_shown(page) == ["2022-06", "2022-07", "2022-08"]
    expect(page.get_by_role("button", name="Download CSV")).to_be_enabled()
    assert not page.problems


CSV_FIELDS = [
    ("carrot", "carrot"),
    ("brussels sprout", "brussels sprout"),
    ("", ""),
    (" padded ", " padded "),
    ("a,b", '"a,b"'),
    ('say "hi"', '"say ""hi"""'),
    ("two\nlines", '"two\nlines"'),
    ("cr\rlf", '"cr\rlf"'),
]


def test_csv_fields_are_quoted_as_rfc_4180_says(page, server):
    page.goto(server.url + "/dashboard")
    page.wait_for_selector("circle[data-month]")
    fields = [field for field, _ in CSV_FIELDS]
    assert page.evaluate("fields => fields.map(csvField)", fields) == [quoted for _, quoted in CSV_FIELDS]
    row = {"year_month": "2020-01", "vegetable": 'a,"b"', "kilo_sold": 0.1 + 0.2, "is_outlier": False}
    assert page.evaluate("row => csvOf([row])", row) == (
        'year_month,vegetable,kilo_sold,is_outlier\r\n2020-01,"a,""b""",0.30000000000000004,false\r\n'
    )
