"""TemporalWorker's inputs as a Python program gives them: misspelled keys refused, enums,
Outputs checked with the same messages once they resolve, resources instead of names, the
spec's checks, and a NetworkPolicy that lets HTTPS out unless narrowed."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from temporal_worker_k8s import TemporalWorker
from temporal_worker_k8s.enums import Autoscaling, LogLevel, ProbeMode, TolerationEffect
from tests.program.helpers import DEPLOYMENT, NETWORK_POLICY, container, env_of
from tools.mockstack import StackRun, run_program, run_stack

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "registry.example.com/team/worker@sha256:" + "cd" * 32
ADDRESS = "billing.acct.tmprl.cloud:7233"
BASE = {"image": IMAGE, "namespace": "billing", "temporal_address": ADDRESS}


class later:
    """A value given as an Output, as one computed from another resource is (made inside the
    program, on its event loop)."""

    def __init__(self, value) -> None:
        self.value = value

    def output(self) -> pulumi.Output:
        return pulumi.Output.from_input(outputs(self.value)).apply(lambda v: v)


def outputs(value):
    if isinstance(value, later):
        return value.output()
    if isinstance(value, dict):
        return {k: outputs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [outputs(v) for v in value]
    return value


def build(**inputs) -> StackRun:
    return run_program(lambda: TemporalWorker("billing", outputs({**BASE, **inputs})))


def egress(run: StackRun) -> list[dict]:
    return run.one(NETWORK_POLICY).get("spec", "egress")[1]["ports"]


@pytest.mark.parametrize("inputs, message", [
    ({"replica": 2}, "replica: unknown input; did you mean replicas?"),
    ({"tls_secretname": "x"}, "tls_secretname: unknown input; did you mean tls_secret_name?"),
    ({"secret_env": {"STRIPE_KEY": {"nmae": "stripe", "key": "k"}}},
     "secretEnv.STRIPE_KEY.nmae: unknown input; did you mean secretEnv.STRIPE_KEY.name?"),
    ({"temporal_api_key": {"name": "t", "key": "k", "optional": True}},
     "temporalApiKey.optional: unknown input"),
    ({"tolerations": [{"key": "pool", "efect": "NoSchedule"}]},
     "tolerations[0].efect: unknown input; did you mean tolerations[0].effect?"),
])
def test_a_misspelled_input_is_refused_with_a_suggestion_before_anything_exists(inputs,
                                                                                 message):
    with pytest.raises(ValueError) as caught:
        build(**inputs)
    assert str(caught.value).startswith(f"TemporalWorker billing: {message}"), caught.value
    assert caught.value.registered_resources == ()
    # `pulumi up` prints a RunError's message alone, without the program's traceback.
    assert isinstance(caught.value, pulumi.RunError)


def test_secret_env_names_are_checked_by_the_spec_as_the_stack_checks_them():
    with pytest.raises(ValueError) as stack_error:
        run_stack({"devServer": "true", "secretEnv": '{"lower case": "x"}'})
    reason = str(stack_error.value).split("secretEnv: ", 1)[1]
    with pytest.raises(ValueError) as component_error:
        build(secret_env={"lower case": {"name": "s", "key": "k"}})
    assert str(component_error.value) == f"TemporalWorker billing: secretEnv: {reason}"
    assert reason == "'lower case' is not a valid environment variable name"
    with pytest.raises(ValueError, match="env: 'lower case' is not a valid environment"):
        build(env={"lower case": "x"})
    with pytest.raises(ValueError, match="secretEnv: TEMPORAL_TASK_QUEUE is set by the "
                                         "component"):
        build(secret_env={"TEMPORAL_TASK_QUEUE": {"name": "s", "key": "k"}})


def test_an_image_not_pinned_by_digest_deploys_with_a_warning():
    run = build(image="registry.example.com/team/worker:latest")
    assert [w for w in run.warnings if "image:" in w] == [
        "TemporalWorker billing: image: registry.example.com/team/worker:latest is not pinned "
        "by digest: the tag can be moved to other content, and pods would not roll when it is; "
        "use repository@sha256:<digest>"]
    assert not [w for w in build().warnings if "image:" in w]
    with pytest.raises(ValueError, match="TemporalWorker billing: image: 'Not An Image' is not "
                                         "an image reference"):
        build(image="Not An Image")


def test_enum_members_and_their_values_both_work():
    for level in (LogLevel.DEBUG, "DEBUG", "debug"):
        assert env_of(build(log_level=level), "billing-deployment")[
            spec.LOG_LEVEL.env]["value"] == "DEBUG"
    run = build(probe_mode=ProbeMode.EXEC, autoscaling=Autoscaling.HPA,
                tolerations=[{"key": "pool", "operator": "Exists",
                              "effect": TolerationEffect.NO_SCHEDULE}])
    assert "exec" in container(run, "billing-deployment")["readinessProbe"]
    assert run.one(DEPLOYMENT).get("spec", "template", "spec", "tolerations") == [
        {"key": "pool", "operator": "Exists", "effect": "NoSchedule"}]


def test_outputs_reach_the_pods_once_they_resolve():
    run = build(replicas=later(4), log_level=later(LogLevel.WARNING), env=later({"A": "1"}),
                labels=later({"team": "billing"}), annotations={"owner": later("billing")},
                secret_env=later({"STRIPE_KEY": {"name": later("stripe"), "key": "k"}}),
                temporal_api_key=later({"name": "temporal", "key": "apiKey"}),
                egress_ports=later([443, 8443]), metrics_namespaces=later(["monitoring"]),
                probe_mode=later("exec"), tolerations=later([{"key": "pool",
                                                               "operator": "Exists"}]),
                restart_on=later(["v1"]), version=later("1.2.3"), reloader=later(True))
    deployment = run.one(DEPLOYMENT)
    assert deployment.get("metadata", "annotations") == {
        "secret.reloader.stakater.com/reload": "stripe"}
    assert deployment.get("spec", "replicas") == 4
    env = env_of(run, "billing-deployment")
    assert env[spec.LOG_LEVEL.env]["value"] == "WARNING" and env["A"]["value"] == "1"
    assert env["STRIPE_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "stripe", "key": "k"}
    assert env[spec.TEMPORAL_API_KEY_FILE.env]["value"] == contract.API_KEY_PATH
    [api_key] = [v["secret"] for v in deployment.get("spec", "template", "spec", "volumes")
                 if v["name"] == "temporal-api-key"]
    assert (api_key["secretName"], api_key["items"]) == (
        "temporal", [{"key": "apiKey", "path": contract.API_KEY_FILE}])
    assert deployment.get("spec", "template", "metadata", "labels", "team") == "billing"
    assert deployment.get("metadata", "labels", "app.kubernetes.io/version") == "1.2.3"
    assert "exec" in container(run, "billing-deployment")["livenessProbe"]
    assert egress(run)[1:] == [{"port": 443, "protocol": "TCP"},
                               {"port": 8443, "protocol": "TCP"}]
    checksum = deployment.get("spec", "template", "metadata", "annotations", "checksum/secrets")
    assert checksum == build(restart_on=["v1"]).one(DEPLOYMENT).get(
        "spec", "template", "metadata", "annotations", "checksum/secrets")


@pytest.mark.parametrize("inputs", [
    {"replicas": -2}, {"log_format": "xml"}, {"egress_ports": [0]},
    {"secret_env": {"lower case": {"name": "s", "key": "k"}}},
    {"labels": {"app.kubernetes.io/instance": "x"}}, {"image": "Not An Image"},
])
def test_an_output_is_checked_when_it_resolves_with_the_plain_values_message(inputs):
    with pytest.raises(ValueError) as plain:
        build(**inputs)
    with pytest.raises(Exception) as resolved:
        build(**{k: later(v) for k, v in inputs.items()})
    assert str(plain.value) in str(resolved.value), resolved.value


def test_inputs_that_decide_which_objects_exist_must_be_plain():
    with pytest.raises(ValueError, match="TemporalWorker billing: autoscaling: must be a plain "
                                         "value, not an Output"):
        build(autoscaling=later("hpa"))


def test_resources_stand_in_for_names():
    def program():
        namespace = k8s.core.v1.Namespace("team", metadata={"name": "payments"})
        tls = k8s.core.v1.Secret("tls", metadata={"name": "client-cert",
                                                  "namespace": "payments"})
        stripe = k8s.core.v1.Secret("stripe", metadata={"name": "stripe",
                                                        "namespace": "payments"})
        TemporalWorker("billing", {"image": IMAGE, "temporal_address": ADDRESS,
                                   "namespace_resource": namespace, "tls_secret": tls,
                                   "server_ca_secret_name": "ca",
                                   "secret_env": {"STRIPE_KEY": {"secret": stripe, "key": "k"}},
                                   "image_pull_secret_resource": stripe})

    run = run_program(program)
    deployment = run.one(DEPLOYMENT)
    pod = deployment.get("spec", "template", "spec")
    assert deployment.get("metadata", "namespace") == "payments"
    assert [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v] == [
        "client-cert", "ca"]
    assert pod["imagePullSecrets"] == [{"name": "stripe"}]
    assert env_of(run, "billing-deployment")["STRIPE_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "stripe", "key": "k"}


@pytest.mark.parametrize("inputs, message", [
    ({"tls_secret_name": "a", "tls_secret": "b"}, "tlsSecretName: give it or tlsSecret, not both"),
    ({"tls_secret": "client-cert"}, "tlsSecret: expected a pulumi_kubernetes Secret resource"),
    ({"namespace": None}, "namespace: required"),
    ({"secret_env": {"S": {"key": "k"}}}, "secretEnv.S: needs key and name (or secret)"),
])
def test_references_are_a_name_or_a_resource(inputs, message):
    with pytest.raises(ValueError) as caught:
        build(**inputs)
    assert f"TemporalWorker billing: {message}" in str(caught.value)


def test_the_network_policy_lets_https_out_unless_narrowed():
    assert egress(build()) == [{"port": 7233, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]
    narrowed = build(egress_ports=[])
    assert egress(narrowed) == [{"port": 7233, "protocol": "TCP"}]
    assert not [w for w in narrowed.warnings if "egressPorts" in w]


def test_secrets_for_other_services_without_egress_for_them_warn():
    stripe = {"STRIPE_KEY": {"name": "stripe", "key": "k"}}
    warned = build(secret_env=stripe, egress_ports=[])
    assert [w for w in warned.warnings if "egressPorts" in w] == [
        "TemporalWorker billing: secretEnv gives the worker credentials for other services, but "
        "egressPorts is empty: the NetworkPolicy lets the pods reach only DNS and Temporal; add "
        "those services' ports (443 for HTTPS)"]
    assert not [w for w in build(secret_env=stripe).warnings if "egressPorts" in w]
    assert not [w for w in build(secret_env=stripe, egress_ports=[], network_policy=False)
                .warnings if "egressPorts" in w]


def test_the_readmes_python_snippet_lets_its_worker_reach_its_https_api():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Python", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)[1]

    class Image:
        repo_digest = IMAGE

    run = run_program(lambda: exec(snippet, {"image": Image()}))
    [policy] = run.of_type(NETWORK_POLICY)
    ports = [p["port"] for p in policy.get("spec", "egress")[1]["ports"]]
    assert 443 in ports, "the billing worker calls Stripe over HTTPS"
    assert env_of(run, "billing-deployment")["STRIPE_KEY"]["valueFrom"]


def test_secrets_given_as_an_output_warn_only_once_they_resolve_to_some():
    stripe = {"STRIPE_KEY": {"name": "stripe", "key": "k"}}
    warned = build(secret_env=later(stripe), egress_ports=later([]))
    assert [w for w in warned.warnings if "egressPorts" in w] == [
        "TemporalWorker billing: secretEnv gives the worker credentials for other services, but "
        "egressPorts is empty: the NetworkPolicy lets the pods reach only DNS and Temporal; add "
        "those services' ports (443 for HTTPS)"]
    assert not [w for w in build(secret_env=later({}), egress_ports=[]).warnings
                if "egressPorts" in w]


@pytest.mark.parametrize("inputs, where", [
    (lambda other: {"tls_secret": other}, "tlsSecret"),
    (lambda other: {"server_ca_secret": other}, "serverCaSecret"),
    (lambda other: {"image_pull_secret_resource": other}, "imagePullSecretResource"),
    (lambda other: {"secret_env": {"STRIPE_KEY": {"secret": other, "key": "k"}}},
     "secretEnv.STRIPE_KEY.secret"),
    (lambda other: {"temporal_api_key": {"secret": other, "key": "k"}},
     "temporalApiKey.secret"),
])
def test_a_secret_passed_as_a_resource_must_be_in_the_workers_namespace(inputs, where):
    def program(namespace: str):
        other = k8s.core.v1.Secret("other", metadata={"name": "client-cert",
                                                      "namespace": namespace})
        TemporalWorker("billing", {**BASE, **inputs(other)})

    with pytest.raises(Exception) as caught:
        run_program(lambda: program("payments"))
    assert f"TemporalWorker billing: {where}: Secret client-cert is in namespace payments, not " \
           "in the worker's namespace billing: pods can only use Secrets of their own " \
           "namespace" in str(caught.value)
    run_program(lambda: program("billing"))
