"""The `vegsales` command and SalesClient against a real server process."""

import csv
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from support.servers import ROOT, Server
from vegsales.cli import main
from vegsales.client import SalesClient, ServiceError, ServiceUnreachable
from vegsales.pipeline import ingest
from vegsales.silver import FeedRules
from vegsales.storage.registry import open_store
from vegsales.storage.sqlite import SqliteStore

SAMPLE = str(ROOT / "data" / "sample_sales.csv")
PLANTED_SPIKES = [("2020-09", "carrot"), ("2022-07", "tomato"), ("2023-01", "leek")]
FIRST_REJECTED_LINES = [5, 220, 226, 313, 329, 450, 490, 686, 745, 751]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server("app_sql.py", "--db", str(tmp_path_factory.mktemp("cli") / "sales.db")) as running:
        yield running


@pytest.fixture
def client(server):
    with SalesClient(server.url) as connected:
        connected.init_database()
        yield connected


@pytest.fixture
def url(client) -> str:
    return client.url


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def monthly_csv(url: str, *options: str) -> list[dict]:
    result = run("monthly", "--url", url, "--csv", *options)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_import_of_the_sample_file_reports_counts_and_rejected_lines(url, client):
    result = run("import", SAMPLE, "--url", url)
    assert result.exit_code == 0, result.output
    assert "received 2,593, inserted 2,569, updated 0, unchanged 0, rejected 24" in result.stdout
    shown = [int(line.split()[1].rstrip(":")) for line in result.stdout.splitlines() if line.startswith("  line ")]
    assert shown == FIRST_REJECTED_LINES
    assert "  line 226: vegetable: unknown vegetable 'mango'" in result.stdout
    assert "  line 329: date: '2020-06-31' is not a real calendar date" in result.stdout
    assert "... and 14 more rejected lines" in result.stdout
    assert len(client.raw()) == 2_569


def test_importing_again_changes_nothing_whatever_the_chunk_size(url):
    run("import", SAMPLE, "--url", url)
    result = run("import", SAMPLE, "--url", url, "--chunk-size", "97")
    assert "received 2,593, inserted 0, updated 0, unchanged 2,569, rejected 24" in result.stdout


def test_monthly_shows_the_planted_spikes_as_outliers(url):
    run("import", SAMPLE, "--url", url)
    rows = monthly_csv(url)
    assert len(rows) == 12 * 48
    assert [(r["year_month"], r["vegetable"]) for r in rows if r["is_outlier"] == "true"] == PLANTED_SPIKES
    table = run("monthly", "--url", url).stdout
    flagged = [line for line in table.splitlines() if "OUTLIER" in line]
    assert [(line.split()[1], line.split()[3]) for line in flagged] == PLANTED_SPIKES


def test_monthly_filters_by_any_spelling_and_drops_outliers(url):
    run("import", SAMPLE, "--url", url)
    carrots = monthly_csv(url, "--vegetable", "Zanahoria")
    assert {r["vegetable"] for r in carrots} == {"carrot"}
    assert len(carrots) == 48
    assert float(next(r for r in carrots if r["year_month"] == "2020-09")["kilo_sold"]) == pytest.approx(
        43151.0, abs=0.1
    )
    assert len(monthly_csv(url, "--vegetable", "carrot", "--remove-outliers")) == 47
    assert not [r for r in monthly_csv(url, "--remove-outliers") if r["is_outlier"] == "true"]


def test_ping_summarises_every_endpoint(url):
    run("import", SAMPLE, "--url", url)
    result = run("ping", "--url", url)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "ok    GET /health: ok",
        "ok    POST /post_sales []: received 0, inserted 0",
        "ok    GET /get_raw_sales: 2,569 rows",
        "ok    GET /get_monthly_sales: 576 months of 12 vegetables, 3 outliers",
        "ok    GET /get_monthly_sales?remove_outliers=true: 573 months of 12 vegetables, 0 outliers",
    ]


