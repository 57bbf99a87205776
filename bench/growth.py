"""How request latency grows with the number of stored rows.

python -m bench.growth --backend sqlite --rows 3000 30000 300000 [--before COMMIT ...] [--out FILE]

For each size: a fresh server process (python app_sql.py / app_csv.py) on a temporary store,
loaded with synthetic weekly sales (30 vegetables, 10 raw spellings each, as many weeks as
needed), then, over one keep-alive connection, sequential requests:
- POST of one record updating an existing row (the common case under load);
- GET /get_raw_sales and GET /get_monthly_sales right after such a post (so the cached JSON
  must be brought up to date first: the worst case for a read).
Prints and writes medians and 95th percentiles in milliseconds.
"""

import argparse
import datetime as dt
import http.client
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import checkout, cpu_seconds
from tests.servers import ROOT, Server

VEGETABLES = {
    "tomato": "Tomate", "potato": "Patata", "carrot": "Carotte", "onion": "Oignon", "pear": "Poire",
    "apple": "Manzana", "brussels sprout": "Brussel Sprout", "bell pepper": "Poivron", "cucumber": "Pepino",
    "zucchini": "Courgette", "eggplant": "Aubergine", "leek": "Poireau", "cauliflower": "Chou-fleur",
    "cabbage": "Repollo", "broccoli": "Brocoli", "garlic": "Garlic", "lettuce": "Laitue", "spinach": "Espinaca",
    "pea": "Guisante", "green bean": "Haricot vert", "pumpkin": "Calabaza", "radish": "Radis",
    "beetroot": "Betterave", "celery": "Apio", "asparagus": "Asperge", "artichoke": "Alcachofa",
    "turnip": "Navet", "sweet potato": "Batata", "mushroom": "Champignon", "corn": "Elote",
}  # fmt: skip
SPELLINGS_PER_VEGETABLE = 10


def spellings(per_vegetable: int = 32) -> list[str]:
    """Distinct raw names: each vegetable's name in up to `per_vegetable` casings (all map to it)."""
    names = []
    for name in VEGETABLES.values():
        casings = {
            "".join(c.upper() if variant >> i & 1 else c.lower() for i, c in enumerate(name))
            for variant in range(2 ** len(name))
        }
        names += sorted(casings)[:per_vegetable]
    return names


def synthetic_rows(count: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    names = spellings(SPELLINGS_PER_VEGETABLE)
    weeks = -(-count // len(names))
    first = dt.date(2000, 1, 3)
    rows = []
    for week in range(weeks):
        date = (first + dt.timedelta(days=7 * week)).isoformat()
        for name in names:
            rows.append({"date": date, "vegetable": name, "kilo_sold": round(rng.uniform(10, 2000), 1)})
    return rows[:count]


class Connection:
    def __init__(self, port: int):
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: object = None) -> tuple[int, bytes, float]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        start = time.perf_counter()
        self.http.request(method, path, body=data, headers=headers)
        response = self.http.getresponse()
        payload = response.read()
        return response.status, payload, time.perf_counter() - start


def measure(backend: str, count: int, repeat: int, root: Path = ROOT) -> dict[str, tuple[list[float], float]]:
    """Per request type: each request's latency (seconds), and the server's CPU time per request."""
    rows = synthetic_rows(count)
    with tempfile.TemporaryDirectory() as folder:
        script, flag, target = {
            "sqlite": ("app_sql.py", "--db", f"{folder}/sales.db"),
            "csv": ("app_csv.py", "--data-dir", f"{folder}/csv"),
        }[backend]
        python_path = {"PYTHONPATH": str(root / "src")} if root != ROOT else {}
        with Server(script, flag, target, root=root, env=python_path) as server:
            connection = Connection(server.port)
            for start in range(0, len(rows), 50_000):
                status, payload, _ = connection.call("POST", "/post_sales", rows[start : start + 50_000])
                assert status == 200, payload[:300]
            status, payload, _ = connection.call("GET", "/get_raw_sales")
            assert status == 200 and len(json.loads(payload)) == count
            rng = random.Random(2)

            def post() -> float:
                record = dict(rng.choice(rows), kilo_sold=round(rng.uniform(10, 2000), 1))
                status, payload, seconds = connection.call("POST", "/post_sales", [record])
                assert status == 200 and json.loads(payload)["updated"] == 1, payload
                return seconds

            def get(path: str) -> float:
                status, _, seconds = connection.call("GET", path)
                assert status == 200
                return seconds

            pid = server.process.pid
            results: dict[str, tuple[list[float], float]] = {}
            before = cpu_seconds(pid)
            posts = [post() for _ in range(repeat)]
            post_cpu = (cpu_seconds(pid) - before) / repeat
            results["post"] = (posts, post_cpu)
            for path in ("/get_raw_sales", "/get_monthly_sales"):
                before, latencies = cpu_seconds(pid), []
                for _ in range(repeat // 4):
                    post()
                    latencies.append(get(path))
                results[path.strip("/")] = (latencies, (cpu_seconds(pid) - before) / (repeat // 4) - post_cpu)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "csv"), default="sqlite")
    parser.add_argument("--rows", type=int, nargs="+", default=[3_000, 30_000, 300_000])
    parser.add_argument("--repeat", type=int, default=400)
    parser.add_argument("--before", nargs="*", default=[], metavar="COMMIT", help="also the service at COMMIT")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    lines = [
        f"### {args.backend}: latency (ms) and server CPU time (µs) per request, by bronze rows stored",
        "",
        "| bronze rows | version | POST one record | GET /get_raw_sales | GET /get_monthly_sales |",
        "|---:|---|---:|---:|---:|",
        "|  |  | ms median / p95; CPU µs | after a post: ms median / p95; CPU µs | after a post: ms; CPU µs |",
    ]
    with tempfile.TemporaryDirectory() as folder:
        trees = {"this one": ROOT, **{f"@{commit}": checkout(commit, Path(folder)) for commit in args.before}}
        for count in args.rows:
            for version, root in trees.items():
                timings = measure(args.backend, count, args.repeat, root)
                cells = [
                    f"{statistics.median(t) * 1e3:.2f} / {statistics.quantiles(t, n=20)[-1] * 1e3:.2f};"
                    f" {cpu * 1e6:,.0f}"
                    for t, cpu in timings.values()
                ]
                lines.append(f"| {count:,} | {version} | " + " | ".join(cells) + " |")
                print(lines[-1], flush=True)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
