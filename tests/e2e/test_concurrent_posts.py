"""Many posts at once, on every backend: nothing lost, nothing doubled, every report right."""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import bronze, sale
from vegsales.pipeline import gold_from_bronze
from vegsales.rows import GoldRow
from vegsales.vegetables import Vocabulary

CLIENTS, POSTS_EACH = 12, 10


def week(number: int) -> str:
    return (dt.date(2020, 1, 6) + dt.timedelta(weeks=number)).isoformat()


def test_concurrent_posts_lose_nothing_and_report_each_record(client):
    # Client c posts its own weeks (inserted), then one record every client shares (inserted once
    # in all, updated or unchanged otherwise), then one invalid record (quarantined).
    def run(c: int) -> list[dict]:
        reports = []
        for p in range(POSTS_EACH):
            records = [
                sale(week(c * POSTS_EACH + p), "Tomate", c + 1),
                sale(week(500), "Poire", 7),
                sale("x", "Tomate", c),
            ]
            response = client.post("/post_sales", json=records)
            assert response.status_code == 200, response.text
            reports.append(response.json())
        return reports

    with ThreadPoolExecutor(CLIENTS) as pool:
        reports = [report for reports in pool.map(run, range(CLIENTS)) for report in reports]

    assert all((r["received"], len(r["rejected"]), r["rejected"][0]["index"]) == (3, 1, 2) for r in reports)
    assert all(r["inserted"] + r["updated"] + r["unchanged"] == 2 for r in reports)
    assert sum(r["inserted"] for r in reports) == CLIENTS * POSTS_EACH + 1  # own weeks, and the shared one once
    assert sum(r["unchanged"] for r in reports) == CLIENTS * POSTS_EACH - 1
    raw = client.get("/get_raw_sales").json()
    assert len(raw) == CLIENTS * POSTS_EACH + 1
    expected = {(week(c * POSTS_EACH + p), "Tomate"): c + 1.0 for c in range(CLIENTS) for p in range(POSTS_EACH)}
    assert {(r["date"], r["vegetable"]): r["kilo_sold"] for r in raw} == expected | {(week(500), "Poire"): 7.0}
    gold = [GoldRow(**row) for row in client.get("/get_monthly_sales").json()]
    assert gold == gold_from_bronze([bronze(r["date"], r["vegetable"], r["kilo_sold"]) for r in raw], Vocabulary.load())
    quarantine = client.get("/get_rejected_sales").json()
    assert sorted(row["times"] for row in quarantine["rows"]) == [POSTS_EACH] * CLIENTS
