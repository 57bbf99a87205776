"""The `vegsales` command: serve the API on a chosen backend, and talk to a running service."""

import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast, get_args

import click
from click.core import ParameterSource
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .client import DEFAULT_URL, SalesClient, ServiceError
from .logs import configure_logging, default_format
from .records import WEEK_DATES, WeekDate
from .settings import ENVIRONMENT_ONLY, InvalidSettings, Settings, flag, variable
from .silver import FeedRules
from .storage import StorageError, Store
from .storage.registry import BACKENDS, open_store
from .vegetables import UnknownVegetable, Vocabulary, VocabularyError

T = TypeVar("T")
COLUMNS = ("date", "vegetable", "kilo_sold")
SHOWN_REJECTIONS = 10
METAVARS: dict[Any, str] = {int: "INTEGER", float: "SECONDS", Path | None: "PATH"}


def url_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--url and --token, for the commands that talk to a running service."""
    command = click.option(
        "--token",
        envvar="VEGSALES_TOKEN",
        help="sent as Authorization: Bearer (the service's write or admin token, when it has one)",
    )(command)
    return click.option("--url", default=DEFAULT_URL, show_default=True, envvar="VEGSALES_URL", help="service URL")(
        command
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Weekly vegetable sales in, clean monthly sales out."""


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """A flag for each setting a flag may carry (settings.py declares them): not given, it is None
    and the setting comes from its VEGSALES_* variable or its default."""
    for name, field in reversed(Settings.model_fields.items()):
        if name in ENVIRONMENT_ONLY:
            continue
        shown = "" if field.default is None else f"  [default: {field.default}]"
        variable_help = f"{field.description or ''}{shown}  [env: {variable(name)}]".strip()
        if field.annotation is bool:
            command = click.option(f"{flag(name)}/--no-{flag(name)[2:]}", name, default=None, help=variable_help)(
                command
            )
        else:
            choices = [value for value in get_args(field.annotation) if isinstance(value, str)] or [
                value for arg in get_args(field.annotation) for value in get_args(arg)
            ]
            metavar = "|".join(choices) if choices else METAVARS.get(field.annotation)
            command = click.option(flag(name), name, default=None, metavar=metavar, help=variable_help)(command)
    return command


