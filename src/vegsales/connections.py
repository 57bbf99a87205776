"""What a client's connection may cost a server process: the size of a request header, how long
its header and its body may take to arrive, how long it may stay idle, and how many connections
one process holds at once. Set from the settings (settings.py); enforced by
`http_protocol.LimitedHttpToolsProtocol`."""

import logging
import resource
from dataclasses import dataclass, fields, replace

log = logging.getLogger("vegsales")

MAX_HEADER_BYTES = 64 * 1024
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
KEEPALIVE_TIMEOUT = 5.0
MAX_CONNECTIONS = 1000
RESERVED_FILES = 64
"""File descriptors kept out of the connection cap: the store's files, the listening socket,
the event loop's own, and the connections being refused."""


@dataclass(frozen=True)
class ConnectionLimits:
    """Each limit of one server process (several workers: each has its own connection cap)."""

    max_connections: int = MAX_CONNECTIONS
    """Connections held at once; one more is answered 503 and closed."""
    header_timeout: float = HEADER_TIMEOUT
    """Seconds from a request's first byte to the end of its header."""
    body_timeout: float = BODY_TIMEOUT
    """Seconds from the end of a request's header to the end of its body."""
    keepalive_timeout: float = KEEPALIVE_TIMEOUT
    """Seconds a connection may wait for its next request (or its first one) before it is closed."""
    max_header_bytes: int = MAX_HEADER_BYTES
    """Bytes of a request line and header, past which the request is answered 431."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not value > 0:
                raise ValueError(f"{field.name} must be more than 0, got {value}")

    def within_open_files(self) -> "ConnectionLimits":
        """These limits with the connection cap lowered, if it must be, to leave RESERVED_FILES of
        the process's open-file limit free: past that limit a new connection is reset by the kernel
        without an answer, and the store could not open a file."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY or self.max_connections <= soft - RESERVED_FILES:
            return self
        allowed = max(1, soft - RESERVED_FILES)
        log.warning(
            "max connections lowered from %d to %d: the open-file limit is %d (ulimit -n)",
            self.max_connections,
            allowed,
            soft,
        )
        return replace(self, max_connections=allowed)
