"""Run the real worker (`python -m worker`) in the background and observe it from outside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from tools.procs import Background, free_ports

REPO = Path(__file__).resolve().parents[1]
# Variables a developer's shell might carry that would change what the worker connects to.
_SCRUB_PREFIXES = ("TEMPORAL_", "WORKER_", "CHATGPT_")


def clean_env(**overrides: str) -> dict[str, str]:
    """os.environ minus Temporal/worker settings, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES)}
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    env.update(overrides)
    return env


def free_ports_env() -> dict[str, str]:
    """Health and metrics ports of its own for a worker started outside WorkerProcess: never
    the defaults 8080 and 9464, which another worker on this machine may hold."""
    health, metrics = free_ports(2)
    return {spec.HEALTH_PORT.env: str(health), spec.METRICS_PORT.env: str(metrics)}


def queue_env(address: str, task_queue: str | None = None, **extra: str) -> dict[str, str]:
    """Worker env for `address` on `task_queue` (a fresh `tq-<uuid>` one when None), plus
    `extra`."""
    return {spec.TEMPORAL_ADDRESS.env: address,
            spec.TASK_QUEUE.env: task_queue or f"tq-{uuid.uuid4()}", **extra}


class WorkerProcess(Background):
    """`python -m worker` with its own health and metrics ports and a captured log."""

    def __init__(self, env: dict[str, str], python: str = sys.executable,
                 module: str = "worker", show_output: bool = False) -> None:
        self.health_port, self.metrics_port = free_ports(2)
        base = {spec.HEALTH_PORT.env: str(self.health_port),
                spec.METRICS_PORT.env: str(self.metrics_port), spec.LOG_FORMAT.env: "json"}
        super().__init__("worker", [python, "-m", module], env=clean_env(**{**base, **env}),
                         cwd=REPO, show_output=show_output)

    def _get(self, path: str) -> int | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.health_port}{path}", timeout=2).status_code
        except httpx.HTTPError:
            return None

    def ready(self) -> bool:
        return self._get(contract.READINESS_PATH) == 200

    def readiness_status(self) -> int | None:
        return self._get(contract.READINESS_PATH)

    def live(self) -> bool:
        return self._get(contract.LIVENESS_PATH) == 200

    def thread_count(self) -> int:
        """Threads of the worker process right now (Linux: /proc/<pid>/status)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines()
                        if line.startswith("Threads:")))

    def open_files(self) -> int:
        """File descriptors (sockets included) the worker process holds right now (Linux)."""
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def wait_ready(self, timeout: float = 60) -> None:
        self.wait_until(self.ready, timeout, "worker readiness")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait; returns the exit code (kills and fails if it does not exit)."""
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop(timeout=0)
            raise AssertionError(f"worker did not exit within {timeout}s of SIGTERM:\n"
                                 f"{self.excerpt()}") from None

    def close(self) -> None:
        """Kill (not drain) what is left; the log stays readable through `output()`."""
        self.signal(signal.SIGKILL)
        super().close()
