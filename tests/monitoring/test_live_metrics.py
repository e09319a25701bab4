"""Every dashboard query and every alert, against a real Prometheus scraping real workers.

A real dev server (behind a Caddy mTLS front for one worker) and a real Prometheus (Debian's,
scraping every second, evaluating the shipped rules file every second) watch:

- A, `python -m worker` over TCP, running batch workflows (fast and slow) and chat workflows
  that fail;
- B, `python -m worker` over mTLS with its certificate in a kubelet-style Secret volume;
- C, an SDK worker on the worker's own runtime whose workflow completes with 5 MB (none of the
  worker's workflows can produce a message that large);
- D, `python -m worker` with 2 activity slots, started late on a queue that waited for it.

While everything works, no alert is pending. Then each failure is made on purpose and the
alerts it should raise must become pending (the shipped `for:` durations are kept; pending
proves the expression holds): a renewal to a certificate that expires in 12 hours (both
severities), then a renewal whose key does not match; a 5 MB completion; workflow history from
other code (non-determinism), workflow tasks queued 6 s before any worker, more slow activities
than slots; the server stopped. At the end every dashboard query and every alert's signal must
have returned series over the run; the test names any that did not.

RESOURCE_EXHAUSTED comes from the 5 MB completion (the server's answer to a message over its
gRPC limit). The dev server's rate and concurrent-poll limits (`frontend.namespaceRPS`,
`frontend.namespaceCount`) throttle the worker too, but its SDK retries those calls without
counting a failure, so they raise no metric to alert on (tried against this server): that
cause of TemporalRequestsResourceExhausted is proven by the promtool cases only
(test_alert_rules.py).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import temporal_worker_spec.settings as spec
from temporal_worker_k8s.monitoring import alerts, dashboard_model
from temporal_worker_k8s.monitoring import promql as q
from temporal_worker_spec import contract
from tests.support.caddy import MtlsFront
from tests.support.prometheus import Prometheus
from tests.support.secret_volume import SecretVolume
from tests.support.summary import SUMMARY_PREFIX
from tools.devserver import DevServer
from tools.procs import Background, free_port, wait_for_async
from tools.worker_process import REPO, WorkerProcess, clean_env, queue_env
from worker.activities import BatchRequest, ChatRequest
from worker.workflows import BatchWorkflow, ChatWorkflow

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("monitoring-live")]

ALERT_WAIT_SECONDS = 90.0
RANGE_WAIT_SECONDS = 15.0
POLL_FAILURES_WAIT_SECONDS = 60.0 + 60 * int(q.POLL_WINDOW.removesuffix("m"))
"""The poll failure ratio's window still holds the successes of before the outage, for up to
POLL_WINDOW: the ratio may pass 1/2 only once most of them have left it."""
QUEUED_SECONDS = 6.0
"""How long D's workflows wait for a worker: above the 5 s schedule-to-start alert."""
DASHBOARD_VARIABLES = {"$task_queue": ".*", "$__rate_interval": "1m"}


@workflow.defn(name="BatchWorkflow")
class TimerFirstBatchWorkflow:
    """Another code for BatchWorkflow: a timer first, where the worker's schedules an activity.
    History it writes makes the worker's code fail to replay (non-determinism)."""

    @workflow.run
    async def run(self, request: BatchRequest) -> str:
        await workflow.sleep(2)
        return request.name


@dataclass
class Run:
    """What the scenario saw, gathered before its servers stop."""

    queues: dict[str, str]
    quiet: list[dict[str, Any]] = field(default_factory=list)
    """Alerts active while everything worked (none expected)."""
    pending: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    """Phase -> labels of the alerts it was waiting for, as they became active."""
    waited: dict[str, float] = field(default_factory=dict)
    """Phase -> seconds until its alerts were active."""
    dashboard: dict[str, int] = field(default_factory=dict)
    """Every dashboard query -> how many series it returned over the run."""
    signals: dict[str, int] = field(default_factory=dict)
    """Every alert's signal (its expression without the threshold) -> series over the run."""