def test_a_file_of_only_invalid_rows_is_reported_not_fatal(url, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("date,vegetable,kilo_sold\n2021-02-29,Tomate,1\n2020-01-06,banana,2\n", encoding="utf-8")
    result = run("import", str(path), "--url", url)
    assert result.exit_code == 0
    assert "received 2, inserted 0, updated 0, unchanged 0, rejected 2" in result.stdout
    assert "  line 2: date: '2021-02-29' is not a real calendar date" in result.stdout
    assert "  line 3: vegetable: unknown vegetable 'banana'" in result.stdout


def test_extra_columns_are_ignored_with_a_note(url, client, tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text("store,date,vegetable,kilo_sold\nA,2020-01-06,Tomate,1.5\n", encoding="utf-8")
    result = run("import", str(path), "--url", url)
    assert "note: ignoring column(s) store" in result.stderr
    assert client.raw() == [{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 1.5}]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_file", "error: {tmp}/nope.csv: no such file"),
        (
            "header_lacks_column",
            "error: {tmp}/short.csv: the header (date, vegetable) lacks kilo_sold (expected, in any case, kilo_sold: "
            "kilo_sold, kilos, kg, ventes); name the columns with --columns kilo_sold=NAME",
        ),
        ("server_unreachable", "error: cannot reach the service at http://127.0.0.1:9"),
        ("server_error", "answered 404: not_found: Not Found"),
    ],
)
def test_import_errors_exit_non_zero_with_a_message(url, tmp_path, case, message):
    (tmp_path / "short.csv").write_text("date,vegetable\n2020-01-06,Tomate\n", encoding="utf-8")
    args = {
        "missing_file": [f"{tmp_path}/nope.csv", "--url", url],
        "header_lacks_column": [f"{tmp_path}/short.csv", "--url", url],
        "server_unreachable": [SAMPLE, "--url", "http://127.0.0.1:9"],
        "server_error": [SAMPLE, "--url", f"{url}/not-the-service"],
    }[case]
    result = run("import", *args)
    assert result.exit_code == 1
    assert message.format(tmp=tmp_path) in result.stderr


