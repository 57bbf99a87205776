import pytest

from vegsales.server import chosen_store

URL = "postgresql://user@db.example:5432/sales"


@pytest.mark.parametrize(
    ("backend", "location", "aliases", "expected"),
    [
        pytest.param(None, None, {}, ("sqlite", "data/sales.db"), id="defaults"),
        pytest.param("csv", None, {}, ("csv", "data/csv"), id="csv_default_folder"),
        pytest.param(None, "/srv/sales.db", {}, ("sqlite", "/srv/sales.db"), id="a_file_is_sqlite"),
        pytest.param(None, URL, {}, ("postgres", URL), id="a_url_is_postgres"),
        pytest.param(None, "/srv/new-folder/", {}, ("csv", "/srv/new-folder/"), id="a_trailing_slash_is_csv"),
        pytest.param("sqlite", None, {"--db": URL}, ("postgres", URL), id="app_sql_py_with_a_url"),
        pytest.param("csv", None, {"--db": "/d/s.db", "--data-dir": "/d/csv"}, ("csv", "/d/csv"), id="image_csv"),
        pytest.param("sqlite", None, {"--db": "/d/s.db", "--data-dir": "/d/csv"}, ("sqlite", "/d/s.db"), id="image"),
        pytest.param("sqlite", "/a.db", {"--db": "/b.db"}, ("sqlite", "/a.db"), id="location_wins_over_alias"),
        pytest.param("postgres", None, {}, ("postgres", "postgresql://127.0.0.1:5432/vegsales"), id="postgres_default"),
    ],
)
def test_the_backend_and_location_chosen_from_the_settings(backend, location, aliases, expected):
    assert chosen_store(backend, location, aliases) == expected


def test_an_existing_folder_is_a_csv_store(tmp_path):
    assert chosen_store(None, str(tmp_path), {}) == ("csv", str(tmp_path))
