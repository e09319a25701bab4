"""The worker's alert rules, declared once: the PrometheusRule the component creates, the plain
Prometheus rules file shipped beside it (`RULES_FILE`) and the tests all read `ALERTS`.

Temporal's worker-alerting guide starts with five alerts (all pollers disconnected, a
non-determinism error, a gRPC message too large, workflow-task schedule-to-start p99 above 5 s,
RESOURCE_EXHAUSTED); the rest are this worker's own (not ready, client certificate expiring, a
credential reload failing, task slots exhausted, sustained poll failures). Each says what to
check first.

A `scope` is a PromQL matcher list that narrows every alert to one worker, e.g.
`task_queue="orders"` (the component passes its task queue); the plain file has none and
covers every worker the Prometheus scrapes. RESOURCE_EXHAUSTED is counted on request metrics,
which carry no task queue: that alert is per Temporal namespace and operation, whatever scope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporal_worker_k8s.monitoring import promql as q

GROUP = "temporal-worker"
RULES_FILE = Path(__file__).with_name("temporal-worker.rules.yaml")
"""The plain Prometheus rules file (generated from `ALERTS` by `python -m tools.monitoring`)."""
TASK_QUEUE = "{{ $labels.task_queue }}"
POD = "{{ $labels.instance }}"
"""The scrape target (pod address) an alert comes from; the Prometheus Operator adds `pod`."""
DAYS = '{{ $value | printf "%.1f" }}'
MILLISECONDS = '{{ $value | printf "%.0f" }}'


@dataclass(frozen=True)
class Alert:
    """One alerting rule: `signal` (the value) compared by `condition` for `duration`."""

    name: str
    signal: Callable[[str], str]
    """PromQL of the value the condition tests, given a scope (`""` for none)."""
    condition: str
    """Comparison with the threshold, e.g. `> 0` or `== 0`."""
    duration: str
    """How long the condition must hold before the alert fires (`for`)."""
    severity: str
    """`critical` pages; `warning` goes to a channel read during the day."""
    summary: str
    description: str
    """What is wrong and what to check first."""

    def expr(self, scope: str = "") -> str:
        return f"{self.signal(scope)} {self.condition}"

    def rule(self, scope: str = "") -> dict[str, Any]:
        """The rule as Prometheus (and a PrometheusRule) takes it."""
        return {"alert": self.name, "expr": self.expr(scope), "for": self.duration,
                "labels": {"severity": self.severity},
                "annotations": {"summary": self.summary, "description": self.description}}


def _poll_failure_ratio(scope: str) -> str:
    by = "namespace, task_queue, operation"
    failed = q.summed("rate", q.LONG_REQUEST_FAILURE, by, q.POLL_WINDOW, scope,
                      operation="~" + q.POLL_OPERATIONS)
    # Every poll counts in LONG_REQUEST when it is made, a failed one in LONG_REQUEST_FAILURE
    # too: the failed share of all polls (1 when every poll fails).
    made = q.summed("rate", q.LONG_REQUEST, by, q.POLL_WINDOW, scope,
                    operation="~" + q.POLL_OPERATIONS)
    return f"(\n  {failed}\n/\n  {made}\n)"


def _failed_workflow_tasks(reason: str) -> Callable[[str], str]:
    return lambda scope: q.events(q.WORKFLOW_TASK_EXECUTION_FAILED,
                                  "namespace, task_queue, workflow_type", q.RATE_WINDOW, scope,
                                  failure_reason=reason)


def _resource_exhausted(scope: str) -> str:
    del scope  # request metrics carry no task queue: per namespace and operation
    by, code = "namespace, operation", "RESOURCE_EXHAUSTED"
    return (f"({q.events(q.REQUEST_FAILURE, by, q.RATE_WINDOW, status_code=code)}\nor\n"
            f"{q.events(q.LONG_REQUEST_FAILURE, by, q.RATE_WINDOW, status_code=code)})")


def _days_left(scope: str) -> str:
    return f"(({q.series(q.CERT_EXPIRY, scope)} - time()) / 86400)"


ALERTS: tuple[Alert, ...] = (
    # --- Temporal's first five ---------------------------------------------------------------
    Alert("TemporalWorkerPollersDisconnected",
          lambda s: (f"max by (namespace, task_queue, poller_type) "
                     f"({q.series(q.NUM_POLLERS, s, poller_type='~workflow_task|activity_task')})"),
          "== 0", "5m", "critical",
          f"No worker polls {{{{ $labels.poller_type }}}} tasks of task queue {TASK_QUEUE}",
          "Every worker of this task queue has stopped polling for these tasks, so its workflows "
          "make no progress. Check first whether TemporalWorkerTaskSlotsExhausted fires too (a "
          "worker with no free slot stops polling until one frees up); if not, whether the pods "
          "are ready (TemporalWorkerNotReady, `kubectl get pods`) and what their logs say about "
          "the connection to Temporal."),
    Alert("TemporalWorkflowNonDeterminism",
          _failed_workflow_tasks("NonDeterminismError"),
          "> 0", "1m", "critical",
          f"{{{{ $labels.workflow_type }}}} workflows of {TASK_QUEUE} no longer replay",
          "Workflow code no longer matches the history of running workflows of this type: "
          "their workflow tasks fail and retry until the code matches again. Check first the "
          "last deploy (a change to workflow code that is not behind workflow.patched() or "
          "worker versioning), then the worker log's non-determinism line, which names the "
          "workflow and the mismatched command. Roll back, or patch the change."),
    Alert("TemporalWorkflowTaskGrpcMessageTooLarge",
          _failed_workflow_tasks("GrpcMessageTooLarge"),
          "> 0", "1m", "critical",
          f"{{{{ $labels.workflow_type }}}} workflow tasks of {TASK_QUEUE} are too large to "
          "send",
          "A workflow task's completion is larger than the server accepts (gRPC messages of "
          "4 MB): the server cannot record it, so the workflow is stuck or terminated and its "
          "work is lost. Check first which workflow it is (worker log), then the size of the "
          "results and inputs it handles; pass references (e.g. object storage keys) instead "
          "of large data."),
    Alert("TemporalWorkflowTaskScheduleToStartHigh",
          lambda s: q.quantile_in_window(0.99, q.WORKFLOW_TASK_SCHEDULE_TO_START,
                                         "namespace, task_queue", q.RATE_WINDOW, s),
          "> 5000", "5m", "critical",
          f"Workflow tasks of {TASK_QUEUE} wait {MILLISECONDS} ms to start (p99)",
          "Workflow tasks wait more than 5 s in the task queue before a worker picks them up: "
          "the workers are not keeping up, or not polling. Check first "
          "TemporalWorkerTaskSlotsExhausted and TemporalWorkerPollersDisconnected, then the "
          "pods' CPU (throttled at cpuLimit?) and whether the autoscaler is at maxReplicas."),
    Alert("TemporalRequestsResourceExhausted", _resource_exhausted, "> 0", "5m", "critical",
          "Temporal throttles {{ $labels.operation }} in namespace {{ $labels.namespace }}",
          "The Temporal service answers RESOURCE_EXHAUSTED. Check first the operation: on "
          "RespondWorkflowTaskCompleted with TemporalWorkflowTaskGrpcMessageTooLarge firing "
          "too, a completion was over the server's 4 MB message limit (see that alert); "
          "otherwise a rate or concurrency limit of the namespace is reached, so tasks are "
          "completed or polled late: check its limits (Temporal Cloud: actions per second; "
          "self-hosted: frontend.namespaceRPS, frontend.namespaceCount), then what raised the "
          "request rate (a backlog being drained, a retry storm, too many pollers)."),
    # --- This worker's own -------------------------------------------------------------------
    Alert("TemporalWorkerNotReady", lambda s: q.series(q.WORKER_READY, s), "== 0", "5m",
          "warning", f"Worker {POD} of {TASK_QUEUE} has not been ready for 5 minutes",
          "The pod answers /readyz with 503 and takes no tasks. Check first the reason it "
          "gives (its log line `worker is not ready: ...`, or the /readyz body): Temporal "
          "unreachable, polls refused (permissions, namespace, task queue name) or a client "
          "certificate the server does not accept."),
    Alert("TemporalWorkerClientCertificateExpiring", _days_left, "< 7", "15m", "warning",
          f"The client certificate of worker {POD} ({TASK_QUEUE}) expires in {DAYS} days",
          "No renewed certificate has reached the pod, and the one in use expires within 7 "
          "days; the worker loses Temporal when it does. Check first whether the Secret was "
          "renewed (cert-manager: the Certificate's status), then "
          "TemporalWorkerCredentialReloadFailing (a renewal the worker refused)."),
    Alert("TemporalWorkerClientCertificateExpiring", _days_left, "< 1", "5m", "critical",
          f"The client certificate of worker {POD} ({TASK_QUEUE}) expires in {DAYS} days",
          "The client certificate in use expires within a day and no renewal has been applied. "
          "Check first the Secret (cert-manager: the Certificate's status and events), then "
          "the pod's log for `credentials reload refused` or `failed`."),
    Alert("TemporalWorkerCredentialReloadFailing",
          lambda s: q.series(q.CREDENTIAL_RELOAD_FAILING, s), "== 1", "10m", "warning",
          f"Worker {POD} ({TASK_QUEUE}) refuses its renewed {{{{ $labels.credential }}}} "
          "credentials",
          "The credential files hold a new set the worker refused or could not connect with; "
          "it keeps using the previous one, which will expire or be revoked. Check first the "
          "pod's log line `credentials reload refused` or `failed`: it names the file and why "
          "(a key that is not the certificate's, an expired certificate, a server that rejects "
          "it), then the Secret it comes from."),
    Alert("TemporalWorkerTaskSlotsExhausted",
          lambda s: q.series(q.SLOTS_AVAILABLE, s, worker_type="~" + q.SLOT_WORKER_TYPES),
          "== 0", "5m", "warning",
          f"Worker {POD} of {TASK_QUEUE} has no free {{{{ $labels.worker_type }}}} slot",
          "Every task slot of this type is taken, so the worker polls for no more tasks until "
          "one frees up. Check first whether tasks are stuck (activities that never return, "
          "missing timeouts or heartbeats), then whether the load simply needs more: raise "
          "maxConcurrentActivities or maxConcurrentWorkflowTasks if CPU and memory allow, or "
          "add pods. Meaningless with slotTuner resourceBased."),
    Alert("TemporalWorkerPollFailures", _poll_failure_ratio, "> 0.5", "10m", "warning",
          f"Most {{{{ $labels.operation }}}} polls of {TASK_QUEUE} fail",
          "More than half of the worker's polls for tasks have failed for 10 minutes; the SDK "
          "retries them forever without saying so. Check first the status code (the metric "
          "temporal_long_request_failure's `status_code`, and the worker log's `polls of task "
          "queue ... are failing` line with the server's message): TRANSPORT_ERROR or "
          "UNAVAILABLE means Temporal is unreachable, PERMISSION_DENIED or NOT_FOUND a key or "
          "namespace that is wrong. (The SDK counts only failures it does not retry at once: "
          "an unreachable proxy's UNAVAILABLE answers do not count; TemporalWorkerNotReady "
          "catches those.)"),
)


def rule_groups(scope: str = "") -> list[dict[str, Any]]:
    """The rule groups of a rules file or a PrometheusRule's spec, narrowed by `scope`."""
    return [{"name": GROUP, "rules": [alert.rule(scope) for alert in ALERTS]}]


def task_queue_scope(task_queue: str) -> str:
    """The scope of one worker: its task queue (label values escaped as PromQL strings)."""
    escaped = task_queue.replace("\\", "\\\\").replace('"', '\\"')
    return f'task_queue="{escaped}"'
