"""A year of deploys, compressed: many `pulumi up`s of a versioned stack against a real dev server
whose Worker Deployments hold at most 4 versions (`matching.maxVersionsInDeployment=4`).

`Stack.up` plays one update the way the engine runs the real program: the program's decisions
(temporal_worker_k8s.rollouts, from a live describe), WorkerVersions before the new build's pods,
the pods (real worker processes) as the Deployments say, with the update waiting for the new
ones to be ready as pulumi-kubernetes waits for a Deployment, WorkerRollout after them, and at
the end the Deployments left out deleted and empty ones scaled to zero (SIGTERM, then exit).
"""

from __future__ import annotations

import asyncio
import datetime
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

import temporal_worker_spec.settings as spec
from temporal_worker_k8s import rollouts
from temporal_worker_k8s.versioning import (Connection, KeyRing, WorkerRolloutProvider,
                                            WorkerVersionsProvider, build_id_of, describe)
from tests.rollouts.conftest import CHAT_KEY, IDENTITY, SIGNING_KEY
from tests.support.chat_server import ChatServer
from tools.devserver import FAST_VERSION_CLEANUP, DevServer
from tools.record_worker_deployment import image_of
from tools.worker_process import WorkerProcess
from worker.activities import BatchRequest, ChatRequest
from worker.workflows import BatchWorkflow, ChatWorkflow

# Each test has a capped server of its own, so the two long tests can run in parallel.
pytestmark = [pytest.mark.slow]

CAP = 4
ROLLOUTS = 20
READY_SECONDS = 30.0
"""How long an update waits for the new build's pods to be ready (pulumi-kubernetes waits up to
10 minutes; here a registration the server refuses shows within seconds, and a worker on a
busy 2-core machine is ready well within this)."""
RUNNING_WITHIN = 2.5
"""A worker that polled this recently still runs (the server ends idle long polls after 1 s
here, 60 s by default)."""
BETWEEN_UPDATES = 3.0
"""The hours between two deploys, compressed: longer than the server's poller TTL (3 s here,
5 minutes by default), so the pods an update stopped are forgotten by the next one."""
STEPS = [{"percent": 50, "pause_seconds": 0.5}]
"""progressive: one ramp step, so the gate runs before any traffic and after the step."""


@pytest.fixture
def capped_server() -> Iterator[DevServer]:
    with DevServer(dynamic_config={**FAST_VERSION_CLEANUP,
                                   "matching.maxVersionsInDeployment": CAP}) as server:
        yield server


class Held(Exception):
    """The program held the new build back for an update (rollouts.Wait): room comes only
    from builds whose pods this update stops."""


class Wedged(Exception):
    """The new build's pods never became ready: the update would stall on its Deployment."""

    def __init__(self, worker: WorkerProcess) -> None:
        super().__init__("the new build's worker never became ready")
        self.worker = worker


