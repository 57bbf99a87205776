"""A TCP proxy in the test process, between a server and its database, to take the database away
and give it back without touching the database server itself (others use it)."""

import socket
import struct
import threading
from contextlib import suppress
from typing import Literal

Outage = Literal["refused", "silent"]


class TcpProxy:
    """127.0.0.1:<port> forwarded to `target`.

    `cut("refused")`: the port closed and every connection through it reset (the database is down);
    `cut("silent")`: connections through it cut too, but new ones accepted and never answered (a
    database host that has stopped answering); `restore()`: forwarding again, on the same port."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._forwarding = True
        self.port = self._listen(0)

    def _listen(self, port: int) -> int:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return int(listener.getsockname()[1])

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut() or close()
            with self._lock:
                self._sockets.add(client)
                forwarding = self._forwarding
            if not forwarding:
                continue  # held open, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                self._close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.add(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        self._close(source)
        self._close(sink)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # closed with a reset
            sock.close()

    def _cut_connections(self) -> None:
        with self._lock:
            connections = list(self._sockets)
        for sock in connections:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            self._close(sock)

    def cut(self, outage: Outage) -> None:
        with self._lock:
            self._forwarding = False
        if outage == "refused" and self._listener is not None:
            self._listener.close()
            self._listener = None
        self._cut_connections()

    def restore(self) -> None:
        self._cut_connections()  # the silent ones
        with self._lock:
            self._forwarding = True
        if self._listener is None:
            self._listen(self.port)

    def close(self) -> None:
        self.cut("refused")
