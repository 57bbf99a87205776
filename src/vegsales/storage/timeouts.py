"""How long a request may wait on PostgreSQL: set from the settings (settings.py), applied by storage/postgres.py."""

import math
from dataclasses import dataclass, fields
from typing import Any

KEEPALIVE_PROBES = 3
"""Unanswered TCP keepalive probes, one a second, after which a connection is taken for dead."""


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long a request may wait on PostgreSQL before it is answered 503, in seconds."""

    connect: float = 3.0
    """To open a connection, or to get one from the pool when all are busy or the database is down."""
    statement: float = 60.0
    """For one statement to run (PostgreSQL's statement_timeout)."""
    lock: float = 10.0
    """For one statement to get a lock, the write lock another replica holds included (lock_timeout)."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"the {field.name} timeout must be more than 0 seconds, got {value}")

    def connection_parameters(self) -> dict[str, Any]:
        """libpq's: the connect timeout (whole seconds, 2 at least, as libpq counts it), and TCP
        keepalives, so that a database host that vanishes (no reset, no answer) is noticed within
        the connect timeout and KEEPALIVE_PROBES seconds, even while a statement waits for its reply."""
        idle = max(1, math.ceil(self.connect))
        return {
            "connect_timeout": max(2, math.ceil(self.connect)),
            "keepalives": 1,
            "keepalives_idle": idle,
            "keepalives_interval": 1,
            "keepalives_count": KEEPALIVE_PROBES,
            "tcp_user_timeout": (idle + KEEPALIVE_PROBES) * 1000,  # data sent and never acknowledged
        }


DEFAULT_TIMEOUTS = DatabaseTimeouts()
