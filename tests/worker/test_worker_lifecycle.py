"""Process lifecycle against a real server: outages, SIGTERM drain, crashes, metrics, probes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client, WorkflowHandle

from tools.procs import wait_for, wait_for_async
from tools.devserver import DevServer
from tools.worker_process import REPO, WorkerProcess, queue_env
import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from worker.activities import BatchRequest
from worker.workflows import BatchWorkflow

pytestmark = pytest.mark.slow


async def activity_running(handle: WorkflowHandle) -> bool:
    pending = (await handle.describe()).raw_description.pending_activities
    return any(a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for a in pending)


@pytest.fixture
async def client(temporal_server) -> Client:
    """A plain client of the session dev server, for starting and inspecting workflows."""
    return await Client.connect(temporal_server.address)


async def start_batch(client: Client, env: dict[str, str], items: int,
                      seconds_per_item: float) -> WorkflowHandle:
    task_queue = env[spec.TASK_QUEUE.env]
    return await client.start_workflow(
        BatchWorkflow.run, BatchRequest(name="long", items=items,
                                        seconds_per_item=seconds_per_item),
        id=f"batch-{uuid.uuid4()}", task_queue=task_queue,
        execution_timeout=timedelta(minutes=5))


def ready_metric(worker: WorkerProcess) -> float | None:
    """The worker's readiness gauge for its own namespace and task queue, or None."""
    text = httpx.get(f"http://127.0.0.1:{worker.metrics_port}{contract.METRICS_PATH}",
                     timeout=5).text
    for line in text.splitlines():
        if line.startswith(contract.WORKER_READY_METRIC + "{") and 'namespace="default"' in line \
                and f'task_queue="{worker.env[spec.TASK_QUEUE.env]}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_readiness_follows_server_outage_and_no_workflow_is_lost(tmp_path):
    ready_file, alive_file = tmp_path / "ready", tmp_path / "alive"
    with DevServer(workdir=str(tmp_path)) as server:
        env = queue_env(server.address, **{spec.HEARTBEAT_FILE.env: str(ready_file),
                                           spec.LIVENESS_FILE.env: str(alive_file)})
        with WorkerProcess(env) as worker:
            await asyncio.to_thread(worker.wait_ready)
            assert ready_metric(worker) == 1, "the readiness metric says what /readyz says"
            client = await Client.connect(server.address)
            handles = [await start_batch(client, env, items=8, seconds_per_item=0.5)
                       for _ in range(3)]
            for handle in handles:
                await wait_for_async(lambda h=handle: activity_running(h), 60, "activity start",
                                     interval=0.2)

            await asyncio.to_thread(server.stop)
            await wait_for_async(lambda: not worker.ready(), 60, "not-ready during the outage",
                                 interval=0.2)
            assert worker.live(), "an unreachable server must not fail liveness"
            await wait_for_async(lambda: ready_metric(worker) == 0, 10, "the metric at 0")
            # The exec probes agree with the HTTP ones: readiness fails, liveness passes.
            await asyncio.to_thread(
                wait_for, lambda: probe(ready_file, contract.HEARTBEAT_MAX_AGE_SECONDS).returncode,
                30, "the readiness file probe to fail")
            alive = probe(alive_file, contract.LIVENESS_MAX_AGE_SECONDS)
            assert alive.returncode == 0, alive.stderr
            await asyncio.to_thread(server.start)
            await wait_for_async(worker.ready, 90, "ready again after the server returned",
                                 interval=0.2)
            await wait_for_async(lambda: ready_metric(worker) == 1, 10, "the metric back at 1")

            client = await Client.connect(server.address)
            for handle in handles:
                result = await client.get_workflow_handle(handle.id).result(
                    rpc_timeout=timedelta(seconds=90))
                assert result == "batch long: processed 8 of 8 items"
            assert worker.terminate() == 0
    assert "worker is not ready" in worker.output()


