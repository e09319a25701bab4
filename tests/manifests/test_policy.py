"""The shared worker checks (policy/temporal_worker_policy/checks.py) on the rendered stacks,
and proof that each check fires; plus the render-only checks of tests/manifests/stack_checks.py."""

from __future__ import annotations

import copy

import pytest

from policy.temporal_worker_policy import checks
from temporal_worker_spec import contract
from tests.manifests import stack_checks
from tests.manifests.conftest import secret_values
from tools import render
from tools.conformance import worker_deployments


def test_worker_pod_meets_pss_restricted(worker_deployment, config_name):
    assert checks.pod_security(worker_deployment) == [], config_name


def test_every_pod_template_meets_pss_restricted(rendering, config_name):
    pods = [o for o in rendering.objects if o["kind"] in ("Deployment", "StatefulSet", "Job")]
    problems = {o["metadata"]["name"]: checks.pod_security(o) for o in pods}
    assert not any(problems.values()), f"{config_name}: {problems}"


def test_worker_deployment_passes_workload_checks(stack_configs, config_name):
    # A digest pin needs a build; render with a digest the way a deploy after a push does.
    stack, config = stack_configs[config_name]
    rendering = render.render(config, stack=stack, image_digest="sha256:" + "ab" * 32)
    deployment = _worker(rendering)
    assert checks.worker_reason(deployment), config_name
    for check in WORKLOAD_CHECKS:
        assert check(deployment) == [], (config_name, check.__name__)


def test_placeholder_render_is_not_pinned_to_a_real_digest(worker_deployment, rendering):
    """Without a build the digest is the all-zero placeholder and the render says so."""
    assert rendering.image_digest is None
    assert worker_deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        "@sha256:" + "0" * 64)


