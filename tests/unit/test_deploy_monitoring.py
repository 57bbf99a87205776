"""deploy/prometheus.yml and deploy/alerts.yml: valid for Prometheus, and about metrics the service exports."""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from vegsales.api import create_app
from vegsales.storage.sqlite import SqliteStore

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = shutil.which("promtool")


@pytest.mark.parametrize(
    "command",
    [
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],  # the alerts fire on made-up series as they should
    ],
)
def test_promtool_accepts_the_files(command):
    if PROMTOOL is None:  # Debian's `prometheus` package brings it (.ci/run installs it): else the structure
        assert not os.environ.get("CI"), "CI must check the rules with promtool: .ci/run installs prometheus"
        validate_without_promtool()
        return
    result = subprocess.run([PROMTOOL, *command], cwd=DEPLOY, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def validate_without_promtool() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = config["scrape_configs"]
    assert (job["job_name"], job["metrics_path"]) == ("vegsales", "/metrics")
    for rule in yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}


def test_every_metric_the_alerts_use_is_exported():
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]
    used = {name for rule in rules for name in re.findall(r"vegsales_[a-z_]+", rule["expr"])}
    assert used == {
        "vegsales_records_total",
        "vegsales_last_stored_post_timestamp_seconds",
        "vegsales_latest_week_robust_z",
        "vegsales_http_requests_total",
    }
    with tempfile.TemporaryDirectory() as folder, TestClient(create_app(SqliteStore(f"{folder}/s.db"))) as client:
        client.post("/post_sales", json=[{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 1}])
        exported = set(re.findall(r"^(vegsales_[a-z_]+)", client.get("/metrics").text, re.MULTILINE))
    assert used <= exported
    assert {rule["alert"] for rule in rules} == {
        "VegsalesHighRejectionShare",
        "VegsalesNoPostForADay",
        "VegsalesLatestWeekFarFromHistory",
        "VegsalesServerErrors",
    }
