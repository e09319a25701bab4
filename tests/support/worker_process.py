"""Run the real worker (`python -m worker`) as a subprocess and observe it from outside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from tests.support.ports import free_port, wait_for
from worker import contract

REPO = Path(__file__).resolve().parents[2]
# Variables a developer's shell might carry that would change what the worker connects to.
_SCRUB_PREFIXES = ("TEMPORAL_", "WORKER_", "CHATGPT_")


def clean_env(**overrides: str) -> dict[str, str]:
    """os.environ minus Temporal/worker settings, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES)}
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    env.update(overrides)
    return env


class WorkerProcess:
    """`python -m worker` with its own health and metrics ports and a captured log."""

    def __init__(self, env: dict[str, str], python: str = sys.executable) -> None:
        self.health_port = free_port()
        self.metrics_port = free_port()
        base = {contract.ENV_HEALTH_PORT: str(self.health_port),
                contract.ENV_METRICS_PORT: str(self.metrics_port),
                contract.ENV_LOG_FORMAT: "json"}
        self.env = clean_env(**{**base, **env})
        self.python = python
        self.log_path = Path(tempfile.mkstemp(prefix="worker-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None
        self._final_output: str | None = None

    def start(self) -> WorkerProcess:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([self.python, "-m", "worker"], cwd=REPO,
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def output(self) -> str:
        if self._final_output is not None:
            return self._final_output
        return self.log_path.read_text(errors="replace")

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

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if not self.running():
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n"
                                   f"{self.output()[-3000:]}")
            return self.ready()

        wait_for(ready, timeout, f"worker readiness\n{self.output()[-3000:]}")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait; returns the exit code (kills and fails if it does not exit)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"worker did not exit within {timeout}s of SIGTERM:\n"
                                 f"{self.output()[-3000:]}") from None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self._final_output is None:
            self._final_output = self.output()
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
