"""The dev stack under mocks: namespace, dev server, image and a fully specified worker Deployment."""

from __future__ import annotations

from pathlib import Path

import yaml

import temporal_worker_spec.settings as spec
from temporal_worker_k8s.temporal_dev_server import TYPE_TOKEN as DEV_SERVER_TYPE
from temporal_worker_k8s.temporal_worker import TYPE_TOKEN
from temporal_worker_spec import contract
from tests.program.helpers import (DEPLOYMENT, IMAGE, NAMESPACE, SECRET, SERVICE, WORKER,
                                   container, env_of)
from tools.mockstack import PLACEHOLDER_DIGEST, SECRET_KEYS, StackRun, run_stack

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = {s.name: s.default for s in spec.SETTINGS}
LABEL_KEYS = {f"app.kubernetes.io/{k}" for k in
              ("name", "component", "version", "part-of", "managed-by")}


def test_dev_stack_creates_namespace_dev_server_image_and_worker(dev_run: StackRun):
    types = [(r.type_, r.name) for r in dev_run.resources]
    assert (NAMESPACE, "namespace") in types
    assert (IMAGE, "worker-image") in types
    assert (DEV_SERVER_TYPE, "temporal-dev") in types
    assert (TYPE_TOKEN, "temporal-worker") in types
    assert {r.name for r in dev_run.of_type(DEPLOYMENT)} == {"temporal-dev-deployment", WORKER}
    assert [r.name for r in dev_run.of_type(SERVICE)] == ["temporal-dev-service"]
    assert dev_run.of_type(SECRET) == [], "the dev stack needs no secrets"


def test_dev_server_runs_start_dev_on_all_interfaces_from_a_pinned_image(dev_run: StackRun):
    server = container(dev_run, "temporal-dev-deployment")
    assert server["image"] == DEFAULTS["devServerImage"]
    assert ":" in server["image"] and not server["image"].endswith(":latest")
    assert server["args"][:4] == ["server", "start-dev", "--ip", "0.0.0.0"]
    service = dev_run.one(SERVICE, "temporal-dev-service")
    deployment = dev_run.one(DEPLOYMENT, "temporal-dev-deployment")
    assert service.get("spec", "selector") == deployment.get("spec", "selector", "matchLabels"), \
        service.urn
    assert {p["port"] for p in service.get("spec", "ports")} >= {7233}


