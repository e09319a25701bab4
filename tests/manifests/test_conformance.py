"""The rendered worker Deployment fits the worker (contract, settings, Dockerfile), and each
one-sided change the acceptance names makes the conformance check fail."""

from __future__ import annotations

import copy

import pytest

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from tools import conformance, render

# What worker/Dockerfile must say; tests that do not need the real file use this.
IMAGE = {"uid": contract.RUN_AS_UID, "gid": contract.RUN_AS_GID,
         "entrypoint": list(contract.ENTRYPOINT)}


def test_rendered_deployment_conforms_to_the_worker(rendering, config_name):
    assert conformance.check(rendering.objects, image=IMAGE) == [], config_name


def test_dockerfile_matches_the_contract(renders):
    """The real worker/Dockerfile: USER and ENTRYPOINT agree with the contract and the pod."""
    assert conformance.dockerfile_identity() == IMAGE
    assert conformance.check(renders["prod"][0].objects) == []


def test_worker_code_reads_every_variable_of_the_spec():
    """Read from the worker's code and from temporalio.envconfig, not copied from the spec."""
    declared = {name for s in spec.SETTINGS for name in s.env_names}
    assert declared | set(spec.ALIASES) <= conformance.worker_env_names()
    assert {spec.TEMPORAL_API_KEY.env, spec.TLS_SERVER_NAME.env} <= conformance.envconfig_names()


def _objects(renders, name="prod"):
    return copy.deepcopy(renders[name][0].objects)


def _container(objects):
    return conformance.worker_container(conformance.worker_deployments(objects)[0])


def _pod(objects):
    return conformance.worker_deployments(objects)[0]["spec"]["template"]["spec"]


def _env(objects, name):
    return next(e for e in _container(objects)["env"] if e["name"] == name)


def mount_path_changed_in_component_only(objects):
    mount = next(m for m in _container(objects)["volumeMounts"]
                 if m["mountPath"] == contract.TLS_MOUNT_DIR)
    mount["mountPath"] = "/etc/temporal/certs"


def env_renamed_in_component_only(objects):
    _env(objects, spec.TEMPORAL_ADDRESS.env)["name"] = "TEMPORAL_ADDR"


def probe_path_wrong(objects):
    _container(objects)["readinessProbe"]["httpGet"]["path"] = "/ready"


def probe_port_wrong(objects):
    _container(objects)["livenessProbe"]["httpGet"]["port"] = 8081


def runs_as_root(objects):
    for sc in (_pod(objects)["securityContext"], _container(objects)["securityContext"]):
        sc["runAsUser"] = 0
        sc["runAsNonRoot"] = False


def runs_as_other_uid(objects):
    for sc in (_pod(objects)["securityContext"], _container(objects)["securityContext"]):
        sc["runAsUser"] = 20000


def cert_path_env_points_elsewhere(objects):
    _env(objects, spec.TLS_CERT.env)["value"] = "/etc/temporal/tls/client.crt"


def secret_key_renamed(objects):
    tls = next(o for o in objects if o["kind"] == "Secret" and o["type"] == "kubernetes.io/tls")
    tls["stringData"]["tsl.crt"] = tls["stringData"].pop(contract.TLS_CERT_KEY)


def secret_name_mismatch(objects):
    volume = next(v for v in _pod(objects)["volumes"] if "secret" in v
                  and v["secret"]["secretName"] == "temporal-tls")
    volume["secret"]["secretName"] = "my-tls-secret"


def grace_period_too_short(objects):
    _pod(objects)["terminationGracePeriodSeconds"] = 10


def command_changed(objects):
    _container(objects)["command"] = ["python", "-m", "worker.main"]


def tmp_not_writable(objects):
    next(m for m in _container(objects)["volumeMounts"] if m["mountPath"] == "/tmp")["readOnly"] = True


