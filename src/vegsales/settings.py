"""Every setting of a server, declared once: a flag of `vegsales serve` (generated from it), else
its VEGSALES_* variable, else the default. Read the same way by `serve`, by each worker process
(which gets the resolved settings as variables) and in the container; an invalid value stops the
server before it starts, naming the flag or variable and what it may be."""

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .connections import ConnectionLimits
from .guards import Security
from .logs import LogFormat, default_format
from .quarantine import MAX_REJECTED
from .records import WeekDate
from .storage.registry import BACKENDS, backend_of
from .storage.timeouts import DatabaseTimeouts

BackendName = Literal["sqlite", "csv", "postgres"]
PREFIX = "VEGSALES_"
ENVIRONMENT_ONLY = frozenset({"write_token", "admin_token"})
"""Secrets: a flag would show them in `ps`."""


class InvalidSettings(ValueError):
    """One line per invalid value, each naming its flag or variable."""


class Settings(BaseSettings):
    """What a server process needs: its store, its rules, its protections and its limits."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, frozen=True, extra="forbid")

    backend: BackendName | None = Field(None, description="[default: the one the location names, else sqlite]")
    location: str | None = Field(
        None,
        description="a SQLite file, a CSV folder or a postgresql://user@host:port/dbname URL  "
        f"[default: {BACKENDS['sqlite'].default_location}; {BACKENDS['csv'].default_location} for csv]",
    )
    db: str | None = Field(
        None,
        validation_alias=AliasChoices("db", "VEGSALES_DB", "VEGSALES_DATABASE_URL"),
        description="the same as --location, for sqlite or postgres (also VEGSALES_DATABASE_URL)",
    )
    data_dir: str | None = Field(None, description="the same as --location, for csv")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    vocabulary: Path | None = Field(None, description="vegetable vocabulary TOML  [default: the bundled one]")
    workers: int = Field(1, ge=1, le=64, description="server processes sharing the port (sqlite, postgres)")
    week_date: WeekDate = Field("start", description="whether a calendar date is the first or the last day of its week")
    max_rejected: int = Field(
        MAX_REJECTED,
        ge=1,
        le=10_000_000,
        description="distinct rejected records kept in quarantine (the least recent go first)",
    )
    history_days: int = Field(
        400,
        ge=0,
        le=100_000,
        description="days of data versions kept for as_of reads (0: only the current one)",
    )
    allowed_hosts: str | None = Field(
        None,
        description="Host names requests may name, comma-separated; * for any  "
        "[default: the loopback names on a loopback address, else any]",
    )
    allowed_origins: str | None = Field(
        None, description="origins whose pages may call the API from a browser (CORS), comma-separated"
    )
    write_token: SecretStr | None = None
    admin_token: SecretStr | None = None
    access_log: bool = Field(False, description="one log line per request (with its id, status, duration, bytes)")
    log_format: LogFormat | None = Field(
        None, description="log lines on stderr  [default: text at a terminal, else json]"
    )
    metrics: bool = Field(True, description="serve /metrics")
    max_connections: int = Field(
        ConnectionLimits.max_connections,
        ge=1,
        le=1_000_000,
        description="connections each server process holds at once; one more is answered 503 (lowered to fit "
        "ulimit -n)",
    )
    header_timeout: float = Field(
        ConnectionLimits.header_timeout, gt=0, allow_inf_nan=False, description="seconds for a request's header"
    )
    body_timeout: float = Field(
        ConnectionLimits.body_timeout, gt=0, allow_inf_nan=False, description="seconds for a request's body"
    )
    keepalive_timeout: float = Field(
        ConnectionLimits.keepalive_timeout, gt=0, allow_inf_nan=False, description="seconds a connection may idle"
    )
    max_header_bytes: int = Field(
        ConnectionLimits.max_header_bytes, gt=0, description="bytes of a request line and header; past them 431"
    )
    database_timeout: float = Field(
        DatabaseTimeouts.connect, gt=0, allow_inf_nan=False, description="seconds to get a PostgreSQL connection"
    )
    statement_timeout: float = Field(
        DatabaseTimeouts.statement, gt=0, allow_inf_nan=False, description="seconds for a PostgreSQL statement"
    )
    lock_timeout: float = Field(
        DatabaseTimeouts.lock, gt=0, allow_inf_nan=False, description="seconds to wait for a PostgreSQL lock"
    )

    @classmethod
    def load(cls, **flags: Any) -> "Settings":
        """The settings from the flags given (None: not given) over the environment; InvalidSettings
        naming each bad flag or variable."""
        given = {name: value for name, value in flags.items() if value is not None}
        try:
            return cls(**given)
        except ValidationError as error:
            raise InvalidSettings("\n".join(_problem(detail, given) for detail in error.errors())) from None

    def resolved(self) -> "Settings":
        """These settings with what their defaults depend on decided: the backend (from the
        location), the location (from the older aliases) and the log format (from the terminal)."""
        backend = self.backend or (backend_of(self.location).name if self.location else "sqlite")
        aliases = {"--db": self.db, "--data-dir": self.data_dir}
        location = self.location or aliases.get(BACKENDS[backend].location_flag) or BACKENDS[backend].default_location
        if backend == "sqlite" and BACKENDS["postgres"].recognises(location):
            backend = "postgres"
        update = {"backend": backend, "location": location, "log_format": self.log_format or default_format()}
        return self.model_copy(update=update)

    def security(self) -> Security:
        """The protections: hosts `*` is any; unset, the loopback names when serving on a loopback address."""
        names = [name.strip() for name in (self.allowed_hosts or "").split(",") if name.strip()]
        return Security(
            allowed_hosts=None if names == ["*"] else tuple(names) if names else Security.default_hosts(self.host),
            allowed_origins=tuple(o.strip() for o in (self.allowed_origins or "").split(",") if o.strip()),
            write_token=self.write_token.get_secret_value() if self.write_token else None,
            admin_token=self.admin_token.get_secret_value() if self.admin_token else None,
        )

    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(
            self.max_connections, self.header_timeout, self.body_timeout, self.keepalive_timeout, self.max_header_bytes
        )

    def database_timeouts(self) -> DatabaseTimeouts:
        return DatabaseTimeouts(self.database_timeout, self.statement_timeout, self.lock_timeout)

    def to_environment(self) -> dict[str, str]:
        """The VEGSALES_* variables that give a worker process these settings."""
        variables = {}
        for name, value in self.model_dump(exclude={"db", "data_dir"}).items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            variables[variable(name)] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return variables


def variable(name: str) -> str:
    return PREFIX + name.upper()


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _problem(detail: Any, flags: dict[str, Any]) -> str:
    name = str(detail["loc"][0]) if detail["loc"] else ""
    if name in flags:
        where = flag(name)
    elif name.startswith(PREFIX):  # an alias: the variable itself
        where = name
    else:
        where = variable(name) if name in Settings.model_fields else name
    return f"{where}={detail['input']!r}: {detail['msg']}"
