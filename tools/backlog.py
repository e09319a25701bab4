"""The number KEDA's Temporal scaler scales on: a task queue's approximate backlog, read with
DescribeTaskQueue(report_stats=True) for each queue type the trigger names (`queueTypes`), and
KEDA's rule turning it into a replica count (temporal_worker_k8s.production.desired_replicas).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from temporal_worker_k8s.production import QUEUE_TYPES

_TYPES = {"workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
          "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY}


async def backlog(client: Client, task_queue: str, queue_types: str = QUEUE_TYPES) -> int:
    """Approximate tasks waiting on `task_queue`, summed over `queue_types` (comma list)."""
    total = 0
    for name in queue_types.split(","):
        response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
            task_queue_type=_TYPES[name], report_stats=True))
        total += response.stats.approximate_backlog_count
    return total


async def wait_backlog(client: Client, task_queue: str, done: Callable[[int], bool],
                       timeout: float) -> int:
    """The backlog once `done(backlog)` holds, or the last one read after `timeout` seconds
    (the server refreshes its approximate stats now and then)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await backlog(client, task_queue)
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.5)
