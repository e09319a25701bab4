"""Liveness and readiness that mean something, over HTTP and (optionally) a heartbeat file.

Liveness: the asyncio loop ticked recently (checked from the HTTP server's own thread, so a
blocked loop is seen). Readiness: live, connected, the worker is polling, and the last health
check of the Temporal server succeeded recently. The heartbeat file is rewritten only while
ready and removed otherwise; the liveness file is touched on every loop tick. So
`python -m worker.probe` checks freshness, not existence, for both.

The HTTP server is bounded whatever its clients do (see `HealthServer`) and listens on IPv4
and IPv6, as should the SDK's metrics server (`metrics_bind_address`).
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from http import HTTPStatus

from temporalio.client import Client

from worker.polls import PollMonitor

from temporal_worker_spec import contract

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
"""How often the event loop proves it is responsive."""
LIVENESS_MAX_STALL_SECONDS = 20.0
"""A loop that has not ticked for this long is reported dead."""
CHECK_INTERVAL_SECONDS = 2.0
"""How often the Temporal server's gRPC health service is asked."""
CHECK_TIMEOUT_SECONDS = 5.0
"""Per-check deadline; a server that does not answer in time counts as down."""
READY_MAX_AGE_SECONDS = CHECK_INTERVAL_SECONDS + CHECK_TIMEOUT_SECONDS + 3.0
"""The last successful check must be at most this old for the worker to be ready."""

READ_TIMEOUT_SECONDS = 5.0
"""A health client must send its whole request head within this, or it is disconnected."""
WRITE_TIMEOUT_SECONDS = 5.0
"""A health client must take its response within this, or it is disconnected."""
MAX_CONNECTIONS = 64
"""Health connections open at once; at the cap, the oldest one without a request goes."""
MAX_REQUEST_BYTES = 8192
"""Request line and headers of one health request; more is answered 431."""
LISTEN_BACKLOG = 1024
"""Connections the kernel queues for accept (capped by net.core.somaxconn). A burst waits there
at no cost to the worker; a short queue would make the kernel drop it instead, leaving clients
with connections the server never saw."""
CLOSE_TIMEOUT_SECONDS = 2.0
"""`HealthServer.close()` waits at most this long for its thread."""
ACCEPT_RETRY_SECONDS = 1.0
"""Pause before accepting again when the process is out of file descriptors or memory."""
CAP_WARNING_INTERVAL_SECONDS = 60.0
"""Reaching the connection cap is logged at most once per this interval."""
BINDV6ONLY_SYSCTL = "/proc/sys/net/ipv6/bindv6only"
"""1 makes an IPv6 socket that does not say otherwise refuse IPv4 (Linux; default 0)."""


