"""The real worker process against hostile input: a chat API answering with a gzip bomb, and a
setting far too long to repeat in an error."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import temporal_worker_spec.settings as spec
from tests.support.chat_server import GZIP_BOMB_EXPANDED, gzip_bomb
from tools.worker_process import REPO, WorkerProcess, clean_env, free_ports_env, queue_env
from worker.activities import (ERROR_BAD_RESPONSE, ERROR_TOO_LARGE, ChatActivities,
                               ChatRequest)
from worker.workflows import ChatWorkflow

CONCURRENT_CALLS = 10
# Each call may hold its 1 MiB cap plus zlib's and httpx's buffers; the ten together stay far
# below one call's 192 MiB before the decoding was bounded.
MAX_GROWTH_MIB = 64


def _peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM) so far, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) / 1024


async def test_a_gzip_reply_is_decoded(chat_server):
    chat_server.reply, chat_server.gzip = "compressed hello", True
    answer = await ActivityEnvironment().run(
        ChatActivities(chat_server.base_url, "sk-test", "m").chat_completion,
        ChatRequest(prompt="hi"))
    assert answer == "compressed hello"
    assert "gzip" in chat_server.requests[0]["headers"]["Accept-Encoding"]


async def test_an_encoding_that_was_not_asked_for_is_refused(chat_server):
    chat_server.reply, chat_server.content_encoding = "x", "br"
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(
            ChatActivities(chat_server.base_url, "sk-test", "m").chat_completion,
            ChatRequest(prompt="hi"))
    assert raised.value.type == ERROR_BAD_RESPONSE and raised.value.non_retryable


@pytest.mark.slow
async def test_ten_gzip_bombs_at_once_fail_without_filling_the_workers_memory(
        temporal_server, chat_server):
    """Ten concurrent chat calls each get 1 MB of gzip that expands to 1 GiB. Each must fail
    as too large, once, and the worker's peak RSS (VmHWM) must barely move."""
    bomb = gzip_bomb()
    assert len(bomb) < 2 * 1024 * 1024 and GZIP_BOMB_EXPANDED == 1 << 30
    chat_server.gzip_bomb = True
    task_queue = f"tq-{uuid.uuid4()}"
    env = queue_env(temporal_server.address, task_queue,
                    **{spec.CHATGPT_BASE_URL.env: chat_server.base_url,
                       spec.CHATGPT_API_KEY.env: "sk-test-bomb"})
    with WorkerProcess(env) as worker:
        worker.wait_ready()
        before = _peak_rss_mib(worker.process.pid)
        client = await Client.connect(temporal_server.address)
        runs = [client.execute_workflow(
            ChatWorkflow.run, ChatRequest(prompt="everything"), id=f"bomb-{uuid.uuid4()}",
            task_queue=task_queue, execution_timeout=timedelta(seconds=90))
            for _ in range(CONCURRENT_CALLS)]
        outcomes = await asyncio.gather(*runs, return_exceptions=True)
        peak = _peak_rss_mib(worker.process.pid)
        assert worker.terminate() == 0
    for outcome in outcomes:
        assert isinstance(outcome, WorkflowFailureError), outcome
        cause = outcome.cause.cause
        assert isinstance(cause, ApplicationError) and cause.type == ERROR_TOO_LARGE, cause
    assert len(chat_server.requests) == CONCURRENT_CALLS, "a bomb must not be asked for twice"
    numbers = f"peak RSS {before:.0f} MiB when ready, {peak:.0f} MiB after {CONCURRENT_CALLS} bombs"
    print(numbers)
    assert peak - before < MAX_GROWTH_MIB, numbers


def test_a_huge_setting_is_not_repeated_in_the_workers_error():
    """Linux caps one environment string at 128 KiB; 120 KB of it must not come back."""
    huge = "x" * 120_000 + " y"
    result = subprocess.run([sys.executable, "-m", "worker"], cwd=REPO, capture_output=True,
                            text=True, timeout=60,
                            env=clean_env(**{**free_ports_env(), spec.TEMPORAL_ADDRESS.env: huge,
                                             spec.TASK_QUEUE.env: "tq"}))
    assert result.returncode == 2, result.stderr[:500]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"configuration error: {spec.TEMPORAL_ADDRESS.env}: "), line[:500]
    assert len(line) < 300, f"{len(line)} characters: {line[:500]}"
