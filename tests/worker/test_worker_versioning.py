"""Worker versioning: TEMPORAL_DEPLOYMENT_NAME + TEMPORAL_WORKER_BUILD_ID put the worker in a
Worker Deployment, and workflows run on the version made current."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client

from tools.procs import wait_for
from tools.devserver import temporal_cli
from tools.worker_process import WorkerProcess, queue_env
import temporal_worker_spec.settings as spec
from worker.activities import BatchRequest
from worker.workflows import BatchWorkflow

pytestmark = pytest.mark.slow


async def test_versioned_worker_runs_workflows_on_the_current_version(temporal_server):
    deployment, build_id = f"dep-{uuid.uuid4().hex[:8]}", "build-1"
    task_queue = f"tq-{uuid.uuid4()}"
    env = queue_env(temporal_server.address, task_queue,
                    **{spec.DEPLOYMENT_NAME.env: deployment, spec.BUILD_ID.env: build_id})
    with WorkerProcess(env) as worker:
        await asyncio.to_thread(worker.wait_ready)

        def made_current() -> bool:
            # The version exists once the worker has polled; until then this fails.
            return subprocess.run(
                [temporal_cli(), "worker", "deployment", "set-current-version", "--address",
                 temporal_server.address, "--deployment-name", deployment, "--build-id",
                 build_id, "--yes"], capture_output=True, timeout=30).returncode == 0

        await asyncio.to_thread(wait_for, made_current, 60, "the version to register", 0.5)
        client = await Client.connect(temporal_server.address)
        handle = await client.start_workflow(
            BatchWorkflow.run, BatchRequest(name="v", items=1), id=f"v-{uuid.uuid4()}",
            task_queue=task_queue, execution_timeout=timedelta(seconds=60))
        assert await handle.result() == "batch v: processed 1 of 1 items"
        info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
        assert info.deployment_version.deployment_name == deployment
        assert info.deployment_version.build_id == build_id
        assert worker.terminate() == 0