# name -> (change to the rendered objects, text the check must report)
BREAKS = {
    # The four the acceptance names, component side:
    "mount path changed in the component only": (mount_path_changed_in_component_only,
                                                 "no volume is mounted at its directory"),
    "env var renamed in the component only": (env_renamed_in_component_only,
                                              "TEMPORAL_ADDR is set but the worker does not read"),
    "probe path wrong": (probe_path_wrong, "readinessProbe path /ready"),
    "runs as root": (runs_as_root, "runs as root"),
    # More of the same kind:
    "probe port wrong": (probe_port_wrong, "is not the health port"),
    "uid differs from the image's USER": (runs_as_other_uid, "runAsUser 20000"),
    "cert path env points at a file the Secret does not have": (
        cert_path_env_points_elsewhere, "has no file client.crt"),
    "Secret key typo (the seed's tsl.crt)": (secret_key_renamed, "provides no file tls.crt"),
    "Secret name does not match its mount (the seed's my-tls-secret)": (
        secret_name_mismatch, "'my-tls-secret' is not created"),
    "grace period shorter than the drain": (grace_period_too_short,
                                            "terminationGracePeriodSeconds 10"),
    "command differs from the entrypoint": (command_changed, "do not run python -m worker"),
    "/tmp not writable under a read-only root": (tmp_not_writable,
                                                 "without a writable emptyDir"),
}


@pytest.mark.parametrize("name", BREAKS)
def test_conformance_fails_when_the_deployment_side_breaks(renders, name):
    objects = _objects(renders)
    assert conformance.check(objects, image=IMAGE) == []
    change, expected = BREAKS[name]
    change(objects)
    problems = conformance.check(objects, image=IMAGE)
    assert any(expected in p for p in problems), (name, problems)


def test_conformance_fails_when_a_worker_reads_its_own_names_instead_of_the_spec(renders,
                                                                             tmp_path):
    """A worker that bypasses the spec and reads a name of its own is caught."""
    (tmp_path / "settings.py").write_text(
        'import os\nqueue = os.environ["TEMPORAL_QUEUE"]\n'
        'address = os.environ["TEMPORAL_ADDRESS"]\nnamespace = os.environ["TEMPORAL_NAMESPACE"]\n')
    reads = conformance.worker_env_names(tmp_path)
    assert "TEMPORAL_QUEUE" in reads and spec.TASK_QUEUE.env not in reads
    problems = conformance.check(_objects(renders), reads=reads, image=IMAGE)
    assert any(f"env {spec.TASK_QUEUE.env} is set but the worker does not read it" in p
               for p in problems), problems


def test_conformance_fails_when_an_env_value_is_one_the_worker_refuses(renders):
    objects = _objects(renders)
    env = {e["name"]: e for e in _container(objects)["env"]}
    env[spec.GRACEFUL_SHUTDOWN_SECONDS.env]["value"] = "90000"
    problems = conformance.check(objects, image=IMAGE)
    assert any(f"env {spec.GRACEFUL_SHUTDOWN_SECONDS.env}: the worker would refuse it" in p
               for p in problems), problems


def test_conformance_fails_when_the_image_user_changes(renders):
    problems = conformance.check(_objects(renders), image={**IMAGE, "uid": 0, "gid": 0})
    assert any("runAsUser" in p for p in problems), problems


def test_conformance_fails_when_the_image_entrypoint_changes(renders):
    dev = _objects(renders, "dev")
    del _container(dev)["command"]
    problems = conformance.check(dev, image={**IMAGE, "entrypoint": ["python", "-m", "app"]})
    assert any("ENTRYPOINT" in p for p in problems) and any("command" in p for p in problems)


def test_conformance_fails_when_an_exec_probe_checks_another_file(renders):
    objects = _objects(renders, "prod-exec")
    _container(objects)["readinessProbe"]["exec"]["command"][4] = "/tmp/other"
    assert conformance.check(objects, image=IMAGE)


def test_conformance_fails_when_exec_liveness_checks_the_readiness_file(renders):
    """The readiness file vanishes during a Temporal outage; liveness on it restarts pods."""
    objects = _objects(renders, "prod-exec")
    container = _container(objects)
    container["livenessProbe"]["exec"]["command"] = list(
        container["readinessProbe"]["exec"]["command"])
    problems = conformance.check(objects, image=IMAGE)
    assert any("livenessProbe exec" in p and contract.LIVENESS_FILE in p
               for p in problems), problems