@dataclass
class Stack:
    """One versioned stack: its Worker Deployment, the pods it runs, its resources' state."""

    server: DevServer
    client: Client
    chat_url: str
    upkeep: bool = True
    """False plays a stack without version upkeep (1.2): nothing ever deletes a version."""
    scaledown_after: int = 0
    delete_after: int = 0
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    workers: dict[str, WorkerProcess] = field(default_factory=dict)
    rollout_outs: dict | None = None
    upkeep_outs: dict | None = None
    deleted: set[str] = field(default_factory=set)
    """Versions our upkeep deleted (anything else that vanishes was the server's reclaim)."""
    held: int = 0
    """Updates that held the new build back to make room."""

    @property
    def deployment_name(self) -> str:
        return f"year-{self.suffix}"

    @property
    def task_queue(self) -> str:
        return f"year-{self.suffix}"

    @property
    def connection(self) -> Connection:
        return Connection(self.server.address, "default")

    def base(self) -> dict[str, Any]:
        return {"address": self.server.address, "namespace": "default", "tls": False,
                "deployment_name": self.deployment_name, "signing_key": SIGNING_KEY,
                "manager_identity": IDENTITY, "take_over": False}

    async def up(self, number: int, strategy: str) -> float:
        """One `pulumi up` rolling out build `number`; its wall time in seconds."""
        started = time.monotonic()
        marks = [started]
        image = image_of(f"year-{self.suffix}-{number}")
        build = build_id_of(image)
        state = await describe(self.connection, self.deployment_name, self.task_queue)
        decided = rollouts.plan(
            state.versions, build, deployment_name=self.deployment_name,
            keys=KeyRing(SIGNING_KEY), now=datetime.datetime.now(datetime.timezone.utc),
            scaledown_after=self.scaledown_after, delete_after=self.delete_after,
            running_within=RUNNING_WITHIN)
        assert not decided.problems, decided.problems
        if self.upkeep:
            try:
                room = rollouts.room_needed(state.versions, build, decided, CAP)
            except rollouts.Wait:
                # The update scales those builds to zero and fails; the next one rolls out.
                self.held += 1
                await asyncio.gather(*(asyncio.to_thread(self.stop, b) for b in decided.going
                                       if b in self.workers))
                raise Held() from None
            props = {**self.base(), "delete_build_ids": decided.sunset, "room_needed": room,
                     "records": decided.records, "wait_seconds": 20}
            self.upkeep_outs = await asyncio.to_thread(self._upkeep, props)
            self.deleted |= set(self.upkeep_outs["deleted_build_ids"])
        marks.append(time.monotonic())
        worker = self.start(build)
        try:
            await asyncio.to_thread(worker.wait_ready, READY_SECONDS)
        except TimeoutError:
            raise Wedged(worker) from None
        marks.append(time.monotonic())
        props = {**self.base(), "build_id": build, "image": image,
                 "task_queue": self.task_queue, "strategy": strategy, "steps": STEPS,
                 "gate_workflow": "SmokeTestWorkflow" if strategy == "progressive" else None,
                 "gate_input": '{"items": 1}' if strategy == "progressive" else None,
                 "rollback": False, "poller_timeout_seconds": 90, "gate_timeout_seconds": 30,
                 "rollout_timeout_seconds": 300}
        self.rollout_outs = await asyncio.to_thread(self._roll_out, props)
        assert self.rollout_outs["current_build_id"] == build
        marks.append(time.monotonic())
        with_pods = {build} | {v["build_id"] for v in decided.versions if v.get("replicas") != 0}
        await asyncio.gather(*(asyncio.to_thread(self.stop, b) for b in list(self.workers)
                               if b not in with_pods))
        marks.append(time.monotonic())
        print(f"  up {number} {strategy}: " + " ".join(
            f"{name} {b - a:.1f}" for name, a, b in zip(("upkeep", "pods", "rollout", "end"),
                                                         marks, marks[1:])), flush=True)
        return time.monotonic() - started

    def _upkeep(self, props: dict) -> dict:
        provider = WorkerVersionsProvider()
        if self.upkeep_outs is None:
            return provider.create(props).outs
        return provider.update("id", self.upkeep_outs, props).outs

    def _roll_out(self, props: dict) -> dict:
        provider = WorkerRolloutProvider()
        if self.rollout_outs is None:
            return provider.create(props).outs
        return provider.update("id", self.rollout_outs, props).outs

    def start(self, build: str) -> WorkerProcess:
        self.workers[build] = WorkerProcess({
            spec.TEMPORAL_ADDRESS.env: self.server.address, spec.TASK_QUEUE.env: self.task_queue,
            spec.DEPLOYMENT_NAME.env: self.deployment_name, spec.BUILD_ID.env: build,
            spec.CHATGPT_BASE_URL.env: self.chat_url, spec.CHATGPT_API_KEY.env: CHAT_KEY,
            spec.GRACEFUL_SHUTDOWN_SECONDS.env: "10"}).start()
        return self.workers[build]

    def stop(self, build: str) -> None:
        """A pod going: SIGTERM, a graceful drain, exit."""
        worker = self.workers.pop(build)
        try:
            worker.terminate(timeout=30)
        finally:
            worker.close()

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()


@pytest.fixture
async def stack_factory(capped_server: DevServer, chat_server: ChatServer
                        ) -> AsyncIterator[Any]:
    client = await Client.connect(capped_server.address)
    made: list[Stack] = []

    def make(**options: Any) -> Stack:
        made.append(Stack(capped_server, client, chat_server.base_url, **options))
        return made[-1]

    try:
        yield make
    finally:
        for stack in made:
            stack.close()


