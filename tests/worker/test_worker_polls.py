"""Readiness means "the server takes our polls": a worker whose every poll is rejected is not
ready and says why, once; the poll monitor's logic on the SDK's counters."""

from __future__ import annotations

import json
import logging
import time
import uuid

import pytest

import temporal_worker_spec.settings as spec
from tools.devserver import DevServer
from tools.procs import wait_for
from tools.worker_process import WorkerProcess, queue_env
from worker import polls

METRICS = """\
# TYPE temporal_long_request counter
temporal_long_request{{namespace="default",operation="PollWorkflowTaskQueue",task_queue="q"}} {wf}
temporal_long_request{{namespace="default",operation="PollActivityTaskQueue",task_queue="q"}} {act}
temporal_long_request{{namespace="other",operation="PollWorkflowTaskQueue",task_queue="q"}} 99
temporal_long_request{{namespace="default",operation="RespondWorkflowTaskCompleted"}} 50
temporal_long_request_failure{{namespace="default",operation="PollWorkflowTaskQueue",status_code="UNAVAILABLE",task_queue="q"}} {failed}
"""


@pytest.mark.slow
def test_a_worker_whose_polls_are_all_rejected_is_not_ready_and_says_why_once(
        temporal_server):
    # The server refuses task queue names with its reserved prefix; the worker's own checks
    # cannot know every rule of every server, so only the poll results tell.
    task_queue = f"/_sys/orders-{uuid.uuid4().hex[:8]}"
    env = queue_env(temporal_server.address, task_queue)
    with WorkerProcess(env) as worker:
        wait_for(lambda: "worker starting" in worker.output(), 30, "the worker to start")
        deadline = time.monotonic() + 8  # several readiness checks (one every 2 s)
        while time.monotonic() < deadline:
            assert worker.readiness_status() == 503
            assert worker.live()
            time.sleep(0.5)
        assert worker.terminate() == 0
    events = [json.loads(line) for line in worker.output().splitlines()]
    failing = [e["message"] for e in events if "are failing" in e["message"]]
    assert failing == [f"polls of task queue {task_queue!r} in namespace 'default' are failing: "
                       f"INVALID_ARGUMENT: invalid task queue partition name {task_queue}; the "
                       "worker is not ready"], failing
    assert not [e for e in events if "worker is ready" in e["message"]]


class FakeClient:
    identity = "me@host"
    namespace = "default"


def monitor(texts: list[str]) -> polls.PollMonitor:
    async def fetch(url: str) -> str:
        return texts.pop(0)

    result = polls.PollMonitor(FakeClient(), "default", "q", "http://metrics", fetch=fetch)
    result._seen_by_server = True  # what DescribeTaskQueue said at start
    return result


def test_poll_counters_add_up_this_namespaces_polls_only():
    requests, failures = polls.poll_counters(METRICS.format(wf=4, act=5, failed=2), "default")
    assert (requests, failures) == (9.0, {"UNAVAILABLE": 2.0})


async def test_new_failures_make_the_worker_unready_until_a_poll_gets_through(caplog):
    caplog.set_level(logging.INFO, logger="worker.polls")
    watched = monitor([METRICS.format(wf=5, act=5, failed=0),
                       METRICS.format(wf=8, act=5, failed=3),
                       METRICS.format(wf=11, act=5, failed=6),
                       METRICS.format(wf=14, act=6, failed=6)])
    watched._describe_denied = True  # no server words for the cause: the status code stands
    await watched.check()
    assert watched.status() == (True, "polls accepted")
    await watched.check()
    await watched.check()
    assert watched.status() == (False, "polls are failing: UNAVAILABLE")
    await watched.check()  # more polls, no more failures
    assert watched.status()[0]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("are failing" in m for m in messages) == 1, messages
    assert sum("succeeding again" in m for m in messages) == 1, messages


async def test_a_failure_with_no_success_after_it_is_forgotten_after_a_while(monkeypatch):
    watched = monitor([METRICS.format(wf=3, act=0, failed=3)])
    watched._describe_denied = True
    await watched.check()
    assert not watched.status()[0]
    later = time.monotonic() + polls.FAILURE_MEMORY_SECONDS + 1
    monkeypatch.setattr(polls.time, "monotonic", lambda: later)
    assert watched.status()[0]


@pytest.mark.slow
def test_a_versioned_worker_the_server_cannot_register_never_becomes_ready():
    # At the Worker Deployment's version cap the server lists the new build's poller on the
    # task queue, yet refuses to register its version: the worker polls in vain and must not
    # report ready (an update would move on as if the build were up).
    deployment, task_queue = f"capped-{uuid.uuid4().hex[:8]}", f"tq-{uuid.uuid4()}"
    with DevServer(dynamic_config={"matching.maxVersionsInDeployment": 1}) as server:
        def versioned(build: str) -> WorkerProcess:
            return WorkerProcess(queue_env(server.address, task_queue, **{
                spec.DEPLOYMENT_NAME.env: deployment, spec.BUILD_ID.env: build}))

        with versioned("first") as first:
            first.wait_ready(30)
            with versioned("second") as second:
                wait_for(lambda: "worker starting" in second.output(), 30,
                         "the second build's worker to start")
                deadline = time.monotonic() + 10  # past the settle, several checks after it
                while time.monotonic() < deadline:
                    assert second.readiness_status() == 503, second.output()[-2000:]
                    time.sleep(0.25)
                assert second.terminate() == 0
            assert first.ready(), "the registered build stays ready"
