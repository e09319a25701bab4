"""Activity unit tests with `ActivityEnvironment`; the chat activity talks to a local server."""

from __future__ import annotations

import dataclasses

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from worker.activities import (ERROR_AUTH, ERROR_NOT_CONFIGURED, ERROR_REQUEST,
                               ERROR_TOO_LARGE, MAX_REPLY_BYTES, NON_RETRYABLE_CHAT_ERRORS,
                               BatchRequest, ChatActivities, ChatRequest, process_batch)

KEY = "sk-unit-test-key"


def _chat(chat_server, key: str | None = KEY) -> ChatActivities:
    return ChatActivities(chat_server.base_url, key, "test-model")


async def test_chat_sends_bearer_key_and_returns_model_message(chat_server):
    chat_server.reply = "42"
    answer = await ActivityEnvironment().run(
        _chat(chat_server).chat_completion,
        ChatRequest(prompt="The answer?", system="Be brief."))
    assert answer == "42"
    [request] = chat_server.requests
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["body"] == {"model": "test-model", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "The answer?"}]}


@pytest.mark.parametrize("status, error_type, retryable", [
    (401, ERROR_AUTH, False), (403, ERROR_AUTH, False), (400, ERROR_REQUEST, False),
    (429, "ChatUnavailable", True), (503, "ChatUnavailable", True)])
async def test_chat_errors_are_retryable_only_when_a_retry_can_help(chat_server, status,
                                                                     error_type, retryable):
    chat_server.status = status
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(_chat(chat_server).chat_completion,
                                        ChatRequest(prompt="hi"))
    assert raised.value.type == error_type
    assert raised.value.non_retryable is not retryable
    assert KEY not in str(raised.value)


async def test_chat_without_key_fails_without_calling_the_api(chat_server):
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(_chat(chat_server, key=None).chat_completion,
                                        ChatRequest(prompt="hi"))
    assert (raised.value.type, raised.value.non_retryable) == (ERROR_NOT_CONFIGURED, True)
    assert chat_server.requests == []


def test_chat_activities_repr_hides_the_key(chat_server):
    assert KEY not in repr(_chat(chat_server))


async def test_batch_heartbeats_progress_and_resumes_from_it():
    env = ActivityEnvironment()
    beats: list[int] = []
    env.on_heartbeat = lambda *details: beats.append(details[0])
    assert await env.run(process_batch, BatchRequest(name="b", items=3)) == 3
    assert beats == [1, 2, 3]

    # A retry after a crash at item 2 starts from the last heartbeat, not from zero.
    resumed = ActivityEnvironment()
    resumed.info = dataclasses.replace(resumed.info, heartbeat_details=[2])
    beats.clear()
    resumed.on_heartbeat = lambda *details: beats.append(details[0])
    assert await resumed.run(process_batch, BatchRequest(name="b", items=5)) == 5
    assert beats == [3, 4, 5]


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "chunked"])
async def test_an_oversized_chat_reply_is_not_read_and_not_retried(chat_server, declare_length):
    chat_server.reply_bytes, chat_server.declare_length = 50 * 1024 * 1024, declare_length
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(_chat(chat_server).chat_completion,
                                        ChatRequest(prompt="hi"))
    assert (raised.value.type, raised.value.non_retryable) == (ERROR_TOO_LARGE, True)
    assert ERROR_TOO_LARGE in NON_RETRYABLE_CHAT_ERRORS
    # Reading stops at once (declared length) or just past the limit (streamed); the server
    # could still write what the kernel's socket buffers took (a few MiB on loopback), far
    # from the 50 MiB it offered.
    assert chat_server.bytes_sent < 20 * 1024 * 1024, chat_server.bytes_sent


async def test_a_reply_just_under_the_limit_is_returned(chat_server):
    chat_server.reply_bytes = MAX_REPLY_BYTES - 100
    reply = await ActivityEnvironment().run(_chat(chat_server).chat_completion,
                                            ChatRequest(prompt="hi"))
    assert len(reply) == MAX_REPLY_BYTES - 100
