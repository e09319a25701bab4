"""The rollout resources through Pulumi's own provider host, as `pulumi up` runs them.

The real `__main__.py` runs under mocks against a real dev server (through a Caddy mTLS front,
with an API key, a client certificate and a signing key as secret config). The `__provider`
it registers is handed to `python -m pulumi.dynamic` running in a venv that holds only the
installed package and its declared extras, in an empty directory; Check, Diff, Create, Update
and Delete go over gRPC, marshalled as the engine marshals them, against two worker builds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

import temporal_worker_spec.settings as spec
from pulumi.runtime.proto import provider_pb2
from temporal_worker_k8s.versioning import Connection, KeyRing, describe, verify
from tests.program.helpers import walk_strings
from tests.support.dynamic_host import DynamicHost, EngineClient, to_thread
from tests.support.package import PackageVenv
from tools.devserver import DevServer
from tools.mockstack import MockResource, StackRun, run_stack
from tools.worker_process import WorkerProcess

# One process builds the package venv for both tests (pytest-xdist --dist loadgroup).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300),
              pytest.mark.xdist_group("rollouts-package")]

SIGNING_KEY = "provider-host-signing-key-2b7d9e4f6a1c3e5"
API_KEY = "tmprl-provider-host-api-key-8e2d4c6a0b9f"
IDENTITY = "pulumi:organization/temporal-worker/prod"
DIGESTS = {"build-1": "sha256:" + "1" * 64, "build-2": "sha256:" + "2" * 64}


@pytest.fixture
def host(rollouts_package: PackageVenv, tmp_path) -> Iterator[EngineClient]:
    """The provider host of the installed package, configured as the engine configures it."""
    empty = tmp_path / "host"
    empty.mkdir()
    with DynamicHost(rollouts_package.python, empty) as process:
        client = EngineClient(process.port)
        try:
            yield client
        finally:
            client.close()


class Program:
    """The stack's config for this test and its mocked runs."""

    def __init__(self, front_address: str, mtls) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.namespace = f"host-{suffix}"
        self.task_queue = f"host-{suffix}"
        self.config = {
            "k8sNamespace": self.namespace, "temporalAddress": front_address,
            "temporalNamespace": "default", "taskQueue": self.task_queue,
            "tlsCert": mtls.client.cert_path.read_text(),
            "tlsKey": mtls.client.key_path.read_text(),
            "tlsServerCa": mtls.ca.cert_path.read_text(), "tlsServerName": "localhost",
            "temporalApiKey": API_KEY, "imageRepository": "registry.example.com/team/worker",
            "rollout": "allAtOnce", "rolloutSigningKey": SIGNING_KEY, "replicas": "2"}

    @property
    def deployment_name(self) -> str:
        return f"{self.namespace}/temporal-worker"

    def run(self, tag: str) -> StackRun:
        return run_stack({**self.config, "imageTag": tag}, stack="prod",
                         image_digest=DIGESTS[tag])


def resource(run: StackRun, kind: str) -> MockResource:
    [found] = [r for r in run.resources if r.type_.endswith(f":{kind}")]
    return found


def secret_names(found: MockResource) -> list[str]:
    return sorted(name for name in found.inputs if found.is_secret(name))


@pytest.fixture
async def workers(temporal_server: DevServer) -> AsyncIterator[dict]:
    started: dict[str, WorkerProcess] = {}
    yield started
    for worker in started.values():
        worker.close()


