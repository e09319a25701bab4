"""The signal KEDA scales on, against a real server and real workers: the task queue's backlog
rises while no worker polls, KEDA's rule turns it into a replica count, and that many worker
processes drain it."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import ExitStack
from datetime import timedelta

import pytest
from temporalio.client import Client

import temporal_worker_spec.settings as spec
from temporal_worker_k8s.production import desired_replicas
from tools.backlog import backlog, wait_backlog
from tools.worker_process import WorkerProcess, queue_env
from worker.activities import BatchRequest
from worker.workflows import BatchWorkflow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
WORKFLOWS = 30
TARGET_QUEUE_SIZE, MINIMUM, MAXIMUM = 10, 1, 3


async def test_backlog_rises_without_workers_and_the_computed_workers_drain_it(temporal_server):
    client = await Client.connect(temporal_server.address)
    task_queue = f"scale-{uuid.uuid4()}"
    assert await backlog(client, task_queue) == 0
    handles = [await client.start_workflow(
        BatchWorkflow.run, BatchRequest(name=str(i), items=1, seconds_per_item=0.2),
        id=f"scale-{uuid.uuid4()}", task_queue=task_queue,
        execution_timeout=timedelta(minutes=3)) for i in range(WORKFLOWS)]
    # The stats are approximate and refreshed by the server; wait until they show the work.
    waiting = await wait_backlog(client, task_queue, lambda b: b >= WORKFLOWS * 0.8, 30)
    assert waiting >= WORKFLOWS * 0.8, waiting
    replicas = desired_replicas(waiting, TARGET_QUEUE_SIZE, MINIMUM, MAXIMUM)
    assert replicas == MAXIMUM  # ceil(~30 / 10) = 3, within 1..3
    env = queue_env(temporal_server.address, task_queue,
                    **{spec.MAX_CONCURRENT_ACTIVITIES.env: "2"})
    with ExitStack() as stack:  # closes every worker, whatever happens
        workers = [stack.enter_context(WorkerProcess(env)) for _ in range(replicas)]
        results = await asyncio.gather(*(h.result() for h in handles))
        assert len(results) == WORKFLOWS
        left = await wait_backlog(client, task_queue, lambda b: b == 0, 30)
        assert left == 0
        assert desired_replicas(left, TARGET_QUEUE_SIZE, MINIMUM, MAXIMUM) == MINIMUM
        codes = [worker.terminate() for worker in workers]
    for code in codes:
        assert code == 0
