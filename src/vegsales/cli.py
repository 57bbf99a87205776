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
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from .client import DEFAULT_URL, TABLE_PATHS, SalesClient, ServiceError
from .logs import configure_logging, default_format
from .records import WEEK_DATES, WeekDate
from .sales_files import (
    MalformedLine,
    Sale,
    SalesFile,
    SalesFileError,
    column_names,
    in_chunks,
    read_sales_file,
    separator_named,
)
from .settings import ENVIRONMENT_ONLY, InvalidSettings, Settings, flag, variable
from .silver import FeedRules
from .storage import StorageError, Store
from .storage.registry import BACKENDS, open_store
from .vegetables import UnknownVegetable, Vocabulary, VocabularyError

T = TypeVar("T")
SHOWN_REJECTIONS = 10
POST_COUNTS = ("received", "inserted", "updated", "unchanged")
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
"""A new path with one of these names a SQLite file for `migrate --to`; any other needs --backend or a /."""
IMPORT_CHUNK_SIZE = 5_000
"""Records a post of `vegsales import`: measured in docs/decisions/012-import-chunk-size.md."""
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
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 100_000),
    default=IMPORT_CHUNK_SIZE,
    show_default=True,
    help="records a post (see docs/decisions/012-import-chunk-size.md)",
)
@click.option(
    "--sep",
    "separator",
    metavar="CHAR|tab",
    callback=lambda _context, _parameter, value: parsed(separator_named, value),
    help="the separator  [default: , ; or tab, whichever splits the header line into the known columns]",
)
@click.option(
    "--encoding",
    metavar="NAME",
    help="the file's encoding when it is not UTF-8: cp1252, latin-1, ...  [default: UTF-8, or the one a BOM names]",
)
@click.option(
    "--columns",
    metavar="date=NAME,vegetable=NAME,kilo_sold=NAME",
    callback=lambda _context, _parameter, value: parsed(column_names, value),
    help="the header's names for the columns it does not name in English, French or Spanish",
)
def import_file(
    file: Path,
    url: str,
    token: str | None,
    chunk_size: int,
    separator: str | None,
    encoding: str | None,
    columns: dict[str, str] | None,
) -> None:
    """Post a CSV file of sales in chunks, then summarise what was stored; a malformed line stops it."""
    console = Console(stderr=True)
    sales_file = open_sales_file(file, separator, encoding, columns, console)
    posted = Posted()
    stopped: MalformedLine | None = None
    with connect(url, token) as client, _progress(console, "lines") as progress:
        task = progress.add_task(f"importing {file.name}", total=sales_file.lines)
        try:
            for chunk in in_chunks(sales_file.sales(), chunk_size):
                posted.add(chunk, post_chunk(client, [sale.record for sale in chunk]))
                progress.update(task, completed=chunk[-1].line)
        except MalformedLine as error:  # what came before it is posted: in_chunks gave it first
            stopped = error
        except ServiceError as error:
            fail(f"{error}; {posted.stopped_at(None)}")
        else:
            progress.update(task, completed=sales_file.lines)
    posted.echo()
    if stopped:
        fail(f"{file}: {stopped}; {posted.stopped_at(stopped.line)}")


class Posted:
    """What the service reported for the chunks of a file posted so far."""

    def __init__(self) -> None:
        self.totals = dict.fromkeys(POST_COUNTS, 0)
        self.rejections: list[tuple[int, list[dict[str, Any]]]] = []
        """(line, the service's errors) of each rejected record."""

    def add(self, chunk: list[Sale], report: dict[str, Any]) -> None:
        for name in self.totals:
            self.totals[name] += report[name]
        self.rejections += [(chunk[r["index"]].line, r["errors"]) for r in report["rejected"]]

    def echo(self) -> None:
        summary = ", ".join(f"{name} {count:,}" for name, count in self.totals.items())
        click.echo(f"{summary}, rejected {len(self.rejections):,}")
        for line, errors in self.rejections[:SHOWN_REJECTIONS]:
            reasons = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            click.echo(f"  line {line}: {reasons}")
        if len(self.rejections) > SHOWN_REJECTIONS:
            click.echo(f"  ... and {len(self.rejections) - SHOWN_REJECTIONS:,} more rejected lines")

    def stopped_at(self, line: int | None) -> str:
        """What an import stopped at `line` (None: at a failed post) had done, and what to do."""
        received, rejected = self.totals["received"], len(self.rejections)
        before, then = (f" before line {line}", "fix the line and") if line else ("", "once the service answers,")
        if not received:
            return f"the import stopped there, before anything was posted. To finish, {then} import the file again"
        return (
            f"the import stopped there: the {received:,} records{before} were posted ({received - rejected:,} "
            f"stored, {rejected:,} rejected), none after. To finish, {then} import the file again: posts are "
            "idempotent, the records already stored come back unchanged"
        )