class Health:
    """Shared health state: written by the event loop, read by the HTTP thread."""

    def __init__(self, heartbeat_file: str | None = None,
                 liveness_file: str | None = None) -> None:
        self.heartbeat_file = heartbeat_file
        self.liveness_file = liveness_file
        self.client: Client | None = None
        self.worker_running: Callable[[], bool] = lambda: False
        self.polls: PollMonitor | None = None
        """Whether the worker's polls are accepted; None before the worker runs."""
        self.stopping = False
        self._loop_tick = time.monotonic()
        self._last_check_ok: float | None = None
        self._last_check_error: str | None = "no health check yet"
        self._was_ready = False
        self.report: Callable[[bool], None] = lambda ready: None
        """Called with the readiness at every change (the readiness metric)."""

    def live(self) -> tuple[bool, str]:
        stall = time.monotonic() - self._loop_tick
        if stall > LIVENESS_MAX_STALL_SECONDS:
            return False, f"event loop unresponsive for {stall:.0f}s"
        return True, "event loop responsive"

    def ready(self) -> tuple[bool, str]:
        live, reason = self.live()
        if not live:
            return False, reason
        if self.stopping:
            return False, "stopping: draining in-flight work"
        if self.client is None:
            return False, "not connected to Temporal"
        if not self.worker_running():
            return False, "worker not running"
        if self._last_check_error is not None:
            return False, f"Temporal health check failed: {self._last_check_error}"
        age = time.monotonic() - (self._last_check_ok or 0.0)
        if age > READY_MAX_AGE_SECONDS:
            return False, f"no successful Temporal health check for {age:.0f}s"
        if self.polls is not None:
            accepted, reason = self.polls.status()
            if not accepted:
                return False, reason
        return True, "connected, polls accepted, server healthy"

    async def tick(self) -> None:
        """Prove the loop is alive; run as a task for the life of the process."""
        while True:
            self._loop_tick = time.monotonic()
            self._touch_liveness()
            await asyncio.sleep(TICK_SECONDS)

    def _touch_liveness(self) -> None:
        if not self.liveness_file:
            return
        try:
            with open(self.liveness_file, "a"):
                pass
            os.utime(self.liveness_file)
        except OSError as err:
            log.warning("cannot update liveness file %s: %s", self.liveness_file, err.strerror)

    async def watch_server(self, stop: asyncio.Event) -> None:
        """Check the server's health and keep the heartbeat file in step until `stop`.

        Await this rather than cancel it: an RPC abandoned mid-flight completes later on an SDK
        thread, and if that happens while the interpreter is exiting, the process aborts.
        """
        while not stop.is_set():
            await self.check_server()
            try:
                await asyncio.wait_for(stop.wait(), timeout=CHECK_INTERVAL_SECONDS)
            except asyncio.TimeoutError:
                pass

    async def check_server(self) -> None:
        """Ask the Temporal server's health service once and record the outcome."""
        if self.client is None:
            return
        try:
            serving = await self.client.service_client.check_health(
                timeout=timedelta(seconds=CHECK_TIMEOUT_SECONDS))
            error = None if serving else "server reports NOT_SERVING"
        except Exception as err:  # RPCError, timeouts: all mean "not usable now"
            error = _describe(err)
        if error is None:
            self._last_check_ok = time.monotonic()
            if self.polls is not None:
                await self.polls.check()
        self._last_check_error = error
        self._record_transition()

    def _record_transition(self) -> None:
        ready, reason = self.ready()
        if ready != self._was_ready:
            log.log(logging.INFO if ready or self.stopping else logging.WARNING,
                    "worker is %s: %s", "ready" if ready else "not ready", reason)
            self._was_ready = ready
            self.report(ready)
        self._write_heartbeat(ready)

    def mark_stopping(self) -> None:
        """Go not-ready at once when draining starts."""
        self.stopping = True
        self._record_transition()

    def clear_heartbeat(self) -> None:
        """Remove a heartbeat file, e.g. one left behind by a previous process."""
        self._write_heartbeat(False)
        if self.liveness_file and os.path.exists(self.liveness_file):
            try:
                os.unlink(self.liveness_file)
            except OSError as err:
                log.warning("cannot remove liveness file %s: %s", self.liveness_file,
                            err.strerror)

    def _write_heartbeat(self, ready: bool) -> None:
        if not self.heartbeat_file:
            return
        try:
            if ready:
                tmp = f"{self.heartbeat_file}.tmp"
                with open(tmp, "w") as f:
                    f.write(f"{time.time():.3f}\n")
                os.replace(tmp, self.heartbeat_file)
            elif os.path.exists(self.heartbeat_file):
                os.unlink(self.heartbeat_file)
        except OSError as err:
            log.warning("cannot update heartbeat file %s: %s", self.heartbeat_file, err.strerror)


def serve(health: Health, port: int, host: str | None = None, *,
          read_timeout: float = READ_TIMEOUT_SECONDS, max_connections: int = MAX_CONNECTIONS,
          max_request_bytes: int = MAX_REQUEST_BYTES) -> HealthServer:
    """Serve liveness and readiness on `port` from a daemon thread; returns the running server.

    `host` None listens on every address, IPv4 and IPv6 (IPv4 only where the host has no IPv6).
    A port that cannot be bound raises OSError here, before anything runs.
    """
    sock = _listen(host, port)
    server = HealthServer(health, sock, read_timeout=read_timeout,
                          max_connections=max_connections, max_request_bytes=max_request_bytes)
    try:
        server.start()
    except BaseException:
        sock.close()
        raise
    return server


def metrics_bind_address(port: int) -> str:
    """Where the SDK's Prometheus server should listen: `[::]:port` (IPv4 and IPv6) where that
    is dual-stack, else `0.0.0.0:port`.

    The SDK's server (Rust) binds `[::]` without setting IPV6_V6ONLY, so it is dual-stack only
    while the kernel default, net.ipv6.bindv6only, is 0. With 1 it would refuse IPv4, and on a
    host without IPv6 it could not bind at all: both keep IPv4.
    """
    if not socket.has_dualstack_ipv6():
        log.info("IPv6 is unavailable: metrics listen on IPv4 only")
        return f"0.0.0.0:{port}"
    if _bindv6only():
        log.warning("net.ipv6.bindv6only is 1, so [::] would refuse IPv4: metrics listen on "
                    "IPv4 only")
        return f"0.0.0.0:{port}"
    return f"[::]:{port}"