class Load:
    """Steady workflow traffic while the updates run: PINNED batches and AUTO_UPGRADE chats."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.handles: list[WorkflowHandle] = []
        self.counts: list[int] = []
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Load:
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        client, queue = self.stack.client, self.stack.task_queue
        tick = 0
        while True:
            tick += 1
            self.handles.append(await client.start_workflow(
                BatchWorkflow.run, BatchRequest(name=f"load-{tick}", items=1,
                                                seconds_per_item=0.2),
                id=f"load-batch-{uuid.uuid4()}", task_queue=queue,
                execution_timeout=datetime.timedelta(minutes=5)))
            if tick % 4 == 0:
                self.handles.append(await client.start_workflow(
                    ChatWorkflow.run, ChatRequest(prompt=f"load {tick}"),
                    id=f"load-chat-{uuid.uuid4()}", task_queue=queue,
                    execution_timeout=datetime.timedelta(minutes=5)))
            if tick % 4 == 0:  # every 2 s: each describe is a new connection and 2-5 calls
                versions = (await describe(self.stack.connection,
                                           self.stack.deployment_name)).versions
                self.counts.append(len(versions))
            await asyncio.sleep(0.5)

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def outcomes(self) -> tuple[int, list[str]]:
        """(completed, failures) of every workflow started."""
        results = await asyncio.gather(*(asyncio.wait_for(h.result(), 120) for h in self.handles),
                                       return_exceptions=True)
        failures = [f"{h.id}: {r!r}" for h, r in zip(self.handles, results)
                    if isinstance(r, BaseException)]
        return len(results) - len(failures), failures


@pytest.mark.timeout(240)
async def test_without_version_upkeep_the_fifth_build_cannot_register_at_the_cap(
        stack_factory) -> None:
    # What 1.2 does: nothing deletes versions, and drained builds keep their pods for
    # sunsetScaledownDelay (1 h by default), so none of them is reclaimable by the server.
    stack = stack_factory(upkeep=False, scaledown_after=3600, delete_after=86400)
    for number in range(1, CAP + 1):
        await stack.up(number, "allAtOnce")
    with pytest.raises(Wedged) as wedged:
        await stack.up(CAP + 1, "allAtOnce")
    refusal = f"maximum number of versions ({CAP}) have been registered in the deployment"
    # The SDK retries the refused polls with backoff and logs the reason after a few retries.
    line = await asyncio.to_thread(wedged.value.worker.wait_until, lambda: next(
        (line for line in wedged.value.worker.output().splitlines() if refusal in line), None),
        60, "the worker to log the server's refusal")
    print(f"\nbuild {CAP + 1} at the cap: never ready; its worker logs: {line[-300:]}")
    state = await describe(stack.connection, stack.deployment_name)
    assert len(state.versions) == CAP, "the server reclaimed nothing: every old build polls"
    assert not wedged.value.worker.ready()

    # The program with upkeep, on the same Worker Deployment, refuses before any resource and
    # says why, instead of stalling the update on a Deployment that never becomes ready.
    new_build = build_id_of(image_of(f"year-{stack.suffix}-{CAP + 1}"))
    decided = rollouts.plan(
        state.versions, new_build, deployment_name=stack.deployment_name,
        keys=KeyRing(SIGNING_KEY), now=datetime.datetime.now(datetime.timezone.utc),
        scaledown_after=3600, delete_after=86400)
    with pytest.raises(ValueError, match=f"{CAP} of the {CAP} versions Temporal lists are still "
                                         f"live or inside sunsetDeleteDelay, and Temporal allows "
                                         f"{CAP} per Worker Deployment"):
        rollouts.room_needed(state.versions, new_build, decided, CAP)


@pytest.mark.timeout(480)
async def test_twenty_rollouts_under_load_stay_under_the_cap_and_lose_no_workflow(
        stack_factory) -> None:
    # Short delays: a replaced build drains and loses its pods at once, and its Deployment and
    # version go a few seconds later, with the next update.
    stack = stack_factory(upkeep=True, scaledown_after=0, delete_after=8)
    seen: set[str] = set()
    timings: list[tuple[int, str, float]] = []
    async with Load(stack) as load:
        for number in range(1, ROLLOUTS + 1):
            strategy = "progressive" if number % 2 == 0 else "allAtOnce"
            started = time.monotonic()
            while True:
                try:
                    await stack.up(number, strategy)
                    break
                except Held:
                    continue
            timings.append((number, strategy, time.monotonic() - started))
            await asyncio.sleep(BETWEEN_UPDATES)
            seen |= {v.build_id for v in
                     (await describe(stack.connection, stack.deployment_name)).versions}
    completed, failures = await load.outcomes()
    state = await describe(stack.connection, stack.deployment_name)
    reclaimed = seen - {v.build_id for v in state.versions} - stack.deleted

    by_strategy = {s: [t for _, kind, t in timings if kind == s]
                   for s in ("allAtOnce", "progressive")}
    print(f"\n{ROLLOUTS} rollouts, cap {CAP}: most versions listed {max(load.counts)}, deleted "
          f"by upkeep {len(stack.deleted)}, reclaimed by the server {len(reclaimed)}, updates "
          f"held back to make room {stack.held}; "
          f"{completed} workflows completed, {len(failures)} failed")
    for kind, values in by_strategy.items():
        print(f"  {kind}: {len(values)} rollouts, median {statistics.median(values):.1f} s, "
              f"max {max(values):.1f} s")
    print("  per rollout (s): " + ", ".join(f"{n}:{t:.1f}" for n, _, t in timings))

    assert failures == []
    assert completed == len(load.handles) > 5 * ROLLOUTS
    assert max(load.counts) <= CAP
    assert reclaimed == set(), "the server's own reclaim was needed"
    assert len(stack.deleted) >= ROLLOUTS - CAP, "old versions were deleted as they went"
    assert state.current_build_id == build_id_of(image_of(f"year-{stack.suffix}-{ROLLOUTS}"))
