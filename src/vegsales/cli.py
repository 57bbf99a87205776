"""The `vegsales` command: serve the API on a chosen backend, and talk to a running service."""

import sys
from pathlib import Path

import click
from click.core import ParameterSource

from .storage import StorageError, Store
from .vegetables import Vocabulary, VocabularyError

BACKENDS = ("sqlite", "csv")
DEFAULT_DB = "data/sales.db"
DEFAULT_DATA_DIR = "data/csv"


def open_store(backend: str, location: str | None) -> Store:
    """The one place that picks the storage backend: `location` is its file or folder."""
    if backend == "csv":
        from .storage.csv import CsvStore

        return CsvStore(location or DEFAULT_DATA_DIR)
    from .storage.sqlite import SqliteStore

    return SqliteStore(location or DEFAULT_DB)


def check_location_flag(backend: str) -> None:
    """Refuse the other backend's location flag on the command line (environment values may hold both)."""
    context = click.get_current_context()
    wrong, right = ("db", "--data-dir") if backend == "csv" else ("data_dir", "--db")
    if context.get_parameter_source(wrong) is ParameterSource.COMMANDLINE:
        flag = "--" + wrong.replace("_", "-")
        raise click.UsageError(f"{flag} does not apply to the {backend} backend, which takes {right}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Weekly vegetable sales in, clean monthly sales out."""


@main.command()
@click.option("--backend", type=click.Choice(BACKENDS), default="sqlite", show_default=True, envvar="VEGSALES_BACKEND")
@click.option("--db", envvar="VEGSALES_DB", help=f"SQLite database file  [default: {DEFAULT_DB}]")
@click.option("--data-dir", envvar="VEGSALES_DATA_DIR", help=f"CSV folder  [default: {DEFAULT_DATA_DIR}]")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="VEGSALES_HOST")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, envvar="VEGSALES_PORT")
@click.option(
    "--vocabulary",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="VEGSALES_VOCABULARY",
    help="vegetable vocabulary TOML  [default: the bundled one]",
)
@click.option("--access-log/--no-access-log", default=False, envvar="VEGSALES_ACCESS_LOG")
def serve(
    backend: str,
    db: str | None,
    data_dir: str | None,
    host: str,
    port: int,
    vocabulary: Path | None,
    access_log: bool,
) -> None:
    """Serve the HTTP API (tables created on first start)."""
    from .api import create_app
    from .server import serve as run_server

    check_location_flag(backend)
    try:
        words = Vocabulary.load(vocabulary)
        store = open_store(backend, data_dir if backend == "csv" else db)
    except (StorageError, VocabularyError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    run_server(create_app(store, words), host, port, access_log=access_log)


def serve_backend(backend: str) -> None:
    """Entry point of app_sql.py / app_csv.py: `vegsales serve --backend <backend>` with the given flags."""
    main(["serve", "--backend", backend, *sys.argv[1:]], prog_name=Path(sys.argv[0]).name)
