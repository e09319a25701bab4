"""What bench/compare.py measures on one worker process: start to first poll, RSS, CPU, two
loads (throughput; short workflows whose activities sleep, with workflow-task schedule-to-start
from history) and SIGTERM to exit.

Both kinds of worker are watched from outside at the same events: "ready" is when the server
lists a poller with the process's identity (`DescribeTaskQueue`), which neither worker can
report early or late.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from tools.procs import Background
from tools.worker_process import REPO, WorkerProcess, clean_env
from worker.activities import BatchRequest
from worker.workflows import BatchWorkflow

GRACEFUL_SECONDS = 30
# Lets start-up garbage settle before idle RSS is sampled.
IDLE_SETTLE_SECONDS = float(os.environ.get("BENCH_IDLE_SETTLE", "3"))
READY_POLL_SECONDS = 0.01
HISTORY_FETCHES_AT_ONCE = 20
BARE = "bare"
THIS = "this"


@dataclass
class Load:
    """The two loads: `workflows` one-activity workflows at once (CPU-bound), and
    `sleepy_workflows` whose one activity sleeps `activity_seconds` (needs more than the SDK's
    default slots and pollers)."""

    workflows: int
    sleepy_workflows: int
    activity_seconds: float


@dataclass
class Figures:
    ready_seconds: float
    """Process start to the server listing its poller."""
    readyz_seconds: float | None
    """Process start to /readyz 200 (this worker only)."""
    idle_rss_mib: float
    throughput: float
    cpu_cores: float
    """Worker process CPU seconds per wall second during the one-activity load."""
    sleepy_throughput: float
    schedule_to_start_ms: list[float]
    """Workflow-task schedule-to-start of the sleepy load, from history event times."""
    peak_rss_mib: float
    sleepy_cpu_cores: float
    """Worker process CPU seconds per wall second during the sleepy load."""
    sigterm_exit_seconds: float
    exit_code: int

    def percentile(self, q: int) -> float:
        return percentile(self.schedule_to_start_ms, q)


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (inclusive method, so p100 is the maximum)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class Candidate:
    """One kind of worker: the bare SDK worker, or this worker with optional setting overrides
    (`{setting name: value}`, e.g. {"maxPollers": "20"})."""

    def __init__(self, name: str, address: str, overrides: dict[str, str] | None = None) -> None:
        self.name, self.address, self.overrides = name, address, overrides or {}

    @property
    def bare(self) -> bool:
        return self.name == BARE

    def start(self, task_queue: str) -> Background:
        if self.bare:
            return Background("bare-worker", [
                sys.executable, "-m", "bench.bare_worker", self.address, task_queue,
                str(GRACEFUL_SECONDS)], env=clean_env(), cwd=REPO).start()
        env = {spec.TEMPORAL_ADDRESS.env: self.address, spec.TASK_QUEUE.env: task_queue,
               spec.GRACEFUL_SHUTDOWN_SECONDS.env: str(GRACEFUL_SECONDS)}
        env.update({spec.BY_NAME[name].env: value for name, value in self.overrides.items()})
        return WorkerProcess(env).start()


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Resident memory now (VmRSS) or at its peak so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def polling(client: Client, task_queue: str, pid: int) -> bool:
    """Whether the server lists a workflow-task poller of process `pid` (the SDK's default
    identity is `pid@host`, and neither worker sets another)."""
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue)))
    return any(p.identity.startswith(f"{pid}@") for p in response.pollers)


def readyz(port: int) -> bool:
    # http.client, not httpx: a poll every 10 ms must not steal CPU from the start-up measured.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", contract.READINESS_PATH)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


async def wait_ready(client: Client, process: Background, task_queue: str,
                     started: float) -> tuple[float, float | None]:
    """Seconds from `started` until the server lists the poller, and (this worker) until
    /readyz answers 200."""
    deadline = time.monotonic() + 120
    ready = readyz_at = None
    health_port = getattr(process, "health_port", None)
    while ready is None or (health_port and readyz_at is None):
        if not process.running():
            raise RuntimeError(f"{process.name} exited:\n{process.output()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{process.name} not ready after 120 s:\n"
                               f"{process.output()[-3000:]}")
        now = time.perf_counter()
        if ready is None and await polling(client, task_queue, process.process.pid):
            ready = now - started
        if health_port and readyz_at is None and readyz(health_port):
            readyz_at = now - started
        await asyncio.sleep(READY_POLL_SECONDS)
    return ready, readyz_at


async def run_workflows(client: Client, task_queue: str, count: int,
                        seconds: float) -> tuple[float, list[str]]:
    """Start `count` one-activity BatchWorkflows at once and wait for all: (workflows/s, ids)."""
    ids = [f"bench-{uuid.uuid4()}" for _ in range(count)]

    async def one(workflow_id: str) -> None:
        await client.execute_workflow(
            BatchWorkflow.run, BatchRequest(name=workflow_id, items=1, seconds_per_item=seconds),
            id=workflow_id, task_queue=task_queue, execution_timeout=timedelta(minutes=10))

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in ids))
    return count / (time.perf_counter() - started), ids


async def schedule_to_start_ms(client: Client, workflow_ids: list[str]) -> list[float]:
    """Every workflow task's WorkflowTaskScheduled -> WorkflowTaskStarted time, in ms, from the
    workflows' histories (the server's clock at both ends)."""
    limit = asyncio.Semaphore(HISTORY_FETCHES_AT_ONCE)

    async def one(workflow_id: str) -> list[float]:
        async with limit:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        scheduled = {e.event_id: e.event_time.ToDatetime() for e in history.events
                     if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED}
        return [(e.event_time.ToDatetime() - scheduled[
                    e.workflow_task_started_event_attributes.scheduled_event_id]
                 ).total_seconds() * 1000
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]

    return [ms for each in await asyncio.gather(*(one(i) for i in workflow_ids)) for ms in each]


async def sigterm_exit(client: Client, process: Background,
                       task_queue: str) -> tuple[float, int]:
    """Seconds from SIGTERM to exit, and the exit code, while a 3-second activity runs."""
    handle = await client.start_workflow(
        BatchWorkflow.run, BatchRequest(name="inflight", items=3, seconds_per_item=1.0),
        id=f"bench-inflight-{uuid.uuid4()}", task_queue=task_queue)
    deadline = time.monotonic() + 60
    while True:
        pending = (await handle.describe()).raw_description.pending_activities
        if any(a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for a in pending):
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the in-flight activity never started")
        await asyncio.sleep(0.05)
    sent = time.perf_counter()
    process.signal(signal.SIGTERM)
    code = await asyncio.to_thread(process.wait, GRACEFUL_SECONDS + 15)
    return time.perf_counter() - sent, code


async def measure(candidate: Candidate, client: Client, load: Load) -> Figures:
    """Start one worker on a fresh task queue, take every figure, and stop it."""
    task_queue = f"bench-{candidate.name}-{uuid.uuid4()}"
    started = time.perf_counter()
    process = candidate.start(task_queue)
    try:
        ready, ready_z = await wait_ready(client, process, task_queue, started)
        await asyncio.sleep(IDLE_SETTLE_SECONDS)
        pid = process.process.pid
        idle = rss_mib(pid)
        cpu_before, wall_before = cpu_seconds(pid), time.perf_counter()
        rate, _ = await run_workflows(client, task_queue, load.workflows, 0.0)
        cores = (cpu_seconds(pid) - cpu_before) / (time.perf_counter() - wall_before)
        cpu_before, wall_before = cpu_seconds(pid), time.perf_counter()
        sleepy_rate, ids = await run_workflows(client, task_queue, load.sleepy_workflows,
                                               load.activity_seconds)
        sleepy_cores = (cpu_seconds(pid) - cpu_before) / (time.perf_counter() - wall_before)
        peak = rss_mib(pid, "VmHWM")
        exit_seconds, code = await sigterm_exit(client, process, task_queue)
        latencies = await schedule_to_start_ms(client, ids)
        return Figures(ready, ready_z, idle, rate, cores, sleepy_rate, latencies, peak,
                       sleepy_cores, exit_seconds, code)
    finally:
        process.close()
