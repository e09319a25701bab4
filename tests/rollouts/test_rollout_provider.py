"""WorkerRolloutProvider against a real dev server and real worker processes of two builds:
pollers first, Current, pinned and auto-upgrade workflows across a rollout, a ramp's split,
gates, rollback, conflict tokens, drainage, and messages that never hold a credential."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from temporalio.api.enums.v1 import VersioningBehavior
from temporalio.client import WorkflowHandle

from temporal_worker_k8s.versioning import (Connection, Rollout, RolloutError, RolloutPlan,
                                            UnreachableError, WorkerRolloutProvider,
                                            build_id_of, describe, describe_blocking)
from tests.rollouts.conftest import SIGNING_KEY, TwoBuilds, image_of
from tests.support.caddy import MtlsFront
from tests.support.chat_server import ChatServer
from tests.support.tls import CertFactory
from tools.procs import free_port, wait_for_async
from worker.activities import BatchRequest, ChatRequest
from worker.workflows import BatchWorkflow, ChatWorkflow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

RAMP_PERCENT = 30
RAMP_WORKFLOWS = 200
RAMP_COUNT_SECONDS = 240
"""How long the ramp's workflows may take: about 8 s on a quiet machine, over 60 s on a 2-core
one running the whole suite beside a benchmark."""
API_KEY = "tmprl-api-key-7f3c9d0e5b1a4c2e8f6d0b9a1c3e5f70"


async def versioning(handle: WorkflowHandle):
    """The workflow's versioning info (behaviour and the version it runs on)."""
    return (await handle.describe()).raw_description.workflow_execution_info.versioning_info


async def task_builds(handle: WorkflowHandle) -> list[tuple[str, datetime]]:
    """(build ID, time) of every completed workflow task, in order: where the code ran."""
    found = []
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_task_completed_event_attributes"):
            attributes = event.workflow_task_completed_event_attributes
            found.append((attributes.deployment_version.build_id,
                          event.event_time.ToDatetime(tzinfo=timezone.utc)))
    return found


async def activity_identities(handle: WorkflowHandle) -> list[str]:
    """Identity (`pid@host`) of the worker that started each activity."""
    return [event.activity_task_started_event_attributes.identity
            async for event in handle.fetch_history_events()
            if event.HasField("activity_task_started_event_attributes")]


async def test_create_waits_for_pollers_makes_v1_current_and_records_its_image(
        builds: TwoBuilds, caplog: pytest.LogCaptureFixture) -> None:
    provider = WorkerRolloutProvider()
    v1 = builds.build("v1")

    started = time.monotonic()
    created = await asyncio.to_thread(provider.create, builds.props("v1"))
    print(f"\ncreate (v1 allAtOnce, workers already polling): {time.monotonic() - started:.2f} s")

    assert created.id == f"default/{builds.deployment_name}"
    assert created.outs["current_build_id"] == v1
    assert created.outs["previous_build_id"] is None
    state = await builds.state()
    assert state.current_build_id == v1 and state.ramping_build_id is None
    assert state.version(v1).status == "CURRENT"
    assert await builds.recorded_image("v1") == builds.images["v1"]
    assert state.manager_identity == builds.props("v1")["manager_identity"]
    assert state.version(builds.build("v2")).status == "INACTIVE"

    # Running it again changes nothing and says so.
    with caplog.at_level(logging.INFO, "temporal_worker_k8s.versioning"):
        again = await asyncio.to_thread(provider.create, builds.props("v1"))
    assert again.outs["current_build_id"] == v1
    assert "already Current" in caplog.text

    # Only build_id, image and rollback make an update, and never a replacement.
    olds = created.outs
    assert "signing_key" not in olds and SIGNING_KEY not in repr(olds)
    for change, expected in [({}, False), ({"task_queue": "elsewhere"}, False),
                             ({"strategy": "progressive",
                               "steps": [{"percent": 5, "pause_seconds": 1}]}, False),
                             ({"image": builds.images["v2"]}, True),
                             ({"build_id": builds.build("v2")}, True), ({"rollback": True}, True)]:
        diff = provider.diff(created.id, olds, builds.props("v1", **change))
        assert diff.changes is expected, change
        assert not diff.replaces, change

    # delete leaves the routing as it is, and says why.
    caplog.clear()
    with caplog.at_level(logging.WARNING, "temporal_worker_k8s.versioning"):
        await asyncio.to_thread(provider.delete, created.id, created.outs)
    assert (await builds.state()).current_build_id == v1
    assert "left as it is" in caplog.text and "unversioned workers" in caplog.text
    assert "manager-identity unset" in caplog.text