@main.command()
@settings_options
def serve(**flags: Any) -> None:
    """Serve the HTTP API (tables created on first start)."""
    from .server import build_app, run_server

    try:
        settings = Settings.load(**flags).resolved()
    except InvalidSettings as error:
        raise click.UsageError(str(error)) from None
    assert settings.backend
    context = click.get_current_context()
    for name in ("db", "data_dir"):  # the environment may hold both; a command line means one
        given = context.get_parameter_source(name) is ParameterSource.COMMANDLINE
        if given and flag(name) != BACKENDS[settings.backend].location_flag:
            takes = f"--location or {BACKENDS[settings.backend].location_flag}"
            raise click.UsageError(
                f"{flag(name)} does not apply to the {settings.backend} backend, which takes {takes}"
            )
    if settings.workers > 1 and not BACKENDS[settings.backend].several_processes:
        raise click.UsageError(f"the {settings.backend} backend is served by one process: use --workers 1")
    configure_logging(settings.log_format or default_format())
    try:
        app = build_app(settings)  # fails fast, and brings silver and gold in line, before any worker starts
    except (StorageError, VocabularyError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    run_server(app, settings)


@main.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@url_option
@click.option("--chunk-size", type=click.IntRange(1, 100_000), default=500, show_default=True)
def import_file(file: Path, url: str, token: str | None, chunk_size: int) -> None:
    """Post a CSV file (date,vegetable,kilo_sold) in chunks, then summarise what was stored."""
    console = Console(stderr=True)
    lines, records = read_sales_csv(file, console)
    totals = dict.fromkeys(("received", "inserted", "updated", "unchanged"), 0)
    rejections: list[tuple[int, list[dict[str, Any]]]] = []
    with connect(url, token) as client, _progress(console) as progress:
        task = progress.add_task(f"importing {file.name}", total=len(records))
        for start in range(0, len(records), chunk_size):
            report = post_chunk(client, records[start : start + chunk_size])
            for name in totals:
                totals[name] += report[name]
            rejections += [(lines[start + r["index"]], r["errors"]) for r in report["rejected"]]
            progress.advance(task, min(chunk_size, len(records) - start))
    summary = ", ".join(f"{name} {count:,}" for name, count in totals.items())
    click.echo(f"{summary}, rejected {len(rejections):,}")
    for line, errors in rejections[:SHOWN_REJECTIONS]:
        reasons = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        click.echo(f"  line {line}: {reasons}")
    if len(rejections) > SHOWN_REJECTIONS:
        click.echo(f"  ... and {len(rejections) - SHOWN_REJECTIONS:,} more rejected lines")


def read_sales_csv(file: Path, console: Console) -> tuple[list[int], list[dict[str, Any]]]:
    """The records of a sales CSV file and the line each starts on (the header is line 1)."""
    try:
        with open(file, newline="", encoding="utf-8-sig") as stream:
            reader = csv.reader(stream)
            header = next(reader, [])
            missing = [column for column in COLUMNS if column not in header]
            if missing:
                fail(f"{file}: the header lacks {', '.join(missing)} (expected {','.join(COLUMNS)})")
            extra = [column for column in header if column not in COLUMNS]
            if extra:
                console.print(f"note: ignoring column(s) {', '.join(extra)}")
            positions = [header.index(column) for column in COLUMNS]
            lines, records = [], []
            first_line = reader.line_num + 1
            for values in reader:  # blank lines come as [] and are skipped, but still counted
                if values:
                    values += [""] * (len(header) - len(values))
                    lines.append(first_line)
                    records.append({column: values[i] for column, i in zip(COLUMNS, positions, strict=True)})
                first_line = reader.line_num + 1
    except FileNotFoundError:
        fail(f"{file}: no such file")
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        fail(f"{file}: cannot read it as a UTF-8 CSV file: {error}")
    return lines, records


def post_chunk(client: SalesClient, records: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        return client.post(records)
    except ServiceError as error:
        if error.status == 422:  # every record of this chunk rejected: a report, not a failure
            return cast(dict[str, Any], error.report)
        fail(str(error))


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


@main.command()
@url_option
@click.option("--remove-outliers", is_flag=True, help="leave out the months tagged as outliers")
@click.option("--vegetable", help="only this vegetable (any spelling the vocabulary knows)")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout instead of a table")
def monthly(url: str, token: str | None, remove_outliers: bool, vegetable: str | None, as_csv: bool) -> None:
    """Print monthly sales, outliers highlighted."""
    wanted = canonical_name(vegetable) if vegetable else None
    rows = call(lambda client: client.monthly(remove_outliers=remove_outliers), url, token)
    if wanted:
        rows = [row for row in rows if row["vegetable"] == wanted]
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("year_month", "vegetable", "kilo_sold", "is_outlier"))
        writer.writerows(
            (r["year_month"], r["vegetable"], repr(r["kilo_sold"]), str(r["is_outlier"]).lower()) for r in rows
        )
        return
    table = Table("month", "vegetable", "kilos", "outlier", title=f"Monthly sales ({len(rows):,} rows)")
    for row in rows:
        style = "bold red" if row["is_outlier"] else None
        flag = "OUTLIER" if row["is_outlier"] else ""
        table.add_row(row["year_month"], row["vegetable"], f"{row['kilo_sold']:,.1f}", flag, style=style)
    Console().print(table)


def canonical_name(name: str) -> str:
    """The vocabulary's name for `name`; ends the command with suggestions when it knows none."""
    match = Vocabulary.load().resolve(name)
    if isinstance(match, UnknownVegetable):
        fail(match.message)
    return match


@main.command()
@url_option
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout instead of a table")
def rejected(url: str, token: str | None, limit: int, as_csv: bool) -> None:
    """Print the quarantine: rejected records with their reasons, the most recent first."""
    answer = call(lambda client: client.rejected(limit), url, token)
    rows = answer["rows"]
    reasons = ["; ".join(f"{e['field']}: {e['message']}" for e in row["errors"]) for row in rows]
    records = [
        row["record"] if row["record_is_text"] else json.dumps(row["record"], ensure_ascii=False) for row in rows
    ]
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("last_received", "times", "record", "errors"))
        writer.writerows(
            (r["last_received"], r["times"], text, why) for r, text, why in zip(rows, records, reasons, strict=True)
        )
        return
    title = f"Rejected records: {len(rows):,} of {answer['total']:,} shown, {answer['dropped']:,} dropped"
    table = Table("last received", "times", "record", "reasons", title=title)
    for row, text, why in zip(rows, records, reasons, strict=True):
        table.add_row(row["last_received"], str(row["times"]), text + (" [truncated]" if row["truncated"] else ""), why)
    Console().print(table)


