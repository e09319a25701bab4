"""Constructing through the component provider the plugin serves (what TypeScript, Go, C# and
YAML programs do) registers exactly the Kubernetes objects the Python API does; in-process
here, over gRPC in test_construct."""

from __future__ import annotations

import pytest

from temporal_worker_k8s import COMPONENTS, PACKAGE, TemporalDevServer, TemporalWorker
from temporal_worker_k8s.plugin import OutputInputsComponentProvider
from tools.mockstack import StackRun, run_program

IMAGE = "registry.example.com/team/worker@sha256:" + "ef" * 32
# The same worker, as a Python program and as another language's SDK sends it (schema names).
PYTHON = {
    "image": IMAGE, "namespace": "payments", "temporal_address": "pay.acct.tmprl.cloud:7233",
    "temporal_namespace": "pay.acct", "task_queue": "orders", "replicas": 2,
    "tls_secret_name": "client-cert", "server_ca_secret_name": "server-ca",
    "temporal_api_key": {"name": "temporal", "key": "apiKey"},
    "secret_env": {"STRIPE_KEY": {"name": "stripe", "key": "key"}},
    "env": {"FEATURE": "on"}, "graceful_shutdown_seconds": 120, "probe_mode": "exec",
    "labels": {"team": "payments"}, "annotations": {"example.com/owner": "payments"},
    "node_selector": {"pool": "temporal"},
    "tolerations": [{"key": "pool", "operator": "Equal", "value": "temporal",
                     "effect": "NoSchedule", "toleration_seconds": 60}],
    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}]}},
    "priority_class_name": "high", "service_account_name": "payments",
    "pod_spec": {"runtimeClassName": "gvisor"}, "restart_on": ["v1"], "version": "1.2.3",
    "create_namespace": True,
}
SCHEMA = {
    "image": IMAGE, "namespace": "payments", "temporalAddress": "pay.acct.tmprl.cloud:7233",
    "temporalNamespace": "pay.acct", "taskQueue": "orders", "replicas": 2.0,
    "tlsSecretName": "client-cert", "serverCaSecretName": "server-ca",
    "temporalApiKey": {"name": "temporal", "key": "apiKey"},
    "secretEnv": {"STRIPE_KEY": {"name": "stripe", "key": "key"}},
    "env": {"FEATURE": "on"}, "gracefulShutdownSeconds": 120.0, "probeMode": "exec",
    "labels": {"team": "payments"}, "annotations": {"example.com/owner": "payments"},
    "nodeSelector": {"pool": "temporal"},
    "tolerations": [{"key": "pool", "operator": "Equal", "value": "temporal",
                     "effect": "NoSchedule", "tolerationSeconds": 60.0}],
    "affinity": PYTHON["affinity"],
    "priorityClassName": "high", "serviceAccountName": "payments",
    "podSpec": {"runtimeClassName": "gvisor"}, "restartOn": ["v1"], "version": "1.2.3",
    "createNamespace": True,
}


def objects(run: StackRun) -> list[tuple[str, str, dict]]:
    """The Kubernetes objects by type and name (registration order follows Output timing)."""
    return sorted(((r.type_, r.name, r.inputs) for r in run.kubernetes_objects()),
                  key=lambda o: o[:2])


def construct(resource: str, inputs: dict) -> StackRun:
    provider = OutputInputsComponentProvider(COMPONENTS, PACKAGE)

    def program():
        result = provider.construct("orders", f"{PACKAGE}:index:{resource}", inputs)
        assert result.urn is not None

    return run_program(program)


def test_temporal_worker_through_the_provider_equals_the_python_api():
    direct = run_program(lambda: TemporalWorker("orders", PYTHON))
    remote = construct("TemporalWorker", SCHEMA)
    assert objects(remote) == objects(direct)
    assert sorted(kind.rsplit(":", 1)[1] for kind, _, _ in objects(direct)) == [
        "Deployment", "Namespace", "NetworkPolicy", "PodDisruptionBudget"]  # its own SA given


def test_dev_server_through_the_provider_equals_the_python_api():
    direct = run_program(lambda: TemporalDevServer("orders", {
        "namespace": "dev", "temporal_namespace": "orders"}))
    remote = construct("TemporalDevServer", {"namespace": "dev", "temporalNamespace": "orders"})
    assert objects(remote) == objects(direct)


def test_a_missing_required_input_is_reported_by_its_schema_name():
    with pytest.raises(Exception, match="temporalAddress"):
        construct("TemporalWorker", {"image": IMAGE, "namespace": "payments"})


def test_the_provider_reports_the_components_outputs():
    provider = OutputInputsComponentProvider(COMPONENTS, PACKAGE)
    states = []

    def program():
        result = provider.construct("orders", f"{PACKAGE}:index:TemporalWorker", SCHEMA)
        states.append(result.state)

    run_program(program)
    assert set(states[0]) == {"deploymentName", "namespace", "labels", "serviceAccountName",
                              "buildId", "temporalDeploymentName"}