@pytest.mark.parametrize("command", ["monthly", "ping"])
def test_read_commands_fail_clearly_when_the_server_is_unreachable(command):
    result = run(command, "--url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "cannot reach the service at http://127.0.0.1:9" in result.output


def test_client_returns_plain_data(client):
    report = client.post([{"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 70}])
    assert (report["inserted"], report["rejected"]) == (1, [])
    assert client.raw() == [{"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 70.0}]
    assert client.monthly() == [
        {"year_month": "2020-01", "vegetable": "tomato", "kilo_sold": 50.0, "is_outlier": False},
        {"year_month": "2020-02", "vegetable": "tomato", "kilo_sold": 20.0, "is_outlier": False},
    ]
    assert client.init_database()["status"] == "ok"
    assert client.raw() == []


def test_client_gives_data_frames_when_asked(client):
    client.post([{"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 70}])
    frame = client.monthly(as_frame=True)
    assert list(frame.columns) == ["year_month", "vegetable", "kilo_sold", "is_outlier"]
    assert frame["kilo_sold"].tolist() == [50.0, 20.0]
    assert client.raw(as_frame=True).shape == (1, 3)


def test_client_without_pandas_says_what_to_install(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(RuntimeError, match="pip install pandas"):
        client.raw(as_frame=True)


def test_client_errors_carry_the_server_report(client):
    with pytest.raises(ServiceError) as rejected:
        client.post([{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": -1}])
    assert rejected.value.status == 422
    assert rejected.value.report["rejected"][0]["errors"][0]["field"] == "kilo_sold"
    assert "answered 422: all 1 records rejected" in str(rejected.value)
    with pytest.raises(ServiceError) as bad:
        client._call("GET", "/get_monthly_sales", params={"remove_outliers": "maybe"})
    assert bad.value.status == 400
    assert bad.value.report["error"] == "invalid_parameter"
    with (
        SalesClient("http://127.0.0.1:9") as nowhere,
        pytest.raises(ServiceUnreachable, match=r"cannot reach the service at http://127\.0\.0\.1:9"),
    ):
        nowhere.health()


def test_rejected_lines_are_numbered_as_in_the_file_despite_blank_lines(url, tmp_path):
    path = tmp_path / "blanks.csv"
    path.write_text("date,vegetable,kilo_sold\n\n2020-01-06,Tomate,1\n\n2020-01-13,Tomate,-1\n", encoding="utf-8")
    result = run("import", str(path), "--url", url)
    assert "received 2, inserted 1, updated 0, unchanged 0, rejected 1" in result.stdout
    assert "  line 5: kilo_sold: Input should be greater than or equal to 0" in result.stdout


def test_a_malformed_url_is_a_clear_error(url):
    result = run("ping", "--url", "http://[::1")
    assert result.exit_code == 1
    assert "cannot reach the service at http://[::1" in result.output


def test_the_server_refuses_a_vocabulary_that_lost_stored_names(tmp_path):
    database = str(tmp_path / "sales.db")
    with Server("app_sql.py", "--db", database) as running, SalesClient(running.url) as client:
        client.post([{"date": "2020-01-06", "vegetable": "Poire", "kilo_sold": 7}])
    vocabulary = tmp_path / "vocabulary.toml"
    vocabulary.write_text('tomato = ["tomate"]\n', encoding="utf-8")
    refused = Server("app_sql.py", "--db", database, "--vocabulary", str(vocabulary))
    assert refused.process.wait(timeout=30) == 1
    error = refused.process.stderr.read()
    refused.stop()
    assert "error: the vocabulary no longer recognises 'Poire', used by stored records: add them back" in error


def test_monthly_of_an_unknown_vegetable_names_the_closest_and_exits_1(url):
    result = run("monthly", "--url", url, "--vegetable", "mango")
    assert result.exit_code == 1
    assert result.stderr == "error: unknown vegetable 'mango'; closest: mushroom (60%), apple (43%)\n"


def test_rejected_lists_the_quarantine_and_replay_reports_what_it_did(url):
    run("import", SAMPLE, "--url", url)
    result = run("rejected", "--url", url, "--csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 24
    assert {"record": '{"date": "2020-06-31", "vegetable": "chou de Bruxelles", "kilo_sold": "111.5"}',
            "errors": "date: '2020-06-31' is not a real calendar date"}.items() <= next(
        row for row in rows if "2020-06-31" in row["record"]).items()  # fmt: skip
    table = run("rejected", "--url", url, "--limit", "5").stdout
    assert "Rejected records: 5 of 24 shown, 0 dropped" in table
    result = run("replay-rejected", "--url", url)
    assert result.exit_code == 0
    assert result.stdout == "replayed 0, still rejected 24 (inserted 0, updated 0, unchanged 0)\n"


def test_rejected_prints_a_record_kept_as_text_as_it_was_sent(url):
    body = b'[{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": NaN}]'  # no JSON reader takes NaN back
    request = urllib.request.Request(f"{url}/post_sales", data=body, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 422
    rows = list(csv.DictReader(io.StringIO(run("rejected", "--url", url, "--csv").stdout)))
    assert [row["record"] for row in rows] == ['{"date":"2020-01-06","vegetable":"Tomate","kilo_sold":NaN}']


def test_client_py_honours_vegsales_url(server):
    result = subprocess.run(
        [sys.executable, str(ROOT / "demo.py")],
        env={**os.environ, "VEGSALES_URL": server.url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"GET {server.url}/health -> 200\n")
    assert f"POST {server.url}/post_sales -> 200\n" in result.stdout


def test_a_server_started_with_another_week_date_rebuilds_and_says_so(tmp_path):
    database = str(tmp_path / "sales.db")
    with Server("app_sql.py", "--db", database) as running, SalesClient(running.url) as client:
        client.post([{"date": "2020-02-02", "vegetable": "Tomate", "kilo_sold": 70}])
        assert client.monthly()[0]["year_month"] == "2020-02"
    with Server("app_sql.py", "--db", database, "--week-date", "end") as running, SalesClient(running.url) as client:
        assert [(r["year_month"], r["kilo_sold"]) for r in client.monthly()] == [("2020-01", 50.0), ("2020-02", 20.0)]
        assert client.raw() == [{"date": "2020-02-02", "vegetable": "Tomate", "kilo_sold": 70.0}]
    assert (
        "week date changed (start -> end): bronze re-keyed, silver and gold rebuilt from bronze; 0 rows" in running.log
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "sqlite", "--data-dir", "x"], "--data-dir does not apply to the sqlite backend, which takes "
                                                     "--location or --db"),
        (["--backend", "csv", "--db", "x.db"], "--db does not apply to the csv backend, which takes --location or "
                                               "--data-dir"),
        (["--backend", "csv", "--workers", "2"], "the csv backend is served by one process: use --workers 1"),
    ],
)  # fmt: skip
def test_serve_refuses_a_location_flag_of_another_backend(args, message):
    result = run("serve", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_serve_takes_one_location_setting_for_every_backend(tmp_path):
    folder = tmp_path / "csv"
    with Server("app_csv.py", "--location", str(folder)) as running, SalesClient(running.url) as client:
        client.post([{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 7}])
    assert (
        (folder / "bronze.csv").read_text().startswith("date,vegetable,kilo_sold,week_start,received_at\n2020-01-06,")
    )


def test_the_cli_client_and_client_py_send_the_token(tmp_path, monkeypatch):
    monkeypatch.setenv("VEGSALES_ADMIN_TOKEN", "a-secret")
    monkeypatch.setenv("VEGSALES_WRITE_TOKEN", "w-secret")
    with Server("app_sql.py", "--db", str(tmp_path / "sales.db")) as running:
        monkeypatch.delenv("VEGSALES_ADMIN_TOKEN")
        refused = run("replay-rejected", "--url", running.url)
        assert refused.exit_code == 1
        assert "answered 401: unauthorized: POST /replay_rejected needs an admin token" in refused.stderr
        assert run("replay-rejected", "--url", running.url, "--token", "a-secret").exit_code == 0
        monkeypatch.setenv("VEGSALES_TOKEN", "w-secret")
        assert run("import", SAMPLE, "--url", running.url).exit_code == 0
        with SalesClient(running.url, token="a-secret") as client:
            assert client.init_database()["status"] == "ok"
        with SalesClient(running.url) as anonymous, pytest.raises(ServiceError) as error:
            anonymous.post([{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 1}])
        assert error.value.status == 401
        script = subprocess.run(
            [sys.executable, str(ROOT / "demo.py"), "--url", running.url, "--token", "a-secret"],
            capture_output=True, text=True, timeout=60, env={**os.environ, "VEGSALES_TOKEN": ""},
        )  # fmt: skip
        assert f"POST {running.url}/init_database -> 200" in script.stdout


def test_quality_prints_each_vegetable_and_the_feed(url):
    run("import", SAMPLE, "--url", url)
    result = CliRunner().invoke(main, ["quality", "--url", url], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    carrot = next(line for line in result.stdout.splitlines() if "carrot" in line)
    assert [cell.strip() for cell in carrot.split("│")[1:7]] == [
        "carrot",
        "208",
        "2020-01-06",
        "2023-12-25",
        "0",
        "1,458.4",
    ]
    assert "feed: 1,000 recent records, 0.7% rejected\n" in result.stdout  # the last 1,000 hold 7 of the 24
    names = next(line for line in result.stdout.splitlines() if line.startswith("most rejected names: "))
    assert sorted(names.removeprefix("most rejected names: ").split(", ")) == sorted(
        ["mango (1)", "banana (1)", "parsnip (1)", "rutabaga (1)", "plátano (1)", "xyzzy (1)", "Banane (1)", "kiwi (1)"]
    )


def test_forecast_prints_a_table_and_csv_and_the_client_gives_a_frame(url, client):
    run("import", SAMPLE, "--url", url)
    result = CliRunner().invoke(
        main, ["forecast", "--url", url, "--vegetable", "poireau", "--horizon", "2", "--remove-outliers"],
        env={"COLUMNS": "160"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "leek: ETS(M,Ad,M) season 12, trained on 48 months (outliers replaced: 2023-01)" in result.stdout
    assert [line.split("│")[1].strip() for line in result.stdout.splitlines() if "│ 2024-" in line] == [
        "2024-01",
        "2024-02",
    ]
    assert "backtest, one step over the last 12 months: MAE " in result.stdout
    rows = list(csv.DictReader(io.StringIO(run("forecast", "--url", url, "--horizon", "1", "--csv").stdout)))
    assert [row["vegetable"] for row in rows] == sorted(row["vegetable"] for row in rows) and len(rows) == 12
    frame = client.forecast("Zanahoria", horizon=3, as_frame=True)
    assert list(frame.columns) == [
        "vegetable",
        "year_month",
        "kilo_sold",
        "lower_80",
        "upper_80",
        "lower_95",
        "upper_95",
    ]
    assert frame["year_month"].tolist() == ["2024-01", "2024-02", "2024-03"]
    assert client.forecast("carrot", horizon=1)["trained_on"]["months"] == 48


FRENCH_EXPORT = (
    "Date;Légume;Kilos\r\n"
    "2020-01-06;Tomate;310,5\r\n"
    "2020-01-06;Poireau;1 200\r\n"
    '2020-01-13;Pomme de terre;"1\u00a0250,75"\r\n'
    "2020-01-13;Céleri;12\r\n"
)


@pytest.mark.parametrize(
    ("encoded", "options"),
    [
        pytest.param(b"\xef\xbb\xbf" + FRENCH_EXPORT.encode(), [], id="utf8_with_bom"),
        pytest.param(FRENCH_EXPORT.encode("cp1252"), ["--encoding", "cp1252"], id="cp1252_named"),
    ],
)
def test_a_french_spreadsheet_export_is_imported_as_it_reads(url, client, tmp_path, encoded, options):
    path = tmp_path / "ventes.csv"
    path.write_bytes(encoded)
    result = run("import", str(path), "--url", url, *options)
    assert result.exit_code == 0, result.output
    assert result.stdout == "received 4, inserted 4, updated 0, unchanged 0, rejected 0\n"
    assert sorted(client.raw(), key=lambda row: (row["date"], row["vegetable"])) == [
        {"date": "2020-01-06", "vegetable": "Poireau", "kilo_sold": 1200.0},
        {"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 310.5},
        {"date": "2020-01-13", "vegetable": "Céleri", "kilo_sold": 12.0},
        {"date": "2020-01-13", "vegetable": "Pomme de terre", "kilo_sold": 1250.75},
    ]


def test_a_file_not_in_utf8_is_refused_before_anything_is_posted(url, client, tmp_path):
    path = tmp_path / "ventes.csv"
    path.write_bytes(FRENCH_EXPORT.encode("cp1252"))
    result = run("import", str(path), "--url", url)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {path}: line 1 is not utf-8 (byte 0xe9); read as cp1252 it is 'Date;Légume;Kilos': if that is "
        "right, import it again with --encoding cp1252 or --encoding latin-1 (or the encoding it was saved in)\n"
    )
    assert client.raw() == []


def test_other_header_names_are_given_with_columns(url, client, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Semaine du\tArticle\tPoids (kg)\n2020-01-06\tCarotte\t7\n", encoding="utf-8")
    refused = run("import", str(path), "--url", url)
    assert refused.exit_code == 1
    assert "lacks date, vegetable, kilo_sold" in refused.stderr
    columns = "date=Semaine du,vegetable=article,kilo_sold=POIDS (KG)"
    result = run("import", str(path), "--url", url, "--columns", columns, "--sep", "tab")
    assert result.exit_code == 0, result.output
    assert client.raw() == [{"date": "2020-01-06", "vegetable": "Carotte", "kilo_sold": 7.0}]
    wrong = run("import", str(path), "--url", url, "--columns", "weight=Poids")
    assert wrong.exit_code == 2
    assert "'weight=Poids': write COLUMN=NAME, COLUMN one of date, vegetable, kilo_sold" in wrong.stderr


MALFORMED = {
    "unclosed_quote": ('2020-02-10;"Tomate;9', "a quote opened on line 7 is never closed (it runs to the end, line 9)"),
    "wrong_field_count": ("2020-02-10;Tomate;9;en promotion", "4 fields where the header has 3"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_line_stops_the_import_saying_what_was_stored(url, client, tmp_path, case):
    bad_line, reason = MALFORMED[case]
    good = [f"2020-{month};Tomate;{kilos}" for month, kilos in (("01-06", 1), ("01-13", 2), ("01-20", -3),
                                                                 ("01-27", 4), ("02-03", 5))]  # fmt: skip
    lines = ["Date;Légume;Kilos", *good, bad_line, "2020-02-17;Tomate;10", "2020-02-24;Tomate;11"]
    path = tmp_path / "ventes.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("import", str(path), "--url", url, "--chunk-size", "2")
    assert result.exit_code == 1
    assert result.stdout == (
        "received 5, inserted 4, updated 0, unchanged 0, rejected 1\n"
        "  line 4: kilo_sold: Input should be greater than or equal to 0\n"
    )
    assert result.stderr.splitlines()[-1] == (
        f"error: {path}: line 7: {reason}; the import stopped there: the 5 records before line 7 were posted "
        "(4 stored, 1 rejected), none after. To finish, fix the line and import the file again: posts are "
        "idempotent, the records already stored come back unchanged"
    )
    assert [row["date"] for row in client.raw()] == ["2020-01-06", "2020-01-13", "2020-01-27", "2020-02-03"]
    lines[6] = "2020-02-10;Tomate;9"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    again = run("import", str(path), "--url", url, "--chunk-size", "2")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("received 8, inserted 3, updated 0, unchanged 4, rejected 1\n")


@pytest.fixture
def small_database(tmp_path) -> str:
    path = str(tmp_path / "source.db")
    store = SqliteStore(path)
    ingest(store, FeedRules(), [{"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": 7}])
    store.close()
    return path


def test_migrate_to_a_new_path_without_a_suffix_asks_for_the_backend(small_database, tmp_path):
    target = tmp_path / "copy"
    refused = run("migrate", "--from", small_database, "--to", str(target))
    assert refused.exit_code == 2
    assert (
        f"--to {target} does not say which kind of store to create: add --backend sqlite (a file) or --backend csv "
        f"(a folder), or write it {target}/ for a CSV folder or with .db for a SQLite file"
    ) in refused.stderr
    assert not target.exists()


@pytest.mark.parametrize(("backend", "made"), [("csv", "folder"), ("sqlite", "file")])
def test_migrate_to_a_new_path_with_backend_makes_that_kind(small_database, tmp_path, backend, made):
    target = tmp_path / "copy"
    result = run("migrate", "--from", small_database, "--to", str(target), "--backend", backend)
    assert result.exit_code == 0, result.output
    assert (target.is_dir(), target.is_file()) == (made == "folder", made == "file")
    store = open_store(str(target), backend)
    try:
        assert [(row.date, row.vegetable, row.kilo_sold) for row in store.bronze_changes(None).rows] == [
            ("2020-01-06", "Tomate", 7.0)
        ]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("target", "backend", "message"),
    [
        ("{tmp}/folder", "sqlite", "--to {tmp}/folder is a csv store, not sqlite"),
        ("postgresql://127.0.0.1:9/x", "csv", "--to postgresql://127.0.0.1:9/x is a postgres store, not csv"),
    ],
)
def test_migrate_refuses_a_backend_the_target_contradicts(small_database, tmp_path, target, backend, message):
    (tmp_path / "folder").mkdir()
    result = run("migrate", "--from", small_database, "--to", target.format(tmp=tmp_path), "--backend", backend)
    assert result.exit_code == 2
    assert message.format(tmp=tmp_path) in result.stderr


def test_migrate_from_a_path_that_does_not_exist_creates_nothing(tmp_path):
    result = run("migrate", "--from", str(tmp_path / "typo.db"), "--to", f"{tmp_path}/copy/")
    assert result.exit_code == 1
    assert result.stderr == f"error: --from {tmp_path}/typo.db: no such file or folder\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_history_lists_each_data_version_newest_first(client, url):
    (emptied,) = client.history()
    version = emptied["data_version"]
    assert (emptied["operation"], emptied["bronze"], emptied["months_changed"]) == (
        "init",
        {"inserted": 0, "updated": 0, "deleted": 0},
        0,
    )
    assert client.post([{"date": "2020-01-27", "vegetable": "Tomate", "kilo_sold": 7}])["data_version"] == version + 1
    assert [(v["data_version"], v["operation"], v["bronze"], v["months_changed"]) for v in client.history()] == [
        (version + 1, "post", {"inserted": 1, "updated": 0, "deleted": 0}, 2),
        (version, "init", {"inserted": 0, "updated": 0, "deleted": 0}, 0),
    ]
    result = CliRunner().invoke(main, ["history", "--url", url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = [line.split("│")[1:-1] for line in result.stdout.splitlines() if line.startswith("│")]
    assert [[cell.strip() for cell in row][:7] for row in rows if row and row[0].strip().isdigit()] == [
        [str(version + 1), client.history()[0]["committed_at"], "post", "1", "0", "0", "2"],
        [str(version), client.history()[1]["committed_at"], "init", "0", "0", "0", "0"],
    ]


def test_delete_takes_back_the_records_of_a_file_or_of_one_key(client, url, tmp_path):
    client.post([sale for sale in SALES_TO_DELETE])
    version = client.history()[0]["data_version"]
    posted = tmp_path / "wrong.csv"
    posted.write_text("date,vegetable,kilo_sold\n2021-03-01,carrot,1421.5\n2021-03-15,carrot,9\n", encoding="utf-8")
    result = run("delete", str(posted), "--url", url)
    assert (result.exit_code, result.stdout) == (
        1,
        f"deleted 1 of 2, not found 1, rejected 0; data version {version + 1}\n"
        "  key 2: no record of 'carrot' is stored for the week of 2021-03-15\n",
    )
    result = run("delete", "--date", "2021-W09", "--vegetable", "carotte", "--url", url)
    assert (result.exit_code, result.stdout) == (
        0,
        f"deleted 1 of 1, not found 0, rejected 0; data version {version + 2}\n",
    )
    assert client.raw() == [{"date": "2021-03-08", "vegetable": "carrot", "kilo_sold": 2.0}]
    assert len(client.raw(as_of=version)) == 3
    assert client.monthly(as_of=version + 1) == [
        {"year_month": "2021-03", "vegetable": "carrot", "kilo_sold": 14217.0, "is_outlier": False}
    ]
    assert monthly_csv(url, "--as-of", str(version)) == [
        {"year_month": "2021-03", "vegetable": "carrot", "kilo_sold": "15638.5", "is_outlier": "false"}
    ]
    result = run("delete", "--date", "2021-03-01", "--url", url)
    assert (result.exit_code, result.stderr) == (1, "error: --date and --vegetable name a record together\n")
    result = run("delete", "--url", url)
    assert result.exit_code == 1


SALES_TO_DELETE = [
    {"date": "2021-03-01", "vegetable": "carotte", "kilo_sold": 14215},
    {"date": "2021-03-01", "vegetable": "carrot", "kilo_sold": 1421.5},
    {"date": "2021-03-08", "vegetable": "carrot", "kilo_sold": 2},
]


DATA_FOR_EXPORT = [
    {"date": f"2021-W{week:02d}", "vegetable": name, "kilo_sold": week * 10.5 + len(name)}
    for week in range(1, 12)
    for name in ("carotte", "Zanahoria", "Tomate")
] + [{"date": "2021-W06", "vegetable": "Jitomate", "kilo_sold": 0.1 + 0.2}]


def test_export_writes_each_table_in_each_format_as_the_json_read_holds_it(client, url, tmp_path):
    import pyarrow.parquet as pq

    assert client.post(DATA_FOR_EXPORT)["inserted"] == len(DATA_FOR_EXPORT)
    for table in ("raw", "weekly", "monthly"):
        rows = getattr(client, table)(vegetable="carrot", start="2021-02" if table == "monthly" else "2021-W05")
        assert rows and all(row["vegetable"] in ("carotte", "Zanahoria", "carrot") for row in rows)
        target = tmp_path / f"{table}.csv"
        options = ["--vegetable", "Zanahoria", "--from", "2021-02" if table == "monthly" else "2021-W05"]
        result = run("export", table, *options, "-o", str(target), "--url", url)
        assert (result.exit_code, result.stderr) == (0, f"wrote {target.stat().st_size:,} bytes to {target}\n")
        with target.open(newline="", encoding="utf-8") as file:
            written = list(csv.DictReader(file))
        assert [list(row) for row in written[:1]] == [list(rows[0])]
        assert [{name: as_csv(value) for name, value in row.items()} for row in rows] == written
        parquet = tmp_path / f"{table}.parquet"
        result = run("export", table, "--format", "parquet", *options, "-o", str(parquet), "--url", url)
        assert result.exit_code == 0, result.output
        assert pq.read_table(parquet).to_pylist() == rows
        result = run("export", table, "--format", "ndjson", *options, "--url", url)
        assert [json.loads(line) for line in result.stdout.splitlines()] == rows
    result = run("export", "raw", "--remove-outliers", "--url", url)
    assert (result.exit_code, result.stderr) == (1, "error: --remove-outliers is for the monthly table\n")
    result = run("export", "monthly", "--vegetable", "Kumquatz", "--url", url)
    assert result.exit_code == 1 and "unknown vegetable 'Kumquatz'" in result.stderr


def as_csv(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else value


def test_frames_come_typed_and_pandas_reads_the_urls_directly(client, url):
    pandas = pytest.importorskip("pandas")
    client.post(DATA_FOR_EXPORT)
    frame = client.monthly(as_frame=True, vegetable="carrot", start="2021-01", end="2021-02")
    assert frame.to_dict("records") == client.monthly(vegetable="carrot", start="2021-01", end="2021-02")
    assert [str(dtype) for dtype in frame.dtypes] == ["object", "object", "float64", "bool"]
    weekly = client.weekly(as_frame=True, vegetable="tomato")
    assert list(weekly.columns) == ["week_start", "date", "vegetable", "raw_vegetable", "kilo_sold"]
    assert weekly.to_dict("records") == client.weekly(vegetable="tomato")
    by_url = pandas.read_csv(f"{url}/get_monthly_sales?format=csv&vegetable=carrot", dtype={"year_month": str})
    assert by_url.to_dict("records") == client.monthly(vegetable="carrot")
    by_parquet = pandas.read_parquet(f"{url}/get_raw_sales?format=parquet&from=2021-W03&to=2021-W04")
    assert by_parquet.to_dict("records") == client.raw(start="2021-W03", end="2021-W04")
    assert len(by_parquet) == 6  # two weeks of three names


def test_a_forecast_frame_keeps_what_it_learnt_from_in_its_attrs(client):
    pytest.importorskip("statsforecast")
    months = [
        {"date": f"{2019 + i // 12}-{i % 12 + 1:02d}-01", "vegetable": "Tomate", "kilo_sold": 100 + (i % 12) * 10}
        for i in range(30)
    ]
    version = client.post(months)["data_version"]
    frame = client.forecast("tomato", horizon=2, as_frame=True)
    answer = client.forecast("tomato", horizon=2)
    assert frame.attrs["trained_on"] == {"tomato": answer["trained_on"]}
    assert frame.attrs["trained_on"]["tomato"]["data_version"] == version
    assert frame.attrs["backtest"] == {"tomato": answer["backtest"]}
    assert frame.attrs["model"] == {"tomato": answer["model"]}
    assert list(frame["year_month"]) == [month["year_month"] for month in answer["forecast"]]


def test_duckdb_reads_the_urls_directly(client, url):
    duckdb = pytest.importorskip("duckdb")
    httpfs = pytest.importorskip("duckdb_extension_httpfs")
    client.post(DATA_FOR_EXPORT)
    connection = duckdb.connect()
    # The extension as installed from PyPI; elsewhere DuckDB fetches it by itself on first use.
    connection.sql(
        f"LOAD '{Path(httpfs.__file__).parent / 'extensions' / f'v{duckdb.__version__}' / 'httpfs.duckdb_extension'}'"
    )
    expected = [tuple(row.values()) for row in client.monthly(vegetable="carrot")]
    query = "SELECT year_month, vegetable, kilo_sold, is_outlier FROM {}('{}') ORDER BY year_month"
    by_csv = connection.sql(query.format("read_csv", f"{url}/get_monthly_sales?format=csv&vegetable=carrot"))
    assert by_csv.fetchall() == expected
    by_parquet = connection.sql(
        query.format("read_parquet", f"{url}/get_monthly_sales?format=parquet&vegetable=carrot")
    )
    assert by_parquet.fetchall() == expected
