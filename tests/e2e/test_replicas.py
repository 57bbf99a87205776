"""Two API processes on one PostgreSQL database: read-your-writes across replicas, no lost update."""

import datetime as dt
import random
import threading

import pytest

from support.servers import Server, request


@pytest.fixture
def replicas(postgres_url):
    with Server("app_sql.py", "--db", postgres_url) as first, Server("app_sql.py", "--db", postgres_url) as second:
        yield first, second


def test_a_post_on_one_replica_is_read_at_once_on_the_other(replicas):
    first, second = replicas
    for week in range(40):
        date = f"2021-{week // 4 + 1:02d}-{week % 4 * 7 + 1:02d}"
        writer, reader = (first, second) if week % 2 else (second, first)
        status, _ = request(
            f"{writer.url}/post_sales", "POST", [{"date": date, "vegetable": "Tomate", "kilo_sold": week}]
        )
        assert status == 200
        raw = request(f"{reader.url}/get_raw_sales")[1]
        assert raw[-1] == {"date": date, "vegetable": "Tomate", "kilo_sold": float(week)}
        gold = request(f"{reader.url}/get_monthly_sales")[1]
        assert sum(row["kilo_sold"] for row in gold) == pytest.approx(sum(range(week + 1)), abs=1e-9)


def test_concurrent_posts_on_both_replicas_lose_nothing(replicas):
    first, second = replicas
    names = ["Tomate", "tomatto", "tomato"]
    weeks = [
        f"2022-{month:02d}-{day:02d}" for month in (1, 2, 3) for day in (3, 10, 17, 24, 31) if (month, day) != (2, 31)
    ]
    acknowledged: dict[tuple[str, str], set[float]] = {}
    statuses: list[int] = []
    lock = threading.Lock()

    def post_many(server: Server, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(60):
            batch = [
                {"date": rng.choice(weeks), "vegetable": rng.choice(names), "kilo_sold": float(rng.randint(0, 10_000))}
                for _ in range(rng.randint(1, 4))
            ]
            status, _ = request(f"{server.url}/post_sales", "POST", batch)
            with lock:
                statuses.append(status)
            if status == 200:
                with lock:
                    for record in batch:
                        acknowledged.setdefault((record["date"], record["vegetable"]), set()).add(record["kilo_sold"])

    threads = [
        threading.Thread(target=post_many, args=(server, seed)) for seed, server in enumerate([first, second] * 3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 360  # a replica that refused every post must not pass as "nothing lost"
    raw = request(f"{first.url}/get_raw_sales")[1]
    stored = {(row["date"], row["vegetable"]): row["kilo_sold"] for row in raw}
    assert stored.keys() == acknowledged.keys() == {(week, name) for week in weeks for name in names}
    assert all(stored[key] in kilos for key, kilos in acknowledged.items())
    for server in (first, second):
        gold = {row["year_month"]: row["kilo_sold"] for row in request(f"{server.url}/get_monthly_sales")[1]}
        assert gold == pytest.approx(monthly_by_days(stored), abs=1e-6)


def monthly_by_days(weekly: dict[tuple[str, str], float]) -> dict[str, float]:
    """The oracle: each week (dated by its Monday) spreads its kilos evenly over its seven days, and
    each day's share goes to its calendar month (every name here is a spelling of tomato)."""
    months: dict[str, float] = {}
    for (monday, _name), kilos in weekly.items():
        for offset in range(7):
            day = dt.date.fromisoformat(monday) + dt.timedelta(days=offset)
            months[f"{day:%Y-%m}"] = months.get(f"{day:%Y-%m}", 0.0) + kilos / 7
    return months