def test_no_literal_secret_in_env(stack_configs, config_name):
    stack, config = stack_configs[config_name]
    plain = render.render(config, stack=stack, redact=False)
    assert plain.secret_leaks == [], plain.secret_leaks
    for obj in plain.objects:
        if obj["kind"] == "Deployment":
            assert checks.literal_secrets(obj, secret_values(config)) == [], config_name
    if config_name != "dev":
        # The production config does carry secrets, and they reach the pods by reference.
        worker = worker_deployments(plain.objects)[0]
        refs = [e for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]
                if "valueFrom" in e]
        assert {e["name"] for e in refs} >= {"CHATGPT_API_KEY", "LEDGER_API_TOKEN"}
        # The Temporal API key is a mounted file (rotations reach the running worker).
        env = {e["name"]: e.get("value") for e in
               worker["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["TEMPORAL_API_KEY_FILE"] == contract.API_KEY_PATH
        assert "TEMPORAL_API_KEY" not in env


def test_redacted_render_holds_no_secret_value(renders, stack_configs, config_name):
    _, directory = renders[config_name]
    text = "".join(p.read_text() for p in sorted(directory.glob("*.yaml")))
    leaked = [v for v in secret_values(stack_configs[config_name][1]) if v.strip() in text]
    assert not leaked, f"{config_name}: {len(leaked)} secret value(s) in the rendered YAML"


def test_nothing_in_the_default_namespace(rendering, config_name):
    assert stack_checks.namespace_checks(rendering.objects) == [], config_name


def _worker(rendering, *, pin: bool = False) -> dict:
    """A copy of the worker Deployment, its image pinned to a made-up digest when `pin`."""
    deployment = copy.deepcopy(worker_deployments(rendering.objects)[0])
    if pin:
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        container["image"] = container["image"].rsplit("@", 1)[0] + "@sha256:" + "ab" * 32
    return deployment


# Paths into a Deployment: pod spec and its securityContext, worker container and its own.
POD = ("spec", "template", "spec")
PSC = (*POD, "securityContext")
C0 = (*POD, "containers", 0)
SC = (*C0, "securityContext")


def _dig(d, path):
    for step in path:
        d = d[step]
    return d


def put(*changes):
    """A mutation setting `path -> value` pairs (value None deletes the key)."""
    def apply(d):
        for path, value in changes:
            parent = _dig(d, path[:-1])
            if value is None:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value(d) if callable(value) else value
    return apply


WORKLOAD_CHECKS = (checks.hardening, checks.image_pinned, checks.probes, checks.grace_period,
                   checks.dedicated_namespace)

# Each mutation breaks one rule; one of WORKLOAD_CHECKS must report it with this text.
MUTATIONS = {
    "cpu limit removed": (put(((*C0, "resources", "limits", "cpu"), None)), "no cpu limit"),
    "memory request removed": (put(((*C0, "resources", "requests", "memory"), None)),
                               "no memory request"),
    "readiness probe removed": (put(((*C0, "readinessProbe"), None)), "no readinessProbe"),
    "liveness probe removed": (put(((*C0, "livenessProbe"), None)), "no livenessProbe"),
    "identical probes": (put(((*C0, "readinessProbe"),
                              lambda d: copy.deepcopy(_dig(d, (*C0, "livenessProbe"))))),
                         "identical"),
    "tag instead of digest": (put(((*C0, "image"), "registry.example.com/worker:latest")),
                              "not pinned by digest"),
    "low uid": (put(((*SC, "runAsUser"), 1000), ((*PSC, "runAsUser"), 1000)), "below 10000"),
    "writable root": (put(((*SC, "readOnlyRootFilesystem"), False)), "not read-only"),
    "token automounted": (put(((*POD, "automountServiceAccountToken"), None)),
                          "automountServiceAccountToken"),
    "the seed's ls / probes": (put(((*C0, "livenessProbe"), {"exec": {"command": ["ls", "/"]}}),
                                   ((*C0, "readinessProbe"), {"exec": {"command": ["ls"]}})),
                               "runs `ls /`, which passes whenever the container runs"),
    "a shell that always succeeds": (put(((*C0, "readinessProbe"),
                                          {"exec": {"command": ["sh", "-c", "exit 0"]}})),
                                     "runs `sh -c 'exit 0'`"),
    "grace period shorter than the drain": (put(((*POD, "terminationGracePeriodSeconds"), 30)),
                                            "does not cover the worker's 30s drain"),
    "grace period left to Kubernetes' 30s": (put(((*POD, "terminationGracePeriodSeconds"), None)),
                                             "terminationGracePeriodSeconds 30"),
    "default namespace": (put((("metadata", "namespace"), "default")), "in namespace default"),
}
# The restricted profile (checks.pod_security): the worker's own hardening already meets it.
PSS_MUTATIONS = {
    "runAsNonRoot off": (put(((*SC, "runAsNonRoot"), None), ((*PSC, "runAsNonRoot"), None)),
                         "runAsNonRoot"),
    "privilege escalation": (put(((*SC, "allowPrivilegeEscalation"), None)),
                             "allowPrivilegeEscalation"),
    "capabilities kept": (put(((*SC, "capabilities"), None)), "drop ALL"),
    "seccomp unconfined": (put(((*SC, "seccompProfile"), {"type": "Unconfined"}),
                               ((*PSC, "seccompProfile"), {"type": "Unconfined"})),
                           "seccompProfile"),
    "hostNetwork": (put(((*POD, "hostNetwork"), True)), "hostNetwork"),
    "hostPath volume": (put(((*POD, "volumes"), [{"name": "h", "hostPath": {"path": "/"}}])),
                        "hostPath"),
    "privileged": (put(((*SC, "privileged"), True)), "privileged"),
    "added capability": (put(((*SC, "capabilities", "add"), ["NET_ADMIN"])),
                         "adds capabilities"),
    "hostPort": (put(((*C0, "ports", 0, "hostPort"), 8080)), "hostPort"),
    "root uid": (put(((*SC, "runAsUser"), 0)), "uid 0"),
    "unsafe sysctl": (put(((*PSC, "sysctls"), [{"name": "kernel.msgmax", "value": "1"}])),
                      "unsafe sysctl"),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_workload_check_catches(renders, mutation):
    deployment = _worker(renders["prod"][0], pin=True)
    assert [p for check in WORKLOAD_CHECKS for p in check(deployment)] == []
    apply, expected = MUTATIONS[mutation]
    apply(deployment)
    problems = [p for check in WORKLOAD_CHECKS for p in check(deployment)]
    assert any(expected in p for p in problems), (mutation, problems)


@pytest.mark.parametrize("mutation", PSS_MUTATIONS)
def test_pss_restricted_check_catches(renders, mutation):
    deployment = _worker(renders["prod"][0], pin=True)
    apply, expected = PSS_MUTATIONS[mutation]
    apply(deployment)
    problems = checks.pod_security(deployment)
    assert any(expected in p for p in problems), (mutation, problems)


def test_literal_secret_check_catches_a_plain_api_key(renders, stack_configs):
    deployment = _worker(renders["prod"][0], pin=True)
    config = stack_configs["prod"][1]
    env = _dig(deployment, C0)["env"]
    env.append({"name": "TEMPORAL_API_KEY_COPY", "value": config["temporalApiKey"]})
    env.append({"name": "SOME_TOKEN", "value": "not-from-config"})
    env.append({"name": "SIGNING", "value": "-----BEGIN EC PRIVATE KEY-----\nMHc...\n"})
    env.append({"name": "WEBHOOK_KEY_FILE", "value": "/etc/webhook/key"})  # a path, not a key
    problems = checks.literal_secrets(deployment, secret_values(config))
    assert [p.split(" holds ")[0].split(" looks ")[0] for p in problems] == [
        "container worker env TEMPORAL_API_KEY_COPY", "container worker env SOME_TOKEN",
        "container worker env SIGNING"], problems
    assert checks.literal_secrets(deployment, secret_values(config),
                                  ["SOME_TOKEN", "SIGNING", "TEMPORAL_API_KEY_COPY"]) == []


@pytest.mark.parametrize("command, trivial", [
    (["ls", "/"], True), (["ls"], True), (["true"], True), (["cat", "/etc/"], True),
    (["sh", "-c", "ls / && echo ok"], True), (["sh", "-c", "test -f /tmp/ready"], False), (["/bin/sh", "-c", "exit 0"], True),
    (["ls", "/tmp/worker-ready"], False), (["test", "-e", "/tmp/healthy"], False),
    (["python", "-m", "worker.probe", "--file", "/tmp/worker-ready", "--max-age", "30"], False),
    (["grpc_health_probe", "-addr=:8080"], False),
])
def test_a_probe_command_that_always_passes_is_told_from_a_real_one(command, trivial):
    assert checks.trivial_command(command) is trivial


def test_namespace_check_catches_default(renders):
    objects = copy.deepcopy(renders["prod"][0].objects)
    objects[-1]["metadata"]["namespace"] = "default"
    del objects[-2]["metadata"]["namespace"]
    assert len(stack_checks.namespace_checks(objects)) == 2


def test_selectors_and_services_target_real_pods(rendering, config_name):
    assert stack_checks.selector_checks(rendering.objects) == [], config_name


def test_selector_check_catches_a_dangling_service_and_a_wrong_selector(renders):
    objects = copy.deepcopy(renders["dev"][0].objects)
    service = next(o for o in objects if o["kind"] == "Service")
    service["spec"]["ports"][0]["targetPort"] = "nope"
    problems = stack_checks.selector_checks(objects)
    assert any("targets port nope" in p for p in problems), problems
    service["spec"]["selector"] = {"app": "missing"}
    worker = worker_deployments(objects)[0]
    worker["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = "other"
    problems = stack_checks.selector_checks(objects)
    assert any("selects no pod" in p for p in problems), problems
    assert any("does not match its pod labels" in p for p in problems), problems


def test_dev_worker_address_names_the_dev_server_service(renders):
    objects = renders["dev"][0].objects
    env = {e["name"]: e.get("value") for e in
           worker_deployments(objects)[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert ".svc" in env["TEMPORAL_ADDRESS"], "dev worker should use the in-cluster dev server"
    assert stack_checks.in_cluster_address_checks(objects, "TEMPORAL_ADDRESS") == []


def test_address_check_catches_a_wrong_service_port(renders):
    objects = copy.deepcopy(renders["dev"][0].objects)
    next(o for o in objects if o["kind"] == "Service")["spec"]["ports"][0]["port"] = 7234
    problems = stack_checks.in_cluster_address_checks(objects, "TEMPORAL_ADDRESS")
    assert any("has no port 7233" in p for p in problems), problems