async def test_create_update_and_delete_run_through_pulumis_provider_host(
        host: EngineClient, temporal_server: DevServer, mtls, workers) -> None:
    program = Program(mtls.address, mtls)
    for tag in DIGESTS:  # two builds, polling the dev server behind the front
        workers[tag] = WorkerProcess({
            spec.TEMPORAL_ADDRESS.env: temporal_server.address,
            spec.TASK_QUEUE.env: program.task_queue,
            spec.DEPLOYMENT_NAME.env: program.deployment_name, spec.BUILD_ID.env: tag}).start()
    await asyncio.gather(*(asyncio.to_thread(w.wait_ready) for w in workers.values()))
    configured = await to_thread(host.configure)
    assert configured.acceptSecrets is False, "the engine will send secrets as plain values"

    first = program.run("build-1")
    rollout, upkeep = resource(first, "WorkerRollout"), resource(first, "WorkerVersions")
    assert secret_names(rollout) == ["__provider", "api_key", "client_cert", "client_key",
                                     "signing_key"]
    secret = secret_names(rollout)
    urn, upkeep_urn = rollout.urn, upkeep.urn

    # WorkerVersions first (nothing to delete yet), then WorkerRollout.
    checked = await to_thread(host.check, upkeep_urn, {}, upkeep.inputs, secret)
    assert list(checked.failures) == []
    upkeep_id, upkeep_outs = await to_thread(host.create, upkeep_urn, upkeep.inputs, secret)
    assert upkeep_outs["deleted_build_ids"] == [] and upkeep_outs["pending_build_ids"] == []
    checked = await to_thread(host.check, urn, {}, rollout.inputs, secret)
    assert list(checked.failures) == []
    id_, outs = await to_thread(host.create, urn, rollout.inputs, secret)
    assert id_ == f"default/{program.deployment_name}"
    assert outs["current_build_id"] == "build-1"
    assert "previous_build_id" not in outs, "None is not sent over the wire"
    assert outs["__provider"] == rollout.inputs["__provider"]
    leaked = [path for path, text in walk_strings(outs)
              if any(v in text for v in (API_KEY, SIGNING_KEY, program.config["tlsKey"]))]
    assert leaked == [], "no credential or key comes back as an output"

    connection = Connection(temporal_server.address, "default")
    state = await describe(connection, program.deployment_name)
    assert state.current_build_id == "build-1" and state.manager_identity == IDENTITY
    record = state.version("build-1").record
    assert verify(record, KeyRing(SIGNING_KEY), program.deployment_name, "build-1").image == \
        f"registry.example.com/team/worker@{DIGESTS['build-1']}"

    # The next run trusts what the host signed: build-1 keeps its Deployment and its image.
    second = program.run("build-2")
    kept = {d.get("metadata", "name"): d.get("spec", "template", "spec", "containers")[0]["image"]
            for d in second.of_type("kubernetes:apps/v1:Deployment")}
    assert kept["temporal-worker-build-1"] == \
        f"registry.example.com/team/worker@{DIGESTS['build-1']}"
    news = resource(second, "WorkerRollout").inputs
    checked = await to_thread(host.check, urn, rollout.inputs, news, secret)
    assert list(checked.failures) == []
    diff = await to_thread(host.diff, urn, id_, outs, news, rollout.inputs, secret)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME and list(diff.replaces) == []
    outs = await to_thread(host.update, urn, id_, outs, news, rollout.inputs, secret)
    assert outs["current_build_id"] == "build-2" and outs["previous_build_id"] == "build-1"
    assert (await describe(connection, program.deployment_name)).current_build_id == "build-2"
    same = await to_thread(host.diff, urn, id_, outs, news, news, secret)
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE

    # A bad plan is refused by Check, as the engine asks at preview.
    bad = {**news, "rollout_timeout_seconds": 10}
    refused = await to_thread(host.check, urn, news, bad, secret)
    assert [f.property for f in refused.failures] == ["rollout_timeout_seconds"]

    # Should a host accept secrets one day, the provider reads marked ones just the same (this
    # host cannot: it reads `__provider` as a plain string).
    ours = [name for name in secret if name != "__provider"]
    marked = await to_thread(host.check, urn, news, news, ours, True)
    assert list(marked.failures) == []

    # Delete leaves Temporal's routing as it is.
    await to_thread(host.delete, urn, id_, outs, news, secret)
    await to_thread(host.delete, upkeep_urn, upkeep_id, upkeep_outs, upkeep.inputs, secret)
    assert (await describe(connection, program.deployment_name)).current_build_id == "build-2"


def test_the_pickled_provider_names_only_the_installed_package(tmp_path, rollouts_package):
    """The host unpickles `__provider` by module path: it must resolve inside the package,
    including the 1.x path `temporal_worker_k8s.versioning.WorkerRolloutProvider`."""
    code = ("import temporal_worker_k8s.versioning as v, temporal_worker_k8s.versioning.provider "
            "as p; assert v.WorkerRolloutProvider is p.WorkerRolloutProvider; "
            "print(p.WorkerRolloutProvider.__module__, p.WorkerVersionsProvider.__module__)")
    out = rollouts_package.run(code, cwd=tmp_path)
    assert out.split() == ["temporal_worker_k8s.versioning.provider"] * 2