def open_sales_file(
    file: Path, separator: str | None, encoding: str | None, columns: dict[str, str] | None, console: Console | None
) -> SalesFile:
    """The file read and its header understood, or the command ended with why."""
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        fail(f"{file}: no such file")
    except OSError as error:
        fail(f"{file}: cannot read it: {error.strerror}")
    try:
        sales_file = read_sales_file(data, separator, encoding, columns)
    except SalesFileError as error:
        fail(f"{file}: {error}")
    if sales_file.ignored_columns and console:
        console.print(f"note: ignoring column(s) {', '.join(sales_file.ignored_columns)}", markup=False)
    return sales_file


def read_sales_csv(file: Path | str, console: Console | None = None) -> tuple[list[int], list[dict[str, Any]]]:
    """Every record of a sales file, read as `vegsales import` reads it, and the line each starts on
    (for scripts and tests; the import itself reads and posts a chunk at a time)."""
    try:
        sales = list(open_sales_file(Path(file), None, None, None, console).sales())
    except MalformedLine as error:
        fail(f"{file}: {error}")
    return [sale.line for sale in sales], [sale.record for sale in sales]


def parsed(parse: Callable[[str], T], value: str | None) -> T | None:
    """An option's value as `parse` reads it (None when not given), or the usage error it raises."""
    try:
        return None if value is None else parse(value)
    except SalesFileError as error:
        raise click.BadParameter(str(error)) from None


