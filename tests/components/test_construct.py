"""TemporalWorker as a TypeScript, Go or C# program gets it: the package's plugin started as
`pulumi package add` starts it, sent Construct by an engine on the other end of gRPC, with
inputs as the engine sends them: Outputs (with dependencies, secret, or unknown in a preview)
for enum, integer and object inputs, and Namespace and Secret resources as references. What
the component registers is read back from the resource monitor it registers with."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

import temporal_worker_spec.settings as spec
from temporal_worker_spec import contract
from tests.support.engine import (SIG, UNKNOWN, FakeEngine, Plugin, Registration,
                                  output_value, reference, secret)

pytestmark = pytest.mark.timeout(300)
TYPE = "temporal-worker-k8s:index:TemporalWorker"
IMAGE = "registry.example.com/team/worker@sha256:" + "cd" * 32
ADDRESS = "billing.acct.tmprl.cloud:7233"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
K8S_VERSION = "4.34.2"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


@pytest.fixture(scope="module")
def engine() -> Iterator[FakeEngine]:
    with FakeEngine() as server:
        yield server


@pytest.fixture(scope="module")
def plugin(engine) -> Iterator[Plugin]:
    with Plugin(sys.executable, engine.address) as served:
        yield served


@pytest.fixture(scope="module")
def upstream(engine) -> str:
    """A resource of the program's that the Outputs come from (their dependency)."""
    return engine.add("random:index/randomPet:RandomPet", "upstream", {"id": "pet"}).urn


def base(namespace: str = "billing") -> dict[str, Any]:
    return {"image": IMAGE, "namespace": namespace, "temporalAddress": ADDRESS}


def unwrapped(value: Any) -> Any:
    """A registered object with its secrets' values in place (as the engine would store)."""
    if isinstance(value, dict):
        if value.get(SIG) == SECRET_SIG:
            return unwrapped(value["value"])
        return {k: unwrapped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrapped(v) for v in value]
    return value


def secret_at(value: Any, *path: Any) -> bool:
    """Whether the registered object holds a secret at `path` or around it."""
    for key in path:
        if isinstance(value, dict) and value.get(SIG) == SECRET_SIG:
            return True
        value = value[key]
    return isinstance(value, dict) and value.get(SIG) == SECRET_SIG


def pod_of(deployment: Registration) -> dict:
    return unwrapped(deployment.object)["spec"]["template"]["spec"]


def env_of(deployment: Registration) -> dict[str, dict]:
    return {e["name"]: e for e in pod_of(deployment)["containers"][0]["env"]}


