"""The tuning settings reach the SDK: activity and workflow-task slots, seen in real activity
timing and in the worker's own slot metrics."""

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
from temporalio.worker import Worker, WorkerTuner

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from tools.worker_process import WorkerProcess, queue_env
from worker.activities import BatchRequest
from worker.workflows import BatchWorkflow

pytestmark = pytest.mark.slow
ACTIVITY_SECONDS = 1.5


def test_each_option_names_a_worker_keyword_and_defaults_to_the_sdks_own():
    options = [s for s in spec.SETTINGS if s.worker_option]
    assert {s.name for s in options} >= {"maxConcurrentActivities", "maxConcurrentWorkflowTasks"}
    parameters = inspect.signature(Worker).parameters
    for setting in options:
        assert setting.worker_option in parameters, setting.name
    # With none of the max_* arguments the SDK builds this tuner; our defaults must match it.
    fixed = WorkerTuner.create_fixed()
    assert spec.MAX_CONCURRENT_ACTIVITIES.default == fixed.activity_slot_supplier.num_slots
    assert spec.MAX_CONCURRENT_WORKFLOW_TASKS.default == fixed.workflow_slot_supplier.num_slots


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


def slots_available(metrics_port: int, worker_type: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}{contract.METRICS_PATH}", timeout=5).text
    match = re.search(r'^temporal_worker_task_slots_available\{[^}]*worker_type="%s"[^}]*\} '
                      r'(\S+)$' % worker_type, text, re.M)
    assert match, f"no slots gauge for {worker_type}"
    return float(match[1])


@pytest.mark.parametrize("slots, overlap", [(1, False), (2, True)])
async def test_max_concurrent_activities_limits_activities_running_at_once(temporal_server,
                                                                          slots, overlap):
    task_queue = f"tq-{uuid.uuid4()}"
    env = queue_env(temporal_server.address, task_queue,
                    **{spec.MAX_CONCURRENT_ACTIVITIES.env: str(slots),
                       spec.MAX_CONCURRENT_WORKFLOW_TASKS.env: "3"})
    with WorkerProcess(env) as worker:
        worker.wait_ready()
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
