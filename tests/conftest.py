"""One parametrized fixture gives every integration and HTTP test each storage backend."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vegsales.api import create_app
from vegsales.storage import Store
from vegsales.storage.csv import CsvStore
from vegsales.storage.sqlite import SqliteStore

BACKENDS: dict[str, Callable[[Path], Store]] = {
    "csv": lambda folder: CsvStore(folder / "csv"),
    "sqlite": lambda folder: SqliteStore(folder / "sales.db"),
}


@pytest.fixture(params=sorted(BACKENDS))
def make_store(request, tmp_path) -> Iterator[Callable[[], Store]]:
    """Opens the backend on this test's own location; call again to reopen it (a restart)."""
    opened: list[Store] = []

    def make() -> Store:
        store = BACKENDS[request.param](tmp_path)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store) -> Store:
    return make_store()


@pytest.fixture
def client(make_store) -> Iterator[TestClient]:
    with TestClient(create_app(make_store())) as test_client:
        yield test_client


def sale(date: str, vegetable: str, kilo_sold) -> dict:
    return {"date": date, "vegetable": vegetable, "kilo_sold": kilo_sold}