async def test_sigterm_lets_running_activity_finish(temporal_server, client):
    env = queue_env(temporal_server.address, **{spec.GRACEFUL_SHUTDOWN_SECONDS.env: "30"})
    with WorkerProcess(env) as worker:
        await asyncio.to_thread(worker.wait_ready)
        handle = await start_batch(client, env, items=5, seconds_per_item=1.0)
        await wait_for_async(lambda: activity_running(handle), 60, "activity start", interval=0.2)
        sent = time.monotonic()
        code = await asyncio.to_thread(worker.terminate, 30 + 15)
        elapsed = time.monotonic() - sent
    assert code == 0, worker.output()[-2000:]
    assert elapsed < 30, f"drain took {elapsed:.1f}s, beyond the graceful-shutdown timeout"

    # The in-flight attempt completed: no failure, no timeout, no retry.
    events = [e async for e in handle.fetch_history_events()]
    types = [e.event_type for e in events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in types
    started = next(e for e in events
                   if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert started.activity_task_started_event_attributes.attempt == 1
    assert "draining in-flight activities" in worker.output()

    # The replacement pod finishes the workflow.
    with WorkerProcess(env):
        assert await handle.result(rpc_timeout=timedelta(seconds=60)) == \
            "batch long: processed 5 of 5 items"


async def test_killed_worker_activity_is_retried_elsewhere_from_its_heartbeat(temporal_server, client):
    env = queue_env(temporal_server.address)
    with WorkerProcess(env) as first:
        await asyncio.to_thread(first.wait_ready)
        handle = await start_batch(client, env, items=20, seconds_per_item=0.5)

        async def progressed() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return bool(pending and pending[0].HasField("heartbeat_details"))

        await wait_for_async(progressed, 60, "a recorded heartbeat", interval=0.2)
        first.process.kill()
        first.process.wait(timeout=10)
    with WorkerProcess(env) as second:
        result = await handle.result(rpc_timeout=timedelta(seconds=120))
        assert result == "batch long: processed 20 of 20 items"
        assert "resuming batch long at item" in second.output()


async def test_metrics_endpoint_serves_temporal_metrics_after_work(temporal_server, client):
    env = queue_env(temporal_server.address)
    with WorkerProcess(env) as worker:
        await asyncio.to_thread(worker.wait_ready)
        handle = await start_batch(client, env, items=2, seconds_per_item=0)
        await handle.result()
        url = f"http://127.0.0.1:{worker.metrics_port}{contract.METRICS_PATH}"

        def scraped() -> str | None:
            text = httpx.get(url, timeout=5).text
            return text if f'task_queue="{env[spec.TASK_QUEUE.env]}"' in text and \
                "temporal_activity_execution_latency" in text else None

        text = await asyncio.to_thread(wait_for, scraped, 60, "activity metrics for the queue")
        names = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
                 if line and not line.startswith("#")}
        assert {"temporal_workflow_completed", "temporal_activity_execution_latency_count",
                "temporal_num_pollers"} <= names, sorted(names)
        assert worker.terminate() == 0


def probe(path, max_age: int) -> subprocess.CompletedProcess:
    command = contract.heartbeat_probe_command(str(path), max_age)
    assert command[:3] == ["python", "-m", contract.PROBE_MODULE]
    return subprocess.run([sys.executable, *command[1:]], cwd=REPO, capture_output=True,
                          text=True, timeout=30)


async def test_heartbeat_file_is_fresh_only_while_ready(temporal_server, tmp_path):
    heartbeat = tmp_path / "ready"
    heartbeat.write_text("left over from a previous run\n")
    env = queue_env(temporal_server.address, **{spec.HEARTBEAT_FILE.env: str(heartbeat),
                                                spec.HEALTH_PORT.env: "0"})
    with WorkerProcess(env) as worker:
        await asyncio.to_thread(
            wait_for, lambda: probe(heartbeat, contract.HEARTBEAT_MAX_AGE_SECONDS).returncode == 0
            and "worker is ready" in worker.output(), 60, "a fresh heartbeat file")
        assert worker.readiness_status() is None, "health port 0 turns the HTTP server off"
        # Freshness, not existence: an old file fails the probe. (A copy: the worker rewrites
        # its own file every 2 s, which may come between aging it and probing it.)
        old = tmp_path / "old"
        old.write_text(heartbeat.read_text())
        os.utime(old, (time.time() - 120, time.time() - 120))
        stale = probe(old, 60)
        assert stale.returncode == 1 and "stale" in stale.stderr
        # The worker keeps its own file fresh: aged, it is rewritten within seconds.
        os.utime(heartbeat, (time.time() - 120, time.time() - 120))
        await asyncio.to_thread(
            wait_for, lambda: probe(heartbeat, 60).returncode == 0, 30, "the worker to rewrite it")
        assert worker.terminate() == 0
    gone = probe(heartbeat, contract.HEARTBEAT_MAX_AGE_SECONDS)
    assert gone.returncode == 1 and "No such file" in gone.stderr


def test_every_sigterm_after_ready_exits_zero(temporal_server, tmp_path):
    """Rollouts send SIGTERM constantly: exit 0 every time, not just usually. Before the worker
    skipped interpreter finalization, SDK Core threads aborted 3 exits in 20 (SIGABRT)."""
    codes = []
    for i in range(15):
        heartbeat = tmp_path / f"ready-{i}"
        env = queue_env(temporal_server.address, **{spec.HEARTBEAT_FILE.env: str(heartbeat),
                                                    spec.HEALTH_PORT.env: "0"})
        with WorkerProcess(env) as worker:
            wait_for(lambda: heartbeat.exists() or not worker.running(), 60, "readiness")
            codes.append((worker.terminate(), worker.output()[-1500:]))
    failed = [(code, out) for code, out in codes if code != 0]
    assert not failed, f"{len(failed)} of {len(codes)} exits failed; first:\n{failed[0]}"


def test_unknown_namespace_exits_with_clear_error_and_is_never_ready(temporal_server):
    env = queue_env(temporal_server.address, **{spec.TEMPORAL_NAMESPACE.env: "no-such-namespace"})
    with WorkerProcess(env) as worker:
        def exited() -> bool:
            assert not worker.ready(), "ready before the namespace was validated"
            return not worker.running()

        wait_for(exited, 60, "the worker to exit", interval=0.02)
        assert worker.process.returncode == 1
    [failed] = [json.loads(line)["message"] for line in worker.output().splitlines()
                if "worker failed" in line]
    # The server's own words, decoded: not the raw protobuf bytes of the gRPC status details.
    assert failed.endswith("NotFound: Namespace no-such-namespace is not found."), failed
    assert 'details: b"' not in worker.output() and "\\x08" not in worker.output()
    assert "worker is ready" not in worker.output()


def test_the_log_says_starting_before_ready(temporal_server):
    with WorkerProcess(queue_env(temporal_server.address)) as worker:
        worker.wait_ready()
        assert worker.terminate() == 0
    messages = [json.loads(line)["message"] for line in worker.output().splitlines()]
    starting = next(i for i, m in enumerate(messages) if m.startswith("worker starting"))
    ready = next(i for i, m in enumerate(messages) if m.startswith("worker is ready"))
    assert starting < ready, messages
