"""The OpenAPI document tells the truth: what it says is checked here, and schemathesis holds every
endpoint's real answers to it."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from support.servers import ROOT, Server
from vegsales.api import create_app
from vegsales.storage.sqlite import SqliteStore

SEED = 20261201
EXAMPLES = 300  # per operation: about half a minute here


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    with TestClient(create_app(SqliteStore(tmp_path_factory.mktemp("openapi") / "sales.db"))) as client:
        return client.get("/openapi.json").json()


def test_date_is_a_string_or_an_integer_in_the_accepted_notations(document):
    record = document["paths"]["/post_sales"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    sale = record["anyOf"][0]["items"]["anyOf"][0]
    assert sale["required"] == ["date", "vegetable", "kilo_sold"]
    assert sale["additionalProperties"] is False
    date = sale["properties"]["date"]
    assert [(choice["type"], choice.get("pattern")) for choice in date["anyOf"]] == [
        ("string", r"^(19\d\d|2\d\d\d)-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])$"),
        ("string", r"^(19\d\d|2\d\d\d)-?[Ww](0[1-9]|[1-4]\d|5[0-3])(-?1)?$"),
        ("string", r"^(19\d\d|2\d\d\d)-?(0[1-9]|[1-4]\d|5[0-3])$"),
        ("integer", None),
    ]
    assert [choice["type"] for choice in sale["properties"]["kilo_sold"]["anyOf"]] == ["number", "string"]


def test_the_body_is_a_list_or_an_object_holding_only_data(document):
    body = document["paths"]["/post_sales"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    listed, envelope = body["anyOf"]
    assert (listed["type"], listed["maxItems"]) == ("array", 100_000)
    assert envelope == {
        "type": "object",
        "properties": {"data": listed},
        "required": ["data"],
        "additionalProperties": False,
    }


def test_every_answer_of_every_endpoint_is_documented(document):
    answers = {
        (path, method): sorted(operation["responses"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert answers == {
        ("/post_sales", "post"): ["200", "400", "413", "422", "503"],
        ("/get_raw_sales", "get"): ["200", "304", "400", "404", "406", "410", "503"],
        ("/get_weekly_sales", "get"): ["200", "304", "400", "404", "406", "410", "503"],
        ("/get_monthly_sales", "get"): ["200", "304", "400", "404", "406", "410", "503"],
        ("/delete_sales", "post"): ["200", "400", "413", "422", "503"],
        ("/init_database", "get"): ["200", "503"],
        ("/init_database", "post"): ["200", "503"],
        ("/get_rejected_sales", "get"): ["200", "400", "503"],
        ("/replay_rejected", "post"): ["200", "503"],
        ("/health", "get"): ["200", "503"],
        ("/get_data_quality", "get"): ["200", "503"],
        ("/metrics", "get"): ["200"],
        ("/resolve_vegetable", "get"): ["200", "400", "404"],
        ("/get_forecast", "get"): ["200", "400", "404", "410", "422", "501"],
        ("/get_history", "get"): ["200", "400", "503"],
    }


def test_remove_outliers_is_an_enum_of_the_accepted_words(document):
    parameters = document["paths"]["/get_monthly_sales"]["get"]["parameters"]
    (parameter,) = [parameter for parameter in parameters if parameter["name"] == "remove_outliers"]
    assert parameter["schema"]["enum"] == [
        "true", "True", "TRUE", "1", "yes", "Yes", "YES", "false", "False", "FALSE", "0", "no", "No", "NO",
    ]  # fmt: skip
    assert parameter["schema"]["default"] == "false"


def test_schemathesis_finds_nothing_against_a_real_server(tmp_path):
    """Every check, a fixed seed, a bounded budget: any finding fails with schemathesis's report."""
    schemathesis = shutil.which("st", path=str(Path(sys.executable).parent))
    assert schemathesis, "schemathesis is a dev dependency: make test installs it"
    with Server("app_sql.py", "--db", str(tmp_path / "sales.db")) as server:
        result = subprocess.run(
            [schemathesis, "--config-file", str(ROOT / "tests" / "schemathesis.toml"), "run",
             f"{server.url}/openapi.json", "--checks", "all", "--seed", str(SEED), "--max-examples", str(EXAMPLES),
             "--workers", "1", "--generation-database", "none", "--no-color"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-5_000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert generated and generated[1] == generated[2] and int(generated[1]) > 1000, result.stdout[-3_000:]
