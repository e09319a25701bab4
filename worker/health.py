"""Liveness and readiness that mean something, over HTTP and (optionally) a heartbeat file.

Liveness: the asyncio loop ticked recently (checked from the HTTP server's own thread, so a
blocked loop is seen). Readiness: live, connected, the worker is polling, and the last health
check of the Temporal server succeeded recently. The heartbeat file is rewritten only while
ready and removed otherwise; the liveness file is touched on every loop tick. So
`python -m worker.probe` checks freshness, not existence, for both.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from temporalio.client import Client

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


class Health:
    """Shared health state: written by the event loop, read by the HTTP thread."""

    def __init__(self, heartbeat_file: str | None = None,
                 liveness_file: str | None = None) -> None:
        self.heartbeat_file = heartbeat_file
        self.liveness_file = liveness_file
        self.client: Client | None = None
        self.worker_running: Callable[[], bool] = lambda: False
        self.stopping = False
        self._loop_tick = time.monotonic()
        self._last_check_ok: float | None = None
        self._last_check_error: str | None = "no health check yet"
        self._was_ready = False

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
        return True, "connected, polling, server healthy"

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
            error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        if error is None:
            self._last_check_ok = time.monotonic()
        self._last_check_error = error
        self._record_transition()

    def _record_transition(self) -> None:
        ready, reason = self.ready()
        if ready != self._was_ready:
            log.log(logging.INFO if ready or self.stopping else logging.WARNING,
                    "worker is %s: %s", "ready" if ready else "not ready", reason)
            self._was_ready = ready
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


def serve(health: Health, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve liveness and readiness on `port` from a daemon thread; returns the server."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            path = self.path.split("?", 1)[0]
            if path == contract.LIVENESS_PATH:
                ok, reason = health.live()
            elif path == contract.READINESS_PATH:
                ok, reason = health.ready()
            else:
                self.send_error(404)
                return
            body = json.dumps({"status": "ok" if ok else "unavailable", "reason": reason})
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: object) -> None:  # probes are not events
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     name="health-http", daemon=True).start()
    return server