def test_dev_server_pod_is_restricted_too(dev_run: StackRun):
    pod = dev_run.one(DEPLOYMENT, "temporal-dev-deployment").get("spec", "template", "spec")
    security = container(dev_run, "temporal-dev-deployment")["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False


def test_dev_worker_dials_dev_server_service_without_tls(dev_run: StackRun):
    env = env_of(dev_run)
    service = dev_run.one(SERVICE, "temporal-dev-service")
    assert env[spec.TEMPORAL_ADDRESS.env]["value"] == (
        f"{service.get('metadata', 'name')}.{service.get('metadata', 'namespace')}"
        ".svc.cluster.local:7233")
    assert env[spec.TLS.env]["value"] == "false"
    for name in (spec.TLS_CERT.env, spec.TLS_KEY.env,
                 spec.TEMPORAL_API_KEY.env):
        assert name not in env


def test_every_object_lives_in_the_stack_namespace(dev_run: StackRun):
    namespace = dev_run.one(NAMESPACE).get("metadata", "name")
    assert namespace == DEFAULTS["k8sNamespace"]
    for resource in dev_run.kubernetes_objects():
        if resource.type_ != NAMESPACE:
            assert resource.get("metadata", "namespace") == namespace, resource.urn


def test_worker_uses_the_image_repo_digest_never_a_tag(dev_run: StackRun):
    image = container(dev_run)["image"]
    assert image == f"{DEFAULTS['imageRepository']}@{PLACEHOLDER_DIGEST}"
    assert dev_run.exports["image"] == image
    assert dev_run.exports["imageDigest"] == PLACEHOLDER_DIGEST


def test_image_is_built_from_worker_dockerfile_with_a_content_tag(dev_run: StackRun):
    image = dev_run.one(IMAGE)
    assert Path(image.get("build", "context")) == ROOT  # narrowed by .dockerignore
    assert Path(image.get("build", "dockerfile")) == ROOT / "worker" / "Dockerfile"
    assert image.get("build", "platform") == "linux/amd64"
    repository, tag = image.get("imageName").rsplit(":", 1)
    assert repository == DEFAULTS["imageRepository"]
    assert tag.startswith("src-") and len(tag) == len("src-") + 12, image.urn


def test_worker_deployment_has_the_seed_rollout_settings(dev_run: StackRun):
    deployment = dev_run.one(DEPLOYMENT, WORKER).get("spec")
    assert deployment["replicas"] == 1, "Pulumi.dev.yaml sets one replica"
    assert deployment["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert deployment["revisionHistoryLimit"] == 10
    assert deployment["progressDeadlineSeconds"] == 600
    # Requests are the component's measured defaults; limits are the seed's.
    assert container(dev_run)["resources"] == {
        "requests": {"cpu": "250m", "memory": "192Mi"},
        "limits": {"cpu": "500m", "memory": "500Mi"}}


def test_labels_are_shared_by_deployment_selector_and_pods(dev_run: StackRun):
    deployment = dev_run.one(DEPLOYMENT, WORKER)
    labels = deployment.get("metadata", "labels")
    pod_labels = deployment.get("spec", "template", "metadata", "labels")
    selector = deployment.get("spec", "selector", "matchLabels")
    assert LABEL_KEYS <= set(labels), deployment.urn
    assert pod_labels == labels
    assert selector.items() <= pod_labels.items()
    # The version changes with every build; an immutable selector must not contain it.
    assert "app.kubernetes.io/version" not in selector
    assert labels["app.kubernetes.io/managed-by"] == "pulumi"


def test_worker_pod_is_restricted(dev_run: StackRun):
    pod = dev_run.one(DEPLOYMENT, WORKER).get("spec", "template", "spec")
    security = container(dev_run)["securityContext"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": contract.RUN_AS_UID, "runAsGroup": contract.RUN_AS_GID,
        "fsGroup": contract.RUN_AS_GID, "seccompProfile": {"type": "RuntimeDefault"}}
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == contract.RUN_AS_UID == 10001
    assert security["runAsGroup"] == contract.RUN_AS_GID == 10001
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False


def test_only_tmp_is_writable_through_an_empty_dir(dev_run: StackRun):
    pod = dev_run.one(DEPLOYMENT, WORKER).get("spec", "template", "spec")
    mounts = {m["mountPath"]: m for m in container(dev_run)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    tmp = mounts[contract.WRITABLE_DIR]
    assert "emptyDir" in volumes[tmp["name"]]
    assert contract.HEARTBEAT_FILE.startswith(contract.WRITABLE_DIR + "/")


def test_probes_hit_the_worker_health_server_and_readiness_differs(dev_run: StackRun):
    worker = container(dev_run)
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert ports == {"health": contract.HEALTH_PORT, "metrics": contract.METRICS_PORT}
    paths = {}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        http = worker[probe]["httpGet"]
        assert ports[http["port"]] == contract.HEALTH_PORT
        paths[probe] = http["path"]
    assert paths["livenessProbe"] == contract.LIVENESS_PATH
    assert paths["readinessProbe"] == contract.READINESS_PATH
    assert worker["livenessProbe"] != worker["readinessProbe"]
    assert "exec" not in str(worker), "no `ls /` style exec probes in http mode"


def test_worker_env_carries_the_contract_ports_and_shutdown(dev_run: StackRun):
    env = env_of(dev_run)
    assert env[spec.HEALTH_PORT.env]["value"] == str(contract.HEALTH_PORT)
    assert env[spec.METRICS_PORT.env]["value"] == str(contract.METRICS_PORT)
    assert env[spec.TASK_QUEUE.env]["value"] == spec.TASK_QUEUE.default
    assert env[spec.TEMPORAL_NAMESPACE.env]["value"] == spec.TEMPORAL_NAMESPACE.default
    assert env[spec.LOG_FORMAT.env]["value"] == spec.LOG_FORMAT.default
    shutdown = int(env[spec.GRACEFUL_SHUTDOWN_SECONDS.env]["value"])
    assert shutdown == spec.GRACEFUL_SHUTDOWN_SECONDS.default
    grace = dev_run.one(DEPLOYMENT, WORKER).get("spec", "template", "spec",
                                                "terminationGracePeriodSeconds")
    assert grace == contract.termination_grace_period_seconds(shutdown) > shutdown
    assert container(dev_run)["command"] == list(contract.ENTRYPOINT)


def test_metrics_port_is_announced_for_prometheus(dev_run: StackRun):
    annotations = dev_run.one(DEPLOYMENT, WORKER).get("spec", "template", "metadata",
                                                      "annotations")
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(contract.METRICS_PORT)
    assert annotations["prometheus.io/path"] == contract.METRICS_PATH


def test_worker_deployment_is_a_child_of_the_component(dev_run: StackRun):
    component = dev_run.one(TYPE_TOKEN, "temporal-worker")
    deployment = dev_run.one(DEPLOYMENT, WORKER)
    assert deployment.parent == component.urn
    assert deployment.name.startswith(component.name)


def test_exports_name_the_namespace_deployment_and_image(dev_run: StackRun):
    assert dev_run.exports["namespace"] == "temporal-worker"
    assert dev_run.exports["deploymentName"] == dev_run.one(DEPLOYMENT, WORKER).get(
        "metadata", "name")
    assert dev_run.secret_exports == frozenset()


def test_dev_stack_file_holds_no_secret():
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    assert stack["temporal-worker:devServer"] is True
    assert not {k.split(":", 1)[1] for k in stack} & set(SECRET_KEYS)


def test_dev_server_creates_a_non_default_temporal_namespace(dev_config):
    run = run_stack({**dev_config, "temporalNamespace": "orders"})
    args = container(run, "temporal-dev-deployment")["args"]
    assert args[args.index("--namespace") + 1] == "orders"
    assert env_of(run)[spec.TEMPORAL_NAMESPACE.env]["value"] == "orders"
