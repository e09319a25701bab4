"""The metrics the alerts and the dashboard read, named as the worker exports them, and the few
PromQL shapes both build from them.

The SDK's metrics come from its Core: counters without a `_total` suffix, histograms in
milliseconds (`le` buckets 100 ... 1000000), gauges as they are. Task-queue metrics carry
`namespace` (the Temporal namespace) and `task_queue`; request metrics carry `namespace`,
`operation` and, on failures, `status_code`; a request counts in `*_request` when it is made
and, when it fails, in `*_request_failure` too. The worker's own metrics (`contract`) carry
`namespace` and `task_queue` too. Every name here is checked against a real worker's /metrics
scraped by a real Prometheus (tests/monitoring).
"""

from __future__ import annotations

from temporal_worker_spec import contract

# --- The SDK's metrics ---------------------------------------------------------------------
REQUEST_FAILURE = "temporal_request_failure"
LONG_REQUEST = "temporal_long_request"
LONG_REQUEST_FAILURE = "temporal_long_request_failure"
NUM_POLLERS = "temporal_num_pollers"
SLOTS_AVAILABLE = "temporal_worker_task_slots_available"
SLOTS_USED = "temporal_worker_task_slots_used"
WORKFLOW_COMPLETED = "temporal_workflow_completed"
WORKFLOW_FAILED = "temporal_workflow_failed"
WORKFLOW_TASK_SCHEDULE_TO_START = "temporal_workflow_task_schedule_to_start_latency"
WORKFLOW_TASK_EXECUTION_FAILED = "temporal_workflow_task_execution_failed"
WORKFLOW_TASK_POLL_SUCCEED = "temporal_workflow_task_queue_poll_succeed"
ACTIVITY_SCHEDULE_TO_START = "temporal_activity_schedule_to_start_latency"
ACTIVITY_EXECUTION_LATENCY = "temporal_activity_execution_latency"
ACTIVITY_EXECUTION_FAILED = "temporal_activity_execution_failed"
STICKY_CACHE_SIZE = "temporal_sticky_cache_size"
STICKY_CACHE_HIT = "temporal_sticky_cache_hit"
STICKY_CACHE_FORCED_EVICTION = "temporal_sticky_cache_total_forced_eviction"

# --- The worker's own ----------------------------------------------------------------------
WORKER_READY = contract.WORKER_READY_METRIC
CERT_EXPIRY = contract.CERT_EXPIRY_METRIC
CREDENTIAL_RELOAD_FAILING = contract.CREDENTIAL_RELOAD_FAILING_METRIC

POLL_OPERATIONS = "PollWorkflowTaskQueue|PollActivityTaskQueue"
"""The long-poll operations that fetch tasks (`operation` label)."""
SLOT_WORKER_TYPES = "WorkflowWorker|ActivityWorker|LocalActivityWorker"
"""`worker_type` values of the slot gauges for the task types this worker runs."""
RATE_WINDOW = "5m"
"""Window of the alerts' rates and increases (a few scrape intervals at any usual setting)."""
POLL_WINDOW = "2m"
"""Window of the poll failure ratio: short, so the successes of the hours before an outage do
not outweigh its failures for long; still four samples at a 30 s scrape interval."""


def series(name: str, scope: str = "", **labels: str) -> str:
    """`name{scope,label="value",...}`. A value starting with `~` is a regex (`=~`); `scope`
    is a matcher list added as it is (`task_queue="orders"`, or a dashboard variable)."""
    matchers = [scope] if scope else []
    for label, value in labels.items():
        matchers.append(f'{label}=~"{value[1:]}"' if value.startswith("~")
                        else f'{label}="{value}"')
    return f"{name}{{{','.join(matchers)}}}" if matchers else name


def summed(function: str, name: str, by: str, window: str, scope: str = "",
           **labels: str) -> str:
    """`sum by (by) (function(name{...}[window]))`, e.g. a rate per task queue."""
    return f"sum by ({by}) ({function}({series(name, scope, **labels)}[{window}]))"


def in_window(selector: str, window: str) -> str:
    """How much a counter (or histogram bucket) grew in `window`, per series: its increase, or,
    for a series that did not exist `window` ago, its whole value. The SDK creates a series at
    its first event with that event already counted, and a new pod's first scrape may hold a
    whole burst, which `increase()` alone never sees. (`+ 0` drops the name, so both sides have
    the same labels and a new series is counted once.)"""
    return (f"(({selector} unless {selector} offset {window}) + 0)\n  or\n"
            f"  increase({selector}[{window}])")


def events(name: str, by: str, window: str, scope: str = "", **labels: str) -> str:
    """Events a counter counted in `window`, per `by` (see `in_window`)."""
    return f"sum by ({by}) (\n  {in_window(series(name, scope, **labels), window)}\n)"


def quantile(q: float, histogram: str, by: str, window: str, scope: str = "") -> str:
    """The `q` quantile of a histogram's observations in `window`, per `by` (a dashboard
    query: a rate, so each point shows the window before it)."""
    return (f"histogram_quantile({q}, sum by ({by}, le) "
            f"(rate({series(histogram + '_bucket', scope)}[{window}])))")


def quantile_in_window(q: float, histogram: str, by: str, window: str, scope: str = "") -> str:
    """The `q` quantile of a histogram's observations in `window`, per `by`, counting a new
    pod's first burst too (see `in_window`; for alerts)."""
    buckets = in_window(series(histogram + "_bucket", scope), window)
    return f"histogram_quantile({q}, sum by ({by}, le) (\n  {buckets}\n))"
