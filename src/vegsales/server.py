"""Serve the API with uvicorn, in one process or several on one database."""

import logging
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import uvicorn

from .api import Limits, SalesApp, create_app
from .guards import Security
from .pipeline import SyncReport, sync_with_rules
from .quarantine import MAX_REJECTED
from .records import WeekDate
from .silver import FeedRules
from .storage.registry import BACKENDS, backend_of, open_store
from .vegetables import Vocabulary

log = logging.getLogger("vegsales")


@dataclass(frozen=True)
class Settings:
    """What a server process needs to build its app; passed to worker processes as VEGSALES_* variables."""

    backend: str = "sqlite"
    location: str = BACKENDS["sqlite"].default_location
    vocabulary: Path | None = None
    week_date: WeekDate = "start"
    max_rejected: int = MAX_REJECTED
    security: Security = field(default_factory=Security)

    def to_environment(self) -> dict[str, str]:
        hosts = self.security.allowed_hosts
        variables = {
            "VEGSALES_BACKEND": self.backend,
            "VEGSALES_LOCATION": self.location,
            "VEGSALES_WEEK_DATE": self.week_date,
            "VEGSALES_MAX_REJECTED": str(self.max_rejected),
            "VEGSALES_ALLOWED_HOSTS": "*" if hosts is None else ",".join(hosts),
            "VEGSALES_ALLOWED_ORIGINS": ",".join(self.security.allowed_origins),
        }
        if self.vocabulary:
            variables["VEGSALES_VOCABULARY"] = str(self.vocabulary)
        return variables

    @classmethod
    def from_environment(cls) -> "Settings":
        vocabulary = os.environ.get("VEGSALES_VOCABULARY")
        backend = os.environ.get("VEGSALES_BACKEND", "sqlite")
        return cls(
            backend=backend,
            location=os.environ.get("VEGSALES_LOCATION") or BACKENDS[backend].default_location,
            vocabulary=Path(vocabulary) if vocabulary else None,
            week_date="end" if os.environ.get("VEGSALES_WEEK_DATE") == "end" else "start",
            max_rejected=int(os.environ.get("VEGSALES_MAX_REJECTED", MAX_REJECTED)),
            security=security_settings(
                os.environ.get("VEGSALES_ALLOWED_HOSTS"), os.environ.get("VEGSALES_ALLOWED_ORIGINS"), "0.0.0.0"
            ),
        )


def security_settings(hosts: str | None, origins: str | None, bind_host: str) -> Security:
    """The protections: hosts and origins as comma-separated lists (hosts `*`: any; unset: the
    loopback names when serving on a loopback address), tokens from VEGSALES_WRITE_TOKEN and
    VEGSALES_ADMIN_TOKEN (environment only: a flag would show them in `ps`)."""
    names = [name.strip() for name in (hosts or "").split(",") if name.strip()]
    return Security(
        allowed_hosts=None if names == ["*"] else tuple(names) if names else Security.default_hosts(bind_host),
        allowed_origins=tuple(origin.strip() for origin in (origins or "").split(",") if origin.strip()),
        write_token=os.environ.get("VEGSALES_WRITE_TOKEN") or None,
        admin_token=os.environ.get("VEGSALES_ADMIN_TOKEN") or None,
    )


def chosen_store(backend: str | None, location: str | None, aliases: dict[str, str | None]) -> tuple[str, str]:
    """(backend, location) from the settings: `location` (or the older flag of the backend, in
    `aliases` by flag), else the backend's default. Without a backend, the one the location
    names; a postgresql:// URL always means PostgreSQL (`app_sql.py --db postgresql://...`)."""
    name = backend or (backend_of(location).name if location else "sqlite")
    location = location or aliases.get(BACKENDS[name].location_flag) or BACKENDS[name].default_location
    if name == "sqlite" and BACKENDS["postgres"].recognises(location):
        name = "postgres"
    return name, location


def build_app(settings: Settings) -> SalesApp:
    """The app over the configured store, its data first brought in line with the rules."""
    rules = FeedRules(Vocabulary.load(settings.vocabulary), settings.week_date)
    store = open_store(settings.location, settings.backend)
    try:
        log_sync(sync_with_rules(store, rules))
    except BaseException:
        store.close()
        raise
    return create_app(store, rules, Limits(max_rejected=settings.max_rejected), settings.security)


def log_sync(report: SyncReport) -> None:
    if report.week_date_changed:
        log.warning(
            "week date changed (%s): bronze re-keyed, silver and gold rebuilt from bronze; %d rows superseded",
            report.week_date_changed,
            len(report.superseded),
        )
        for row in report.superseded:
            log.warning("superseded by a later record of the same week: %s", row)
    if report.renamed:
        log.warning("vocabulary changed for %d stored names: silver and gold rebuilt from bronze", len(report.renamed))
    if report.replay and (report.replay.replayed or report.replay.still_rejected):
        log.warning(
            "rules changed: quarantine replayed %d, still rejected %d",
            report.replay.replayed,
            report.replay.still_rejected,
        )


def app_from_environment() -> SalesApp:
    """App factory for worker processes (uvicorn --factory)."""
    return build_app(Settings.from_environment())


def serve(app: SalesApp, settings: Settings, host: str, port: int, workers: int = 1, access_log: bool = False) -> None:
    """Run `app` until interrupted; with several workers, each builds its own from `settings`
    and they share the port (the store serialises their writes)."""
    run = partial(
        uvicorn.run, host=host, port=port, loop="uvloop", http="httptools", access_log=access_log, log_level="info"
    )
    if workers == 1:
        run(app)
        return
    app.close()
    os.environ.update(settings.to_environment())
    run("vegsales.server:app_from_environment", factory=True, workers=workers)
