"""The load test keeps working: bench/locustfile.py for 10 s at a low rate, no failed request.

It does not judge speed (`make bench` does); it fails if the locustfile, the sample data or an
endpoint's reply shape drifts.
"""

import csv
import os
import subprocess
import sys

from support.servers import ROOT, Server
from vegsales.cli import read_sales_csv
from vegsales.client import SalesClient


def test_locust_mix_runs_without_a_failure(tmp_path):
    with Server("app_sql.py", "--db", str(tmp_path / "sales.db")) as server:
        _, records = read_sales_csv(ROOT / "data" / "sample_sales.csv", console=None)
        with SalesClient(server.url) as client:
            client.post(records)
        env = {**os.environ, "VEGSALES_RATE": "40", "VEGSALES_USERS": "4"}
        command = [
            sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--host", server.url,
            "--headless", "--users", "4", "--spawn-rate", "4", "--run-time", "10s",
            "--csv", str(tmp_path / "smoke"), "--only-summary", "--loglevel", "WARNING",
        ]  # fmt: skip
        finished = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    with open(tmp_path / "smoke_stats.csv", newline="") as file:
        stats = {row["Name"]: row for row in csv.DictReader(file)}
    total = stats["Aggregated"]
    assert int(total["Failure Count"]) == 0, finished.stderr[-2000:]
    assert int(total["Request Count"]) > 200
    assert {"/post_sales", "/get_raw_sales", "/get_monthly_sales"} <= stats.keys()
    assert finished.returncode == 0, finished.stderr[-2000:]