async def test_create_without_polling_workers_fails_naming_the_build(builds: TwoBuilds) -> None:
    image = image_of(f"nobody-runs-{uuid.uuid4()}")
    props = builds.props("v1", image=image, build_id=build_id_of(image),
                         poller_timeout_seconds=3)
    started = time.monotonic()
    with pytest.raises(RolloutError) as raised:
        await asyncio.to_thread(WorkerRolloutProvider().create, props)
    elapsed = time.monotonic() - started
    print(f"\nno pollers: failed after {elapsed:.2f} s (poller timeout 3 s)")
    message = str(raised.value)
    assert (f"no worker of build {props['build_id']} polled task queue {builds.task_queue}"
            in message)
    assert "within 3 s: check its pods" in message and builds.deployment_name in message
    assert 3 <= elapsed < 10
    assert (await builds.state()).current_build_id is None


async def test_pinned_stays_on_v1_auto_upgrade_moves_to_v2_and_v1_drains(
        builds: TwoBuilds, slow_chat: ChatServer) -> None:
    provider = WorkerRolloutProvider()
    v1, v2 = builds.build("v1"), builds.build("v2")
    created = await asyncio.to_thread(provider.create, builds.props("v1"))

    # A batch (PINNED) and a chat whose model answers slowly (AUTO_UPGRADE), both on v1.
    slow_chat.delay_seconds = 6
    batch = await builds.client.start_workflow(
        BatchWorkflow.run, BatchRequest(name="pinned", items=6, seconds_per_item=1.0),
        id=f"batch-{uuid.uuid4()}", task_queue=builds.task_queue,
        execution_timeout=timedelta(seconds=90))
    chat = await builds.client.start_workflow(
        ChatWorkflow.run, ChatRequest(prompt="slow"), id=f"chat-{uuid.uuid4()}",
        task_queue=builds.task_queue, execution_timeout=timedelta(seconds=90))
    requests_before = len(slow_chat.requests)

    async def both_running_on_v1() -> bool:
        infos = [await versioning(batch), await versioning(chat)]
        return (all(i.deployment_version.build_id == v1 for i in infos)
                and len(slow_chat.requests) > requests_before)

    await wait_for_async(both_running_on_v1, 30, "the batch and the chat to run on v1",
                         interval=0.25)
    slow_chat.delay_seconds = 0  # the chat already waiting keeps its 6 s

    started = time.monotonic()
    updated = await asyncio.to_thread(provider.update, created.id, created.outs,
                                      builds.props("v2"))
    print(f"\nupdate to v2 (allAtOnce): {time.monotonic() - started:.2f} s")
    assert updated.outs["current_build_id"] == v2
    assert updated.outs["previous_build_id"] == v1
    state = await builds.state()
    v2_current_since = datetime.now(timezone.utc)
    assert state.current_build_id == v2
    assert state.version(v1).status == "DRAINING", state  # the batch is still open on v1
    assert state.version(v1).drained_since is None

    # New workflows start on v2.
    fresh = await builds.client.start_workflow(
        ChatWorkflow.run, ChatRequest(prompt="new"), id=f"chat-{uuid.uuid4()}",
        task_queue=builds.task_queue, execution_timeout=timedelta(seconds=60))
    await fresh.result()
    assert {build for build, _ in await task_builds(fresh)} == {v2}

    # The pinned batch finished on v1, after v2 became Current, on the v1 process.
    assert await batch.result() == "batch pinned: processed 6 of 6 items"
    info = await versioning(batch)
    assert info.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_PINNED
    assert info.deployment_version.build_id == v1
    tasks = await task_builds(batch)
    assert {build for build, _ in tasks} == {v1}, tasks
    assert tasks[-1][1] > v2_current_since - timedelta(seconds=1), tasks
    pid_v1 = builds.workers["v1"].process.pid
    assert all(i.startswith(f"{pid_v1}@") for i in await activity_identities(batch))
    batch_closed = (await batch.describe()).close_time

    # The auto-upgrade chat started on v1 and finished on v2.
    assert await chat.result() == slow_chat.reply
    info = await versioning(chat)
    assert info.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
    assert info.deployment_version.build_id == v2
    tasks = await task_builds(chat)
    assert tasks[0][0] == v1 and tasks[-1][0] == v2, tasks

    # With its last pinned workflow closed, v1 drains.
    async def drained():
        version = (await builds.state()).version(v1)
        return version if version.status == "DRAINED" else None

    version = await wait_for_async(drained, 45, "v1 to be reported DRAINED", interval=1)
    seen = datetime.now(timezone.utc)
    assert version.drained_since is not None and version.drained_since >= batch_closed
    print(f"v1 DRAINED at {(version.drained_since - batch_closed).total_seconds():.2f} s after "
          f"its last pinned workflow closed, seen by describe after "
          f"{(seen - batch_closed).total_seconds():.2f} s (grace period 2 s, refresh 1 s)")


