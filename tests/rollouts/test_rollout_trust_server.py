"""Tampering against a real dev server: a namespace writer rewrites, removes or breaks the
version metadata a real rollout wrote, and the real `__main__.py` (under mocks, asking that
server) never changes an image and never drops a live build's Deployment."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as VersionProto
from temporalio.api.workflowservice.v1 import UpdateWorkerDeploymentVersionMetadataRequest
from temporalio.client import Client
from temporalio.converter import DataConverter

import temporal_worker_spec.settings as spec
from temporal_worker_k8s.versioning import (Connection, WorkerRolloutProvider, build_id_of,
                                            describe, records)
from tools.devserver import DevServer
from tools.mockstack import run_stack
from tools.record_worker_deployment import image_of
from tools.worker_process import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

KEY = "trust-test-signing-key-0d9c8b7a6f5e4d3c"
IDENTITY = "pulumi:organization/temporal-worker/prod"
EVIL = "evil.example/backdoor:latest"


class Deployed:
    """Builds v1 (DRAINING or DRAINED) and v2 (CURRENT), rolled out by the real provider."""

    def __init__(self, server: DevServer, client: Client) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.server, self.client = server, client
        self.namespace, self.task_queue = f"trust-{suffix}", f"trust-{suffix}"
        self.images = {label: image_of(f"trust-{label}-{suffix}") for label in ("v1", "v2")}
        self.workers: list[WorkerProcess] = []

    @property
    def deployment_name(self) -> str:
        return f"{self.namespace}/temporal-worker"

    @property
    def connection(self) -> Connection:
        return Connection(self.server.address, "default")

    def build(self, label: str) -> str:
        return build_id_of(self.images[label])

    def props(self, label: str) -> dict:
        return {"address": self.server.address, "namespace": "default", "tls": False,
                "deployment_name": self.deployment_name, "build_id": self.build(label),
                "image": self.images[label], "task_queue": self.task_queue,
                "strategy": "allAtOnce", "steps": [], "rollback": False,
                "poller_timeout_seconds": 60, "gate_timeout_seconds": 60,
                "rollout_timeout_seconds": 600, "manager_identity": IDENTITY,
                "take_over": False, "signing_key": KEY}

    def run(self):
        """The real program, the next build's update, asking this server."""
        return run_stack({"k8sNamespace": self.namespace, "temporalAddress": self.server.address,
                          "temporalNamespace": "default", "taskQueue": self.task_queue,
                          "imageRepository": "registry.example.com/team/temporal-worker",
                          "imageTag": "v3", "rollout": "allAtOnce", "rolloutSigningKey": KEY},
                         stack="prod")

    async def write(self, label: str, upsert: dict[str, Payload] | None = None,
                    remove: list[str] | None = None) -> None:
        """What anyone allowed to write to the namespace can do (no manager identity needed)."""
        await self.client.workflow_service.update_worker_deployment_version_metadata(
            UpdateWorkerDeploymentVersionMetadataRequest(
                namespace="default", deployment_version=VersionProto(
                    deployment_name=self.deployment_name, build_id=self.build(label)),
                upsert_entries=upsert or {}, remove_entries=remove or [],
                identity="intruder@namespace"))


@pytest.fixture
async def deployed(rollout_server: DevServer) -> AsyncIterator[Deployed]:
    found = Deployed(rollout_server, await Client.connect(rollout_server.address))
    try:
        for label in ("v1", "v2"):
            found.workers.append(WorkerProcess({
                spec.TEMPORAL_ADDRESS.env: rollout_server.address,
                spec.TASK_QUEUE.env: found.task_queue,
                spec.DEPLOYMENT_NAME.env: found.deployment_name,
                spec.BUILD_ID.env: found.build(label)}).start())
        await asyncio.gather(*(asyncio.to_thread(w.wait_ready) for w in found.workers))
        provider = WorkerRolloutProvider()
        created = await asyncio.to_thread(provider.create, found.props("v1"))
        await asyncio.to_thread(provider.update, created.id, created.outs, found.props("v2"))
        yield found
    finally:
        for worker in found.workers:
            worker.close()


def json_payload(value) -> Payload:
    return DataConverter.default.payload_converter.to_payloads([value])[0]


def images_deployed(run) -> dict[str, str]:
    return {d.get("metadata", "name"): d.get("spec", "template", "spec", "containers")[0]["image"]
            for d in run.of_type("kubernetes:apps/v1:Deployment")}


async def test_rewritten_removed_or_malformed_metadata_never_changes_what_is_deployed(
        deployed: Deployed) -> None:
    v1, v2 = deployed.build("v1"), deployed.build("v2")
    assert images_deployed(deployed.run())[f"temporal-worker-{v2}"] == deployed.images["v2"]
    state = await describe(deployed.connection, deployed.deployment_name)
    original = state.version(v2).record
    signed = records.encode(KEY, deployed.deployment_name, v2, deployed.images["v2"])
    assert original.image == deployed.images["v2"]

    cases = {
        "the image rewritten, unsigned": (
            {records.RECORD_KEY: json_payload(EVIL)}, "is a string, not a record object"),
        "a 1.x image entry beside a removed record": (
            "legacy", "its image record is unsigned"),
        "the record rewritten, signature kept": (
            {records.RECORD_KEY: json_payload({**json.loads(signed.data), "image": EVIL})},
            "does not match its signature"),
        "v1's record copied onto v2": (
            {records.RECORD_KEY: records.encode(KEY, deployed.deployment_name, v1,
                                                deployed.images["v1"])},
            "does not match its signature"),
        "the record removed": ("removed", "Temporal holds no image record for it"),
        "an unknown encoding": ({records.RECORD_KEY: Payload(
            metadata={"encoding": b"binary/protobuf"}, data=b"\x08\x01")},
            "has encoding 'binary/protobuf'"),
        "bad JSON": ({records.RECORD_KEY: Payload(metadata={"encoding": b"json/plain"},
                                                  data=b'{"v": 1, "image": ')},
                     "is not valid JSON"),
        "JSON 42": ({records.RECORD_KEY: json_payload(42)}, "is the number 42"),
        "a 200,000-character image": (
            {records.RECORD_KEY: json_payload({"v": 1, "image": "r" * 200_000})},
            "bytes long; a record is at most 4096"),
    }
    for case, (change, expected) in cases.items():
        if change == "removed":
            await deployed.write("v2", remove=[records.RECORD_KEY])
        elif change == "legacy":
            await deployed.write("v2", upsert={records.LEGACY_IMAGE_KEY: json_payload(EVIL)},
                                 remove=[records.RECORD_KEY])
        else:
            await deployed.write("v2", upsert=change)
        with pytest.raises(ValueError) as caught:
            deployed.run()
        message = str(caught.value)
        assert caught.value.registered_resources == (), case
        assert f"build {v2} (CURRENT): " in message and expected in message, (case, message)
        assert len(message) < 4000, case
        # Put the stack's own record back (and drop a 1.x entry) for the next case.
        await deployed.write("v2", upsert={records.RECORD_KEY: signed},
                             remove=[records.LEGACY_IMAGE_KEY])
    after = images_deployed(deployed.run())
    assert after[f"temporal-worker-{v2}"] == deployed.images["v2"]
    assert EVIL not in json.dumps(after)

