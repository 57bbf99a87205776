"""Many posts at once, on every backend: nothing lost, nothing doubled, every report right."""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from tests import oracle
from tests.conftest import one_sale_a_month, sale
from vegsales.rows import GoldRow

CLIENTS, POSTS_EACH = 12, 10
MONTHLY = (
    one_sale_a_month("Pommes de terre", 31)  # its last month an outlier: 5.39 standard deviations
    + one_sale_a_month("chou-fleur", 22)  # not one: 4.48
    + one_sale_a_month("ail", 67, last=100.0)  # equal months: none above the mean
)
"""One sale a month of three vegetables, one for each post."""
CANONICAL = {
    "Tomate": "tomato",
    "Poire": "pear",
    "Pommes de terre": "potato",
    "chou-fleur": "cauliflower",
    "ail": "garlic",
}


def week(number: int) -> str:
    return (dt.date(2020, 1, 6) + dt.timedelta(weeks=number)).isoformat()


def test_concurrent_posts_lose_nothing_and_report_each_record(client):
    # Client c posts its own weeks and months (inserted), then one record every client shares
    # (inserted once in all, updated or unchanged otherwise), then one invalid record (quarantined).
    assert len(MONTHLY) == CLIENTS * POSTS_EACH

    def run(c: int) -> list[dict]:
        reports = []
        for p in range(POSTS_EACH):
            records = [
                sale(week(c * POSTS_EACH + p), "Tomate", c + 1),
                MONTHLY[c * POSTS_EACH + p],
                sale(week(500), "Poire", 7),
                sale("x", "Tomate", c),
            ]
            response = client.post("/post_sales", json=records)
            assert response.status_code == 200, response.text
            reports.append(response.json())
        return reports

    with ThreadPoolExecutor(CLIENTS) as pool:
        reports = [report for reports in pool.map(run, range(CLIENTS)) for report in reports]

    assert all((r["received"], len(r["rejected"]), r["rejected"][0]["index"]) == (4, 1, 3) for r in reports)
    assert all(r["inserted"] + r["updated"] + r["unchanged"] == 3 for r in reports)
    assert sum(r["inserted"] for r in reports) == 2 * CLIENTS * POSTS_EACH + 1  # own ones, and the shared one once
    assert sum(r["unchanged"] for r in reports) == CLIENTS * POSTS_EACH - 1
    raw = client.get("/get_raw_sales").json()
    assert len(raw) == 2 * CLIENTS * POSTS_EACH + 1
    expected = {(week(c * POSTS_EACH + p), "Tomate"): c + 1.0 for c in range(CLIENTS) for p in range(POSTS_EACH)}
    expected |= {(r["date"], r["vegetable"]): r["kilo_sold"] for r in MONTHLY} | {(week(500), "Poire"): 7.0}
    assert {(r["date"], r["vegetable"]): r["kilo_sold"] for r in raw} == expected
    gold = oracle.gold((date, CANONICAL[name], kilos) for (date, name), kilos in expected.items())
    oracle.assert_gold_equals([GoldRow(**row) for row in client.get("/get_monthly_sales").json()], gold)
    assert [(month, vegetable) for month, vegetable, _, outlier in gold if outlier] == [("2012-07", "potato")]
    quarantine = client.get("/get_rejected_sales").json()
    assert sorted(row["times"] for row in quarantine["rows"]) == [POSTS_EACH] * CLIENTS