def _bindv6only() -> bool:
    try:
        with open(BINDV6ONLY_SYSCTL) as f:
            return f.read().strip() == "1"
    except OSError:  # not Linux, or no IPv6
        return False


def _listen(host: str | None, port: int) -> socket.socket:
    """A listening socket: on `host`, or dual-stack on `[::]`, or on 0.0.0.0 without IPv6."""
    if host is not None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)
    if socket.has_dualstack_ipv6():
        try:
            return socket.create_server(("::", port), family=socket.AF_INET6,
                                        dualstack_ipv6=True, backlog=LISTEN_BACKLOG)
        except OSError as err:
            if err.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                raise
    log.info("IPv6 is unavailable: the health server listens on IPv4 only")
    return socket.create_server(("0.0.0.0", port), backlog=LISTEN_BACKLOG)


_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_GONE_BEFORE_ACCEPT = {errno.ECONNABORTED, errno.EPROTO, errno.ECONNRESET}


class _Refused(Exception):
    """A request answered with an error status instead of a health verdict."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


class HealthServer:
    """The HTTP side of `Health`: one asyncio loop in one daemon thread, whatever the clients do.

    It runs outside the worker's event loop, so a blocked worker loop is still reported dead.
    Each client must send its request head (at most `max_request_bytes`) within `read_timeout`
    and take the response within WRITE_TIMEOUT_SECONDS, or it is disconnected. At most
    `max_connections` are open: a newcomer at the cap replaces the connection that has waited
    longest without sending a complete request (or waits in the kernel's accept queue while
    every open one is being answered). A client that goes away is logged at DEBUG, never with
    a traceback. One request per connection (`Connection: close`).
    """

    def __init__(self, health: Health, sock: socket.socket, *, read_timeout: float,
                 max_connections: int, max_request_bytes: int) -> None:
        self.health = health
        self.port: int = sock.getsockname()[1]
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.max_request_bytes = max_request_bytes
        self._sock = sock
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._on_loop_error)
        self._stop: asyncio.Future[None] | None = None
        self._closing = False
        # Open connections, oldest first: each one's task, and whether its request is in.
        self._clients: dict[asyncio.Task[None], bool] = {}
        self._cap_warned_at = -CAP_WARNING_INTERVAL_SECONDS
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="health-http", daemon=True)

    @property
    def connections(self) -> int:
        """Client connections open right now."""
        return len(self._clients)

    def start(self) -> None:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            raise self._start_error

    def close(self) -> None:
        """Stop listening, drop every client and end the thread; safe to call twice."""
        loop, stop = self._loop, self._stop
        if stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))
            except RuntimeError:  # the loop closed in between: nothing left to stop
                pass
        if self._thread.is_alive():
            self._thread.join(CLOSE_TIMEOUT_SECONDS)

    def __enter__(self) -> HealthServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except Exception as err:
            if self._started.is_set():  # a bug, not a client: the liveness probe will notice
                log.error("health server stopped: %s", _describe(err))
            else:
                self._start_error = err
        finally:
            self._started.set()
            self._sock.close()
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = self._loop.create_future()
        self._sock.setblocking(False)
        accepting = asyncio.create_task(self._accept_forever())
        self._started.set()
        try:
            await asyncio.wait({self._stop, accepting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._closing = True
            tasks = [accepting, *self._clients]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if accepting.done() and not accepting.cancelled() and accepting.exception():
            raise accepting.exception()

    async def _accept_forever(self) -> None:
        """Accept one connection at a time, making room for it first: at most
        `max_connections` open, plus the one being let in."""
        while True:
            try:
                conn, address = await self._loop.sock_accept(self._sock)
            except OSError as err:
                if err.errno in _OUT_OF_RESOURCES:  # let the rest of the process run
                    log.warning("health server cannot accept connections: %s",
                                _describe(err))
                    await asyncio.sleep(ACCEPT_RETRY_SECONDS)
                    continue
                if err.errno in _GONE_BEFORE_ACCEPT:
                    continue
                raise
            try:
                await self._make_room()
            except BaseException:  # closing
                conn.close()
                raise
            task = asyncio.create_task(self._handle(conn, _format_peer(address)))
            self._clients[task] = False
            task.add_done_callback(lambda t: self._clients.pop(t, None))

    async def _make_room(self) -> None:
        while len(self._clients) >= self.max_connections:
            now = time.monotonic()
            if now - self._cap_warned_at >= CAP_WARNING_INTERVAL_SECONDS:
                self._cap_warned_at = now
                log.warning("health server at its cap of %d connections: dropping those that "
                            "send no request", self.max_connections)
            idle = next((task for task, read in self._clients.items() if not read), None)
            if idle is not None:
                del self._clients[idle]
                idle.cancel()
                await asyncio.wait({idle})  # its socket is closed before the next one opens
            else:  # every one is being answered, which takes at most WRITE_TIMEOUT_SECONDS
                await asyncio.wait(set(self._clients), return_when=asyncio.FIRST_COMPLETED)

    async def _handle(self, conn: socket.socket, peer: str) -> None:
        this = asyncio.current_task()
        writer: asyncio.StreamWriter | None = None
        method = "GET"
        try:
            reader, writer = await asyncio.open_connection(sock=conn,
                                                           limit=self.max_request_bytes)
            try:
                method, path = await asyncio.wait_for(self._read_request(reader),
                                                      self.read_timeout)
                status, reason = self._answer(method, path)
            except _Refused as refused:
                status, reason = refused.status, refused.status.phrase
            except asyncio.TimeoutError:
                log.debug("health client %s sent no complete request within %.0fs: dropped",
                          peer, self.read_timeout)
                return
            if this in self._clients:
                self._clients[this] = True
            await asyncio.wait_for(self._respond(writer, method, status, reason),
                                   WRITE_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            log.debug("health client %s did not take its response within %.0fs: dropped",
                      peer, WRITE_TIMEOUT_SECONDS)
        except asyncio.IncompleteReadError:
            log.debug("health client %s closed the connection before its request was complete",
                      peer)
        except OSError as err:
            log.debug("health client %s went away: %s", peer, _describe(err))
        except asyncio.CancelledError:
            if not self._closing:
                log.debug("health client %s dropped at the connection cap: no request yet",
                          peer)
        except Exception as err:  # a bug here must cost one request, not the server
            log.warning("health request from %s failed: %s", peer, _describe(err))
        finally:
            if writer is not None:
                writer.transport.abort()
            else:
                conn.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[str, str]:
        """Read the request head; returns the method and the path (without a query)."""
        size, request_line = 0, b""
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # one line longer than the reader's limit
                raise _Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE) from None
            if not line.endswith(b"\n"):
                raise asyncio.IncompleteReadError(line, None)
            size += len(line)
            if size > self.max_request_bytes:
                raise _Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            if line.strip():
                request_line = request_line or line
            elif request_line:  # the blank line that ends the head
                break
        parts = request_line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _Refused(HTTPStatus.BAD_REQUEST)
        return parts[0], parts[1].split("?", 1)[0]

    def _answer(self, method: str, path: str) -> tuple[HTTPStatus, str]:
        if method not in ("GET", "HEAD"):
            raise _Refused(HTTPStatus.METHOD_NOT_ALLOWED)
        if path == contract.LIVENESS_PATH:
            ok, reason = self.health.live()
        elif path == contract.READINESS_PATH:
            ok, reason = self.health.ready()
        else:
            raise _Refused(HTTPStatus.NOT_FOUND)
        return (HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE), reason

    @staticmethod
    async def _respond(writer: asyncio.StreamWriter, method: str, status: HTTPStatus,
                       reason: str) -> None:
        verdict = {HTTPStatus.OK: "ok", HTTPStatus.SERVICE_UNAVAILABLE: "unavailable"}
        body = json.dumps({"status": verdict.get(status, "error"), "reason": reason}).encode()
        allow = "Allow: GET, HEAD\r\n" if status == HTTPStatus.METHOD_NOT_ALLOWED else ""
        head = (f"HTTP/1.1 {status.value} {status.phrase}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"Cache-Control: no-store\r\nConnection: close\r\n{allow}\r\n").encode()
        writer.write(head if method == "HEAD" else head + body)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        """asyncio's own complaints, as one line each instead of a traceback."""
        err = context.get("exception")
        message = context.get("message", "error")
        if isinstance(err, OSError):
            log.debug("health server: %s: %s", message, _describe(err))
        else:
            log.warning("health server: %s%s", message, f": {_describe(err)}" if err else "")


def _format_peer(address: tuple) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
