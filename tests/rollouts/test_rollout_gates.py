"""Canary steps against a real dev server and two real worker builds: each ramp step has its own
pause, the gate runs after every step with the step in its input, and a failing step removes
the ramp, leaves the old build Current and fails naming the step and the routing left."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from temporalio.client import WorkflowHandle

from temporal_worker_k8s.versioning import RolloutError, WorkerRolloutProvider
from temporal_worker_spec import contract
from tests.rollouts.conftest import TwoBuilds
from tools.procs import wait_for_async
from worker.activities import SmokeTest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

STEPS = [{"percent": p, "pause_seconds": 0.5} for p in (10, 30, 60)]


async def gate_inputs(builds: TwoBuilds, count: int) -> list[dict]:
    """The inputs of the gate runs on this task queue (oldest first), once `count` are listed."""
    query = f"TaskQueue = '{builds.task_queue}' AND WorkflowType = 'SmokeTestWorkflow'"

    async def listed():
        found = [w async for w in builds.client.list_workflows(query)]
        return found if len(found) >= count else None

    runs = await wait_for_async(listed, 30, f"{count} gate runs to be listed", interval=0.5)
    inputs = []
    for run in sorted(runs, key=lambda w: w.start_time):
        handle: WorkflowHandle = builds.client.get_workflow_handle(run.id)
        async for event in handle.fetch_history_events():
            payload = event.workflow_execution_started_event_attributes.input.payloads[0]
            inputs.append(json.loads(payload.data))
            break
    return inputs


def test_the_gate_step_key_is_a_field_the_sample_gate_reads():
    assert contract.GATE_STEP_KEY in {f.name for f in dataclasses.fields(SmokeTest)}


async def test_a_gate_failing_at_step_2_of_3_leaves_the_old_build_current_without_a_ramp(
        builds: TwoBuilds) -> None:
    provider = WorkerRolloutProvider()
    v1, v2 = builds.build("v1"), builds.build("v2")
    created = await asyncio.to_thread(provider.create, builds.props("v1"))
    failing = builds.props(
        "v2", strategy="progressive", steps=STEPS, gate_workflow="SmokeTestWorkflow",
        gate_input=json.dumps({"items": 1, "fail_with": "p99 latency doubled",
                               "fail_at_step": 2}), gate_timeout_seconds=30)

    with pytest.raises(RolloutError) as raised:
        await asyncio.to_thread(provider.update, created.id, created.outs, failing)
    message = str(raised.value)
    print(f"\ngate failing at step 2: {message}")
    assert "step 'gate SmokeTestWorkflow after step 2 of 3 (30%)'" in message
    assert "SmokeTestFailed: p99 latency doubled" in message
    assert (f"the ramp was removed; routing left behind: build {v1} is Current and gets all "
            f"new workflows, build {v2} gets none") in message
    state = await builds.state()
    assert state.current_build_id == v1 and state.ramping_build_id is None
    assert state.version(v2).ramp_percentage == 0

    # The gate ran before any traffic and after steps 1 and 2, each told its step, pinned to v2.
    seen = [i[contract.GATE_STEP_KEY] for i in await gate_inputs(builds, 3)]
    assert [(s["step"], s["steps"], s["percent"]) for s in seen] == [(0, 3, 0), (1, 3, 10),
                                                                     (2, 3, 30)]
    assert {s["build_id"] for s in seen} == {v2}
    assert {s["deployment_name"] for s in seen} == {builds.deployment_name}


async def test_gates_after_every_step_pass_and_the_build_becomes_current(
        builds: TwoBuilds) -> None:
    provider = WorkerRolloutProvider()
    v1, v2 = builds.build("v1"), builds.build("v2")
    created = await asyncio.to_thread(provider.create, builds.props("v1"))
    passing = builds.props("v2", strategy="progressive", steps=STEPS,
                           gate_workflow="SmokeTestWorkflow", gate_input='{"items": 1}',
                           gate_timeout_seconds=30)
    updated = await asyncio.to_thread(provider.update, created.id, created.outs, passing)
    assert updated.outs["current_build_id"] == v2 and updated.outs["previous_build_id"] == v1
    state = await builds.state()
    assert state.current_build_id == v2 and state.ramping_build_id is None
    seen = [i[contract.GATE_STEP_KEY] for i in await gate_inputs(builds, 4)]
    assert [(s["step"], s["percent"]) for s in seen] == [(0, 0), (1, 10), (2, 30), (3, 60)]
    assert all(i["items"] == 1 for i in await gate_inputs(builds, 4)), "the user's input is kept"