def failure(call) -> str:
    """The error text the engine would show for a failed Construct."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = caught.value
    details = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin", b"")
    return f"{error.details()} {details.decode(errors='replace')}"


def test_enum_integer_and_object_inputs_given_as_outputs_reach_the_pods(engine, plugin, upstream):
    depends = [upstream]
    inputs = {**base(),
              "logLevel": output_value("DEBUG", dependencies=depends),
              "probeMode": output_value("exec", dependencies=depends),
              "replicas": output_value(4, dependencies=depends),
              "gracefulShutdownSeconds": output_value(45, secret=True, dependencies=depends),
              "temporalApiKey": output_value({"name": "temporal", "key": "apiKey"},
                                             dependencies=depends),
              "secretEnv": {"STRIPE_KEY": output_value({"name": "stripe", "key": "k"},
                                                       dependencies=depends)},
              "env": output_value({"REGION": "eu"}, dependencies=depends),
              "tolerations": output_value([{"key": "pool", "operator": "Exists",
                                            "effect": "NoSchedule", "tolerationSeconds": 30}],
                                          dependencies=depends),
              "egressPorts": output_value([443, 8443], dependencies=depends),
              "tlsServerName": secret("billing.internal")}
    response = engine.construct(plugin, TYPE, "outputs", inputs, {
        key: depends for key in inputs if isinstance(inputs[key], dict)
        and inputs[key].get(SIG) == "d0e6a833031e9bbcd3f4e8bde6ca49a4"})
    [deployment] = engine.of("outputs", DEPLOYMENT)
    spec_ = unwrapped(deployment.object)["spec"]
    pod = pod_of(deployment)
    env = env_of(deployment)
    assert spec_["replicas"] == 4
    assert env[spec.LOG_LEVEL.env]["value"] == "DEBUG"
    assert env["REGION"]["value"] == "eu"
    assert "exec" in pod["containers"][0]["readinessProbe"]
    assert env["STRIPE_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "stripe", "key": "k"}
    assert env[spec.TEMPORAL_API_KEY_FILE.env]["value"] == contract.API_KEY_PATH
    [api_key] = [v["secret"] for v in pod["volumes"] if v["name"] == "temporal-api-key"]
    assert (api_key["secretName"], api_key["items"]) == (
        "temporal", [{"key": "apiKey", "path": contract.API_KEY_FILE}])
    assert pod["tolerations"] == [{"key": "pool", "operator": "Exists", "effect": "NoSchedule",
                                   "tolerationSeconds": 30}]
    assert pod["terminationGracePeriodSeconds"] == contract.termination_grace_period_seconds(45)
    # What was secret stays secret in what the component registers.
    assert secret_at(deployment.object, "spec", "template", "spec",
                     "terminationGracePeriodSeconds")
    assert secret_at(deployment.object, "spec", "template", "spec", "containers", 0, "env",
                     [e["name"] for e in pod["containers"][0]["env"]].index(
                         spec.BY_NAME["tlsServerName"].env), "value")
    # The engine learns that the Deployment waits for the resource the Outputs came from.
    assert upstream in deployment.property_dependencies["spec"]
    [policy] = engine.of("outputs", NETWORK_POLICY)
    assert [p["port"] for p in unwrapped(policy.object)["spec"]["egress"][1]["ports"]] == [
        7233, 443, 8443]
    state = {k: v for k, v in response.state.items()}
    assert state["namespace"] == "billing" and state["deploymentName"] == "outputs"


def test_namespace_and_secrets_passed_as_resources_arrive_as_references(engine, plugin):
    namespace = engine.add("kubernetes:core/v1:Namespace", "payments-ns",
                           {"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": "payments"}})
    tls = engine.add("kubernetes:core/v1:Secret", "client-cert",
                     {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                      "metadata": {"name": "client-cert", "namespace": "payments"}})
    stripe = engine.add("kubernetes:core/v1:Secret", "stripe",
                        {"apiVersion": "v1", "kind": "Secret",
                         "metadata": {"name": "stripe-key", "namespace": "payments"}})
    inputs = {"image": IMAGE, "temporalAddress": ADDRESS,
              "namespaceResource": reference(namespace.urn, namespace.id, K8S_VERSION),
              "tlsSecret": reference(tls.urn, tls.id, K8S_VERSION),
              "temporalApiKey": {"secret": reference(stripe.urn, stripe.id, K8S_VERSION),
                                 "key": "temporal"},
              "secretEnv": {"STRIPE_KEY": {"secret": reference(stripe.urn, stripe.id,
                                                               K8S_VERSION), "key": "k"}}}
    response = engine.construct(plugin, TYPE, "references", inputs, {
        "namespaceResource": [namespace.urn], "tlsSecret": [tls.urn],
        "temporalApiKey": [stripe.urn], "secretEnv": [stripe.urn]})
    [deployment] = engine.of("references", DEPLOYMENT)
    pod = pod_of(deployment)
    assert unwrapped(deployment.object)["metadata"]["namespace"] == "payments"
    volumes = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert volumes == {"temporal-tls": "client-cert", "temporal-api-key": "stripe-key"}
    assert env_of(deployment)["STRIPE_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "stripe-key", "key": "k"}
    assert dict(response.state.items())["namespace"] == "payments"


def test_a_secret_from_another_namespace_is_refused(engine, plugin):
    elsewhere = engine.add("kubernetes:core/v1:Secret", "elsewhere",
                           {"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": "client-cert", "namespace": "payments"}})
    message = failure(lambda: engine.construct(plugin, TYPE, "elsewhere", {
        **base(), "tlsSecret": reference(elsewhere.urn, elsewhere.id, K8S_VERSION)},
        {"tlsSecret": [elsewhere.urn]}))
    assert "TemporalWorker elsewhere: tlsSecret: Secret client-cert is in namespace payments, " \
           "not in the worker's namespace billing" in message, message


def test_a_preview_with_unknown_outputs_registers_every_object(engine, plugin, upstream):
    unknown = {"logLevel": output_value(dependencies=[upstream]),
               "replicas": output_value(dependencies=[upstream]),
               "temporalApiKey": output_value(dependencies=[upstream]),
               "egressPorts": output_value(dependencies=[upstream])}
    engine.construct(plugin, TYPE, "preview", {**base(), **unknown},
                     {key: [upstream] for key in unknown}, dry_run=True)
    [deployment] = engine.of("preview", DEPLOYMENT)
    pod = pod_of(deployment)
    assert unwrapped(deployment.object)["spec"]["replicas"] == UNKNOWN
    assert env_of(deployment)[spec.LOG_LEVEL.env]["value"] == UNKNOWN
    [api_key] = [v["secret"] for v in pod["volumes"] if v["name"] == "temporal-api-key"]
    assert api_key["secretName"] == UNKNOWN
    [policy] = engine.of("preview", NETWORK_POLICY)
    assert unwrapped(policy.object)["spec"]["egress"][1]["ports"] == UNKNOWN


def test_numbers_arrive_as_floats_and_reach_the_pods_as_integers(engine, plugin):
    engine.construct(plugin, TYPE, "numbers", {**base(), "replicas": 2.0,
                                               "egressPorts": [443.0, 8443.0]})
    [deployment] = engine.of("numbers", DEPLOYMENT)
    assert unwrapped(deployment.object)["spec"]["replicas"] == 2
    [policy] = engine.of("numbers", NETWORK_POLICY)
    assert [p["port"] for p in unwrapped(policy.object)["spec"]["egress"][1]["ports"]] == [
        7233, 443, 8443]


@pytest.mark.parametrize("key, value, expected", [
    ("replicas", -2, "TemporalWorker bad: replicas: must be between 0 and 2147483647, got -2"),
    ("replicas", 2.5, "TemporalWorker bad: replicas: must be an integer, got '2.5'"),
    ("egressPorts", [0], "TemporalWorker bad: egressPorts: item 0: must be between 1 and 65535, "
                         "got 0"),
    ("secretEnv", {"lower case": {"name": "s", "key": "k"}},
     "TemporalWorker bad: secretEnv: 'lower case' is not a valid environment variable name"),
    ("logLevel", "LOUD", "Invalid value LOUD of type <class 'str'> for enum 'LogLevel'"),
])
def test_a_bad_value_fails_construct_with_the_same_message_plain_or_as_an_output(
        engine, plugin, upstream, key, value, expected):
    plain = failure(lambda: engine.construct(plugin, TYPE, "bad", {**base(), key: value}))
    later = failure(lambda: engine.construct(
        plugin, TYPE, "bad", {**base(), key: output_value(value, dependencies=[upstream])},
        {key: [upstream]}))
    assert expected in plain, plain
    assert expected in later, later


def test_inputs_that_decide_which_objects_exist_are_refused_as_outputs(engine, plugin, upstream):
    message = failure(lambda: engine.construct(
        plugin, TYPE, "structural", {**base(), "autoscaling": output_value(
            "hpa", dependencies=[upstream])}, {"autoscaling": [upstream]}))
    assert "TemporalWorker structural: autoscaling: must be a plain value, not an Output" in \
        message, message