def post_chunk(client: SalesClient, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The service's report on `records`; a 422 (every record rejected) is a report, not an error."""
    return report_of(lambda: client.post(records))


def report_of(request: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A post's or a deletion's report; a 422 (every record or key rejected) is a report, not an error."""
    try:
        return request()
    except ServiceError as error:
        if error.status == 422:
            return cast(dict[str, Any], error.report)
        raise


class RateColumn(ProgressColumn):
    """Units a second, as rich averages them over the last 30 s."""

    def __init__(self, unit: str):
        self.unit = unit
        super().__init__()

    def render(self, task: Task) -> Text:
        return Text("" if task.speed is None else f"{task.speed:,.0f} {self.unit}/s")


def _progress(console: Console, unit: str) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("elapsed,"),
        TimeRemainingColumn(),
        TextColumn("left"),
        console=console,
    )


@main.command()
@url_option
@click.option("--remove-outliers", is_flag=True, help="leave out the months tagged as outliers")
@click.option("--vegetable", help="only this vegetable (any spelling the vocabulary knows)")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout instead of a table")
@click.option("--as-of", help="as a data version (see `vegsales history`), or an RFC 3339 time, answered")
def monthly(
    url: str, token: str | None, remove_outliers: bool, vegetable: str | None, as_csv: bool, as_of: str | None
) -> None:
    """Print monthly sales, outliers highlighted."""
    wanted = canonical_name(vegetable) if vegetable else None
    rows = call(lambda client: client.monthly(remove_outliers=remove_outliers, as_of=as_of), url, token)
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
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True)
def history(url: str, token: str | None, limit: int) -> None:
    """Print the data versions: each committed change of the sales, the newest first."""
    versions = call(lambda client: client.history(limit), url, token)
    table = Table("version", "committed at", "operation", "inserted", "updated", "deleted", "months", "request")
    for version in versions:
        counts = version["bronze"]
        table.add_row(
            str(version["data_version"]),
            version["committed_at"],
            version["operation"],
            *(f"{counts[name]:,}" for name in ("inserted", "updated", "deleted")),
            f"{version['months_changed']:,}",
            " ".join(version["request_ids"]),
        )
    Console().print(table)


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


@main.command()
@click.argument("table", type=click.Choice(list(TABLE_PATHS)))
@click.option(
    "--format", "file_format", type=click.Choice(["csv", "parquet", "ndjson", "json"]), default="csv", show_default=True
)
@click.option("--vegetable", help="only this vegetable (any spelling; raw: every spelling of it)")
@click.option("--from", "start", help="the first week (raw, weekly: any notation posts take) or month YYYY-MM")
@click.option("--to", "end", help="the last week or month, inclusive")
@click.option("--as-of", help="as a data version, or an RFC 3339 time, answered")
@click.option("--remove-outliers", is_flag=True, help="monthly: leave out the months tagged as outliers")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="the file to write  [default: stdout]")
@url_option
def export(
    table: str,
    file_format: str,
    vegetable: str | None,
    start: str | None,
    end: str | None,
    as_of: str | None,
    remove_outliers: bool,
    output: Path | None,
    url: str,
    token: str | None,
) -> None:
    """Write a table (raw, weekly or monthly) as CSV, Parquet, NDJSON or JSON, as the service
    serves it, filtered by vegetable and weeks or months."""
    if remove_outliers and table != "monthly":
        fail("--remove-outliers is for the monthly table")
    body = call(
        lambda client: client.export(table, file_format, as_of, vegetable, start, end, remove_outliers), url, token
    )
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(body)
    except OSError as error:
        fail(f"{output}: cannot write it: {error.strerror}")
    click.echo(f"wrote {len(body):,} bytes to {output}", err=True)


@main.command()
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.option("--date", help="the week of the record to take back, in any notation the service takes")
@click.option("--vegetable", help="its vegetable exactly as stored (the raw name)")
@url_option
def delete(file: Path | None, date: str | None, vegetable: str | None, url: str, token: str | None) -> None:
    """Take stored records back: those of FILE (a sales file, read as `import` reads it; kilos
    ignored) or the one --date and --vegetable name. Exit status 1 when a key was not found or
    malformed."""
    if (file is None) == (date is None and vegetable is None):
        fail("name the records to delete: a FILE, or --date and --vegetable")
    if file is None:
        if date is None or vegetable is None:
            fail("--date and --vegetable name a record together")
        keys: list[dict[str, Any]] = [{"date": date, "vegetable": vegetable}]
    else:
        keys = [{"date": record["date"], "vegetable": record["vegetable"]} for record in read_sales_csv(file)[1]]
    report = call(lambda client: report_of(lambda: client.delete(keys)), url, token)
    click.echo(
        f"deleted {report['deleted']:,} of {report['received']:,}, not found {len(report['not_found']):,}, "
        f"rejected {len(report['rejected']):,}; data version {report['data_version']}"
    )
    for missing in report["not_found"]:
        click.echo(f"  key {missing['index'] + 1}: {missing['message']}")
    for rejection in report["rejected"]:
        reasons = "; ".join(error["message"] for error in rejection["errors"])
        click.echo(f"  key {rejection['index'] + 1}: {reasons}")
    if report["not_found"] or report["rejected"]:
        sys.exit(1)


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
@click.option(
    "--backend",
    type=click.Choice(list(BACKENDS)),
    help="the target's kind, needed when its location does not say (a new path without a trailing / or a .db suffix)",
)
@click.option("--force", is_flag=True, help="write into a target that already holds sales")
@click.option("--chunk-size", type=click.IntRange(1, 100_000), default=5_000, show_default=True)
@click.option("--vocabulary", type=click.Path(dir_okay=False, path_type=Path), envvar="VEGSALES_VOCABULARY")
@click.option(
    "--week-date", type=click.Choice(WEEK_DATES), default="start", show_default=True, envvar="VEGSALES_WEEK_DATE"
)
def migrate(
    source: str,
    target: str,
    backend: str | None,
    force: bool,
    chunk_size: int,
    vocabulary: Path | None,
    week_date: WeekDate,
) -> None:
    """Copy every bronze row and the quarantine to another store, rebuilding silver and gold there."""
    from .pipeline import copy_into

    target_kind = target_backend(target, backend)
    if not BACKENDS["postgres"].recognises(source) and not Path(source).exists():
        fail(f"--from {source}: no such file or folder")  # opening it would create an empty store
    rules = FeedRules(load_vocabulary(vocabulary), week_date)
    with opened(source) as origin:
        rows = origin.bronze_changes(None).rows
        rejected, _ = origin.rejected_sales(limit=2**62)
    with opened(target, target_kind) as destination:
        held = len(destination.bronze_changes(None).rows)
        if held and not force:
            fail(f"{target} already holds {held:,} sales; use --force to write into it anyway")
        totals = dict.fromkeys(("inserted", "updated", "unchanged", "rejected"), 0)
        with _progress(Console(stderr=True), "sales") as progress:
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


def target_backend(location: str, backend: str | None) -> str:
    """The backend to write `location` with: the one its form or what exists there names, else `backend`,
    else SQLite for a new path ending in .db, .sqlite or .sqlite3; a usage error when none says."""
    path = Path(location)
    certain = next((name for name in ("postgres", "csv") if BACKENDS[name].recognises(location)), None)
    certain = certain or ("sqlite" if path.is_file() else None)
    if backend and certain and backend != certain:
        raise click.UsageError(f"--to {location} is a {certain} store, not {backend}")
    chosen = backend or certain or ("sqlite" if path.suffix.lower() in SQLITE_SUFFIXES else None)
    if chosen is None:  # a new path without a suffix: a SQLite file and a CSV folder are both plausible
        raise click.UsageError(
            f"--to {location} does not say which kind of store to create: add --backend sqlite (a file) or "
            f"--backend csv (a folder), or write it {location}/ for a CSV folder or with .db for a SQLite file"
        )
    return chosen


@contextmanager
def opened(location: str, backend: str | None = None) -> Iterator[Store]:
    try:
        store = open_store(location, backend, timeouts=Settings.load().database_timeouts())
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
