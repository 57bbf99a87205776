"""Reads as of an earlier data version, on every backend: a seeded random run of posts, corrections,
deletions, replays, a vocabulary change with a restart and an init, whose every answer is read back
later by `as_of`, byte for byte."""

import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import sale
from vegsales.api import create_app
from vegsales.pipeline import sync_with_rules
from vegsales.silver import FeedRules
from vegsales.vegetables import Vocabulary

READS = ("/get_raw_sales", "/get_monthly_sales", "/get_monthly_sales?remove_outliers=true")
NAMES = ("Tomate", "tomato", "Jitomate", "carotte", "Zanahoria", "carrot", "Poire", "pera")
NEW_NAME = "Chayote"
"""Unknown to the bundled vocabulary: quarantined until the vocabulary learns it."""
BUNDLED = Path(__file__).resolve().parents[2] / "src" / "vegsales" / "vegetables.toml"
WEEKS = [f"2020-W{week:02d}" for week in range(1, 53)] + [f"2021-W{week:02d}" for week in range(1, 20)]

Answers = dict[int, tuple[bytes, ...]]


def read_all(client: TestClient, suffix: str = "") -> tuple[int, tuple[bytes, ...]]:
    """The three reads' bodies, and the one data version they all name."""
    responses = [client.get(path + ("&" if "?" in path else "?") + suffix if suffix else path) for path in READS]
    assert [response.status_code for response in responses] == [200] * 3, [r.text for r in responses]
    (version,) = {response.headers["X-Data-Version"] for response in responses}
    return int(version), tuple(response.content for response in responses)


def record(client: TestClient, answers: Answers) -> int:
    version, bodies = read_all(client)
    assert answers.setdefault(version, bodies) == bodies, f"version {version} answered two different states"
    return version


def random_step(client: TestClient, rng: random.Random) -> None:
    """A post of new weeks, a correction, a deletion, or a record of a name the bundled vocabulary
    does not know (quarantined, then stored once the vocabulary learns it)."""
    kind = rng.choices(["post", "correct", "delete", "unknown"], weights=[5, 3, 2, 1])[0]
    stored = client.get("/get_raw_sales").json()
    if kind == "correct" and stored:
        row = rng.choice(stored)
        response = client.post("/post_sales", json=[sale(row["date"], row["vegetable"], rng.randint(1, 500))])
    elif kind == "delete" and stored:
        keys = [{"date": row["date"], "vegetable": row["vegetable"]} for row in rng.sample(stored, min(2, len(stored)))]
        response = client.post("/delete_sales", json=keys)
        assert response.json()["deleted"] == len(keys), response.text
    elif kind == "unknown":
        response = client.post("/post_sales", json=[sale(rng.choice(WEEKS), NEW_NAME, rng.randint(1, 50))])
    else:
        records = [sale(rng.choice(WEEKS), rng.choice(NAMES), rng.randint(1, 500)) for _ in range(rng.randint(1, 6))]
        # one outlier now and then, so that flags change with later months
        if rng.random() < 0.2:
            records.append(sale(rng.choice(WEEKS), rng.choice(NAMES), 1_000_000))
        response = client.post("/post_sales", json=records)
    assert response.status_code in (200, 422), response.text


def check_every_version(client: TestClient, answers: Answers, gone_before: int) -> None:
    for version, bodies in sorted(answers.items()):
        if version < gone_before:
            response = client.get(f"/get_raw_sales?as_of={version}")
            assert (response.status_code, response.json()["error"]) == (410, "version_gone")
            assert response.json()["oldest"] == gone_before
            continue
        as_of_version, as_of_bodies = read_all(client, f"as_of={version}")
        assert as_of_version == version
        assert as_of_bodies == bodies, f"as_of={version} is not what version {version} answered"


