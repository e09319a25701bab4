"""The real worker image: built with buildah, pushed to a real registry, and run the way the
rendered Deployment says, against the mTLS Temporal fixture."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid

import pytest
from temporalio.client import Client

from tests.image.oci import run_in, working_container
from tests.image.pod import PodContainer
from tools import conformance, render
from worker.activities import BatchRequest, ChatRequest

# The first session on a machine also runs debootstrap (about a minute) before the build.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
CHAT_KEY = "sk-image-test-" + uuid.uuid4().hex
EXTRA_TOKEN = "extra-" + uuid.uuid4().hex


def test_registry_serves_the_pushed_digest(worker_image, registry, record_property):
    record_property("image_compressed_bytes", worker_image.compressed_bytes)
    record_property("image_unpacked_size", worker_image.unpacked_size)
    record_property("image_build_seconds", round(worker_image.build_seconds, 1))
    digest, manifest = registry.manifest("temporal-worker", worker_image.digest)
    assert digest == worker_image.digest
    assert manifest["layers"], "image has no layers"


def test_image_has_no_pip_or_setuptools_only_what_the_worker_imports(worker_image):
    """Nothing installs packages at run time: pip and setuptools are in neither the worker's
    venv nor the base interpreter under it, and no pip command is on PATH."""
    with working_container(worker_image.reference) as container:
        needed = run_in(container, "python", "-c", "import temporalio, httpx, cryptography")
        assert needed.returncode == 0, needed.stderr
        base = run_in(container, "python", "-c", "import sys; print(sys._base_executable)")
        assert base.returncode == 0, base.stderr
        for python in ("python", base.stdout.strip()):
            for module in ("pip", "setuptools"):
                result = run_in(container, python, "-c", f"import {module}")
                assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr, \
                    f"{python} imports {module}: {result.stdout}{result.stderr}"
        commands = run_in(container, "python", "-c", "import shutil; print([c for c in "
                          "('pip', 'pip3', 'pip3.11', 'easy_install') if shutil.which(c)])")
        assert commands.stdout.strip() == "[]", commands.stdout + commands.stderr


def _stack_config(mtls, chat_server, worker_image, task_queue: str, probe_mode: str) -> dict:
    return {
        "k8sNamespace": "image-test",
        "temporalAddress": mtls.address,
        "taskQueue": task_queue,
        "tlsCert": mtls.client.cert_path.read_text(),
        "tlsKey": mtls.client.key_path.read_text(),
        "tlsServerCa": mtls.ca.cert_path.read_text(),
        "tlsServerName": "localhost",
        "chatgptApiKey": CHAT_KEY,
        "chatgptBaseUrl": chat_server.base_url,
        "secretEnv": json.dumps({"EXTRA_TOKEN": EXTRA_TOKEN}),
        "imageRepository": worker_image.repository,
        "replicas": "1",
        "probeMode": probe_mode,
        "logFormat": "plain",
    }


@pytest.mark.parametrize("probe_mode", ["http", "exec"])
def test_image_runs_as_the_rendered_deployment_says(worker_image, mtls, temporal_server,
                                                    chat_server, probe_mode, tmp_path,
                                                    record_property):
    task_queue = f"image-{uuid.uuid4()}"
    config = _stack_config(mtls, chat_server, worker_image, task_queue, probe_mode)
    # Unredacted, because this pod needs the Secrets' values; nothing here is printed.
    rendering = render.render(config, stack="image-test", image_digest=worker_image.digest,
                              redact=False)
    assert conformance.check(rendering.objects) == []
    (deployment,) = conformance.worker_deployments(rendering.objects)
    container = conformance.worker_container(deployment)
    assert container["image"] == worker_image.reference
    secrets = {o["metadata"]["name"]: o for o in rendering.objects if o["kind"] == "Secret"}

    with PodContainer(deployment, secrets, container["image"], tmp_path) as pod:
        assert pod.security_context["readOnlyRootFilesystem"] is True
        startup, waited = pod.wait_probe("startupProbe")
        assert startup.ok, f"startup probe never passed: {startup.detail}\n{pod.logs()[-3000:]}"
        # Readiness needs the mTLS connection; give it what is left of the startup budget.
        budget = container["startupProbe"]["failureThreshold"] * \
            container["startupProbe"]["periodSeconds"] - waited
        ready, _ = pod.wait_probe("readinessProbe", budget=max(budget, 10))
        assert ready.ok, f"never ready: {ready.detail}\n{pod.logs()[-3000:]}"
        alive = pod.probe("livenessProbe")
        assert alive.ok, alive.detail
        record_property(f"probes_{probe_mode}", f"startup {startup.detail}; ready {ready.detail}")

        batch, chat = asyncio.run(_run_workflows(temporal_server.address, task_queue))
        assert batch == "batch image: processed 3 of 3 items"
        assert chat == chat_server.reply
        # The chat key reached the worker only through the Secret -> secretKeyRef path.
        assert chat_server.requests[-1]["headers"].get("Authorization") == f"Bearer {CHAT_KEY}"
        # Prometheus scrapes what the pod template's annotations say.
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        metrics = _get(f"http://127.0.0.1:{annotations['prometheus.io/port']}"
                       f"{annotations['prometheus.io/path']}")
        assert "temporal_" in metrics, metrics[:500]

        grace = pod.termination_grace_seconds
        code, took = pod.terminate(timeout=grace)
        assert code == 0, f"exit {code} after SIGTERM ({took:.1f}s):\n{pod.logs()[-3000:]}"
        assert took < grace
        record_property(f"sigterm_exit_{probe_mode}", f"0 after {took:.1f}s (grace {grace}s)")
        assert CHAT_KEY not in pod.logs() and EXTRA_TOKEN not in pod.logs()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


async def _run_workflows(address: str, task_queue: str) -> tuple[str, str]:
    client = await Client.connect(address)
    batch = await client.execute_workflow(
        "BatchWorkflow", BatchRequest(name="image", items=3), id=f"batch-{uuid.uuid4()}",
        task_queue=task_queue, result_type=str)
    chat = await client.execute_workflow(
        "ChatWorkflow", ChatRequest(prompt="Say hello"), id=f"chat-{uuid.uuid4()}",
        task_queue=task_queue, result_type=str)
    return batch, chat


def _render_worker(mtls, chat_server, worker_image, probe_mode="http"):
    config = _stack_config(mtls, chat_server, worker_image, f"image-{uuid.uuid4()}", probe_mode)
    rendering = render.render(config, stack="image-test", image_digest=worker_image.digest,
                              redact=False)
    (deployment,) = conformance.worker_deployments(rendering.objects)
    secrets = {o["metadata"]["name"]: o for o in rendering.objects if o["kind"] == "Secret"}
    return deployment, secrets


def test_container_gets_the_identity_and_filesystem_the_deployment_asks_for(
        worker_image, mtls, chat_server, tmp_path):
    deployment, secrets = _render_worker(mtls, chat_server, worker_image)
    image = conformance.worker_container(deployment)["image"]
    with PodContainer(deployment, secrets, image, tmp_path) as pod:
        script = (
            "import os, sys\n"
            "print(os.getuid(), os.getgid())\n"
            "for path in ('/app/x', '/x', '/etc/temporal/tls/x', '/tmp/x'):\n"
            "    try:\n"
            "        open(path, 'w').close(); print(path, 'writable')\n"
            "    except OSError as err:\n"
            "        print(path, err.strerror)\n"
            "print(sorted(os.listdir('/etc/temporal/tls')))\n"
            "open('/etc/temporal/tls/tls.key').read(); print('key readable')\n")
        result = pod.exec(["python", "-c", script])
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "10001 10001"
        assert lines[1:5] == ["/app/x Read-only file system", "/x Read-only file system",
                              "/etc/temporal/tls/x Read-only file system", "/tmp/x writable"]
        assert lines[5] == "['tls.crt', 'tls.key']" and lines[6] == "key readable"


def test_moved_tls_mount_fails_the_pod_with_a_clear_error(worker_image, mtls, chat_server,
                                                          tmp_path):
    """The harness catches what a cluster would: the mount moved in the component only."""
    deployment, secrets = _render_worker(mtls, chat_server, worker_image)
    container = conformance.worker_container(deployment)
    next(m for m in container["volumeMounts"] if m["name"] == "temporal-tls")["mountPath"] = \
        "/etc/temporal/certs"
    with PodContainer(deployment, secrets, container["image"], tmp_path) as pod:
        with pytest.raises(RuntimeError, match="container exited"):
            pod.wait_probe("startupProbe")
        assert pod.exited() not in (None, 0)
        assert "TEMPORAL_TLS_CLIENT_CERT_PATH" in pod.logs()
