"""A real Prometheus (Debian's `prometheus`) on a free loopback port, scraping given targets
every second and evaluating rule files every second, queried through its HTTP API."""

from __future__ import annotations

import datetime
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from tools.procs import Background, free_port

INTERVAL = "1s"


class Prometheus(Background):
    """`targets` are host:port of /metrics endpoints, scraped as job `temporal-worker`."""

    def __init__(self, targets: Sequence[str], rule_files: Sequence[Path] = ()) -> None:
        self.port = free_port()
        super().__init__("prometheus", [])
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL,
                       "scrape_timeout": INTERVAL},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{"job_name": "temporal-worker",
                                "static_configs": [{"targets": list(targets)}]}]}))
        self.argv = [shutil.which("prometheus") or "prometheus",
                     f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'data'}",
                     f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, ready=None, timeout: float = 60) -> Prometheus:
        super().start(ready or self.is_ready, timeout)
        return self

    def is_ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _api(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The series an instant query returns now."""
        return self._api("query", query=expr)["result"]

    def query_range(self, expr: str, start: float, end: float | None = None,
                    step: str = "2s") -> list[dict[str, Any]]:
        """The series a range query returns between `start` and `end` (now)."""
        return self._api("query_range", query=expr, start=start, end=end or time.time(),
                         step=step)["result"]

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending or firing), each with its labels and state."""
        return self._api("alerts")["alerts"]

    def last_evaluation(self) -> float:
        """When every rule group was last evaluated (the oldest group's time, epoch seconds;
        0 before the first evaluation)."""
        times = [datetime.datetime.fromisoformat(group["lastEvaluation"]).timestamp()
                 for group in self._api("rules")["groups"]]
        return max(min(times, default=0.0), 0.0)
