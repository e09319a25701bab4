"""A plain TCP listener that records what reaches it, or holds connections without a word."""

from __future__ import annotations

import socket
import threading


class Listener:
    """Accepts on a free loopback port from a thread. `silent=False` reads and counts every
    byte a client sends (a sniffer); `silent=True` only holds each connection open, the way a
    stuck proxy or a black-holed TLS endpoint does: the client's handshake never completes."""

    def __init__(self, *, silent: bool = False) -> None:
        self.silent = silent
        self.connections = 0
        self.received = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._sock.close()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self._held.append(conn)
            if not self.silent:
                threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        while not self._closing.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            self.received += len(data)