class Scenario:
    def __init__(self, prometheus: Prometheus, run: Run) -> None:
        self.prometheus, self.run = prometheus, run

    async def until_pending(self, phase: str, wanted: list[tuple[str, dict[str, str]]],
                            timeout: float = ALERT_WAIT_SECONDS) -> None:
        """Wait until, for each (alert name, labels) in `wanted`, an alert with those labels
        is pending or firing; record what was seen under `phase`."""
        def found() -> list[dict[str, str]] | None:
            active = [dict(a["labels"], state=a["state"]) for a in self.prometheus.alerts()]
            hits = [next((a for a in active if a["alertname"] == name
                          and all(a.get(k, "").startswith(v) for k, v in labels.items())), None)
                    for name, labels in wanted]
            return hits if all(hits) else None
        started = time.monotonic()
        try:
            self.run.pending[phase] = await wait_for_async(
                lambda: asyncio.to_thread(found), timeout, f"alerts of {phase}", 1)
        except TimeoutError:
            active = [a["labels"] for a in self.prometheus.alerts()]
            names = {name for name, _ in wanted}
            signals = {alert.name: self.prometheus.query(alert.signal(""))
                       for alert in alerts.ALERTS if alert.name in names}
            pytest.fail(f"{phase}: expected {wanted} pending; active alerts: {active}; "
                        f"their signals now: {signals}")
        self.run.waited[phase] = round(time.monotonic() - started, 1)


def tls_files(issued) -> dict[str, bytes]:
    return {contract.TLS_CERT_KEY: issued.cert_path.read_bytes(),
            contract.TLS_KEY_KEY: issued.key_path.read_bytes()}


async def wait_scraped(prometheus: Prometheus, expr: str, what: str) -> None:
    await wait_for_async(lambda: asyncio.to_thread(prometheus.query, expr), 60, what, 0.5)


async def history_has(client: Client, workflow_id: str, event: EventType.ValueType) -> bool:
    async for item in client.get_workflow_handle(workflow_id).fetch_history_events():
        if item.event_type == event:
            return True
    return False


@pytest.fixture(scope="module")
def run(cert_factory, tmp_path_factory) -> Iterator[Run]:
    yield asyncio.run(scenario(cert_factory, tmp_path_factory.mktemp("monitoring-live")))


