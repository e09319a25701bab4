"""The worker's Grafana dashboard, built with grafana-foundation-sdk (Grafana's typed builders):
pods ready, throughput, schedule-to-start latency, slots, pollers, poll success, failures, the
sticky cache and the client certificate, per task queue.

Needs the package's `dashboard` extra (`pip install temporal-worker-k8s[dashboard]`); the JSON
it builds ships as `temporal-worker-dashboard.json`, so nothing else imports this module.
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import common, prometheus, stat, timeseries
from grafana_foundation_sdk.builders.dashboard import (Dashboard, DatasourceVariable,
                                                       QueryVariable, Row)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (BigValueColorMode, LegendDisplayMode,
                                                  LegendPlacement, TooltipDisplayMode)
from grafana_foundation_sdk.models.dashboard import (DataSourceRef, DashboardCursorSync,
                                                     VariableRefresh, VariableSort)

from temporal_worker_k8s.monitoring import DASHBOARD_UID
from temporal_worker_k8s.monitoring import promql as q

TITLE = "Temporal worker"
SCOPE = 'task_queue=~"$task_queue"'
"""Every task-queue query follows the dashboard's task queue variable."""
WINDOW = "$__rate_interval"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
WIDTH, HEIGHT = 12, 8


def _query(expr: str, legend: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).range()


def _graph(title: str, description: str, unit: str, *queries: prometheus.Dataquery,
           width: int = WIDTH) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).description(description).unit(unit)
             .datasource(DATASOURCE).span(width).height(HEIGHT).fill_opacity(10)
             .legend(common.VizLegendOptions().display_mode(LegendDisplayMode.TABLE)
                     .placement(LegendPlacement.BOTTOM).show_legend(True))
             .tooltip(common.VizTooltipOptions().mode(TooltipDisplayMode.MULTI)))
    return _with_targets(panel, queries)


def _with_targets(panel, queries):
    """`panel` with `queries` as its targets A, B, C..."""
    for ref, query in zip("ABCDEFGH", queries, strict=False):
        panel = panel.with_target(query.ref_id(ref))
    return panel


def _per_second(name: str, by: str, **labels: str) -> str:
    return q.summed("rate", name, by, WINDOW, SCOPE, **labels)


def _quantile(p: float, histogram: str) -> str:
    return q.quantile(p, histogram, "task_queue", WINDOW, SCOPE)


