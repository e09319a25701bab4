"""The tuning settings reach the SDK: activity and workflow-task slots (fixed, or the
resource-based tuner capped by the same counts), seen in real activity timing and in the
worker's own slot metrics; pollers (fixed or autoscaling), seen in its poller metrics."""

from __future__ import annotations

import asyncio
import inspect
import re
import uuid
from datetime import timedelta

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import (PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum, Worker,
                               WorkerTuner)

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from temporal_worker_spec.values import parse_quantity
from tools.procs import wait_for
from tools.worker_process import WorkerProcess, queue_env
from worker import tuning
from worker.activities import MAX_REPLY_BYTES, BatchRequest
from worker.workflows import BatchWorkflow

pytestmark = pytest.mark.slow
ACTIVITY_SECONDS = 1.5


def test_each_option_names_a_worker_keyword():
    options = [s for s in spec.SETTINGS if s.worker_option]
    assert {s.name for s in options} >= {"maxConcurrentActivities", "maxConcurrentWorkflowTasks"}
    parameters = inspect.signature(Worker).parameters
    for setting in options:
        assert setting.worker_option in parameters, setting.name
    # With none of the max_* arguments the SDK builds this tuner; workflow tasks keep its count.
    fixed = WorkerTuner.create_fixed()
    assert spec.MAX_CONCURRENT_WORKFLOW_TASKS.default == fixed.workflow_slot_supplier.num_slots


def test_default_activity_slots_fit_the_memory_limit_with_a_maximum_reply_in_each():
    # Above the SDK's 100 (measured in bench/README.md), but every slot holding the largest
    # chat reply the activity reads must still fit in what the limit leaves above the
    # request, which covers the worker's own peak under load.
    assert spec.MAX_CONCURRENT_ACTIVITIES.default > WorkerTuner.create_fixed(
        ).activity_slot_supplier.num_slots
    headroom = (parse_quantity(spec.MEMORY_LIMIT.default)
                - parse_quantity(spec.MEMORY_REQUEST.default))
    assert spec.MAX_CONCURRENT_ACTIVITIES.default * MAX_REPLY_BYTES <= headroom


async def activity_windows(client: Client, ids: list[str]) -> list[tuple[float, float]]:
    """(started, completed) event times of each workflow's activity."""
    windows = []
    for workflow_id in ids:
        started = completed = None
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started = event.event_time.ToDatetime().timestamp()
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                completed = event.event_time.ToDatetime().timestamp()
        windows.append((started, completed))
    return windows


def gauge(metrics_port: int, name: str, label: str, value: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}{contract.METRICS_PATH}", timeout=5).text
    match = re.search(r'^%s\{[^}]*%s="%s"[^}]*\} (\S+)$' % (name, label, value), text, re.M)
    assert match, f"no {name} for {label}={value}"
    return float(match[1])


def slots_available(metrics_port: int, worker_type: str) -> float:
    return gauge(metrics_port, "temporal_worker_task_slots_available", "worker_type", worker_type)


def pollers(metrics_port: int, poller_type: str) -> float:
    return gauge(metrics_port, "temporal_num_pollers", "poller_type", poller_type)


def defaults(**overrides: object) -> dict[str, object]:
    return {**{s.name: s.default for s in spec.SETTINGS}, **overrides}


def test_pollers_follow_the_poller_settings():
    fixed = tuning.worker_options(defaults(pollerBehavior="fixed", maxPollers=7))
    assert fixed["workflow_task_poller_behavior"] == PollerBehaviorSimpleMaximum(maximum=7)
    assert fixed["activity_task_poller_behavior"] == PollerBehaviorSimpleMaximum(maximum=7)
    scaled = tuning.worker_options(defaults(pollerBehavior="autoscaling", minPollers=2,
                                            initialPollers=4, maxPollers=40))
    assert scaled["workflow_task_poller_behavior"] == PollerBehaviorAutoscaling(
        minimum=2, initial=4, maximum=40)
    assert scaled["activity_task_poller_behavior"] == scaled["workflow_task_poller_behavior"]


def test_the_resource_based_tuner_replaces_the_fixed_counts_and_is_capped_by_them():
    options = tuning.worker_options(defaults(slotTuner="resourceBased", tunerTargetMemory=70,
                                             tunerTargetCpu=85, maxConcurrentActivities=7,
                                             maxConcurrentWorkflowTasks=9))
    assert "max_concurrent_activities" not in options  # the SDK refuses both at once
    tuner = options["tuner"]
    for supplier, cap in ((tuner.workflow_slot_supplier, 9), (tuner.activity_slot_supplier, 7)):
        assert supplier.slot_config.maximum_slots == cap
        assert (supplier.tuner_config.target_memory_usage,
                supplier.tuner_config.target_cpu_usage) == (0.70, 0.85)
    fixed = tuning.worker_options(defaults(maxConcurrentActivities=7))
    assert fixed["max_concurrent_activities"] == 7 and "tuner" not in fixed


@pytest.mark.parametrize("behavior, expected", [
    ({spec.POLLER_BEHAVIOR.env: "fixed", spec.MAX_POLLERS.env: "3"}, 3),
    ({spec.POLLER_BEHAVIOR.env: "autoscaling", spec.MIN_POLLERS.env: "1",
      spec.INITIAL_POLLERS.env: "2", spec.MAX_POLLERS.env: "50"}, 2),
])
def test_an_idle_worker_holds_the_pollers_its_settings_ask_for(temporal_server, behavior,
                                                               expected):
    env = queue_env(temporal_server.address, **behavior)
    with WorkerProcess(env) as worker:
        worker.wait_ready()
        assert wait_for(lambda: pollers(worker.metrics_port, "activity_task") == expected, 10,
                        f"{expected} activity pollers")
        assert worker.terminate() == 0


@pytest.mark.parametrize("tuner, slots, overlap", [("fixed", 1, False), ("fixed", 2, True),
                                                   ("resourceBased", 1, False)])
async def test_max_concurrent_activities_limits_activities_running_at_once(temporal_server,
                                                                          tuner, slots,
                                                                          overlap):
    task_queue = f"tq-{uuid.uuid4()}"
    env = queue_env(temporal_server.address, task_queue,
                    **{spec.MAX_CONCURRENT_ACTIVITIES.env: str(slots),
                       spec.MAX_CONCURRENT_WORKFLOW_TASKS.env: "3",
                       spec.SLOT_TUNER.env: tuner})
    with WorkerProcess(env) as worker:
        worker.wait_ready()
        if tuner == "fixed":  # the resource-based tuner's slot gauges do not mean much
            assert slots_available(worker.metrics_port, "ActivityWorker") == slots
            assert slots_available(worker.metrics_port, "WorkflowWorker") == 3
        client = await Client.connect(temporal_server.address)
        ids = [f"tuning-{uuid.uuid4()}" for _ in range(2)]
        await asyncio.gather(*(client.execute_workflow(
            BatchWorkflow.run, BatchRequest(name=i, items=1, seconds_per_item=ACTIVITY_SECONDS),
            id=i, task_queue=task_queue, execution_timeout=timedelta(seconds=60)) for i in ids))
        (a_start, a_end), (b_start, b_end) = sorted(await activity_windows(client, ids))
        assert worker.terminate() == 0
    assert (b_start < a_end) is overlap, ((a_start, a_end), (b_start, b_end))