def test_dockerfile_identity_reads_the_final_stage(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('ARG UID=10001\nFROM a AS build\nUSER 1:1\nENTRYPOINT ["x"]\n'
                          'FROM b\nARG UID\nUSER ${UID}:10001\n'
                          'ENTRYPOINT ["python", "-m", \\\n "worker"]\n')
    assert conformance.dockerfile_identity(dockerfile) == IMAGE


# --- The objects around the Deployment ------------------------------------------------------

def _one(objects, kind):
    return next(o for o in objects if o["kind"] == kind)


def metrics_ingress_dropped(objects):
    policy = _one(objects, "NetworkPolicy")
    policy["spec"]["ingress"] = [r for r in policy["spec"]["ingress"]
                                 if {"port": contract.METRICS_PORT, "protocol": "TCP"}
                                 not in r.get("ports", [])]


def health_ingress_dropped(objects):
    policy = _one(objects, "NetworkPolicy")
    policy["spec"]["ingress"] = [r for r in policy["spec"]["ingress"] if "from" in r]


def temporal_egress_dropped(objects):
    for rule in _one(objects, "NetworkPolicy")["spec"]["egress"]:
        rule["ports"] = [p for p in rule["ports"] if p["port"] != 7233]


def policy_selects_other_pods(objects):
    _one(objects, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"][
        "app.kubernetes.io/component"] = "other"


def budget_selects_other_pods(objects):
    _one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"][
        "app.kubernetes.io/name"] = "other"


def scaled_object_targets_another_deployment(objects):
    _one(objects, "ScaledObject")["spec"]["scaleTargetRef"]["name"] = "other"


def scaled_object_watches_another_queue(objects):
    _one(objects, "ScaledObject")["spec"]["triggers"][0]["metadata"]["taskQueue"] = "other"


def replicas_set_with_an_autoscaler(objects):
    conformance.worker_deployments(objects)[0]["spec"]["replicas"] = 3


def pull_secret_not_referenced(objects):
    _pod(objects).pop("imagePullSecrets")


# name -> (config rendered, change, text the check must report)
SURROUNDING_BREAKS = {
    "NetworkPolicy without the metrics port": ("prod", metrics_ingress_dropped,
                                               "no ingress to the pod's metrics port 9464"),
    "NetworkPolicy without the health port": ("prod", health_ingress_dropped,
                                              "no ingress to the pod's health port 8080"),
    "NetworkPolicy without Temporal's port": ("prod", temporal_egress_dropped,
                                              "no egress to Temporal's port 7233"),
    "NetworkPolicy selecting other pods": ("prod", policy_selects_other_pods,
                                           "podSelector does not match the worker's pods"),
    "PodDisruptionBudget selecting other pods": ("prod", budget_selects_other_pods,
                                                 "selector does not match the worker's pods"),
    "ScaledObject scaling another Deployment": (
        "prod-keda", scaled_object_targets_another_deployment, "not Deployment temporal-worker"),
    "ScaledObject watching another queue": ("prod-keda", scaled_object_watches_another_queue,
                                            "trigger taskQueue 'other' is not the worker's"),
    "replicas with KEDA": ("prod-keda", replicas_set_with_an_autoscaler,
                           "sets replicas although ScaledObject"),
    "replicas with HPA": ("prod-hpa", replicas_set_with_an_autoscaler,
                          "sets replicas although HorizontalPodAutoscaler"),
    "pull Secret not referenced": ("prod", pull_secret_not_referenced,
                                   "a pull Secret no pod in its namespace references"),
}


@pytest.mark.parametrize("name", SURROUNDING_BREAKS)
def test_conformance_fails_when_an_object_around_the_deployment_breaks(renders, name):
    config, change, expected = SURROUNDING_BREAKS[name]
    objects = _objects(renders, config)
    assert conformance.check(objects, image=IMAGE) == []
    change(objects)
    problems = conformance.check(objects, image=IMAGE)
    assert any(expected in p for p in problems), (name, problems)


def test_the_dev_workers_policy_lets_it_reach_the_dev_server(renders):
    objects = _objects(renders, "dev")
    assert conformance.check(objects, image=IMAGE) == []
    policy = _one(objects, "NetworkPolicy")
    server = next(o for o in objects if o["kind"] == "Service")
    port = server["spec"]["ports"][0]["port"]
    assert {"port": port, "protocol": "TCP"} in policy["spec"]["egress"][1]["ports"]


def test_the_pull_secrets_content_never_appears_outside_a_secret(stack_configs):
    stack, config = stack_configs["prod"]
    rendering = render.render(config, stack=stack, redact=False)  # the real values, in memory
    objects = copy.deepcopy(rendering.objects)
    assert conformance.check(objects, image=IMAGE) == []
    pull = next(o for o in objects if o.get("type") == "kubernetes.io/dockerconfigjson")
    leaked = pull["stringData"][".dockerconfigjson"]
    conformance.worker_deployments(objects)[0]["spec"]["template"]["metadata"][
        "annotations"]["example.com/registry"] = leaked
    problems = conformance.check(objects, image=IMAGE)
    assert any("holds the pull Secret" in p for p in problems), problems