@main.command()
@url_option
@click.option("--vegetable", help="only this vegetable (any spelling the vocabulary knows)  [default: every one]")
@click.option("--horizon", type=click.IntRange(1, 24), default=12, show_default=True, help="months ahead")
@click.option("--remove-outliers", is_flag=True, help="train with the outlier months replaced")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout instead of a table")
def forecast(
    url: str, token: str | None, vegetable: str | None, horizon: int, remove_outliers: bool, as_csv: bool
) -> None:
    """Print the monthly forecast with its 80 % and 95 % intervals, and what the backtest found."""
    answer = call(lambda client: client.forecast(vegetable, horizon, remove_outliers), url, token)
    answers = [answer] if isinstance(answer, dict) else answer
    columns = ("vegetable", "year_month", "kilo_sold", "lower_80", "upper_80", "lower_95", "upper_95")
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([a["vegetable"], *(month[c] for c in columns[1:])] for a in answers for month in a["forecast"])
        return
    for a in answers:
        removed = ", ".join(a["trained_on"]["outlier_months_removed"]) or "none"
        trained = f"trained on {a['trained_on']['months']} months (outliers replaced: {removed})"
        click.echo(f"{a['vegetable']}: {a['model']}, {trained}")
        table = Table("month", "kilos", "80 % interval", "95 % interval")
        for m in a["forecast"]:
            table.add_row(
                m["year_month"],
                f"{m['kilo_sold']:,.1f}",
                f"{m['lower_80']:,.1f} to {m['upper_80']:,.1f}",
                f"{m['lower_95']:,.1f} to {m['upper_95']:,.1f}",
            )
        Console().print(table)
        one = a["backtest"]["one_step"]
        if one["model"]["mae"] is not None:
            click.echo(
                f"backtest, one step over the last 12 months: MAE {one['model']['mae']:,.1f} kg "
                f"(seasonal naive {one['seasonal_naive']['mae']:,.1f}), MASE {one['model']['mase']:.2f} "
                f"({one['seasonal_naive']['mase']:.2f})"
            )
        else:
            click.echo(f"backtest: {a['backtest']['note']}")


@main.command()
@url_option
def quality(url: str, token: str | None) -> None:
    """Print the data-quality figures: per vegetable, and for the feed."""
    answer = call(lambda client: client.quality(), url, token)
    table = Table("vegetable", "weeks", "first week", "last week", "missing weeks", "latest kilos", "latest z",
                  title="Data quality per vegetable")  # fmt: skip
    for v in answer["vegetables"]:
        z = "" if v["latest_z"] is None else f"{v['latest_z']:.2f}"
        style = "bold red" if v["latest_z"] is not None and abs(v["latest_z"]) > 5 else None
        cells = (str(v["weeks"]), v["first_week"], v["last_week"], str(v["missing_weeks"]), f"{v['latest_kilos']:,.1f}")
        table.add_row(v["vegetable"], *cells, z, style=style)
    Console().print(table)
    feed = answer["feed"]
    share = feed["recent_rejected_share"]
    click.echo(
        f"feed: {feed['recent_records']:,} recent records, "
        + ("none received yet" if share is None else f"{share:.1%} rejected")
    )
    names = ", ".join(f"{entry['vegetable']} ({entry['times']:,})" for entry in feed["most_rejected_names"])
    click.echo(f"most rejected names: {names or 'none'}")


@main.command("replay-rejected")
@url_option
def replay_rejected(url: str, token: str | None) -> None:
    """Check every quarantined record again with the server's rules; store those now valid."""
    report = call(lambda client: client.replay_rejected(), url, token)
    counts = ", ".join(f"{name} {report[name]:,}" for name in ("inserted", "updated", "unchanged"))
    click.echo(f"replayed {report['replayed']:,}, still rejected {report['still_rejected']:,} ({counts})")


