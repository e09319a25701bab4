"""The worker process runs the sample workflows against a real server: plain TCP, mTLS, aliases."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tools.worker_process import WorkerProcess, queue_env
import temporal_worker_spec.settings as spec
from worker.activities import ERROR_TOO_LARGE, BatchRequest, ChatRequest
from worker.workflows import BatchWorkflow, ChatWorkflow

pytestmark = pytest.mark.slow
RESULT_TIMEOUT = timedelta(seconds=60)


async def run_batch(address: str, task_queue: str) -> str:
    client = await Client.connect(address)
    return await client.execute_workflow(
        BatchWorkflow.run, BatchRequest(name="b1", items=3), id=f"batch-{uuid.uuid4()}",
        task_queue=task_queue, execution_timeout=RESULT_TIMEOUT)


async def test_workflows_complete_over_plain_tcp(temporal_server, chat_server):
    task_queue = f"tq-{uuid.uuid4()}"
    chat_server.reply = "Kubernetes restarts pods; Temporal retries work."
    env = queue_env(temporal_server.address, task_queue,
                    **{spec.CHATGPT_BASE_URL.env: chat_server.base_url,
                       spec.CHATGPT_API_KEY.env: "sk-test-secret-123"})
    with WorkerProcess(env) as worker:
        worker.wait_ready()
        assert await run_batch(temporal_server.address, task_queue) == \
            "batch b1: processed 3 of 3 items"
        client = await Client.connect(temporal_server.address)
        answer = await client.execute_workflow(
            ChatWorkflow.run, ChatRequest(prompt="Why Temporal?"), id=f"chat-{uuid.uuid4()}",
            task_queue=task_queue, execution_timeout=RESULT_TIMEOUT)
        assert answer == "Kubernetes restarts pods; Temporal retries work."
        assert worker.terminate() == 0
    [request] = chat_server.requests
    assert request["headers"]["Authorization"] == "Bearer sk-test-secret-123"
    assert request["body"]["messages"][-1] == {"role": "user", "content": "Why Temporal?"}
    assert "sk-test-secret-123" not in worker.output()
    # JSON logging: one object per line, every line, with the basic fields.
    events = [json.loads(line) for line in worker.output().splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(e) for e in events)
    assert any(e["message"].startswith("worker starting") for e in events)


async def test_workflows_complete_over_mtls_with_good_client_cert(temporal_server, mtls):
    task_queue = f"tq-{uuid.uuid4()}"
    with WorkerProcess({**mtls.worker_env(), spec.TASK_QUEUE.env: task_queue}) as worker:
        worker.wait_ready()
        # Started through the plain port: the work can only be done by the mTLS-connected worker.
        assert await run_batch(temporal_server.address, task_queue) == \
            "batch b1: processed 3 of 3 items"
        assert worker.terminate() == 0
    assert "tls on" in worker.output()


async def test_seed_article_alias_names_connect_over_mtls(temporal_server, mtls):
    task_queue = f"tq-{uuid.uuid4()}"
    standard_to_alias = {standard: alias for alias, standard in spec.ALIASES.items()}
    env = {standard_to_alias.get(name, name): value for name, value in mtls.worker_env().items()}
    assert set(spec.ALIASES) <= set(env)
    del env[spec.TLS.env]  # the seed sets only the cert and key; TLS follows from them
    with WorkerProcess({**env, spec.TASK_QUEUE.env: task_queue}) as worker:
        worker.wait_ready()
        assert await run_batch(temporal_server.address, task_queue) == \
            "batch b1: processed 3 of 3 items"
        assert worker.terminate() == 0


async def test_a_300_mb_chat_reply_fails_once_without_filling_the_workers_memory(
        temporal_server, chat_server):
    chat_server.reply_bytes = 300 * 1024 * 1024
    task_queue = f"tq-{uuid.uuid4()}"
    env = queue_env(temporal_server.address, task_queue,
                    **{spec.CHATGPT_BASE_URL.env: chat_server.base_url,
                       spec.CHATGPT_API_KEY.env: "sk-test-oversize"})
    with WorkerProcess(env) as worker:
        worker.wait_ready()
        client = await Client.connect(temporal_server.address)
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(
                ChatWorkflow.run, ChatRequest(prompt="everything"), id=f"chat-{uuid.uuid4()}",
                task_queue=task_queue, execution_timeout=RESULT_TIMEOUT)
        peak_mib = int(re.search(r"VmHWM:\s+(\d+) kB", Path(
            f"/proc/{worker.process.pid}/status").read_text())[1]) / 1024
        assert worker.terminate() == 0
    cause = failed.value.cause.cause
    assert isinstance(cause, ApplicationError) and cause.type == ERROR_TOO_LARGE
    assert len(chat_server.requests) == 1, "an oversized reply must not be paid for twice"
    # Before the cap the worker read it all (1.5 GiB RSS for 300 MB); idle it uses about 70.
    assert peak_mib < 200, f"peak RSS {peak_mib:.0f} MiB"


@pytest.mark.parametrize("before", ["\ufeff", "subject=CN = J\u00fcrgen\nissuer=CN = mtls-ca\n"],
                         ids=["utf-8 byte order mark", "non-ASCII text before the block"])
async def test_pem_files_with_text_around_the_blocks_connect_over_mtls(temporal_server, mtls,
                                                                        tmp_path, before):
    """What `pulumi preview` accepts the worker accepts: the spec keeps the PEM blocks only,
    on both sides, so a BOM or `openssl x509 -text` output around them changes nothing."""
    task_queue = f"tq-{uuid.uuid4()}"
    env = mtls.worker_env()
    for setting in (spec.TLS_CERT, spec.TLS_KEY, spec.TLS_SERVER_CA):
        original = Path(env[setting.env]).read_text()
        wrapped = tmp_path / f"{setting.name}.pem"
        wrapped.write_bytes((before + original + "\u00e9t\u00e9 2026\n").encode())
        env[setting.env] = str(wrapped)
    with WorkerProcess({**env, spec.TASK_QUEUE.env: task_queue}) as worker:
        worker.wait_ready()
        assert await run_batch(temporal_server.address, task_queue) == \
            "batch b1: processed 3 of 3 items"
        assert worker.terminate() == 0