async def scenario(pki, tmp) -> Run:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = pki.ca("live-ca", not_after=now + timedelta(days=365))
    front_cert = pki.issue(ca, "live-front", server=True, not_after=now + timedelta(days=365))
    long_lived = pki.issue(ca, "live-client-90d", not_after=now + timedelta(days=90))
    half_day = pki.issue(ca, "live-client-12h", not_after=now + timedelta(hours=12))
    other = pki.issue(ca, "live-client-other", not_after=now + timedelta(days=90))
    volume = SecretVolume(tmp / "tls")
    volume.write(tls_files(long_lived))
    queues = {name: f"live-{name}-{uuid.uuid4()}" for name in "ABCD"}
    run = Run(queues)

    with DevServer(workdir=str(tmp / "server")) as server, \
            MtlsFront(server.port, front_cert.cert_path, front_cert.key_path,
                      ca.cert_path) as front:
        a = WorkerProcess(queue_env(server.address, queues["A"]))
        b = WorkerProcess(queue_env(front.address, queues["B"], **{
            spec.TLS_CERT.env: str(volume.path(contract.TLS_CERT_KEY)),
            spec.TLS_KEY.env: str(volume.path(contract.TLS_KEY_KEY)),
            spec.TLS_SERVER_CA.env: str(ca.cert_path)}))
        c_port = free_port()
        c = Background("oversize-worker", [sys.executable, "-m", "tests.support.oversize_worker",
                                           server.address, queues["C"], str(c_port)],
                       env=clean_env(), cwd=REPO)
        d = WorkerProcess(queue_env(server.address, queues["D"], **{
            spec.MAX_CONCURRENT_ACTIVITIES.env: "2"}))
        targets = [f"127.0.0.1:{port}" for port in (a.metrics_port, b.metrics_port, c_port,
                                                     d.metrics_port)]
        with a, b, c, Prometheus(targets, [alerts.RULES_FILE]) as prometheus:
            scenario = Scenario(prometheus, run)
            await asyncio.to_thread(a.wait_ready)
            await asyncio.to_thread(b.wait_ready)
            await asyncio.to_thread(c.wait_until, lambda: "READY" in c.output(), 60)
            client = await Client.connect(server.address)
            start = time.time()

            # --- Everything works: fast, slow and failing workflows; no alert. ------------
            batches = [client.execute_workflow(
                BatchWorkflow.run, BatchRequest(name=f"b{i}", items=2,
                                                seconds_per_item=1.0 if i < 3 else 0.05),
                id=f"live-{uuid.uuid4()}", task_queue=queues["A"]) for i in range(12)]
            batches += [client.execute_workflow(
                BatchWorkflow.run, BatchRequest(name=f"mtls{i}", items=1),
                id=f"live-{uuid.uuid4()}", task_queue=queues["B"]) for i in range(3)]
            chats = [client.execute_workflow(ChatWorkflow.run, ChatRequest(prompt="hi"),
                                             id=f"live-{uuid.uuid4()}", task_queue=queues["A"])
                     for _ in range(3)]
            await asyncio.gather(*batches)
            for chat in chats:  # no chat API key: the activity fails, then the workflow
                with pytest.raises(WorkflowFailureError):
                    await chat
            for queue in ("A", "B"):
                await wait_scraped(prometheus, f'{contract.WORKER_READY_METRIC}{{task_queue='
                                   f'"{queues[queue]}"}} == 1', f"worker {queue} ready")
            await wait_scraped(prometheus, f'temporal_workflow_failed{{task_queue="{queues["A"]}"'
                               '}', "the failed workflows")
            scraped = time.time()  # two rule evaluations after this have seen it all
            await wait_for_async(lambda: asyncio.to_thread(
                lambda: prometheus.last_evaluation() > scraped + 1), 60, "rule evaluations", 0.5)
            run.quiet = prometheus.alerts()

            # --- B's certificate: renewed to one that expires in 12 hours (within 7 days
            # and within 1), then a renewal whose key is not the certificate's. --------------
            volume.write(tls_files(half_day))
            expiring = "TemporalWorkerClientCertificateExpiring"
            await scenario.until_pending("certificate expiring", [
                (expiring, {"task_queue": queues["B"], "severity": "warning"}),
                (expiring, {"task_queue": queues["B"], "severity": "critical"})])
            volume.write({contract.TLS_CERT_KEY: other.cert_path.read_bytes(),
                          contract.TLS_KEY_KEY: half_day.key_path.read_bytes()})
            await scenario.until_pending("renewal refused", [
                ("TemporalWorkerCredentialReloadFailing", {"task_queue": queues["B"],
                                                           "credential": "tls"})])

            # --- C: a workflow task completion larger than the server takes. ---------------
            await client.start_workflow("OversizeResultWorkflow", id=f"live-{uuid.uuid4()}",
                                        task_queue=queues["C"])
            # The server refuses it with RESOURCE_EXHAUSTED: the one the SDK counts here (the
            # dev server's rate and poller limits make Core retry without counting a failure).
            await scenario.until_pending("message too large", [
                ("TemporalWorkflowTaskGrpcMessageTooLarge", {"task_queue": queues["C"]}),
                ("TemporalRequestsResourceExhausted", {
                    "operation": "RespondWorkflowTaskCompleted"})])

            # --- D's queue: history from other code, tasks queued before any worker, more
            # slow activities than slots. ----------------------------------------------------
            nde_id = f"live-nde-{uuid.uuid4()}"
            async with Worker(client, task_queue=queues["D"], workflows=[TimerFirstBatchWorkflow],
                              workflow_runner=UnsandboxedWorkflowRunner()):
                await client.start_workflow(TimerFirstBatchWorkflow.run,
                                            BatchRequest(name="nde"), id=nde_id,
                                            task_queue=queues["D"])
                await wait_for_async(lambda: history_has(
                    client, nde_id, EventType.EVENT_TYPE_TIMER_STARTED), 30, "the timer")
            for i in range(3):
                await client.start_workflow(
                    BatchWorkflow.run, BatchRequest(name=f"slow{i}", items=1,
                                                    seconds_per_item=120),
                    id=f"live-{uuid.uuid4()}", task_queue=queues["D"])
            await asyncio.sleep(QUEUED_SECONDS)
            with d:
                await asyncio.to_thread(d.wait_ready)
                await scenario.until_pending("queue D", [
                    ("TemporalWorkflowNonDeterminism", {"task_queue": queues["D"],
                                                        "workflow_type": "BatchWorkflow"}),
                    ("TemporalWorkflowTaskScheduleToStartHigh", {"task_queue": queues["D"]}),
                    ("TemporalWorkerTaskSlotsExhausted", {"task_queue": queues["D"],
                                                          "worker_type": "ActivityWorker"}),
                    ("TemporalWorkerPollersDisconnected", {"task_queue": queues["D"],
                                                           "poller_type": "activity_task"})])

                # --- The server stops. ------------------------------------------------------
                await asyncio.to_thread(server.stop)
                # Every worker goes unready. A's polls fail on the connection, which the SDK
                # counts (B's go through Caddy, which answers UNAVAILABLE: retried, not counted).
                await scenario.until_pending("server stopped", [
                    ("TemporalWorkerNotReady", {"task_queue": queues["B"]}),
                    ("TemporalWorkerPollFailures", {"task_queue": queues["A"]})],
                    POLL_FAILURES_WAIT_SECONDS)

                panels = {}
                for panel in dashboard_model()["panels"]:
                    for target in panel.get("targets", []):
                        expr = target["expr"]
                        for variable, value in DASHBOARD_VARIABLES.items():
                            expr = expr.replace(variable, value)
                        panels[f"{panel['title']}: {target['expr']}"] = expr
                run.dashboard = await series_over(prometheus, panels, start)
                run.signals = await series_over(prometheus, {
                    f"{alert.name} ({alert.severity})": alert.signal("")
                    for alert in alerts.ALERTS}, start)
    return run