@pytest.mark.timeout(420)
async def test_progressive_ramp_splits_new_workflows_then_promotes(
        builds: TwoBuilds, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    provider = WorkerRolloutProvider()
    v1, v2 = builds.build("v1"), builds.build("v2")
    created = await asyncio.to_thread(provider.create, builds.props("v1"))
    # The 200 workflows take about 8 s on a quiet machine and several times that on a busy
    # one: the step's pause starts only once the test has counted them, so the count never
    # mixes two routings whatever the load. The pause itself then runs as written.
    counted = threading.Event()
    request.addfinalizer(counted.set)  # a failed count must not leave the rollout waiting
    real_pause = Rollout.pause

    async def pause_after_the_count(self, step, label):
        await asyncio.to_thread(counted.wait, RAMP_COUNT_SECONDS + 30)
        await real_pause(self, step, label)

    monkeypatch.setattr(Rollout, "pause", pause_after_the_count)
    pause = 2
    update = asyncio.create_task(asyncio.to_thread(
        provider.update, created.id, created.outs,
        builds.props("v2", strategy="progressive",
                     steps=[{"percent": RAMP_PERCENT, "pause_seconds": pause}])))

    async def ramping():
        state = await builds.state()
        return state if state.ramping_build_id == v2 else None

    state = await wait_for_async(ramping, 30, f"v2 to ramp at {RAMP_PERCENT}%", interval=1)
    ramp_started = time.monotonic()
    assert state.current_build_id == v1
    assert state.version(v2).status == "RAMPING"
    assert state.version(v2).ramp_percentage == RAMP_PERCENT

    # Quick pinned workflows with fresh IDs: each lands on one build when its first task runs.
    handles = await asyncio.gather(*(builds.client.start_workflow(
        BatchWorkflow.run, BatchRequest(name=f"ramp-{i}", items=0),
        id=f"ramp-{uuid.uuid4()}", task_queue=builds.task_queue,
        execution_timeout=timedelta(seconds=RAMP_COUNT_SECONDS)) for i in range(RAMP_WORKFLOWS)))
    await asyncio.gather(*(h.result() for h in handles))
    landed = [(await versioning(h)).deployment_version.build_id for h in handles]
    took = time.monotonic() - ramp_started
    # All of them ran while the ramp held (else the count would mix two routings).
    assert (await builds.state()).ramping_build_id == v2, "the ramp ended before the count"
    counted.set()
    on_v2 = landed.count(v2)
    assert landed.count(v1) + on_v2 == RAMP_WORKFLOWS
    # Binomial(n=200, p=0.3): mean 60, sigma sqrt(200*0.3*0.7) = 6.5; 3 sigma is [41, 79],
    # which a fair split misses about 0.3% of the time.
    mean = RAMP_WORKFLOWS * RAMP_PERCENT / 100
    sigma = math.sqrt(RAMP_WORKFLOWS * RAMP_PERCENT / 100 * (1 - RAMP_PERCENT / 100))
    print(f"\nramp {RAMP_PERCENT}%: {on_v2} of {RAMP_WORKFLOWS} new workflows on v2 "
          f"({100 * on_v2 / RAMP_WORKFLOWS:.1f}%; expected {mean:.0f} +- {3 * sigma:.1f}), "
          f"run in {took:.1f} s")
    assert abs(on_v2 - mean) <= 3 * sigma

    updated = await asyncio.wait_for(update, pause + 60)
    assert updated.outs["current_build_id"] == v2 and updated.outs["previous_build_id"] == v1
    state = await builds.state()
    assert state.current_build_id == v2 and state.ramping_build_id is None
    assert state.version(v2).ramp_percentage == 0
    after = await builds.client.execute_workflow(
        BatchWorkflow.run, BatchRequest(name="after", items=0), id=f"after-{uuid.uuid4()}",
        task_queue=builds.task_queue, execution_timeout=timedelta(seconds=60))
    assert after == "batch after: processed 0 of 0 items"


async def test_failing_gate_stops_the_rollout_and_rollback_skips_the_gate(
        builds: TwoBuilds, caplog: pytest.LogCaptureFixture) -> None:
    provider = WorkerRolloutProvider()
    v1, v2 = builds.build("v1"), builds.build("v2")
    created = await asyncio.to_thread(provider.create, builds.props("v1"))
    failing = builds.props("v2", gate_workflow="SmokeTestWorkflow",
                           gate_input='{"items": 2, "fail_with": "checkout is broken"}')

    with pytest.raises(RolloutError) as raised:
        await asyncio.to_thread(provider.update, created.id, created.outs, failing)
    message = str(raised.value)
    print(f"\nfailing gate: {message}")
    assert "SmokeTestFailed: checkout is broken" in message
    assert f"build {v2}" in message and builds.deployment_name in message
    assert "step 'gate SmokeTestWorkflow before any traffic'" in message
    assert f"build {v1} stays Current" in message
    state = await builds.state()
    assert state.current_build_id == v1 and state.ramping_build_id is None
    assert state.version(v2).ramp_percentage == 0
    assert await builds.recorded_image("v2") == builds.images["v2"]  # recorded before the gate
    # The gate ran pinned on v2, so the server counts v2 as having been used: DRAINING while
    # the gate is visible as open, then DRAINED; it never was Current or Ramping.
    assert state.version(v2).status in ("DRAINING", "DRAINED")

    async def gate_build_drained() -> bool:
        return (await builds.state()).version(v2).status == "DRAINED"

    await wait_for_async(gate_build_drained, 30, "the gated build to drain", interval=1)
    assert (await builds.state()).current_build_id == v1
    gate_id = re.search(r"workflow id (\S+)\)", message)[1]
    gate = builds.client.get_workflow_handle(gate_id)
    assert {build for build, _ in await task_builds(gate)} == {v2}
    assert (await versioning(gate)).versioning_override.pinned.version.build_id == v2

    # A gate that outlives gate_timeout_seconds stops the rollout too.
    slow = builds.props("v2", gate_workflow="BatchWorkflow", gate_timeout_seconds=2,
                        gate_input='{"name": "slow-gate", "items": 30, "seconds_per_item": 1}')
    started = time.monotonic()
    with pytest.raises(RolloutError, match=r"did not finish within gate_timeout_seconds \(2 s\)"):
        await asyncio.to_thread(provider.update, created.id, created.outs, slow)
    print(f"slow gate stopped after {time.monotonic() - started:.2f} s (gate timeout 2 s)")
    assert (await builds.state()).current_build_id == v1

    passing = builds.props("v2", gate_workflow="SmokeTestWorkflow", gate_input='{"items": 2}')
    updated = await asyncio.to_thread(provider.update, created.id, created.outs, passing)
    assert updated.outs["current_build_id"] == v2
    assert (await builds.state()).current_build_id == v2

    # Rollback: straight to Current, the (failing) gate is not run.
    caplog.clear()
    rollback = builds.props("v1", gate_workflow="SmokeTestWorkflow", rollback=True,
                            gate_input='{"fail_with": "would fail"}')
    with caplog.at_level(logging.INFO, "temporal_worker_k8s.versioning"):
        rolled = await asyncio.to_thread(provider.update, created.id, updated.outs, rollback)
    assert rolled.outs["current_build_id"] == v1 and rolled.outs["previous_build_id"] == v2
    assert (await builds.state()).current_build_id == v1
    assert "gate" not in caplog.text
    gates = await builds.client.count_workflows(
        f"TaskQueue = '{builds.task_queue}' AND WorkflowType = 'SmokeTestWorkflow'")
    assert gates.count == 2


async def test_a_stale_conflict_token_is_retried_once_then_reported(
        builds: TwoBuilds, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    provider = WorkerRolloutProvider()
    v2 = builds.build("v2")
    created = await asyncio.to_thread(provider.create, builds.props("v1"))
    original = Rollout.latest
    stale: dict[str, Any] = {"answer": None, "times": 0}

    async def latest(self: Rollout, step: str):
        if step == "set current" and stale["times"]:
            stale["times"] -= 1
            return stale["answer"]
        return await original(self, step)

    monkeypatch.setattr(Rollout, "latest", latest)

    async def stale_answer(label: str):
        """A describe answer made stale by a real routing change (a 10% ramp of `label`)."""
        rollout = Rollout(RolloutPlan.from_props(builds.props(label)), builds.client)
        answer = await original(rollout, "test")
        await rollout.ramp(10)
        return answer

    # Stale once: the server says conflict, the provider describes again and succeeds.
    stale.update(answer=await stale_answer("v2"), times=1)
    with caplog.at_level(logging.WARNING, "temporal_worker_k8s.versioning"):
        updated = await asyncio.to_thread(provider.update, created.id, created.outs,
                                          builds.props("v2"))
    assert updated.outs["current_build_id"] == v2
    assert "conflict token mismatch" in caplog.text and stale["times"] == 0

    # Stale every time: one retry, then a clear failure, and the routing is left alone.
    stale.update(answer=await stale_answer("v1"), times=1000)
    with pytest.raises(RolloutError) as raised:
        await asyncio.to_thread(provider.update, created.id, updated.outs,
                                builds.props("v1", rollback=True))
    message = str(raised.value)
    print(f"\nconflict twice: {message}")
    assert "conflict token mismatch" in message and "twice" in message
    assert "step 'set current'" in message and builds.deployment_name in message
    assert (await builds.state()).current_build_id == v2


async def test_credentials_go_over_mtls_and_no_message_contains_them(
        builds: TwoBuilds, tmp_path) -> None:
    factory = CertFactory(tmp_path)
    ca = factory.ca("rollout-ca")
    server = factory.issue(ca, "rollout-front", server=True)
    client = factory.issue(ca, "rollout-client")
    key_text = client.key_path.read_text()
    key_lines = [line for line in key_text.splitlines() if "-----" not in line]
    messages: list[str] = []
    with MtlsFront(builds.server.port, server.cert_path, server.key_path, ca.cert_path) as front:
        connection = {"address": front.address, "namespace": "default", "tls": True,
                      "api_key": API_KEY, "client_cert": client.cert_path.read_text(),
                      "client_key": key_text, "server_ca": ca.cert_path.read_text(),
                      "server_name": "localhost"}
        provider = WorkerRolloutProvider()
        created = await asyncio.to_thread(provider.create, builds.props("v1", **connection))
        assert (await describe(Connection(**connection), builds.deployment_name)
                ).current_build_id == builds.build("v1")
        assert not {"api_key", "client_cert", "client_key"} & set(created.outs)
        assert API_KEY not in repr(created.outs) and key_lines[1] not in repr(created.outs)
        assert API_KEY not in repr(Connection(**connection))

        with pytest.raises(RolloutError) as raised:
            await asyncio.to_thread(provider.update, created.id, created.outs, builds.props(
                "v2", **connection, gate_workflow="SmokeTestWorkflow",
                gate_input='{"fail_with": "broken"}'))
        messages.append(str(raised.value))

        other_ca = factory.ca("other-ca")
        wrong_ca = {**connection, "server_ca": other_ca.cert_path.read_text()}
        with pytest.raises(UnreachableError) as raised:
            await asyncio.to_thread(provider.update, created.id, created.outs,
                                    builds.props("v2", **wrong_ca))
        messages.append(str(raised.value))
        assert front.address in messages[-1] and "namespace default" in messages[-1]

    closed = {**connection, "address": f"127.0.0.1:{free_port()}"}
    with pytest.raises(UnreachableError) as raised:
        describe_blocking(Connection(**closed), builds.deployment_name, timeout=20)
    messages.append(str(raised.value))
    assert closed["address"] in messages[-1] and "namespace default" in messages[-1]

    print("\n" + "\n".join(messages))
    for message in messages:
        assert API_KEY not in message
        assert not any(line in message for line in key_lines)
        assert "PRIVATE KEY" not in message


async def test_describe_blocking_works_inside_the_running_loop(builds: TwoBuilds) -> None:
    asyncio.get_running_loop()  # as in a Pulumi program
    missing = describe_blocking(builds.connection, f"{builds.deployment_name}-never-polled")
    assert missing.versions == () and missing.current_build_id is None
    polled = describe_blocking(builds.connection, builds.deployment_name)
    assert {(v.status, v.record) for v in polled.versions} == {("INACTIVE", None)}
    await asyncio.to_thread(WorkerRolloutProvider().create, builds.props("v1"))
    state = describe_blocking(builds.connection, builds.deployment_name)
    assert state.current_build_id == builds.build("v1")
    assert {v.build_id for v in state.versions} == {builds.build("v1"), builds.build("v2")}
    assert state == await describe(builds.connection, builds.deployment_name)

    # A port that accepts connections and never answers: bounded by `timeout`.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(UnreachableError) as raised:
            describe_blocking(Connection(address, "default"), builds.deployment_name, timeout=2)
        elapsed = time.monotonic() - started
    print(f"\nsilent server: {raised.value} (after {elapsed:.2f} s)")
    assert f"{address} (namespace default): no answer within 2 s" in str(raised.value)
    assert elapsed < 5