def build() -> Dashboard:
    """The dashboard, ready to `.build()`; panels get ids in order, so links to them last."""
    board = (Dashboard(TITLE).uid(DASHBOARD_UID).tags(["temporal", "temporal-worker"])
             .description("One Temporal worker's task queues: readiness, throughput, "
                          "latency, capacity, polls, failures, sticky cache, credentials.")
             .editable().refresh("30s").time("now-1h", "now").timezone("browser")
             .tooltip(DashboardCursorSync.CROSSHAIR)
             .with_variable(DatasourceVariable("datasource").label("Data source")
                            .type("prometheus"))
             .with_variable(QueryVariable("task_queue").label("Task queue")
                            .datasource(DATASOURCE)
                            .query(f"label_values({q.NUM_POLLERS}, task_queue)")
                            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
                            .sort(VariableSort.ALPHABETICAL_ASC)
                            .multi(True).include_all(True).all_value(".*")))

    board = board.with_row(Row("Overview"))
    board = board.with_panel(_with_targets(
        stat.Panel().title("Pods ready").datasource(DATASOURCE).span(6).height(HEIGHT)
        .description("Worker pods answering /readyz with 200, out of the pods Prometheus "
                     f"scrapes ({q.WORKER_READY}).")
        .color_mode(BigValueColorMode.VALUE), [
            _query(f"sum by (task_queue) ({q.series(q.WORKER_READY, SCOPE)})",
                   "ready {{task_queue}}"),
            _query(f"count by (task_queue) ({q.series(q.WORKER_READY, SCOPE)})",
                   "scraped {{task_queue}}")]))
    board = board.with_panel(_graph(
        "Throughput", "Workflows completed and failed, activities and workflow tasks run, per "
        "second.", "ops",
        _query(_per_second(q.WORKFLOW_COMPLETED, "task_queue"), "workflows completed {{task_queue}}"),
        _query(_per_second(q.WORKFLOW_FAILED, "task_queue"), "workflows failed {{task_queue}}"),
        _query(_per_second(q.ACTIVITY_EXECUTION_LATENCY + "_count", "task_queue"),
               "activities {{task_queue}}"),
        _query(_per_second(q.WORKFLOW_TASK_POLL_SUCCEED, "task_queue"),
               "workflow tasks {{task_queue}}"), width=18))

    board = board.with_row(Row("Latency and capacity"))
    board = board.with_panel(_graph(
        "Schedule-to-start latency", "How long tasks wait in the task queue before a worker "
        "starts them (p50 and p99). Workflow tasks above 5 s: TemporalWorkflowTaskScheduleTo"
        "StartHigh.", "ms",
        _query(_quantile(0.5, q.WORKFLOW_TASK_SCHEDULE_TO_START), "workflow task p50 {{task_queue}}"),
        _query(_quantile(0.99, q.WORKFLOW_TASK_SCHEDULE_TO_START), "workflow task p99 {{task_queue}}"),
        _query(_quantile(0.5, q.ACTIVITY_SCHEDULE_TO_START), "activity p50 {{task_queue}}"),
        _query(_quantile(0.99, q.ACTIVITY_SCHEDULE_TO_START), "activity p99 {{task_queue}}")))
    board = board.with_panel(_graph(
        "Task slots used and available", "Slots per task type, summed over the pods. "
        "Available at 0: TemporalWorkerTaskSlotsExhausted.", "short",
        _query(f"sum by (task_queue, worker_type) "
               f"({q.series(q.SLOTS_USED, SCOPE, worker_type='~' + q.SLOT_WORKER_TYPES)})",
               "used {{worker_type}} {{task_queue}}"),
        _query(f"sum by (task_queue, worker_type) "
               f"({q.series(q.SLOTS_AVAILABLE, SCOPE, worker_type='~' + q.SLOT_WORKER_TYPES)})",
               "available {{worker_type}} {{task_queue}}")))

    board = board.with_row(Row("Polls"))
    board = board.with_panel(_graph(
        "Poll success", "Polls for tasks made, and those of them that failed (by status "
        "code), per second. Most failing for 10 minutes: TemporalWorkerPollFailures.", "reqps",
        _query(_per_second(q.LONG_REQUEST, "task_queue, operation",
                           operation="~" + q.POLL_OPERATIONS),
               "made {{operation}} {{task_queue}}"),
        _query(_per_second(q.LONG_REQUEST_FAILURE, "task_queue, operation, status_code",
                           operation="~" + q.POLL_OPERATIONS),
               "failed {{status_code}} {{operation}} {{task_queue}}")))
    board = board.with_panel(_graph(
        "Pollers", "Polls open at once per task type (autoscaled pollers move between "
        "minPollers and maxPollers). None at all: TemporalWorkerPollersDisconnected.", "short",
        _query(f"sum by (task_queue, poller_type) ({q.series(q.NUM_POLLERS, SCOPE)})",
               "{{poller_type}} {{task_queue}}")))

    board = board.with_row(Row("Failures"))
    board = board.with_panel(_graph(
        "Activity failures", "Activity attempts that failed, per second, by type.", "ops",
        _query(_per_second(q.ACTIVITY_EXECUTION_FAILED, "task_queue, activity_type"),
               "{{activity_type}} {{task_queue}}")))
    board = board.with_panel(_graph(
        "Workflow task failures", "Workflow tasks that failed, per second, by reason "
        "(NonDeterminismError and GrpcMessageTooLarge page).", "ops",
        _query(_per_second(q.WORKFLOW_TASK_EXECUTION_FAILED,
                           "task_queue, workflow_type, failure_reason"),
               "{{failure_reason}} {{workflow_type}} {{task_queue}}")))
    board = board.with_panel(_graph(
        "Request failures", "Requests to Temporal that failed, per second, by operation and "
        "status code, for every worker of the namespace (request metrics carry no task "
        "queue).", "reqps",
        _query(f"sum by (namespace, operation, status_code) "
               f"(rate({q.REQUEST_FAILURE}[{WINDOW}]))",
               "{{status_code}} {{operation}} {{namespace}}"), width=24))

    board = board.with_row(Row("Sticky cache and credentials"))
    board = board.with_panel(_graph(
        "Sticky cache", "Workflows cached on the workers; workflow tasks that found their "
        "workflow in the cache (hits, no history replay) and workflows evicted before they "
        "finished (a failed task, a full cache), per second.", "short",
        _query(f"sum by (task_queue) ({q.series(q.STICKY_CACHE_SIZE, SCOPE)})",
               "cached {{task_queue}}"),
        _query(_per_second(q.STICKY_CACHE_HIT, "task_queue"), "hits/s {{task_queue}}"),
        _query(_per_second(q.STICKY_CACHE_FORCED_EVICTION, "task_queue"),
               "evictions/s {{task_queue}}")))
    board = board.with_panel(_with_targets(
        stat.Panel().title("Client certificate expires in").datasource(DATASOURCE)
        .span(WIDTH).height(HEIGHT).unit("d").decimals(1)
        .description("Days until the client certificate each pod uses expires (the soonest "
                     "per task queue); it moves when a renewal is applied."),
        [_query(f"min by (task_queue) (({q.series(q.CERT_EXPIRY, SCOPE)} - time()) / 86400)",
                "{{task_queue}}")]))
    return board


def render() -> str:
    """The dashboard as JSON text (stable: keys sorted, two-space indent, final newline)."""
    model = build().build()
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number
    return json.dumps(json.loads(json.dumps(model, cls=JSONEncoder)), indent=2,
                      sort_keys=True) + "\n"