@main.command()
@url_option
def ping(url: str, token: str | None) -> None:
    """Call every read endpoint (and post an empty list) and summarise each reply."""
    with connect(url, token) as client:
        checks: list[tuple[str, Callable[[], str]]] = [
            ("GET /health", lambda: str(client.health()["status"])),
            ("POST /post_sales []", lambda: "received {received}, inserted {inserted}".format(**client.post([]))),
            ("GET /get_raw_sales", lambda: f"{len(client.raw()):,} rows"),
            ("GET /get_monthly_sales", lambda: months_summary(client.monthly())),
            ("GET /get_monthly_sales?remove_outliers=true", lambda: months_summary(client.monthly(True))),
        ]
        failed = False
        for name, check in checks:
            try:
                click.echo(f"ok    {name}: {check()}")
            except ServiceError as error:
                failed = True
                click.echo(f"FAIL  {name}: {error}")
        if failed:
            sys.exit(1)


def months_summary(rows: list[dict[str, Any]]) -> str:
    outliers = sum(row["is_outlier"] for row in rows)
    vegetables = len({row["vegetable"] for row in rows})
    return f"{len(rows):,} months of {vegetables} vegetables, {outliers} outliers"


def connect(url: str, token: str | None = None) -> SalesClient:
    try:
        return SalesClient(url, token=token)
    except ServiceError as error:
        fail(str(error))


def call(request: Callable[[SalesClient], T], url: str, token: str | None) -> T:
    with connect(url, token) as client:
        try:
            return request(client)
        except ServiceError as error:
            fail(str(error))


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@main.command()
@click.option("--from", "source", required=True, help="a SQLite file, a CSV folder or a postgresql:// URL")
@click.option("--to", "target", required=True, help="a SQLite file, a CSV folder or a postgresql:// URL")
@click.option("--force", is_flag=True, help="write into a target that already holds sales")
@click.option("--chunk-size", type=click.IntRange(1, 100_000), default=5_000, show_default=True)
@click.option("--vocabulary", type=click.Path(dir_okay=False, path_type=Path), envvar="VEGSALES_VOCABULARY")
@click.option(
    "--week-date", type=click.Choice(WEEK_DATES), default="start", show_default=True, envvar="VEGSALES_WEEK_DATE"
)
def migrate(
    source: str, target: str, force: bool, chunk_size: int, vocabulary: Path | None, week_date: WeekDate
) -> None:
    """Copy every bronze row and the quarantine to another store, rebuilding silver and gold there."""
    from .pipeline import copy_into

    rules = FeedRules(load_vocabulary(vocabulary), week_date)
    with opened(source) as origin:
        rows = origin.bronze_changes(None).rows
        rejected, _ = origin.rejected_sales(limit=2**62)
    with opened(target) as destination:
        held = len(destination.bronze_changes(None).rows)
        if held and not force:
            fail(f"{target} already holds {held:,} sales; use --force to write into it anyway")
        totals = dict.fromkeys(("inserted", "updated", "unchanged", "rejected"), 0)
        with _progress(Console(stderr=True)) as progress:
            task = progress.add_task("migrating", total=len(rows))
            for start in range(0, max(len(rows), 1), chunk_size):
                chunk = rows[start : start + chunk_size]
                report = copy_into(destination, rules, chunk, rejected if start == 0 else ())
                for name in ("inserted", "updated", "unchanged"):
                    totals[name] += getattr(report, name)
                totals["rejected"] += len(report.rejected)
                progress.advance(task, len(chunk))
    summary = ", ".join(f"{name} {count:,}" for name, count in totals.items())
    click.echo(
        f"copied {len(rows):,} sales and {len(rejected):,} rejected records from {source} to {target}: {summary}"
    )
    if totals["rejected"]:
        fail(f"{totals['rejected']:,} sales were rejected by the target's rules (now in its quarantine)")


@contextmanager
def opened(location: str) -> Iterator[Store]:
    try:
        store = open_store(location, timeouts=Settings.load().database_timeouts())
    except (StorageError, InvalidSettings) as error:
        fail(str(error))
    try:
        yield store
    except StorageError as error:
        fail(str(error))
    finally:
        store.close()


def load_vocabulary(path: Path | None) -> Vocabulary:
    try:
        return Vocabulary.load(path)
    except VocabularyError as error:
        fail(str(error))


def serve_backend(backend: str) -> None:
    """Entry point of app_sql.py / app_csv.py: `vegsales serve --backend <backend>` with the given flags."""
    main(["serve", "--backend", backend, *sys.argv[1:]], prog_name=Path(sys.argv[0]).name)


if __name__ == "__main__":
    main()
