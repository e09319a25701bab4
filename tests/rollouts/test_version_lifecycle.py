"""Version upkeep against a real dev server and real worker builds: a sunset build's version is
deleted from Temporal once its pods have stopped, never while pinned workflows are open, with
backoff while the server still lists its pollers; without room in time it fails clearly."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest

from temporal_worker_k8s.versioning import (RolloutError, WorkerRolloutProvider,
                                            WorkerVersionsProvider)
from tests.rollouts.conftest import TwoBuilds
from tools.procs import wait_for_async
from worker.activities import BatchRequest
from worker.workflows import BatchWorkflow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


async def versions(builds: TwoBuilds) -> set[str]:
    return {v.build_id for v in (await builds.state()).versions}


async def test_a_sunset_version_goes_only_once_drained_and_its_pods_have_stopped(
        builds: TwoBuilds) -> None:
    rollout, upkeep = WorkerRolloutProvider(), WorkerVersionsProvider()
    v1, v2 = builds.build("v1"), builds.build("v2")
    created = await asyncio.to_thread(rollout.create, builds.props("v1"))
    batch = await builds.client.start_workflow(
        BatchWorkflow.run, BatchRequest(name="pinned", items=40, seconds_per_item=0.5),
        id=f"pinned-{uuid.uuid4()}", task_queue=builds.task_queue,
        execution_timeout=timedelta(seconds=90))
    await asyncio.to_thread(rollout.update, created.id, created.outs, builds.props("v2"))
    props = builds.upkeep_props(delete_build_ids=[v1])

    async def draining() -> bool:
        return (await builds.state()).version(v1).status == "DRAINING"

    # The server shows DRAINING a grace period after the switch (2 s here); the batch (20 s)
    # keeps it there whatever the machine's load.
    await wait_for_async(draining, 15, "v1 to show as draining", interval=0.25)
    # A pinned workflow is still open on v1: the server keeps it (drainage is never skipped).
    kept = await asyncio.to_thread(upkeep.create, props)
    assert kept.outs["deleted_build_ids"] == [] and kept.outs["pending_build_ids"] == []
    assert v1 in await versions(builds)
    assert await batch.result() == "batch pinned: processed 40 of 40 items"

    async def drained() -> bool:
        return (await builds.state()).version(v1).status == "DRAINED"

    await wait_for_async(drained, 30, "v1 to drain", interval=0.5)
    # Drained, but its worker still polls: pending, for a later update.
    pending = await asyncio.to_thread(upkeep.update, kept.id, kept.outs, props)
    assert pending.outs["pending_build_ids"] == [v1] and pending.outs["deleted_build_ids"] == []
    assert upkeep.diff(kept.id, pending.outs, builds.upkeep_props()).changes, \
        "a pending deletion makes the next update run again"

    # Its pods stop (the Deployment went); the next update needs its room and waits for it.
    stopped = time.monotonic()
    builds.workers["v1"].close()
    deleted = await asyncio.to_thread(upkeep.update, kept.id, pending.outs,
                                      builds.upkeep_props(delete_build_ids=[v1], room_needed=1))
    took = time.monotonic() - stopped
    print(f"\nv1 deleted {took:.1f} s after its worker stopped (server poller TTL 3 s)")
    assert deleted.outs["deleted_build_ids"] == [v1] and deleted.outs["pending_build_ids"] == []
    assert await versions(builds) == {v2}
    assert took < 20
    # Deleting it again (a retried update) is not an error.
    again = await asyncio.to_thread(upkeep.update, kept.id, deleted.outs, props)
    assert again.outs["deleted_build_ids"] == [v1]
    # Nothing to do: no update at all.
    assert not upkeep.diff(kept.id, again.outs, builds.upkeep_props()).changes


async def test_without_room_in_time_the_upkeep_fails_naming_the_builds_still_polled(
        builds: TwoBuilds) -> None:
    rollout, upkeep = WorkerRolloutProvider(), WorkerVersionsProvider()
    v1 = builds.build("v1")
    created = await asyncio.to_thread(rollout.create, builds.props("v1"))
    await asyncio.to_thread(rollout.update, created.id, created.outs, builds.props("v2"))

    async def drained() -> bool:
        return (await builds.state()).version(v1).status == "DRAINED"

    await wait_for_async(drained, 30, "v1 to drain", interval=0.5)
    started = time.monotonic()
    with pytest.raises(RolloutError) as raised:
        await asyncio.to_thread(upkeep.create, builds.upkeep_props(
            delete_build_ids=[v1], room_needed=1, wait_seconds=3))
    message = str(raised.value)
    print(f"\nno room: {message}")
    assert f"still listed with pollers after 3 s: {v1}" in message
    assert "needs 1 version(s) deleted before its workers can register" in message
    assert time.monotonic() - started < 15
    assert v1 in await versions(builds)