@pytest.mark.parametrize("seed", [1, 2])
def test_as_of_every_version_answers_what_that_version_answered(make_store, tmp_path: Path, seed: int):
    rng = random.Random(seed)
    answers: Answers = {}
    with TestClient(create_app(make_store())) as client:
        for _ in range(12):
            random_step(client, rng)
            record(client, answers)
        before_init = max(answers)
        assert client.post("/init_database").status_code == 200
        init_version = record(client, answers)
        assert init_version == before_init + 1
        for _ in range(12):
            random_step(client, rng)
            record(client, answers)
    # a new vocabulary, learnt at a restart: the quarantined name is replayed into the tables, and
    # "pera" is now read as another vegetable (gold rebuilt)
    vocabulary = tmp_path / "vocabulary.toml"
    text = BUNDLED.read_text(encoding="utf-8").replace('pear = ["poire", "pera"]', 'pear = ["poire"]')
    vocabulary.write_text(text + '\nchayote = []\nperilla = ["pera"]\n', encoding="utf-8")
    store, rules = make_store(), FeedRules(Vocabulary.load(vocabulary))
    sync_with_rules(store, rules)
    with TestClient(create_app(store, rules)) as client:
        record(client, answers)
        for _ in range(8):
            random_step(client, rng)
            record(client, answers)
        check_every_version(client, answers, gone_before=init_version)
    with TestClient(create_app(make_store(), rules)) as client:  # and after another restart
        check_every_version(client, answers, gone_before=init_version)
        history = client.get("/get_history", params={"limit": 1000}).json()["versions"]
        assert {version["data_version"] for version in history} >= {v for v in answers if v >= init_version} - {0}
        assert {version["operation"] for version in history} >= {"init", "post", "delete", "rules"}


def test_a_version_not_committed_is_unknown_and_malformed_values_are_refused(client: TestClient):
    client.post("/post_sales", json=[sale("2020-01-06", "Tomate", 7)])
    current = int(client.get("/get_raw_sales").headers["X-Data-Version"])
    response = client.get(f"/get_monthly_sales?as_of={current + 1}")
    assert (response.status_code, response.json()) == (
        404,
        {
            "error": "unknown_version",
            "message": f"data version {current + 1} is not committed; the current one is {current}",
        },
    )
    for value in ("abc", "-1", "1.5", "", "2026-02-30T10:00:00Z", "2026-12-06T10:00:00", "2026-12-06"):
        response = client.get("/get_raw_sales", params={"as_of": value})
        assert (response.status_code, response.json()["error"]) == (400, "invalid_parameter"), value
        assert repr(value) in response.json()["message"]


def test_as_of_a_time_answers_the_latest_version_committed_at_or_before_it(client: TestClient):
    client.post("/post_sales", json=[sale("2020-01-06", "Tomate", 7)])
    client.post("/post_sales", json=[sale("2020-01-13", "Tomate", 8)])
    history = client.get("/get_history").json()["versions"]
    second, first = history[0], history[1]
    for moment, expected in [
        (first["committed_at"], first["data_version"]),  # the same instant
        (second["committed_at"], second["data_version"]),
        ("2999-01-01T00:00:00Z", second["data_version"]),  # after the last: the current one
        (first["committed_at"].replace("Z", "+00:00"), first["data_version"]),
    ]:
        response = client.get("/get_raw_sales", params={"as_of": moment})
        assert response.status_code == 200, response.text
        assert int(response.headers["X-Data-Version"]) == expected
    response = client.get("/get_raw_sales", params={"as_of": "2000-01-01T00:00:00Z"})  # before the first
    assert (response.status_code, response.json()["error"]) == (410, "version_gone")


def test_a_forecast_as_of_a_version_is_the_forecast_of_that_data(client: TestClient):
    pytest.importorskip("statsforecast")
    months = [sale(f"{2019 + i // 12}-{i % 12 + 1:02d}-01", "Tomate", 100 + (i % 12) * 10) for i in range(30)]
    version = client.post("/post_sales", json=months).json()["data_version"]
    then = client.get("/get_forecast", params={"vegetable": "tomato", "horizon": 3}).json()
    client.post("/post_sales", json=[sale("2021-08-02", "Tomate", 5000)])
    now = client.get("/get_forecast", params={"vegetable": "tomato", "horizon": 3}).json()
    assert now != then
    replayed = client.get("/get_forecast", params={"vegetable": "tomato", "horizon": 3, "as_of": version})
    assert replayed.headers["X-Data-Version"] == str(version)
    assert replayed.json() == then
    assert then["trained_on"]["data_version"] == version
    assert now["trained_on"]["data_version"] == version + 1