async def series_over(prometheus: Prometheus, queries: dict[str, str],
                      start: float) -> dict[str, int]:
    """How many series each query returned from `start` until now. The samples of the last
    phase may reach the range only a scrape or two after its alert: a query still without
    series is asked again until RANGE_WAIT_SECONDS have passed."""
    counts: dict[str, int] = {}
    deadline = time.monotonic() + RANGE_WAIT_SECONDS
    while True:
        end = time.time()
        for name, expr in queries.items():
            if not counts.get(name):
                counts[name] = len(await asyncio.to_thread(
                    prometheus.query_range, expr, start, end))
        if all(counts.values()) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(1)


def test_no_alert_is_pending_while_everything_works(run):
    assert run.quiet == [], json.dumps(run.quiet, indent=1)


def test_every_dashboard_query_returns_series(run):
    empty = [query for query, count in run.dashboard.items() if not count]
    assert run.dashboard and not empty, "dashboard queries without series:\n" + "\n".join(empty)


def test_every_alert_signal_returns_series(run):
    empty = [name for name, count in run.signals.items() if not count]
    assert len(run.signals) == len(alerts.ALERTS) and not empty, \
        f"alert signals without series: {empty}"


def test_each_failure_makes_its_alerts_pending(run, record_property):
    """The scenario waits for each phase's alerts; every rule (each severity of a name) must
    have been among them."""
    raised = {(labels["alertname"], labels["severity"])
              for seen in run.pending.values() for labels in seen}
    rules = {(a.name, a.severity) for a in alerts.ALERTS}
    assert raised == rules, f"never pending: {sorted(rules - raised)}"
    record_property(f"{SUMMARY_PREFIX}live alerts:seconds until pending, by phase",
                    json.dumps(run.waited))
