"""Fixtures for the rollout tests: a dev server that reports drainage within seconds and
forgets stopped workers' pollers within seconds, and two real worker processes (builds v1 and
v2) of one Worker Deployment per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio.client import Client

import temporal_worker_spec.settings as spec
from temporal_worker_k8s.versioning import (Connection, DeploymentState, KeyRing,
                                            build_id_of, describe, verify)
from tests.support.chat_server import ChatServer
from tests.support.package import PackageVenv
from tools.devserver import FAST_VERSION_CLEANUP, DevServer
from tools.record_worker_deployment import image_of
from tools.worker_process import WorkerProcess

CHAT_KEY = "sk-rollout-test-chat-key"
SIGNING_KEY = "rollout-tests-signing-key-5c2e9a7f1b3d"
IDENTITY = "pulumi:organization/temporal-worker/rollout-tests"


@pytest.fixture(scope="module")
def rollout_server() -> Iterator[DevServer]:
    """A real dev server with fast drainage and poller expiry, for one test module."""
    with DevServer(dynamic_config=FAST_VERSION_CLEANUP) as server:
        yield server


@pytest.fixture(scope="session")
def rollouts_package(tmp_path_factory: pytest.TempPathFactory) -> PackageVenv:
    """A fresh venv holding only the component package with its declared extras (slow: pip)."""
    return PackageVenv.with_extras(tmp_path_factory.mktemp("rollouts-package"), "rollouts,pki")


@pytest.fixture(scope="module")
def slow_chat() -> Iterator[ChatServer]:
    """The chat-completions endpoint both builds call (tests set its delay)."""
    server = ChatServer().start()
    yield server
    server.stop()


@dataclass
class TwoBuilds:
    """One Worker Deployment with a worker process per build polling one task queue."""

    server: DevServer
    client: Client
    connection: Connection
    deployment_name: str
    task_queue: str
    images: dict[str, str]
    """label (v1, v2) -> image reference."""
    chat_url: str = ""
    workers: dict[str, WorkerProcess] = field(default_factory=dict)

    def build(self, label: str) -> str:
        return build_id_of(self.images[label])

    def label(self, build_id: str) -> str:
        return next(label for label in self.images if self.build(label) == build_id)

    def props(self, label: str, **overrides: Any) -> dict[str, Any]:
        """The provider's properties (plain values), as the engine would pass them."""
        props = {
            "address": self.connection.address, "namespace": self.connection.namespace,
            "tls": False, "deployment_name": self.deployment_name, "build_id": self.build(label),
            "image": self.images[label], "task_queue": self.task_queue,
            "strategy": "allAtOnce", "steps": [{"percent": 10, "pause_seconds": 300},
                                               {"percent": 50, "pause_seconds": 300}],
            "gate_workflow": None, "gate_input": None, "rollback": False,
            "poller_timeout_seconds": 60, "gate_timeout_seconds": 60,
            "rollout_timeout_seconds": 3600, "manager_identity": IDENTITY, "take_over": False,
            "signing_key": SIGNING_KEY,
        }
        props.update(overrides)
        return props

    def upkeep_props(self, **overrides: Any) -> dict[str, Any]:
        """WorkerVersions' properties (plain values), as the engine would pass them."""
        props = {
            "address": self.connection.address, "namespace": self.connection.namespace,
            "tls": False, "deployment_name": self.deployment_name, "signing_key": SIGNING_KEY,
            "manager_identity": IDENTITY, "take_over": False, "delete_build_ids": [],
            "room_needed": 0, "records": [], "wait_seconds": 20,
        }
        props.update(overrides)
        return props

    async def state(self) -> DeploymentState:
        return await describe(self.connection, self.deployment_name)

    async def recorded_image(self, label: str) -> str | None:
        """The image the server's record of build `label` names, if the key verifies it."""
        version = (await self.state()).version(self.build(label))
        return verify(version.record, KeyRing(SIGNING_KEY), self.deployment_name,
                      self.build(label)).image if version else None

    def start_worker(self, label: str, image: str | None = None) -> WorkerProcess:
        """A worker process of build `label` (a new build when `image` is given)."""
        if image is not None:
            self.images[label] = image
        self.workers[label] = WorkerProcess({
            spec.TEMPORAL_ADDRESS.env: self.server.address,
            spec.TASK_QUEUE.env: self.task_queue,
            spec.DEPLOYMENT_NAME.env: self.deployment_name,
            spec.BUILD_ID.env: self.build(label),
            spec.CHATGPT_BASE_URL.env: self.chat_url,
            spec.CHATGPT_API_KEY.env: CHAT_KEY,
        }).start()
        return self.workers[label]


@pytest.fixture
async def builds(rollout_server: DevServer, slow_chat: ChatServer) -> AsyncIterator[TwoBuilds]:
    """Workers of builds v1 and v2 (same deployment name and task queue), both ready."""
    slow_chat.delay_seconds = 0
    suffix = uuid.uuid4().hex[:8]
    two = TwoBuilds(
        server=rollout_server, client=await Client.connect(rollout_server.address),
        connection=Connection(address=rollout_server.address, namespace="default"),
        deployment_name=f"orders-{suffix}", task_queue=f"rollout-{suffix}",
        images={label: image_of(f"{label}-{suffix}") for label in ("v1", "v2")},
        chat_url=slow_chat.base_url)
    try:
        for label in list(two.images):
            two.start_worker(label)
        await asyncio.gather(*(asyncio.to_thread(w.wait_ready) for w in two.workers.values()))
        yield two
    finally:
        for worker in two.workers.values():
            worker.close()
