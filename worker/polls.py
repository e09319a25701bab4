"""Whether the worker's polls are succeeding, so readiness means "the server takes our polls".

The SDK retries a rejected poll forever without logging it: a task queue name the server refuses
(INVALID_ARGUMENT), a revoked permission or an unknown namespace leave a worker that looks
healthy and does nothing. Two signals tell the truth:

- At start, the server itself: `DescribeTaskQueue` lists the pollers it has seen, so our
  identity appearing there proves the polls were accepted (one cheap call per start). A
  versioned worker's poll can be listed there and still be refused, when the server cannot
  register its version (the Worker Deployment is at its version cap): for it, the version must
  also exist (`DescribeWorkerDeploymentVersion`).
- Afterwards, the SDK's own counters on the worker's Prometheus endpoint
  (`temporal_long_request` and `temporal_long_request_failure{status_code}` for the Poll*
  operations): new failures and no success since them mean polls are failing. No call to the
  server is made while everything works. A new poll without a failure is a success; after
  failures of the connection only (a reconnect), a check of the server's health over the new
  connection with no poll failure since is one too.

Each failure cause (status code and the server's message, asked once through DescribeTaskQueue)
is logged once when it starts and once when it clears.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (DescribeTaskQueueRequest,
                                               DescribeWorkerDeploymentVersionRequest)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger(__name__)

FAILURE_MEMORY_SECONDS = 30.0
"""A failure without a success after it keeps the worker unready this long (the SDK retries a
failing poll with backoff, so quiet gaps between failures are shorter than this)."""
DESCRIBE_TIMEOUT_SECONDS = 5.0
SETTLE_SECONDS = 3.0
"""How long the start waits for the server to list our polls before readiness moves on to the
regular checks."""
SETTLE_POLL_SECONDS = 0.05
METRICS_TIMEOUT_SECONDS = 2.0
CONNECTION_FAILURES = frozenset({"TRANSPORT_ERROR", "UNAVAILABLE"})
"""Poll failures that say the connection broke, not that the server refused the poll."""
_SAMPLE = re.compile(r"^(temporal_long_request(?:_failure)?)(?:_total)?\{([^}]*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def poll_counters(text: str, namespace: str) -> tuple[float, dict[str, float]]:
    """(poll requests, failures by status code) of `namespace` in Prometheus text."""
    requests, failures = 0.0, {}
    for name, labels, value in _SAMPLE.findall(text):
        fields = dict(_LABEL.findall(labels))
        if fields.get("namespace") != namespace or not fields.get("operation", "").startswith(
                "Poll"):
            continue
        if name.endswith("_failure"):
            code = fields.get("status_code", "UNKNOWN")
            failures[code] = failures.get(code, 0.0) + float(value)
        else:
            requests += float(value)
    return requests, failures


class PollMonitor:
    """Tracks poll outcomes for one worker; `status()` is safe to call from any thread."""

    def __init__(self, client: Client, namespace: str, task_queue: str,
                 metrics_url: str | None,
                 fetch: Callable[[str], Awaitable[str]] | None = None,
                 version: tuple[str, str] | None = None) -> None:
        """`version`: (deployment name, build ID) of a versioned worker."""
        self.client = client
        self.namespace = namespace
        self.task_queue = task_queue
        self.metrics_url = metrics_url
        self.version = version
        self._fetch = fetch or _fetch
        self._seen_by_server = False
        self._counts: tuple[float, dict[str, float]] = (0.0, {})
        self._last_failure: float | None = None
        self._last_success: float | None = None
        self._cause: str | None = None
        """What the current episode of failures is about; None while polls succeed."""
        self._reported: set[str] = set()
        """Status codes logged in the current episode."""
        self._describe_denied = False

    def status(self) -> tuple[bool, str]:
        if self._failing():
            return False, f"polls are failing: {self._cause}"
        if not self._seen_by_server:
            return False, "the server has not seen this worker's polls yet"
        return True, "polls accepted"

    def _failing(self) -> bool:
        if self._last_failure is None:
            return False
        if self._last_success is not None and self._last_success > self._last_failure:
            return False
        return time.monotonic() - self._last_failure < FAILURE_MEMORY_SECONDS

    async def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Right after the worker starts: ask the server until it has seen our polls or refused
        them, so readiness comes as soon as the polls are accepted."""
        deadline = time.monotonic() + timeout
        while not self._seen_by_server and not self._failing() and time.monotonic() < deadline:
            await self._ask_server()
            if not self._seen_by_server and not self._failing():
                await asyncio.sleep(SETTLE_POLL_SECONDS)

    async def check(self) -> None:
        """Update from the server (until it has seen us) and the counters (when available)."""
        if not self._seen_by_server:
            await self._ask_server()
        if self.metrics_url:
            await self._read_counters()
        if self._cause is not None and not self._failing():
            log.info("polls of task queue %r are succeeding again", self.task_queue)
            self._cause, self._reported = None, set()

    async def _describe(self) -> RPCError | list:
        """The pollers the server has seen on our task queue, or its refusal."""
        try:
            response = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(namespace=self.namespace,
                                         task_queue=TaskQueue(name=self.task_queue)),
                timeout=timedelta(seconds=DESCRIBE_TIMEOUT_SECONDS))
        except RPCError as err:
            return err
        return list(response.pollers)

    async def _ask_server(self) -> None:
        try:
            answer = await self._describe()
        except Exception as err:  # timeouts, connection errors: the health check reports them
            log.debug("describe task queue failed: %s", err)
            return
        if isinstance(answer, RPCError):
            if answer.status.name == "PERMISSION_DENIED" and self.metrics_url:
                # Allowed to poll but not to list pollers: rely on the counters alone.
                if not self._describe_denied:
                    log.info("cannot list the task queue's pollers (permission denied); "
                             "readiness follows the poll counters only")
                self._describe_denied = self._seen_by_server = True
            else:
                self._fail(answer.status.name, answer.message)
        elif (any(p.identity == self.client.identity for p in answer)
              and await self._version_registered()):
            self._seen_by_server = True
            self._last_success = time.monotonic()

    async def _version_registered(self) -> bool:
        """Whether the server registered this worker's version (always, when unversioned)."""
        if self.version is None:
            return True
        name, build_id = self.version
        try:
            await self.client.workflow_service.describe_worker_deployment_version(
                DescribeWorkerDeploymentVersionRequest(
                    namespace=self.namespace, deployment_version=WorkerDeploymentVersion(
                        deployment_name=name, build_id=build_id)),
                timeout=timedelta(seconds=DESCRIBE_TIMEOUT_SECONDS))
        except RPCError as err:
            if err.status == RPCStatusCode.PERMISSION_DENIED:
                # Allowed to poll but not to read deployments: the listed poll has to do.
                log.info("cannot describe worker deployment version %s.%s (permission "
                         "denied); readiness does not wait for its registration", name, build_id)
                self.version = None
                return True
            if err.status != RPCStatusCode.NOT_FOUND:
                log.debug("describe worker deployment version failed: %s", err)
            return False
        except Exception as err:  # timeouts, connection errors: the health check reports them
            log.debug("describe worker deployment version failed: %s", err)
            return False
        return True

    async def _read_counters(self) -> None:
        try:
            text = await self._fetch(self.metrics_url)
        except Exception as err:  # the endpoint is ours; a failed read just means no news
            log.debug("cannot read %s: %s", self.metrics_url, err)
            return
        counts = poll_counters(text, self.namespace)
        (old_requests, old_failures), self._counts = self._counts, counts
        failed = {code: n - old_failures.get(code, 0.0) for code, n in counts[1].items()
                  if n > old_failures.get(code, 0.0)}
        if failed:
            code = max(failed, key=failed.get)
            message = None
            if code not in self._reported and not self._describe_denied:
                answer = await self._describe()
                message = answer.message if isinstance(answer, RPCError) else None
            self._fail(code, message)
        elif self._seen_by_server and counts[0] > old_requests:
            # New polls and none failed: once the server has taken ours, that is a success.
            self._last_success = time.monotonic()
        elif self._seen_by_server and self._reported and self._reported <= CONNECTION_FAILURES:
            # Only the connection failed (a front restarted, an idle connection was cut): the
            # health check just passed over the new one and no poll failed since the last
            # read. The polls re-sent after the reconnect are long polls, so waiting for a
            # fresh one to start would keep an idle worker unready for a minute.
            self._last_success = time.monotonic()

    def _fail(self, code: str, message: str | None) -> None:
        self._last_failure = time.monotonic()
        if code in self._reported:
            return
        self._reported.add(code)
        self._cause = f"{code}: {message}" if message else code
        log.warning("polls of task queue %r in namespace %r are failing: %s; the worker is "
                    "not ready", self.task_queue, self.namespace, self._cause)


async def _fetch(url: str) -> str:
    def get() -> str:
        with urllib.request.urlopen(url, timeout=METRICS_TIMEOUT_SECONDS) as response:
            return response.read().decode("utf-8", "replace")
    return await asyncio.to_thread(get)
