"""For every alert, series where it fires and series where it stays quiet, as `promtool test
rules` takes them (one sample per minute, promtool's series notation), and the expected alert
with its annotations expanded the way Prometheus expands them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from temporal_worker_k8s.monitoring import alerts

TQ = {"namespace": "default", "task_queue": "orders"}
POD = {**TQ, "instance": "10.0.0.7:9464", "pod": "orders-worker-7d9f-abcde"}
DAY = 86400
SCHEDULE_TO_START = "temporal_workflow_task_schedule_to_start_latency_bucket"
BUCKETS = ("100", "500", "1000", "5000", "10000", "100000", "1000000", "+Inf")
"""The SDK's bucket bounds (ms) for this histogram, as a real worker exports them."""


def series(name: str, labels: Mapping[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def histogram(labels: Mapping[str, str], within: str, per_minute: int) -> list[dict[str, str]]:
    """Schedule-to-start buckets where `per_minute` tasks a minute, for 20 minutes, each waited
    more than the bound before `within` ms and at most `within` ms."""
    first = BUCKETS.index(within)
    return [series(SCHEDULE_TO_START, {**labels, "le": le},
                   f"0+{per_minute if i >= first else 0}x20") for i, le in enumerate(BUCKETS)]


@dataclass(frozen=True)
class Case:
    """Series, and when evaluated, which alerts (their extra labels and `$value`) are active."""

    name: str
    alert: str
    input_series: list[dict[str, str]]
    eval_time: str
    fires: list[tuple[dict[str, str], float]] = field(default_factory=list)
    """(labels of the alert beyond alertname and severity, the value its annotations show);
    several when rules of one name with different severities fire together."""
    severities: tuple[str, ...] = ()


def _case(name: str, alert: str, input_series: list, eval_time: str,
          fires: list | None = None) -> Case:
    return Case(name, alert, input_series, eval_time, fires or [])


CASES: list[Case] = [
    # TemporalWorkerPollersDisconnected
    _case("no pod polls workflow tasks for 5 minutes", "TemporalWorkerPollersDisconnected",
          [series("temporal_num_pollers", {**POD, "poller_type": "workflow_task"}, "5 0x10")],
          "7m", [({**TQ, "poller_type": "workflow_task"}, 0)]),
    _case("one pod stopped polling, another still polls", "TemporalWorkerPollersDisconnected",
          [series("temporal_num_pollers", {**POD, "poller_type": "activity_task"}, "5 0x10"),
           series("temporal_num_pollers", {**POD, "instance": "10.0.0.8:9464",
                                           "poller_type": "activity_task"}, "5x10")], "7m"),
    _case("a restart's gap is shorter than 5 minutes", "TemporalWorkerPollersDisconnected",
          [series("temporal_num_pollers", {**POD, "poller_type": "workflow_task"},
                  "5 0 0 5x8")], "7m"),
    # TemporalWorkflowNonDeterminism
    _case("a first non-determinism error on a new series", "TemporalWorkflowNonDeterminism",
          [series("temporal_workflow_task_queue_poll_succeed", POD, "0+3x10"),
           series("temporal_workflow_task_execution_failed",
                  {**POD, "workflow_type": "Orders", "failure_reason": "NonDeterminismError"},
                  "_x5 1x5")], "7m", [({**TQ, "workflow_type": "Orders"}, 1)]),
    _case("non-determinism errors keep counting", "TemporalWorkflowNonDeterminism",
          [series("temporal_workflow_task_execution_failed",
                  {**POD, "workflow_type": "Orders", "failure_reason": "NonDeterminismError"},
                  "1+1x10")], "4m", [({**TQ, "workflow_type": "Orders"}, 1)]),
    _case("other workflow task failures, and an error long ago", "TemporalWorkflowNonDeterminism",
          [series("temporal_workflow_task_execution_failed",
                  {**POD, "workflow_type": "Orders", "failure_reason": "WorkflowError"},
                  "1+1x20"),
           series("temporal_workflow_task_execution_failed",
                  {**POD, "workflow_type": "Orders", "failure_reason": "NonDeterminismError"},
                  "1x20")], "15m"),
    # TemporalWorkflowTaskGrpcMessageTooLarge
    _case("a completion too large for the server", "TemporalWorkflowTaskGrpcMessageTooLarge",
          [series("temporal_workflow_task_execution_failed",
                  {**POD, "workflow_type": "Export", "failure_reason": "GrpcMessageTooLarge"},
                  "_x3 1 2 3 4")], "6m", [({**TQ, "workflow_type": "Export"}, 1)]),
    _case("no message too large in 5 minutes", "TemporalWorkflowTaskGrpcMessageTooLarge",
          [series("temporal_workflow_task_execution_failed",
                  {**POD, "workflow_type": "Export", "failure_reason": "GrpcMessageTooLarge"},
                  "2x20")], "15m"),
    # TemporalWorkflowTaskScheduleToStartHigh
    _case("workflow tasks wait 5 to 10 s", "TemporalWorkflowTaskScheduleToStartHigh",
          histogram(POD, "10000", 10), "10m", [(TQ, 9950)]),
    _case("workflow tasks wait 1 to 5 s", "TemporalWorkflowTaskScheduleToStartHigh",
          histogram(POD, "5000", 10), "10m"),
    _case("an idle queue has no latency at all", "TemporalWorkflowTaskScheduleToStartHigh",
          histogram(POD, "10000", 0), "10m"),
    # TemporalRequestsResourceExhausted
    _case("completions throttled", "TemporalRequestsResourceExhausted",
          [series("temporal_request_failure",
                  {"namespace": "default", "instance": POD["instance"],
                   "operation": "RespondWorkflowTaskCompleted",
                   "status_code": "RESOURCE_EXHAUSTED"}, "0+1x10")], "7m",
          [({"namespace": "default", "operation": "RespondWorkflowTaskCompleted"}, 1)]),
    _case("polls throttled on a new series", "TemporalRequestsResourceExhausted",
          [series("temporal_long_request_failure",
                  {**POD, "operation": "PollActivityTaskQueue",
                   "status_code": "RESOURCE_EXHAUSTED"}, "_x2 4+2x10")], "8m",
          [({"namespace": "default", "operation": "PollActivityTaskQueue"}, 2)]),
    _case("one burst of throttling that stopped", "TemporalRequestsResourceExhausted",
          [series("temporal_request_failure",
                  {"namespace": "default", "instance": POD["instance"],
                   "operation": "RespondActivityTaskCompleted",
                   "status_code": "RESOURCE_EXHAUSTED"}, "_x2 4x10")], "8m"),
    _case("other request failures", "TemporalRequestsResourceExhausted",
          [series("temporal_request_failure",
                  {"namespace": "default", "instance": POD["instance"],
                   "operation": "RespondWorkflowTaskCompleted", "status_code": "UNAVAILABLE"},
                  "0+1x10")], "7m"),
    # TemporalWorkerNotReady
    _case("a pod not ready for 5 minutes", "TemporalWorkerNotReady",
          [series("temporal_worker_ready", POD, "1 0x10")], "7m", [(POD, 0)]),
    _case("a pod not ready for 2 minutes", "TemporalWorkerNotReady",
          [series("temporal_worker_ready", POD, "1 0 0 1x10")], "7m"),
    # TemporalWorkerClientCertificateExpiring (promtool's clock starts at 0: time() is the
    # evaluation time in seconds)
    _case("3 days left", "TemporalWorkerClientCertificateExpiring",
          [series("temporal_worker_client_certificate_expiry_timestamp_seconds", POD,
                  f"{20 * 60 + 3 * DAY}x20")], "20m", [(POD, 3.0)]),
    _case("12 hours left", "TemporalWorkerClientCertificateExpiring",
          [series("temporal_worker_client_certificate_expiry_timestamp_seconds", POD,
                  f"{20 * 60 + DAY // 2}x20")], "20m", [(POD, 0.5), (POD, 0.5)]),
    _case("30 days left", "TemporalWorkerClientCertificateExpiring",
          [series("temporal_worker_client_certificate_expiry_timestamp_seconds", POD,
                  f"{30 * DAY}x20")], "20m"),
    # TemporalWorkerCredentialReloadFailing
    _case("a refused renewal for 10 minutes", "TemporalWorkerCredentialReloadFailing",
          [series("temporal_worker_credential_reload_failing", {**POD, "credential": "tls"},
                  "0 1x15")], "12m", [({**POD, "credential": "tls"}, 1)]),
    _case("a half-written renewal that settled", "TemporalWorkerCredentialReloadFailing",
          [series("temporal_worker_credential_reload_failing", {**POD, "credential": "tls"},
                  "0 1 1 0x12")], "12m"),
    # TemporalWorkerTaskSlotsExhausted
    _case("no activity slot free for 5 minutes", "TemporalWorkerTaskSlotsExhausted",
          [series("temporal_worker_task_slots_available", {**POD, "worker_type": "ActivityWorker"},
                  "10 0x10")], "7m", [({**POD, "worker_type": "ActivityWorker"}, 0)]),
    _case("slots free, and Nexus (not run) at 0", "TemporalWorkerTaskSlotsExhausted",
          [series("temporal_worker_task_slots_available", {**POD, "worker_type": "ActivityWorker"},
                  "3x10"),
           series("temporal_worker_task_slots_available", {**POD, "worker_type": "NexusWorker"},
                  "0x10")], "7m"),
    # TemporalWorkerPollFailures
    _case("polls fail and none succeed", "TemporalWorkerPollFailures",
          [series("temporal_long_request_failure",
                  {**POD, "operation": "PollWorkflowTaskQueue", "status_code": "UNAVAILABLE"},
                  "0+10x20"),
           series("temporal_long_request", {**POD, "operation": "PollWorkflowTaskQueue"},
                  "100+10x20")], "16m", [({**TQ, "operation": "PollWorkflowTaskQueue"}, 1)]),
    _case("most polls fail", "TemporalWorkerPollFailures",
          [series("temporal_long_request_failure",
                  {**POD, "operation": "PollActivityTaskQueue",
                   "status_code": "PERMISSION_DENIED"}, "0+6x20"),
           series("temporal_long_request", {**POD, "operation": "PollActivityTaskQueue"},
                  "0+10x20")], "16m", [({**TQ, "operation": "PollActivityTaskQueue"}, 0.6)]),
    _case("half of the polls fail, not more", "TemporalWorkerPollFailures",
          [series("temporal_long_request_failure",
                  {**POD, "operation": "PollWorkflowTaskQueue", "status_code": "UNAVAILABLE"},
                  "0+5x20"),
           series("temporal_long_request", {**POD, "operation": "PollWorkflowTaskQueue"},
                  "0+10x20")], "16m"),
    _case("a few failures among many polls", "TemporalWorkerPollFailures",
          [series("temporal_long_request_failure",
                  {**POD, "operation": "PollWorkflowTaskQueue", "status_code": "UNAVAILABLE"},
                  "0+1x20"),
           series("temporal_long_request", {**POD, "operation": "PollWorkflowTaskQueue"},
                  "0+10x20")], "16m"),
]


_TEMPLATE = re.compile(r"\{\{ (\$labels\.(\w+)|\$value \| printf \"(%[.\d]*f)\") \}\}")


def expand(template: str, labels: Mapping[str, str], value: float) -> str:
    """Prometheus's expansion of the two template forms the rules use."""
    def one(match: re.Match[str]) -> str:
        if match[2]:
            return labels.get(match[2], "")
        return match[3] % value
    rest = _TEMPLATE.sub("", template)
    assert "{{" not in rest, f"a template form the test does not expand: {template}"
    return _TEMPLATE.sub(one, template)


def expected_alerts(case: Case) -> list[dict[str, Any]]:
    """promtool's `exp_alerts` for `case`: each rule of its name that fires, in rule order."""
    rules = [a for a in alerts.ALERTS if a.name == case.alert]
    found = []
    for (labels, value), alert in zip(case.fires, rules, strict=False):
        found.append({"exp_labels": {**labels, "severity": alert.severity},
                      "exp_annotations": {
                          "summary": expand(alert.summary, labels, value),
                          "description": expand(alert.description, labels, value)}})
    return found


def promtool_tests(rule_file: str) -> dict[str, Any]:
    """A `promtool test rules` file with every case, against `rule_file`."""
    return {"rule_files": [rule_file], "evaluation_interval": "1m",
            "tests": [{"name": case.name, "interval": "1m", "input_series": case.input_series,
                       "alert_rule_test": [{"eval_time": case.eval_time,
                                            "alertname": case.alert,
                                            "exp_alerts": expected_alerts(case)}]}
                      for case in CASES]}
